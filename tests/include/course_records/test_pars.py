"""The PARS report on the real LMS database: who counts, which courses get a line, ACCME's layout and rules."""

from __future__ import annotations

import csv
import io

import pytest

from include.course_records import cli, pars
from include.course_records.errors import UsageError
from include.course_records.pars import FIELDS

# What ACCME's Template C says the first fields are, in order, and where the credits go.
ACCME_FIRST_FIELDS = (
    "Template", "ACCME Activity ID", "Provider Activity ID", "Reporting Year", "Activity Title", "Activity Date",
    "City", "State", "Country", "Providership", "Activity Type", "Hours of Instruction", "# of Physicians",
    "# of Other Learners", "Commercial Support Received?",
)
COUNT_FIELDS = ("# of Physicians", "# of Other Learners")
# The fields the LMS has data for; every other field must stay empty.
FILLED_FIELDS = {"Template", "Provider Activity ID", "Reporting Year", "Activity Title", "Activity Date", "City",
                 "State", "Country", "Providership", "Activity Type", "Hours of Instruction", *COUNT_FIELDS,
                 "Number of AMA PRA Category 1 Credits Designated"}


def enroll(conn, course: str, email: str, *, start: str | None = "2026-05-01 09:00Z",
           completed: str | None = "2026-05-02 10:00Z", category: str | None = "physician",
           source: str | None = None) -> None:
    """An enrollment as the LMS would hold it; `source` None is a native LMS record."""
    with conn.cursor() as cur:
        cur.execute("""
            INSERT INTO lms.learner (email, first_name, last_name) VALUES (%(email)s, 'Test', 'Learner')
            ON CONFLICT DO NOTHING;
            INSERT INTO lms.enrollment (learner_id, course_id, enrollment_start, complete, date_completed,
                                        participant_category, import_source)
            SELECT l.id, c.id, %(start)s, %(completed)s IS NOT NULL, %(completed)s, %(category)s, %(source)s
            FROM lms.learner l, lms.course c
            WHERE lower(l.email) = lower(%(email)s) AND c.external_course_id = %(course)s""",
                    {"email": email, "course": course, "start": start, "completed": completed,
                     "category": category, "source": source})
        assert cur.rowcount == 1, f"no course {course}"
    conn.commit()


def set_course(conn, course: str, **columns) -> None:
    """Change a course's PARS fields (column names without the pars_ prefix) or title."""
    with conn.cursor() as cur:
        for column, value in columns.items():
            name = column if column in ("title", "is_imported_shell") else f"pars_{column}"
            cur.execute(f"UPDATE lms.course SET {name} = %s WHERE external_course_id = %s", (value, course))
    conn.commit()


def add_shell(conn, course: str) -> None:
    with conn.cursor() as cur:
        cur.execute("INSERT INTO lms.course (external_course_id, title, is_imported_shell, import_source)"
                    " VALUES (%s, 'Legacy archive', true, 'legacy_global_import')", (course,))
    conn.commit()


def line_of(report: pars.ParsReport, course: str) -> pars.ActivityLine:
    [line] = [line for line in report.lines if line.external_course_id == course]
    return line


def course_of(report: pars.ParsReport, course: str) -> pars.CourseCount:
    [found] = [c for c in report.courses if c.external_course_id == course]
    return found


def batch_fields(text: str) -> list[list[str]]:
    return [line.split("\t") for line in text.split("\n")[:-1]]


def summary_rows(report: pars.ParsReport) -> dict[str, dict[str, str]]:
    return {row["external_course_id"]: row for row in csv.DictReader(io.StringIO(pars.summary_csv(report)))}


# --- layout ------------------------------------------------------------------------------------

def test_field_order_is_accmes_template_c():
    assert len(FIELDS) == 58 and len(set(FIELDS)) == 58
    assert FIELDS[:15] == ACCME_FIRST_FIELDS
    assert FIELDS.index("Number of AMA PRA Category 1 Credits Designated") == 37  # field 38
    assert FIELDS.index("Joint Provider(s)") == 36
    assert FIELDS[-1] == "Other Competencies - Competencies other than those listed were addressed"
    assert FILLED_FIELDS.issubset(FIELDS)


