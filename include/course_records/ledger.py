"""The import ledger: one row per file run (what, which bytes, what became of it, where the report is)."""

from __future__ import annotations

from typing import Any

from include.course_records.db import Connection, transaction


def open_run(conn: Connection, *, batch: str, file_path: str, sha256: str, importer: str,
             course: str | None, run_id: str | None, dry_run: bool, load_valid_rows: bool,
             report_uri: str | None, assigned_from: str | None = None) -> None:
    """A new ledger row; `assigned_from` names the batch whose held records an assignment loads."""
    with transaction(conn) as cur:
        cur.execute(
            "INSERT INTO course_import.ledger (batch_id, file_path, sha256, importer, course, status,"
            " run_id, dry_run, load_valid_rows, report_uri, assigned_from)"
            " VALUES (%s, %s, %s, %s, %s, 'validating', %s, %s, %s, %s, %s)",
            (batch, file_path, sha256, importer, course, run_id, dry_run, load_valid_rows, report_uri,
             assigned_from))


def record_check(conn: Connection, batch: str, status: str, rows: dict[str, int]) -> None:
    with transaction(conn) as cur:
        cur.execute(
            "UPDATE course_import.ledger SET status = %s, rows_total = %s, rows_valid = %s,"
            " rows_rejected = %s, rows_skipped_identical = %s WHERE batch_id = %s",
            (status, rows["total"], rows["valid"], rows["rejected"], rows["skipped_identical"], batch))


def mark_loaded(cur: Any, batch: str, created: dict[str, int]) -> None:
    """In the load's own transaction: the unique index on loaded sha256 makes a second load fail."""
    cur.execute(
        "UPDATE course_import.ledger SET status = 'loaded', created_learners = %s,"
        " created_courses = %s, created_enrollments = %s, created_credit_records = %s,"
        " created_held_records = %s WHERE batch_id = %s",
        (created["learners"], created["courses"], created["enrollments"], created["credit_records"],
         created.get("held_records", 0), batch))


def mark_load_started(conn: Connection, batch: str) -> None:
    with transaction(conn) as cur:
        cur.execute("UPDATE course_import.ledger SET load_started_at = now() WHERE batch_id = %s", (batch,))


def dead_loads(conn: Connection, batch: str) -> list[dict[str, Any]]:
    """Loads other than `batch` that started and never ended (asked holding the loaders' advisory
    lock: their session is gone, so their process died mid-load)."""
    names = ("batch_id", "file_path", "run_id", "report_uri", "load_started_at")
    with conn.cursor() as cur:
        cur.execute(f"SELECT {', '.join(names)} FROM course_import.ledger WHERE status = 'accepted'"
                    " AND load_started_at IS NOT NULL AND batch_id <> %s ORDER BY load_started_at", (batch,))
        rows = cur.fetchall()
    conn.commit()
    return [dict(zip(names, row, strict=True)) for row in rows]


def finish(conn: Connection, batch: str, *, status: str | None = None,
           archived_uri: str | None = None) -> None:
    with transaction(conn) as cur:
        cur.execute(
            "UPDATE course_import.ledger SET status = coalesce(%s, status),"
            " archived_uri = coalesce(%s, archived_uri), finished_at = now() WHERE batch_id = %s",
            (status, archived_uri, batch))


def entry(conn: Connection, batch: str) -> dict[str, Any] | None:
    with conn.cursor() as cur:
        cur.execute("SELECT * FROM course_import.ledger WHERE batch_id = %s", (batch,))
        row = cur.fetchone()
        names = [d[0] for d in cur.description]
    conn.rollback()
    return dict(zip(names, row, strict=True)) if row else None
