"""
### Course record import

Loads one course-record file from the landing folder into the LMS, if it passes every import
precaution (Great Expectations suites in `expectations/`).

**check the lock → validate → branch → load (course-level or legacy global) → archive**, or
**→ quarantine** when rejected. Every run writes `reports/<batch>/summary.json` and
`rejects.csv` under the landing root, and adds its validation to the Data Docs site.

Params: `file` (a path under the landing root, e.g. `course/CARD-101/may.csv`), `importer` and
`course` (inferred from the path; may repeat it, never contradict it), `dry_run` (validate and
report only), `load_valid_rows` (load the valid enrollments, reject the rest), `missing_learners`
(`create` or `hold` the records of learners not in the LMS; default: the Variable
`course_record_missing_learners`, else `create`), `assign_immediately` (off: hold every record
until the next `course_record_assign_held` run).

Loads run one at a time in the `course_record_import` pool. A load that fails or overruns sets
the import lock (Variable `course_record_import_lock`); clear it with `course_record_unlock`.

**Outcomes in the run list**: a loaded, duplicate or dry-run file ends *success*. A rejected file
ends *failed* at `file_rejected` ("REJECTED: <file> — <n> errors: …"), a run stopped by the lock
ends *failed* at `check_lock` or at its load task ("LOCKED: <file> waits in landing …"), and a
load that failed ends *failed* at its load task with the error. The state is what the run list,
the DAG page and the home page show (a run's note is only on its own page, and a task cannot
write it); the failed task's name and message say which outcome it was. Runs triggered by hand
are named after their file (`manual__<time>__<file>`), as the scan's are (`scan__<time>__<file>`).

The operator page (*Course imports* in the navigation) shows the lock, the files waiting and
every batch with its reports. When notification addresses are set (Variable
`course_record_notify_emails`), a rejection and a lock are mailed.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import Param, dag, get_current_context, task

from include.course_records import settings
from include.course_records.notify import FileRejectedNotifier, ImporterLockedNotifier

IMPORTERS = ["course", "global"]


def _loaded(ticket: dict, outcome: dict) -> dict | None:
    """The load task's result (None when the run did not load): what became of the file at load time."""
    from include.course_records import pipeline

    loader = pipeline.choose_path(ticket, outcome)
    return get_current_context()["ti"].xcom_pull(task_ids=loader) if loader.startswith("load_") else None


def _on_load_failure(context) -> None:
    """Also covers a load whose process was killed: Airflow reports it failed, and we lock."""
    from include.course_records import lock, pipeline

    ticket = context["ti"].xcom_pull(task_ids="resolve_request")
    if not ticket:
        return
    held = lock.current()
    if not held:
        # no exception: the task did not end by itself (its worker died; the scheduler found no heartbeat)
        error = context.get("exception") or (
            "the load task ended without reporting: its worker or process was lost (no heartbeat); its database "
            "transaction rolled back with its session")
        pipeline.lock_after_failure(ticket, context["ti"].xcom_pull(task_ids="validate_file"), error)
    elif (held.get("diagnosis") or {}).get("batch") == ticket["batch"]:  # the next load found it dead first
        pipeline.record_failed_load(ticket, held)


