-- The validated rows of one batch, ready to load (UNLOGGED: they are rebuilt from the file if lost).
CREATE UNLOGGED TABLE {stage} (
    line                 integer NOT NULL,
    learner_key          text NOT NULL,   -- one per person: the LMS id, or the user id / email of a learner to create
    learner_id           bigint,          -- the LMS learner, when it exists
    new_user_id          text,            -- a learner to create: its external_user_id …
    new_email            text,            -- … and email (the file pairs them: R02)
    new_email_key        text,
    external_user_id     text,            -- as the row gives them (kept on held records)
    email                text,
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
    held                 boolean NOT NULL,  -- goes to the holding table, not to the LMS
    first_of_enrollment  boolean NOT NULL   -- the row that creates the enrollment (rows of one agree: R10)
)
