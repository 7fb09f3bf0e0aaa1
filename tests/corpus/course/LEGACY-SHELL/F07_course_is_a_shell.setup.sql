-- an imported course shell, as the global importer makes them
INSERT INTO lms.course (external_course_id, title, is_imported_shell) VALUES ('LEGACY-SHELL', 'Old course', true);
