-- Records completed in the reporting year (local days) in imported course shells. A shell is
-- never a PARS activity, so none of them counts; those that did not come from the global
-- importer were meant to count and are lost to PARS until their real course exists.
-- Parameter: %(year)s.
SELECT c.external_course_id,
       c.title,
       count(*) FILTER (WHERE e.import_source IS DISTINCT FROM 'legacy_global_import') AS not_from_global_import,
       count(*) FILTER (WHERE e.import_source = 'legacy_global_import')                AS global_import
FROM lms.course c
JOIN lms.enrollment e ON e.course_id = c.id
WHERE c.is_imported_shell
  AND e.complete
  AND e.date_completed >= make_date(%(year)s, 1, 1)
  AND e.date_completed < make_date(%(year)s + 1, 1, 1)
GROUP BY c.id
ORDER BY c.external_course_id
