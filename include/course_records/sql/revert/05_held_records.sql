-- The records the batch held for learners without an account (course_import.held_record). One
-- still waiting goes, so that no later assignment loads it; one already assigned or refused stays
-- as the history of what became of it (an assignment is undone by reverting its own batch).
WITH batch_held AS (
    SELECT h.id,
           h.line,
           'line ' || h.line || ': ' || coalesce(h.email, h.external_user_id) || ' in ' || h.course_key AS label,
           CASE h.status
               WHEN 'assigned' THEN 'already assigned by batch ' || coalesce(h.assigned_batch, '?')
                                    || ': revert that batch to undo it'
               WHEN 'refused' THEN 'its assignment was refused (' || coalesce(h.resolution, 'no reason recorded')
                                   || '); kept as history'
           END AS kept_because
    FROM course_import.held_record h
    WHERE h.import_batch = %(batch)s
),
gone AS (
    DELETE FROM course_import.held_record h
    USING batch_held b
    WHERE h.id = b.id AND b.kept_because IS NULL
)
SELECT id, label, kept_because FROM batch_held ORDER BY line, id
