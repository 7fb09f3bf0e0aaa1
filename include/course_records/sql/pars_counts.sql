-- PARS counts for one reporting year (DESIGN §5), one row per course.
--
-- A course appears when it is not an imported shell and has at least one enrollment completed
-- in the year (UTC). Each such enrollment either counts, as a physician or an other learner, or
-- is set aside for the first reason that applies, so the data team can see why a completion
-- did not count:
--   global_import            came from the legacy global importer (precaution 5)
--   no_enrollment_start      no enrollment_start
--   no_participant_category  no participant_category
-- Native LMS records have import_source NULL and count like course-level imports.
--
-- Parameter: %(year)s, the reporting year.
WITH reporting_year AS (
    -- Explicit UTC bounds: the year does not depend on the session's time zone, and a range on
    -- date_completed (rather than extract(year ...)) says exactly where the edges are.
    SELECT make_timestamptz(%(year)s, 1, 1, 0, 0, 0, 'UTC')     AS starts,
           make_timestamptz(%(year)s + 1, 1, 1, 0, 0, 0, 'UTC') AS ends
),
completed_in_year AS (
    SELECT e.course_id,
           e.participant_category,
           CASE
               WHEN e.import_source = 'legacy_global_import' THEN 'global_import'
               WHEN e.enrollment_start IS NULL THEN 'no_enrollment_start'
               WHEN e.participant_category IS NULL THEN 'no_participant_category'
           END AS not_counted_because
    FROM lms.enrollment e
    CROSS JOIN reporting_year y
    WHERE e.complete
      AND e.date_completed >= y.starts
      AND e.date_completed < y.ends
)
SELECT c.external_course_id,
       c.title,
       c.pars_provider_activity_id,
       c.pars_activity_type,
       c.pars_activity_date,
       c.pars_city,
       c.pars_state,
       c.pars_country,
       c.pars_providership,
       c.pars_hours_of_instruction,
       c.pars_ama_credits_designated,
       count(*) FILTER (WHERE k.not_counted_because IS NULL
                          AND k.participant_category = 'physician')            AS physicians,
       count(*) FILTER (WHERE k.not_counted_because IS NULL
                          AND k.participant_category = 'other')                AS other_learners,
       count(*) FILTER (WHERE k.not_counted_because = 'global_import')           AS not_counted_global_import,
       count(*) FILTER (WHERE k.not_counted_because = 'no_enrollment_start')     AS not_counted_no_enrollment_start,
       count(*) FILTER (WHERE k.not_counted_because = 'no_participant_category') AS not_counted_no_participant_category
FROM lms.course c
JOIN completed_in_year k ON k.course_id = c.id
WHERE NOT c.is_imported_shell
GROUP BY c.id
ORDER BY c.external_course_id
