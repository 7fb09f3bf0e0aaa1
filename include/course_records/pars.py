"""The ACCME PARS activity report (DESIGN §5, §6): what ACCME gets, built only from what may be counted.

    report = build_report(conn, 2026)    # counts, activity lines, problems
    batch_file(report)                   # the tab-delimited activity batch file for PARS
    summary_csv(report)                  # per-course counts for the data team

A learner counts for a course and year when the enrollment is complete with `date_completed` in
that year (UTC), has `enrollment_start` and a `participant_category`, and did not come from the
global importer. One line per course (never an imported shell) with at least one counted
learner. A course that breaks one of ACCME's rules is not written; `report.problems` says what
to fix.

The layout is ACCME's "Template C" (58 fixed fields, reporting year 2014), the newest one
whose every field is numbered in a public source; see FIELDS. Commercial-supporter blocks are
never written: the LMS holds no commercial-support data.
"""

from __future__ import annotations

import csv
import io
import re
from collections import Counter
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from include.course_records import db, settings
from include.course_records.errors import UsageError

TEMPLATE = "Template C"

# ACCME's field order for Template C, by its header names (field 1 is headed "Template (DO NOT
# ALTER OR DELETE THIS COLUMN)"; field 38 carries a ™ after "Credits"). Defined once: the batch
# file is written in this order and tests look positions up by name.
FIELDS: tuple[str, ...] = (
    "Template",                                                                    # 1
    "ACCME Activity ID",
    "Provider Activity ID",
    "Reporting Year",
    "Activity Title",                                                              # 5
    "Activity Date",
    "City",
    "State",
    "Country",
    "Providership",                                                                # 10
    "Activity Type",
    "Hours of Instruction",
    "# of Physicians",
    "# of Other Learners",
    "Commercial Support Received?",                                                # 15
    "# of Commercial Supporters",
    "Total Monetary Amount Received (Activity)",
    "In Kind Support Received - Durable equipment? (Activity)",
    "In Kind Support Received - Facilities / Space? (Activity)",
    "In Kind Support Received - Disposable supplies (Non-biological)? (Activity)",  # 20
    "In Kind Support Received - Animal parts or tissue? (Activity)",
    "In Kind Support Received - Human parts or tissue? (Activity)",
    "In Kind Support Received - Other? (Activity)",
    "Designed to change Competence?",
    "Changes in Competence evaluated?",                                            # 25
    "Designed to change Performance?",
    "Changes in Performance evaluated?",
    "Designed to change Patient Outcomes?",
    "Changes in Patient Outcomes evaluated?",
    "Sub-category: Case based discussion",                                         # 30
    "Sub-category: Lecture",
    "Sub-category: Panel",
    "Sub-category: Simulation",
    "Sub-category: Skill-based training",
    "Sub-category: Small group discussion",                                        # 35
    "Sub-category: Other",
    "Joint Provider(s)",
    "Number of AMA PRA Category 1 Credits Designated",
    "Description of Content",
    "Advertising & Exhibit Income (Activity)",                                     # 40
    "Other Income (Activity)",
    "Expenses (Activity)",
    "ABMS/ACGME - Patient Care and Procedural Skills",
    "ABMS/ACGME - Medical Knowledge",
    "ABMS/ACGME - Practice-based Learning and Improvement",                        # 45
    "ABMS/ACGME - Interpersonal and Communication Skills",
    "ABMS/ACGME - Professionalism",
    "ABMS/ACGME - Systems-based Practice",
    "Institute of Medicine - Provide patient-centered care",
    "Institute of Medicine - Work in interdisciplinary teams",                     # 50
    "Institute of Medicine - Employ evidence-based practice",
    "Institute of Medicine - Apply quality improvement",
    "Institute of Medicine - Utilize informatics",
    "Interprofessional Education Collaborative - Values/Ethics for Interprofessional Practice",
    "Interprofessional Education Collaborative - Roles/Responsibilities",         # 55
    "Interprofessional Education Collaborative - Interprofessional Communication",
    "Interprofessional Education Collaborative - Teams and Teamwork",
    "Other Competencies - Competencies other than those listed were addressed",   # 58
)

ACTIVITY_TYPES = ("C", "RSS", "IL", "EM", "IEM", "JN", "MR", "TIW", "CML", "PI", "ISL", "LFT")
# Only live courses and regularly scheduled series have a place; ACCME wants it blank otherwise.
LOCATED_ACTIVITY_TYPES = ("C", "RSS")
PROVIDERSHIPS = ("Direct", "Joint")

PARS_REPORTS_DIR = f"{settings.REPORTS_DIR}/pars"
WRITTEN, NOT_WRITTEN, NOTHING_TO_REPORT = "written", "not written", "no counted learner"

SUMMARY_COLUMNS = (
    "reporting_year", "external_course_id", "title", "provider_activity_id", "activity_type",
    "physicians", "other_learners", "counted_learners", "not_counted_global_import",
    "not_counted_no_enrollment_start", "not_counted_no_participant_category", "status", "problems",
)

