-- Point every staged row at its learner and course, now that the new ones exist.
UPDATE {stage} s SET learner_id = l.id
FROM lms.learner l
WHERE s.learner_id IS NULL AND lower(l.email) = s.email_key;

UPDATE {stage} s SET course_id = c.id
FROM lms.course c
WHERE s.course_id IS NULL AND c.external_course_id = s.course_key
