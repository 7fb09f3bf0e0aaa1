"""The PARS report on the real LMS database: who counts, per activity type, in the provider's time zone;
learner completions, reconciliation, duplicates; the command line."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, date, datetime

import pytest
from lxml import etree

from include.course_records import cli, pars
from include.course_records.errors import UsageError
from include.course_records.pars_xml import EXTENSION, MEMS
from tests.include.course_records.pars_catalogue import (
    CLOSED,
    add_course,
    enroll,
    restore_time_zone,
    set_course,
    set_time_zone,
)

NOW = datetime(2027, 2, 1, tzinfo=UTC)
NS = {"m": MEMS, "cr": EXTENSION, "lom": "http://ltsc.ieee.org/xsd/LOM"}


@pytest.fixture
def chicago(conn):
    set_time_zone(conn, "America/Chicago")
    yield conn
    restore_time_zone()


def reported(report: pars.ParsReport, course: str) -> pars.ReportedActivity:
    [found] = [r for r in report.activities if r.activity.external_course_id == course]
    return found


def counted(report: pars.ParsReport, course: str) -> tuple[int, int]:
    counts = reported(report, course).counts
    return counts.physicians, counts.other_learners


def csv_rows(text: str | bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text.decode() if isinstance(text, bytes) else text)))


def uploaded(report: pars.ParsReport, system: str = pars.PARS) -> dict[str, dict[str, str]]:
    """The upload file's activities by Provider Activity ID: counts and extension values."""
    root = etree.fromstring(pars.activity_file(report, system))
    found = {}
    for activity in root.iterfind("m:MedicalEducationMetrics", NS):
        pid = activity.findtext("m:ActivityDescription/lom:lom/lom:general/lom:identifier/lom:entry", namespaces=NS)
        found[pid] = {
            "physicians": activity.findtext("m:ParticipationMetrics/m:ParticipantsByCategory[@category='Physicians']",
                                            namespaces=NS),
            "other": activity.findtext("m:ParticipationMetrics/m:ParticipantsByCategory[@category='Other Learners']",
                                       namespaces=NS),
            "year": activity.findtext("m:XtensibleInfo/cr:ReportingYear", namespaces=NS),
        }
    return found


# --- who counts ------------------------------------------------------------------------------------

def test_the_demo_catalogue_reports_its_three_activities_and_passes_the_check(conn):
    report = pars.build_report(conn, 2026)

    assert [(r.activity.external_course_id, r.written) for r in report.activities] == [
        ("CARD-101", True), ("NEURO-201", True), ("PHARM-301", True)]
    assert counted(report, "CARD-101") == (1, 0)  # Ada
    assert reported(report, "NEURO-201").counts.incomplete == 1  # Alan
    assert uploaded(report)["101"] == {"physicians": "1", "other": "0", "year": "2026"}
    assert report.problem_lines() == []


def test_records_count_only_when_complete_course_level_or_native_with_start_and_category(conn):
    enroll(conn, "CARD-101", "course-level@example.org", start="2026-03-01 08:00Z", completed="2026-03-02 10:00Z")
    enroll(conn, "CARD-101", "native@example.org", start="2026-03-01 08:00Z", completed="2026-03-02 10:00Z",
           category="other", source=None)
    enroll(conn, "CARD-101", "legacy@example.org", start="2026-03-01 08:00Z", completed="2026-03-02 10:00Z",
           source="legacy_global_import")
    enroll(conn, "CARD-101", "no-start@example.org", start=None, completed="2026-03-02 10:00Z")
    enroll(conn, "CARD-101", "no-category@example.org", start="2026-03-01 08:00Z", completed="2026-03-02 10:00Z",
           category=None)
    enroll(conn, "CARD-101", "not-finished@example.org", start="2026-03-01 08:00Z")

    counts = reported(pars.build_report(conn, 2026), "CARD-101").counts

    assert counts == pars.Counts(physicians=2, other_learners=1, incomplete=1, global_import=1, other_year=0,
                                 no_enrollment_start=1, no_participant_category=1)


