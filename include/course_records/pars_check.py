"""The pre-submission check: what ACCME's PARS would refuse or leave open, per activity, with the fix.

Three kinds of problem (docs/pars.md gives the source of every rule):

- `to open`: a field PARS needs before it holds the activity at all;
- `to close`: a field PARS needs to close an activity, checked once the activity has ended by
  the last day of the reporting year (an enduring material running on stays open, as ACCME asks);
- `value`: a value PARS would not take (a code not in its list, credits designated above what
  the course offers, dates out of order, a joint activity without joint providers, …).

An activity with any problem is left out of the upload file and the report fails, so nothing
half-right reaches ACCME.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from include.course_records import pars_codes as codes
from include.course_records.pars_lms import Activity

TO_OPEN, TO_CLOSE, VALUE = "to open", "to close", "value"


@dataclass(frozen=True)
class Problem:
    """One thing PARS would not take: which of its fields, what is wrong, and what to change in the LMS."""

    stage: str
    field: str
    problem: str
    fix: str


def check_activity(activity: Activity, year: int, *, shares_id_with: tuple[str, ...] = ()) -> list[Problem]:
    """Every problem of one activity in the year's report, in a fixed order (open, values, close)."""
    problems = _to_open(activity) + _values(activity, shares_id_with)
    if activity.end_date is not None and activity.end_date <= date(year, 12, 31):
        problems += _to_close(activity)
    return problems


def _column(activity: Activity, column: str) -> str:
    return f"lms.course.{column} of {activity.external_course_id}"


def _to_open(a: Activity) -> list[Problem]:
    found: list[Problem] = []

    def missing(field: str, column: str, what: str) -> None:
        found.append(Problem(TO_OPEN, field, "is empty", f"set {_column(a, column)} to {what}"))

    if not _text(a.provider_activity_id):
        missing("Provider Activity ID", "pars_provider_activity_id",
                "the id PARS keeps for this activity (uploads update the activity with the same id)")
    if not _text(a.title):
        missing("Activity Title", "title", "the activity's title")
    if not _text(a.activity_type):
        missing("Activity Type", "pars_activity_type", f"one of {', '.join(codes.ACTIVITY_TYPES)}")
    if a.start_date is None:
        missing("Start Date", "pars_activity_date", "the day the activity starts (Activity Date)")
    if a.end_date is None:
        missing("End Date", "pars_activity_end_date", _end_date_hint(a))
    if a.activity_type in codes.LOCATED_TYPES:
        if not _text(a.city):
            missing("City", "pars_city", f"the city where this {a.activity_type} activity takes place")
        if not _text(a.country):
            missing("Country", "pars_country", "the ISO 3166-1 alpha-3 code of its country, e.g. USA")
        elif _text(a.country) == "USA" and not _text(a.state):
            missing("State", "pars_state", "the two-letter code of its state, e.g. IL")
    if not _text(a.providership):
        missing("Providership", "pars_providership", "Direct or Joint")
    if a.credits_designated is None:
        missing("AMA PRA Category 1 Credits Designated", "pars_ama_credits_designated",
                "the credits designated for the whole activity (0 if none)")
    if a.cme_finder is None:
        missing("CME Finder", "pars_cme_finder", "true to list the activity in CME Finder, else false")
    if not _text(a.description):
        missing("Activity Description", "pars_description", "a short description of the activity")
    return found


