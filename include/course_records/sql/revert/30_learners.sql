-- The learners the batch created. One stays while any enrollment still refers to it: made by a
-- later batch, outside the importer, or one of this batch's that stays (step 20).
WITH batch_learner AS (
    SELECT l.id,
           coalesce(l.email || coalesce(' (' || l.external_user_id || ')', ''), l.external_user_id) AS label,
           (SELECT 'enrolled in '
                   || string_agg(c.external_course_id || CASE
                                     WHEN e.import_batch = %(batch)s THEN ' by this batch (that enrollment stays)'
                                     WHEN e.import_batch IS NOT NULL THEN ' by batch ' || e.import_batch
                                     ELSE ' outside the importer' END,
                                 ', ' ORDER BY c.external_course_id)
            FROM lms.enrollment e
            JOIN lms.course c ON c.id = e.course_id
            WHERE e.learner_id = l.id) AS kept_because
    FROM lms.learner l
    WHERE l.import_batch = %(batch)s
),
gone AS (
    DELETE FROM lms.learner l
    USING batch_learner b
    WHERE l.id = b.id AND b.kept_because IS NULL
)
SELECT id, label, kept_because FROM batch_learner ORDER BY label
