"""The rules as Great Expectations suites and the issues they turn into.

The corpus (test_corpus.py) proves each rule fires on its minimal file. These tests check the
suites themselves (every rule has a home, every expectation carries the meta the reports need,
GX keeps every expectation) and what a person reads: line, column, quoted value, fix, rule.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from include.course_records import settings, validate
from include.course_records.check import REJECTED, check_file
from include.course_records.issues import quoted
from include.course_records.record_format import COLUMNS
from include.course_records.target import resolve_target
from tests.conftest import REPO

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
SOURCES = REPO / "include" / "course_records"
SUITE_FILES = sorted(settings.EXPECTATIONS_DIR.glob("*.json"))

# The rule ids (contract): id → (severity, level). F06 is neither error nor warning.
RULES: dict[str, tuple[str, str]] = {
    **{f"F0{i}": ("error", "file") for i in (1, 2, 3, 4, 5, 7)},
    "F06": ("info", "file"),
    **{f"R{i:02d}": ("error", "row") for i in range(1, 15)},
    **{f"W0{i}": ("warning", "row") for i in (1, 2, 3, 5)},
    "W04": ("warning", "file"),
}
HEADER = ("external_email,first_name,last_name,enrollment_start,complete,date_completed,credits,credit_type,"
          "participant_category\n")
GOOD_ROW = "{who}@example.org,Pat,Lee,2026-05-04,1,2026-05-05,2.00,ama_pra_1,physician\n"


def expectations() -> list[tuple[str, dict]]:
    """Every expectation in expectations/*.json, with the file it lives in."""
    return [(path.name, expectation) for path in SUITE_FILES
            for expectation in json.loads(path.read_text(encoding="utf-8"))["expectations"]]


def check(text: str | bytes, conn, path: str = "course/CARD-101/test.csv"):
    data = text.encode("utf-8") if isinstance(text, str) else text
    return check_file(data, resolve_target(path), conn, now=NOW)


def test_the_rule_list_is_the_rulebooks():
    from include.course_records import rulebook

    assert {rule: (r.severity, r.level) for rule, r in rulebook.RULES.items()} == RULES


def test_every_rule_lives_in_a_suite_or_in_the_reader_or_the_check():
    in_suites = {expectation["meta"]["rule"] for _, expectation in expectations()}
    in_code = {rule for name in ("reader.py", "check.py")
               for rule in re.findall(r'"([FRW]\d\d)"', (SOURCES / name).read_text(encoding="utf-8"))}

    assert set(RULES) - (in_suites | in_code) == set()
    # Row rules and warnings are the suites' alone (every rule is encoded as GX expectations,
    # except what cannot be: bytes, delimiter, quoting, and the ledger look-up of F06).
    assert {rule for rule in RULES if rule[0] in "RW"} <= in_suites
    assert in_code - in_suites <= {"F01", "F04", "F05", "F06"}
    assert in_suites | in_code <= set(RULES), "a rule id the rulebook does not know"


@pytest.mark.parametrize(("suite", "expectation"), expectations(),
                         ids=[f"{name}:{e['meta'].get('rule')}:{e['type']}" for name, e in expectations()])
def test_every_expectation_carries_rule_severity_level_message_and_fix(suite, expectation):
    meta = expectation["meta"]

    assert meta["rule"] in RULES
    assert meta["severity"] in {"error", "warning"}
    assert (meta["severity"], meta["level"]) == RULES[meta["rule"]], "severity/level differ from the rulebook"
    for key in ("message", "fix"):
        assert isinstance(meta[key], str) and meta[key].strip() == meta[key] and meta[key], key
        assert not meta[key].endswith("."), f"{key} is joined into a sentence: no full stop"
    assert f"({meta['rule']})" not in meta["message"] + meta["fix"], "the rule id is added by validate.py"
    reported = meta.get("column") or expectation["kwargs"].get("column")
    if suite.startswith("rows") and reported and not reported.startswith("_"):
        assert reported in COLUMNS, "an issue must name a column of the file format"


@pytest.mark.parametrize("path", SUITE_FILES, ids=[p.name for p in SUITE_FILES])
def test_each_suite_file_loads_whole_as_gx(path):
    import great_expectations as gx

    definition = json.loads(path.read_text(encoding="utf-8"))

    suite = gx.ExpectationSuite(**definition)

    assert len(suite.expectations) == len(definition["expectations"])  # GX drops bad ones, only logging
    kept = sorted((e.expectation_type, e.meta["rule"], e.meta["message"]) for e in suite.expectations)
    written = sorted((e["type"], e["meta"]["rule"], e["meta"]["message"]) for e in definition["expectations"])
    assert kept == written


@pytest.mark.parametrize(("importer", "kind"), [(i, k) for i in validate.SUITES for k in ("header", "rows")])
def test_the_merged_suites_the_check_runs_load_whole_as_gx(importer, kind):
    import great_expectations as gx

    definition = validate.suite_definition(validate.SUITES[importer][kind])

    assert len(gx.ExpectationSuite(**definition).expectations) == len(definition["expectations"]) > 0


def test_r06_message_names_line_column_value_fix_and_rule(conn):
    text = (HEADER + "".join(GOOD_ROW.format(who=f"p{n}") for n in range(5))
            + "grace@example.org,Grace,Hopper,2026-05-04,0,,2.00,ama_pra_1,physician\n")  # line 7

    result = check(text, conn)

    assert result.status == REJECTED
    assert [(i.line, i.column, i.rule, i.severity, i.message) for i in result.issues] == [
        (7, "credits", "R06", "error",
         'line 7, credits: "2.00" on a record that is not complete (complete=0) — remove the credits '
         "or mark the record complete with date_completed (R06)"),
    ]


# One row per rule: (the row after the header, the column the issue names, the value as the file has it)
ROW_CASES = {
    "R01": ("w@example.org,Pat\u00a0Q,Lee,2026-05-04,1,2026-05-05,2.00,ama_pra_1,physician", "first_name",
            "Pat\u00a0Q"),
    "R02": ("not-an-email,Pat,Lee,2026-05-04,1,2026-05-05,2.00,ama_pra_1,physician", "external_email",
            "not-an-email"),
    "R04": ("x@example.org,Pat,Lee,2026-05-04,1,2026-05-05,2.00,ama_pra_1,doctor", "participant_category",
            "doctor"),
    "R05": ("y@example.org,Pat,Lee,04/05/2026,1,2026-05-05,2.00,ama_pra_1,physician", "enrollment_start",
            "04/05/2026"),
    "R07": ("z@example.org,Pat,Lee,2026-05-04,1,2026-05-05,2.00,cme_points,physician", "credit_type",
            "cme_points"),
    "R08": ("v@example.org,Pat,Lee,2026-05-04,1,2026-05-05,2.00,ama_pra_1|ancc,physician", "credit_type",
            "ama_pra_1|ancc"),
    "W05": ("u@example.org,Pat,  Lee ,2026-05-04,1,2026-05-05,2.00,ama_pra_1,physician", "last_name",
            "  Lee "),
}


def metas_of(rule: str) -> list[dict]:
    return [e["meta"] for _, e in expectations() if e["meta"]["rule"] == rule]


def test_row_messages_name_line_column_quoted_value_fix_and_rule(conn):
    rules = list(ROW_CASES)
    text = HEADER + GOOD_ROW.format(who="ok") + "".join(row + "\n" for row, _, _ in ROW_CASES.values())

    result = check(text, conn)

    found = {(i.rule, i.line): i for i in result.issues}
    assert set(found) == {(rule, line) for line, rule in enumerate(rules, start=3)}
    for line, rule in enumerate(rules, start=3):
        _, column, value = ROW_CASES[rule]
        issue = found[(rule, line)]
        assert issue.column == column
        assert issue.message in {f"line {line}, {column}: {quoted(value)} {meta['message']} — {meta['fix']} ({rule})"
                                 for meta in metas_of(rule)}, issue.message
    # invisible characters are shown, not printed
    assert '"Pat\\xa0Q"' in found[("R01", 3)].message


def test_a_blank_required_value_is_named_without_a_quoted_value(conn):
    text = HEADER + "new@example.org,,Lee,2026-05-04,1,2026-05-05,2.00,ama_pra_1,physician\n"

    [issue] = check(text, conn).issues

    assert issue.message == ("line 2, first_name is blank for a learner not yet in the LMS, who would be created "
                             "from this row — give the learner's first name (R12)")


def test_header_messages_quote_the_header_and_name_its_position(conn):
    result = check("external_email,first_name, last_name,nickname\nada@example.org,Ada,Lovelace,A\n", conn)

    assert [(i.line, i.column, i.rule, i.message) for i in result.issues] == [
        (1, " last_name", "F02",
         'line 1, header " last_name" (column 3): header has leading, trailing or double spaces, or an invisible '
         "character (tab, non-breaking space, zero-width, control, U+FFFD or a BOM) — retype the header name "
         "exactly as documented, lower case, no spaces (F02)"),
        (1, "nickname", "F03",
         'line 1, header "nickname" (column 4): is not a known column — rename or remove the column; the known '
         "columns are listed in docs/file-format.md (F03)"),
    ]


def test_a_missing_required_column_is_named(conn):
    [issue] = check("first_name,last_name\nAda,Lovelace\n", conn).issues

    assert (issue.line, issue.rule) == (1, "F03")
    assert issue.message == ("line 1: the file has neither an external_user_id nor an external_email column — add "
                             "the column that names the learner: external_email, external_user_id or both (F03)")


def test_global_importer_names_both_missing_required_columns(conn):
    result = check("first_name\nAda\n", conn, path="global/test.csv")

    assert {i.message for i in result.issues} >= {
        "line 1: the file has neither an external_user_id nor an external_email column — add the column that names "
        "the learner: external_email, external_user_id or both (F03)",
        "line 1: a required column is missing: external_course_id — add the external_course_id column: the global "
        "importer needs the course of every row (F03)",
    }


def test_issues_keep_the_files_line_numbers_past_blank_lines_and_multiline_values(conn):
    text = (HEADER + GOOD_ROW.format(who="a")  # line 2
            + "\n"  # line 3
            + 'b@example.org,"Pat\nB",Lee,2026-05-04,1,2026-05-05,2.00,ama_pra_1,physician\n'  # lines 4-5 (R01: \n)
            + "grace@example.org,Grace,Hopper,2026-05-04,0,,2.00,ama_pra_1,physician\n")  # line 6

    result = check(text, conn)

    assert {(i.rule, i.line) for i in result.issues} == {("R01", 4), ("R06", 6)}


def test_a_file_level_row_finding_is_reported_once(conn):
    text = HEADER + GOOD_ROW.format(who="a") + GOOD_ROW.format(who="b")

    result = check(text, conn, path="course/NOPE-999/test.csv")

    assert [(i.rule, i.line) for i in result.issues] == [("F07", 2)]
    assert result.issues[0].message.startswith('line 2: "NOPE-999" is not a course in the LMS')


def test_unit_separator_in_a_value_is_r01(conn):
    text = HEADER + "z@example.org,Pat\x1fQ,Lee,2026-05-04,1,2026-05-05,2.00,ama_pra_1,physician\n"

    result = check(text, conn)

    assert [(i.rule, i.line, i.column) for i in result.issues] == [("R01", 2, "first_name")]


def test_suite_files_are_the_ones_the_check_runs():
    used = {part for kinds in validate.SUITES.values() for parts in kinds.values() for part in parts}

    assert used == {Path(p).stem for p in SUITE_FILES}


# --- messages that point at what to fix ---------------------------------------------------------

def errors_of(result, rule: str) -> list[str]:
    return [i.message for i in result.issues if i.rule == rule]


def test_r09_names_the_other_line(conn):
    text = (HEADER + GOOD_ROW.format(who="a") + GOOD_ROW.format(who="b")  # lines 2, 3
            + GOOD_ROW.format(who="a"))  # line 4 repeats line 2

    messages = errors_of(check(text, conn), "R09")

    assert [m.split(":")[0] for m in messages] == ["line 2, credit_type", "line 4, credit_type"]
    assert "(see line 4)" in messages[0] and "(see line 2)" in messages[1]


def test_r10_names_the_columns_that_disagree(conn):
    text = (HEADER + "a@example.org,Pat,Lee,2026-05-04,1,2026-05-05,2.00,ama_pra_1,physician\n"
            + "a@example.org,Pat,Lee,2026-05-03,1,2026-05-05,1.00,ancc,other\n")

    messages = errors_of(check(text, conn), "R10")

    assert len(messages) == 2
    assert all("(they differ in enrollment_start, participant_category)" in m for m in messages)


def test_r13_says_what_the_lms_holds(conn):
    text = HEADER + "ada@example.org,Ada,Lovelace,2026-03-05,1,2026-03-06,2.00,ama_pra_1,physician\n"

    [message] = errors_of(check(text, conn), "R13")

    assert ("(the LMS holds enrollment_start 2026-03-01 (this row: 2026-03-05); "
            "date_completed 2026-03-02 (this row: 2026-03-06))") in message


def test_r14_says_what_the_lms_holds_or_that_it_holds_none(conn):
    text = (HEADER + "ada@example.org,Ada,Lovelace,2026-03-01,1,2026-03-02,1.00,ama_pra_1,physician\n"
            + "ada@example.org,Ada,Lovelace,2026-03-01,1,2026-03-02,1.00,ancc,physician\n")

    messages = errors_of(check(text, conn), "R14")

    assert "(the LMS holds ama_pra_1 2.00)" in messages[0]
    assert "(the LMS holds no ancc credit record on this enrollment)" in messages[1]


def test_more_than_a_fixed_maximum_is_over_the_maximum_not_partial(conn):
    text = HEADER + GOOD_ROW.format(who="a").replace("2.00,ama_pra_1", "3.00,ama_pra_1")

    [message] = errors_of(check(text, conn), "R07")

    assert "more than the course's maximum" in message and "partial" not in message


def test_a_course_level_file_into_an_imported_shell_is_f07(conn):
    with conn.cursor() as cur:
        cur.execute("INSERT INTO lms.course (external_course_id, title, is_imported_shell)"
                    " VALUES ('OLD-1', 'Old', true)")
    conn.commit()

    result = check(HEADER + GOOD_ROW.format(who="a").replace("2.00,ama_pra_1", "99.00,ama_pra_1"), conn,
                   path="course/OLD-1/x.csv")

    assert result.status == REJECTED
    assert [(i.rule, i.line) for i in result.issues if i.is_error] == [("F07", 2)]
    assert "imported course shell" in result.issues[0].message
