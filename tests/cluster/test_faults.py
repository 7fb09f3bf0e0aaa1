"""Faults on the cluster: a worker lost mid-load, the LMS connection cut mid-load, the scheduler
restarted during a burst. Nothing half-loaded, nothing lost, nothing loaded twice."""

from __future__ import annotations

import time

import pytest

from tests.cluster.conftest import parse_time, record, wait_until
from tests.cluster.scenario import (
    IMPORT,
    LOADS,
    course_file,
    import_runs,
    inserting,
    ledger,
    load_running,
    overlapping,
    scanning,
    settle,
    spans,
    waiting_in_landing,
)

pytestmark = pytest.mark.cluster
LARGE_ROWS = 200_000


def _large_load_running(cluster, token):
    """Drop a large file and a small one; return (the large file's path, its load task instance)
    once its load is inserting into the LMS."""
    large = f"course/CARD-101/{token}-large.csv"
    cluster.put(large, course_file(f"big-{token}-", LARGE_ROWS))
    cluster.scan()
    wait_until("the large file's import run", scanning(cluster, lambda: import_runs(cluster, token)), 600, every=10)
    while True:  # polled fast: a 200k-row load inserts for seconds only
        backend = inserting(cluster, timeout=1800)
        running = load_running(cluster, token, timeout=5)  # (not a leftover file of an earlier test's)
        if running:
            break
    return large, running, backend


def _locked_then_loaded_once(cluster, token, large, batch, waiting):
    """The guarantees after a failed load: the lock names the file and batch, nothing of the batch is
    in the LMS, the files wait in landing and other runs stop with `locked`; after the unlock
    (REST API: the unlock DAG with reason and confirm) the next scans load each file exactly once."""
    held = wait_until("the importer to be locked", cluster.lock, 300, every=1)
    assert held["file"] == large and held["diagnosis"]["batch"] == batch, held
    assert batch in held["reason"] or large in held["reason"], held
    assert cluster.sql("SELECT count(*) FROM lms.enrollment WHERE import_batch = %s", (batch,)) == [(0,)]
    assert cluster.sql("SELECT count(*) FROM lms.learner WHERE import_batch = %s", (batch,)) == [(0,)]
    assert large in cluster.objects("course/")
    # the Variable is set first (it is what stops loads), the ledger and the summary right after
    wait_until("the failed batch's ledger row", lambda: cluster.sql(
        "SELECT status FROM course_import.ledger WHERE batch_id = %s", (batch,)) == [("failed",)], 120, every=1)

    # a file dropped now waits: the scan starts no run for it, and a run started by hand stops with `locked`
    cluster.put(waiting, course_file(f"w-{token}-", 3))
    scan = cluster.trigger("course_record_landing_scan")
    assert cluster.wait_run("course_record_landing_scan", scan) == "success"
    assert [e for e in ledger(cluster, token) if e["file_path"] == waiting] == []
    by_hand = cluster.trigger(IMPORT, {"file": waiting})
    assert cluster.wait_run(IMPORT, by_hand) == "failed"
    assert [e["status"] for e in ledger(cluster, token) if e["file_path"] == waiting] == ["locked"]
    assert waiting in cluster.objects("course/")
    assert cluster.sql("SELECT count(*) FROM lms.learner WHERE email LIKE %s", (f"w-{token}-%",)) == [(0,)]

    cluster.unlock(f"cluster test: {large} failed mid-load (batch {batch}); nothing of it loaded, retrying")
    assert cluster.lock() is None
    settle(cluster, token, 2, timeout=1800)
    entries = ledger(cluster, token)
    assert [e["status"] for e in entries if e["status"] == "loaded"] == ["loaded", "loaded"], entries
    for path in (large, waiting):
        [loaded] = [e for e in entries if e["file_path"] == path and e["status"] == "loaded"]
        assert any(k.endswith(f"{loaded['batch_id']}-{path.rsplit('/', 1)[1]}") for k in cluster.objects("archive/"))
    assert cluster.sql("SELECT count(*) FROM lms.learner WHERE email LIKE %s", (f"big-{token}-%",)) == [(LARGE_ROWS,)]
    assert cluster.sql("SELECT count(*) FROM lms.enrollment e JOIN lms.learner l ON l.id = e.learner_id"
                       " WHERE l.email LIKE %s", (f"big-{token}-%",)) == [(LARGE_ROWS,)]
    assert waiting_in_landing(cluster, token) == []
    assert cluster.lock() is None


