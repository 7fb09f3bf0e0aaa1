"""The year's ACCME report: activities and learner completions, checked and reconciled.

    report = build_report(conn, 2026)        # reads the LMS in the provider's time zone
    files = export_files(report, previous, now)   # name suffix → bytes (activities.xml, problems.csv, …)
    publish_report(None, landing_url)         # the DAG: build, write under reports/pars/, return a summary

What counts: a record that is complete, has `enrollment_start` and a `participant_category`, and
did not come from the global importer, completed inside its activity's window for the year
(pars_lms.Activity.window): a live course counts all its records in the year it started, a
regularly scheduled series counts each learner once per session over its (at most) 12 months,
and an enduring material is reported every year of its (at most) three, with cumulative counts.

An activity is reported to ACCME's PARS, or to JA-PARS when it is a Joint Accreditation
(interprofessional) activity. An activity failing the pre-submission check (pars_check) is left
out of the upload file; its problems say which field to fix and how.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from include.course_records import db, pars_codes, pars_csv, pars_lms, settings
from include.course_records.errors import UsageError
from include.course_records.pars_check import Problem, check_activity
from include.course_records.pars_lms import JA_PARS, PARS, Activity, Counts, ShellRecords, SuspectedDuplicate
from include.course_records.pars_xml import activities_xml

PARS_REPORTS_DIR = f"{settings.REPORTS_DIR}/pars"
SYSTEMS = (PARS, JA_PARS)
# Annual reporting for a year is due by 31 March of the next: until then, the default year is the last one.
REPORTING_DEADLINE = (3, 31)

# The files of one report, by name suffix (docs/pars.md describes each).
ACTIVITIES_XML = "activities.xml"
JA_ACTIVITIES_XML = "ja-activities.xml"
LEARNERS_CSV = "learners.csv"
LEARNERS_MISSING_CSV = "learners-missing.csv"
PROBLEMS_CSV = "problems.csv"
RECONCILIATION_CSV = "reconciliation.csv"
DUPLICATES_CSV = "duplicates.csv"
RECONCILIATION_JSON = "reconciliation.json"


@dataclass(frozen=True)
class ReportedActivity:
    """An activity in the year's report: its counts and what the pre-submission check found."""

    activity: Activity
    counts: Counts
    problems: tuple[Problem, ...]

    @property
    def written(self) -> bool:
        return not self.problems


@dataclass(frozen=True)
class LearnerCompletion:
    """One learner-completion line: CME credit, or MOC points of one board; `missing`: what it lacks."""

    activity: Activity
    external_course_id: str
    external_user_id: str | None
    email: str | None
    first_name: str
    last_name: str
    birth_month: int | None
    birth_day: int | None
    completed_on: date
    cme_credits: Decimal | None
    moc_board: str | None
    board_id: str | None
    moc_points: Decimal | None
    missing: tuple[str, ...]


@dataclass(frozen=True)
class ParsReport:
    """A reporting year's report, in the provider's time zone.

    `activities`: every activity the year reports (written or not). `learners`: completion lines
    for activities registered for MOC or CME Finder. `duplicates`: suspected duplicate learners.
    `shells`: records in imported course shells (never counted). `elsewhere`: completions in
    the year that belong to an activity reported in another year.
    """

    year: int
    time_zone: str
    activities: list[ReportedActivity]
    learners: list[LearnerCompletion]
    duplicates: list[tuple[Activity, SuspectedDuplicate]]
    shells: list[ShellRecords]
    elsewhere: list[tuple[Activity, int]]

    def written(self, system: str) -> list[ReportedActivity]:
        return [r for r in self.activities if r.written and r.activity.system == system]

    @property
    def failed(self) -> list[ReportedActivity]:
        return [r for r in self.activities if not r.written]

    def problem_lines(self) -> list[str]:
        """One line per problem: system, activity, field, what is wrong, the fix."""
        return [f"{_describe(r.activity)}: {p.field} {p.problem} ({p.stage}) — {p.fix}"
                for r in self.failed for p in r.problems]


def _describe(activity: Activity) -> str:
    """How messages name an activity: `PARS activity 101 (CARD-101 Cardiology Update)`."""
    pid = " ".join((activity.provider_activity_id or "").split()) or "without id"
    return f"{activity.system} activity {pid} ({activity.external_course_id} {' '.join(activity.title.split())})"


def _check_year(year: int) -> None:
    if not 1000 <= year <= 9999:
        raise UsageError(f"the reporting year must have four digits, e.g. 2026 (got {year})")


