"""What each task of the import, scan and unlock DAGs does, as plain functions.

The DAG files only wire these together. Tasks pass small dicts through XCom (ids, paths,
counts), never data: the rows travel through the landing file and the staging table.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import secrets
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from include.course_records import db, landing, ledger, lock, resources, settings
from include.course_records.errors import ImportLocked, UsageError
from include.course_records.target import resolve_target

log = logging.getLogger(__name__)

LOADED, LOCKED = "loaded", "locked"
FIRST_ERRORS = 3  # errors quoted in a rejected run's failure message (the report has them all)


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


def run_fails(message: str) -> Exception:
    """The exception that ends a task (and so its run) as failed with `message`, without a retry.

    Rejected and locked runs end failed rather than green: the run list, the DAG's page and the
    home page show a run's state (not its note), and a task cannot set its run's note through the
    Task SDK. The failed task names the outcome (`check_lock`, `file_rejected`) and its one-line
    message starts with LOCKED or REJECTED and the file.
    """
    from airflow.sdk.exceptions import AirflowFailException

    return AirflowFailException(message)


def who_triggered(run_id: str, triggering_user: str | None, run_type: str | None) -> str:
    """Who started a run, for the ledger: the user who triggered it, else the landing scan."""
    if run_id.startswith("scan__"):
        return "landing scan" + (f" (started by {triggering_user})" if triggering_user else "")
    return triggering_user or run_type or "unknown"


# --- import DAG ---------------------------------------------------------------------------

def resolve_request(params: dict[str, Any], run_id: str, landing_url: str | None,
                    missing_learners: str | None = None, triggered_by: str | None = None) -> dict[str, Any]:
    """The run's ticket: which file, through which importer, under which batch id.

    `missing_learners` is the deployment's setting (the Variable); the run's param overrides it.
    `triggered_by` (who started the run) goes into the ledger.
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
        "landing": settings.landing_url(landing_url), "triggered_by": triggered_by,
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


def _stop_locked(ticket: dict[str, Any], held: dict[str, Any], conn: db.Connection | None, *,
                 ledger_status: str = LOCKED) -> None:
    """The run ends without loading: its summary says `locked` and by what; the file waits in landing.

    Without a connection (the LMS is unreachable) only the summary is written.
    """
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
    if conn is not None:
        ledger.finish(conn, ticket["batch"], status=ledger_status)
        mark_waiting(conn, ticket["file"])


def _open_ledger_entry(conn: db.Connection, ticket: dict[str, Any], sha256: str) -> None:
    ledger.open_run(conn, batch=ticket["batch"], file_path=ticket["file"], sha256=sha256, importer=ticket["importer"],
                    course=ticket["course"], run_id=ticket["run_id"], dry_run=ticket["dry_run"],
                    load_valid_rows=ticket["load_valid_rows"], report_uri=landing.url_of(_report_dir(ticket)))
    with db.transaction(conn) as cur:
        cur.execute("UPDATE course_import.ledger SET triggered_by = %s WHERE batch_id = %s",
                    (ticket.get("triggered_by"), ticket["batch"]))


def _locked_message(ticket: dict[str, Any], held: dict[str, Any]) -> str:
    return (f"LOCKED: {ticket['file']} waits in landing, nothing loaded — {lock.describe(held)}. "
            f"Unlock with the {settings.UNLOCK_DAG_ID} DAG once the cause is fixed; see {settings.ops_url()}")


def check_lock(ticket: dict[str, Any]) -> None:
    """Fail the run (with a `locked` summary) when the importer is locked; the file stays in landing."""
    held = lock.current()
    if not held:
        log.info("the importer is free")
        return
    log.warning("IMPORT LOCKED: %s — %s stays in landing and will be picked up after the unlock",
                lock.describe(held), ticket["file"])
    conn = db.connect()
    _open_ledger_entry(conn, ticket, sha256="")
    _stop_locked(ticket, held, conn)
    raise run_fails(_locked_message(ticket, held))


