-- Suspected duplicate learners: two or more learners (two e-mail addresses, or a learner known by
-- SSO id alone beside one with an address) with the same first and last name counted in one
-- activity. Names compare case-insensitively, with runs of spaces as one. Learners without both
-- names are not compared.
WITH counted AS (
    SELECT DISTINCT k.activity_course_id, l.id, l.email, l.external_user_id, l.first_name, l.last_name,
           lower(regexp_replace(btrim(l.first_name), '\s+', ' ', 'g')) AS first_key,
           lower(regexp_replace(btrim(l.last_name), '\s+', ' ', 'g')) AS last_key
    FROM pars_classified k
    JOIN lms.learner l ON l.id = k.learner_id
    WHERE k.not_counted_because IS NULL
      AND btrim(coalesce(l.first_name, '')) <> ''
      AND btrim(coalesce(l.last_name, '')) <> ''
)
SELECT activity_course_id,
       min(btrim(first_name)) AS first_name,
       min(btrim(last_name)) AS last_name,
       count(*) AS learners,
       array_remove(array_agg(email ORDER BY lower(email), external_user_id), NULL) AS emails,
       array_remove(array_agg(external_user_id ORDER BY lower(email), external_user_id), NULL) AS external_user_ids
FROM counted
GROUP BY activity_course_id, first_key, last_key
HAVING count(*) > 1
ORDER BY activity_course_id, first_key, last_key
