"""The PARS report DAG with dag.test() on the real LMS database, after real imports through the import DAG."""

from __future__ import annotations

import csv
import io
import subprocess
import sys
from datetime import UTC, datetime

from include.course_records import pars, settings
from include.course_records.pars import FIELDS
from tests.conftest import REPO, drop, rows_of

COURSE_LEVEL = """\
external_course_id,external_user_id,external_email,first_name,last_name,enrollment_start,complete,date_completed,participant_category
CARD-101,U1002,grace@example.org,Grace,Hopper,2026-05-04,1,2026-05-05,physician
CARD-101,,katherine@example.org,Katherine,Johnson,2026-05-04,1,2026-05-06,physician
CARD-101,,edsger@example.org,Edsger,Dijkstra,2026-05-10,1,2026-05-11T16:30:00Z,other
"""
# One more physician into CARD-101, and a learner for a course the LMS doesn't know (a shell).
GLOBAL = """\
external_course_id,title,external_email,first_name,last_name,enrollment_start,complete,date_completed,participant_category
CARD-101,Cardiology Update,barbara@example.org,Barbara,Liskov,2026-06-01,1,2026-06-02,physician
LEGACY-2019-ECG,ECG Interpretation (2019 archive),barbara@example.org,Barbara,Liskov,2026-01-10,1,2026-01-12,physician
"""


def run_import(dagbag, file: str):
    return dagbag.get_dag(settings.IMPORT_DAG_ID).test(run_conf={"file": file})


def run_pars(dagbag, year: int):
    return dagbag.get_dag(settings.PARS_DAG_ID).test(run_conf={"year": year})


def written_files(landing) -> list[tuple[str, str]]:
    """(batch file, summary CSV) texts of every PARS run so far, oldest first."""
    batch_files = sorted((landing / "reports" / "pars").glob("pars-*.txt"))
    return [(path.read_text(), path.with_name(path.stem + "-summary.csv").read_text()) for path in batch_files]


def lines_by_course(batch_file: str) -> dict[str, dict[str, str]]:
    """The batch file's lines by Provider Activity ID, each as ACCME field name → value."""
    lines = [dict(zip(FIELDS, line.split("\t"), strict=True)) for line in batch_file.split("\n")[:-1]]
    return {line["Provider Activity ID"]: line for line in lines}


def summary_by_course(summary_csv: str) -> dict[str, dict[str, str]]:
    return {row["external_course_id"]: row for row in csv.DictReader(io.StringIO(summary_csv))}


def test_the_dag_is_manual_tagged_owned_and_asks_for_the_year(dagbag):
    assert not {path: error for path, error in dagbag.import_errors.items() if "pars" in path}
    dag = dagbag.get_dag(settings.PARS_DAG_ID)

    assert dag.schedule is None  # manual only
    assert set(dag.tags) == {"course-records", "pars"}
    assert dag.doc_md and "PARS" in dag.doc_md
    assert {task.owner for task in dag.tasks} == {"data-team"}
    year = dag.params.get_param("year")
    assert year.value == datetime.now(UTC).year
    assert year.schema["type"] == "integer"


def test_the_dag_file_imports_no_pandas_psycopg2_or_gx_at_parse_time():
    probe = ("import runpy, sys; runpy.run_path('dags/course_record_pars_report.py'); "
             "print(sorted(m for m in ('pandas', 'psycopg2', 'great_expectations') if m in sys.modules))")

    done = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, check=True,
                          timeout=120)

    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_acceptance_course_level_learners_count_and_a_global_import_changes_nothing(dagbag, conn, landing, no_lock):
    """Issue 6 acceptance: the 2026 CARD-101 line after a course-level import, then after a global one."""
    drop(landing, "course/CARD-101/x.csv", COURSE_LEVEL)
    assert run_import(dagbag, "course/CARD-101/x.csv").state == "success"

    assert run_pars(dagbag, 2026).state == "success"

    [(batch_file, summary)] = written_files(landing)
    assert list(lines_by_course(batch_file)) == ["101"]  # one line: NEURO-201 and PHARM-301 have no completion
    card = lines_by_course(batch_file)["101"]
    # Ada (demo catalogue), Grace and Katherine are physicians; Edsger is the other learner.
    assert (card["Template"], card["Reporting Year"], card["Activity Title"]) == ("Template C", "2026",
                                                                                  "Cardiology Update")
    assert (card["# of Physicians"], card["# of Other Learners"]) == ("3", "1")
    assert card["Number of AMA PRA Category 1 Credits Designated"] == "2.00"
    assert summary_by_course(summary)["CARD-101"]["status"] == "written"

    drop(landing, "global/y.csv", GLOBAL)
    assert run_import(dagbag, "global/y.csv").state == "success"
    assert rows_of(conn, "SELECT count(*) FROM lms.enrollment e JOIN lms.course c ON c.id = e.course_id"
                         " WHERE c.external_course_id = 'CARD-101' AND e.import_source = 'legacy_global_import'"
                         ) == [(1,)]
    assert rows_of(conn, "SELECT external_course_id FROM lms.course WHERE is_imported_shell") == [
        ("LEGACY-2019-ECG",)]

    assert run_pars(dagbag, 2026).state == "success"

    [_, (batch_file_after, summary_after)] = written_files(landing)
    assert batch_file_after == batch_file  # the CARD-101 line, and the whole file, unchanged
    after = summary_by_course(summary_after)
    assert set(after) == {"CARD-101"}  # the shell never appears
    assert (after["CARD-101"]["physicians"], after["CARD-101"]["not_counted_global_import"]) == ("3", "1")
    report = pars.build_report(conn, 2026)
    assert [(line.external_course_id, line.physicians, line.other_learners) for line in report.lines] == [
        ("CARD-101", 3, 1)]


def test_a_course_left_out_fails_the_run_after_writing_the_files(dagbag, conn, landing):
    with conn.cursor() as cur:
        cur.execute("UPDATE lms.course SET pars_activity_type = NULL WHERE external_course_id = 'CARD-101'")
    conn.commit()

    run = run_pars(dagbag, 2026)

    assert run.state == "failed"
    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert states == {"write_pars_report": "success", "check_every_course_written": "failed"}
    [(batch_file, summary)] = written_files(landing)
    assert batch_file == ""
    row = summary_by_course(summary)["CARD-101"]
    assert row["status"] == "not written" and "activity type is empty" in row["problems"]


def test_a_year_with_no_completions_writes_an_empty_batch_file(dagbag, conn, landing):
    assert run_pars(dagbag, 2019).state == "success"

    [(batch_file, summary)] = written_files(landing)
    assert batch_file == ""
    assert summary == ",".join(pars.SUMMARY_COLUMNS) + "\n"
