"""The import lock under faults: nothing half-loaded, nothing lost, loads one at a time."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from tests.conftest import IMPORT_DEFAULTS, REPO, copy_airflow_home, count, drop, rows_of

HEADER = "external_email,first_name,last_name,enrollment_start,complete,date_completed,credits,credit_type,participant_category\n"
DEMO = (REPO / "demo/course/CARD-101/card-101-2026.csv").read_text()


def run_dag(dagbag, dag_id, **conf):
    defaults = {"course_record_import": IMPORT_DEFAULTS,
                "course_record_unlock": {"reason": "", "confirm": False}}[dag_id]
    return dagbag.get_dag(dag_id).test(run_conf={**defaults, **conf})


def summaries(landing):
    return [json.loads(p.read_text()) for p in sorted((landing / "reports").glob("*/summary.json"))]


def lock_value():
    from airflow.models.variable import Variable

    raw = Variable.get("course_record_import_lock", default_var=None)
    return json.loads(raw) if raw else None


def set_lock_by_hand(reason="checking a suspicious file"):
    from airflow.models.variable import Variable

    Variable.set("course_record_import_lock", json.dumps({"file": None, "run_id": None, "reason": reason,
                                                          "time": "2026-11-29T08:00:00+00:00"}))


@pytest.fixture
def failing_credit_records(conn):
    """A real fault inside the LMS: inserting credit records raises, after learners and enrollments were written."""
    with conn.cursor() as cur:
        cur.execute("""
            CREATE FUNCTION lms.test_fault() RETURNS trigger LANGUAGE plpgsql AS
            $$ BEGIN RAISE EXCEPTION 'credit_record storage is failing (injected fault)'; END $$;
            CREATE TRIGGER test_fault BEFORE INSERT ON lms.credit_record FOR EACH ROW EXECUTE FUNCTION lms.test_fault();
        """)
    conn.commit()
    yield
    with conn.cursor() as cur:
        cur.execute("DROP TRIGGER IF EXISTS test_fault ON lms.credit_record; DROP FUNCTION IF EXISTS lms.test_fault()")
    conn.commit()


def test_locked_importer_loads_nothing_until_unlocked_with_a_reason(dagbag, conn, landing, no_lock):
    drop(landing, "course/CARD-101/card-101-2026.csv", DEMO)
    set_lock_by_hand()

    run = run_dag(dagbag, "course_record_import", file="course/CARD-101/card-101-2026.csv")

    assert run.state == "failed"  # in the run list, a stopped run is not a load
    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert (states["check_lock"], states["validate_file"]) == ("failed", "upstream_failed")
    assert count(conn, "lms.enrollment") == 2  # the demo catalogue's own
    assert (landing / "course/CARD-101/card-101-2026.csv").exists()
    [summary] = summaries(landing)
    assert summary["status"] == "locked"
    assert "checking a suspicious file" in summary["message"]

    refused = run_dag(dagbag, "course_record_unlock", reason="   ", confirm=True)
    assert refused.state == "failed"
    assert lock_value()["reason"] == "checking a suspicious file"

    assert run_dag(dagbag, "course_record_unlock", reason="file reviewed, safe", confirm=True).state == "success"
    assert lock_value() is None
    assert rows_of(conn, "SELECT event, reason FROM course_import.lock_event") == [("unlocked", "file reviewed, safe")]

    assert run_dag(dagbag, "course_record_import", file="course/CARD-101/card-101-2026.csv").state == "success"
    assert count(conn, "lms.enrollment") == 5
    assert summaries(landing)[-1]["status"] == "loaded"


def test_unlock_says_how_many_files_the_next_scan_picks_up(dagbag, conn, landing, no_lock, caplog):
    from include.course_records import landing as landing_store
    from include.course_records import scan

    set_lock_by_hand()
    drop(landing, "course/CARD-101/card-101-2026.csv", DEMO)
    assert run_dag(dagbag, "course_record_import", file="course/CARD-101/card-101-2026.csv").state == "failed"
    drop(landing, "global/dropped-while-locked.csv", HEADER)  # never seen by a run or a scan

    with caplog.at_level(logging.WARNING, logger="include.course_records.pipeline"):
        assert run_dag(dagbag, "course_record_unlock", reason="file reviewed\nsafe", confirm=True).state == "success"

    [unlocked] = [r.getMessage() for r in caplog.records if r.getMessage().startswith("UNLOCKED")]
    assert unlocked.startswith("UNLOCKED by dag_test: file reviewed\nsafe. Was: the importer is locked since ")
    assert unlocked.endswith("2 file(s) in landing will be picked up by the next scan: "
                             "course/CARD-101/card-101-2026.csv, global/dropped-while-locked.csv")
    landed = [scan.Landed(*entry) for entry in landing_store.list_landed(landing_store.landing_root())]
    later = time.time() + 3600  # both files have settled by the next scan
    assert scan.plan(conn, landed, locked=False, now=later) == ["course/CARD-101/card-101-2026.csv",
                                                                "global/dropped-while-locked.csv"]


def test_unlock_when_not_locked_changes_nothing(dagbag, conn, landing, no_lock):
    assert run_dag(dagbag, "course_record_unlock", reason="just in case", confirm=True).state == "success"
    assert lock_value() is None
    assert count(conn, "course_import.lock_event") == 0


def test_a_load_that_raises_midway_leaves_nothing_and_locks(dagbag, conn, landing, no_lock, failing_credit_records):
    drop(landing, "course/CARD-101/card-101-2026.csv", DEMO)

    run = run_dag(dagbag, "course_record_import", file="course/CARD-101/card-101-2026.csv")

    assert run.state == "failed"
    assert rows_of(conn, "SELECT count(*) FROM lms.enrollment WHERE import_batch IS NOT NULL") == [(0,)]
    assert rows_of(conn, "SELECT count(*) FROM lms.learner WHERE import_batch IS NOT NULL") == [(0,)]
    assert (landing / "course/CARD-101/card-101-2026.csv").exists()
    held = lock_value()
    assert held["file"] == "course/CARD-101/card-101-2026.csv"
    assert "injected fault" in held["diagnosis"]["error"]
    assert summaries(landing)[-1]["status"] == "locked"
    assert rows_of(conn, "SELECT event FROM course_import.lock_event") == [("locked",)]


def test_after_a_failure_and_unlock_the_file_loads_exactly_once(dagbag, conn, landing, no_lock):
    drop(landing, "course/CARD-101/card-101-2026.csv", DEMO)
    with conn.cursor() as cur:
        cur.execute("""CREATE FUNCTION lms.test_fault() RETURNS trigger LANGUAGE plpgsql AS
                       $$ BEGIN RAISE EXCEPTION 'injected fault'; END $$;
                       CREATE TRIGGER test_fault BEFORE INSERT ON lms.credit_record
                       FOR EACH ROW EXECUTE FUNCTION lms.test_fault()""")
    conn.commit()
    try:
        assert run_dag(dagbag, "course_record_import", file="course/CARD-101/card-101-2026.csv").state == "failed"
    finally:
        with conn.cursor() as cur:
            cur.execute("DROP TRIGGER test_fault ON lms.credit_record; DROP FUNCTION lms.test_fault()")
        conn.commit()
    assert run_dag(dagbag, "course_record_import", file="course/CARD-101/card-101-2026.csv").state == "failed"
    assert summaries(landing)[-1]["status"] == "locked"  # still locked: the second run waited

    run_dag(dagbag, "course_record_unlock", reason="storage fixed", confirm=True)
    run_dag(dagbag, "course_record_import", file="course/CARD-101/card-101-2026.csv")

    assert summaries(landing)[-1]["status"] == "loaded"
    assert rows_of(conn, "SELECT count(*) FROM lms.enrollment WHERE import_batch IS NOT NULL") == [(3,)]
    assert rows_of(conn, "SELECT count(*) FROM course_import.ledger WHERE status = 'loaded'") == [(1,)]


def _terminate_backend_when(query_fragment: str, stop: threading.Event, found: list[int]) -> None:
    """From another connection: wait for a backend running the query, then kill it (as a DBA or
    a PostgreSQL restart would)."""
    from include.course_records import db

    watcher = db.connect()
    watcher.autocommit = True
    try:
        with watcher.cursor() as cur:
            while not stop.is_set():
                # only this test's database: the server may hold other sessions' databases
                cur.execute("SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
                            " AND state = 'active' AND query LIKE %s AND pid <> pg_backend_pid()",
                            (f"%{query_fragment}%",))
                row = cur.fetchone()
                if row:
                    cur.execute("SELECT pg_terminate_backend(%s)", row)
                    found.append(row[0])
                    return
                time.sleep(0.05)
    finally:
        watcher.close()


def test_a_load_whose_connection_dies_locks_with_the_real_cause(dagbag, conn, landing, no_lock):
    drop(landing, "course/CARD-101/card-101-2026.csv", DEMO)
    with conn.cursor() as cur:  # hold the load inside its transaction long enough to be killed
        cur.execute("""CREATE FUNCTION lms.test_slow() RETURNS trigger LANGUAGE plpgsql AS
                       $$ BEGIN PERFORM pg_sleep(1); RETURN NEW; END $$;
                       CREATE TRIGGER test_slow BEFORE INSERT ON lms.credit_record
                       FOR EACH ROW EXECUTE FUNCTION lms.test_slow()""")
    conn.commit()
    stop, killed = threading.Event(), []
    killer = threading.Thread(target=_terminate_backend_when, args=("INSERT INTO lms.credit_record", stop, killed))
    killer.start()
    try:
        run = run_dag(dagbag, "course_record_import", file="course/CARD-101/card-101-2026.csv")
    finally:
        stop.set()
        killer.join()
        with conn.cursor() as cur:
            cur.execute("DROP TRIGGER test_slow ON lms.credit_record; DROP FUNCTION lms.test_slow()")
        conn.commit()

    assert killed, "the load never reached the credit records"
    assert run.state == "failed"
    held = lock_value()
    # what ops read is why the load failed, not the clean-up's trip over the dead connection
    assert held["reason"].startswith("loading course/CARD-101/card-101-2026.csv failed: OperationalError: ")
    assert ("terminating connection" in held["reason"]
            or "server closed the connection unexpectedly" in held["reason"]), held["reason"]
    assert "connection already closed" not in held["reason"] and "InterfaceError" not in held["reason"]
    assert held["reason"] == held["diagnosis"]["error"]
    assert held["file"] == "course/CARD-101/card-101-2026.csv"
    assert rows_of(conn, "SELECT event, reason FROM course_import.lock_event") == [("locked", held["reason"])]
    assert rows_of(conn, "SELECT status FROM course_import.ledger") == [("failed",)]
    assert summaries(landing)[-1]["status"] == "locked"
    assert rows_of(conn, "SELECT count(*) FROM lms.enrollment WHERE import_batch IS NOT NULL") == [(0,)]
    assert (landing / "course/CARD-101/card-101-2026.csv").read_text() == DEMO


def _process_env(tmp_path, name):
    """A separate Airflow home (a copy of the session's initialised metadata DB) for a child process."""
    home = tmp_path / f"airflow-{name}"
    copy_airflow_home(home)
    env = dict(os.environ, AIRFLOW_HOME=str(home),
               AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=f"sqlite:///{home / 'airflow.db'}",
               PYTHONPATH=str(REPO))
    return env


def _start(tmp_path, name, path):
    """A child process running one import; its log goes to a file (a full pipe would stall it)."""
    log = (tmp_path / f"{name}.log").open("w")
    env = _process_env(tmp_path, name)
    process = subprocess.Popen([sys.executable, str(REPO / "tests/dags/import_process.py"), path], cwd=REPO,
                               env=env, stdout=log, stderr=subprocess.STDOUT)
    process.log_path = tmp_path / f"{name}.log"
    process.env = env
    return process


def _finish(process, timeout=300):
    process.wait(timeout)
    return process.log_path.read_text()


def test_a_load_killed_mid_transaction_leaves_nothing_and_loses_no_file(tmp_path, conn, landing, no_lock):
    drop(landing, "course/CARD-101/card-101-2026.csv", DEMO)
    with conn.cursor() as cur:  # make the load pause inside its transaction, after enrollments were written
        cur.execute("""CREATE FUNCTION lms.test_slow() RETURNS trigger LANGUAGE plpgsql AS
                       $$ BEGIN PERFORM pg_sleep(1); RETURN NEW; END $$;
                       CREATE TRIGGER test_slow BEFORE INSERT ON lms.credit_record
                       FOR EACH ROW EXECUTE FUNCTION lms.test_slow()""")
    conn.commit()
    process = _start(tmp_path, "killed", "course/CARD-101/card-101-2026.csv")
    backend = None
    try:
        deadline = time.time() + 120
        while backend is None and time.time() < deadline:  # wait until the load sits inside the trigger
            found = rows_of(conn, "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
                                  " AND query LIKE '%%INSERT INTO lms.credit_record%%'"
                                  " AND state = 'active' AND pid <> pg_backend_pid()")
            backend = found[0][0] if found else None
            assert process.poll() is None, process.log_path.read_text()[-3000:]
            time.sleep(0.1)
        assert backend, "the load never reached the credit records"
        process.send_signal(signal.SIGKILL)
        process.wait(30)
        while rows_of(conn, "SELECT 1 FROM pg_stat_activity WHERE pid = %s", (backend,)) and time.time() < deadline:
            time.sleep(0.2)  # PostgreSQL finds the client gone and rolls the transaction back
    finally:
        if process.poll() is None:
            process.kill()
        with conn.cursor() as cur:
            cur.execute("DROP TRIGGER test_slow ON lms.credit_record; DROP FUNCTION lms.test_slow()")
        conn.commit()

    assert rows_of(conn, "SELECT count(*) FROM lms.enrollment WHERE import_batch IS NOT NULL") == [(0,)]
    assert rows_of(conn, "SELECT count(*) FROM lms.learner WHERE import_batch IS NOT NULL") == [(0,)]
    assert (landing / "course/CARD-101/card-101-2026.csv").read_text() == DEMO

    [(killed_batch,)] = rows_of(conn, "SELECT batch_id FROM course_import.ledger")

    # with no scheduler to notice the dead task, the next load does: it stops and locks, naming it
    rerun = _start(tmp_path, "rerun", "course/CARD-101/card-101-2026.csv")
    output = _finish(rerun)
    assert rerun.returncode == 1, output[-3000:]
    [(event, reason, diagnosis)] = rows_of(conn, "SELECT event, reason, diagnosis FROM course_import.lock_event")
    assert event == "locked" and diagnosis["batch"] == killed_batch
    assert reason.startswith(f"loading course/CARD-101/card-101-2026.csv (batch {killed_batch}) stopped without "
                             "finishing: "), reason
    assert reason.endswith("its transaction was rolled back, the LMS holds 0 rows of that batch"), reason
    assert rows_of(conn, "SELECT status FROM course_import.ledger ORDER BY started_at") == [("failed",), ("locked",)]
    assert rows_of(conn, "SELECT count(*) FROM lms.enrollment WHERE import_batch IS NOT NULL") == [(0,)]
    assert (landing / "course/CARD-101/card-101-2026.csv").read_text() == DEMO

    # each process has its own copy of Airflow's metadata: the next one stands for the run after the unlock
    after_unlock = _start(tmp_path, "after-unlock", "course/CARD-101/card-101-2026.csv")
    output = _finish(after_unlock)
    assert after_unlock.returncode == 0, output[-3000:]
    assert rows_of(conn, "SELECT count(*) FROM lms.enrollment WHERE import_batch IS NOT NULL") == [(3,)]
    assert rows_of(conn, "SELECT count(*) FROM course_import.ledger WHERE status = 'loaded'") == [(1,)]


def test_two_imports_at_once_load_one_after_the_other(tmp_path, conn, landing, no_lock):
    first = HEADER + "".join(f"a{i}@example.org,A{i},Lee,2026-05-04,1,2026-05-05,2.00,ama_pra_1,physician\n" for i in range(40))
    second = HEADER + "".join(f"b{i}@example.org,B{i},Ek,2026-05-04,1,2026-05-05,1.00,ancc,other\n" for i in range(40))
    drop(landing, "course/CARD-101/first.csv", first)
    drop(landing, "course/CARD-101/second.csv", second)
    with conn.cursor() as cur:  # slow every enrollment row down so that unserialised loads would overlap
        cur.execute("""CREATE FUNCTION lms.test_slow() RETURNS trigger LANGUAGE plpgsql AS
                       $$ BEGIN PERFORM pg_sleep(0.05); RETURN NEW; END $$;
                       CREATE TRIGGER test_slow BEFORE INSERT ON lms.enrollment
                       FOR EACH ROW EXECUTE FUNCTION lms.test_slow()""")
    conn.commit()
    try:
        processes = [_start(tmp_path, "one", "course/CARD-101/first.csv"),
                     _start(tmp_path, "two", "course/CARD-101/second.csv")]
        outputs = [_finish(p) for p in processes]
    finally:
        with conn.cursor() as cur:
            cur.execute("DROP TRIGGER test_slow ON lms.enrollment; DROP FUNCTION lms.test_slow()")
        conn.commit()

    for process, output in zip(processes, outputs, strict=True):
        assert process.returncode == 0, output[-3000:]
    batches = rows_of(conn, "SELECT import_batch, min(id), max(id), count(*) FROM lms.enrollment"
                            " WHERE import_batch IS NOT NULL GROUP BY 1 ORDER BY 2")
    assert [b[3] for b in batches] == [40, 40]
    (_, _, first_max, _), (_, second_min, _, _) = batches
    assert first_max < second_min, "the two loads interleaved"
    assert rows_of(conn, "SELECT count(*), count(DISTINCT lower(email)) FROM lms.learner") == [(83, 83)]


def test_a_row_the_checks_passed_but_the_database_refuses_locks_and_says_it_is_a_check_bug(
        dagbag, conn, landing, no_lock):
    """A constraint the checks don't know (here added by hand) stands in for a gap in the checks."""
    with conn.cursor() as cur:
        cur.execute("ALTER TABLE lms.learner ADD CONSTRAINT test_no_zed CHECK (first_name <> 'Zed')")
    conn.commit()
    try:
        drop(landing, "course/CARD-101/zed.csv", HEADER + "zed@example.org,Zed,Shaw,2026-05-04,1,2026-05-05,2.00,ama_pra_1,physician\n")

        run = run_dag(dagbag, "course_record_import", file="course/CARD-101/zed.csv")

        assert run.state == "failed"
        held = lock_value()
        assert "bug in the pipeline's checks, not in the file" in held["reason"], held
        assert count(conn, "lms.learner") == 3
        assert (landing / "course/CARD-101/zed.csv").exists()
    finally:
        with conn.cursor() as cur:
            cur.execute("ALTER TABLE lms.learner DROP CONSTRAINT IF EXISTS test_no_zed")
        conn.commit()
