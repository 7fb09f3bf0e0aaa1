"""Generated files (Hypothesis): what validation accepts, the database must take.

For every drawn file (tests/strategies/course_files.py), on the real PostgreSQL:

1. the check ends in accepted, rejected or duplicate_file — never an exception;
2. accepted ⇒ the staged rows load without error, the LMS gains exactly what `created` says,
   and checking the same bytes again finds every loaded row identical to the LMS;
3. rejected ⇒ nothing is loadable; with load_valid_rows only whole valid enrollments load, and
   every line not loaded is named in rejects.csv;
4. so no load fails on something a check could have known (which would lock the importer);
5. every issue names a real line of the file and its rule, the reports can be written, and no
   value of the file reaches a Data Docs page as markup.

The CI profile runs a fixed number of examples from a fixed seed; `make fuzz` runs the long
profile (HYPOTHESIS_PROFILE=fuzz, FUZZ_EXAMPLES, default 20,000) and prints how many ran. A
failure Hypothesis shrinks becomes a file under tests/corpus/generated/, replayed here first.
"""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

from include.course_records import db
from include.course_records.check import ACCEPTED, DUPLICATE, REJECTED, check_file
from include.course_records.load import load_batch, stage_rows
from include.course_records.report import rejects_csv, summary, summary_json
from include.course_records.target import resolve_target
from tests.conftest import LMS_TABLES, REPO
from tests.strategies.course_files import Drawn, landing_files

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
COUNTED = {"learners": "lms.learner", "courses": "lms.course", "enrollments": "lms.enrollment",
           "credit_records": "lms.credit_record", "held_records": "course_import.held_record"}
PINNED = REPO / "tests" / "corpus" / "generated"

settings.register_profile("ci", max_examples=int(os.environ.get("FUZZ_EXAMPLES", "30")), derandomize=True,
                          deadline=None, print_blob=True,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                                 HealthCheck.function_scoped_fixture])
settings.register_profile("fuzz", max_examples=int(os.environ.get("FUZZ_EXAMPLES", "20000")), derandomize=False,
                          deadline=None, print_blob=True,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                                 HealthCheck.function_scoped_fixture])
PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "ci")

_ran = {"examples": 0, "accepted": 0, "rejected": 0, "loaded_rows": 0}
_STARTED = time.perf_counter()


def _report(final: bool) -> None:
    """Print how many examples ran so far and, under `make fuzz`, keep the worker's report file current."""
    took = time.perf_counter() - _STARTED
    print(f"\ngenerated files: {_ran['examples']} examples ({_ran['accepted']} accepted, {_ran['rejected']} "
          f"rejected, {_ran['loaded_rows']} rows loaded) in {took:.0f}s, profile {PROFILE}"
          + ("" if final else " (running)"), flush=True)
    out = os.environ.get("FUZZ_REPORT")
    if out:
        document = {**_ran, "seconds": round(took), "profile": PROFILE, "finished": final}
        Path(out).write_text(json.dumps(document) + "\n")


@pytest.fixture(scope="module", autouse=True)
def count_examples():
    yield
    _report(final=True)


def reset(conn) -> None:
    with db.transaction(conn) as cur:
        cur.execute(f"TRUNCATE {', '.join(LMS_TABLES)} RESTART IDENTITY CASCADE")
    db.load_demo_catalogue(conn)


def counts(conn) -> dict[str, int]:
    with conn.cursor() as cur:
        cur.execute("SELECT " + ", ".join(f"(SELECT count(*) FROM {t})" for t in COUNTED.values()))
        found = cur.fetchone()
    conn.rollback()
    return dict(zip(COUNTED, found, strict=True))


def physical_lines(data: bytes) -> int:
    separator = b"\n" if b"\n" in data else b"\r"
    return data.count(separator) + 1


