-- The batch's credit records. Nothing in the LMS refers to a credit record, so all of them go.
WITH gone AS (
    DELETE FROM lms.credit_record r
    WHERE r.import_batch = %(batch)s
    RETURNING r.id, r.enrollment_id, r.credit_type_id, r.credits
)
SELECT g.id,
       coalesce(l.email, l.external_user_id) || ' in ' || c.external_course_id || ': ' || t.machine_name || ' ' || g.credits AS label,
       NULL AS kept_because
FROM gone g
JOIN lms.enrollment e ON e.id = g.enrollment_id
JOIN lms.learner l ON l.id = e.learner_id
JOIN lms.course c ON c.id = e.course_id
JOIN lms.credit_type t ON t.id = g.credit_type_id
ORDER BY label