def _values(a: Activity, shares_id_with: tuple[str, ...]) -> list[Problem]:
    found: list[Problem] = []

    def wrong(field: str, problem: str, fix: str) -> None:
        found.append(Problem(VALUE, field, problem, fix))

    activity_type = _text(a.activity_type)
    if activity_type and activity_type not in codes.ACTIVITY_TYPES:
        wrong("Activity Type", f"{activity_type!r} is not one of ACCME's activity types",
              f"set {_column(a, 'pars_activity_type')} to one of {', '.join(codes.ACTIVITY_TYPES)}")
    country = _text(a.country)
    if country and country not in codes.COUNTRIES:
        wrong("Country", f"{country!r} is not in ACCME's country list (ISO 3166-1 alpha-3 codes)",
              f"set {_column(a, 'pars_country')} to the three-letter code, e.g. USA, CAN, GBR")
    state = _text(a.state)
    if state and country == "USA" and state not in codes.US_STATES:
        wrong("State", f"{state!r} is not a two-letter US state code",
              f"set {_column(a, 'pars_state')} to the state's postal code, e.g. IL")
    providership = _text(a.providership)
    if providership and providership not in codes.PROVIDERSHIPS:
        wrong("Providership", f"{providership!r} is neither Direct nor Joint",
              f"set {_column(a, 'pars_providership')} to Direct or Joint")
    if providership == "Direct" and a.joint_providers:
        wrong("Joint Provider(s)", "a directly provided activity lists joint providers",
              f"set {_column(a, 'pars_providership')} to Joint, or empty {_column(a, 'pars_joint_providers')}")
    if a.start_date and a.end_date and a.end_date < a.start_date:
        wrong("End Date", f"{a.end_date:%Y-%m-%d} is before the start date {a.start_date:%Y-%m-%d}",
              f"correct {_column(a, 'pars_activity_end_date')} or pars_activity_date")
    last = a.longest_end()
    if a.end_date and last and a.end_date > last:
        if a.is_series:
            limit, then = "12 months (a regularly scheduled series)", "report what follows as a new series"
        else:
            limit, then = "three years (an enduring material)", "review it and release it again as a new activity"
        wrong("End Date", f"the activity runs {a.start_date:%Y-%m-%d} to {a.end_date:%Y-%m-%d}, longer than {limit}",
              f"end it by {last:%Y-%m-%d} in {_column(a, 'pars_activity_end_date')}, and {then} "
              "with its own Provider Activity ID")
    if a.hours_of_instruction is not None and a.hours_of_instruction <= 0:
        wrong("Hours of Instruction", f"is {a.hours_of_instruction}, not more than 0",
              f"set {_column(a, 'pars_hours_of_instruction')} to the hours of instruction")
    found += _credits(a)
    unknown = [c for c in a.competencies if c not in codes.COMPETENCIES]
    if unknown:
        wrong("Competencies Addressed", f"{', '.join(map(repr, unknown))} not among ACCME's competencies",
              f"use codes from pars_codes.COMPETENCIES in {_column(a, 'pars_competencies')}")
    found += _moc(a)
    if a.sessions and not a.is_series:
        wrong("Activity Type", f"courses {', '.join(a.sessions)} are sessions of this activity, which is not a "
              "regularly scheduled series", f"set {_column(a, 'pars_activity_type')} to RSS, or clear "
              "pars_series_course_id on those courses")
    if a.nested_sessions:
        wrong("Sessions", f"courses {', '.join(a.nested_sessions)} are sessions of a session: their records are "
              "never counted", f"point their pars_series_course_id at {a.external_course_id}")
    if a.commercial_support is False and a.supporters:
        wrong("Commercial Support Received?", "is No, but commercial supporters are listed",
              f"set {_column(a, 'pars_commercial_support')} to true, or remove the supporters from "
              "lms.course_commercial_supporter")
    if shares_id_with:
        wrong("Provider Activity ID", f"{_text(a.provider_activity_id)!r} is also the id of "
              f"{', '.join(shares_id_with)} in this report: PARS would take them for one activity",
              f"give each activity its own {_column(a, 'pars_provider_activity_id')}")
    return found


