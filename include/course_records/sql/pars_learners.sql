-- The counted completions of activities registered for MOC or CME Finder, with what a board
-- matches a learner on (pars_classify.sql made pars_classified in this transaction).
-- Parameter: %(activity_course_ids)s, the activities to list.
SELECT k.activity_course_id,
       c.external_course_id,
       k.completed_on,
       k.participant_category,
       l.external_user_id,
       l.email,
       l.first_name,
       l.last_name,
       l.birth_month,
       l.birth_day,
       (SELECT jsonb_object_agg(b.board, b.board_id) FROM lms.learner_board_id b
        WHERE b.learner_id = l.id) AS board_ids,
       (SELECT jsonb_object_agg(t.machine_name, r.credits::text) FROM lms.credit_record r
        JOIN lms.credit_type t ON t.id = r.credit_type_id
        WHERE r.enrollment_id = k.enrollment_id) AS credits
FROM pars_classified k
JOIN lms.learner l ON l.id = k.learner_id
JOIN lms.course c ON c.id = k.course_id
WHERE k.not_counted_because IS NULL
  AND k.activity_course_id = ANY (%(activity_course_ids)s::integer[])
ORDER BY k.activity_course_id, k.completed_on, lower(l.email), c.external_course_id
