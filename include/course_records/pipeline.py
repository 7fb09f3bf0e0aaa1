"""What each task of the import, scan and unlock DAGs does, as plain functions.

The DAG files only wire these together. Tasks pass small dicts through XCom (ids, paths,
counts), never data: the rows travel through the landing file and the staging table.
"""

from __future__ import annotations

import functools
import json
import logging
import secrets
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from include.course_records import db, landing, ledger, lock, settings
from include.course_records.errors import ImportLocked, UsageError
from include.course_records.target import resolve_target

log = logging.getLogger(__name__)

LOADED, LOCKED = "loaded", "locked"


_last_batch_time: datetime | None = None


def new_batch_id(now: datetime | None = None) -> str:
    """Unique, and sorted as created: 20261129T101500.123456Z-a1b2c3.

    Microseconds order the runs of one second; within one process a clock that did not move on
    (or went back) is stepped past the previous id, so ids never tie or sort backwards.
    """
    global _last_batch_time
    stamp = (now or datetime.now(UTC)).astimezone(UTC)
    if now is None and _last_batch_time is not None and stamp <= _last_batch_time:
        stamp = _last_batch_time + timedelta(microseconds=1)
    if now is None:
        _last_batch_time = stamp
    return f"{stamp:%Y%m%dT%H%M%S.%f}Z-{secrets.token_hex(3)}"


def user_errors(function: Callable[..., Any]) -> Callable[..., Any]:
    """Run a task body; a problem the user can fix fails the task with its message, no retry."""

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except UsageError as exc:
            from airflow.sdk.exceptions import AirflowFailException

            log.error("%s", exc)
            raise AirflowFailException(str(exc)) from None

    return wrapper


# --- import DAG ---------------------------------------------------------------------------

def resolve_request(params: dict[str, Any], run_id: str, landing_url: str | None,
                    missing_learners: str | None = None) -> dict[str, Any]:
    """The run's ticket: which file, through which importer, under which batch id.

    `missing_learners` is the deployment's setting (the Variable); the run's param overrides it.
    """
    file = (params.get("file") or "").strip()
    if not file:
        raise UsageError("no file given: trigger the import with file=course/<course>/<name>.csv or global/<name>.csv")
    target = resolve_target(file, params.get("importer") or None, params.get("course") or None)
    ticket = {
        "batch": new_batch_id(), "file": target.path, "importer": target.importer,
        "course": target.course, "dry_run": bool(params.get("dry_run")),
        "load_valid_rows": bool(params.get("load_valid_rows")), "run_id": run_id,
        "missing_learners": settings.missing_learners(params.get("missing_learners") or missing_learners),
        "assign_immediately": params.get("assign_immediately") is not False,
        "landing": settings.landing_url(landing_url),
    }
    log.info("batch %s: %s through the %s importer%s%s", ticket["batch"], target.path, target.importer,
             f" into {target.course}" if target.course else "", " (dry run)" if ticket["dry_run"] else "")
    return ticket


def _root(ticket: dict[str, Any]):
    return landing.landing_root(ticket["landing"])


def _report_dir(ticket: dict[str, Any]):
    return landing.report_dir(_root(ticket), ticket["batch"])


def _write_summary(ticket: dict[str, Any], document: dict[str, Any]) -> str:
    from include.course_records.report import summary_json

    return landing.write_report_file(_report_dir(ticket), "summary.json", summary_json(document))


def _read_summary(ticket: dict[str, Any]) -> dict[str, Any]:
    return json.loads((_report_dir(ticket) / "summary.json").read_text())


def _stop_locked(ticket: dict[str, Any], held: dict[str, Any], conn: db.Connection, *,
                 ledger_status: str = LOCKED) -> None:
    """The run ends without loading: its summary says `locked` and by what; the file waits in landing."""
    from include.course_records import report
    from include.course_records.check import CheckResult
    from include.course_records.target import Target

    try:
        document = _read_summary(ticket)
    except FileNotFoundError:  # stopped before validation wrote one
        target = Target(ticket["file"], ticket["importer"], ticket["course"])
        document = report.summary(CheckResult(target=target, sha256=""), file=ticket["file"])
    document.update(status=LOCKED, lock=held, message=lock.describe(held))
    _write_summary(ticket, document)
    ledger.finish(conn, ticket["batch"], status=ledger_status)
    mark_waiting(conn, ticket["file"])


def check_lock(ticket: dict[str, Any]) -> bool:
    """False (and a `locked` summary) when the importer is locked; the file stays in landing."""
    held = lock.current()
    if not held:
        return True
    log.warning("%s — %s stays in landing and will be picked up after the unlock", lock.describe(held), ticket["file"])
    conn = db.connect()
    ledger.open_run(conn, batch=ticket["batch"], file_path=ticket["file"], sha256="", importer=ticket["importer"],
                    course=ticket["course"], run_id=ticket["run_id"], dry_run=ticket["dry_run"],
                    load_valid_rows=ticket["load_valid_rows"], report_uri=landing.url_of(_report_dir(ticket)))
    _stop_locked(ticket, held, conn)
    return False


