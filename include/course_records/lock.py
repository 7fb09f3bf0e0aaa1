"""The import lock (precaution 6): an Airflow Variable holding JSON, with a history.

While the Variable `course_record_import_lock` is set, no import loads. A load that fails or
overruns sets it, with a diagnosis; the unlock DAG clears it. Every lock and unlock is also
recorded in the LMS database (`course_import.lock_event`), with who and why.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

from include.course_records import settings
from include.course_records.db import Connection, transaction

log = logging.getLogger(__name__)


def current() -> dict[str, Any] | None:
    """The lock as set, or None when the importer is free."""
    from airflow.sdk import Variable

    raw = Variable.get(settings.LOCK_VARIABLE, default=None)
    if raw in (None, "", "null", "{}"):
        return None
    try:
        value = json.loads(raw) if isinstance(raw, str) else raw
    except json.JSONDecodeError:  # set by hand to plain text: still a lock
        value = {"reason": str(raw)}
    return value or None


def describe(lock: dict[str, Any]) -> str:
    """One line for logs and summaries: what locked the importer, when and why."""
    who = lock.get("file") or "an admin"
    run = f" (run {lock['run_id']})" if lock.get("run_id") else ""
    return f"the importer is locked since {lock.get('time', '?')} by {who}{run}: {lock.get('reason', 'no reason given')}"


def lock(conn: Connection, *, file: str | None, run_id: str | None, reason: str,
         diagnosis: dict[str, Any] | None = None) -> dict[str, Any]:
    """Set the lock (if it is not set already) and record it; returns the lock in force."""
    from airflow.sdk import Variable

    existing = current()
    if existing:
        log.warning("already locked; keeping the earlier lock: %s", describe(existing))
        return existing
    value = {"file": file, "run_id": run_id, "reason": reason, "time": datetime.now(UTC).isoformat(),
             "diagnosis": diagnosis or {}}
    Variable.set(settings.LOCK_VARIABLE, json.dumps(value, default=str),
                 description="Set by a failed or hung import; clear it with the course_record_unlock DAG")
    with transaction(conn) as cur:
        cur.execute(
            "INSERT INTO course_import.lock_event (event, file_path, run_id, reason, diagnosis, actor)"
            " VALUES ('locked', %s, %s, %s, %s, 'pipeline')",
            (file, run_id, reason, json.dumps(value["diagnosis"], default=str)))
    log.error("IMPORT LOCKED: %s", describe(value))
    return value


def unlock(conn: Connection, *, actor: str, reason: str) -> dict[str, Any] | None:
    """Clear the lock and record who and why; returns the lock that was cleared (None: was free)."""
    from airflow.sdk import Variable

    if not reason or not reason.strip():
        raise ValueError("a reason is required to unlock the importer")
    existing = current()
    if existing is None:
        log.info("the importer is not locked; nothing to do")
        return None
    Variable.delete(settings.LOCK_VARIABLE)
    with transaction(conn) as cur:
        cur.execute(
            "INSERT INTO course_import.lock_event (event, file_path, run_id, reason, diagnosis, actor)"
            " VALUES ('unlocked', %s, %s, %s, %s, %s)",
            (existing.get("file"), existing.get("run_id"), reason.strip(),
             json.dumps({"cleared": existing}, default=str), actor))
    log.info("unlocked by %s (%s); was: %s", actor, reason.strip(), describe(existing))
    return existing
