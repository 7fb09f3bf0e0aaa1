"""Every rule fires on its minimal example at the right line; the demo files raise none."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from include.course_records.check import ACCEPTED, REJECTED, check_file
from include.course_records.target import resolve_target
from tests.conftest import REPO

CORPUS = REPO / "tests" / "corpus"
EXPECTED: dict[str, list[list]] = json.loads((CORPUS / "expected.json").read_text())
NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def check(path: str, base=CORPUS, **options):
    """Check a corpus file; a `<name>.setup.sql` beside it first puts what it needs in the LMS."""
    conn = options.pop("conn")
    setup = (base / path).with_suffix(".setup.sql")
    if setup.exists():
        with conn.cursor() as cur:
            cur.execute(setup.read_text())
        conn.commit()
    return check_file((base / path).read_bytes(), resolve_target(path), conn, now=NOW, **options)


@pytest.mark.parametrize("path", sorted(EXPECTED))
def test_rule_fires_at_its_line(path, conn):
    result = check(path, conn=conn)

    found = {(i.rule, i.line) for i in result.issues}
    for rule, line in EXPECTED[path]:
        assert (rule, line) in found, f"{path}: expected {rule} at line {line}, got {sorted(found)}"
    is_warning = all(rule.startswith("W") for rule, _ in EXPECTED[path])
    assert result.status == (ACCEPTED if is_warning else REJECTED)
    for issue in result.issues:
        assert f"({issue.rule})" in issue.message and f"line {issue.line}" in issue.message


@pytest.mark.parametrize("path", ["course/CARD-101/card-101-2026.csv", "global/legacy-history.csv"])
def test_demo_files_raise_no_error(path, conn):
    result = check(path, base=REPO / "demo", conn=conn)

    assert result.status == ACCEPTED
    assert [i for i in result.issues if i.rule.startswith(("F", "R"))] == []


def test_the_corpus_covers_every_rule_but_f06():
    from include.course_records.rulebook import RULES

    covered = {rule for expected in EXPECTED.values() for rule, _ in expected}
    assert set(RULES) - covered == {"F06"}, "F06 (same bytes again) is covered in the import DAG tests"


def test_load_valid_rows_rejects_whole_enrollments(conn):
    header = "external_email,first_name,last_name,enrollment_start,complete,date_completed,credits,credit_type,participant_category\n"
    data = (header
            + "ann@example.org,Ann,Lee,2026-05-04,1,2026-05-05,2.00,ama_pra_1,physician\n"
            + "ann@example.org,Ann,Lee,2026-05-04,1,2026-05-05,9.00,ancc,physician\n"
            + "bo@example.org,Bo,Ek,2026-05-04,1,2026-05-05,2.00,ama_pra_1,other\n").encode()
    target = resolve_target("course/CARD-101/mixed.csv")

    strict = check_file(data, target, conn, now=NOW)
    lenient = check_file(data, target, conn, now=NOW, load_valid_rows=True)

    assert strict.status == REJECTED and strict.counts()["rejected"] == 1
    assert lenient.status == ACCEPTED
    assert lenient.rejected_lines == {2, 3}  # Ann's two rows stand or fall together
    assert list(lenient.loadable["_line"]) == [4]
