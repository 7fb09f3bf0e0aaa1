"""Files validated before either loads (parallel validation on several workers): the load that
finds the LMS changed since its validation checks the file again in its slot and ends as that
check says — duplicate (F06), rejected with the rule, or loaded — never as a lock."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

import pytest

from include.course_records import pipeline, settings
from tests.conftest import count, drop, rows_of
from tests.dags.test_import_lock import _finish, _start

HEADER = "external_email,first_name,last_name,enrollment_start,complete,date_completed,credits,credit_type,participant_category\n"


def row(email: str, completed: str = "2026-05-05", credits: str = "2.00") -> str:
    name = email.split("@")[0]
    return f"{email},{name.title()},Lee,2026-05-04,1,{completed},{credits},ama_pra_1,physician\n"


MAY = HEADER + row("may1@example.org") + row("may2@example.org")
FIRST = HEADER + row("b1@example.org") + row("b2@example.org") + row("both@example.org")
# the same learner and course as FIRST's last row, completed on another day: R13 once FIRST is in the LMS
SECOND = HEADER + row("both@example.org", completed="2026-05-06") + row("c1@example.org")
# the same row as FIRST's, identical: skipped once FIRST is in the LMS, the rest loads
SAME_ROW = HEADER + row("both@example.org") + row("d1@example.org")


def validated(landing, relative: str, text: str) -> tuple[dict, dict]:
    drop(landing, relative, text)
    ticket = pipeline.resolve_request({"file": relative}, f"manual__{relative}", None)
    outcome = pipeline.validate(ticket)
    assert outcome["status"] == "accepted", outcome
    return ticket, outcome


def summary(landing, batch: str) -> dict:
    return json.loads((landing / "reports" / batch / "summary.json").read_text())


def lock_value():
    from airflow.models.variable import Variable

    return Variable.get(settings.LOCK_VARIABLE, default_var=None)


def test_same_bytes_under_two_names_validated_first_load_once_and_the_copy_is_a_duplicate(conn, landing, no_lock):
    first = validated(landing, "course/CARD-101/may.csv", MAY)
    copy = validated(landing, "course/CARD-101/may (1).csv", MAY)
    pipeline.archive_file(*first, pipeline.load(*first))

    loaded = pipeline.load(*copy)

    assert loaded["status"] == "duplicate_file" and loaded["created"] is None
    assert pipeline.archive_file(*copy, loaded).endswith("-may (1).csv")
    assert lock_value() is None
    assert count(conn, "course_import.lock_event") == 0
    document = summary(landing, copy[0]["batch"])
    assert document["status"] == "duplicate_file"
    assert [i["rule"] for i in document["issues"]] == ["F06"]
    assert "changed since this file was validated" in document["rechecked"]
    assert rows_of(conn, "SELECT status, count(*) FROM course_import.ledger GROUP BY 1 ORDER BY 1") == [
        ("duplicate_file", 1), ("loaded", 1)]
    assert rows_of(conn, "SELECT count(*) FROM lms.enrollment WHERE import_batch IS NOT NULL") == [(2,)]
    assert rows_of(conn, "SELECT tablename FROM pg_tables WHERE tablename LIKE 'stage_%'") == []


def test_overlapping_rows_that_differ_reject_the_later_load_with_the_rule(conn, landing, no_lock):
    first = validated(landing, "course/CARD-101/first.csv", FIRST)
    second = validated(landing, "course/CARD-101/second.csv", SECOND)
    pipeline.archive_file(*first, pipeline.load(*first))

    loaded = pipeline.load(*second)

    assert loaded["status"] == "rejected"
    with pytest.raises(Exception, match=r"^REJECTED: course/CARD-101/second\.csv — 1 error: line 2, "):
        pipeline.reject(second[0], pipeline.outcome_now(second[1], loaded))
    assert pipeline.quarantine_file(*second, loaded).endswith("-second.csv")
    assert lock_value() is None
    document = summary(landing, second[0]["batch"])
    assert document["status"] == "rejected"
    assert [(i["rule"], i["line"]) for i in document["issues"] if i["severity"] == "error"] == [("R13", 2)]
    assert rows_of(conn, "SELECT l.email FROM lms.enrollment e JOIN lms.learner l ON l.id = e.learner_id"
                         " WHERE e.import_batch IS NOT NULL ORDER BY 1") == [
        ("b1@example.org",), ("b2@example.org",), ("both@example.org",)]
    assert list((landing / "quarantine").glob("*-second.csv"))
    assert rows_of(conn, "SELECT status FROM course_import.ledger WHERE batch_id = %s", (second[0]["batch"],)) == [
        ("rejected",)]


def test_overlapping_rows_that_agree_load_the_rest(conn, landing, no_lock):
    first = validated(landing, "course/CARD-101/first.csv", FIRST)
    second = validated(landing, "course/CARD-101/same-row.csv", SAME_ROW)
    pipeline.archive_file(*first, pipeline.load(*first))

    loaded = pipeline.load(*second)

    assert loaded["status"] == "loaded"
    assert loaded["created"]["enrollments"] == 1
    pipeline.archive_file(*second, loaded)
    document = summary(landing, second[0]["batch"])
    assert (document["status"], document["rows"]["skipped_identical"]) == ("loaded", 1)
    assert count(conn, "course_import.lock_event") == 0
    assert rows_of(conn, "SELECT count(*) FROM lms.enrollment WHERE import_batch IS NOT NULL") == [(4,)]


def _waiting_for_the_load_lock(conn) -> int:
    return rows_of(conn, "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
                         " WHERE l.locktype = 'advisory' AND NOT l.granted AND a.datname = current_database()")[0][0]


def _lock_in(process) -> str | None:
    home = Path(process.env["AIRFLOW_HOME"])
    with sqlite3.connect(home / "airflow.db") as db:
        found = db.execute("SELECT val FROM variable WHERE key = ?", (settings.LOCK_VARIABLE,)).fetchall()
    return found[0][0] if found else None


def _task_states(output: str) -> dict[str, str]:
    [line] = [line for line in output.splitlines() if line.startswith("TASK STATES ")]
    return json.loads(line.removeprefix("TASK STATES "))


def test_four_import_runs_validated_before_any_loads(tmp_path, conn, landing, no_lock):
    """Four dag.test() runs in four processes; the loaders' advisory lock, held here, keeps every
    load waiting until all four validated (as workers validating in parallel would)."""
    files = {"course/CARD-101/may.csv": MAY, "course/CARD-101/may (1).csv": MAY,
             "course/CARD-101/first.csv": FIRST, "course/CARD-101/second.csv": SECOND}
    for relative, text in files.items():
        drop(landing, relative, text)
    gate = conn.cursor()
    gate.execute("SELECT pg_advisory_lock(%s)", (settings.LOAD_ADVISORY_LOCK_KEY,))
    processes = {}
    try:
        processes = {relative: _start(tmp_path, f"run{i}", relative) for i, relative in enumerate(files)}
        deadline = time.time() + 600
        while _waiting_for_the_load_lock(conn) < len(files):
            finished = {r: p.log_path.read_text()[-3000:] for r, p in processes.items() if p.poll() is not None}
            assert not finished, finished
            assert time.time() < deadline, "the four runs never all reached their load"
            time.sleep(0.5)
        assert rows_of(conn, "SELECT status, count(*) FROM course_import.ledger GROUP BY 1") == [("accepted", 4)]
    finally:
        gate.execute("SELECT pg_advisory_unlock(%s)", (settings.LOAD_ADVISORY_LOCK_KEY,))
        conn.commit()
        gate.close()
    outputs = {relative: _finish(process) for relative, process in processes.items()}

    states = {relative: _task_states(output) for relative, output in outputs.items()}
    ledger = dict(rows_of(conn, "SELECT file_path, status FROM course_import.ledger"))
    may_pair = sorted(ledger[r] for r in ("course/CARD-101/may.csv", "course/CARD-101/may (1).csv"))
    assert may_pair == ["duplicate_file", "loaded"]
    overlap = {r: ledger[r] for r in ("course/CARD-101/first.csv", "course/CARD-101/second.csv")}
    assert sorted(overlap.values()) == ["loaded", "rejected"]
    for relative, status in ledger.items():
        run_ok = processes[relative].returncode == 0
        if status == "rejected":  # like any rejected run: failed at file_rejected, quarantined
            assert not run_ok
            assert (states[relative]["quarantine_file"], states[relative]["file_rejected"]) == ("success", "failed")
            assert states[relative]["archive_file"] == "skipped"
            assert len(list((landing / "quarantine").glob(f"*-{relative.rsplit('/', 1)[1]}"))) == 1
        else:
            assert run_ok, outputs[relative][-3000:]
            assert (states[relative]["archive_file"], states[relative]["quarantine_file"]) == ("success", "skipped")
            assert len(list((landing / "archive").rglob(f"*-{relative.rsplit('/', 1)[1]}"))) == 1
        assert states[relative]["publish_data_docs"] == "success"
        assert not (landing / relative).exists()
        assert _lock_in(processes[relative]) is None
    [(batch, rules)] = rows_of(
        conn, "SELECT batch_id, rows_rejected FROM course_import.ledger WHERE status = 'rejected'")
    document = summary(landing, batch)
    assert {i["rule"] for i in document["issues"] if i["severity"] == "error"} == {"R13"}
    assert rules == 1
    assert count(conn, "course_import.lock_event") == 0
    loaded = 2 + (3 if overlap["course/CARD-101/first.csv"] == "loaded" else 2)
    assert rows_of(conn, "SELECT count(*) FROM lms.enrollment WHERE import_batch IS NOT NULL") == [(loaded,)]
    assert rows_of(conn, "SELECT count(DISTINCT import_batch) FROM lms.enrollment WHERE import_batch IS NOT NULL") == [(2,)]