def test_a_worker_killed_mid_load_locks_with_a_diagnosis_and_the_file_loads_once_after_the_unlock(
        cluster, token, free):
    large, running, _backend = _large_load_running(cluster, token)
    worker = cluster.worker_running(running["pid"])  # Celery workers on one host share its hostname
    batch = cluster.sql("SELECT batch_id FROM course_import.ledger WHERE file_path = %s", (large,))[0][0]

    cluster.lose_node(worker, running["pid"])
    killed = time.time()
    try:
        def failed():
            [ti] = [ti for ti in cluster.task_instances(IMPORT, running["dag_run_id"]) if ti["task_id"] in LOADS
                    and ti["state"] not in ("skipped",)]
            return ti if ti["state"] == "failed" else None
        ti = wait_until("the scheduler to fail the dead worker's load", failed, 900, every=1)
        detected = time.time() - killed
        record("dead_worker_detection_seconds", round(detected, 1))
        assert parse_time(ti["end_date"]).timestamp() >= killed - 1
        held = wait_until("the importer to be locked", cluster.lock, 300, every=1)
        record("dead_worker_lock_seconds", round(time.time() - killed, 1))
        assert held["diagnosis"]["batch"] == batch
    finally:
        cluster.restart(worker)
    _locked_then_loaded_once(cluster, token, large, batch, f"course/CARD-101/{token}-dropped-while-locked.csv")


def test_the_lms_connection_cut_mid_load_locks_with_the_cause_and_the_file_loads_once_after_the_unlock(
        cluster, token, free):
    large, running, backend = _large_load_running(cluster, token)
    batch = cluster.sql("SELECT batch_id FROM course_import.ledger WHERE file_path = %s", (large,))[0][0]

    assert cluster.sql("SELECT pg_terminate_backend(%s)", (backend,)) == [(True,)]

    held = wait_until("the importer to be locked", cluster.lock, 300, every=1)
    assert "OperationalError" in held["reason"], held
    run_state = cluster.wait_run(IMPORT, running["dag_run_id"], timeout=300)
    assert run_state == "failed"
    _locked_then_loaded_once(cluster, token, large, batch, f"course/CARD-101/{token}-dropped-while-locked.csv")


def test_a_scheduler_restarted_during_a_burst_loses_nothing_and_loads_nothing_twice(cluster, token, free):
    files = {f"course/CARD-101/{token}-r{i:02}.csv": course_file(f"r{i}-{token}-", 20 + i) for i in range(12)}
    for name, text in files.items():
        cluster.put(name, text)
    cluster.scan()
    wait_until("some of the burst's runs to be running", scanning(cluster, lambda: len(
        [r for r in import_runs(cluster, token) if r["state"] == "running"]) >= 3), 600, every=2)

    cluster.restart("scheduler")

    runs = settle(cluster, token, len(files), timeout=1800)
    entries = ledger(cluster, token)
    assert sorted(e["file_path"] for e in entries) == sorted(files), entries  # one run each, none twice
    assert {e["status"] for e in entries} == {"loaded"}
    assert {r["state"] for r in runs} == {"success"}
    for i, name in enumerate(sorted(files)):
        assert cluster.sql("SELECT count(*) FROM lms.enrollment e JOIN lms.learner l ON l.id = e.learner_id"
                           " WHERE l.email LIKE %s", (f"r{i}-{token}-%",)) == [(20 + i,)], name
    loads = spans(cluster, runs, LOADS)
    assert len(loads) == len(files)
    assert overlapping(loads) == []
    assert cluster.lock() is None