def test_a_live_course_is_reported_in_its_own_year_with_completions_after_new_year(conn):
    add_course(conn, "WINTER", "Winter Meeting", offers={"ama_pra_1": 3}, **{
        **CLOSED, "pars_provider_activity_id": "77", "pars_activity_type": "C", "pars_activity_date": "2025-12-10",
        "pars_activity_end_date": "2025-12-11", "pars_description": "d", "pars_city": "Chicago", "pars_state": "IL",
        "pars_country": "USA", "pars_providership": "Direct", "pars_hours_of_instruction": 3,
        "pars_ama_credits_designated": 3})
    enroll(conn, "WINTER", "december@example.org", completed="2025-12-11 16:00Z")
    enroll(conn, "WINTER", "january@example.org", completed="2026-01-08 16:00Z")

    before, after = pars.build_report(conn, 2025), pars.build_report(conn, 2026)

    assert counted(before, "WINTER") == (2, 0)
    assert "WINTER" not in [r.activity.external_course_id for r in after.activities]
    assert "77" not in uploaded(after)
    [(activity, completions)] = after.elsewhere
    assert (activity.external_course_id, completions) == ("WINTER", 1)


def test_a_series_counts_each_learner_once_per_session_over_its_twelve_months(conn):
    add_course(conn, "TUMOR", "Tumor Board 2026", offers={"ama_pra_1": 1}, **{
        **CLOSED, "pars_provider_activity_id": "88", "pars_activity_type": "RSS", "pars_activity_date": "2026-01-01",
        "pars_activity_end_date": "2026-12-31", "pars_description": "d", "pars_city": "Chicago",
        "pars_state": "IL", "pars_country": "USA", "pars_providership": "Direct", "pars_hours_of_instruction": 2,
        "pars_ama_credits_designated": 2})
    add_course(conn, "TUMOR-06", "Tumor Board June", offers={"ama_pra_1": 1}, series_of="TUMOR")
    enroll(conn, "TUMOR", "one@example.org", completed="2026-01-14 13:00Z")
    enroll(conn, "TUMOR-06", "one@example.org", completed="2026-06-10 13:00Z")
    enroll(conn, "TUMOR-06", "two@example.org", completed="2026-06-10 13:00Z", category="other")
    enroll(conn, "TUMOR-06", "late@example.org", completed="2027-01-05 13:00Z")

    report = pars.build_report(conn, 2026)

    assert counted(report, "TUMOR") == (2, 1)  # one@ twice (two sessions), two@ once
    assert reported(report, "TUMOR").counts.other_year == 1
    assert reported(report, "TUMOR").activity.sessions == ("TUMOR-06",)
    assert "TUMOR-06" not in [r.activity.external_course_id for r in report.activities]


def test_an_enduring_material_is_reported_each_year_under_one_id_with_cumulative_counts(conn):
    enroll(conn, "NEURO-201", "first@example.org", start="2026-04-02 08:00Z", completed="2026-05-01 10:00Z")
    enroll(conn, "NEURO-201", "second@example.org", start="2027-01-02 08:00Z", completed="2027-02-01 10:00Z")
    enroll(conn, "NEURO-201", "third@example.org", start="2028-03-02 08:00Z", completed="2028-03-03 10:00Z")

    by_year = {year: uploaded(pars.build_report(conn, year)).get("201") for year in (2026, 2027, 2028, 2029, 2030)}

    assert {year: found and found["physicians"] for year, found in by_year.items()} == {
        2026: "1", 2027: "2", 2028: "3", 2029: "3", 2030: None}  # runs 2026-04-01 to 2029-03-31


