"""The landing scan: which landed files are finished and new, so that each gets one import run.

State lives in `course_import.landing_file`. A file is dispatched when it has stopped changing
(its size and modification time are the same as at the previous scan, or it is older than the
settle time), once; it is dispatched again only if its run ended without moving it (the
importer was locked, or the load failed) and the importer is free again.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from include.course_records import db
from include.course_records.target import check_path

log = logging.getLogger(__name__)

SETTLE_SECONDS = 60.0


@dataclass(frozen=True)
class Landed:
    path: str
    size: int
    mtime: float


def plan(conn: db.Connection, landed: list[Landed], *, locked: bool, now: float | None = None,
         settle_seconds: float = SETTLE_SECONDS, run_exists: Callable[[str], bool] | None = None) -> list[str]:
    """Record what was seen; return the paths to start an import run for now.

    `run_exists(run_id)` says whether Airflow has that import run: a file dispatched by an earlier
    scan whose run was never started (that scan failed between recording the dispatch and
    triggering the run) is dispatched again, rather than waiting for ever.
    """
    now = time.time() if now is None else now
    with db.transaction(conn) as cur:
        cur.execute("SELECT file_path, size, mtime, state, run_id FROM course_import.landing_file FOR UPDATE")
        known = {row[0]: row[1:] for row in cur.fetchall()}
        present = {f.path for f in landed}
        gone = [path for path in known if path not in present]
        if gone:
            cur.execute("DELETE FROM course_import.landing_file WHERE file_path = ANY(%s)", (gone,))
        ready: list[str] = []
        for file in landed:
            previous = known.get(file.path)
            if previous is None:
                settled = file.mtime and now - file.mtime >= settle_seconds
                cur.execute("INSERT INTO course_import.landing_file (file_path, size, mtime, state)"
                            " VALUES (%s, %s, %s, 'seen')", (file.path, file.size, file.mtime))
                if settled:
                    ready.append(file.path)
                else:
                    log.info("new file %s (%d bytes): waiting for it to settle", file.path, file.size)
                continue
            size, mtime, state, run_id = previous
            if (size, mtime) != (file.size, file.mtime):
                cur.execute("UPDATE course_import.landing_file SET size = %s, mtime = %s, state = 'seen',"
                            " updated_at = now() WHERE file_path = %s", (file.size, file.mtime, file.path))
                log.info("%s is still changing (%d → %d bytes): next scan", file.path, size, file.size)
            elif state in ("seen", "waiting"):
                ready.append(file.path)
            elif state == "dispatched" and run_exists is not None and not (run_id and run_exists(run_id)):
                log.warning("%s was dispatched, but its import run %s was never started: dispatching it again",
                            file.path, run_id or "(none recorded)")
                ready.append(file.path)
            else:
                log.info("%s already has an import run", file.path)
        if locked:
            if ready:
                log.warning("the importer is locked: %d file(s) wait in landing: %s", len(ready), ", ".join(ready))
            return []
        if ready:
            cur.execute("UPDATE course_import.landing_file SET state = 'dispatched', updated_at = now()"
                        " WHERE file_path = ANY(%s)", (ready,))
    return ready


def record_runs(conn: db.Connection, runs: dict[str, str]) -> None:
    """Remember which run took which file (for the ops reading the table)."""
    with db.transaction(conn) as cur:
        for path, run_id in runs.items():
            cur.execute("UPDATE course_import.landing_file SET run_id = %s WHERE file_path = %s", (run_id, path))


def release_waiting(conn: db.Connection) -> int:
    """After an unlock: every file still in landing may be dispatched again by the next scan."""
    with db.transaction(conn) as cur:
        cur.execute("UPDATE course_import.landing_file SET state = 'waiting', updated_at = now()"
                    " WHERE state IN ('dispatched', 'waiting')")
        return cur.rowcount


def run_request(path: str, stamp: str) -> dict[str, Any]:
    """The import run for one file: its conf, and a run id that names the file."""
    from include.course_records.triggers import file_run_id

    importer, _course = check_path(path)
    return {"conf": {"file": path, "importer": importer}, "trigger_run_id": file_run_id("scan", path, stamp)}
