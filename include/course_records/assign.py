"""Assign held records: load the records of learners who had no account when their file came in.

With `course_record_missing_learners = hold` (or `assign_immediately` off) an import keeps the
rows of learners the LMS doesn't know in `course_import.held_record`. Once a learner with that
external_user_id or email (any case) exists, the assignment run loads their records exactly as
an import would: the held values are written back as a course-record file, checked by the same
suites against what the LMS holds *now* (the learner may have enrolled by hand in the meantime),
staged and loaded in one transaction under the same locks. Each origin batch is one assignment
batch in the ledger (`assigned_from`), and every held record ends `assigned` or `refused` with
its reason, never deleted.

A held `complete=1` record without `date_completed` gets the assignment time as its completion
date, and its resolution says so.
"""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from include.course_records import ledger
from include.course_records.db import Connection, transaction
from include.course_records.errors import ImportLocked
from include.course_records.record_format import COLUMNS

log = logging.getLogger(__name__)

HELD_PREFIX = "held"  # assignment "files" are named held/<origin batch> in the ledger and reports

_ASSIGNABLE = """
SELECT h.id, h.import_batch, h.line, h.importer, h.course_key, h.title, h.external_user_id, h.email,
       h.first_name, h.last_name, h.enrollment_start, h.enrollment_end, h.complete, h.date_completed,
       h.attended, h.participant_category, t.machine_name, h.credits, h.credit_expiration
FROM course_import.held_record h
LEFT JOIN lms.credit_type t ON t.id = h.credit_type_id
WHERE h.status = 'held'
  AND (EXISTS (SELECT 1 FROM lms.learner l WHERE l.external_user_id = h.external_user_id)
       OR EXISTS (SELECT 1 FROM lms.learner l WHERE lower(l.email) = h.email_key))
ORDER BY h.import_batch, h.line
"""
_FIELDS = ("id", "import_batch", "line", "importer", "course_key", "title", "external_user_id", "email",
           "first_name", "last_name", "enrollment_start", "enrollment_end", "complete", "date_completed",
           "attended", "participant_category", "credit_type", "credits", "credit_expiration")


@dataclass
class Assignment:
    """One origin batch's assignable records, written back as a file."""

    origin: str
    importer: str
    course: str | None
    records: list[dict[str, Any]]
    data: bytes = b""
    line_to_record: dict[int, int] = field(default_factory=dict)  # line in `data` → held_record.id
    dated_now: set[int] = field(default_factory=set)  # held_record ids given the assignment time

    @property
    def path(self) -> str:
        return f"{HELD_PREFIX}/{self.origin}"


def waiting(conn: Connection) -> list[Assignment]:
    """The held records whose learner now exists, grouped by the batch that held them."""
    with conn.cursor() as cur:
        cur.execute(_ASSIGNABLE)
        rows = [dict(zip(_FIELDS, row, strict=True)) for row in cur.fetchall()]
    conn.rollback()
    groups: dict[str, Assignment] = {}
    for row in rows:
        group = groups.get(row["import_batch"])
        if group is None:
            course = row["course_key"] if row["importer"] == "course" else None
            group = groups[row["import_batch"]] = Assignment(row["import_batch"], row["importer"], course, [])
        group.records.append(row)
    return list(groups.values())


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    if isinstance(value, Decimal):
        return f"{value:.2f}"
    return str(value)


