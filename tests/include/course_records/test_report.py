"""The reports a run leaves: summary.json (its shape is the contract) and rejects.csv."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from datetime import UTC, datetime

import pytest

from include.course_records import report
from include.course_records.check import ACCEPTED, REJECTED, check_file
from include.course_records.target import resolve_target
from tests.conftest import REPO

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
HEADER = ("external_email,first_name,last_name,enrollment_start,complete,date_completed,credits,credit_type,"
          "participant_category\n")
SUMMARY_KEYS = {"file", "sha256", "importer", "course", "status", "rows", "issues", "created"}
ROW_COUNTS = {"total", "valid", "rejected", "skipped_identical"}
ISSUE_KEYS = {"line", "column", "rule", "severity", "message"}
CREATED = {"learners", "courses", "enrollments", "credit_records", "held_records"}


def check(data: bytes | str, conn, path: str = "course/CARD-101/test.csv"):
    data = data.encode("utf-8") if isinstance(data, str) else data
    return check_file(data, resolve_target(path), conn, now=NOW)


def rejects(result) -> list[list[str]]:
    return list(csv.reader(io.StringIO(report.rejects_csv(result).decode("utf-8"))))


def assert_contract_shape(document: dict) -> None:
    assert set(document) == SUMMARY_KEYS
    assert isinstance(document["file"], str)
    assert len(document["sha256"]) == 64 and int(document["sha256"], 16) >= 0
    assert document["importer"] in {"course", "global"}
    assert document["course"] is None or isinstance(document["course"], str)
    assert document["status"] in {"accepted", "rejected", "loaded", "duplicate_file", "locked"}
    assert set(document["rows"]) == ROW_COUNTS
    assert all(type(v) is int and v >= 0 for v in document["rows"].values())
    rows = document["rows"]
    assert rows["valid"] + rows["rejected"] == rows["total"]
    assert set(document["created"]) == CREATED
    assert all(type(v) is int for v in document["created"].values())
    for issue in document["issues"]:
        assert set(issue) == ISSUE_KEYS
        assert type(issue["line"]) is int and issue["line"] >= 1
        assert issue["column"] is None or isinstance(issue["column"], str)
        assert issue["severity"] in {"error", "warning", "info"}
        assert isinstance(issue["rule"], str) and isinstance(issue["message"], str)


def test_summary_of_a_rejected_file_has_exactly_the_contract_shape(conn):
    data = (HEADER + "grace@example.org,Grace,Hopper,2026-05-04,0,,2.00,ama_pra_1,physician\n"
            + "new@example.org,Ann,Lee,2026-05-04,1,2026-05-05,2.00,ama_pra_1,\n").encode()
    result = check(data, conn)

    document = report.summary(result, file="course/CARD-101/test.csv")

    assert_contract_shape(document)
    assert {k: document[k] for k in ("file", "sha256", "importer", "course", "status")} == {
        "file": "course/CARD-101/test.csv", "sha256": hashlib.sha256(data).hexdigest(), "importer": "course",
        "course": "CARD-101", "status": "rejected"}
    assert document["rows"] == {"total": 2, "valid": 1, "rejected": 1, "skipped_identical": 0}
    assert [(i["line"], i["column"], i["rule"], i["severity"]) for i in document["issues"]] == [
        (2, "credits", "R06", "error"), (3, "participant_category", "W03", "warning")]
    assert document["created"] == {"learners": 0, "courses": 0, "enrollments": 0, "credit_records": 0, "held_records": 0}


def test_summary_status_and_created_can_be_given_by_the_load(conn):
    result = check((REPO / "demo/course/CARD-101/card-101-2026.csv").read_bytes(), conn)
    created = {"learners": 2, "courses": 0, "enrollments": 3, "credit_records": 4, "held_records": 0}

    document = report.summary(result, file="course/CARD-101/card-101-2026.csv", status="loaded", created=created)

    assert_contract_shape(document)
    assert document["status"] == "loaded"
    assert document["created"] == created
    assert document["rows"] == {"total": 4, "valid": 4, "rejected": 0, "skipped_identical": 0}
    assert document["issues"] == []


def test_summary_of_an_unreadable_file_has_the_file_level_issue_on_its_line(conn):
    result = check(HEADER + "a@example.org,A,B,2026-05-04,1,2026-05-05,2.00,ama_pra_1,physician\n"
                   + "b@example.org,A,B,2026-05-04,1,2026-05-05,2.00,ama_pra_1,physician,extra\n", conn)

    document = report.summary(result, file="x.csv")

    assert_contract_shape(document)
    assert document["status"] == "rejected"
    assert [(i["line"], i["column"], i["rule"]) for i in document["issues"]] == [(3, None, "F04")]


def test_rows_total_counts_data_lines_when_the_header_is_rejected(conn):
    result = check("external_email,nickname\na@example.org,A\nb@example.org,B\n", conn)

    document = report.summary(result, file="x.csv")

    assert document["status"] == "rejected"
    assert document["rows"] == {"total": 2, "valid": 0, "rejected": 2, "skipped_identical": 0}


def test_summary_json_is_utf8_and_round_trips(conn):
    result = check(HEADER + "zoë@example.org,Zoë,Ek,2026-05-04,yes,2026-05-05,2.00,ama_pra_1,physician\n", conn)
    document = report.summary(result, file="course/CARD-101/zoë.csv")

    raw = report.summary_json(document)

    assert raw.endswith(b"\n")
    assert "zoë.csv".encode() in raw  # written as UTF-8, not \u escapes
    assert json.loads(raw.decode("utf-8")) == document


@pytest.mark.parametrize("prefix", ["=", "+", "-", "@", "\t", "\r"])
def test_spreadsheet_safe_neutralises_formula_prefixes(prefix):
    assert report.spreadsheet_safe(prefix + "1+1") == "'" + prefix + "1+1"


@pytest.mark.parametrize("value", ["", "1+1", " =1", "a=b", "'quoted", "ada@example.org", 7, None])
def test_spreadsheet_safe_leaves_other_values_alone(value):
    assert report.spreadsheet_safe(value) == ("" if value is None else str(value))


def test_rejects_csv_neutralises_formulas_in_the_files_values(conn):
    data = ("external_email,first_name,last_name,external_user_id,credit_type,complete\n"
            'a@example.org,"=HYPERLINK(""http://evil.example"",""x"")",+1,-2,@SUM(A1),yes\n'
            'b@example.org,"\tTab",Lee,U9,ancc,yes\n')
    result = check(data, conn)

    table = rejects(result)

    assert table[0] == ["line", "column", "rule", "severity", "message",
                        "external_email", "first_name", "last_name", "external_user_id", "credit_type", "complete"]
    by_line = {row[0]: row for row in table[1:]}
    assert by_line["2"][5:] == ["a@example.org", "'=HYPERLINK(\"http://evil.example\",\"x\")", "'+1", "'-2",
                                "'@SUM(A1)", "yes"]
    assert by_line["3"][5:7] == ["b@example.org", "'\tTab"]
    for row in table[1:]:
        assert not any(value.startswith(("=", "+", "-", "@", "\t", "\r")) for value in row)


def test_rejects_csv_with_a_carriage_return_in_a_value_stays_one_row(conn):
    data = 'external_email,first_name,complete\nb@example.org,"\rCarriage",yes\n'
    result = check(data, conn)

    table = rejects(result)

    assert [row[2] for row in table[1:]] == ["R01", "R04", "R12"]  # R12: no last_name for a new learner
    assert [row[5:] for row in table[1:]] == [["b@example.org", "'\rCarriage", "yes"]] * 3


def test_rejects_csv_has_one_line_per_error_with_the_row_as_the_file_has_it(conn):
    data = (HEADER
            + "ok@example.org,Ok,Fine,2026-05-04,1,2026-05-05,2.00,ama_pra_1,physician\n"  # 2: no issue
            + "  grace@example.org , Grace,Hopper  ,2026-05-04,0,,2.00,ama_pra_1,physician\n"  # 3: R06 + W05
            + "y@example.org,Pat,Lee,2026-05-04,1,2026-05-05,3.00,ama_pra_1,physician\n"  # 4: R07 twice
            + "w@example.org,Pat,Lee,2026-05-04,1,2026-05-05,2.00,ama_pra_1,\n")  # 5: W03 only
    result = check(data, conn)

    table = rejects(result)

    assert table[0] == ["line", "column", "rule", "severity", "message", *HEADER.strip().split(",")]
    body = table[1:]
    assert [(r[0], r[1], r[2], r[3]) for r in body] == [
        ("3", "credits", "R06", "error"), ("4", "credits", "R07", "error")]  # over the maximum, not "partial"
    issues = {(i.line, i.message) for i in result.issues if i.severity == "error"}
    assert {(int(r[0]), r[4]) for r in body} == issues
    assert body[0][5:] == ["  grace@example.org ", " Grace", "Hopper  ", "2026-05-04", "0", "", "2.00", "ama_pra_1",
                           "physician"]  # untrimmed, blank stays blank
    assert body[1][5:] == data.splitlines()[3].split(",")


def test_rejects_csv_of_an_accepted_file_is_the_header_line_only(conn):
    result = check((REPO / "demo/course/CARD-101/card-101-2026.csv").read_bytes(), conn)

    assert result.status == ACCEPTED
    assert rejects(result) == [["line", "column", "rule", "severity", "message",
                                *(REPO / "demo/course/CARD-101/card-101-2026.csv").read_text().splitlines()[0].split(",")]]


def test_rejects_csv_of_an_unreadable_file_lists_the_file_level_error(conn):
    result = check(b"external_email;first_name\na@example.org;A\n", conn)

    assert result.status == REJECTED
    [header, row] = rejects(result)
    assert header == ["line", "column", "rule", "severity", "message"]
    assert row[:4] == ["1", "", "F04", "error"]


def test_rejects_csv_keeps_the_files_own_column_names(conn):
    result = check("external_mail,first_name,last_name,complete\nada@example.org,Ada,Lovelace,yes\n", conn)

    assert rejects(result)[0][5:] == ["external_mail", "first_name", "last_name", "complete"]
