-- The demo catalogue (a contract: docs, demos and tests name it), exactly. Idempotent: rows that exist are left alone.
INSERT INTO lms.credit_type (machine_name, label) VALUES
    ('ama_pra_1', 'AMA PRA Category 1 Credit'),
    ('ancc', 'ANCC contact hours'),
    ('acpe', 'ACPE'),
    ('aapa_1', 'AAPA Category 1'),
    ('abim_moc', 'ABIM MOC points'),
    ('participation', 'participation')
ON CONFLICT (machine_name) DO NOTHING;

INSERT INTO lms.course (external_course_id, title, certificate_enabled,
                        pars_provider_activity_id, pars_activity_type, pars_city, pars_state, pars_country,
                        pars_hours_of_instruction, pars_ama_credits_designated, pars_providership) VALUES
    ('CARD-101', 'Cardiology Update', true, '101', 'C', 'Chicago', 'IL', 'USA', 2.0, 2.00, 'Direct'),
    ('NEURO-201', 'Stroke Care Essentials', true, '201', 'IEM', NULL, NULL, NULL, 1.5, 1.50, 'Direct'),
    ('PHARM-301', 'Opioid Prescribing', true, '301', 'IEM', NULL, NULL, NULL, 3.0, 3.00, 'Joint')
ON CONFLICT (external_course_id) DO NOTHING;

-- What PARS needs beyond the activity fields above, so that the demo's activities pass the
-- pre-submission check. Filled only where a course has none yet: a demo rerun changes nothing.
UPDATE lms.course c
SET pars_activity_date = d.starts, pars_activity_end_date = d.ends, pars_description = d.description,
    pars_commercial_support = false, pars_cme_finder = d.cme_finder,
    pars_designed_to_change_competence = true, pars_designed_to_change_performance = d.performance,
    pars_designed_to_change_patient_outcomes = false,
    pars_evaluated_competence = true, pars_evaluated_performance = false, pars_evaluated_patient_outcomes = false,
    pars_competencies = d.competencies, pars_joint_providers = d.joint_providers, pars_moc_boards = d.moc_boards
FROM (VALUES
    ('CARD-101', date '2026-03-01', date '2026-03-02', 'A one-day update on heart failure and arrhythmia care.',
     false, true, '{abms_medical_knowledge,abms_patient_care}'::text[], '{}'::text[], '{}'::text[]),
    ('NEURO-201', date '2026-04-01', date '2029-03-31', 'An online module on recognising and triaging stroke.',
     true, false, '{abms_medical_knowledge}', '{}', '{}'),
    ('PHARM-301', date '2026-01-15', date '2028-01-14', 'Safe opioid prescribing and tapering, with case studies.',
     true, true, '{abms_patient_care,iom_evidence_based_practice}', '{"Lakeside Pharmacists Association"}', '{ABIM}'))
    AS d (course, starts, ends, description, cme_finder, performance, competencies, joint_providers, moc_boards)
WHERE c.external_course_id = d.course AND c.pars_activity_date IS NULL;

INSERT INTO lms.course_object (course_id, title, required)
SELECT c.id, o.title, o.required
FROM (VALUES ('CARD-101', 'Post-test', true),
             ('NEURO-201', 'Video: stroke triage', false),
             ('PHARM-301', 'Post-test', true)) AS o (course, title, required)
JOIN lms.course c ON c.external_course_id = o.course
WHERE NOT EXISTS (SELECT 1 FROM lms.course_object x WHERE x.course_id = c.id AND x.title = o.title);

INSERT INTO lms.course_credit_type (course_id, credit_type_id, max_credits, is_variable)
SELECT c.id, t.id, o.max_credits, o.is_variable
FROM (VALUES ('CARD-101', 'ama_pra_1', 2.00, false),
             ('CARD-101', 'ancc', 2.00, true),
             ('CARD-101', 'participation', 2.00, true),
             ('NEURO-201', 'ama_pra_1', 1.50, false),
             ('PHARM-301', 'ama_pra_1', 3.00, true),
             ('PHARM-301', 'acpe', 3.00, false),
             ('PHARM-301', 'abim_moc', 3.00, false)) AS o (course, credit_type, max_credits, is_variable)
JOIN lms.course c ON c.external_course_id = o.course
JOIN lms.credit_type t ON t.machine_name = o.credit_type
ON CONFLICT (course_id, credit_type_id) DO NOTHING;

INSERT INTO lms.learner (external_user_id, email, first_name, last_name) VALUES
    ('U1001', 'ada@example.org', 'Ada', 'Lovelace'),
    ('U1002', 'grace@example.org', 'Grace', 'Hopper'),
    ('U1003', 'alan@example.org', 'Alan', 'Turing')
ON CONFLICT DO NOTHING;

INSERT INTO lms.enrollment (learner_id, course_id, enrollment_start, complete, date_completed, participant_category)
SELECT l.id, c.id, e.enrollment_start, e.complete, e.date_completed, e.participant_category
FROM (VALUES ('ada@example.org', 'CARD-101', timestamptz '2026-03-01 00:00Z', true, timestamptz '2026-03-02 00:00Z', 'physician'),
             ('alan@example.org', 'NEURO-201', timestamptz '2026-04-01 00:00Z', false, NULL, NULL))
     AS e (email, course, enrollment_start, complete, date_completed, participant_category)
JOIN lms.learner l ON lower(l.email) = e.email
JOIN lms.course c ON c.external_course_id = e.course
ON CONFLICT (learner_id, course_id) DO NOTHING;

INSERT INTO lms.credit_record (enrollment_id, credit_type_id, credits)
SELECT en.id, t.id, 2.00
FROM lms.enrollment en
JOIN lms.learner l ON l.id = en.learner_id AND lower(l.email) = 'ada@example.org'
JOIN lms.course c ON c.id = en.course_id AND c.external_course_id = 'CARD-101'
JOIN lms.credit_type t ON t.machine_name = 'ama_pra_1'
ON CONFLICT (enrollment_id, credit_type_id) DO NOTHING;
