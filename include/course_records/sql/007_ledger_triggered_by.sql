-- Who started each file's run (the user who triggered it, or the landing scan), for the operator page.
ALTER TABLE course_import.ledger ADD COLUMN triggered_by text;