def validate(ticket: dict[str, Any]) -> dict[str, Any]:
    """Read and check the file, write its reports, and stage the rows to load."""
    from include.course_records import datadocs, report
    from include.course_records.check import ACCEPTED, check_file
    from include.course_records.load import stage_rows
    from include.course_records.target import Target

    started = time.perf_counter()
    root = _root(ticket)
    data = landing.read_bytes(root, ticket["file"])
    log.info("read %s: %d bytes", ticket["file"], len(data))
    conn = db.connect()
    target = Target(ticket["file"], ticket["importer"], ticket["course"])
    result = check_file(data, target, conn, load_valid_rows=ticket["load_valid_rows"],
                        missing_learners=ticket.get("missing_learners", "create"),
                        assign_immediately=ticket.get("assign_immediately", True))
    reports = _report_dir(ticket)
    ledger.open_run(conn, batch=ticket["batch"], file_path=ticket["file"], sha256=result.sha256,
                    importer=ticket["importer"], course=ticket["course"], run_id=ticket["run_id"],
                    dry_run=ticket["dry_run"], load_valid_rows=ticket["load_valid_rows"], report_uri=landing.url_of(reports))
    document = report.summary(result, file=ticket["file"])
    _write_summary(ticket, document)
    landing.write_report_file(reports, "rejects.csv", report.rejects_csv(result))
    run = datadocs.payload(result, batch=ticket["batch"], file=ticket["file"], run_time=datetime.now(UTC).isoformat())
    landing.write_report_file(reports, datadocs.VALIDATION_FILE, json.dumps(run, ensure_ascii=False).encode())
    ledger.record_check(conn, ticket["batch"], result.status, document["rows"])
    staged = 0
    if result.status == ACCEPTED and not ticket["dry_run"]:
        staged = stage_rows(conn, ticket["batch"], result.loadable)
    errors = sum(1 for i in result.issues if i.is_error)
    log.info("%s: %s — rows %s, %d errors, %d warnings, %d rows staged; report %s (%.2fs)",
             ticket["file"], result.status, document["rows"], errors, len(result.issues) - errors,
             staged, reports, time.perf_counter() - started)
    for issue in result.issues[:20]:
        log.info("  %s %s", issue.severity, issue.message)
    discrepancies = [i.message for i in result.issues if i.rule in {"F02", "F04", "R01", "W04", "W05"}][:20]
    return {"status": result.status, "sha256": result.sha256, "rows": document["rows"], "staged": staged,
            "report": landing.url_of(reports), "discrepancies": discrepancies}


def choose_path(ticket: dict[str, Any], outcome: dict[str, Any]) -> str:
    """The task that comes next: a loader, quarantine, archive (duplicate), or nothing (dry run)."""
    if ticket["dry_run"]:
        return "dry_run_done"
    if outcome["status"] == "duplicate_file":
        return "archive_file"
    if outcome["status"] == "rejected":
        return "quarantine_file"
    return "load_course_level" if ticket["importer"] == "course" else "load_legacy_global"


def load(ticket: dict[str, Any], outcome: dict[str, Any]) -> dict[str, int]:
    """Load the staged batch; on failure, lock the importer with a diagnosis and re-raise."""
    from include.course_records.load import drop_stage, load_batch

    conn = db.connect()
    try:
        created = load_batch(conn, ticket["batch"], ticket["importer"], lock_holder=lock.current,
                             after_load=lambda cur, c: ledger.mark_loaded(cur, ticket["batch"], c.as_dict()))
    except ImportLocked as exc:
        held = exc.args[0]
        log.warning("%s — nothing loaded; %s stays in landing", lock.describe(held), ticket["file"])
        drop_stage(conn, ticket["batch"])
        _stop_locked(ticket, held, conn)
        raise
    except BaseException as exc:  # includes Airflow's timeout; SIGKILL is the failure callback's
        lock_after_failure(ticket, outcome, exc, conn)
        raise
    return created.as_dict()


def lock_after_failure(ticket: dict[str, Any], outcome: dict[str, Any] | None, error: BaseException | str,
                       conn: db.Connection | None = None) -> None:
    """A load failed or hung: lock the importer, say why, keep the file in landing."""
    conn = conn or db.connect()
    conn.rollback()
    reason = f"loading {ticket['file']} failed: {error.__class__.__name__}: {error}" \
        if isinstance(error, BaseException) else f"loading {ticket['file']} failed: {error}"
    diagnosis = {"error": reason, "batch": ticket["batch"], "report": (outcome or {}).get("report"),
                 "file_discrepancies": (outcome or {}).get("discrepancies", [])}
    held = lock.lock(conn, file=ticket["file"], run_id=ticket["run_id"], reason=reason, diagnosis=diagnosis)
    _stop_locked(ticket, held, conn, ledger_status="failed")


