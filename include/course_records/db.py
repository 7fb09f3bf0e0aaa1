"""Connections to the LMS database and its schema migrations."""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager, suppress

import psycopg2
import psycopg2.extensions

from include.course_records import settings
from include.course_records.errors import UsageError

log = logging.getLogger(__name__)

Connection = psycopg2.extensions.connection
_MIGRATION_NAME = re.compile(r"^(\d{3})_[a-z0-9_]+\.sql$")


def connect() -> Connection:
    """A connection to the LMS: `AIRFLOW_CONN_LMS_DB` when it is a URI, else Airflow's `lms_db`."""
    uri = os.environ.get(settings.LMS_CONN_ENV, "")
    if uri.startswith(("postgres://", "postgresql://")):
        try:
            conn = psycopg2.connect(uri, connect_timeout=10)
        except psycopg2.OperationalError as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else "no answer"
            raise UsageError(
                f"cannot reach the LMS database ({first}); check {settings.LMS_CONN_ENV} "
                "(a postgresql:// URI) and that PostgreSQL is running"
            ) from None
    else:
        conn = _connect_through_airflow()
    with conn.cursor() as cur:
        cur.execute("SET TIME ZONE 'UTC'")
    conn.commit()
    return conn


def _connect_through_airflow() -> Connection:
    try:
        from airflow.providers.postgres.hooks.postgres import PostgresHook

        return PostgresHook(postgres_conn_id=settings.LMS_CONN_ID).get_conn()
    except Exception as exc:  # noqa: BLE001 - any failure here means "not configured"
        raise UsageError(
            f"no LMS database configured: set {settings.LMS_CONN_ENV}="
            "postgresql://user@host:5432/dbname or the Airflow connection "
            f"'{settings.LMS_CONN_ID}' ({exc.__class__.__name__})"
        ) from None


@contextmanager
def transaction(conn: Connection) -> Iterator[psycopg2.extensions.cursor]:
    """A cursor whose work commits together or not at all."""
    try:
        with conn.cursor() as cur:
            yield cur
        conn.commit()
    except BaseException:
        with suppress(psycopg2.InterfaceError):  # the connection is gone: the error raised says why
            conn.rollback()
        raise


def migrations() -> list[tuple[int, str]]:
    found = []
    for path in sorted(settings.SQL_DIR.glob("*.sql")):
        match = _MIGRATION_NAME.match(path.name)
        if match:
            found.append((int(match.group(1)), path.name))
    return found


def migrate(conn: Connection) -> list[str]:
    """Apply the numbered migrations not applied yet, each in its own transaction.

    Safe to run concurrently and repeatedly: an advisory lock serialises runners and applied
    versions are recorded in `course_import.schema_migration`. Returns the names applied now.
    """
    applied_now: list[str] = []
    with transaction(conn) as cur:
        cur.execute("SELECT pg_advisory_xact_lock(hashtext('course_records.migrate'))")
        cur.execute("CREATE SCHEMA IF NOT EXISTS course_import")
        cur.execute(
            "CREATE TABLE IF NOT EXISTS course_import.schema_migration ("
            " version integer PRIMARY KEY, name text NOT NULL,"
            " applied_at timestamptz NOT NULL DEFAULT now())"
        )
        cur.execute("SELECT version FROM course_import.schema_migration")
        done = {row[0] for row in cur.fetchall()}
        for version, name in migrations():
            if version in done:
                continue
            log.info("applying migration %s", name)
            cur.execute((settings.SQL_DIR / name).read_text())
            cur.execute(
                "INSERT INTO course_import.schema_migration (version, name) VALUES (%s, %s)",
                (version, name),
            )
            applied_now.append(name)
    return applied_now


def load_demo_catalogue(conn: Connection) -> None:
    """Add the demo catalogue (contract); rows already there are left as they are."""
    with transaction(conn) as cur:
        cur.execute((settings.SQL_DIR / "demo_catalogue.sql").read_text())
