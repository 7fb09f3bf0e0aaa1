-- The LMS stand-in: what the importers write into and the rules read from.
CREATE SCHEMA IF NOT EXISTS lms;

CREATE TABLE lms.credit_type (
    id           smallserial PRIMARY KEY,
    machine_name text NOT NULL UNIQUE,
    label        text NOT NULL
);

CREATE TABLE lms.learner (
    id               bigserial PRIMARY KEY,
    external_user_id text UNIQUE,
    email            text NOT NULL,
    first_name       text,
    last_name        text,
    import_batch     text,
    import_source    text CHECK (import_source IN ('course_import', 'legacy_global_import')),
    created_at       timestamptz NOT NULL DEFAULT now()
);
-- Learners are matched by email case-insensitively.
CREATE UNIQUE INDEX learner_email_key ON lms.learner (lower(email));

CREATE TABLE lms.course (
    id                          serial PRIMARY KEY,
    external_course_id          text NOT NULL UNIQUE,
    title                       text NOT NULL,
    certificate_enabled         boolean NOT NULL DEFAULT false,
    is_imported_shell           boolean NOT NULL DEFAULT false,
    -- PARS activity fields (ACCME's names in comments)
    pars_provider_activity_id   text,            -- Provider Activity ID
    pars_activity_type          text,            -- Activity Type: C, RSS, IEM, EM, ...
    pars_activity_date          date,            -- Activity Date (start date)
    pars_city                   text,
    pars_state                  text,
    pars_country                text,
    pars_hours_of_instruction   numeric(6, 2),
    pars_ama_credits_designated numeric(6, 2),   -- Number of AMA PRA Category 1 Credits Designated
    pars_providership           text CHECK (pars_providership IN ('Direct', 'Joint')),
    import_batch                text,
    import_source               text CHECK (import_source IN ('course_import', 'legacy_global_import')),
    created_at                  timestamptz NOT NULL DEFAULT now(),
    -- an imported shell has nothing of its own (precaution 1)
    CHECK (NOT (is_imported_shell AND certificate_enabled))
);

CREATE TABLE lms.course_object (
    id        serial PRIMARY KEY,
    course_id integer NOT NULL REFERENCES lms.course (id),
    title     text NOT NULL,
    required  boolean NOT NULL DEFAULT false
);
CREATE INDEX course_object_course ON lms.course_object (course_id);

CREATE TABLE lms.course_credit_type (
    course_id      integer NOT NULL REFERENCES lms.course (id),
    credit_type_id smallint NOT NULL REFERENCES lms.credit_type (id),
    max_credits    numeric(6, 2) NOT NULL CHECK (max_credits >= 0),
    is_variable    boolean NOT NULL DEFAULT false,
    PRIMARY KEY (course_id, credit_type_id)
);

CREATE TABLE lms.enrollment (
    id                   bigserial PRIMARY KEY,
    learner_id           bigint NOT NULL REFERENCES lms.learner (id),
    course_id            integer NOT NULL REFERENCES lms.course (id),
    enrollment_start     timestamptz,
    enrollment_end       timestamptz,
    complete             boolean NOT NULL DEFAULT false,
    date_completed       timestamptz,
    attended             boolean,
    participant_category text CHECK (participant_category IN ('physician', 'other')),
    import_batch         text,
    import_source        text CHECK (import_source IN ('course_import', 'legacy_global_import')),
    created_at           timestamptz NOT NULL DEFAULT now(),
    UNIQUE (learner_id, course_id),
    CHECK (complete = (date_completed IS NOT NULL))
);
CREATE INDEX enrollment_course ON lms.enrollment (course_id);

CREATE TABLE lms.credit_record (
    id                bigserial PRIMARY KEY,
    enrollment_id     bigint NOT NULL REFERENCES lms.enrollment (id),
    credit_type_id    smallint NOT NULL REFERENCES lms.credit_type (id),
    credits           numeric(6, 2) NOT NULL CHECK (credits >= 0),
    credit_expiration timestamptz,
    import_batch      text,
    import_source     text CHECK (import_source IN ('course_import', 'legacy_global_import')),
    created_at        timestamptz NOT NULL DEFAULT now(),
    UNIQUE (enrollment_id, credit_type_id)
);