def write_file(assignment: Assignment, now: datetime) -> None:
    """The held values as a course-record file (every column), with a line per record."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for line, record in enumerate(assignment.records, start=2):
        values = {
            "external_course_id": record["course_key"], "title": record["title"],
            "external_user_id": record["external_user_id"], "external_email": record["email"],
            "first_name": record["first_name"], "last_name": record["last_name"],
            "enrollment_start": record["enrollment_start"], "enrollment_end": record["enrollment_end"],
            "complete": record["complete"], "date_completed": record["date_completed"],
            "credits": record["credits"], "credit_type": record["credit_type"],
            "credit_expiration": record["credit_expiration"], "attended": record["attended"],
            "participant_category": record["participant_category"],
        }
        if record["complete"] and record["date_completed"] is None:
            values["date_completed"] = now
            assignment.dated_now.add(record["id"])
        writer.writerow([_text(values[column]) for column in COLUMNS])
        assignment.line_to_record[line] = record["id"]
    assignment.data = out.getvalue().encode("utf-8")


def assign(conn: Connection, *, run_id: str | None, lock_holder: Callable[[], dict | None],
           write_report: Callable[[str, dict[str, Any], bytes], str | None] | None = None,
           now: datetime | None = None) -> list[dict[str, Any]]:
    """Assign every held record whose learner now exists; one summary per origin batch.

    `lock_holder()` names the import lock if it is set (then nothing is loaded: ImportLocked);
    `write_report(batch, summary, rejects_csv)` stores a batch's report and returns where.
    """
    from include.course_records import report
    from include.course_records.check import ACCEPTED, check_file
    from include.course_records.load import drop_stage, load_batch, stage_result
    from include.course_records.pipeline import new_batch_id
    from include.course_records.target import Target

    held = lock_holder()
    if held:
        raise ImportLocked(held)
    summaries = []
    for assignment in waiting(conn):
        moment = now or datetime.now(UTC)
        write_file(assignment, moment)
        batch = new_batch_id()
        target = Target(assignment.path, assignment.importer, assignment.course)
        result = check_file(assignment.data, target, conn, load_valid_rows=True, now=moment,
                            missing_learners="hold", skip_duplicate_check=True, spool=True)
        document = report.summary(result, file=assignment.path, extra={"assigned_from": assignment.origin})
        report_uri = write_report(batch, document, report.rejects_csv(result)) if write_report else None
        ledger.open_run(conn, batch=batch, file_path=assignment.path, sha256=result.sha256,
                        importer=assignment.importer, course=assignment.course, run_id=run_id, dry_run=False,
                        load_valid_rows=True, report_uri=report_uri, assigned_from=assignment.origin)
        ledger.record_check(conn, batch, result.status, document["rows"])
        refused = _refusals(result, assignment)
        created = None
        if result.status == ACCEPTED:
            stage_result(conn, batch, result)
            try:
                created = load_batch(conn, batch, assignment.importer, lock_holder=lock_holder,
                                     after_load=lambda cur, c, a=assignment, b=batch, r=refused, m=moment:
                                     _settle(cur, a, b, r, m, c))
            except BaseException:  # nothing of it loaded; the records stay held for the next run
                conn.rollback()
                drop_stage(conn, batch)
                ledger.finish(conn, batch, status="failed")
                raise
            document.update(status="loaded", created=created.as_dict())
        else:
            with transaction(conn) as cur:
                _settle(cur, assignment, batch, refused, moment, None)
        if write_report:
            write_report(batch, document, report.rejects_csv(result))
        if result.chunked is not None:
            result.chunked.discard()
        ledger.finish(conn, batch)
        log.info("held records of batch %s: %d assigned, %d refused (batch %s)", assignment.origin,
                 len(assignment.records) - len(refused), len(refused), batch)
        summaries.append(document)
    return summaries


def _refusals(result: Any, assignment: Assignment) -> dict[int, str]:
    """held_record.id → why it cannot be assigned (its errors, as the report words them)."""
    reasons: dict[int, list[str]] = {}
    for issue in result.issues:
        if not issue.is_error:
            continue
        lines = result.rejected_lines if issue.rule.startswith("F") else {issue.line}
        for line in lines:
            record = assignment.line_to_record.get(line)
            if record is not None:
                reasons.setdefault(record, []).append(issue.message)
    for line in result.rejected_lines:  # fallen with another row of the same enrollment
        record = assignment.line_to_record.get(line)
        if record is not None:
            reasons.setdefault(record, ["another record of the same enrollment was refused"])
    return {record: "; ".join(messages) for record, messages in reasons.items()}


def _settle(cur: Any, assignment: Assignment, batch: str, refused: dict[int, str], moment: datetime,
            created: Any) -> None:
    """In the load's transaction: every record of the assignment ends assigned or refused."""
    assigned = [r["id"] for r in assignment.records if r["id"] not in refused]
    if refused:
        cur.execute(
            "UPDATE course_import.held_record SET status = 'refused', assigned_batch = %s, assigned_at = %s,"
            " resolution = data.reason FROM (SELECT unnest(%s::bigint[]) AS id, unnest(%s::text[]) AS reason) data"
            " WHERE held_record.id = data.id AND held_record.status = 'held'",
            (batch, moment, list(refused), list(refused.values())))
    if assigned:
        cur.execute(
            "UPDATE course_import.held_record h SET status = 'assigned', assigned_batch = %s, assigned_at = %s,"
            " learner_id = coalesce((SELECT l.id FROM lms.learner l WHERE l.external_user_id = h.external_user_id),"
            "                       (SELECT l.id FROM lms.learner l WHERE lower(l.email) = h.email_key)),"
            " resolution = CASE WHEN h.id = ANY(%s) THEN %s END"
            " WHERE h.id = ANY(%s) AND h.status = 'held'",
            (batch, moment, list(assignment.dated_now),
             f"complete without date_completed: completed at the assignment, {moment.isoformat()}", assigned))
    if created is not None:
        ledger.mark_loaded(cur, batch, created.as_dict())


def held_counts(conn: Connection) -> dict[str, Any]:
    """For reports and ops: records waiting, per batch (with its oldest), the oldest waiting, and
    how many were refused at an assignment."""
    with conn.cursor() as cur:
        cur.execute("SELECT import_batch, count(*), min(held_at) FROM course_import.held_record"
                    " WHERE status = 'held' GROUP BY import_batch ORDER BY min(held_at), import_batch")
        rows = cur.fetchall()
        cur.execute("SELECT count(*) FROM course_import.held_record WHERE status = 'refused'")
        refused = cur.fetchone()[0]
    conn.rollback()
    oldest = min((r[2] for r in rows), default=None)
    return {"waiting": sum(r[1] for r in rows), "batches": {r[0]: r[1] for r in rows},
            "oldest_by_batch": {r[0]: r[2] for r in rows}, "refused": refused,
            "oldest": oldest.isoformat() if oldest else None}