@resources.measured("validate")
def validate(ticket: dict[str, Any]) -> dict[str, Any]:
    """Read and check the file, write its reports, and stage the rows to load."""
    started = time.perf_counter()
    quiet_great_expectations()
    conn = db.connect()
    result = _check(ticket, conn)
    _open_ledger_entry(conn, ticket, sha256=result.sha256)
    return _record_check(ticket, conn, result, started)


def _check(ticket: dict[str, Any], conn: db.Connection):
    """Every check on the file as it is in landing, against the LMS as it is now (reads only)."""
    from include.course_records.check import check_file
    from include.course_records.target import Target

    target = Target(ticket["file"], ticket["importer"], ticket["course"])
    with landing.local_file(_root(ticket), ticket["file"]) as path:  # streamed: a large file is never held whole
        log.info("read %s: %d bytes", ticket["file"], os.path.getsize(path))
        return check_file(path, target, conn, load_valid_rows=ticket["load_valid_rows"],
                          missing_learners=ticket.get("missing_learners", "create"),
                          assign_immediately=ticket.get("assign_immediately", True),
                          spool=not ticket["dry_run"])


def _record_check(ticket: dict[str, Any], conn: db.Connection, result, started: float, *,
                  recheck: str | None = None) -> dict[str, Any]:
    """Write a check's reports and ledger counts, stage the rows to load; returns the outcome
    (what the next tasks read through XCom). `recheck` says why a load checked the file again."""
    from include.course_records import datadocs, report
    from include.course_records.check import ACCEPTED, REJECTED
    from include.course_records.load import stage_result

    reports = _report_dir(ticket)
    document = report.summary(result, file=ticket["file"])
    if recheck:
        document["rechecked"] = recheck
    if result.status == REJECTED:  # where the people who prepare files read what each rule means
        document["rules"] = settings.ops_url("file-format")
    _write_summary(ticket, document)
    landing.write_report_file(reports, "rejects.csv", report.rejects_csv(result))
    run = datadocs.payload(result, batch=ticket["batch"], file=ticket["file"], run_time=datetime.now(UTC).isoformat())
    landing.write_report_file(reports, datadocs.VALIDATION_FILE, json.dumps(run, ensure_ascii=False).encode())
    ledger.record_check(conn, ticket["batch"], result.status, document["rows"])
    staged = 0
    if result.status == ACCEPTED and not ticket["dry_run"]:
        staged = stage_result(conn, ticket["batch"], result)
    if result.chunked is not None:
        result.chunked.discard()  # its spool, when nothing was staged from it
    errors = [i for i in result.issues if i.is_error]
    # a rejection is what ops must read: WARNING, with the first errors, above any GX chatter
    level = logging.WARNING if result.status == REJECTED else logging.INFO
    log.log(level, "%s: %s%s — rows %s, %d errors, %d warnings, %d rows staged; report %s (%.2fs)",
            ticket["file"], result.status, " on a second check in the load slot" if recheck else "",
            document["rows"], len(errors), len(result.issues) - len(errors), staged, reports,
            time.perf_counter() - started)
    for issue in result.issues[:20]:
        log.log(logging.WARNING if issue.is_error else logging.INFO, "  %s %s", issue.severity, issue.message)
    if len(result.issues) > 20:
        log.log(level, "  … %d more in %s/rejects.csv and summary.json", len(result.issues) - 20, reports)
    discrepancies = [i.message for i in result.issues if i.rule in {"F02", "F04", "R01", "W04", "W05"}][:20]
    outcome = {"status": result.status, "sha256": result.sha256, "rows": document["rows"], "staged": staged,
               "report": landing.url_of(reports), "discrepancies": discrepancies, "errors": len(errors),
               "first_errors": [i.message for i in errors[:FIRST_ERRORS]]}
    if recheck:
        outcome["rechecked"] = recheck
    return outcome


def quiet_great_expectations() -> None:
    """Keep GX's own chatter out of task logs (hundreds of "Skipping registering function…" INFO
    lines at import; Python warnings about its regex patterns and deprecations, which Airflow logs
    at WARNING): what the run found is logged by us. GX errors still show."""
    import warnings

    logging.getLogger("great_expectations").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", module=r"great_expectations(\.|$)")


