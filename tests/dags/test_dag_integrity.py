"""House rules for every DAG file: it imports cleanly, cheaply, and says who owns it."""

from __future__ import annotations

import ast
import subprocess
import sys

import pytest

from tests.conftest import REPO

DAG_FILES = sorted((REPO / "dags").glob("*.py"))
EXPECTED = {"course_record_import", "course_record_landing_scan", "course_record_unlock", "course_record_pars_report",
            "course_record_assign_held", "course_record_revert"}
HEAVY = ("pandas", "great_expectations", "psycopg2", "numpy", "pyarrow")


def test_every_dag_file_imports_without_error(dagbag):
    assert dagbag.import_errors == {}
    assert set(dagbag.dag_ids) == EXPECTED


@pytest.mark.parametrize("path", DAG_FILES, ids=lambda p: p.name)
def test_no_heavy_import_at_module_top_level(path):
    tree = ast.parse(path.read_text())
    top = [node for node in tree.body if isinstance(node, ast.Import | ast.ImportFrom)]
    names = [alias.name for node in top if isinstance(node, ast.Import) for alias in node.names]
    names += [node.module or "" for node in top if isinstance(node, ast.ImportFrom)]
    assert not [n for n in names if n.split(".")[0] in HEAVY]


def test_parsing_the_dags_loads_no_heavy_library():
    """What the DAG processor pays for every parse: not pandas, GX or psycopg2 (include/ imports included)."""
    code = ("import sys; from airflow.dag_processing.dagbag import DagBag; DagBag(dag_folder=sys.argv[1]);"
            f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code, str(REPO / "dags")], capture_output=True, text=True,
                         cwd=REPO, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_house_rules(dagbag):
    for dag_id in EXPECTED:
        dag = dagbag.get_dag(dag_id)
        assert "course-records" in dag.tags, dag_id
        assert dag.doc_md, dag_id
        assert all(task.owner == "data-team" for task in dag.tasks), dag_id
    scan = dagbag.get_dag("course_record_landing_scan")
    assert scan.max_active_runs == 1
    for manual in ("course_record_unlock", "course_record_pars_report", "course_record_import", "course_record_revert"):
        assert type(dagbag.get_dag(manual).timetable).__name__ == "NullTimetable", manual


def test_every_load_task_runs_in_the_import_pool_with_a_timeout_and_the_lock_callback(dagbag):
    dag = dagbag.get_dag("course_record_import")
    for task_id in ("load_course_level", "load_legacy_global"):
        task = dag.get_task(task_id)
        assert task.pool == "course_record_import"
        assert task.execution_timeout is not None
        assert task.on_failure_callback


def test_the_revert_runs_in_the_import_pool_with_a_timeout(dagbag):
    task = dagbag.get_dag("course_record_revert").get_task("revert_batch")
    assert task.pool == "course_record_import"
    assert task.execution_timeout is not None


def test_the_import_pool_exists_with_one_slot(airflow_db):
    from airflow.models.pool import Pool

    assert Pool.get_pool("course_record_import").slots == 1
