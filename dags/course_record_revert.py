"""
### Revert one loaded batch

Manual only. Undoes one import as a whole: deletes the batch's credit records and enrollments,
the learners and course shells it created, and the records it still holds for learners without
an account — except what something outside the batch still uses (a learner a later batch
enrolled, a shell made into a real course): those stay, and the run's log says which and why.
Nothing the batch did not create is ever touched, and landing files (the archived original,
reports) are never deleted.

Params: **batch** (the batch id: it names the run's report folder `reports/<batch>/` and begins
the archived file's name), **reason** (recorded in the ledger), **dry_run** (list every row that
would go or stay, change nothing) and **confirm** (must be ticked).

Runs in the `course_record_import` pool and under the loaders' advisory lock, in one
transaction; refused while the importer is locked or when the batch is not `loaded`. The
ledger (`course_import.ledger`) records who, when, why and the counts; the batch becomes
`reverted`, and its file may be loaded again.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import Param, dag, get_current_context, task

from include.course_records import settings


@dag(
    dag_id=settings.REVERT_DAG_ID,
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    doc_md=__doc__,
    tags=["course-records", "revert"],
    default_args={"owner": "data-team", "retries": 0},
    params={
        "batch": Param("", type="string", minLength=1, title="Batch",
                       description="The batch to revert, e.g. 20261129T101500Z-a1b2c3: its report folder's name, reports/<batch>/"),
        "reason": Param("", type="string", minLength=1, format="multiline", title="Reason",
                        description="What was wrong with the batch (recorded in the ledger)"),
        "dry_run": Param(False, type="boolean", title="Dry run",
                         description="List every row that would be deleted or kept, and why; change nothing"),
        # const: Airflow validates the form against it, so the run cannot be triggered unticked
        "confirm": Param(False, type="boolean", const=True, title="Confirm",
                         description="Must be ticked: the batch's records are deleted from the LMS "
                                     "(also for a dry run, which deletes nothing)"),
    },
)
def course_record_revert():
    @task(pool=settings.IMPORT_POOL, execution_timeout=settings.load_timeout())
    def revert_batch() -> dict:
        from airflow.sdk.exceptions import AirflowFailException

        from include.course_records import db, lock, revert
        from include.course_records.errors import UsageError

        context = get_current_context()
        params = context["params"]
        # the form enforces confirm and a non-empty reason; a run started another way is checked here
        # (and a reason of only spaces is refused by the revert itself)
        if params.get("confirm") is not True:
            raise AirflowFailException("tick 'confirm' to revert the batch; nothing was reverted")
        run = context["dag_run"]
        actor = getattr(run, "triggering_user_name", None) or run.run_type or "unknown"
        try:
            result = revert.revert_batch(db.connect(), (params.get("batch") or "").strip(), actor=str(actor),
                                         reason=params.get("reason") or "", dry_run=bool(params.get("dry_run")),
                                         lock_holder=lock.current)
        except (revert.RevertRefused, UsageError) as exc:
            raise AirflowFailException(f"refused: {exc}") from None
        for line in revert.describe(result):
            print(line)
        return result.as_dict()

    revert_batch()


course_record_revert()
