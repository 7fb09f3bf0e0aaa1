"""
### Course record landing scan

Every few minutes (`COURSE_RECORD_SCAN_SCHEDULE`, default every 5 minutes): lists the landing
folder's `course/*/` and `global/` files, and starts one `course_record_import` run per new,
finished file (never two runs for one file). Files still being written (size changing,
temporary names such as `*.part`, `~$*`, `.*`) wait for the next scan. While the importer is
locked, files wait in landing and the scan says so in its log.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from airflow.providers.standard.operators.trigger_dagrun import TriggerDagRunOperator
from airflow.sdk import dag, task

from include.course_records import settings


@dag(
    dag_id=settings.SCAN_DAG_ID,
    schedule=settings.scan_schedule(),
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    doc_md=__doc__,
    tags=["course-records", "landing"],
    default_args={"owner": "data-team", "retries": 1, "retry_delay": timedelta(minutes=1)},
)
def course_record_landing_scan():
    @task
    def find_new_files() -> list[dict]:
        from airflow.sdk import Variable, get_current_context

        from include.course_records import db, landing, lock, scan

        root = landing.landing_root(Variable.get(settings.LANDING_VARIABLE, default=None))
        landed = [scan.Landed(*entry) for entry in landing.list_landed(root)]
        held = lock.current()
        if held:  # a warning, so it stands out of the task log; the files wait, none is started
            logging.getLogger(__name__).warning(
                "IMPORT LOCKED: %s — new files wait in landing until the unlock (%s DAG); see %s",
                lock.describe(held), settings.UNLOCK_DAG_ID, settings.ops_url())
        context = get_current_context()
        # a run triggered by hand or through the REST API has no logical date (so no ts_nodash)
        stamp = context.get("ts_nodash") or f"{context['dag_run'].run_after:%Y%m%dT%H%M%S}"
        ti = context["ti"]
        conn = db.connect()
        ready = scan.plan(conn, landed, locked=bool(held), run_exists=lambda run_id: ti.get_dr_count(
            dag_id=settings.IMPORT_DAG_ID, run_ids=[run_id]) > 0)
        requests = [scan.run_request(path, stamp) for path in ready]
        scan.record_runs(conn, {r["conf"]["file"]: r["trigger_run_id"] for r in requests})
        print(f"{len(landed)} file(s) in landing; starting {len(requests)} import run(s)")
        return requests

    TriggerDagRunOperator.partial(
        task_id="start_import_runs", trigger_dag_id=settings.IMPORT_DAG_ID, wait_for_completion=False,
    ).expand_kwargs(find_new_files())


course_record_landing_scan()
