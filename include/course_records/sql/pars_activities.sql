-- Every PARS activity the LMS holds, with what the export and the pre-submission check need:
-- one row per course that is neither an imported shell nor a session of a series.
--
-- Runs with the session time zone set to the provider's, so a completion's year is local.
-- Parameter: %(year)s, the reporting year (only for the years an undated activity had records in).
WITH offered AS (
    -- what an activity offers, summed over a series' sessions (a series designates its total)
    SELECT m.activity_course_id, t.machine_name, sum(o.max_credits) AS max_credits
    FROM lms.pars_course_activity m
    JOIN lms.course_credit_type o ON o.course_id = m.course_id
    JOIN lms.credit_type t ON t.id = o.credit_type_id
    GROUP BY m.activity_course_id, t.machine_name
),
undated_with_records AS (
    -- an activity without a start date is reported in a year where it has a record that counts
    SELECT DISTINCT m.activity_course_id
    FROM lms.pars_course_activity m
    JOIN lms.course a ON a.id = m.activity_course_id AND a.pars_activity_date IS NULL
    JOIN lms.enrollment e ON e.course_id = m.course_id
    WHERE e.complete
      AND e.date_completed >= make_date(%(year)s, 1, 1)
      AND e.date_completed < make_date(%(year)s + 1, 1, 1)
      AND e.import_source IS DISTINCT FROM 'legacy_global_import'
      AND e.enrollment_start IS NOT NULL
      AND e.participant_category IS NOT NULL
)
SELECT c.id AS course_id,
       c.external_course_id,
       c.title,
       c.pars_provider_activity_id AS provider_activity_id,
       c.pars_activity_type AS activity_type,
       c.pars_activity_date AS start_date,
       c.pars_activity_end_date AS end_date,
       c.pars_description AS description,
       c.pars_city AS city,
       c.pars_state AS state,
       c.pars_country AS country,
       c.pars_providership AS providership,
       c.pars_hours_of_instruction AS hours_of_instruction,
       c.pars_ama_credits_designated AS credits_designated,
       c.pars_commercial_support AS commercial_support,
       c.pars_designed_to_change_competence AS designed_to_change_competence,
       c.pars_designed_to_change_performance AS designed_to_change_performance,
       c.pars_designed_to_change_patient_outcomes AS designed_to_change_patient_outcomes,
       c.pars_evaluated_competence AS evaluated_competence,
       c.pars_evaluated_performance AS evaluated_performance,
       c.pars_evaluated_patient_outcomes AS evaluated_patient_outcomes,
       c.pars_competencies AS competencies,
       c.pars_joint_providers AS joint_providers,
       c.pars_moc_boards AS moc_boards,
       c.pars_cme_finder AS cme_finder,
       c.pars_joint_accreditation AS joint_accreditation,
       ARRAY(SELECT s.external_course_id FROM lms.course s
             WHERE s.pars_series_course_id = c.id AND NOT s.is_imported_shell
             ORDER BY s.external_course_id) AS sessions,
       -- sessions of a session are never counted: the series must be one level deep
       ARRAY(SELECT n.external_course_id FROM lms.course s
             JOIN lms.course n ON n.pars_series_course_id = s.id
             WHERE s.pars_series_course_id = c.id
             ORDER BY n.external_course_id) AS nested_sessions,
       -- text keeps the numbers exact through JSON
       (SELECT jsonb_object_agg(o.machine_name, o.max_credits::text) FROM offered o
        WHERE o.activity_course_id = c.id) AS offered,
       (SELECT jsonb_agg(jsonb_build_object('supporter', s.supporter, 'monetary_amount', s.monetary_amount::text,
                                            'in_kind', s.in_kind) ORDER BY s.supporter)
        FROM lms.course_commercial_supporter s WHERE s.course_id = c.id) AS supporters,
       u.activity_course_id IS NOT NULL AS has_records_in_year
FROM lms.course c
LEFT JOIN undated_with_records u ON u.activity_course_id = c.id
WHERE NOT c.is_imported_shell
  AND c.pars_series_course_id IS NULL
ORDER BY c.external_course_id
