-- One enrollment per learner and course: the first row of each (rows of one enrollment agree, R10).
INSERT INTO lms.enrollment (learner_id, course_id, enrollment_start, enrollment_end, complete,
                            date_completed, attended, participant_category, import_batch, import_source)
SELECT resolved_learner_id, resolved_course_id, enrollment_start, enrollment_end, complete, date_completed,
       attended, participant_category, %(batch)s, %(source)s
FROM {resolved}
WHERE first_of_enrollment
