"""Acceptance, as ops would see it: a real `airflow api-server` on loopback with the plugin,
headless Chromium signing in with Airflow's own login form.

Real import runs (dag.test) leave a load, a rejection, a failed load that locks the importer, and
a run stopped by that lock; the API server then runs on a copy of that Airflow home (SQLite).
Screenshots go to test-artifacts/ (COURSE_RECORDS_TEST_ARTIFACTS).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.conftest import REPO, copy_airflow_home, drop
from tests.plugins.chromium import Chromium

pytestmark = pytest.mark.browser

HEADER = "external_email,first_name,last_name,enrollment_start,complete,date_completed,credits,credit_type,participant_category\n"
DEMO = (REPO / "demo/course/CARD-101/card-101-2026.csv").read_text()
REJECTED = HEADER + "bea@example.org,Bea,Ek,2026-05-04,0,,2.00,ama_pra_1,physician\n"  # R06, line 2
R06_MESSAGE = ('line 2, credits: "2.00" on a record that is not complete (complete=0) — remove the credits or '
               "mark the record complete with date_completed (R06)")
USER, PASSWORD = "ops", secrets.token_urlsafe(12)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_import(dagbag, **conf):
    return dagbag.get_dag("course_record_import").test(
        run_conf={"importer": None, "course": None, "dry_run": False, "load_valid_rows": False, **conf})


@pytest.fixture
def outcomes(dagbag, conn, landing, no_lock):
    """One run of each outcome, for real; returns {outcome: run_id}."""
    drop(landing, "course/CARD-101/card-101-2026.csv", DEMO)
    drop(landing, "course/CARD-101/bad.csv", REJECTED)
    runs = {"loaded": run_import(dagbag, file="course/CARD-101/card-101-2026.csv").run_id,
            "rejected": run_import(dagbag, file="course/CARD-101/bad.csv").run_id}
    drop(landing, "global/legacy-history.csv", (REPO / "demo/global/legacy-history.csv").read_text())
    with conn.cursor() as cur:  # the LMS fails under the load: the importer locks
        cur.execute("""CREATE FUNCTION lms.test_fault() RETURNS trigger LANGUAGE plpgsql AS
                       $$ BEGIN RAISE EXCEPTION 'credit_record storage is failing (injected fault)'; END $$;
                       CREATE TRIGGER test_fault BEFORE INSERT ON lms.credit_record
                       FOR EACH ROW EXECUTE FUNCTION lms.test_fault()""")
    conn.commit()
    try:
        runs["load failed"] = run_import(dagbag, file="global/legacy-history.csv").run_id
    finally:
        with conn.cursor() as cur:
            cur.execute("DROP TRIGGER test_fault ON lms.credit_record; DROP FUNCTION lms.test_fault()")
        conn.commit()
    drop(landing, "course/CARD-101/june.csv", DEMO.replace("2026-03", "2026-06"))
    runs["locked"] = run_import(dagbag, file="course/CARD-101/june.csv").run_id
    return runs


@contextmanager
def running_api_server(tmp_path: Path) -> Iterator[str]:
    """`airflow api-server` on loopback, on a copy of this session's Airflow home (its runs,
    Variables and DAGs as they are now); yields its base URL and stops it."""
    home = tmp_path / "airflow-home"
    copy_airflow_home(home)
    passwords = home / "passwords.json"
    passwords.write_text(json.dumps({USER: PASSWORD}))
    port = _free_port()
    env = dict(os.environ, AIRFLOW_HOME=str(home), PYTHONPATH=str(REPO),
               AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=f"sqlite:///{home / 'airflow.db'}",
               AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS=f"{USER}:op",
               AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE=str(passwords),
               AIRFLOW__API_AUTH__JWT_SECRET=secrets.token_hex(32),
               AIRFLOW__CORE__LAZY_LOAD_PLUGINS="False")
    log_path = tmp_path / "api-server.log"
    with log_path.open("w") as log:
        process = subprocess.Popen([str(Path(sys.executable).parent / "airflow"), "api-server", "--host", "127.0.0.1",
                                    "--port", str(port), "--workers", "1", "--apps", "core"],
                                   cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 180
            while True:
                try:
                    urllib.request.urlopen(f"{base}/api/v2/monitor/health", timeout=5)
                    break
                except OSError:
                    if process.poll() is not None or time.monotonic() > deadline:
                        raise AssertionError("the API server did not start:\n" + log_path.read_text()[-4000:]) from None
                    time.sleep(0.5)
            yield base
        finally:  # the server and the workers it forked: its own process group, nothing else
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(10)


@pytest.fixture
def api_server(outcomes, tmp_path, landing):
    with running_api_server(tmp_path) as base:
        yield base


@pytest.fixture
def browser(tmp_path):
    chromium = Chromium(tmp_path / "chromium-profile")
    yield chromium
    chromium.close()


def api(base: str, path: str, token: str, body: dict | None = None) -> dict:
    request = urllib.request.Request(f"{base}{path}", data=json.dumps(body).encode() if body is not None else None,
                                     headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def sign_in(browser: Chromium, base: str, page: str) -> None:
    """Open a page as a person would: Airflow sends the unsigned-in to its login form, then back."""
    browser.goto(f"{base}{page}")
    browser.wait_for("location.pathname.endsWith('/auth/login')", "the login form")
    browser.type_into("form input:not([type=password])", USER)
    browser.type_into("form input[type=password]", PASSWORD)
    browser.screenshot("01-sign-in.png")
    browser.click("button[type=submit]")
    browser.wait_for(f"location.pathname === {json.dumps(page)}", page)


def test_ops_sign_in_see_the_lock_and_follow_a_rejection_to_its_reports(api_server, browser, outcomes):
    sign_in(browser, api_server, "/course-records/")

    browser.wait_for("document.querySelector('#lock')", "the lock panel")
    lock = browser.text("#lock")
    assert "The importer is locked" in lock
    assert "the import of global/legacy-history.csv" in lock
    assert "credit_record storage is failing (injected fault)" in lock
    waiting = browser.text("#waiting")
    assert "global/legacy-history.csv" in waiting and "course/CARD-101/june.csv" in waiting
    assert browser.evaluate("document.querySelector('#lock a.button').getAttribute('href')") == \
        "./../dags/course_record_unlock"
    batches = browser.evaluate("[...document.querySelectorAll('#batches tbody tr')].map(tr => tr.innerText)")
    assert len(batches) == 4
    browser.screenshot("02-operator-page.png")

    # follow the rejected file's batch
    browser.evaluate("""[...document.querySelectorAll('#batches tbody tr')]
        .find(tr => tr.innerText.includes('course/CARD-101/bad.csv')).querySelector('a').click()""")
    browser.wait_for("document.querySelector('#issues tbody tr')", "the batch's issues")
    assert browser.text("h1") == "course/CARD-101/bad.csv rejected"
    cells = browser.evaluate("[...document.querySelectorAll('#issues tbody tr td')].map(td => td.innerText)")
    assert cells == ["2", "credits", "R06", "error", R06_MESSAGE]
    browser.screenshot("03-rejected-batch.png")

    # its Data Docs page, served by the same app from the landing store: the failed rule, marked failed
    browser.click("a.data-docs-page")
    browser.wait_for("location.pathname.startsWith('/course-records/data-docs/runs/')", "the Data Docs page")
    browser.wait_for("document.querySelector('#findings tbody tr')", "the run's findings")
    finding = browser.evaluate("""(() => { const tr = document.querySelector('#findings tbody tr');
        return {failed: tr.classList.contains('failed'), cells: [...tr.querySelectorAll('td')].map(td => td.innerText)}; })()""")
    assert finding == {"failed": True, "cells": ["2", "credits", "R06", "error", R06_MESSAGE]}
    browser.screenshot("04-data-docs-run-page.png")

    # the rules, linked from the batch page
    browser.goto(f"{api_server}/course-records/file-format")
    assert browser.evaluate("location.pathname") == "/course-records/file-format"


def test_rejected_and_locked_runs_stand_apart_from_loads_in_the_run_list(api_server, browser, outcomes):
    token = api(api_server, "/auth/token", "", {"username": USER, "password": PASSWORD})["access_token"]
    runs = api(api_server, "/api/v2/dags/course_record_import/dagRuns?limit=100", token)["dag_runs"]
    states = {run["dag_run_id"]: run["state"] for run in runs}
    failed_tasks = {}
    for outcome, run_id in outcomes.items():
        tis = api(api_server, f"/api/v2/dags/course_record_import/dagRuns/{urllib.request.quote(run_id, safe='')}"
                              "/taskInstances", token)["task_instances"]
        failed_tasks[outcome] = sorted(ti["task_id"] for ti in tis if ti["state"] == "failed")

    assert {outcome: states[run_id] for outcome, run_id in outcomes.items()} == {
        "loaded": "success", "rejected": "failed", "load failed": "failed", "locked": "failed"}
    assert failed_tasks == {"loaded": [], "rejected": ["file_rejected"], "load failed": ["load_legacy_global"],
                            "locked": ["check_lock"]}

    # a run triggered by hand is named after its file
    triggered = api(api_server, "/api/v2/dags/course_record_import/dagRuns", token,
                    {"logical_date": None, "conf": {"file": "course/CARD-101/june.csv"}})
    assert triggered["dag_run_id"].startswith("manual__") and triggered["dag_run_id"].endswith("__course_CARD-101_june.csv")

    # what a person sees: the run list, failed runs marked failed
    sign_in(browser, api_server, "/dags/course_record_import/runs")
    rows = browser.wait_for("""(() => { const rows = [...document.querySelectorAll('tbody tr')].map(tr => tr.innerText)
        .filter(text => text.includes('manual__'));
        return rows.length >= 5 ? rows : null; })()""", "the five runs")
    browser.screenshot("05-run-list.png")
    by_run = {run_id: next((r for r in rows if run_id in r), None) for run_id in outcomes.values()}
    assert None not in by_run.values(), rows
    assert "Success" in by_run[outcomes["loaded"]]
    for outcome in ("rejected", "load failed", "locked"):
        assert "Failed" in by_run[outcomes[outcome]], (outcome, by_run[outcomes[outcome]])
    assert any(triggered["dag_run_id"] in r for r in rows)

    # and the operator page where ops find it, inside the Airflow UI
    browser.goto(f"{api_server}/plugin/course-imports")
    browser.wait_for("document.querySelector('iframe')?.contentDocument?.querySelector('#lock')",
                     "the operator page in the UI's frame")
    assert "The importer is locked" in browser.evaluate(
        "document.querySelector('iframe').contentDocument.querySelector('#lock').innerText")
    browser.screenshot("06-operator-page-in-airflow.png")

    # the unlock form opens in the whole window, not inside the frame
    browser.evaluate("document.querySelector('iframe').contentDocument.querySelector('#lock a.button').click()")
    browser.wait_for("location.pathname === '/dags/course_record_unlock'", "the unlock DAG's page")
    assert browser.evaluate("window.top === window")


def test_the_trigger_forms_offer_what_works_and_refuse_an_unconfirmed_unlock(dags_in_db, tmp_path, browser):
    with running_api_server(tmp_path) as base:
        token = api(base, "/auth/token", "", {"username": USER, "password": PASSWORD})["access_token"]

        # the import form: the importer's empty choice is named, only the file is required
        sign_in(browser, base, "/dags/course_record_import")
        browser.click('button[aria-label="Trigger Dag"]')
        browser.wait_for("document.querySelector('#element_importer input')", "the importer field")
        labels = browser.evaluate("[...document.querySelectorAll('[role=dialog] label')].map(l => l.innerText.trim())")
        assert "File\n*" in labels
        assert {"Importer", "Course", "Dry run", "Load valid rows"} <= set(labels)  # no "*": not required
        browser.evaluate("document.querySelector('#element_importer input').focus()")
        browser.call("Input.dispatchKeyEvent", type="keyDown", key="ArrowDown", code="ArrowDown", windowsVirtualKeyCode=40)
        options = browser.wait_for("""(() => { const o = [...document.querySelectorAll('#element_importer [role=option]')]
            .map(o => o.innerText); return o.length ? o : null; })()""", "the importer's choices")
        assert options == ["from the file's path", "course-level (course/…)", "global, legacy (global/…)"]
        browser.screenshot("07-import-form.png")

        # the unlock form: a reason over several lines, and no run while confirm is off
        def unlock_runs() -> dict[str, dict]:
            runs = api(base, "/api/v2/dags/course_record_unlock/dagRuns?limit=1000", token)["dag_runs"]
            return {run["dag_run_id"]: run["conf"] for run in runs}

        before = unlock_runs()
        browser.goto(f"{base}/dags/course_record_unlock")
        browser.click('button[aria-label="Trigger Dag"]')
        assert browser.wait_for("document.querySelector('#element_reason')?.tagName", "the reason") == "TEXTAREA"
        browser.type_into("#element_reason", "a stray tab in the header\nre-dropped the corrected file")
        trigger = "[...document.querySelectorAll('[role=dialog] button')].find(b => b.innerText.trim() === 'Trigger')"
        browser.evaluate(f"{trigger}.click()")
        refusal = browser.wait_for("""[...document.querySelectorAll('[role=dialog]')].map(d => d.innerText)
            .find(t => t.includes('tick Confirm'))""", "the refusal")
        assert "tick Confirm to unlock the importer" in refusal
        browser.screenshot("08-unlock-refused-without-confirm.png")
        assert unlock_runs() == before

        browser.click("input[name=element_confirm]")
        browser.evaluate(f"{trigger}.click()")
        browser.wait_for("![...document.querySelectorAll('[role=dialog]')].some(d => d.innerText.includes('Trigger Dag'))",
                         "the form closing")
        started = {run_id: conf for run_id, conf in unlock_runs().items() if run_id not in before}
        assert list(started.values()) == [{"reason": "a stray tab in the header\nre-dropped the corrected file",
                                           "confirm": True}]
