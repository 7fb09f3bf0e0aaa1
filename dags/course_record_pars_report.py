"""
### Annual report for ACCME (PARS and JA-PARS)

Manual only. Builds the reporting year's files from the LMS, in the provider's time zone
(`lms.pars_provider.time_zone`), and writes them under the landing root's `reports/pars/` as
`pars-<year>-<batch>-<kind>`:

- `activities.xml` — PARS **XML batch upload** (MedBiquitous MEMS): the activities that passed
  the pre-submission check; `ja-activities.xml` — the same for **JA-PARS** (Joint Accreditation,
  interprofessional activities);
- `learners.csv` — learner completions of activities registered for MOC or CME Finder, ready to
  report; `learners-missing.csv` — those that lack a board id, a date of birth, a name;
- `problems.csv` — the pre-submission check: per activity, the field, the problem, the fix;
- `reconciliation.csv` — per activity, who counted and who did not and why, records in imported
  shells, and the change since the last export of the same year (`reconciliation.json`);
- `duplicates.csv` — suspected duplicate learners (one name, several learner records).

What counts: complete records with `enrollment_start` and `participant_category`, not from the
legacy global importer. A live course is reported in the year it started (with completions
after New Year), a regularly scheduled series counts each learner per session over its 12
months, an enduring material is reported each year of its (at most) three with cumulative counts.

The files are always written; then **check_pre_submission** fails, listing each problem, when an
activity failed the check (it is not in the upload file until fixed).

Param: `year`, the reporting year. Empty: the previous year until 31 March (annual reporting is
due then), the current year after.
"""

from __future__ import annotations

from datetime import datetime

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
        # Resolved when the run starts, in the provider's time zone: the form needs no redeploy on 1 April.
        "year": Param(None, type=["null", "integer"], minimum=1000, maximum=9999, title="Reporting year",
                      description="Empty: the previous year until 31 March, then the current year"),
    },
)
def course_record_pars_report():
    @task
    def write_pars_report() -> dict:
        from airflow.sdk import Variable

        from include.course_records import pars, pipeline

        landing_url = Variable.get(settings.LANDING_VARIABLE, default=None)
        year = get_current_context()["params"]["year"]
        outcome = pipeline.user_errors(pars.publish_report)(None if year is None else int(year), landing_url)
        written, files = outcome["written"], outcome["files"]
        print(f"{outcome['year']} ({outcome['time_zone']}): {written['PARS']} activities for PARS → "
              f"{files[pars.ACTIVITIES_XML]}; {written['JA-PARS']} for JA-PARS → {files[pars.JA_ACTIVITIES_XML]}")
        print(f"learner completions: {outcome['learners']['ready']} ready, {outcome['learners']['lacking_data']} "
              f"lacking data; suspected duplicate learners: {outcome['suspected_duplicates']}; "
              f"reconciliation: {files[pars.RECONCILIATION_CSV]}")
        return outcome

    @task
    def check_pre_submission(outcome: dict) -> None:
        """Fail, naming each activity, field and fix, when an activity is left out of the upload file."""
        from airflow.sdk.exceptions import AirflowFailException

        problems = outcome["problems"]
        if problems:
            for problem in problems:
                print(f"not written: {problem}")
            raise AirflowFailException(
                f"{len(problems)} problem(s) keep activities out of the {outcome['year']} upload files: fix them in "
                f"the LMS and run again (see {outcome['files']['problems.csv']}). " + " | ".join(problems))

    check_pre_submission(write_pars_report())


course_record_pars_report()
