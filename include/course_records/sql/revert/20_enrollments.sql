-- The batch's enrollments. One stays while a credit record from outside the batch (added by hand,
-- since the importer never adds to an existing enrollment) still refers to it; the batch's own
-- credit records are already gone (step 10).
WITH batch_enrollment AS (
    SELECT e.id,
           coalesce(l.email, l.external_user_id) || ' in ' || c.external_course_id AS label,
           (SELECT 'it holds credit records from outside this batch: '
                   || string_agg(t.machine_name || coalesce(' (batch ' || r.import_batch || ')', ' (outside the importer)'),
                                 ', ' ORDER BY t.machine_name)
            FROM lms.credit_record r
            JOIN lms.credit_type t ON t.id = r.credit_type_id
            WHERE r.enrollment_id = e.id) AS kept_because
    FROM lms.enrollment e
    JOIN lms.learner l ON l.id = e.learner_id
    JOIN lms.course c ON c.id = e.course_id
    WHERE e.import_batch = %(batch)s
),
gone AS (
    DELETE FROM lms.enrollment e
    USING batch_enrollment b
    WHERE e.id = b.id AND b.kept_because IS NULL
)
SELECT id, label, kept_because FROM batch_enrollment ORDER BY label