def _credits(a: Activity) -> list[Problem]:
    designated = a.credits_designated
    if designated is None:
        return []
    column = _column(a, "pars_ama_credits_designated")
    if designated < 0:
        return [Problem(VALUE, "AMA PRA Category 1 Credits Designated", f"is {designated}, below 0",
                        f"set {column} to 0 or more")]
    offered = a.offered.get(codes.AMA_CREDIT_TYPE)
    if designated > 0 and offered is None:
        return [Problem(VALUE, "AMA PRA Category 1 Credits Designated",
                        f"is {designated}, but the course offers no {codes.AMA_CREDIT_TYPE} credit",
                        f"offer {codes.AMA_CREDIT_TYPE} on the course (lms.course_credit_type), or set {column} to 0")]
    if offered is not None and designated > offered:
        where = "its sessions offer" if a.sessions else "the course offers"
        return [Problem(VALUE, "AMA PRA Category 1 Credits Designated",
                        f"is {designated}, more than the {offered} {codes.AMA_CREDIT_TYPE} credits {where}",
                        f"set {column} to at most {offered}")]
    return []


def _moc(a: Activity) -> list[Problem]:
    found: list[Problem] = []
    for board in a.moc_boards:
        if board not in codes.MOC_BOARDS:
            found.append(Problem(VALUE, "MOC Registration", f"{board!r} is not a board PARS registers activities for",
                                 f"use one of {', '.join(codes.MOC_BOARDS)} in {_column(a, 'pars_moc_boards')}"))
            continue
        credit_type = codes.moc_credit_type(board)
        if not a.offered.get(credit_type, Decimal(0)) > 0:
            found.append(Problem(VALUE, "MOC Registration",
                                 f"registered for {board} MOC, but the course offers no {credit_type} points",
                                 f"offer {credit_type} on the course (lms.course_credit_type), or remove {board} "
                                 f"from {_column(a, 'pars_moc_boards')}"))
    return found


def _to_close(a: Activity) -> list[Problem]:
    found: list[Problem] = []

    def missing(field: str, problem: str, fix: str) -> None:
        found.append(Problem(TO_CLOSE, field, problem, fix))

    if a.hours_of_instruction is None:
        missing("Hours of Instruction", "is empty", f"set {_column(a, 'pars_hours_of_instruction')}")
    outcomes = (("Competence", "competence"), ("Performance", "performance"), ("Patient Outcomes", "patient_outcomes"))
    designed = [getattr(a, f"designed_to_change_{name}") for _, name in outcomes]
    for label, name in outcomes:
        if getattr(a, f"designed_to_change_{name}") is None:
            missing(f"Designed to change {label}?", "is not answered",
                    f"set {_column(a, f'pars_designed_to_change_{name}')} to true or false")
        if getattr(a, f"evaluated_{name}") is None:
            missing(f"Changes in {label} evaluated?", "is not answered",
                    f"set {_column(a, f'pars_evaluated_{name}')} to true or false")
    if all(answer is False for answer in designed):
        missing("Outcome Measure", "the activity is designed to change neither competence, performance nor "
                "patient outcomes", "set at least one of pars_designed_to_change_* to true")
    if not a.competencies:
        missing("Competencies Addressed", "none is given",
                f"list the competencies addressed in {_column(a, 'pars_competencies')}")
    if _text(a.providership) == "Joint" and not [p for p in a.joint_providers if _text(p)]:
        missing("Joint Provider(s)", "a jointly provided activity names no joint provider",
                f"list the joint providers' names in {_column(a, 'pars_joint_providers')}")
    if a.commercial_support is None:
        missing("Commercial Support Received?", "is not answered",
                f"set {_column(a, 'pars_commercial_support')} to true or false")
    elif a.commercial_support and not a.supporters:
        missing("Commercial Supporter", "commercial support was received, but no supporter is listed",
                f"add each supporter, with its monetary amount or in-kind support, to lms.course_commercial_supporter "
                f"for {a.external_course_id}")
    return found


def _end_date_hint(a: Activity) -> str:
    if a.is_series:
        return "the last day of the series (at most 12 months after its start)"
    if a.is_enduring:
        return "the day it stops being offered for credit (at most three years after its start)"
    return "the day the activity ends"


def _text(value: object) -> str:
    return "" if value is None else " ".join(str(value).split())
