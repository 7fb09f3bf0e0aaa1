"""What the operator page shows, read where the pipeline keeps it.

- the lock: the Airflow Variable `course_record_import_lock`;
- the files waiting in landing: the landing listing, with what the scan knows of each
  (`course_import.landing_file`);
- the batches: the LMS ledger (`course_import.ledger`), and each batch's reports in its report
  folder in the landing store (local, S3 or SFTP: the ledger keeps the folder's URL);
- the Data Docs site, wherever `settings.data_docs_url` puts it.

These run in the Airflow API server (the plugin's app), so they read Airflow's own Variable
model, not the Task SDK's.
"""

from __future__ import annotations

import json
import mimetypes
import posixpath
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from airflow.sdk import ObjectStoragePath

from include.course_records import db, landing, ledger, lock, settings

BATCH_ID = re.compile(r"^\d{8}T\d{6}(\.\d{6})?Z-[0-9a-f]{6}$")  # 20261129T101500.123456Z-a1b2c3
REPORT_FILES = {"summary.json": "application/json", "rejects.csv": "text/csv; charset=utf-8"}
FILE_FORMAT_DOC = settings.REPO_ROOT / "docs" / "file-format.md"  # the rules, for the people who prepare files
_BATCH_COLUMNS = ("batch_id", "file_path", "importer", "course", "status", "rows_total", "rows_valid",
                  "rows_rejected", "rows_skipped_identical", "created_learners", "created_courses",
                  "created_enrollments", "created_credit_records", "created_held_records", "assigned_from",
                  "dry_run", "load_valid_rows", "run_id",
                  "triggered_by", "started_at", "finished_at", "report_uri", "archived_uri")


class NotFound(LookupError):
    """What was asked for is not there (or is not something this page serves)."""


@dataclass(frozen=True)
class WaitingFile:
    path: str
    size: int
    modified: datetime | None
    state: str  # what the scan knows: seen, dispatched, waiting, or "not scanned yet"
    run_id: str | None


def landing_url() -> str:
    from airflow.models.variable import Variable

    return settings.landing_url(Variable.get(settings.LANDING_VARIABLE, default_var=None))


def current_lock() -> dict[str, Any] | None:
    from airflow.models.variable import Variable

    return lock.parse(Variable.get(settings.LOCK_VARIABLE, default_var=None))


def waiting_files(conn: db.Connection, root: ObjectStoragePath) -> list[WaitingFile]:
    """Every finished file in landing, oldest first, with the scan's state for it."""
    with conn.cursor() as cur:
        cur.execute("SELECT file_path, state, run_id FROM course_import.landing_file")
        known = {path: (state, run_id) for path, state, run_id in cur.fetchall()}
    conn.rollback()
    files = []
    for path, size, mtime in landing.list_landed(root):
        state, run_id = known.get(path, ("not scanned yet", None))
        modified = datetime.fromtimestamp(mtime, UTC) if mtime else None
        files.append(WaitingFile(path, size, modified, state, run_id))
    return sorted(files, key=lambda f: (f.modified or datetime.min.replace(tzinfo=UTC), f.path))


def recent_batches(conn: db.Connection, *, limit: int = 50, offset: int = 0,
                   status: str | None = None) -> list[dict[str, Any]]:
    """The newest ledger entries first (one per file run), with their duration."""
    with conn.cursor() as cur:
        cur.execute(
            f"SELECT {', '.join(_BATCH_COLUMNS)}, finished_at - started_at AS duration"
            " FROM course_import.ledger WHERE %(status)s::text IS NULL OR status = %(status)s"
            " ORDER BY started_at DESC, batch_id DESC LIMIT %(limit)s OFFSET %(offset)s",
            {"status": status, "limit": limit, "offset": offset})
        names = [d[0] for d in cur.description]
        rows = [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
    conn.rollback()
    return rows


def batch_entry(conn: db.Connection, batch: str) -> dict[str, Any]:
    if not BATCH_ID.match(batch):
        raise NotFound(f"no batch {batch!r}")
    entry = ledger.entry(conn, batch)
    if entry is None:
        raise NotFound(f"no batch {batch!r}")
    if entry["finished_at"] and entry["started_at"]:
        entry["duration"] = entry["finished_at"] - entry["started_at"]
    return entry


def report_file(entry: dict[str, Any], name: str) -> bytes:
    """One report file of a batch, from its report folder in the landing store."""
    if name not in REPORT_FILES or not entry.get("report_uri"):
        raise NotFound(f"no {name} for batch {entry['batch_id']}")
    try:
        return (ObjectStoragePath(entry["report_uri"]) / name).read_bytes()
    except FileNotFoundError:
        raise NotFound(f"{name} of batch {entry['batch_id']} is not in its report folder") from None


def summary(entry: dict[str, Any]) -> dict[str, Any] | None:
    try:
        return json.loads(report_file(entry, "summary.json"))
    except NotFound:
        return None


def data_docs_page(entry: dict[str, Any], site_url: str) -> str | None:
    """The batch's Data Docs page (its path under the site root), None when it has none (a run that
    stopped before validating, or whose publishing has not finished)."""
    from include.course_records import datadocs

    page = datadocs.run_page(entry["batch_id"])
    return page if (ObjectStoragePath(site_url) / page).exists() else None


def site_file(site_url: str, path: str) -> tuple[bytes, str]:
    """A file of the Data Docs site and its media type; NotFound for anything outside the site."""
    relative = posixpath.normpath(path or "index.html")
    if (relative.startswith(("/", "../")) or relative in (".", "..") or "\\" in relative or "\x00" in relative
            or relative.endswith("/")):
        raise NotFound(path)
    target = ObjectStoragePath(site_url) / relative
    try:
        data = target.read_bytes()
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        raise NotFound(path) from None
    media = mimetypes.guess_type(relative)[0] or "application/octet-stream"
    return data, media + ("; charset=utf-8" if media.startswith("text/") else "")


def file_format_markdown() -> str:
    """The rules for the people who prepare files (docs/file-format.md)."""
    try:
        return FILE_FORMAT_DOC.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise NotFound("docs/file-format.md") from None
