"""Test set-up: a throwaway LMS database on the real PostgreSQL, a throwaway Airflow home.

Environment is fixed before Airflow is imported: Airflow reads its configuration once.
`COURSE_RECORDS_TEST_PG` names the server (default: the local one, user postgres).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import uuid
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
_HOME = Path(tempfile.mkdtemp(prefix="course-records-airflow-"))
os.environ.update({
    "AIRFLOW_HOME": str(_HOME),
    "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
    "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
    "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{_HOME / 'airflow.db'}",
    "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
})
os.environ.pop("COURSE_RECORD_DATA_DOCS_URL", None)  # the Data Docs go beside each test's landing root
SERVER = os.environ.get("COURSE_RECORDS_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
TEST_DB = f"course_records_test_{uuid.uuid4().hex[:8]}"
os.environ["AIRFLOW_CONN_LMS_DB"] = SERVER.rsplit("/", 1)[0] + "/" + TEST_DB
sys.path.insert(0, str(REPO))

# Every param of the import DAG, as the form leaves them: dag.test() lets one run's conf leak into the
# next run's params, so tests give them all.
IMPORT_DEFAULTS = {"importer": None, "course": None, "dry_run": False, "load_valid_rows": False,
                   "missing_learners": None, "assign_immediately": True}

LMS_TABLES = ("lms.credit_record", "lms.enrollment", "lms.course_credit_type", "lms.course_object",
              "lms.course", "lms.learner", "lms.credit_type", "course_import.ledger",
              "course_import.lock_event", "course_import.landing_file", "course_import.held_record")


def _admin():
    import psycopg2

    conn = psycopg2.connect(SERVER)
    conn.autocommit = True
    return conn


@pytest.fixture(scope="session", autouse=True)
def lms_database():
    """Create the throwaway LMS database, migrate it, and drop it at the end of the session."""
    from include.course_records import db

    admin = _admin()
    with admin.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{TEST_DB}"')
    conn = db.connect()
    db.migrate(conn)
    conn.close()
    yield os.environ["AIRFLOW_CONN_LMS_DB"]
    with admin.cursor() as cur:
        cur.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (TEST_DB,))
        cur.execute(f'DROP DATABASE IF EXISTS "{TEST_DB}"')
    admin.close()
    shutil.rmtree(_HOME, ignore_errors=True)


@pytest.fixture(scope="session")
def airflow_db():
    """Airflow's metadata database (SQLite), with the project's pools."""
    from airflow.models.pool import Pool
    from airflow.utils import db as airflow_db_utils

    airflow_db_utils.resetdb(skip_init=False)
    # the same pool file as the demo and the compose init (`airflow pools import config/pools.json`)
    for name, pool in json.loads((REPO / "config" / "pools.json").read_text()).items():
        Pool.create_or_update_pool(name, slots=pool["slots"], description=pool["description"],
                                   include_deferred=pool["include_deferred"])
    return True


@pytest.fixture
def conn():
    """A connection to the LMS database, emptied and given the demo catalogue."""
    from include.course_records import db

    connection = db.connect()
    with db.transaction(connection) as cur:
        cur.execute(f"TRUNCATE {', '.join(LMS_TABLES)} RESTART IDENTITY CASCADE")
        cur.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'course_import' AND tablename LIKE 'stage_%'")
        for (name,) in cur.fetchall():
            cur.execute(f'DROP TABLE course_import."{name}"')
    db.load_demo_catalogue(connection)
    yield connection
    connection.close()


@pytest.fixture
def landing(tmp_path, monkeypatch):
    """An empty local landing root, configured the way ops would (AIRFLOW_VAR_COURSE_RECORD_LANDING)."""
    root = tmp_path / "landing"
    root.mkdir()
    monkeypatch.setenv("AIRFLOW_VAR_COURSE_RECORD_LANDING", root.as_uri())
    return root


@pytest.fixture
def no_lock(airflow_db):
    """The import lock is clear before and after the test."""
    from airflow.models.variable import Variable

    from include.course_records import settings

    Variable.delete(settings.LOCK_VARIABLE)
    yield
    Variable.delete(settings.LOCK_VARIABLE)


@pytest.fixture(scope="session")
def dagbag(airflow_db):
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(REPO / "dags"))


def drop(landing_root: Path, relative: str, content: str | bytes) -> Path:
    """Put a file in the landing folder, as ops would."""
    path = landing_root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return path


def rows_of(conn, query: str, params: tuple = ()) -> list[tuple]:
    with conn.cursor() as cur:
        cur.execute(query, params or None)
        out = cur.fetchall()
    conn.rollback()
    return out


def count(conn, table: str) -> int:
    return rows_of(conn, f"SELECT count(*) FROM {table}")[0][0]


def copy_airflow_home(destination: Path) -> Path:
    """A copy of this session's Airflow home for a child process (an API server, an import).

    Airflow keeps SQLite in WAL mode: recent commits live in `airflow.db-wal` until a checkpoint,
    which may run while files are being copied. The database is therefore copied with SQLite's
    online backup (one consistent snapshot), never as files.
    """
    import sqlite3

    source = Path(os.environ["AIRFLOW_HOME"])
    shutil.copytree(source, destination,
                    ignore=shutil.ignore_patterns("data_docs", "logs", "airflow.db", "airflow.db-*"))
    with sqlite3.connect(source / "airflow.db") as live, sqlite3.connect(destination / "airflow.db") as copy:
        live.backup(copy)
    live.close()
    copy.close()
    return destination
