"""The revert DAG with dag.test(): undo a loaded batch, re-import the corrected file, refusals."""

from __future__ import annotations

import json

import pytest

from tests.conftest import REPO, copy_airflow_home, drop, rows_of

DEMO = (REPO / "demo/course/CARD-101/card-101-2026.csv").read_text()
# The demo file with a wrong amount: Katherine's ANCC contact hours should be 1.50.
WRONG = DEMO.replace(",1.50,ancc,", ",1.00,ancc,")


def run_import(dagbag, file: str):
    return dagbag.get_dag("course_record_import").test(
        run_conf={"file": file, "importer": None, "course": None, "dry_run": False, "load_valid_rows": False})


def run_revert(dagbag, batch: str, **conf):
    """Every param is given: dag.test() lets a run's conf leak into the next."""
    return dagbag.get_dag("course_record_revert").test(
        run_conf={"batch": batch, "reason": "wrong credit amounts", "dry_run": False, "confirm": True, **conf})


def summary(landing, name: str) -> dict:
    [found] = [json.loads(p.read_text()) for p in (landing / "reports").glob("*/summary.json")
               if json.loads(p.read_text())["file"].endswith(name)]
    return found


def batch_of(conn, file: str, status: str = "loaded") -> str:
    [(batch,)] = rows_of(conn, "SELECT batch_id FROM course_import.ledger WHERE file_path = %s AND status = %s",
                         (file, status))
    return batch


def imported_rows(conn) -> list[tuple]:
    return rows_of(conn, """
        SELECT l.email, c.external_course_id, t.machine_name, r.credits::text, r.import_batch
        FROM lms.credit_record r JOIN lms.enrollment e ON e.id = r.enrollment_id
        JOIN lms.learner l ON l.id = e.learner_id JOIN lms.course c ON c.id = e.course_id
        JOIN lms.credit_type t ON t.id = r.credit_type_id WHERE r.import_batch IS NOT NULL ORDER BY 1, 3""")


def revert_result(run) -> dict:
    [ti] = [t for t in run.get_task_instances() if t.task_id == "revert_batch"]
    return ti.xcom_pull(task_ids="revert_batch", key="return_value")


def test_a_batch_with_wrong_credits_is_reverted_and_the_corrected_file_loads(dagbag, conn, landing, no_lock):
    drop(landing, "course/CARD-101/may.csv", WRONG)
    assert run_import(dagbag, "course/CARD-101/may.csv").state == "success"
    batch = batch_of(conn, "course/CARD-101/may.csv")
    loaded = imported_rows(conn)
    assert ("katherine@example.org", "CARD-101", "ancc", "1.00", batch) in loaded

    dry = run_revert(dagbag, batch, dry_run=True)
    assert dry.state == "success"
    assert imported_rows(conn) == loaded
    assert rows_of(conn, "SELECT status FROM course_import.ledger WHERE batch_id = %s", (batch,)) == [("loaded",)]

    run = run_revert(dagbag, batch)
    assert run.state == "success"
    assert imported_rows(conn) == []
    assert rows_of(conn, "SELECT count(*) FROM lms.learner WHERE import_batch IS NOT NULL") == [(0,)]
    assert rows_of(conn, "SELECT status, reverted_by, revert_reason, revert_counts->'deleted'"
                         " FROM course_import.ledger WHERE batch_id = %s", (batch,)) == [
        ("reverted", "dag_test", "wrong credit amounts",
         {"held_records": 0, "credit_records": 4, "enrollments": 3, "learners": 2, "courses": 0})]

    drop(landing, "course/CARD-101/may-corrected.csv", DEMO)
    assert run_import(dagbag, "course/CARD-101/may-corrected.csv").state == "success"

    corrected = batch_of(conn, "course/CARD-101/may-corrected.csv")
    assert summary(landing, "may-corrected.csv")["created"] == {"learners": 2, "courses": 0, "enrollments": 3,
                                                                "credit_records": 4, "held_records": 0}
    assert ("katherine@example.org", "CARD-101", "ancc", "1.50", corrected) in imported_rows(conn)
    assert len(imported_rows(conn)) == 4


