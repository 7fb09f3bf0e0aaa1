"""The report's CSV files: learner completions, what learners lack, problems, reconciliation, duplicates.

Comma-separated, header first, LF line ends, every value spreadsheet-safe (a value a spreadsheet
would run as a formula gets a leading '). Column names are ours; docs/pars.md maps the learner
file's columns to what ACCME asks providers to collect.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from decimal import Decimal
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from include.course_records.pars import LearnerCompletion, ParsReport
    from include.course_records.pars_lms import Activity

LEARNER_COLUMNS = (
    "reporting_system", "provider_activity_id", "activity_title", "external_course_id", "external_user_id", "email",
    "first_name", "last_name", "birth_month", "birth_day", "completion_date", "ama_pra_1_credits", "moc_board",
    "moc_board_id", "moc_points",
)
LEARNER_MISSING_COLUMNS = (
    "reporting_system", "provider_activity_id", "external_course_id", "external_user_id", "email", "first_name",
    "last_name", "completion_date", "moc_board", "missing", "fix",
)
PROBLEM_COLUMNS = (
    "reporting_year", "reporting_system", "provider_activity_id", "external_course_id", "title", "stage", "field",
    "problem", "fix",
)
RECONCILIATION_COLUMNS = (
    "reporting_year", "reporting_system", "status", "provider_activity_id", "external_course_id", "title",
    "activity_type", "sessions", "counted_from", "counted_to", "physicians", "other_learners",
    "not_counted_incomplete", "not_counted_global_import", "not_counted_other_year",
    "not_counted_no_enrollment_start", "not_counted_no_participant_category", "not_counted_in_shell",
    "change_physicians", "change_other_learners", "note",
)
DUPLICATE_COLUMNS = (
    "reporting_year", "reporting_system", "provider_activity_id", "external_course_id", "first_name", "last_name",
    "learners", "emails", "external_user_ids",
)
WRITTEN, NOT_WRITTEN, SHELL, OTHER_YEAR, GONE = "written", "not written", "imported shell", "other year", "no longer reported"


def learners(report: ParsReport) -> str:
    """The completions ready to report (nothing missing): the source for ACCME's learner upload."""
    return _csv(LEARNER_COLUMNS, (
        (line.activity.system, line.activity.provider_activity_id, line.activity.title, line.external_course_id,
         line.external_user_id, line.email, line.first_name, line.last_name, line.birth_month, line.birth_day,
         f"{line.completed_on:%m/%d/%Y}", _number(line.cme_credits), line.moc_board, line.board_id,
         _number(line.moc_points))
        for line in report.learners if not line.missing))


def learners_missing(report: ParsReport) -> str:
    """The completions that cannot be reported yet, with what each learner lacks and where to add it."""
    return _csv(LEARNER_MISSING_COLUMNS, (
        (line.activity.system, line.activity.provider_activity_id, line.external_course_id, line.external_user_id,
         line.email, line.first_name, line.last_name, f"{line.completed_on:%m/%d/%Y}", line.moc_board,
         "; ".join(line.missing), _learner_fix(line))
        for line in report.learners if line.missing))


def problems(report: ParsReport) -> str:
    """The pre-submission check: one line per problem of each activity left out of the upload."""
    return _csv(PROBLEM_COLUMNS, (
        (report.year, r.activity.system, r.activity.provider_activity_id, r.activity.external_course_id,
         r.activity.title, p.stage, p.field, p.problem, p.fix)
        for r in report.failed for p in r.problems))


