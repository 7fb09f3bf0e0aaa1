"""Run one import DAG run in this process (for tests that need a separate, killable process).

Usage: python tests/dags/import_process.py LANDING_PATH
Environment: as set up by tests/conftest.py (AIRFLOW_HOME with an initialised database, etc.).
"""

import json
import sys
from pathlib import Path

from airflow.dag_processing.dagbag import DagBag

REPO = Path(__file__).resolve().parents[2]  # not from conftest: importing it would reset the environment

dag = DagBag(dag_folder=str(REPO / "dags")).get_dag("course_record_import")
run = dag.test(run_conf={"file": sys.argv[1], "importer": None, "course": None, "dry_run": False,
                         "load_valid_rows": False, "missing_learners": None, "assign_immediately": True})
print("TASK STATES " + json.dumps({ti.task_id: ti.state for ti in run.get_task_instances()}))
print(f"RUN STATE {run.state}")
sys.exit(0 if run.state == "success" else 1)
