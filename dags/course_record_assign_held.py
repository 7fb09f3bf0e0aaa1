"""
### Assign held course records

Hourly (`COURSE_RECORD_ASSIGN_SCHEDULE`), and by hand: loads the records held for learners who
had no account when their file came in (Variable `course_record_missing_learners` = `hold`, or
an import run with `assign_immediately` off), once a learner with that `external_user_id` or
email exists. The held values are checked again against what the LMS holds now, with the same
suites as an import, and loaded with the same statements, in the `course_record_import` pool,
under the import lock and the loaders' advisory lock: one assignment batch per import batch,
recorded in the ledger (`assigned_from`), with its report under `reports/<batch>/`.

Every held record ends `assigned` or `refused` (with the reason) in
`course_import.held_record`; nothing is deleted. A held `complete=1` record without
`date_completed` is completed at the assignment time, and its resolution says so. While the
importer is locked nothing is assigned; the records wait for the next run.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import dag, get_current_context, task

from include.course_records import settings
from include.course_records.notify import ImporterLockedNotifier


def _on_failure(context) -> None:
    """Also covers an assignment whose process was killed: Airflow reports it failed, and we lock."""
    from include.course_records import pipeline

    pipeline.lock_after_failed_assignment(context["run_id"], context.get("exception") or "the task failed")


@dag(
    dag_id=settings.ASSIGN_DAG_ID,
    schedule=settings.assign_schedule(),
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    doc_md=__doc__,
    tags=["course-records", "import"],
    default_args={"owner": "data-team", "retries": 0},
)
def course_record_assign_held():
    @task(pool=settings.IMPORT_POOL, execution_timeout=settings.load_timeout(),
          on_failure_callback=[_on_failure, ImporterLockedNotifier()])
    def assign_held_records() -> list[dict]:
        from airflow.sdk import Variable

        from include.course_records import pipeline

        context = get_current_context()
        landing_url = Variable.get(settings.LANDING_VARIABLE, default=None)
        return pipeline.assign_held(context["run_id"], landing_url)

    assign_held_records()


course_record_assign_held()
