-- One credit record per enrollment and credit type (precaution 4), on this batch's enrollments.
INSERT INTO lms.credit_record (enrollment_id, credit_type_id, credits, credit_expiration,
                               import_batch, import_source)
SELECT e.id, r.credit_type_id, r.credits, r.credit_expiration, %(batch)s, %(source)s
FROM {resolved} r
JOIN lms.enrollment e ON e.learner_id = r.resolved_learner_id AND e.course_id = r.resolved_course_id
WHERE r.credit_type_id IS NOT NULL AND e.import_batch = %(batch)s
