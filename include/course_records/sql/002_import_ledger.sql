-- The pipeline's own records: one ledger row per file run, and the lock's history.
CREATE SCHEMA IF NOT EXISTS course_import;

CREATE TABLE course_import.ledger (
    batch_id          text PRIMARY KEY,
    file_path         text NOT NULL,          -- path under the landing root, as it arrived
    sha256            char(64) NOT NULL,
    importer          text NOT NULL CHECK (importer IN ('course', 'global')),
    course            text,
    status            text NOT NULL CHECK (status IN
                        ('validating', 'accepted', 'rejected', 'loaded', 'duplicate_file', 'locked', 'failed')),
    rows_total        integer,
    rows_valid        integer,
    rows_rejected     integer,
    rows_skipped_identical integer,
    created_learners  integer,
    created_courses   integer,
    created_enrollments integer,
    created_credit_records integer,
    dry_run           boolean NOT NULL DEFAULT false,
    load_valid_rows   boolean NOT NULL DEFAULT false,
    run_id            text,
    report_uri        text,
    archived_uri      text,
    started_at        timestamptz NOT NULL DEFAULT now(),
    finished_at       timestamptz
);
-- Exactly once: the same bytes can be loaded only one time, whatever the file is called.
CREATE UNIQUE INDEX ledger_loaded_once ON course_import.ledger (sha256) WHERE status = 'loaded';
CREATE INDEX ledger_sha256 ON course_import.ledger (sha256);

CREATE TABLE course_import.lock_event (
    id        bigserial PRIMARY KEY,
    event     text NOT NULL CHECK (event IN ('locked', 'unlocked')),
    file_path text,
    run_id    text,
    reason    text NOT NULL,
    diagnosis jsonb,
    actor     text,
    at        timestamptz NOT NULL DEFAULT now()
);
