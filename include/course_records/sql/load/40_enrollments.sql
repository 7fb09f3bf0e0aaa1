-- One enrollment per learner and course (rows of one enrollment agree: rule R10).
INSERT INTO lms.enrollment (learner_id, course_id, enrollment_start, enrollment_end, complete,
                            date_completed, attended, participant_category, import_batch, import_source)
SELECT DISTINCT ON (learner_id, course_id)
       learner_id, course_id, enrollment_start, enrollment_end, complete, date_completed, attended,
       participant_category, %(batch)s, %(source)s
FROM {stage}
ORDER BY learner_id, course_id, line
ON CONFLICT (learner_id, course_id) DO NOTHING
