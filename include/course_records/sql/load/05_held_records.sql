-- Rows for learners without an account (hold mode), or held until the assignment run: kept with
-- their values in the holding table; they create nothing in the LMS yet.
INSERT INTO course_import.held_record (import_batch, line, importer, course_key, title, external_user_id, email,
                                       email_key, first_name, last_name, enrollment_start, enrollment_end, complete,
                                       date_completed, attended, participant_category, credit_type_id, credits,
                                       credit_expiration)
SELECT %(batch)s, line, %(importer)s, course_key, title, external_user_id, email, lower(email), first_name,
       last_name, enrollment_start, enrollment_end, complete, date_completed, attended, participant_category,
       credit_type_id, credits, credit_expiration
FROM {stage}
WHERE held
