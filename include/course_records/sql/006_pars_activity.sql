-- What ACCME's PARS (and JA-PARS) needs beyond 001's activity fields: the activity's dates, the
-- answers that close an activity, series, MOC / CME Finder registration, Joint Accreditation,
-- learner fields for completion reporting, and the provider's time zone. docs/pars.md names the
-- ACCME field behind each column. Every new column is optional: the pre-submission check, not
-- the schema, says what an activity still lacks, so the LMS can hold a half-described activity.

ALTER TABLE lms.course
    -- Activity Date is 001's pars_activity_date (the start); PARS also wants the end date
    ADD COLUMN pars_activity_end_date                   date,
    ADD COLUMN pars_description                         text,
    -- a regularly scheduled series is one activity: each session is a course of its own that
    -- points at the course standing for the series (whose own completions count as a session)
    ADD COLUMN pars_series_course_id                    integer REFERENCES lms.course (id) ON DELETE SET NULL,
    ADD COLUMN pars_commercial_support                  boolean,
    ADD COLUMN pars_designed_to_change_competence       boolean,
    ADD COLUMN pars_designed_to_change_performance      boolean,
    ADD COLUMN pars_designed_to_change_patient_outcomes boolean,
    ADD COLUMN pars_evaluated_competence                boolean,
    ADD COLUMN pars_evaluated_performance               boolean,
    ADD COLUMN pars_evaluated_patient_outcomes          boolean,
    -- codes from include/course_records/pars_codes.py (COMPETENCIES, MOC_BOARDS)
    ADD COLUMN pars_competencies                        text[] NOT NULL DEFAULT '{}',
    ADD COLUMN pars_joint_providers                     text[] NOT NULL DEFAULT '{}',
    ADD COLUMN pars_moc_boards                          text[] NOT NULL DEFAULT '{}',
    ADD COLUMN pars_cme_finder                          boolean,
    -- an interprofessional activity of a jointly accredited provider: reported to JA-PARS
    ADD COLUMN pars_joint_accreditation                 boolean NOT NULL DEFAULT false,
    ADD CONSTRAINT course_series_not_itself CHECK (pars_series_course_id <> id);

CREATE INDEX course_series ON lms.course (pars_series_course_id) WHERE pars_series_course_id IS NOT NULL;

-- Commercial supporters of an activity: each gave money, in-kind support, or both.
CREATE TABLE lms.course_commercial_supporter (
    course_id       integer NOT NULL REFERENCES lms.course (id) ON DELETE CASCADE,
    supporter       text NOT NULL,
    monetary_amount numeric(12, 2) CHECK (monetary_amount >= 0),
    in_kind         boolean NOT NULL DEFAULT false,
    PRIMARY KEY (course_id, supporter),
    CHECK (monetary_amount IS NOT NULL OR in_kind)
);

-- Learner fields a certifying board (MOC) or a state board matches a completion on. Optional:
-- the learner-completion export lists who lacks what. The import file's columns do not change.
ALTER TABLE lms.learner
    ADD COLUMN birth_month smallint CHECK (birth_month BETWEEN 1 AND 12),
    ADD COLUMN birth_day   smallint CHECK (birth_day BETWEEN 1 AND 31),
    ADD CONSTRAINT learner_birth_month_day CHECK (
        (birth_month IS NULL) = (birth_day IS NULL)
        AND (birth_day IS NULL OR birth_day <= CASE WHEN birth_month = 2 THEN 29
                                                    WHEN birth_month IN (4, 6, 9, 11) THEN 30
                                                    ELSE 31 END));

-- A learner's id at a certifying board (board code from pars_codes.MOC_BOARDS, e.g. ABIM).
CREATE TABLE lms.learner_board_id (
    learner_id bigint NOT NULL REFERENCES lms.learner (id) ON DELETE CASCADE,
    board      text NOT NULL,
    board_id   text NOT NULL CHECK (btrim(board_id) <> ''),
    PRIMARY KEY (learner_id, board)
);

-- The accredited provider's own settings, one row. The time zone sets where a reporting year
-- begins and ends and on which day a completion happened (an IANA name, e.g. America/Chicago).
CREATE TABLE lms.pars_provider (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    time_zone text NOT NULL DEFAULT 'UTC'
);
INSERT INTO lms.pars_provider DEFAULT VALUES;

-- Which PARS activity each course's records count for: its own, or its series'. Imported shells
-- are never an activity (their records are never counted).
CREATE VIEW lms.pars_course_activity AS
SELECT c.id AS course_id, COALESCE(c.pars_series_course_id, c.id) AS activity_course_id
FROM lms.course c
WHERE NOT c.is_imported_shell;