def test_demo_catalogue_gives_one_card_101_line_with_fields_where_accme_wants_them(conn):
    report = pars.build_report(conn, 2026)

    assert [line.external_course_id for line in report.lines] == ["CARD-101"]
    assert report.problems == []
    [fields] = batch_fields(pars.batch_file(report))
    by_name = dict(zip(FIELDS, fields, strict=True))
    assert {name: by_name[name] for name in FILLED_FIELDS} == {
        "Template": "Template C", "Provider Activity ID": "101", "Reporting Year": "2026",
        "Activity Title": "Cardiology Update", "Activity Date": "", "City": "Chicago", "State": "IL",
        "Country": "USA", "Providership": "Direct", "Activity Type": "C", "Hours of Instruction": "2.00",
        "# of Physicians": "1", "# of Other Learners": "0",
        "Number of AMA PRA Category 1 Credits Designated": "2.00"}
    assert fields[FIELDS.index("Provider Activity ID")] == "101"
    assert fields[FIELDS.index("# of Physicians")] == "1"
    assert line_of(report, "CARD-101").value("Activity Type") == "C"


# --- who counts ----------------------------------------------------------------------------------

def test_global_import_learners_are_not_counted_course_level_and_native_are(conn):
    enroll(conn, "CARD-101", "course-level@example.org", source="course_import")
    enroll(conn, "CARD-101", "native@example.org", category="other", source=None)
    enroll(conn, "CARD-101", "legacy-1@example.org", source="legacy_global_import")
    enroll(conn, "CARD-101", "legacy-2@example.org", category="other", source="legacy_global_import")

    report = pars.build_report(conn, 2026)

    card = line_of(report, "CARD-101")
    assert (card.physicians, card.other_learners) == (2, 1)  # Ada (demo) and the course-level import; native
    assert (card.value("# of Physicians"), card.value("# of Other Learners")) == ("2", "1")
    assert summary_rows(report)["CARD-101"]["not_counted_global_import"] == "2"


def test_physicians_and_other_learners_are_counted_apart(conn):
    for n in range(3):
        enroll(conn, "NEURO-201", f"other-{n}@example.org", category="other")
    enroll(conn, "NEURO-201", "doctor@example.org", category="physician")

    line = line_of(pars.build_report(conn, 2026), "NEURO-201")

    assert (line.value("# of Physicians"), line.value("# of Other Learners")) == ("1", "3")


def test_completions_without_start_category_or_completion_do_not_count(conn):
    enroll(conn, "PHARM-301", "no-start@example.org", start=None)
    enroll(conn, "PHARM-301", "no-category@example.org", category=None)
    enroll(conn, "PHARM-301", "not-complete@example.org", completed=None)
    enroll(conn, "PHARM-301", "last-year@example.org", completed="2025-06-01 12:00Z")

    report = pars.build_report(conn, 2026)

    assert "PHARM-301" not in [line.external_course_id for line in report.lines]
    pharm = course_of(report, "PHARM-301")
    assert (pharm.counted_learners, pharm.status, pharm.problems) == (0, "no counted learner", ())
    row = summary_rows(report)["PHARM-301"]
    assert (row["not_counted_no_enrollment_start"], row["not_counted_no_participant_category"]) == ("1", "1")
    assert line_of(pars.build_report(conn, 2025), "PHARM-301").physicians == 1


def test_the_reporting_year_is_the_utc_calendar_year_whatever_the_session_time_zone(conn):
    enroll(conn, "PHARM-301", "new-years-eve-chicago@example.org", completed="2026-12-31 23:30-06")  # 2027 UTC
    enroll(conn, "PHARM-301", "first-second@example.org", completed="2026-01-01 00:00Z")
    enroll(conn, "PHARM-301", "paris-new-year@example.org", completed="2026-01-01 00:30+01")  # 2025 UTC
    with conn.cursor() as cur:
        cur.execute("SET TIME ZONE 'America/Chicago'")
    conn.commit()

    counted = {year: line_of(pars.build_report(conn, year), "PHARM-301").physicians for year in (2025, 2026, 2027)}

    assert counted == {2025: 1, 2026: 1, 2027: 1}


def test_imported_shells_never_appear(conn):
    add_shell(conn, "LEGACY-2019-ECG")
    # Even a record that would count elsewhere: a shell is never a PARS activity.
    enroll(conn, "LEGACY-2019-ECG", "native@example.org", source=None)
    enroll(conn, "LEGACY-2019-ECG", "legacy@example.org", source="legacy_global_import")

    report = pars.build_report(conn, 2026)

    assert [line.external_course_id for line in report.lines] == ["CARD-101"]
    assert "LEGACY-2019-ECG" not in {c.external_course_id for c in report.courses}
    assert "LEGACY" not in pars.batch_file(report) + pars.summary_csv(report) + "".join(report.problems)