def test_the_same_bytes_load_again_once_their_batch_is_reverted(dagbag, conn, landing, no_lock):
    drop(landing, "course/CARD-101/may.csv", DEMO)
    run_import(dagbag, "course/CARD-101/may.csv")
    batch = batch_of(conn, "course/CARD-101/may.csv")
    assert run_revert(dagbag, batch, reason="loaded too early").state == "success"

    drop(landing, "course/CARD-101/may.csv", DEMO)  # the very same bytes, dropped again
    assert run_import(dagbag, "course/CARD-101/may.csv").state == "success"

    assert rows_of(conn, "SELECT status, count(*), count(DISTINCT sha256) FROM course_import.ledger"
                         " GROUP BY 1 ORDER BY 1") == [("loaded", 1, 1), ("reverted", 1, 1)]
    assert rows_of(conn, "SELECT count(DISTINCT sha256) FROM course_import.ledger") == [(1,)]
    assert len(imported_rows(conn)) == 4


def test_a_revert_is_refused_while_the_importer_is_locked_and_goes_through_after_the_unlock(
        dagbag, conn, landing, no_lock, capfd):
    from airflow.models.variable import Variable

    drop(landing, "course/CARD-101/may.csv", DEMO)
    run_import(dagbag, "course/CARD-101/may.csv")
    batch = batch_of(conn, "course/CARD-101/may.csv")
    loaded = imported_rows(conn)
    Variable.set("course_record_import_lock", json.dumps({"file": None, "run_id": None, "reason": "checking a file",
                                                          "time": "2026-11-29T08:00:00+00:00"}))
    capfd.readouterr()

    assert run_revert(dagbag, batch).state == "failed"
    assert ("refused: the importer is locked since 2026-11-29T08:00:00+00:00 by an admin: checking a file — "
            "nothing was reverted; unlock the importer (DAG course_record_unlock)") in capfd.readouterr().out
    assert imported_rows(conn) == loaded
    assert rows_of(conn, "SELECT status FROM course_import.ledger WHERE batch_id = %s", (batch,)) == [("loaded",)]
    assert json.loads(Variable.get("course_record_import_lock"))["reason"] == "checking a file"

    dry = run_revert(dagbag, batch, dry_run=True)  # looking is allowed while locked
    assert dry.state == "success"
    shown = capfd.readouterr().out
    assert f"dry run — nothing was changed. Reverting batch {batch} (course/CARD-101/may.csv" in shown
    assert "the revert itself is refused until it is unlocked" in shown
    assert revert_result(dry)["deleted"] == {"held_records": 0, "credit_records": 4, "enrollments": 3,
                                           "learners": 2, "courses": 0}

    dagbag.get_dag("course_record_unlock").test(run_conf={"reason": "file checked", "confirm": True})
    assert run_revert(dagbag, batch).state == "success"
    assert imported_rows(conn) == []


def test_a_batch_that_is_not_loaded_is_refused(dagbag, conn, landing, no_lock):
    drop(landing, "course/CARD-101/bad.csv", "external_email,complete\ngrace@example.org,yes\n")
    run_import(dagbag, "course/CARD-101/bad.csv")
    batch = batch_of(conn, "course/CARD-101/bad.csv", status="rejected")

    assert run_revert(dagbag, batch).state == "failed"
    assert rows_of(conn, "SELECT status, reverted_at FROM course_import.ledger WHERE batch_id = %s", (batch,)) == [
        ("rejected", None)]


@pytest.mark.parametrize(("conf", "param"), [
    ({"confirm": False}, "confirm"),
    ({"reason": ""}, "reason"),
    ({"batch": ""}, "batch"),
], ids=["unconfirmed", "no-reason", "no-batch"])
def test_the_form_refuses_a_run_without_confirm_reason_or_batch(dagbag, conn, no_lock, conf, param):
    from airflow.sdk.exceptions import ParamValidationError

    with pytest.raises(ParamValidationError, match=f"Invalid input for param {param}"):
        run_revert(dagbag, **{"batch": "20261129T101500Z-a1b2c3", **conf})


def test_a_reason_of_only_spaces_fails_the_run_and_reverts_nothing(dagbag, conn, landing, no_lock, capfd):
    drop(landing, "course/CARD-101/may.csv", DEMO)
    run_import(dagbag, "course/CARD-101/may.csv")
    batch = batch_of(conn, "course/CARD-101/may.csv")
    capfd.readouterr()

    assert run_revert(dagbag, batch, reason=" \n\t ").state == "failed"
    assert "refused: a reason is required to revert a batch" in capfd.readouterr().out
    assert len(imported_rows(conn)) == 4
    assert rows_of(conn, "SELECT status FROM course_import.ledger WHERE batch_id = %s", (batch,)) == [("loaded",)]