def choose_path(ticket: dict[str, Any], outcome: dict[str, Any]) -> str:
    """The task that comes next: a loader, quarantine, archive (duplicate), or nothing (dry run)."""
    if ticket["dry_run"]:
        return "dry_run_done"
    if outcome["status"] == "duplicate_file":
        return "archive_file"
    if outcome["status"] == "rejected":
        return "quarantine_file"
    return "load_course_level" if ticket["importer"] == "course" else "load_legacy_global"


@resources.measured("load")
def load(ticket: dict[str, Any], outcome: dict[str, Any]) -> dict[str, Any]:
    """Load the staged batch; on failure, lock the importer with a diagnosis and re-raise.

    Returns `{"status", "created", "outcome"}`: `outcome` is the validation that holds at load
    time. When the LMS changed since validation (another file loaded the same bytes or rows that
    overlap, or a batch was reverted), the file is checked again inside the load slot and ends as
    that check says — loaded, `duplicate_file` (F06) or rejected with its rules — never as a lock.
    """
    from include.course_records.errors import StaleValidation
    from include.course_records.load import advisory_lock

    conn = db.connect()
    try:
        with advisory_lock(conn):  # for the session: a process that dies mid-load leaves its mark
            _stop_if_a_load_died(conn, ticket)
            ledger.mark_load_started(conn, ticket["batch"])
            try:
                created = _load_staged(conn, ticket)
            except StaleValidation as stale:
                return _recheck_and_load(conn, ticket, stale)
        return {"status": LOADED, "created": created, "outcome": outcome}
    except ImportLocked as exc:
        held = exc.args[0]
        log.warning("IMPORT LOCKED: %s — nothing loaded; %s stays in landing", lock.describe(held), ticket["file"])
        from include.course_records.load import drop_stage

        drop_stage(conn, ticket["batch"])
        _stop_locked(ticket, held, conn)
        raise run_fails(_locked_message(ticket, held)) from None
    except BaseException as exc:  # includes Airflow's timeout; SIGKILL is the failure callback's
        cause = root_cause(exc)
        lock_after_failure(ticket, outcome, cause, failed_conn=conn)
        if cause is not exc:
            raise cause from None  # the task's error is the real one, not the clean-up's
        raise


def _stop_if_a_load_died(conn: db.Connection, ticket: dict[str, Any]) -> None:
    """An earlier load started and never ended: its process died (a worker lost or killed) before it
    or Airflow could say so. Lock the importer naming it (unless locked already), and stop (ImportLocked).

    Called holding the loaders' advisory lock: no live load can be in that state.
    """
    dead = ledger.dead_loads(conn, ticket["batch"])
    if not dead:
        return
    held = lock.current()
    for load in dead:
        with conn.cursor() as cur:  # its transaction rolled back with its session: say what the LMS holds
            cur.execute("SELECT (SELECT count(*) FROM lms.enrollment WHERE import_batch = %(b)s)"
                        " + (SELECT count(*) FROM lms.learner WHERE import_batch = %(b)s)", {"b": load["batch_id"]})
            [(rows,)] = cur.fetchall()
        conn.commit()
        reason = (f"loading {load['file_path']} (batch {load['batch_id']}) stopped without finishing: the load "
                  f"started at {load['load_started_at']:%Y-%m-%d %H:%M:%S} UTC and its process died (worker lost "
                  f"or killed); its transaction was rolled back, the LMS holds {rows} rows of that batch")
        log.error("%s", reason)
        if not held:
            held = lock.lock(conn, file=load["file_path"], run_id=load["run_id"], reason=reason,
                             diagnosis={"error": reason, "batch": load["batch_id"], "report": load["report_uri"],
                                        "file_discrepancies": []})
        ledger.finish(conn, load["batch_id"], status="failed")
        mark_waiting(conn, load["file_path"])
    raise ImportLocked(held)


def record_failed_load(ticket: dict[str, Any], held: dict[str, Any]) -> None:
    """The run's load failed and the importer is already locked for it: its summary and ledger say so."""
    conn = db.connect()
    try:
        _stop_locked(ticket, held, conn, ledger_status="failed")
    finally:
        conn.close()