def default_reporting_year(today: date) -> int:
    """The year annual reporting is under way for on `today`: the previous one until 31 March."""
    return today.year - 1 if (today.month, today.day) <= REPORTING_DEADLINE else today.year


def build_report(conn: db.Connection, year: int) -> ParsReport:
    """Read the year's activities and records from the LMS, count, check and list them. Writes nothing."""
    _check_year(year)
    with db.transaction(conn) as cur:
        lms = pars_lms.read(cur, year)
    by_id = {a.course_id: a for a in lms.activities}
    reported = [a for a in lms.activities if a.is_reported_in(year)]
    shared = _shared_ids(reported)
    activities = [ReportedActivity(a, lms.counts.get(a.course_id, Counts()),
                                   tuple(check_activity(a, year, shares_id_with=shared.get(a.course_id, ()))))
                  for a in sorted(reported, key=lambda a: (SYSTEMS.index(a.system), a.external_course_id))]
    learners = [line for record in lms.learners for line in _learner_lines(by_id[record.activity_course_id], record, year)]
    return ParsReport(
        year=year, time_zone=lms.time_zone, activities=activities, learners=learners,
        duplicates=[(by_id[d.activity_course_id], d) for d in lms.duplicates], shells=lms.shells,
        elsewhere=[(by_id[course_id], n) for course_id, n in sorted(lms.elsewhere.items()) if course_id in by_id],
    )


def export_files(report: ParsReport, previous: dict[str, Any] | None, now: datetime) -> dict[str, bytes]:
    """Every file of the report, by name suffix. `previous`: the last reconciliation.json of the year, if any."""
    return {
        ACTIVITIES_XML: activity_file(report, PARS),
        JA_ACTIVITIES_XML: activity_file(report, JA_PARS),
        LEARNERS_CSV: pars_csv.learners(report).encode(),
        LEARNERS_MISSING_CSV: pars_csv.learners_missing(report).encode(),
        PROBLEMS_CSV: pars_csv.problems(report).encode(),
        RECONCILIATION_CSV: pars_csv.reconciliation(report, previous).encode(),
        DUPLICATES_CSV: pars_csv.duplicates(report).encode(),
        RECONCILIATION_JSON: reconciliation_json(report, now),
    }


def activity_file(report: ParsReport, system: str) -> bytes:
    """The XML batch upload file of one system (PARS or JA-PARS): the activities that passed the check."""
    return activities_xml(((r.activity, r.counts) for r in report.written(system)), report.year)


def reconciliation_json(report: ParsReport, now: datetime) -> bytes:
    """What the next report of the same year compares itself with: each activity's counts."""
    document = {
        "year": report.year, "time_zone": report.time_zone, "created_at": now.isoformat(),
        "activities": [{"system": r.activity.system, "external_course_id": r.activity.external_course_id,
                        "provider_activity_id": r.activity.provider_activity_id,
                        "physicians": r.counts.physicians, "other_learners": r.counts.other_learners}
                       for r in report.activities],
    }
    return (json.dumps(document, indent=2, ensure_ascii=False) + "\n").encode()


def publish_report(year: int | None, landing_url: str | None, now: datetime | None = None) -> dict[str, Any]:
    """Build the report (default year: default_reporting_year in the provider's time zone) and write
    its files under `<landing root>/reports/pars/` as `pars-<year>-<batch>-<suffix>`.

    Nothing is overwritten; the newest earlier reconciliation.json of the same year there is the
    "last export" the reconciliation compares with. Returns what the DAG shows and passes on
    (XCom-sized): year, time zone, file URLs by suffix, activities written per system, problem
    lines, learner lines ready and lacking data, suspected duplicates.
    """
    from include.course_records import landing
    from include.course_records.pipeline import new_batch_id

    now = now or datetime.now(UTC)
    conn = db.connect()
    try:
        if year is None:
            with db.transaction(conn) as cur:
                time_zone = pars_lms.check_time_zone(pars_lms.provider_time_zone(cur))
            year = default_reporting_year(now.astimezone(ZoneInfo(time_zone)).date())
        report = build_report(conn, year)
    finally:
        conn.close()
    directory = landing.landing_root(landing_url) / PARS_REPORTS_DIR
    stem = f"pars-{year}-{new_batch_id(now)}"
    previous = _last_reconciliation(directory, year)
    files = {suffix: landing.write_report_file(directory, f"{stem}-{suffix}", content)
             for suffix, content in export_files(report, previous, now).items()}
    return summary(report, files)


