"""The course-record file format (contract): its columns and what each importer needs."""

from __future__ import annotations

COLUMNS: tuple[str, ...] = (
    "external_course_id", "title", "external_user_id", "external_email", "first_name",
    "last_name", "enrollment_start", "enrollment_end", "complete", "date_completed",
    "credits", "credit_type", "credit_expiration", "attended", "participant_category",
)
ALIASES = {"external_mail": "external_email"}  # accepted with a warning (W04)
DATE_COLUMNS = ("enrollment_start", "enrollment_end", "date_completed", "credit_expiration")
# Rows of one learner and course describe one enrollment: these must agree (R10).
ENROLLMENT_COLUMNS = (
    "enrollment_start", "enrollment_end", "complete", "date_completed", "attended",
    "participant_category",
)
IMPORTERS = ("course", "global")
