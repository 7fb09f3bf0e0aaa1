"""The pre-submission check: each rule's violation is found, named by activity, field and fix, and keeps
the activity out of the upload file; the command line then exits 1."""

from __future__ import annotations

import pytest

from include.course_records import cli, pars
from include.course_records.pars_check import TO_CLOSE, TO_OPEN, VALUE
from tests.include.course_records.pars_catalogue import CLOSED, add_course, add_supporter, enroll, set_course


def problems_of(conn, course: str, year: int = 2026) -> list[tuple[str, str, str, str]]:
    report = pars.build_report(conn, year)
    [found] = [r for r in report.activities if r.activity.external_course_id == course]
    assert found.written is (not found.problems)
    return [(p.stage, p.field, p.problem, p.fix) for p in found.problems]


def the_only_problem(conn, course: str = "CARD-101") -> tuple[str, str, str, str]:
    [problem] = problems_of(conn, course)
    return problem


# CARD-101 (a course that ended on 2 March 2026) passes as the demo has it; each case breaks one rule.
@pytest.mark.parametrize(("columns", "stage", "field", "problem", "fix"), [
    ({"pars_provider_activity_id": " "}, TO_OPEN, "Provider Activity ID", "is empty",
     "set lms.course.pars_provider_activity_id of CARD-101 to the id PARS keeps"),
    ({"title": "  "}, TO_OPEN, "Activity Title", "is empty", "set lms.course.title of CARD-101"),
    ({"pars_activity_type": None}, TO_OPEN, "Activity Type", "is empty", "to one of C, RSS, IL, EM, IEM"),
    ({"pars_activity_type": "ML"}, VALUE, "Activity Type", "'ML' is not one of ACCME's activity types",
     "set lms.course.pars_activity_type of CARD-101 to one of C, RSS"),
    ({"pars_activity_date": None}, TO_OPEN, "Start Date", "is empty", "set lms.course.pars_activity_date of CARD-101"),
    ({"pars_activity_end_date": None}, TO_OPEN, "End Date", "is empty",
     "set lms.course.pars_activity_end_date of CARD-101 to the day the activity ends"),
    ({"pars_city": None}, TO_OPEN, "City", "is empty", "set lms.course.pars_city of CARD-101"),
    ({"pars_country": ""}, TO_OPEN, "Country", "is empty", "ISO 3166-1 alpha-3 code of its country, e.g. USA"),
    ({"pars_state": None}, TO_OPEN, "State", "is empty", "set lms.course.pars_state of CARD-101 to the two-letter"),
    ({"pars_country": "US"}, VALUE, "Country", "'US' is not in ACCME's country list",
     "set lms.course.pars_country of CARD-101 to the three-letter code, e.g. USA"),
    ({"pars_state": "Illinois"}, VALUE, "State", "'Illinois' is not a two-letter US state code",
     "set lms.course.pars_state of CARD-101 to the state's postal code, e.g. IL"),
    ({"pars_providership": None}, TO_OPEN, "Providership", "is empty", "to Direct or Joint"),
    ({"pars_ama_credits_designated": None}, TO_OPEN, "AMA PRA Category 1 Credits Designated", "is empty",
     "set lms.course.pars_ama_credits_designated of CARD-101"),
    ({"pars_ama_credits_designated": 2.5}, VALUE, "AMA PRA Category 1 Credits Designated",
     "is 2.50, more than the 2.00 ama_pra_1 credits the course offers", "to at most 2.00"),
    ({"pars_ama_credits_designated": -1}, VALUE, "AMA PRA Category 1 Credits Designated", "is -1.00, below 0",
     "to 0 or more"),
    ({"pars_cme_finder": None}, TO_OPEN, "CME Finder", "is empty", "set lms.course.pars_cme_finder of CARD-101"),
    ({"pars_description": None}, TO_OPEN, "Activity Description", "is empty", "set lms.course.pars_description"),
    ({"pars_activity_end_date": "2026-02-28"}, VALUE, "End Date", "2026-02-28 is before the start date 2026-03-01",
     "correct lms.course.pars_activity_end_date of CARD-101"),
    ({"pars_hours_of_instruction": 0}, VALUE, "Hours of Instruction", "is 0.00, not more than 0",
     "set lms.course.pars_hours_of_instruction of CARD-101"),
    ({"pars_hours_of_instruction": None}, TO_CLOSE, "Hours of Instruction", "is empty",
     "set lms.course.pars_hours_of_instruction of CARD-101"),
    ({"pars_providership": "Joint"}, TO_CLOSE, "Joint Provider(s)", "a jointly provided activity names no joint provider",
     "list the joint providers' names in lms.course.pars_joint_providers of CARD-101"),
    ({"pars_joint_providers": ["Someone Else"]}, VALUE, "Joint Provider(s)",
     "a directly provided activity lists joint providers", "set lms.course.pars_providership of CARD-101 to Joint"),
    ({"pars_designed_to_change_performance": None}, TO_CLOSE, "Designed to change Performance?", "is not answered",
     "set lms.course.pars_designed_to_change_performance of CARD-101 to true or false"),
    ({"pars_evaluated_patient_outcomes": None}, TO_CLOSE, "Changes in Patient Outcomes evaluated?", "is not answered",
     "set lms.course.pars_evaluated_patient_outcomes of CARD-101"),
    ({"pars_designed_to_change_competence": False, "pars_designed_to_change_performance": False}, TO_CLOSE,
     "Outcome Measure", "designed to change neither competence, performance nor patient outcomes",
     "set at least one of pars_designed_to_change_* to true"),
    ({"pars_competencies": []}, TO_CLOSE, "Competencies Addressed", "none is given",
     "list the competencies addressed in lms.course.pars_competencies of CARD-101"),
    ({"pars_competencies": ["abms_medical_knowledge", "charm"]}, VALUE, "Competencies Addressed",
     "'charm' not among ACCME's competencies", "use codes from pars_codes.COMPETENCIES"),
    ({"pars_commercial_support": None}, TO_CLOSE, "Commercial Support Received?", "is not answered",
     "set lms.course.pars_commercial_support of CARD-101 to true or false"),
    ({"pars_commercial_support": True}, TO_CLOSE, "Commercial Supporter",
     "commercial support was received, but no supporter is listed", "lms.course_commercial_supporter for CARD-101"),
    ({"pars_moc_boards": ["ABIM"]}, VALUE, "MOC Registration",
     "registered for ABIM MOC, but the course offers no abim_moc points", "offer abim_moc on the course"),
    ({"pars_moc_boards": ["AMA"]}, VALUE, "MOC Registration", "'AMA' is not a board PARS registers activities for",
     "use one of ABA, ABIM"),
])
def test_each_rule_names_the_field_the_problem_and_the_fix(conn, columns, stage, field, problem, fix):
    set_course(conn, "CARD-101", **columns)

    found = the_only_problem(conn)

    assert found[:2] == (stage, field)
    assert problem in found[2], found
    assert fix in found[3], found