def _load_staged(conn: db.Connection, ticket: dict[str, Any]) -> dict[str, int]:
    from include.course_records.load import load_batch

    created = load_batch(conn, ticket["batch"], ticket["importer"], lock_holder=lock.current,
                         after_load=lambda cur, c: ledger.mark_loaded(cur, ticket["batch"], c.as_dict()))
    return created.as_dict()


def _recheck_and_load(conn: db.Connection, ticket: dict[str, Any], stale: Exception) -> dict[str, Any]:
    """The load found the LMS changed since validation: check the file again and load what that
    check accepts, all under the loaders' advisory lock (held for the session, so nothing can
    change the LMS between this check and this load). A second refusal is unexplained: it raises.

    Called by `load`, which holds that lock for the session."""
    from include.course_records.check import ACCEPTED
    from include.course_records.load import drop_stage

    started = time.perf_counter()
    reason = f"the LMS changed since this file was validated ({stale}); checked again in the load slot"
    log.warning("%s: %s", ticket["file"], reason)
    quiet_great_expectations()
    drop_stage(conn, ticket["batch"])
    now = _record_check(ticket, conn, _check(ticket, conn), started, recheck=reason)
    if now["status"] != ACCEPTED:
        return {"status": now["status"], "created": None, "outcome": now}
    return {"status": LOADED, "created": _load_staged(conn, ticket), "outcome": now}


def outcome_now(outcome: dict[str, Any], loaded: dict[str, Any] | None) -> dict[str, Any]:
    """The validation that holds: the load's second check when it made one, else the first."""
    return (loaded or {}).get("outcome") or outcome


def root_cause(error: BaseException) -> BaseException:
    """The error that broke the load, not a later one from cleaning up after it: rolling back on a
    connection the server has closed raises "connection already closed" over the real cause."""
    import psycopg2

    while isinstance(error, psycopg2.InterfaceError) and error.__context__ is not None:
        error = error.__context__
    return error


def lock_after_failure(ticket: dict[str, Any], outcome: dict[str, Any] | None, error: BaseException | str,
                       failed_conn: db.Connection | None = None) -> dict[str, Any]:
    """A load failed or hung: lock the importer, say why, keep the file in landing; returns the lock.

    The load's own connection may be what failed (the LMS restarted, the backend was killed), so
    it is only discarded; the lock is recorded through a new one, with the load's error as the
    reason. If the LMS cannot be reached at all, the lock is still set (it is an Airflow Variable).
    """
    if failed_conn is not None:
        _discard(failed_conn)
    reason = f"loading {ticket['file']} failed: {_describe_error(error)}"
    diagnosis = {"error": reason, "batch": ticket["batch"], "report": (outcome or {}).get("report"),
                 "file_discrepancies": (outcome or {}).get("discrepancies", [])}
    try:
        conn: db.Connection | None = db.connect()
    except UsageError as exc:
        log.error("cannot record the lock in the LMS (%s); setting it in Airflow only", exc)
        conn = None
    try:
        held = lock.lock(conn, file=ticket["file"], run_id=ticket["run_id"], reason=reason, diagnosis=diagnosis)
        _stop_locked(ticket, held, conn, ledger_status="failed")
    finally:
        if conn is not None:
            conn.close()
    return held


def _describe_error(error: BaseException | str) -> str:
    if not isinstance(error, BaseException):
        return str(error)
    text = " ".join(str(error).split())  # PostgreSQL's messages span lines
    return f"{error.__class__.__name__}: {text}" if text else error.__class__.__name__


def _discard(conn: db.Connection) -> None:
    """Give up a connection that may be dead: its transaction is lost either way."""
    import psycopg2

    try:
        conn.rollback()
    except psycopg2.Error as exc:
        log.info("the load's connection is gone (%s); using a new one", " ".join(str(exc).split()))
    finally:
        conn.close()


def archive_file(ticket: dict[str, Any], outcome: dict[str, Any], loaded: dict[str, Any] | None = None) -> str:
    """Move a loaded (or duplicate) file to archive/YYYY/MM/DD/<batch>-<name>; finish its report.

    `loaded` is the load task's result; a file its second check rejected is not archived (skipped).
    """
    outcome = outcome_now(outcome, loaded)
    if outcome["status"] == "rejected":
        raise _skip(f"{ticket['file']} was rejected when checked again at load time: it goes to quarantine")
    created = (loaded or {}).get("created")
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


