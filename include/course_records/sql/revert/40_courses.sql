-- The course shells the batch created (global importer). One stays when it was made a real
-- course, was given course objects or credit types, or still has enrollments (a later batch's,
-- one made outside the importer, or one of this batch's that stays).
WITH batch_course AS (
    SELECT c.id,
           c.external_course_id || ' "' || c.title || '"' AS label,
           nullif(concat_ws('; ',
               CASE WHEN NOT c.is_imported_shell THEN 'it is a real course now, no longer an imported shell' END,
               (SELECT count(*) || ' enrollment(s) '
                       || string_agg(DISTINCT CASE
                                         WHEN e.import_batch = %(batch)s THEN 'by this batch (they stay)'
                                         WHEN e.import_batch IS NOT NULL THEN 'by batch ' || e.import_batch
                                         ELSE 'outside the importer' END, ', ')
                FROM lms.enrollment e WHERE e.course_id = c.id HAVING count(*) > 0),
               (SELECT count(*) || ' course object(s)'
                FROM lms.course_object o WHERE o.course_id = c.id HAVING count(*) > 0),
               (SELECT count(*) || ' credit type(s) offered'
                FROM lms.course_credit_type o WHERE o.course_id = c.id HAVING count(*) > 0)
           ), '') AS kept_because
    FROM lms.course c
    WHERE c.import_batch = %(batch)s
),
gone AS (
    DELETE FROM lms.course c
    USING batch_course b
    WHERE c.id = b.id AND b.kept_because IS NULL
)
SELECT id, label, kept_because FROM batch_course ORDER BY label