def archive_file(ticket: dict[str, Any], outcome: dict[str, Any], created: dict[str, int] | None) -> str:
    """Move a loaded (or duplicate) file to archive/YYYY/MM/DD/<batch>-<name>; finish its report."""
    root = _root(ticket)
    destination = landing.archive_path(ticket["file"], ticket["batch"], datetime.now(UTC))
    archived = landing.move(root, ticket["file"], destination)
    status = "duplicate_file" if outcome["status"] == "duplicate_file" else LOADED
    document = _read_summary(ticket)
    document["status"] = status
    if created:
        document["created"] = created
    document["archived"] = destination
    _write_summary(ticket, document)
    conn = db.connect()
    ledger.finish(conn, ticket["batch"], status=status, archived_uri=archived)
    forget(conn, ticket["file"])
    log.info("%s: %s, archived as %s; created %s", ticket["file"], status, destination, document["created"])
    return destination


def quarantine_file(ticket: dict[str, Any], outcome: dict[str, Any]) -> str:
    """Move a rejected file to quarantine/<batch>-<name>, beside nothing loaded."""
    root = _root(ticket)
    destination = landing.quarantine_path(ticket["file"], ticket["batch"])
    moved = landing.move(root, ticket["file"], destination)
    conn = db.connect()
    ledger.finish(conn, ticket["batch"], archived_uri=moved)
    forget(conn, ticket["file"])
    log.warning("%s rejected: quarantined as %s; see %s/summary.json and rejects.csv",
                ticket["file"], destination, outcome["report"])
    return destination


def finish_dry_run(ticket: dict[str, Any], outcome: dict[str, Any]) -> None:
    conn = db.connect()
    ledger.finish(conn, ticket["batch"])
    log.info("dry run of %s: %s; nothing loaded or moved; report %s", ticket["file"], outcome["status"],
             outcome["report"])


def publish_data_docs(ticket: dict[str, Any]) -> str | None:
    """Add this run's validation to the Data Docs site; returns its page's URL (None: never validated)."""
    from include.course_records import datadocs

    return datadocs.publish_report(settings.data_docs_url(ticket["landing"]), _report_dir(ticket))


# --- assignment of held records ---------------------------------------------------------------

def assign_held(run_id: str, landing_url: str | None) -> list[dict[str, Any]]:
    """Load the held records whose learner now exists; on failure, lock the importer and re-raise."""
    from include.course_records import assign, report

    root = landing.landing_root(settings.landing_url(landing_url))

    def write_report(batch: str, document: dict[str, Any], rejects: bytes) -> str:
        directory = landing.report_dir(root, batch)
        landing.write_report_file(directory, "summary.json", report.summary_json(document))
        landing.write_report_file(directory, "rejects.csv", rejects)
        return landing.url_of(directory)

    conn = db.connect()
    try:
        summaries = assign.assign(conn, run_id=run_id, lock_holder=lock.current, write_report=write_report)
    except ImportLocked as exc:
        log.warning("%s — held records wait for the next assignment run", lock.describe(exc.args[0]))
        return []
    except BaseException as exc:
        lock_after_failed_assignment(run_id, exc)
        raise
    waiting = assign.held_counts(conn)
    for document in summaries:
        log.info("%s: %s, created %s", document["file"], document["status"], document["created"])
    log.info("%d assignment batch(es); %d record(s) still held (oldest since %s)", len(summaries),
             waiting["waiting"], waiting["oldest"] or "-")
    return [{"file": d["file"], "status": d["status"], "created": d["created"]} for d in summaries]


def lock_after_failed_assignment(run_id: str, error: BaseException | str) -> None:
    """An assignment load failed or hung: lock the importer; the records stay held."""
    if lock.current():
        return
    reason = f"assigning held records failed: {error.__class__.__name__}: {error}" \
        if isinstance(error, BaseException) else f"assigning held records failed: {error}"
    lock.lock(db.connect(), file=None, run_id=run_id, reason=reason, diagnosis={"error": reason})


# --- landing scan state ---------------------------------------------------------------------

def mark_waiting(conn: db.Connection, file_path: str) -> None:
    """The file's run ended without moving it: the next scan (once unlocked) dispatches it again."""
    with db.transaction(conn) as cur:
        cur.execute("UPDATE course_import.landing_file SET state = 'waiting', updated_at = now()"
                    " WHERE file_path = %s", (file_path,))


def forget(conn: db.Connection, file_path: str) -> None:
    with db.transaction(conn) as cur:
        cur.execute("DELETE FROM course_import.landing_file WHERE file_path = %s", (file_path,))