def quarantine_file(ticket: dict[str, Any], outcome: dict[str, Any], loaded: dict[str, Any] | None = None) -> str:
    """Move a rejected file to quarantine/<batch>-<name>, beside nothing loaded.

    Also after a load task: when its second check rejected the file (else skipped).
    """
    outcome = outcome_now(outcome, loaded)
    if outcome["status"] != "rejected":
        raise _skip(f"{ticket['file']}: {outcome['status']}, not rejected")
    root = _root(ticket)
    destination = landing.quarantine_path(ticket["file"], ticket["batch"])
    moved = landing.move(root, ticket["file"], destination)
    conn = db.connect()
    ledger.finish(conn, ticket["batch"], archived_uri=moved)
    forget(conn, ticket["file"])
    log.warning("%s rejected: quarantined as %s; see %s/summary.json and rejects.csv",
                ticket["file"], destination, outcome["report"])
    return destination


def _skip(message: str) -> Exception:
    from airflow.sdk.exceptions import AirflowSkipException

    return AirflowSkipException(message)


def rejection_message(ticket: dict[str, Any], outcome: dict[str, Any]) -> str:
    """REJECTED: <file> — <n> errors: <the first ones> … — what a rejected run fails with."""
    errors = outcome.get("errors", 0)
    first = "; ".join(outcome.get("first_errors", []))
    more = f" (and {errors - FIRST_ERRORS} more)" if errors > FIRST_ERRORS else ""
    return (f"REJECTED: {ticket['file']} — {errors} error{'s' if errors != 1 else ''}: {first}{more}. "
            f"Nothing loaded; the file is in quarantine. Report: {settings.ops_url('batches', ticket['batch'])}")


def reject(ticket: dict[str, Any], outcome: dict[str, Any]) -> None:
    """End a rejected file's run as failed, saying why (the file is already in quarantine)."""
    message = rejection_message(ticket, outcome)
    log.warning("%s", message)
    raise run_fails(message)


def finish_dry_run(ticket: dict[str, Any], outcome: dict[str, Any]) -> None:
    conn = db.connect()
    ledger.finish(conn, ticket["batch"])
    log.info("dry run of %s: %s; nothing loaded or moved; report %s", ticket["file"], outcome["status"],
             outcome["report"])


def publish_data_docs(ticket: dict[str, Any]) -> str | None:
    """Add this run's validation to the Data Docs site; returns its page's URL (None: never validated)."""
    from include.course_records import datadocs

    quiet_great_expectations()
    return datadocs.publish_report(settings.data_docs_url(ticket["landing"]), _report_dir(ticket))


# --- unlock DAG -----------------------------------------------------------------------------

def unlock(actor: str, reason: str, landing_url: str | None) -> dict[str, Any] | None:
    """Clear the lock (who and why recorded); returns the lock cleared, None when it was free.

    Every finished file in landing is then picked up by the next scan, whether a run waited for
    it or it was dropped while the importer was locked: that is the count the log gives.
    """
    from include.course_records import scan

    conn = db.connect()
    try:
        cleared = lock.unlock(conn, actor=actor, reason=reason)
        if cleared is None:
            log.info("the importer was not locked: nothing changed")
            return None
        scan.release_waiting(conn)
    finally:
        conn.close()
    try:
        waiting = [path for path, _size, _mtime in landing.list_landed(landing.landing_root(landing_url))]
    except OSError as exc:  # the unlock stands; only the count is missing
        log.warning("UNLOCKED by %s: %s. Was: %s. The landing folder could not be listed (%s)",
                    actor, reason, lock.describe(cleared), exc)
        return cleared
    log.warning("UNLOCKED by %s: %s. Was: %s. %d file(s) in landing will be picked up by the next scan%s",
                actor, reason, lock.describe(cleared), len(waiting), (": " + ", ".join(waiting[:20])) if waiting else "")
    return cleared


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