# --- ACCME's rules -------------------------------------------------------------------------------

def test_a_course_missing_its_activity_type_is_reported_and_not_written(conn):
    set_course(conn, "CARD-101", activity_type=None)
    enroll(conn, "NEURO-201", "neuro@example.org")

    report = pars.build_report(conn, 2026)

    assert [line.external_course_id for line in report.lines] == ["NEURO-201"]
    [problem] = report.problems
    assert problem.startswith("CARD-101 (Cardiology Update; 1 physician(s) and 0 other learner(s) left out")
    assert "activity type is empty: set pars_activity_type to one of C, RSS, IL" in problem
    assert "Cardiology" not in pars.batch_file(report)
    row = summary_rows(report)["CARD-101"]
    assert (row["status"], row["physicians"]) == ("not written", "1")
    assert "activity type is empty" in row["problems"]


@pytest.mark.parametrize(("columns", "expected"), [
    ({"activity_type": "ML"}, "activity type 'ML' is not one of ACCME's"),
    ({"hours_of_instruction": 0}, "hours of instruction is 0.00: set pars_hours_of_instruction to more than 0"),
    ({"hours_of_instruction": None}, "hours of instruction is empty"),
    ({"city": None}, "city is empty: a C activity needs pars_city"),
    ({"city": "  "}, "city is empty"),
    ({"country": None}, "country is empty: a C activity needs pars_country"),
    ({"state": None}, "state is empty: an activity in the USA needs pars_state"),
    ({"providership": None}, "providership is empty: set pars_providership to Direct or Joint"),
    ({"provider_activity_id": None}, "Provider Activity ID is empty"),
    ({"provider_activity_id": ""}, "Provider Activity ID is empty"),
])
def test_each_accme_rule_keeps_the_course_out_and_says_what_to_fix(conn, columns, expected):
    set_course(conn, "CARD-101", **columns)

    report = pars.build_report(conn, 2026)

    assert report.lines == []
    [problem] = report.problems
    assert problem.startswith("CARD-101 ") and expected in problem


def test_every_broken_rule_of_a_course_is_named_in_its_one_problem(conn):
    set_course(conn, "CARD-101", activity_type="RSS", city=None, country=None, hours_of_instruction=None)

    [problem] = pars.build_report(conn, 2026).problems

    assert all(part in problem for part in ("city is empty", "country is empty", "hours of instruction is empty"))


def test_two_courses_sharing_a_provider_activity_id_are_both_held_back(conn):
    set_course(conn, "NEURO-201", provider_activity_id="101")
    enroll(conn, "NEURO-201", "neuro@example.org")

    report = pars.build_report(conn, 2026)

    assert report.lines == []
    assert sorted(p.split(" ", 1)[0] for p in report.problems) == ["CARD-101", "NEURO-201"]
    assert "Provider Activity ID 101 is also the id of NEURO-201" in report.problems[0]


def test_place_is_blank_for_activities_other_than_courses_and_series(conn):
    set_course(conn, "NEURO-201", city="Boston", state="MA", country="USA")
    enroll(conn, "NEURO-201", "neuro@example.org")

    line = line_of(pars.build_report(conn, 2026), "NEURO-201")

    assert (line.value("Activity Type"), line.value("City"), line.value("State"), line.value("Country")) == (
        "IEM", "", "", "")


def test_a_course_outside_the_usa_needs_no_state(conn):
    set_course(conn, "CARD-101", city="Toronto", state=None, country="CAN")

    line = line_of(pars.build_report(conn, 2026), "CARD-101")

    assert (line.value("City"), line.value("State"), line.value("Country")) == ("Toronto", "", "CAN")


# --- the batch file ------------------------------------------------------------------------------

