"""
### PARS report for ACCME

Manual only. Builds the year's ACCME PARS activity batch file from the LMS: one line per course
(never an imported course shell) with at least one learner who counts — enrollment complete in
the year (UTC), with `enrollment_start` and `participant_category`, and not from the legacy
global importer. Physicians and other learners are counted apart.

Writes, under the landing root's `reports/pars/`:

- `pars-<year>-<batch>.txt` — the tab-delimited batch file to upload to PARS (ACCME's
  "Template C" field order, no header);
- `pars-<year>-<batch>-summary.csv` — per-course counts for the data team, with the
  completions that did not count and why, and the courses left out and what to fix.

A course that breaks one of ACCME's rules (activity type, hours of instruction, place for a
course or RSS, providership, provider activity id) is left out of the file. The files are
still written, then **check_every_course_written** fails and lists what to fix on each course.

Param: `year`, the reporting year (default: the current year).
"""

from __future__ import annotations

from datetime import UTC, datetime

from airflow.sdk import Param, dag, get_current_context, task

from include.course_records import settings


@dag(
    dag_id=settings.PARS_DAG_ID,
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    doc_md=__doc__,
    tags=["course-records", "pars"],
    default_args={"owner": "data-team", "retries": 0},
    params={
        # Read when the DAG is parsed, so the form's default follows the calendar.
        "year": Param(datetime.now(UTC).year, type="integer", minimum=1000, maximum=9999,
                      title="Reporting year", description="The PARS reporting year (calendar year, UTC)"),
    },
)
def course_record_pars_report():
    @task
    def write_pars_report() -> dict:
        from airflow.sdk import Variable

        from include.course_records import pars, pipeline

        landing_url = Variable.get(settings.LANDING_VARIABLE, default=None)
        year = int(get_current_context()["params"]["year"])
        outcome = pipeline.user_errors(pars.publish_report)(year, landing_url)
        print(f"PARS {year}: {outcome['activities']} activities → {outcome['batch_file']} "
              f"(counts: {outcome['summary_csv']})")
        return outcome

    @task
    def check_every_course_written(outcome: dict) -> None:
        """Fail, naming each course and what to fix, when a course with counted learners was left out."""
        from airflow.sdk.exceptions import AirflowFailException

        problems = outcome["not_written"]
        if problems:
            for problem in problems:
                print(f"not written: {problem}")
            raise AirflowFailException(
                f"{len(problems)} course(s) with counted learners are not in the PARS {outcome['year']} file "
                f"({outcome['batch_file']}): fix them in the LMS and run again. " + " | ".join(problems))

    check_every_course_written(write_pars_report())


course_record_pars_report()
