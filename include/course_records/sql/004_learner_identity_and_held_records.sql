-- Learners named by their SSO id alone (files without emails), and records held for learners who
-- have no account yet.

-- A learner is known by external_user_id, by email, or by both; never by neither.
ALTER TABLE lms.learner ALTER COLUMN email DROP NOT NULL;
ALTER TABLE lms.learner ADD CONSTRAINT learner_is_named CHECK (email IS NOT NULL OR external_user_id IS NOT NULL);

-- Rows whose learner was not in the LMS, imported with course_record_missing_learners = hold
-- (or for a known learner with assign_immediately off). They wait here, with the values the
-- file gave, until a learner with that external_user_id or email (any case) exists; the
-- assignment run then loads them like an import. Nothing is deleted: an assigned or refused
-- record keeps its row, with what became of it.
CREATE TABLE course_import.held_record (
    id                   bigserial PRIMARY KEY,
    import_batch         text NOT NULL,          -- the batch that held it (ledger.batch_id)
    line                 integer NOT NULL,       -- its line in that batch's file
    importer             text NOT NULL CHECK (importer IN ('course', 'global')),
    course_key           text NOT NULL,          -- external_course_id (the target course, course-level)
    title                text,
    external_user_id     text,
    email                text,
    email_key            text,                   -- lower(email): how learners are matched
    first_name           text,
    last_name            text,
    enrollment_start     timestamptz,
    enrollment_end       timestamptz,
    complete             boolean NOT NULL,
    date_completed       timestamptz,            -- may be missing on a complete record: the assignment time is used
    attended             boolean,
    participant_category text,
    credit_type_id       smallint REFERENCES lms.credit_type (id),
    credits              numeric(6, 2),
    credit_expiration    timestamptz,
    status               text NOT NULL DEFAULT 'held' CHECK (status IN ('held', 'assigned', 'refused')),
    held_at              timestamptz NOT NULL DEFAULT now(),
    learner_id           bigint,                 -- once assigned
    assigned_batch       text,                   -- the assignment batch that loaded it
    assigned_at          timestamptz,
    resolution           text,                   -- what the assignment said (why refused; the date it gave)
    CHECK (external_user_id IS NOT NULL OR email_key IS NOT NULL)
);
CREATE INDEX held_record_waiting_user_id ON course_import.held_record (external_user_id) WHERE status = 'held';
CREATE INDEX held_record_waiting_email ON course_import.held_record (email_key) WHERE status = 'held';
CREATE INDEX held_record_batch ON course_import.held_record (import_batch);

ALTER TABLE course_import.ledger
    ADD COLUMN created_held_records integer,
    ADD COLUMN assigned_from text;  -- an assignment batch: the batch whose held records it loaded
