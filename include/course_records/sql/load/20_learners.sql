-- Learners not yet in the LMS, once each (the first row of a person names them). A learner who
-- appeared since validation makes this fail (unique id or email): the LMS changed, nothing loads.
INSERT INTO lms.learner (external_user_id, email, first_name, last_name, import_batch, import_source)
SELECT DISTINCT ON (learner_key) new_user_id, new_email, first_name, last_name, %(batch)s, %(source)s
FROM {stage}
WHERE learner_id IS NULL AND NOT held
ORDER BY learner_key, line
