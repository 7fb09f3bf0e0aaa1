-- Every staged row with its learner and course, now that the new ones exist (a view for the
-- statements below: joining is much cheaper than updating a million staged rows).
CREATE TEMPORARY VIEW {resolved} AS
SELECT s.*,
       coalesce(s.learner_id, l.id) AS resolved_learner_id,
       coalesce(s.course_id, c.id) AS resolved_course_id
FROM {stage} s
LEFT JOIN lms.learner l ON s.learner_id IS NULL AND lower(l.email) = s.email_key
LEFT JOIN lms.course c ON s.course_id IS NULL AND c.external_course_id = s.course_key