def reconciliation(report: ParsReport, previous: dict[str, Any] | None) -> str:
    """Per activity, who counted and who did not and why; shells; the year's completions counted in
    another year's report; and the change since `previous` (the last export of the same year)."""
    before = {(a["system"], a["external_course_id"]): a for a in (previous or {}).get("activities", [])}
    rows: list[tuple[Any, ...]] = []
    for r in report.activities:
        a, c = r.activity, r.counts
        window = a.window(report.year)
        last = before.pop((a.system, a.external_course_id), None)
        change = ("", "") if previous is None else (
            c.physicians - (last["physicians"] if last else 0),
            c.other_learners - (last["other_learners"] if last else 0))
        notes = []
        if previous is not None and last is None:
            notes.append("new since the last export")
        if not r.written:
            notes.append(f"{len(r.problems)} problem(s): see the problems file")
        rows.append((report.year, a.system, WRITTEN if r.written else NOT_WRITTEN, a.provider_activity_id,
                     a.external_course_id, a.title, a.activity_type, " ".join(a.sessions), window[0], window[1],
                     c.physicians, c.other_learners, c.incomplete, c.global_import, c.other_year,
                     c.no_enrollment_start, c.no_participant_category, "", *change, "; ".join(notes)))
    for (system, course), last in sorted(before.items()):
        rows.append((report.year, system, GONE, last.get("provider_activity_id"), course, "", "", "", "", "",
                     0, 0, "", "", "", "", "", "", -last["physicians"], -last["other_learners"],
                     "in the last export of this year, not in this one"))
    for shell in report.shells:
        note = ("meant to count but imported into a shell: create the real course, then import these records "
                "into it with the course-level importer") if shell.not_from_global_import else ""
        rows.append((report.year, "", SHELL, "", shell.external_course_id, shell.title, "", "", "", "", 0, 0, "",
                     shell.global_import, "", "", "", shell.not_from_global_import, "", "", note))
    for a, completions in report.elsewhere:
        rows.append((report.year, a.system, OTHER_YEAR, a.provider_activity_id, a.external_course_id, a.title,
                     a.activity_type, " ".join(a.sessions), "", "", 0, 0, "", "", completions, "", "", "", "", "",
                     _elsewhere_note(a, report.year)))
    return _csv(RECONCILIATION_COLUMNS, rows)


def duplicates(report: ParsReport) -> str:
    """Learners with the same name counted in one activity under different learner records: maybe one person."""
    return _csv(DUPLICATE_COLUMNS, (
        (report.year, a.system, a.provider_activity_id, a.external_course_id, d.first_name, d.last_name,
         d.learners, "; ".join(d.emails), "; ".join(d.external_user_ids))
        for a, d in report.duplicates))


def _elsewhere_note(a: Activity, year: int) -> str:
    start, last = a.start_date, a.last_day()
    if start is None:
        return "no completion of it this year counts (legacy global import, or no enrollment_start or participant_category)"
    if a.is_enduring:
        if year < start.year:
            return f"completed before the activity's start date {start:%Y-%m-%d}"
        return f"completed after the activity's end date {last:%Y-%m-%d}"
    return f"counted in the {start.year} report: the activity started {start:%Y-%m-%d}"


def _learner_fix(line: LearnerCompletion) -> str:
    fixes = []
    if any(m in line.missing for m in ("first name", "last name")):
        fixes.append("set lms.learner.first_name and last_name")
    if "date of birth (month/day)" in line.missing:
        fixes.append("set lms.learner.birth_month and birth_day")
    if line.moc_board and not line.board_id:
        fixes.append(f"add the learner's {line.moc_board} id to lms.learner_board_id (board {line.moc_board})")
    return "; ".join(fixes)


def _number(value: Decimal | None) -> str:
    return "" if value is None else format(value, "f")


def _csv(columns: tuple[str, ...], rows: Iterable[tuple[Any, ...]]) -> str:
    # report.py's guard pulls in pandas and GX; worth it to keep one rule for spreadsheet safety.
    from include.course_records.report import spreadsheet_safe

    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        # only text can come from the LMS as a formula; numbers and dates are ours
        writer.writerow([spreadsheet_safe(value) if isinstance(value, str) else "" if value is None else value
                         for value in row])
    return out.getvalue()
