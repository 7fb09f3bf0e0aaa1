-- Per reported activity: who counted (physicians and other learners apart) and who did not, by
-- reason (pars_classify.sql). Every enrollment of the activity's courses is in exactly one column.
SELECT activity_course_id,
       count(*) FILTER (WHERE not_counted_because IS NULL AND participant_category = 'physician') AS physicians,
       count(*) FILTER (WHERE not_counted_because IS NULL AND participant_category = 'other')     AS other_learners,
       count(*) FILTER (WHERE not_counted_because = 'incomplete')                                 AS incomplete,
       count(*) FILTER (WHERE not_counted_because = 'global_import')                              AS global_import,
       count(*) FILTER (WHERE not_counted_because = 'other_year')                                 AS other_year,
       count(*) FILTER (WHERE not_counted_because = 'no_enrollment_start')                        AS no_enrollment_start,
       count(*) FILTER (WHERE not_counted_because = 'no_participant_category')                    AS no_participant_category
FROM pars_classified
GROUP BY activity_course_id
