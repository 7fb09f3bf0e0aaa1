-- The validated rows of one batch, ready to load (UNLOGGED: they are rebuilt from the file if lost).
CREATE UNLOGGED TABLE {stage} (
    line                 integer NOT NULL,
    email                text NOT NULL,
    email_key            text NOT NULL,
    external_user_id     text,
    learner_id           bigint,
    first_name           text,
    last_name            text,
    course_key           text NOT NULL,
    course_id            integer,
    title                text,
    enrollment_start     timestamptz,
    enrollment_end       timestamptz,
    complete             boolean NOT NULL,
    date_completed       timestamptz,
    attended             boolean,
    participant_category text,
    credit_type_id       smallint,
    credits              numeric(6, 2),
    credit_expiration    timestamptz,
    first_of_enrollment  boolean NOT NULL  -- the row that creates the enrollment (rows of one agree: R10)
)
