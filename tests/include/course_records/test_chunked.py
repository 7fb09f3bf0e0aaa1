"""The chunked check (large files, bounded memory) finds and loads exactly what the whole-file check does.

Every corpus file, the demo files, files built to straddle chunk boundaries, and the generated
files (Hypothesis) are checked both ways: whole, and forced into chunks of a few rows (so that
chunk boundaries cut through enrollments, repeated credit types and learner pairings). Both must
give the same status, issues (line, column, rule, message), counts, rejected lines, summary,
rejects.csv bytes, and the same rows staged for the LMS and loaded by it.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings

from include.course_records import db
from include.course_records.check import ACCEPTED, check_file
from include.course_records.load import load_batch, stage_result, stage_table
from include.course_records.report import rejects_csv, summary, summary_json
from include.course_records.target import resolve_target
from tests.conftest import LMS_TABLES, REPO
from tests.strategies.course_files import landing_files

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
CORPUS = REPO / "tests" / "corpus"
EXPECTED = sorted(json.loads((CORPUS / "expected.json").read_text()))
DEMO = [("demo", "course/CARD-101/card-101-2026.csv"), ("demo", "global/legacy-history.csv")]
COUNTED = ("lms.learner", "lms.course", "lms.enrollment", "lms.credit_record", "course_import.held_record")
GENERATED = settings(max_examples=int(os.environ.get("CHUNKED_EXAMPLES", "30")), derandomize=True, deadline=None,
                     suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                            HealthCheck.function_scoped_fixture])


def reset(conn, setup: str | None = None) -> None:
    with db.transaction(conn) as cur:
        cur.execute(f"TRUNCATE {', '.join(LMS_TABLES)} RESTART IDENTITY CASCADE")
    db.load_demo_catalogue(conn)
    if setup:
        with db.transaction(conn) as cur:
            cur.execute(setup)


def outcome(result) -> dict:
    document = summary(result, file="f.csv")
    return {"status": result.status, "summary": summary_json(document).decode(),
            "issues": [(i.line, i.column, i.rule, i.severity, i.message) for i in result.issues],
            "counts": result.counts(), "rejected": sorted(result.rejected_lines),
            "rejects": rejects_csv(result)}


def loaded(conn, result, importer: str) -> dict:
    """Stage and load what the check accepted: the staged rows (by line) and what the LMS gained."""
    if result.status != ACCEPTED:
        return {}
    staged = stage_result(conn, "eq", result)
    with conn.cursor() as cur:
        cur.execute(f"SELECT * FROM {stage_table('eq').as_string(cur)} ORDER BY line")
        rows = [tuple(str(v) for v in row) for row in cur.fetchall()]
    conn.rollback()
    created = load_batch(conn, "eq", importer, lock_holder=lambda: None, after_load=lambda cur, c: None)
    with conn.cursor() as cur:
        cur.execute("SELECT " + ", ".join(f"(SELECT count(*) FROM {t})" for t in COUNTED))
        counts = cur.fetchone()
        cur.execute("SELECT l.external_user_id, lower(l.email), c.external_course_id, e.complete, e.date_completed,"
                    " t.machine_name, r.credits FROM lms.enrollment e JOIN lms.learner l ON l.id = e.learner_id"
                    " JOIN lms.course c ON c.id = e.course_id LEFT JOIN lms.credit_record r ON r.enrollment_id = e.id"
                    " LEFT JOIN lms.credit_type t ON t.id = r.credit_type_id ORDER BY 1, 2, 3, 6")
        records = cur.fetchall()
    conn.rollback()
    return {"staged": staged, "rows": rows, "created": created.as_dict(), "counts": counts, "records": records}


def both_ways(conn, data: bytes, path: str, setup: str | None = None, chunk_rows: int = 3, **options) -> dict:
    target = resolve_target(path)
    reset(conn, setup)
    whole = check_file(data, target, conn, now=NOW, **options)
    expected = outcome(whole)
    expected_load = loaded(conn, whole, target.importer)
    reset(conn, setup)
    chunked = check_file(data, target, conn, now=NOW, chunk_threshold=0, chunk_rows=chunk_rows, spool=True,
                         **options)
    got = outcome(chunked)
    assert got == expected, path
    assert loaded(conn, chunked, target.importer) == expected_load, path
    return {"whole": whole, "chunked": chunked}


def _setup(path) -> str | None:
    setup = path.with_suffix(".setup.sql")
    return setup.read_text() if setup.exists() else None


@pytest.mark.parametrize("load_valid_rows", [False, True], ids=["all-or-nothing", "load-valid-rows"])
@pytest.mark.parametrize("path", EXPECTED)
def test_corpus_files_check_the_same_in_chunks(path, load_valid_rows, conn):
    file = CORPUS / path
    both_ways(conn, file.read_bytes(), path, _setup(file), load_valid_rows=load_valid_rows)


@pytest.mark.parametrize("chunk_rows", [1, 2, 3, 5])
@pytest.mark.parametrize(("base", "path"), DEMO)
def test_demo_files_check_and_load_the_same_in_chunks(base, path, chunk_rows, conn):
    run = both_ways(conn, (REPO / base / path).read_bytes(), path, chunk_rows=chunk_rows)
    assert run["chunked"].chunked is not None, "the chunked check ran (it did not fall back to the whole file)"


HEADER = ("external_course_id,title,external_user_id,external_email,first_name,last_name,enrollment_start,"
          "complete,date_completed,credits,credit_type,participant_category\n")
ACROSS_CHUNKS = HEADER + "".join([
    # ann: two rows of one enrollment, far apart; her second row repeats a credit type (R09)
    "CARD-101,,u-ann,ann@example.org,Ann,Lee,2026-05-04,1,2026-05-05,1.00,ama_pra_1,physician\n",
    "LEG-1,Legacy one,,bo@example.org,Bo,Ek,2024-01-02,1,2024-01-03,,,other\n",  # bo by email only first
    "LEG-1,Legacy one,u-cy,cy@example.org,Cy,Ng,2024-01-02,1,2024-01-03,,,other\n",
    "LEG-2,Legacy two,u-bo,bo@example.org,Bo,Ek,2024-02-02,1,2024-02-03,,,other\n",  # pairs bo's email with u-bo
    "LEG-2,Legacy two,u-bo,,Bo,Ek,2024-02-02,1,2024-02-04,,,other\n",  # R10: same enrollment, other date
    "CARD-101,,u-ann,ann@example.org,Ann,Lee,2026-05-04,1,2026-05-05,1.00,ama_pra_1,physician\n",
    "LEG-3,Legacy three,u-dee,dee@example.org,Dee,Ox,2024-03-02,1,2024-03-03,,,other\n",
    "LEG-3,Legacy three,u-dee,dee2@example.org,Dee,Ox,2024-03-02,1,2024-03-03,,,other\n",  # R02: two emails
    "LEG-4,Legacy four,,ed@example.org,Ed,Po,2024-04-02,1,2024-04-03,,,other\n",
    "LEG-4,Legacy four,u-ed,ed@example.org,Ed,Po,2024-04-02,1,2024-04-03,,,other\n",
    "LEG-1,Legacy one,u-fay,fay@example.org,Fay,Qi,2024-01-02,1,2024-01-03,,,other\n",
    "CARD-101,,u-ann,ann@example.org,Ann,Lee,2026-05-04,1,2026-05-05,2.00,ancc,physician\n",
])


@pytest.mark.parametrize("load_valid_rows", [False, True], ids=["all-or-nothing", "load-valid-rows"])
@pytest.mark.parametrize("chunk_rows", [1, 2, 3, 4, 7])
def test_cross_row_rules_across_chunk_boundaries(chunk_rows, load_valid_rows, conn):
    run = both_ways(conn, ACROSS_CHUNKS.encode(), "global/across.csv", chunk_rows=chunk_rows,
                    load_valid_rows=load_valid_rows)
    rules = {i.rule for i in run["chunked"].issues}
    assert {"R02", "R09", "R10"} <= rules
    if load_valid_rows:
        assert run["chunked"].counts()["valid"] > 0


def test_valid_file_in_chunks_loads_like_the_whole(conn):
    rows = "".join(f"LEG-{n % 3},Legacy {n % 3},u{n % 5},l{n % 5}@example.org,F{n % 5},L{n % 5},2024-0{1 + n % 3}-02,1,"
                   f"2024-0{1 + n % 3}-03,1.00,{('ama_pra_1', 'ancc', 'acpe')[n // 15]},other\n" for n in range(45))
    run = both_ways(conn, (HEADER + rows).encode(), "global/valid.csv", chunk_rows=4)
    assert run["chunked"].status == ACCEPTED and run["chunked"].counts()["valid"] == 45


def test_a_large_file_read_from_its_path(tmp_path, conn):
    """The path is streamed (never read whole) and gives what the bytes give."""
    data = (REPO / "demo" / "global" / "legacy-history.csv").read_bytes()
    file = tmp_path / "legacy.csv"
    file.write_bytes(data)
    target = resolve_target("global/legacy.csv")
    reset(conn)
    whole = outcome(check_file(data, target, conn, now=NOW))
    from_path = check_file(file, target, conn, now=NOW, chunk_threshold=0, chunk_rows=2)
    assert from_path.chunked is not None and outcome(from_path) == whole


@GENERATED
@given(drawn=landing_files())
def test_generated_files_check_the_same_in_chunks(drawn, conn):
    both_ways(conn, drawn.data, drawn.path, chunk_rows=3, load_valid_rows=drawn.load_valid_rows,
              missing_learners=drawn.missing_learners, assign_immediately=drawn.assign_immediately)
