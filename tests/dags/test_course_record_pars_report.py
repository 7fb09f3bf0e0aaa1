"""The PARS report DAG with dag.test() on the real LMS database, after real imports through the import DAG."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from lxml import etree

from include.course_records import pars, settings
from include.course_records.pars_xml import LOM, MEMS
from tests.conftest import IMPORT_DEFAULTS, REPO, drop, rows_of
from tests.include.course_records.pars_catalogue import set_course

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
    return dagbag.get_dag(settings.IMPORT_DAG_ID).test(run_conf={**IMPORT_DEFAULTS, "file": file})


def run_pars(dagbag, year: int | None):
    # every param given: dag.test() lets a run's conf leak into the next
    return dagbag.get_dag(settings.PARS_DAG_ID).test(run_conf={"year": year})


def runs(landing: Path) -> list[dict[str, Path]]:
    """The files of every report run so far, oldest first, by kind (activities.xml, problems.csv, …)."""
    folder = landing / "reports" / "pars"
    stems = sorted({path.name.rsplit("-reconciliation.json", 1)[0] for path in folder.glob("*-reconciliation.json")})
    return [{path.name[len(stem) + 1:]: path for path in folder.glob(f"{stem}-*")} for stem in stems]


def activity_counts(xml: Path) -> dict[str, tuple[str, str]]:
    """Provider Activity ID → (physicians, other learners) in an activity upload file."""
    ns = {"m": MEMS, "lom": LOM}
    found = {}
    for activity in etree.parse(str(xml)).getroot():
        pid = activity.findtext("m:ActivityDescription/lom:lom/lom:general/lom:identifier/lom:entry", namespaces=ns)
        found[pid] = tuple(c.text for c in activity.iterfind("m:ParticipationMetrics/m:ParticipantsByCategory", ns))
    return found


def reconciliation(path: Path) -> dict[str, dict[str, str]]:
    return {row["external_course_id"]: row for row in csv.DictReader(io.StringIO(path.read_text()))}


def test_the_dag_is_manual_tagged_owned_and_asks_for_the_year_or_nothing(dagbag):
    assert not {path: error for path, error in dagbag.import_errors.items() if "pars" in path}
    dag = dagbag.get_dag(settings.PARS_DAG_ID)

    assert dag.schedule is None  # manual only
    assert set(dag.tags) == {"course-records", "pars"}
    assert dag.doc_md and "JA-PARS" in dag.doc_md and "31 March" in dag.doc_md
    assert {task.owner for task in dag.tasks} == {"data-team"}
    year = dag.params.get_param("year")
    assert year.value is None
    assert year.schema["type"] == ["null", "integer"]


def test_the_dag_file_imports_no_pandas_psycopg2_or_gx_at_parse_time():
    probe = ("import runpy, sys; runpy.run_path('dags/course_record_pars_report.py'); "
             "print(sorted(m for m in ('pandas', 'psycopg2', 'great_expectations', 'lxml') if m in sys.modules))")

    done = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, check=True,
                          timeout=120)

    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_acceptance_course_level_learners_count_and_a_global_import_changes_nothing(dagbag, conn, landing, no_lock):
    drop(landing, "course/CARD-101/x.csv", COURSE_LEVEL)
    assert run_import(dagbag, "course/CARD-101/x.csv").state == "success"

    assert run_pars(dagbag, 2026).state == "success"

    [first] = runs(landing)
    assert set(first) == {"activities.xml", "ja-activities.xml", "learners.csv", "learners-missing.csv",
                          "problems.csv", "reconciliation.csv", "duplicates.csv", "reconciliation.json"}
    # Ada (demo catalogue), Grace and Katherine are physicians; Edsger is the other learner.
    assert activity_counts(first["activities.xml"]) == {"101": ("3", "1"), "201": ("0", "0"), "301": ("0", "0")}
    assert reconciliation(first["reconciliation.csv"])["CARD-101"]["status"] == "written"

    drop(landing, "global/y.csv", GLOBAL)
    assert run_import(dagbag, "global/y.csv").state == "success"
    assert rows_of(conn, "SELECT count(*) FROM lms.enrollment e JOIN lms.course c ON c.id = e.course_id"
                         " WHERE c.external_course_id = 'CARD-101' AND e.import_source = 'legacy_global_import'"
                         ) == [(1,)]

    assert run_pars(dagbag, 2026).state == "success"

    [_, second] = runs(landing)
    assert second["activities.xml"].read_bytes() == first["activities.xml"].read_bytes()  # nothing changed
    after = reconciliation(second["reconciliation.csv"])
    card = after["CARD-101"]
    assert (card["physicians"], card["not_counted_global_import"], card["change_physicians"]) == ("3", "1", "0")
    shell = after["LEGACY-2019-ECG"]  # the shell is listed, never an activity
    assert (shell["status"], shell["not_counted_global_import"], shell["not_counted_in_shell"]) == (
        "imported shell", "1", "0")


def test_without_a_year_the_run_reports_the_year_annual_reporting_is_under_way_for(dagbag, conn, landing):
    run = run_pars(dagbag, None)

    assert run.state == "success"
    expected = pars.default_reporting_year(datetime.now(UTC).date())  # the provider's time zone is UTC here
    [files] = runs(landing)
    assert files["reconciliation.json"].name.startswith(f"pars-{expected}-")
    assert json.loads(files["reconciliation.json"].read_text())["year"] == expected


def test_an_activity_failing_the_check_fails_the_run_after_writing_the_files(dagbag, conn, landing):
    set_course(conn, "CARD-101", pars_state="Illinois")

    run = run_pars(dagbag, 2026)

    assert run.state == "failed"
    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert states == {"write_pars_report": "success", "check_pre_submission": "failed"}
    [files] = runs(landing)
    assert "101" not in activity_counts(files["activities.xml"])
    [problem] = csv.DictReader(io.StringIO(files["problems.csv"].read_text()))
    assert (problem["external_course_id"], problem["field"]) == ("CARD-101", "State")
    assert "to the state's postal code, e.g. IL" in problem["fix"]


def test_a_year_without_activities_writes_empty_files(dagbag, conn, landing):
    assert run_pars(dagbag, 2019).state == "success"

    [files] = runs(landing)
    assert activity_counts(files["activities.xml"]) == {}
    assert reconciliation(files["reconciliation.csv"]) == {}
