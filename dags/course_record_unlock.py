"""
### Unlock the course record importer

Manual only. A load that failed or hung locked the importer (Variable
`course_record_import_lock`); read its diagnosis on the operator page (*Course imports* in the
navigation), fix the cause (usually the file: see the batch's report), then trigger this DAG
with a **reason** and **confirm** ticked: Airflow refuses to start it without both. It clears
the lock, records who and why in the LMS ledger (`course_import.lock_event`), and lets every
file in landing go through on the next scan (its log says how many).
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
        "reason": Param("", type="string", minLength=1, format="multiline", title="Reason",
                        description="What was wrong and what you did about it (recorded in the unlock history)"),
        # a plain switch: the trigger request is refused unless it is ticked (the plugin's
        # include/course_records/triggers.py says why the schema cannot require it)
        "confirm": Param(False, type="boolean", title="Confirm",
                         description="Must be ticked: the cause is fixed and imports may load again"),
    },
)
def course_record_unlock():
    @task
    def unlock_importer() -> dict | None:
        from airflow.sdk import Variable
        from airflow.sdk.exceptions import AirflowFailException

        from include.course_records import pipeline

        context = get_current_context()
        params = context["params"]
        reason = (params.get("reason") or "").strip()
        # the form enforces both; a run started another way (dag.test, an old client) is checked here
        if not reason:
            raise AirflowFailException("a reason is required to unlock the importer; the lock stays")
        if params.get("confirm") is not True:
            raise AirflowFailException("tick 'confirm' to unlock the importer; the lock stays")
        run = context["dag_run"]
        actor = getattr(run, "triggering_user_name", None) or run.run_type or "unknown"
        landing_url = Variable.get(settings.LANDING_VARIABLE, default=None)
        return pipeline.user_errors(pipeline.unlock)(str(actor), reason, landing_url)

    unlock_importer()


course_record_unlock()