def test_an_activity_with_a_problem_is_left_out_of_the_upload_file_and_named_in_the_problem_lines(conn):
    set_course(conn, "CARD-101", pars_state="Illinois")

    report = pars.build_report(conn, 2026)

    assert [r.activity.external_course_id for r in report.written(pars.PARS)] == ["NEURO-201", "PHARM-301"]
    assert b"<lom:entry>101</lom:entry>" not in pars.activity_file(report, pars.PARS)
    assert report.problem_lines() == [
        "PARS activity 101 (CARD-101 Cardiology Update): State 'Illinois' is not a two-letter US state code (value) — "
        "set lms.course.pars_state of CARD-101 to the state's postal code, e.g. IL"]


def test_every_broken_rule_of_an_activity_is_listed(conn):
    set_course(conn, "CARD-101", pars_city=None, pars_country="US", pars_commercial_support=None)

    assert [(stage, field) for stage, field, _, _ in problems_of(conn, "CARD-101")] == [
        (TO_OPEN, "City"), (VALUE, "Country"), (TO_CLOSE, "Commercial Support Received?")]


def test_what_closes_an_activity_is_not_asked_while_it_runs_past_the_year(conn):
    # NEURO-201 is an enduring material running until 2029: it stays open in PARS
    set_course(conn, "NEURO-201", pars_competencies=[], pars_commercial_support=None, pars_hours_of_instruction=None)

    assert problems_of(conn, "NEURO-201", 2026) == []
    assert [field for _, field, _, _ in problems_of(conn, "NEURO-201", 2029)] == [
        "Hours of Instruction", "Competencies Addressed", "Commercial Support Received?"]


