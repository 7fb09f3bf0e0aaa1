"""
### Unlock the course record importer

Manual only. A load that failed or hung locked the importer (Variable
`course_record_import_lock`); read its diagnosis, fix the cause (usually the file: see the
run's `reports/<batch>/summary.json`), then trigger this DAG with a **reason** and
**confirm** ticked. It clears the lock, records who and why in the LMS ledger
(`course_import.lock_event`), and lets the files waiting in landing go through on the next scan.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import Param, dag, get_current_context, task

from include.course_records import settings


@dag(
    dag_id=settings.UNLOCK_DAG_ID,
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    doc_md=__doc__,
    tags=["course-records", "lock"],
    default_args={"owner": "data-team", "retries": 0},
    params={
        "reason": Param("", type="string", minLength=1, title="Reason",
                        description="What was wrong and what you did about it (recorded in the unlock history)"),
        "confirm": Param(False, type="boolean", title="Confirm",
                         description="Tick to confirm the cause is fixed and imports may load again"),
    },
)
def course_record_unlock():
    @task
    def unlock_importer() -> dict | None:
        from airflow.sdk.exceptions import AirflowFailException

        from include.course_records import db, lock, scan

        context = get_current_context()
        params = context["params"]
        reason = (params.get("reason") or "").strip()
        if not reason:
            raise AirflowFailException("a reason is required to unlock the importer; the lock stays")
        if not params.get("confirm"):
            raise AirflowFailException("tick 'confirm' to unlock the importer; the lock stays")
        run = context["dag_run"]
        actor = getattr(run, "triggering_user_name", None) or run.run_type or "unknown"
        conn = db.connect()
        cleared = lock.unlock(conn, actor=str(actor), reason=reason)
        if cleared is None:
            print("the importer was not locked: nothing changed")
            return None
        released = scan.release_waiting(conn)
        print(f"unlocked by {actor}: {reason}. Was: {lock.describe(cleared)}. "
              f"{released} file(s) in landing will be picked up by the next scan.")
        return cleared

    unlock_importer()


course_record_unlock()
