"""What the PARS report reads from the LMS: activities, and their records sorted counted or not.

Every query runs in one read-only transaction with the session time zone set to the provider's
(`lms.pars_provider.time_zone`), so "the day a learner completed" and "the reporting year" are
the provider's, not UTC's. The SQL lives in `sql/pars_*.sql`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import psycopg2.extensions

from include.course_records import pars_codes, settings
from include.course_records.errors import UsageError

Cursor = psycopg2.extensions.cursor

PARS, JA_PARS = "PARS", "JA-PARS"


def _sql(name: str) -> str:
    return (settings.SQL_DIR / f"pars_{name}.sql").read_text()


@dataclass(frozen=True)
class Supporter:
    """A commercial supporter of an activity: money, in-kind support, or both."""

    name: str
    monetary_amount: Decimal | None
    in_kind: bool


@dataclass(frozen=True)
class Activity:
    """One PARS activity: a course, or for a regularly scheduled series the series' course and its sessions."""

    course_id: int
    external_course_id: str
    title: str
    provider_activity_id: str | None
    activity_type: str | None
    start_date: date | None
    end_date: date | None
    description: str | None
    city: str | None
    state: str | None
    country: str | None
    providership: str | None
    hours_of_instruction: Decimal | None
    credits_designated: Decimal | None
    commercial_support: bool | None
    designed_to_change_competence: bool | None
    designed_to_change_performance: bool | None
    designed_to_change_patient_outcomes: bool | None
    evaluated_competence: bool | None
    evaluated_performance: bool | None
    evaluated_patient_outcomes: bool | None
    competencies: tuple[str, ...]
    joint_providers: tuple[str, ...]
    moc_boards: tuple[str, ...]
    cme_finder: bool | None
    joint_accreditation: bool
    sessions: tuple[str, ...] = ()
    nested_sessions: tuple[str, ...] = ()
    offered: dict[str, Decimal] = field(default_factory=dict)
    supporters: tuple[Supporter, ...] = ()
    has_records_in_year: bool = False

    @property
    def system(self) -> str:
        """Where the activity is reported: JA-PARS for Joint Accreditation, else ACCME's PARS."""
        return JA_PARS if self.joint_accreditation else PARS

    @property
    def is_enduring(self) -> bool:
        return self.activity_type in pars_codes.ENDURING_TYPES

    @property
    def is_series(self) -> bool:
        return self.activity_type in pars_codes.SERIES_TYPES

    @property
    def registered_for_learner_reporting(self) -> bool:
        """Registered for MOC with a board, or listed in CME Finder: learner completions are reported."""
        return bool(self.moc_boards) or bool(self.cme_finder)

    def longest_end(self) -> date | None:
        """The latest end date ACCME allows: 12 months for a series, three years for an enduring material."""
        if self.start_date is None:
            return None
        if self.is_series:
            return _plus_years(self.start_date, 1, minus_a_day=True)
        if self.is_enduring:
            return _plus_years(self.start_date, 3, minus_a_day=True)
        return None

    def last_day(self) -> date | None:
        """The end date, or the longest ACCME allows when it is missing."""
        return self.end_date or self.longest_end()

    def is_reported_in(self, year: int) -> bool:
        """Whether the year's report lists this activity.

        An enduring material is reported every year from its start to its end (at most three),
        with cumulative counts. Every other activity is reported once, in the year it started,
        with all its records, even those completed after New Year. An activity without a start
        date is listed in each year it has a record that counts, so that it is seen and fixed.
        """
        if self.start_date is None:
            return self.has_records_in_year
        if self.is_enduring:
            last = self.last_day()
            return self.start_date.year <= year <= (last.year if last else self.start_date.year)
        return self.start_date.year == year

    def window(self, year: int) -> tuple[date | None, date | None]:
        """The local days whose completions count in the year's report (None: no edge on that side)."""
        if self.start_date is None:
            return date(year, 1, 1), date(year, 12, 31)
        last = self.last_day()
        if self.is_enduring:
            year_end = date(year, 12, 31)
            return self.start_date, min(last, year_end) if last else year_end
        if self.is_series:
            return self.start_date, last
        return self.start_date, None


@dataclass(frozen=True)
class Counts:
    """An activity's records for one report: counted (two categories) or not, by reason."""

    physicians: int = 0
    other_learners: int = 0
    incomplete: int = 0
    global_import: int = 0
    other_year: int = 0
    no_enrollment_start: int = 0
    no_participant_category: int = 0

    @property
    def counted(self) -> int:
        return self.physicians + self.other_learners


@dataclass(frozen=True)
class LearnerRecord:
    """A counted completion of an activity registered for learner reporting."""

    activity_course_id: int
    external_course_id: str
    completed_on: date
    participant_category: str
    external_user_id: str | None
    email: str | None
    first_name: str | None
    last_name: str | None
    birth_month: int | None
    birth_day: int | None
    board_ids: dict[str, str]
    credits: dict[str, Decimal]