def test_the_year_ends_at_midnight_in_the_providers_time_zone(chicago):
    # 23:30 on New Year's Eve in Chicago is 05:30 on 1 January in UTC
    enroll(chicago, "NEURO-201", "late-night@example.org", start="2026-12-01 08:00-06", completed="2026-12-31 23:30-06")

    in_chicago = pars.build_report(chicago, 2026)
    set_time_zone(chicago, "UTC")
    in_utc = pars.build_report(chicago, 2026)

    assert in_chicago.time_zone == "America/Chicago" and counted(in_chicago, "NEURO-201") == (1, 0)
    assert counted(in_utc, "NEURO-201") == (0, 0) and reported(in_utc, "NEURO-201").counts.other_year == 1


def test_a_time_zone_that_is_not_one_is_a_usage_error(chicago):
    set_time_zone(chicago, "Mars/Olympus")

    with pytest.raises(UsageError, match=r"not an IANA time zone name: set lms\.pars_provider\.time_zone"):
        pars.build_report(chicago, 2026)


def test_imported_shells_are_never_activities_but_their_records_are_listed(conn):
    add_course(conn, "LEGACY-1", "Old course", shell=True)
    enroll(conn, "LEGACY-1", "lost@example.org", completed="2026-05-01 10:00Z")
    enroll(conn, "LEGACY-1", "legacy@example.org", completed="2026-05-01 10:00Z", source="legacy_global_import")

    report = pars.build_report(conn, 2026)

    assert "LEGACY-1" not in [r.activity.external_course_id for r in report.activities]
    assert b"LEGACY" not in pars.activity_file(report, pars.PARS)
    [row] = [r for r in csv_rows(pars.export_files(report, None, NOW)[pars.RECONCILIATION_CSV])
             if r["external_course_id"] == "LEGACY-1"]
    assert (row["status"], row["not_counted_in_shell"], row["not_counted_global_import"]) == ("imported shell", "1", "1")
    assert "create the real course" in row["note"]


def test_a_joint_accreditation_activity_is_reported_to_ja_pars_apart(conn):
    set_course(conn, "PHARM-301", pars_joint_accreditation=True)
    enroll(conn, "PHARM-301", "pharmacist@example.org", start="2026-02-01 08:00Z", completed="2026-02-02 10:00Z",
           category="other")

    report = pars.build_report(conn, 2026)

    assert "301" not in uploaded(report, pars.PARS)
    assert uploaded(report, pars.JA_PARS) == {"301": {"physicians": "0", "other": "1", "year": "2026"}}
    assert reported(report, "PHARM-301").activity.system == "JA-PARS"


@pytest.mark.parametrize("year", [0, 26, 20260])
def test_the_year_must_have_four_digits(conn, year):
    with pytest.raises(UsageError, match="four digits"):
        pars.build_report(conn, year)


@pytest.mark.parametrize(("today", "year"), [
    (date(2027, 1, 1), 2026), (date(2027, 3, 31), 2026), (date(2027, 4, 1), 2027), (date(2027, 12, 31), 2027)])
def test_the_default_year_is_the_previous_one_until_31_march(today, year):
    assert pars.default_reporting_year(today) == year


# --- learner completions, duplicates, reconciliation -------------------------------------------------