_COUNTS_SQL = settings.SQL_DIR / "pars_counts.sql"
# A tab or line break inside a value would shift every later field of the line; any run of
# whitespace or control characters becomes one space.
_CONTROL_RUN = re.compile(r"[\x00-\x1f\x7f\s]+")


@dataclass(frozen=True)
class CourseCount:
    """One course with a completion in the year (never a shell): who counted, who did not and why."""

    external_course_id: str
    title: str
    provider_activity_id: str | None
    activity_type: str | None
    physicians: int
    other_learners: int
    not_counted_global_import: int
    not_counted_no_enrollment_start: int
    not_counted_no_participant_category: int
    problems: tuple[str, ...] = ()

    @property
    def counted_learners(self) -> int:
        return self.physicians + self.other_learners

    @property
    def status(self) -> str:
        """`written`, `not written` (see problems) or `no counted learner` (no line is due)."""
        if not self.counted_learners:
            return NOTHING_TO_REPORT
        return NOT_WRITTEN if self.problems else WRITTEN


@dataclass(frozen=True)
class ActivityLine:
    """One line of the batch file: a course's values in FIELDS order, empty strings where we have nothing."""

    external_course_id: str
    physicians: int
    other_learners: int
    fields: tuple[str, ...]

    def value(self, name: str) -> str:
        """The value of the ACCME field called `name` (one of FIELDS)."""
        return self.fields[FIELDS.index(name)]


@dataclass(frozen=True)
class ParsReport:
    """A reporting year's PARS report.

    `courses`: per-course counts for every non-shell course with a completion in the year.
    `lines`: the activity lines to send, one per course that has a counted learner and passes
    ACCME's rules. `problems`: one message per course left out for breaking a rule, naming
    what to fix.
    """

    year: int
    courses: list[CourseCount]
    lines: list[ActivityLine]
    problems: list[str]


def build_report(conn: db.Connection, year: int) -> ParsReport:
    """Count the year's learners per course (one query) and build the ACCME activity lines.

    Reads only. Raises UsageError when `year` is not a four-digit year.
    """
    if not 1000 <= year <= 9999:
        raise UsageError(f"the reporting year must have four digits, e.g. 2026 (got {year})")
    with db.transaction(conn) as cur:
        cur.execute(_COUNTS_SQL.read_text(), {"year": year})
        names = [column.name for column in cur.description]
        rows = [dict(zip(names, values, strict=True)) for values in cur.fetchall()]

    problems_by_course = {row["external_course_id"]: _rule_problems(row) for row in rows if _counted(row)}
    _flag_shared_provider_activity_ids(rows, problems_by_course)

    courses: list[CourseCount] = []
    lines: list[ActivityLine] = []
    problems: list[str] = []
    for row in rows:
        course_problems = tuple(problems_by_course.get(row["external_course_id"], ()))
        courses.append(CourseCount(
            external_course_id=row["external_course_id"], title=row["title"],
            provider_activity_id=row["pars_provider_activity_id"], activity_type=row["pars_activity_type"],
            physicians=row["physicians"], other_learners=row["other_learners"],
            not_counted_global_import=row["not_counted_global_import"],
            not_counted_no_enrollment_start=row["not_counted_no_enrollment_start"],
            not_counted_no_participant_category=row["not_counted_no_participant_category"],
            problems=course_problems,
        ))
        if not _counted(row):
            continue
        if course_problems:
            problems.append(
                f"{row['external_course_id']} ({_text(row['title'])}; {row['physicians']} physician(s) and "
                f"{row['other_learners']} other learner(s) left out of the file): " + "; ".join(course_problems))
        else:
            lines.append(_activity_line(row, year))
    return ParsReport(year=year, courses=courses, lines=lines, problems=problems)


def batch_file(report: ParsReport) -> str:
    """The PARS activity batch file: tab-delimited, no header, one line per activity, LF line ends.

    Empty when nothing is due. Encode as UTF-8 and write it as-is (no newline translation).
    """
    return "".join("\t".join(line.fields) + "\n" for line in report.lines)


def summary_csv(report: ParsReport) -> str:
    """Per-course counts for the data team (SUMMARY_COLUMNS), including courses not written and why."""
    # report.py's guard pulls in pandas and GX; worth it to keep one rule for spreadsheet safety.
    from include.course_records.report import spreadsheet_safe

    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(SUMMARY_COLUMNS)
    for course in report.courses:
        writer.writerow([spreadsheet_safe(value) for value in (
            report.year, course.external_course_id, course.title, course.provider_activity_id or "",
            course.activity_type or "", course.physicians, course.other_learners, course.counted_learners,
            course.not_counted_global_import, course.not_counted_no_enrollment_start,
            course.not_counted_no_participant_category, course.status, "; ".join(course.problems))])
    return out.getvalue()