def test_supporters_listed_while_commercial_support_is_no(conn):
    add_supporter(conn, "CARD-101", "Acme Devices", 100)

    assert the_only_problem(conn)[:3] == (VALUE, "Commercial Support Received?",
                                          "is No, but commercial supporters are listed")


def test_credits_designated_without_offering_the_credit(conn):
    set_course(conn, "NEURO-201", pars_ama_credits_designated=1)
    with conn.cursor() as cur:
        cur.execute("DELETE FROM lms.course_credit_type WHERE course_id = (SELECT id FROM lms.course"
                    " WHERE external_course_id = 'NEURO-201')")
    conn.commit()

    assert the_only_problem(conn, "NEURO-201")[1:3] == (
        "AMA PRA Category 1 Credits Designated", "is 1.00, but the course offers no ama_pra_1 credit")


def test_two_activities_of_a_year_sharing_a_provider_activity_id(conn):
    set_course(conn, "NEURO-201", pars_provider_activity_id="101")

    assert the_only_problem(conn, "CARD-101")[1:3] == (
        "Provider Activity ID", "'101' is also the id of NEURO-201 in this report: PARS would take them for one activity")
    assert the_only_problem(conn, "NEURO-201")[2].endswith("is also the id of CARD-101 in this report: PARS would "
                                                            "take them for one activity")


@pytest.mark.parametrize(("activity_type", "end", "limit"), [
    ("RSS", "2027-03-01", "12 months (a regularly scheduled series)"),
    ("IEM", "2029-03-01", "three years (an enduring material)")])
def test_a_series_runs_at_most_12_months_and_an_enduring_material_three_years(conn, activity_type, end, limit):
    set_course(conn, "CARD-101", pars_activity_type=activity_type, pars_activity_end_date=end)

    stage, field, problem, fix = the_only_problem(conn)

    assert (stage, field) == (VALUE, "End Date")
    assert problem == f"the activity runs 2026-03-01 to {end}, longer than {limit}"
    assert "with its own Provider Activity ID" in fix


def test_sessions_belong_to_a_regularly_scheduled_series_one_level_deep(conn):
    add_course(conn, "CARD-102", "Cardiology: second session", series_of="CARD-101")
    add_course(conn, "CARD-103", "Cardiology: third session", series_of="CARD-102")

    problems = problems_of(conn, "CARD-101")

    assert [(field, problem) for _, field, problem, _ in problems] == [
        ("Activity Type", "courses CARD-102 are sessions of this activity, which is not a regularly scheduled series"),
        ("Sessions", "courses CARD-103 are sessions of a session: their records are never counted")]
    assert problems[1][3] == "point their pars_series_course_id at CARD-101"


def test_a_course_with_records_that_count_but_no_pars_fields_is_listed_with_what_to_set(conn):
    add_course(conn, "JCLUB", "Journal Club")
    enroll(conn, "JCLUB", "reader@example.org", start="2026-06-01 09:00Z", completed="2026-06-02 09:00Z")

    assert [field for _, field, _, _ in problems_of(conn, "JCLUB")] == [
        "Provider Activity ID", "Activity Type", "Start Date", "End Date", "Providership",
        "AMA PRA Category 1 Credits Designated", "CME Finder", "Activity Description"]


def test_a_well_described_series_passes(conn):
    add_course(conn, "GR", "Grand Rounds", offers={"ama_pra_1": 1}, **{
        **CLOSED, "pars_provider_activity_id": "9", "pars_activity_type": "RSS", "pars_activity_date": "2026-01-01",
        "pars_activity_end_date": "2026-12-31", "pars_description": "d", "pars_city": "Toronto",
        "pars_country": "CAN", "pars_providership": "Joint", "pars_joint_providers": ["Partner"],
        "pars_hours_of_instruction": 2, "pars_ama_credits_designated": 2})
    add_course(conn, "GR-2", "Grand Rounds 2", offers={"ama_pra_1": 1}, series_of="GR")

    assert problems_of(conn, "GR") == []  # 2 credits designated: 1 per session; no state outside the USA


def test_the_cli_exits_1_when_any_activity_fails(conn, tmp_path):
    set_course(conn, "CARD-101", pars_providership="Joint")

    assert cli.main(["pars-report", "--year", "2026", "--out", str(tmp_path / "p.xml")]) == 1
    set_course(conn, "CARD-101", pars_joint_providers=["Lakeside Pharmacists Association"])
    assert cli.main(["pars-report", "--year", "2026", "--out", str(tmp_path / "p.xml")]) == 0
