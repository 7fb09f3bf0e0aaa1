-- Every staged row with its learner and course, now that the new ones exist (a view for the
-- statements below: joining is much cheaper than updating a million staged rows). A new learner
-- is found by the user id it was made with, else by its email.
CREATE TEMPORARY VIEW {resolved} AS
SELECT s.*,
       coalesce(s.learner_id, by_id.id, by_email.id) AS resolved_learner_id,
       coalesce(s.course_id, c.id) AS resolved_course_id
FROM {stage} s
LEFT JOIN lms.learner by_id ON s.learner_id IS NULL AND by_id.external_user_id = s.new_user_id
LEFT JOIN lms.learner by_email ON s.learner_id IS NULL AND s.new_user_id IS NULL
                                 AND lower(by_email.email) = s.new_email_key
LEFT JOIN lms.course c ON s.course_id IS NULL AND c.external_course_id = s.course_key
WHERE NOT s.held
