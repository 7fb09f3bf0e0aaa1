-- Sort every enrollment of the reported activities into counted or not counted, and why.
--
-- A record counts when it is complete, did not come from the legacy global importer,
-- has enrollment_start and a participant_category, and its completion falls inside the
-- activity's window for the reporting year (pars.Activity.window). A record that does not
-- count takes the first reason that applies, in this order:
--   incomplete               not complete
--   global_import            came from the legacy global importer (precaution 5)
--   other_year               completed outside the window: it counts in another year's report
--   no_enrollment_start      no enrollment_start
--   no_participant_category  no participant_category
-- Native LMS records (import_source NULL) count like course-level imports.
--
-- Runs with the session time zone set to the provider's: completed_on is the local day.
-- Parameters: three arrays of one length, one element per reported activity: its course id and
-- window (first and last local day; NULL where the window has no such edge).
CREATE TEMP TABLE pars_window ON COMMIT DROP AS
SELECT w.activity_course_id, w.window_start, w.window_end
FROM unnest(%(activity_course_ids)s::integer[], %(window_starts)s::date[], %(window_ends)s::date[])
     AS w (activity_course_id, window_start, window_end);

CREATE TEMP TABLE pars_classified ON COMMIT DROP AS
SELECT w.activity_course_id,
       e.id AS enrollment_id,
       e.course_id,
       e.learner_id,
       e.participant_category,
       e.date_completed::date AS completed_on,
       CASE
           WHEN NOT e.complete THEN 'incomplete'
           WHEN e.import_source = 'legacy_global_import' THEN 'global_import'
           WHEN e.date_completed::date < w.window_start OR e.date_completed::date > w.window_end THEN 'other_year'
           WHEN e.enrollment_start IS NULL THEN 'no_enrollment_start'
           WHEN e.participant_category IS NULL THEN 'no_participant_category'
       END AS not_counted_because
FROM pars_window w
JOIN lms.pars_course_activity m ON m.activity_course_id = w.activity_course_id
JOIN lms.enrollment e ON e.course_id = m.course_id;

ANALYZE pars_classified;