def test_empty_fields_are_empty_never_zero_or_a_space(conn):
    set_course(conn, "CARD-101", ama_credits_designated=None, activity_date=None)
    enroll(conn, "NEURO-201", "neuro@example.org", category="other")  # 0 physicians: a count, not a blank

    text = pars.batch_file(pars.build_report(conn, 2026))

    for fields in batch_fields(text):
        assert len(fields) == len(FIELDS)
        by_name = dict(zip(FIELDS, fields, strict=True))
        assert by_name["Number of AMA PRA Category 1 Credits Designated"] in ("", "1.50")
        assert by_name["Activity Date"] == ""
        assert all(value == value.strip() and value != "" for name, value in by_name.items()
                   if name in FILLED_FIELDS - {"Activity Date", "City", "State", "Country",
                                               "Number of AMA PRA Category 1 Credits Designated"})
        assert {name: value for name, value in by_name.items() if name not in FILLED_FIELDS} == dict.fromkeys(
            set(FIELDS) - FILLED_FIELDS, "")
        assert [name for name, value in by_name.items() if value.strip() in ("0", "0.00")] in (
            [], ["# of Physicians"], ["# of Other Learners"])
    assert " \t" not in text and "\t " not in text and "\t0.00\t" not in text
    assert "\tCardiology Update\t\tChicago\tIL\tUSA\tDirect\tC\t2.00\t1\t0\t" in text


def test_batch_file_is_tab_delimited_lf_no_header_one_line_per_course(conn):
    set_course(conn, "CARD-101", title="Cardiology\tUpdate\r\n2026 ", activity_date="2026-03-05")
    enroll(conn, "NEURO-201", "neuro@example.org")

    report = pars.build_report(conn, 2026)
    text = pars.batch_file(report)

    assert text.endswith("\n") and "\r" not in text
    lines = text.split("\n")[:-1]
    assert len(lines) == len(report.lines) == 2
    assert all(line.count("\t") == len(FIELDS) - 1 and line.startswith("Template C\t") for line in lines)
    card = line_of(report, "CARD-101")
    assert card.value("Activity Title") == "Cardiology Update 2026"
    assert card.value("Activity Date") == "03/05/2026"


def test_a_year_with_nothing_to_report_gives_an_empty_file(conn):
    report = pars.build_report(conn, 2019)

    assert (report.lines, report.problems, report.courses) == ([], [], [])
    assert pars.batch_file(report) == ""
    assert pars.summary_csv(report) == ",".join(pars.SUMMARY_COLUMNS) + "\n"


@pytest.mark.parametrize("year", [0, 26, 20260])
def test_the_year_must_have_four_digits(conn, year):
    with pytest.raises(UsageError, match="four digits"):
        pars.build_report(conn, year)


def test_summary_csv_has_every_course_with_a_completion_and_why_learners_did_not_count(conn):
    enroll(conn, "CARD-101", "legacy@example.org", source="legacy_global_import")
    enroll(conn, "NEURO-201", "no-category@example.org", category=None)
    set_course(conn, "CARD-101", title="=HYPERLINK(\"x\")")

    rows = list(csv.DictReader(io.StringIO(pars.summary_csv(pars.build_report(conn, 2026)))))

    assert tuple(rows[0]) == pars.SUMMARY_COLUMNS
    assert [(r["external_course_id"], r["physicians"], r["other_learners"], r["counted_learners"],
             r["not_counted_global_import"], r["not_counted_no_participant_category"], r["status"])
            for r in rows] == [("CARD-101", "1", "0", "1", "1", "0", "written"),
                               ("NEURO-201", "0", "0", "0", "0", "1", "no counted learner")]
    assert rows[0]["title"] == "'=HYPERLINK(\"x\")"  # shown as text in a spreadsheet, never run


# --- the command line ------------------------------------------------------------------------------

def test_cli_writes_the_batch_file_and_summary_and_exits_0(conn, tmp_path, capsys):
    out = tmp_path / "pars-2026.txt"

    status = cli.main(["pars-report", "--year", "2026", "--out", str(out)])

    assert status == 0
    assert out.read_bytes() == pars.batch_file(pars.build_report(conn, 2026)).encode()
    assert (tmp_path / "pars-2026.summary.csv").read_text().startswith("reporting_year,")
    assert "PARS 2026: 1 activities" in capsys.readouterr().out


def test_cli_exits_1_and_names_the_course_when_one_is_not_written(conn, tmp_path, capsys):
    set_course(conn, "CARD-101", activity_type=None)

    status = cli.main(["pars-report", "--year", "2026", "--out", str(tmp_path / "pars.txt")])

    assert status == 1
    assert "not written: CARD-101 (Cardiology Update" in capsys.readouterr().err
    assert (tmp_path / "pars.txt").read_text() == ""