# --- the form as the UI submits it: through the real API server ---------------------------

@pytest.fixture(scope="module")
def api_server(airflow_db, tmp_path_factory):
    """Airflow's API server on a copy of the test metadata database, with the DAGs serialized.

    Yields (base URL, bearer token). Simple auth with everyone an admin: the form is under test,
    not the sign-in.
    """
    import os
    import socket
    import subprocess
    import sys
    import time
    import urllib.request
    from pathlib import Path

    home = tmp_path_factory.mktemp("api-server") / "airflow"
    copy_airflow_home(home)
    env = dict(os.environ, AIRFLOW_HOME=str(home), PYTHONPATH=str(REPO),
               AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=f"sqlite:///{home / 'airflow.db'}",
               AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS="True")
    airflow = str(Path(sys.executable).parent / "airflow")
    subprocess.run([airflow, "dags", "reserialize"], env=env, cwd=REPO, check=True, capture_output=True)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    log = (home / "api-server.log").open("w")
    server = subprocess.Popen([airflow, "api-server", "-p", str(port), "-w", "1"], env=env, cwd=REPO,
                              stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 180  # a bound, so a broken start fails instead of hanging
        while True:
            assert server.poll() is None, (home / "api-server.log").read_text()[-3000:]
            try:
                with urllib.request.urlopen(f"{base}/api/v2/monitor/health", timeout=5):
                    break
            except OSError:
                assert time.time() < deadline, "the API server did not answer"
                time.sleep(0.5)
        with urllib.request.urlopen(f"{base}/auth/token", timeout=30) as answer:
            token = json.load(answer)["access_token"]
        yield base, token
    finally:
        server.terminate()
        server.wait(60)
        log.close()


def _api(api_server, method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
    import urllib.error
    import urllib.request

    base, token = api_server
    request = urllib.request.Request(f"{base}{path}", method=method,
                                     data=json.dumps(body).encode() if body is not None else None,
                                     headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:
            return answer.status, json.load(answer)
    except urllib.error.HTTPError as refused:
        return refused.code, json.load(refused)


def test_the_trigger_form_asks_for_each_param_as_a_person_sees_it(api_server):
    status, details = _api(api_server, "GET", "/api/v2/dags/course_record_revert/details")

    assert status == 200
    params = details["params"]
    assert list(params) == ["batch", "reason", "dry_run", "confirm"]
    assert params["reason"]["schema"]["format"] == "multiline"  # a text area: the reason may take lines
    assert params["confirm"]["schema"] == {"type": "boolean", "const": True, "title": "Confirm"}
    # no batch, reason or confirmation until a person gives one (an invalid default is shown empty)
    assert [p["value"] for p in params.values()] == [None, None, False, None]


@pytest.mark.parametrize(("conf", "message"), [
    ({"confirm": False}, "Invalid input for param confirm: True was expected"),
    ({"reason": ""}, "Invalid input for param reason: '' should be non-empty"),
    ({"batch": ""}, "Invalid input for param batch: '' should be non-empty"),
], ids=["unconfirmed", "no-reason", "no-batch"])
def test_the_api_server_refuses_an_unconfirmed_or_unexplained_revert(api_server, conf, message):
    body = {"logical_date": None, "conf": {"batch": "20261129T101500Z-a1b2c3", "reason": "wrong amounts",
                                           "dry_run": False, "confirm": True, **conf}}

    status, answer = _api(api_server, "POST", "/api/v2/dags/course_record_revert/dagRuns", body)

    assert status == 400
    assert answer["detail"].startswith(message), answer


def test_the_api_server_queues_a_confirmed_revert_with_its_reason_lines_intact(api_server):
    reason = "credits for ANCC were 1.00, should be 1.50\nticket CME-412"
    body = {"logical_date": None, "conf": {"batch": "20261129T101500Z-a1b2c3", "reason": reason,
                                           "dry_run": True, "confirm": True}}

    status, run = _api(api_server, "POST", "/api/v2/dags/course_record_revert/dagRuns", body)

    assert status == 200, run
    assert run["state"] == "queued"
    assert run["conf"]["reason"] == reason