def publish_report(year: int, landing_url: str | None) -> dict[str, Any]:
    """Build the year's report from the LMS and write it under `<landing root>/reports/pars/`.

    Every run gets new names (`pars-<year>-<batch>.txt` and `…-summary.csv`): nothing is ever
    overwritten. Returns what a caller shows or passes on (XCom-sized): year, the two file
    URLs (`batch_file`, `summary_csv`), the number of `activities` written and the
    `not_written` problems.
    """
    from include.course_records import landing
    from include.course_records.pipeline import new_batch_id

    conn = db.connect()
    try:
        report = build_report(conn, year)
    finally:
        conn.close()
    directory = landing.landing_root(landing_url) / PARS_REPORTS_DIR
    stem = f"pars-{year}-{new_batch_id()}"
    return {
        "year": year,
        "batch_file": landing.write_report_file(directory, f"{stem}.txt", batch_file(report).encode("utf-8")),
        "summary_csv": landing.write_report_file(directory, f"{stem}-summary.csv",
                                                 summary_csv(report).encode("utf-8")),
        "activities": len(report.lines),
        "not_written": report.problems,
    }


# --- ACCME's rules and the line --------------------------------------------------------------

def _counted(row: dict[str, Any]) -> bool:
    return row["physicians"] + row["other_learners"] > 0


def _rule_problems(row: dict[str, Any]) -> list[str]:
    """What to fix on the course (lms.course.pars_*) before ACCME would accept its line."""
    fixes: list[str] = []
    if not _text(row["pars_provider_activity_id"]):
        fixes.append("Provider Activity ID is empty: set pars_provider_activity_id "
                     "(ACCME needs it to add the activity, and matches later updates on it)")
    activity_type = _text(row["pars_activity_type"])
    if activity_type not in ACTIVITY_TYPES:
        found = f"'{activity_type}' is not one of ACCME's" if activity_type else "is empty"
        fixes.append(f"activity type {found}: set pars_activity_type to one of {', '.join(ACTIVITY_TYPES)}")
    hours = row["pars_hours_of_instruction"]
    if hours is None or hours <= 0:
        fixes.append(f"hours of instruction {'is empty' if hours is None else f'is {hours}'}: "
                     "set pars_hours_of_instruction to more than 0")
    if row["pars_providership"] not in PROVIDERSHIPS:
        fixes.append("providership is empty: set pars_providership to Direct or Joint")
    if activity_type in LOCATED_ACTIVITY_TYPES:
        if not _text(row["pars_city"]):
            fixes.append(f"city is empty: a {activity_type} activity needs pars_city")
        country = _text(row["pars_country"])
        if not country:
            fixes.append(f"country is empty: a {activity_type} activity needs pars_country (ISO 3166 alpha-3, e.g. USA)")
        elif country.upper() == "USA" and not _text(row["pars_state"]):
            fixes.append("state is empty: an activity in the USA needs pars_state (two-letter code, e.g. IL)")
    return fixes


def _flag_shared_provider_activity_ids(rows: list[dict[str, Any]], problems: dict[str, list[str]]) -> None:
    """Two lines with one Provider Activity ID would land on one PARS activity: ACCME updates by that id."""
    ids = {row["external_course_id"]: _text(row["pars_provider_activity_id"])
           for row in rows if _counted(row) and _text(row["pars_provider_activity_id"])}
    shared = {activity_id for activity_id, n in Counter(ids.values()).items() if n > 1}
    for course, activity_id in ids.items():
        if activity_id in shared:
            others = ", ".join(sorted(c for c, a in ids.items() if a == activity_id and c != course))
            problems[course].append(f"Provider Activity ID {activity_id} is also the id of {others}: "
                                    "give each course its own pars_provider_activity_id")


def _activity_line(row: dict[str, Any], year: int) -> ActivityLine:
    activity_type = _text(row["pars_activity_type"])
    located = activity_type in LOCATED_ACTIVITY_TYPES
    filled = {
        "Template": TEMPLATE,
        "Provider Activity ID": _text(row["pars_provider_activity_id"]),
        "Reporting Year": str(year),
        "Activity Title": _text(row["title"]),
        "Activity Date": _date(row["pars_activity_date"]),
        "City": _text(row["pars_city"]) if located else "",
        "State": _text(row["pars_state"]) if located else "",
        "Country": _text(row["pars_country"]) if located else "",
        "Providership": row["pars_providership"],
        "Activity Type": activity_type,
        "Hours of Instruction": _decimal(row["pars_hours_of_instruction"]),
        # Counts are real numbers: a 0 here is a count, not a placeholder for "unknown".
        "# of Physicians": str(row["physicians"]),
        "# of Other Learners": str(row["other_learners"]),
        "Number of AMA PRA Category 1 Credits Designated": _decimal(row["pars_ama_credits_designated"]),
    }
    return ActivityLine(
        external_course_id=row["external_course_id"], physicians=row["physicians"],
        other_learners=row["other_learners"], fields=tuple(filled.get(name, "") for name in FIELDS),
    )


def _text(value: object) -> str:
    """One line of text, no tabs or control characters; blank becomes empty, never a space."""
    return "" if value is None else _CONTROL_RUN.sub(" ", str(value)).strip()


def _decimal(value: Decimal | None) -> str:
    return "" if value is None else format(value, "f")


def _date(value: date | None) -> str:
    return "" if value is None else value.strftime("%m/%d/%Y")
