-- Completions in the reporting year (local days) of activities reported in another year: a live
-- course of last December finished in January, an enduring material past its end date.
-- Parameters: %(year)s; %(reported_ids)s, the course ids of this year's activities.
SELECT m.activity_course_id, count(*) AS completions
FROM lms.pars_course_activity m
JOIN lms.enrollment e ON e.course_id = m.course_id
WHERE e.complete
  AND e.date_completed >= make_date(%(year)s, 1, 1)
  AND e.date_completed < make_date(%(year)s + 1, 1, 1)
  AND m.activity_course_id <> ALL (%(reported_ids)s::integer[])
GROUP BY m.activity_course_id
