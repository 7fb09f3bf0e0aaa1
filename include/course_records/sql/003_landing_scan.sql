-- What the landing scan has seen, so that a file is dispatched once, only when it has stopped
-- growing, and again only if its run ended without moving it (locked, failed).
CREATE TABLE course_import.landing_file (
    file_path     text PRIMARY KEY,
    size          bigint NOT NULL,
    mtime         double precision NOT NULL,
    state         text NOT NULL CHECK (state IN ('seen', 'dispatched', 'waiting')),
    run_id        text,
    first_seen_at timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
