"""The landing scan starts one import run per new, finished file, and none while locked."""

from __future__ import annotations

import json
import os
import time

from tests.conftest import REPO, drop, rows_of

DEMO = (REPO / "demo/course/CARD-101/card-101-2026.csv").read_text()


def scan(dagbag):
    run = dagbag.get_dag("course_record_landing_scan").test()
    assert run.state == "success"


def import_runs():
    from airflow.models.dagrun import DagRun

    return sorted((run.conf["file"], run.conf["importer"]) for run in DagRun.find(dag_id="course_record_import"))


def settled(path, seconds_ago=600):
    os.utime(path, (time.time() - seconds_ago, time.time() - seconds_ago))


def clear_import_runs():
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session

    with create_session() as session:
        session.query(DagRun).filter(DagRun.dag_id == "course_record_import").delete()


def test_scan_starts_one_run_per_new_finished_file(dagbag, conn, landing, no_lock):
    clear_import_runs()
    settled(drop(landing, "course/CARD-101/may.csv", DEMO))
    settled(drop(landing, "global/history.csv", DEMO))
    fresh = drop(landing, "course/PHARM-301/still-copying.csv", "external_email\n")  # just written
    for name in ("course/CARD-101/upload.csv.part", "course/CARD-101/~$may.csv", "global/.sync.csv",
                 "course/CARD-101/notes.txt", "archive/2026/01/01/old.csv"):
        settled(drop(landing, name, "x"))

    scan(dagbag)

    assert import_runs() == [("course/CARD-101/may.csv", "course"), ("global/history.csv", "global")]

    fresh.write_text("external_email\nada@example.org\n")  # still growing at the next scan
    scan(dagbag)
    assert len(import_runs()) == 2, "no second run for a dispatched file, none for a growing one"

    scan(dagbag)  # unchanged since the previous scan: finished
    assert ("course/PHARM-301/still-copying.csv", "course") in import_runs()
    assert len(import_runs()) == 3
    states = dict(rows_of(conn, "SELECT file_path, state FROM course_import.landing_file"))
    assert set(states.values()) == {"dispatched"} and len(states) == 3


def test_while_locked_files_wait_and_go_after_the_unlock(dagbag, conn, landing, no_lock):
    from airflow.models.variable import Variable

    clear_import_runs()
    settled(drop(landing, "course/CARD-101/may.csv", DEMO))
    Variable.set("course_record_import_lock", json.dumps({"reason": "reviewing a hung import"}))

    scan(dagbag)
    assert import_runs() == []
    assert rows_of(conn, "SELECT file_path, state FROM course_import.landing_file") == [
        ("course/CARD-101/may.csv", "seen")]

    unlock = dagbag.get_dag("course_record_unlock").test(run_conf={"reason": "reviewed", "confirm": True})
    assert unlock.state == "success"
    scan(dagbag)

    assert import_runs() == [("course/CARD-101/may.csv", "course")]