@dag(
    dag_id=settings.IMPORT_DAG_ID,
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=8,
    doc_md=__doc__,
    tags=["course-records", "import"],
    default_args={"owner": "data-team", "retries": 0},
    params={
        "file": Param("", type="string", minLength=1, title="File",
                      description="Path under the landing root: course/<external_course_id>/<name>.csv or global/<name>.csv"),
        # null stays a choice (it means "from the path") but the form names it so
        "importer": Param(None, type=["null", "string"], enum=[None, *IMPORTERS], title="Importer",
                          values_display={"null": "from the file's path", "course": "course-level (course/…)",
                                          "global": "global, legacy (global/…)"},
                          description="Inferred from the path when left as is; may repeat it, never contradict it"),
        "course": Param(None, type=["null", "string"], title="Course",
                        description="Target course (course-level importer); inferred from the path when empty"),
        # "null" in the type keeps the form from marking the switches as required
        "dry_run": Param(False, type=["boolean", "null"], title="Dry run", description="Validate and report only"),
        "load_valid_rows": Param(False, type=["boolean", "null"], title="Load valid rows",
                                 description="Load the valid enrollments and reject the rest (default: all or nothing)"),
        "missing_learners": Param(None, type=["null", "string"], enum=[None, *settings.MISSING_LEARNERS_MODES],
                                  values_display={"null": "as set for the deployment (default: create)",
                                                  "create": "create the learner from the row",
                                                  "hold": "hold the records until the learner exists"},
                                  title="Learners not in the LMS",
                                  description="create: make the learner from the row; hold: keep the records until the "
                                              "learner exists. Empty: the Variable course_record_missing_learners "
                                              "(default create)"),
        "assign_immediately": Param(True, type=["boolean", "null"], title="Assign immediately",
                                    description="Off: records of learners already in the LMS are held too, until the "
                                                "next course_record_assign_held run"),
    },
    render_template_as_native_obj=True,
)
def course_record_import():
    @task
    def resolve_request() -> dict:
        from airflow.sdk import Variable

        from include.course_records import pipeline

        context = get_current_context()
        run = context["dag_run"]
        landing_url = Variable.get(settings.LANDING_VARIABLE, default=None)
        missing_learners = Variable.get(settings.MISSING_LEARNERS_VARIABLE, default=None)
        who = pipeline.who_triggered(context["run_id"], getattr(run, "triggering_user_name", None),
                                     getattr(run, "run_type", None))
        return pipeline.user_errors(pipeline.resolve_request)(context["params"], context["run_id"], landing_url,
                                                              missing_learners, who)

    @task
    def check_lock(ticket: dict) -> None:
        """Fails the run (LOCKED: …) when the importer is locked; the file waits in landing."""
        from include.course_records import pipeline

        pipeline.check_lock(ticket)

    @task
    def validate_file(ticket: dict) -> dict:
        from include.course_records import pipeline

        return pipeline.user_errors(pipeline.validate)(ticket)

    @task.branch
    def choose_path(ticket: dict, outcome: dict) -> str:
        from include.course_records import pipeline

        return pipeline.choose_path(ticket, outcome)

    load_options = {"pool": settings.IMPORT_POOL, "execution_timeout": settings.load_timeout(),
                    "on_failure_callback": [_on_load_failure, ImporterLockedNotifier()]}

    @task(**load_options)
    def load_course_level(ticket: dict, outcome: dict) -> dict:
        """The course-level importer: records count in PARS."""
        from include.course_records import pipeline

        return pipeline.load(ticket, outcome)

    @task(**load_options)
    def load_legacy_global(ticket: dict, outcome: dict) -> dict:
        """The legacy global importer: may create course shells; records never count in PARS."""
        from include.course_records import pipeline

        return pipeline.load(ticket, outcome)

    @task(trigger_rule="none_failed_min_one_success")
    def archive_file(ticket: dict, outcome: dict) -> str:
        from include.course_records import pipeline

        return pipeline.archive_file(ticket, outcome, _loaded(ticket, outcome))

    # after the branch, or after a load whose second check (the LMS changed since validation) rejected the file
    @task(trigger_rule="none_failed_min_one_success")
    def quarantine_file(ticket: dict, outcome: dict) -> str:
        from include.course_records import pipeline

        return pipeline.quarantine_file(ticket, outcome, _loaded(ticket, outcome))

    @task(on_failure_callback=FileRejectedNotifier())
    def file_rejected(ticket: dict, outcome: dict) -> None:
        """Ends a rejected file's run as failed (REJECTED: …), and mails the notification addresses."""
        from include.course_records import pipeline

        pipeline.reject(ticket, pipeline.outcome_now(outcome, _loaded(ticket, outcome)))

    @task
    def dry_run_done(ticket: dict, outcome: dict) -> None:
        from include.course_records import pipeline

        pipeline.finish_dry_run(ticket, outcome)

    @task
    def publish_data_docs(ticket: dict | None) -> str | None:
        """A teardown: runs after a failed load too (the validation is worth reading), and the
        run's state stays that of the import itself."""
        from include.course_records import pipeline

        return pipeline.publish_data_docs(ticket) if ticket else None

    ticket = resolve_request()
    outcome = validate_file(ticket)
    branch = choose_path(ticket, outcome)
    check_lock(ticket) >> outcome
    course_level = load_course_level(ticket, outcome)
    legacy_global = load_legacy_global(ticket, outcome)
    quarantined = quarantine_file(ticket, outcome)
    dry = dry_run_done(ticket, outcome)
    branch >> [course_level, legacy_global, quarantined, dry]
    rejected = file_rejected(ticket, outcome)
    quarantined >> rejected
    archived = archive_file(ticket, outcome)
    branch >> archived
    [course_level, legacy_global] >> archived
    [course_level, legacy_global] >> quarantined
    [archived, rejected, dry] >> publish_data_docs(ticket).as_teardown()


course_record_import()
