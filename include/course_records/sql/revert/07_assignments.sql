-- An assignment batch (it loaded held records): its records go with the enrollments below, and the
-- held records it assigned are marked refused, with the revert as their resolution, so that no
-- later assignment run loads them again. They stay as the history of what became of them.
WITH assigned AS (
    UPDATE course_import.held_record h
    SET status = 'refused',
        resolution = 'its assignment (batch ' || h.assigned_batch || ') was reverted; it will not be assigned again'
    WHERE h.assigned_batch = %(batch)s AND h.status = 'assigned'
    RETURNING h.id, h.line, h.import_batch,
              'line ' || h.line || ' of batch ' || h.import_batch || ': ' || coalesce(h.email, h.external_user_id)
              || ' in ' || h.course_key AS label
)
SELECT id, label, 'held record of an assignment: marked refused, not assigned again' AS kept_because
FROM assigned ORDER BY import_batch, line, id
