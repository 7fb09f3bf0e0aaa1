"""Every name and default the pipeline shares, in one place.

The names marked *contract* are fixed: users, docs and acceptance checks use them.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
SQL_DIR = Path(__file__).resolve().parent / "sql"
EXPECTATIONS_DIR = REPO_ROOT / "expectations"

# --- Airflow names (contract) ---------------------------------------------------------------
LMS_CONN_ID = "lms_db"
LMS_CONN_ENV = "AIRFLOW_CONN_LMS_DB"
LANDING_VARIABLE = "course_record_landing"
LANDING_ENV = "AIRFLOW_VAR_COURSE_RECORD_LANDING"
LOCK_VARIABLE = "course_record_import_lock"
# What becomes of rows whose learner is not in the LMS: `create` a learner (default) or `hold`
# the rows until one exists (also the environment variable AIRFLOW_VAR_COURSE_RECORD_MISSING_LEARNERS).
MISSING_LEARNERS_VARIABLE = "course_record_missing_learners"
MISSING_LEARNERS_ENV = "AIRFLOW_VAR_COURSE_RECORD_MISSING_LEARNERS"
MISSING_LEARNERS_MODES = ("create", "hold")
IMPORT_POOL = "course_record_import"

IMPORT_DAG_ID = "course_record_import"
SCAN_DAG_ID = "course_record_landing_scan"
UNLOCK_DAG_ID = "course_record_unlock"
PARS_DAG_ID = "course_record_pars_report"
ASSIGN_DAG_ID = "course_record_assign_held"
REVERT_DAG_ID = "course_record_revert"

# Who is told when the importer locks or a file is rejected: comma-separated addresses. Unset or
# empty: nobody, and nothing is sent. As every Variable, also AIRFLOW_VAR_COURSE_RECORD_NOTIFY_EMAILS.
NOTIFY_VARIABLE = "course_record_notify_emails"

# --- our own knobs (environment, read at DAG-parse time only where a schedule needs them) ----
DATA_DOCS_ENV = "COURSE_RECORD_DATA_DOCS_URL"
SMTP_CONN_ENV = "COURSE_RECORD_SMTP_CONN_ID"
DEFAULT_SMTP_CONN_ID = "smtp_default"  # the smtp provider's own default connection
# Where the operator page is mounted in the Airflow API server (the plugin's FastAPI app)
OPS_URL_PREFIX = "/course-records"
DEFAULT_AIRFLOW_URL = "http://localhost:8080"
SCAN_SCHEDULE_ENV = "COURSE_RECORD_SCAN_SCHEDULE"
LOAD_TIMEOUT_ENV = "COURSE_RECORD_LOAD_TIMEOUT_MINUTES"
DEFAULT_SCAN_SCHEDULE = "*/5 * * * *"
DEFAULT_LOAD_TIMEOUT = timedelta(minutes=30)

# Landing layout (contract)
COURSE_DIR = "course"
GLOBAL_DIR = "global"
ARCHIVE_DIR = "archive"
QUARANTINE_DIR = "quarantine"
REPORTS_DIR = "reports"

# Record sources stamped on every imported row (contract)
SOURCE_BY_IMPORTER = {"course": "course_import", "global": "legacy_global_import"}

# Every loader transaction holds this PostgreSQL advisory lock, so loads never interleave even
# where Airflow pools are not enforced. The number is arbitrary but fixed.
LOAD_ADVISORY_LOCK_KEY = 0x43524931  # "CRI1"


ASSIGN_SCHEDULE_ENV = "COURSE_RECORD_ASSIGN_SCHEDULE"
DEFAULT_ASSIGN_SCHEDULE = "17 * * * *"  # hourly: held records wait for learners to sign up


def assign_schedule() -> str:
    return os.environ.get(ASSIGN_SCHEDULE_ENV) or DEFAULT_ASSIGN_SCHEDULE


def missing_learners(configured: str | None = None) -> str:
    """`create` or `hold`: the given value, else the environment, else `create`."""
    value = (configured or os.environ.get(MISSING_LEARNERS_ENV) or "create").strip().lower()
    if value not in MISSING_LEARNERS_MODES:
        from include.course_records.errors import UsageError

        raise UsageError(f"course_record_missing_learners is {value!r}: set it to 'create' or 'hold'")
    return value


def default_landing_url() -> str:
    return (REPO_ROOT / "data" / "landing").as_uri()


def landing_url(configured: str | None = None) -> str:
    """The landing root: the given value, else the environment, else the repository default."""
    return configured or os.environ.get(LANDING_ENV) or default_landing_url()


_landing_root = landing_url  # data_docs_url's parameter (a name fixed for its callers) hides this one


def data_docs_url(landing_url: str | None = None) -> str:
    """Where the Data Docs site is written and served from: a URL like the landing root's.

    COURSE_RECORD_DATA_DOCS_URL when set (a plain path is taken as a local folder), else
    `<landing root>/reports/data_docs`, so every worker that reaches the landing store reaches it.
    """
    configured = os.environ.get(DATA_DOCS_ENV)
    if configured:
        return configured if "://" in configured else Path(configured).resolve().as_uri()
    return f"{_landing_root(landing_url).rstrip('/')}/{REPORTS_DIR}/data_docs"


def smtp_conn_id() -> str:
    """The Airflow connection (smtp provider) that notifications are sent through."""
    return os.environ.get(SMTP_CONN_ENV) or DEFAULT_SMTP_CONN_ID


def airflow_url() -> str:
    """The Airflow UI's address as users' browsers reach it ([api] base_url), for links in mail."""
    from airflow.configuration import conf

    return (conf.get("api", "base_url", fallback=None) or DEFAULT_AIRFLOW_URL).rstrip("/")


def ops_url(*parts: str) -> str:
    """A page of the operator app, as a browser reaches it: ops_url("batches", batch)."""
    return "/".join([airflow_url() + OPS_URL_PREFIX, *parts])


def scan_schedule() -> str:
    return os.environ.get(SCAN_SCHEDULE_ENV) or DEFAULT_SCAN_SCHEDULE


def load_timeout() -> timedelta:
    minutes = os.environ.get(LOAD_TIMEOUT_ENV)
    return timedelta(minutes=float(minutes)) if minutes else DEFAULT_LOAD_TIMEOUT
