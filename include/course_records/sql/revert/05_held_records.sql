-- The records the batch held for learners without an account (course_import.held_record). One
-- still waiting goes, so that no later assignment loads it; one already assigned or refused stays
-- as the history of what became of it (an assignment is undone by reverting its own batch).
-- Reverting an assignment batch (it loaded held records of another batch): its records go with the
-- enrollments below, and the held records it assigned are marked refused, with the revert as their
-- resolution, so that no later assignment run loads them again.
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
),
unassigned AS (
    UPDATE course_import.held_record h
    SET status = 'refused',
        resolution = 'its assignment (batch ' || h.assigned_batch || ') was reverted; it will not be assigned again'
    WHERE h.assigned_batch = %(batch)s AND h.status = 'assigned'
    RETURNING h.id, h.line,
              'line ' || h.line || ' of batch ' || h.import_batch || ': ' || coalesce(h.email, h.external_user_id)
              || ' in ' || h.course_key AS label
)
SELECT id, label, kept_because FROM (
    SELECT id, line, label, kept_because FROM batch_held
    UNION ALL
    SELECT id, line, label, 'assigned by this batch: marked refused, not assigned again' FROM unassigned
) AS items
ORDER BY line, id
