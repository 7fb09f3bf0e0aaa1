-- Imported course shells for the global importer's unknown courses (precaution 1: no
-- certificate, no course objects, no credit types of their own). A course that appeared since
-- validation makes this fail (unique external_course_id): the LMS changed, nothing loads.
INSERT INTO lms.course (external_course_id, title, is_imported_shell, certificate_enabled,
                        import_batch, import_source)
SELECT DISTINCT ON (course_key) course_key, title, true, false, %(batch)s, %(source)s
FROM {stage}
WHERE course_id IS NULL AND NOT held
ORDER BY course_key, line