def check_invariants(drawn: Drawn, conn) -> None:
    reset(conn)
    target = resolve_target(drawn.path)
    options = {"load_valid_rows": drawn.load_valid_rows, "missing_learners": drawn.missing_learners,
               "assign_immediately": drawn.assign_immediately, "now": NOW}

    result = check_file(drawn.data, target, conn, **options)  # 1: never raises

    assert result.status in (ACCEPTED, REJECTED, DUPLICATE)
    _ran["examples"] += 1
    if PROFILE == "fuzz" and _ran["examples"] % 250 == 0:
        _report(final=False)
    lines = physical_lines(drawn.data)
    for issue in result.issues:  # 5: a real line, its rule in the message
        assert 1 <= issue.line <= lines, (issue, drawn.mutations)
        assert f"({issue.rule})" in issue.message and f"line {issue.line}" in issue.message
    document = summary(result, file=drawn.path)
    json.loads(summary_json(document))
    rows = document["rows"]
    assert rows["valid"] + rows["rejected"] == rows["total"]
    rejects = list(csv.reader(io.StringIO(rejects_csv(result).decode("utf-8"), newline="")))
    named = {int(row[0]) for row in rejects[1:]}
    for row in rejects[1:]:
        assert all(not value.startswith(("=", "+", "-", "@")) for value in row), "rejects.csv must not carry a formula"
    _assert_inert_in_data_docs(drawn, result)

    if result.status != ACCEPTED:
        _ran["rejected"] += 1
        assert result.loadable.empty  # 3: nothing of a rejected file can load
        if result.status == REJECTED and result.frame is not None:
            assert set(result.rejected_lines) <= named | {1}, "every rejected line is named in rejects.csv"
        return

    # 2: accepted ⇒ loadable, exactly as reported
    _ran["accepted"] += 1
    assert set(result.rejected_lines) <= named, "every line not loaded is named in rejects.csv"
    before = counts(conn)
    stage_rows(conn, "gen", result.loadable)
    created = load_batch(conn, "gen", target.importer, lock_holder=lambda: None, after_load=lambda cur, c: None)
    after = counts(conn)
    assert {k: after[k] - before[k] for k in COUNTED} == created.as_dict(), drawn.mutations
    _ran["loaded_rows"] += len(result.loadable)
    if result.rejected_lines:
        _assert_rejected_enrollments_not_loaded(conn, result)

    again = check_file(drawn.data, target, conn, skip_duplicate_check=True, **options)
    assert again.status == ACCEPTED, [i.message for i in again.issues if i.is_error]
    valid = result.counts()["valid"]
    assert again.counts()["skipped_identical"] == valid - created.held_records, \
        [i.message for i in again.issues]


def _assert_rejected_enrollments_not_loaded(conn, result) -> None:
    """With load_valid_rows: no enrollment of the batch belongs to a learner and course with a rejected row."""
    frame = result.frame
    rejected = frame[frame["_line"].isin(result.rejected_lines)]
    groups = set(zip(rejected["_learner_key"], rejected["_course_key"], strict=True))
    with conn.cursor() as cur:
        cur.execute("SELECT l.id, l.external_user_id, lower(l.email), c.external_course_id FROM lms.enrollment e"
                    " JOIN lms.learner l ON l.id = e.learner_id JOIN lms.course c ON c.id = e.course_id"
                    " WHERE e.import_batch = 'gen'")
        loaded = cur.fetchall()
    conn.rollback()
    for learner, uid, email, course in loaded:
        keys = {str(learner), f"uid:{uid}", f"email:{email}"}
        assert not any((key, course) in groups for key in keys), (learner, course)


def _assert_inert_in_data_docs(drawn: Drawn, result) -> None:
    """5: publish the run's page to a throwaway site; no value of the file may be markup there."""
    from include.course_records import datadocs, datadocs_audit

    text = drawn.data.decode("utf-8", errors="replace")
    try:
        values = {v for row in csv.reader(io.StringIO(text, newline="")) for v in row}
    except csv.Error:
        values = set(text.replace("\r", "\n").replace(",", "\n").split("\n"))
    hostile = {v for v in values if "<" in v or ">" in v or "&" in v}
    with tempfile.TemporaryDirectory() as site_dir:
        site = Path(site_dir).as_uri()
        datadocs.publish(site, datadocs.payload(result, batch="gen", file=drawn.path, run_time=NOW.isoformat()))
        assert datadocs_audit.leaks(site, hostile) == [], drawn.mutations


def _pinned() -> list[Path]:
    return sorted(PINNED.glob("global/*.csv")) + sorted(PINNED.glob("course/*/*.csv"))


@pytest.mark.parametrize("path", _pinned(), ids=lambda p: p.name)
def test_pinned_generated_files_keep_the_invariants(path, conn):
    """Files Hypothesis once shrank a failure to: replayed as they are, with their options."""
    options = json.loads(path.with_suffix(".json").read_text()) if path.with_suffix(".json").exists() else {}
    landing_path = path.relative_to(PINNED).as_posix()
    check_invariants(Drawn(path=landing_path, data=path.read_bytes(), **options), conn)


@settings(settings.get_profile(PROFILE))
@given(drawn=landing_files())
def test_generated_files_keep_the_invariants(drawn, conn):
    check_invariants(drawn, conn)


@settings(settings.get_profile(PROFILE), max_examples=max(5, settings.get_profile(PROFILE).max_examples // 3))
@given(drawn=landing_files(mutate=False))
def test_clean_generated_files_are_accepted_and_load(drawn, conn):
    """Files as a careful partner sends them: the grammar alone must give loadable files."""
    check_invariants(drawn, conn)
    reset(conn)
    result = check_file(drawn.data, resolve_target(drawn.path), conn, now=NOW,
                        missing_learners=drawn.missing_learners, assign_immediately=drawn.assign_immediately)
    errors = [i.message for i in result.issues if i.is_error]
    assert not errors or all("(R11)" in e or "(R12)" in e or "(R10)" in e or "(R09)" in e for e in errors), errors
