-- Learners not yet in the LMS, once each (the first row of a learner names them).
INSERT INTO lms.learner (external_user_id, email, first_name, last_name, import_batch, import_source)
SELECT DISTINCT ON (email_key) external_user_id, email, first_name, last_name, %(batch)s, %(source)s
FROM {stage}
WHERE learner_id IS NULL
ORDER BY email_key, line
ON CONFLICT DO NOTHING