@dataclass(frozen=True)
class SuspectedDuplicate:
    """Learners (different learner records) with one name, all counted in one activity."""

    activity_course_id: int
    first_name: str
    last_name: str
    learners: int
    emails: tuple[str, ...]
    external_user_ids: tuple[str, ...]


@dataclass(frozen=True)
class ShellRecords:
    """Records completed in the year in an imported course shell: none counts."""

    external_course_id: str
    title: str
    not_from_global_import: int
    global_import: int


@dataclass(frozen=True)
class LmsSnapshot:
    """Everything a year's report is built from, read in one transaction."""

    time_zone: str
    activities: list[Activity]
    counts: dict[int, Counts]
    learners: list[LearnerRecord]
    duplicates: list[SuspectedDuplicate]
    shells: list[ShellRecords]
    elsewhere: dict[int, int]


def provider_time_zone(cur: Cursor) -> str:
    cur.execute("SELECT time_zone FROM lms.pars_provider")
    row = cur.fetchone()
    return row[0] if row else "UTC"


def check_time_zone(name: str) -> str:
    """The name when it is an IANA time zone; UsageError saying how to set it otherwise."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise UsageError(f"the provider's time zone {name!r} is not an IANA time zone name: set "
                         "lms.pars_provider.time_zone to one such as America/Chicago") from None
    return name


def read(cur: Cursor, year: int) -> LmsSnapshot:
    """Read the year's activities and records. `cur` is inside a transaction the caller ends."""
    time_zone = check_time_zone(provider_time_zone(cur))
    # local to this transaction: the connection goes back to UTC afterwards
    cur.execute("SELECT set_config('TimeZone', %s, true)", (time_zone,))
    activities = [_activity(row) for row in _rows(cur, _sql("activities"), {"year": year})]
    reported = [a for a in activities if a.is_reported_in(year)]
    windows = [a.window(year) for a in reported]
    cur.execute(_sql("classify"), {"activity_course_ids": [a.course_id for a in reported],
                                   "window_starts": [w[0] for w in windows],
                                   "window_ends": [w[1] for w in windows]})
    counts = {row["activity_course_id"]: Counts(**{k: v for k, v in row.items() if k != "activity_course_id"})
              for row in _rows(cur, _sql("counts"))}
    listed = [a.course_id for a in reported if a.registered_for_learner_reporting]
    learners = [_learner(row) for row in _rows(cur, _sql("learners"), {"activity_course_ids": listed})]
    duplicates = [SuspectedDuplicate(**{**row, "emails": tuple(row["emails"]),
                                        "external_user_ids": tuple(row["external_user_ids"])})
                  for row in _rows(cur, _sql("duplicates"))]
    shells = [ShellRecords(**row) for row in _rows(cur, _sql("shells"), {"year": year})]
    elsewhere = {row["activity_course_id"]: row["completions"]
                 for row in _rows(cur, _sql("elsewhere"), {"year": year, "reported_ids": [a.course_id for a in reported]})}
    return LmsSnapshot(time_zone=time_zone, activities=activities, counts=counts, learners=learners,
                       duplicates=duplicates, shells=shells, elsewhere=elsewhere)


def _rows(cur: Cursor, query: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    cur.execute(query, params)
    names = [column.name for column in cur.description]
    return [dict(zip(names, values, strict=True)) for values in cur.fetchall()]


def _activity(row: dict[str, Any]) -> Activity:
    offered = {name: Decimal(amount) for name, amount in (row.pop("offered") or {}).items()}
    supporters = tuple(Supporter(name=s["supporter"], in_kind=s["in_kind"],
                                 monetary_amount=None if s["monetary_amount"] is None else Decimal(s["monetary_amount"]))
                       for s in row.pop("supporters") or ())
    for name in ("competencies", "joint_providers", "moc_boards", "sessions", "nested_sessions"):
        row[name] = tuple(row[name] or ())
    return Activity(**row, offered=offered, supporters=supporters)


def _learner(row: dict[str, Any]) -> LearnerRecord:
    row["board_ids"] = row["board_ids"] or {}
    row["credits"] = {name: Decimal(amount) for name, amount in (row["credits"] or {}).items()}
    return LearnerRecord(**row)


def _plus_years(day: date, years: int, *, minus_a_day: bool) -> date:
    """`day` moved by whole years (29 February becomes 28 February), less a day when asked."""
    try:
        moved = day.replace(year=day.year + years)
    except ValueError:
        moved = day.replace(year=day.year + years, day=28)
    return date.fromordinal(moved.toordinal() - 1) if minus_a_day else moved
