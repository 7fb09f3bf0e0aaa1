-- A load marks its batch when it starts, holding the loaders' advisory lock for its session. A
-- batch still marked and neither loaded nor failed when the next load gets that lock is a load
-- whose process died (its worker was lost or killed): PostgreSQL rolled its transaction back with
-- its session, and that next load locks the importer with a diagnosis naming it.
ALTER TABLE course_import.ledger ADD COLUMN load_started_at timestamptz;