def test_learner_completions_list_moc_and_cme_finder_lines_and_who_lacks_what(conn):
    # PHARM-301: registered for ABIM MOC and CME Finder; offers ama_pra_1 and abim_moc
    both = {"ama_pra_1": 3, "abim_moc": 3}
    enroll(conn, "PHARM-301", "ready@example.org", first="Ready", last="Doc", start="2026-02-01 08:00Z",
           completed="2026-02-02 10:00Z", credits=both, birth=(7, 4), board_ids={"ABIM": "A-1"})
    enroll(conn, "PHARM-301", "no-board@example.org", first="No", last="Board", start="2026-02-01 08:00Z",
           completed="2026-02-03 10:00Z", credits=both, birth=(1, 2))
    enroll(conn, "PHARM-301", "no-birthday@example.org", first="No", last="Birthday", start="2026-02-01 08:00Z",
           completed="2026-02-04 10:00Z", credits={"ama_pra_1": 3})
    enroll(conn, "PHARM-301", "nurse@example.org", first="A", last="Nurse", start="2026-02-01 08:00Z",
           completed="2026-02-05 10:00Z", credits={"ama_pra_1": 3}, category="other", birth=(3, 3))

    files = pars.export_files(pars.build_report(conn, 2026), None, NOW)

    ready = [(r["email"], r["ama_pra_1_credits"], r["moc_board"], r["moc_board_id"], r["moc_points"],
              r["completion_date"]) for r in csv_rows(files[pars.LEARNERS_CSV])]
    assert ready == [("ready@example.org", "3.00", "", "", "", "02/02/2026"),
                     ("ready@example.org", "", "ABIM", "A-1", "3.00", "02/02/2026"),
                     ("no-board@example.org", "3.00", "", "", "", "02/03/2026")]  # the nurse earns no CME line
    lacking = [(r["email"], r["moc_board"], r["missing"], r["fix"]) for r in csv_rows(files[pars.LEARNERS_MISSING_CSV])]
    assert lacking == [
        ("no-board@example.org", "ABIM", "ABIM board id",
         "add the learner's ABIM id to lms.learner_board_id (board ABIM)"),
        ("no-birthday@example.org", "", "date of birth (month/day)", "set lms.learner.birth_month and birth_day")]


def test_the_same_name_under_two_emails_in_one_activity_is_flagged(conn):
    enroll(conn, "CARD-101", "ada.lovelace@example.net", first="ADA ", last=" lovelace", start="2026-03-01 08:00Z",
           completed="2026-03-02 10:00Z")
    enroll(conn, "CARD-101", "grace.h@example.net", first="Grace", last="Hopper", start="2026-03-01 08:00Z",
           completed="2026-03-02 10:00Z")  # alone in this activity: not a duplicate

    report = pars.build_report(conn, 2026)

    [row] = csv_rows(pars.export_files(report, None, NOW)[pars.DUPLICATES_CSV])
    assert (row["external_course_id"], row["learners"], row["emails"], row["external_user_ids"]) == (
        "CARD-101", "2", "ada.lovelace@example.net; ada@example.org", "U1001")
    assert counted(report, "CARD-101") == (3, 0)  # flagged, still counted: a person decides


def test_a_learner_known_by_sso_id_alone_is_listed_and_compared(conn):
    with conn.cursor() as cur:
        cur.execute("""
            INSERT INTO lms.learner (external_user_id, first_name, last_name, birth_month, birth_day)
            VALUES ('SSO-9', 'Ada', 'Lovelace', 12, 10);
            INSERT INTO lms.enrollment (learner_id, course_id, enrollment_start, complete, date_completed,
                                        participant_category, import_source)
            SELECT l.id, c.id, '2026-02-01 08:00Z', true, '2026-03-02 10:00Z', 'physician', 'course_import'
            FROM lms.learner l, lms.course c
            WHERE l.external_user_id = 'SSO-9' AND c.external_course_id IN ('CARD-101', 'PHARM-301');
            INSERT INTO lms.credit_record (enrollment_id, credit_type_id, credits)
            SELECT e.id, t.id, 3 FROM lms.enrollment e JOIN lms.learner l ON l.id = e.learner_id
            JOIN lms.course c ON c.id = e.course_id, lms.credit_type t
            WHERE l.external_user_id = 'SSO-9' AND c.external_course_id = 'PHARM-301' AND t.machine_name = 'ama_pra_1'""")
    conn.commit()

    files = pars.export_files(pars.build_report(conn, 2026), None, NOW)

    [line] = csv_rows(files[pars.LEARNERS_CSV])
    assert (line["external_user_id"], line["email"], line["provider_activity_id"]) == ("SSO-9", "", "301")
    [duplicate] = csv_rows(files[pars.DUPLICATES_CSV])
    assert (duplicate["learners"], duplicate["emails"], duplicate["external_user_ids"]) == (
        "2", "ada@example.org", "U1001; SSO-9")


