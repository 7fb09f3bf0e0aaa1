-- Reverting a loaded batch: its ledger row says who undid it, when, why and what went or stayed.
-- A reverted batch is no longer `loaded`, so the unique index ledger_loaded_once (on loaded
-- sha256) and the duplicate-file check (F06) let the same bytes load again as a new batch.
ALTER TABLE course_import.ledger
    DROP CONSTRAINT ledger_status_check,
    ADD CONSTRAINT ledger_status_check CHECK (status IN
        ('validating', 'accepted', 'rejected', 'loaded', 'duplicate_file', 'locked', 'failed', 'reverted')),
    ADD COLUMN reverted_at   timestamptz,
    ADD COLUMN reverted_by   text,
    ADD COLUMN revert_reason text,
    -- {"deleted": {"credit_records": 4, ...}, "kept": {"learners": 1, ...}}
    ADD COLUMN revert_counts jsonb,
    -- what the batch created that stayed, and why: [{"kind": "learners", "id": 7, "label": ..., "kept_because": ...}]
    ADD COLUMN revert_kept   jsonb,
    ADD CHECK ((status = 'reverted') = (reverted_at IS NOT NULL));