def summary(report: ParsReport, files: dict[str, str]) -> dict[str, Any]:
    """What a run shows: the files and, per system, how many activities were written."""
    ready = [line for line in report.learners if not line.missing]
    return {
        "year": report.year, "time_zone": report.time_zone, "files": files,
        "written": {system: len(report.written(system)) for system in SYSTEMS},
        "problems": report.problem_lines(),
        "learners": {"ready": len(ready), "lacking_data": len(report.learners) - len(ready)},
        "suspected_duplicates": len(report.duplicates),
    }


def _last_reconciliation(directory: Any, year: int) -> dict[str, Any] | None:
    """The newest `pars-<year>-*-reconciliation.json` in the folder (batch ids sort by time)."""
    try:
        found = sorted(directory.glob(f"pars-{year}-*-{RECONCILIATION_JSON}"), key=lambda path: path.name)
    except FileNotFoundError:
        return None
    return json.loads(found[-1].read_text()) if found else None


def _shared_ids(activities: list[Activity]) -> dict[int, tuple[str, ...]]:
    """Activities of one system and year sharing a Provider Activity ID: PARS would merge them."""
    by_key: dict[tuple[str, str], list[Activity]] = defaultdict(list)
    for a in activities:
        pid = " ".join((a.provider_activity_id or "").split())
        if pid:
            by_key[(a.system, pid)].append(a)
    return {a.course_id: tuple(o.external_course_id for o in group if o is not a)
            for group in by_key.values() if len(group) > 1 for a in group}


def _learner_lines(activity: Activity, record: pars_lms.LearnerRecord, year: int) -> list[LearnerCompletion]:
    """The lines one counted completion gives: its AMA PRA Category 1 credit (CME Finder activities,
    physicians), and its MOC points for each board the activity is registered with. Separate lines,
    so that a missing board id holds back only the MOC line. Each completion is reported once: an
    enduring material's in the year it happened, any other activity's in the activity's year."""
    if activity.is_enduring and record.completed_on.year != year:
        return []
    first, last = _name(record.first_name), _name(record.last_name)
    identity_missing = [label for label, value in (("first name", first), ("last name", last)) if not value]
    if record.birth_month is None:
        identity_missing.append("date of birth (month/day)")

    def line(cme_credits: Decimal | None = None, board: str | None = None,
             points: Decimal | None = None) -> LearnerCompletion:
        board_id = record.board_ids.get(board) if board else None
        missing = identity_missing + ([f"{board} board id"] if board and not board_id else [])
        return LearnerCompletion(
            activity=activity, external_course_id=record.external_course_id, external_user_id=record.external_user_id,
            email=record.email, first_name=first, last_name=last, birth_month=record.birth_month,
            birth_day=record.birth_day, completed_on=record.completed_on, cme_credits=cme_credits, moc_board=board,
            board_id=board_id, moc_points=points, missing=tuple(missing))

    lines = []
    cme = record.credits.get(pars_codes.AMA_CREDIT_TYPE)
    if activity.cme_finder and record.participant_category == "physician" and cme:
        lines.append(line(cme_credits=cme))
    for board in activity.moc_boards:
        points = record.credits.get(pars_codes.moc_credit_type(board))
        if points:
            lines.append(line(board=board, points=points))
    return lines


def _name(value: str | None) -> str:
    return " ".join((value or "").split())


def write_local(report: ParsReport, activities_path: Path, *, now: datetime) -> dict[str, Path]:
    """Write the files beside `activities_path` (a local Path): `<stem>.<suffix>`, the activity file itself
    at that path. The newest `*.reconciliation.json` of the same year in that folder is the last export."""
    folder = activities_path.parent
    folder.mkdir(parents=True, exist_ok=True)
    previous = _last_local_reconciliation(folder, report.year)
    stem = activities_path.with_suffix("")
    written: dict[str, Path] = {}
    for suffix, content in export_files(report, previous, now).items():
        path = activities_path if suffix == ACTIVITIES_XML else stem.with_name(f"{stem.name}.{suffix}")
        path.write_bytes(content)
        written[suffix] = path
    return written


def _last_local_reconciliation(folder: Path, year: int) -> dict[str, Any] | None:
    documents = []
    for path in folder.glob(f"*.{RECONCILIATION_JSON}"):
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue  # not one of ours
        if isinstance(document, dict) and document.get("year") == year:
            documents.append(document)
    return max(documents, key=lambda d: str(d.get("created_at", ""))) if documents else None