def test_hostile_values_are_neutralised_in_every_csv(conn):
    set_course(conn, "CARD-101", title="=HYPERLINK(\"http://evil\")")
    enroll(conn, "CARD-101", "x@example.org", first="+cmd", last="-1", start="2026-03-01 08:00Z",
           completed="2026-03-02 10:00Z")
    enroll(conn, "CARD-101", "y@example.org", first="+CMD", last="-1", start="2026-03-01 08:00Z",
           completed="2026-03-02 10:00Z")

    files = pars.export_files(pars.build_report(conn, 2026), None, NOW)

    assert csv_rows(files[pars.RECONCILIATION_CSV])[0]["title"] == "'=HYPERLINK(\"http://evil\")"
    assert csv_rows(files[pars.DUPLICATES_CSV])[0]["last_name"] == "'-1"


# --- the command line ---------------------------------------------------------------------------------

def test_cli_writes_every_file_beside_the_activity_file_and_exits_0(conn, tmp_path, capsys):
    out = tmp_path / "pars-2026.xml"

    status = cli.main(["pars-report", "--year", "2026", "--out", str(out)])

    assert status == 0
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted([
        "pars-2026.xml", "pars-2026.ja-activities.xml", "pars-2026.learners.csv", "pars-2026.learners-missing.csv",
        "pars-2026.problems.csv", "pars-2026.reconciliation.csv", "pars-2026.duplicates.csv",
        "pars-2026.reconciliation.json"])
    assert set(uploaded(pars.build_report(conn, 2026))) == {"101", "201", "301"}
    assert etree.fromstring(out.read_bytes()).tag == "ACCMEActivities"
    printed = capsys.readouterr().out
    assert f"3 activities for PARS → {out}" in printed and "0 for JA-PARS" in printed


def test_cli_without_out_prints_the_pars_activity_file(conn, capsysbinary):
    assert cli.main(["pars-report", "--year", "2026"]) == 0

    root = etree.fromstring(capsysbinary.readouterr().out)
    assert len(root) == 3


def test_cli_compares_with_the_last_export_of_the_same_year_in_that_folder(conn, tmp_path):
    out = tmp_path / "pars-2026.xml"
    assert cli.main(["pars-report", "--year", "2026", "--out", str(tmp_path / "pars-2025.xml")]) == 0  # another name
    assert cli.main(["pars-report", "--year", "2026", "--out", str(out)]) == 0
    enroll(conn, "CARD-101", "new@example.org", start="2026-03-01 08:00Z", completed="2026-03-02 10:00Z")

    assert cli.main(["pars-report", "--year", "2026", "--out", str(out)]) == 0

    card = [r for r in csv_rows(out.with_suffix(".reconciliation.csv").read_text()) if r["external_course_id"] == "CARD-101"]
    assert [(r["physicians"], r["change_physicians"], r["change_other_learners"]) for r in card] == [("2", "1", "0")]
    assert json.loads(out.with_suffix(".reconciliation.json").read_text())["activities"][0]["physicians"] == 2


def test_cli_exits_1_naming_activity_field_and_fix_when_an_activity_fails(conn, tmp_path, capsys):
    set_course(conn, "CARD-101", pars_country="US")
    out = tmp_path / "pars.xml"

    status = cli.main(["pars-report", "--year", "2026", "--out", str(out)])

    assert status == 1
    err = capsys.readouterr().err
    assert ("not written: PARS activity 101 (CARD-101 Cardiology Update): Country 'US' is not in ACCME's country "
            "list (ISO 3166-1 alpha-3 codes) (value) — set lms.course.pars_country of CARD-101 to the three-letter "
            "code, e.g. USA, CAN, GBR") in err
    assert "1 activity failed the pre-submission check" in err
    assert "101" not in uploaded(pars.build_report(conn, 2026))
    [problem] = csv_rows(out.with_suffix(".problems.csv").read_text())
    assert (problem["provider_activity_id"], problem["field"], problem["stage"]) == ("101", "Country", "value")


def test_cli_bad_year_is_a_usage_error(conn, capsys):
    assert cli.main(["pars-report", "--year", "26"]) == 2
    assert "four digits" in capsys.readouterr().err
