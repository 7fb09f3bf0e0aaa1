-- One credit record per enrollment and credit type (precaution 4), on this batch's enrollments.
INSERT INTO lms.credit_record (enrollment_id, credit_type_id, credits, credit_expiration,
                               import_batch, import_source)
SELECT e.id, s.credit_type_id, s.credits, s.credit_expiration, %(batch)s, %(source)s
FROM {stage} s
JOIN lms.enrollment e ON e.learner_id = s.learner_id AND e.course_id = s.course_id
WHERE s.credit_type_id IS NOT NULL AND e.import_batch = %(batch)s
ON CONFLICT (enrollment_id, credit_type_id) DO NOTHING
