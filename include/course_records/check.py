"""Check one landing file: the one sequence of checks that both the CLI and the import DAG run."""

from __future__ import annotations

import hashlib
import itertools
import logging
import os
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np
import pandas as pd

from include.course_records import chunked, enrich, resources, validate
from include.course_records.db import Connection
from include.course_records.issues import INFO, Issue
from include.course_records.reader import LINE, count_data_lines, read_course_records
from include.course_records.target import Target

log = logging.getLogger(__name__)

ACCEPTED, REJECTED, DUPLICATE = "accepted", "rejected", "duplicate_file"
PRELOAD_BYTES_PER_ROW = 160  # about a row of a course-records file, to guess from its size how it will be checked


@dataclass
class CheckResult:
    target: Target
    sha256: str
    status: str = ACCEPTED
    issues: list[Issue] = field(default_factory=list)
    suite_runs: list[validate.SuiteRun] = field(default_factory=list)
    frame: pd.DataFrame | None = None  # every data row, prepared; None when the file was not read
    rejected_lines: set[int] = field(default_factory=set)
    duplicate_of: str | None = None
    rows_read: int = 0  # data rows, also when the header stopped the checks before the rows
    chunked: chunked.ChunkedRows | None = None  # a large file checked in chunks: no frame, its keys

    @property
    def rows_total(self) -> int:
        if self.chunked is not None:
            return len(self.chunked.keys)
        return self.rows_read if self.frame is None else len(self.frame)

    @property
    def loadable(self) -> pd.DataFrame:
        """The rows to load: valid, and not already held identically by the LMS."""
        if self.chunked is not None:
            if self.status != ACCEPTED:
                return pd.DataFrame()
            raise RuntimeError("a file checked in chunks has no frame: stage it with load.stage_result")
        if self.frame is None or self.status != ACCEPTED:
            return self.frame.iloc[0:0] if self.frame is not None else pd.DataFrame()
        keep = ~self.frame[LINE].isin(self.rejected_lines) & ~self.frame["_identical"]
        return self.frame[keep]

    def counts(self) -> dict[str, int]:
        total = self.rows_total
        if self.chunked is not None:
            rejected = len(self.rejected_lines)
            skipped = 0
            if self.status == ACCEPTED:
                keys = self.chunked.keys
                valid = ~np.isin(keys.line, chunked.line_array(self.rejected_lines))
                skipped = int((keys.identical & valid).sum())
            return {"total": total, "valid": total - rejected, "rejected": rejected, "skipped_identical": skipped}
        rejected = len(self.rejected_lines) if self.frame is not None else (total if self.status == REJECTED else 0)
        skipped = total if self.status == DUPLICATE else 0  # the same bytes: every row already there
        if self.frame is not None and self.status == ACCEPTED:
            valid = ~self.frame[LINE].isin(self.rejected_lines)
            skipped = int((self.frame["_identical"] & valid).sum())
        return {"total": total, "valid": total - rejected, "rejected": rejected,
                "skipped_identical": skipped}


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def already_loaded(conn: Connection, sha256: str) -> str | None:
    """The batch that loaded these exact bytes before, if any (F06)."""
    with conn.cursor() as cur:
        cur.execute("SELECT batch_id FROM course_import.ledger WHERE sha256 = %s AND status = 'loaded'",
                    (sha256,))
        row = cur.fetchone()
    conn.rollback()
    return row[0] if row else None


def check_file(data: bytes | str | os.PathLike, target: Target, conn: Connection, *, load_valid_rows: bool = False,
               now: datetime | None = None, missing_learners: str = enrich.CREATE,
               assign_immediately: bool = True, skip_duplicate_check: bool = False,
               chunk_threshold: int | None = None, chunk_rows: int | None = None,
               spool: bool = False) -> CheckResult:
    """Every check of the import precautions on one file, reading (never writing) the LMS.

    `data`: the file's bytes, or the path of a local file (read as a stream). `missing_learners`
    (`create` or `hold`) and `assign_immediately` say what becomes of rows whose learner the LMS
    doesn't know, or does; `skip_duplicate_check` is for the assignment of held records, whose
    bytes are made by the pipeline itself.

    A file of more than `chunk_threshold` data rows (chunked.CHUNK_THRESHOLD) is checked in
    chunks of `chunk_rows` rows in bounded memory, with the same findings (see chunked.py);
    `spool` then keeps its rows to stage in a local file for load.stage_result.
    """
    now = now or datetime.now(UTC)
    source = chunked.Source(data)
    threshold = chunked.CHUNK_THRESHOLD if chunk_threshold is None else chunk_threshold
    if source.size() <= threshold * PRELOAD_BYTES_PER_ROW:
        # likely checked whole: GX is imported while the file is read. Not for a large file, whose
        # first pass (its keys) keeps its peak apart from GX's.
        validate.preload()
    if source.data is not None and (source.data.count(b"\n") or source.data.count(b"\r")) - 1 <= threshold:
        return _check_whole(source, target, conn, load_valid_rows=load_valid_rows, now=now,
                            missing_learners=missing_learners, assign_immediately=assign_immediately,
                            skip_duplicate_check=skip_duplicate_check)
    facts = chunked.scan(source)
    options = {"load_valid_rows": load_valid_rows, "now": now, "missing_learners": missing_learners,
               "assign_immediately": assign_immediately}
    if facts.rows <= threshold:
        return _check_whole(source, target, conn, skip_duplicate_check=skip_duplicate_check, **options)
    return _check_chunked(source, facts, target, conn, skip_duplicate_check=skip_duplicate_check,
                          chunk_rows=chunk_rows or chunked.CHUNK_ROWS, spool=spool, **options)


def _duplicate(result: CheckResult, conn: Connection, skip_duplicate_check: bool) -> bool:
    result.duplicate_of = None if skip_duplicate_check else already_loaded(conn, result.sha256)
    if not result.duplicate_of:
        return False
    log.info("%s: the same bytes were loaded by batch %s: skipped (F06)", result.target.path, result.duplicate_of)
    result.status = DUPLICATE
    result.issues.append(Issue(1, None, "F06", INFO,
                               f"line 1: the same bytes were already loaded by batch {result.duplicate_of} — "
                               "nothing to do; the file is archived (F06)"))
    return True


def _check_whole(source: chunked.Source, target: Target, conn: Connection, *, load_valid_rows: bool, now: datetime,
                 missing_learners: str, assign_immediately: bool, skip_duplicate_check: bool) -> CheckResult:
    """The file held in memory: its rows read, prepared and validated as one frame.

    Read from a path, its bytes and raw rows are let go once the rows are prepared: the prepared
    frame is what the suites, the reports and the load need."""
    data = source.read_bytes()
    result = CheckResult(target=target, sha256=sha256_of(data))
    if _duplicate(result, conn, skip_duplicate_check):
        result.rows_read = count_data_lines(data)  # rows.total counts the data lines, read or not
        return result

    started = time.perf_counter()
    read = read_course_records(data)
    del data
    resources.release_memory()  # what reading held, given back before the frame is built
    result.issues.extend(read.issues)
    result.rows_read = read.data_lines if read.rows is None else len(read.rows)
    if not read.ok:  # bytes, delimiter or quoting: nothing more can be read reliably
        result.status = REJECTED
        return result
    suites = validate.SUITES[target.importer]
    header = validate.header_frame(read.header)
    run = validate.run_suite(header, suites["header"], validate.HEADER_KEY, validate.parameters(now))
    run.issues = validate.issues_from(run, header, validate.HEADER_KEY)
    result.suite_runs.append(run)
    result.issues.extend(run.issues)
    if any(i.is_error for i in result.issues) or read.rows is None:
        result.status = REJECTED
        return result

    rows, read.rows = read.rows, None
    frame = enrich.prepare(rows, target.importer, target.course, conn, missing_learners=missing_learners,
                           assign_immediately=assign_immediately)
    del rows
    resources.release_memory()
    log.info("%s: %d rows read and joined with the LMS in %.2fs", target.path, len(frame),
             time.perf_counter() - started)
    run = validate.run_suite(frame, suites["rows"], LINE, validate.parameters(now))
    run.issues = validate.issues_from(run, frame, LINE)
    result.suite_runs.append(run)
    result.issues.extend(run.issues)
    result.frame = frame
    _decide(result, load_valid_rows)
    log.info("%s: %s — %d rows, %d issues, checked in %.2fs", target.path, result.status, len(frame),
             len(result.issues), time.perf_counter() - started)
    return result


def _decide(result: CheckResult, load_valid_rows: bool) -> None:
    """All or nothing by default; with load_valid_rows, whole enrollments stand or fall together."""
    frame = result.frame
    file_errors = [i for i in result.issues if i.is_error and i.rule.startswith("F")]
    error_lines = {i.line for i in result.issues if i.is_error}
    if file_errors or (error_lines and not load_valid_rows):
        result.status = REJECTED
        result.rejected_lines = set(frame[LINE]) if file_errors else error_lines
        return
    if error_lines:
        bad = frame[LINE].isin(error_lines)
        groups = frame.loc[bad, ["_learner_key", "_course_key"]].drop_duplicates()
        fallen = frame.merge(groups, on=["_learner_key", "_course_key"], how="inner")[LINE]
        result.rejected_lines = set(int(x) for x in fallen)
    if len(result.rejected_lines) == len(frame):
        result.status = REJECTED


def _check_chunked(source: chunked.Source, facts: chunked.Facts, target: Target, conn: Connection, *,
                   load_valid_rows: bool, now: datetime, missing_learners: str, assign_immediately: bool,
                   skip_duplicate_check: bool, chunk_rows: int, spool: bool) -> CheckResult:
    """A large file, never held whole: its keys in a first pass, the suite chunk by chunk in a second."""
    result = CheckResult(target=target, sha256=facts.sha256)
    if _duplicate(result, conn, skip_duplicate_check):
        result.rows_read = chunked.count_data_lines(source, facts)
        return result
    started = time.perf_counter()
    suites = validate.SUITES[target.importer]
    try:
        reader = chunked.ChunkReader(source, facts, chunk_rows)
        chunks = reader.chunks()
        first = next(chunks, None)
        if first is None:
            raise chunked.Irregular("no data rows")
        # One read-only snapshot of the LMS for every query of the check (pass 1 and pass 2).
        conn.rollback()
        with conn.cursor() as cur:
            cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        keys = chunked.Keys(conn, target.importer, target.course)
        rows = 0
        for chunk in itertools.chain([first], chunks):
            rows += len(chunk)
            keys.add(chunk)
        del first, chunk
        # the keys are finished before GX is loaded (for the header suite): the two peaks apart
        cross = keys.finish()
        del keys
    except Exception as why:  # noqa: BLE001 - Irregular, or keys a bad header cannot give: the whole-file check says
        conn.rollback()
        (log.info if isinstance(why, chunked.Irregular) else log.warning)("%s: read whole (%s: %s)", target.path,
                                                                           why.__class__.__name__, why)
        return _check_whole(source, target, conn, load_valid_rows=load_valid_rows, now=now,
                            missing_learners=missing_learners, assign_immediately=assign_immediately,
                            skip_duplicate_check=True)
    log.info("%s: %d rows keyed in %.2fs", target.path, len(cross), time.perf_counter() - started)
    header = validate.header_frame(reader.header)
    run = validate.run_suite(header, suites["header"], validate.HEADER_KEY, validate.parameters(now))
    run.issues = validate.issues_from(run, header, validate.HEADER_KEY)
    result.suite_runs.append(run)
    result.issues.extend(run.issues)
    result.rows_read = rows
    if any(i.is_error for i in run.issues):
        conn.rollback()
        result.status = REJECTED
        return result
    try:
        chunked.collect_needs(reader.chunks(), cross, target.importer, target.course)
        chunked.check_rows(result, reader, cross, conn, suites=suites, now=now, missing_learners=missing_learners,
                           assign_immediately=assign_immediately, spool=spool)
    finally:
        conn.rollback()
    _decide_chunked(result, load_valid_rows)
    errors = [i for i in result.issues if i.is_error]
    fallen = chunked.fallen_with_their_enrollment(result.chunked, result.rejected_lines, errors)
    chunked.fetch_row_texts(reader, result.chunked, {i.line for i in errors} | set(fallen))
    log.info("%s: %s — %d rows in chunks of %d, %d issues, checked in %.2fs", target.path, result.status,
             len(cross), chunk_rows, len(result.issues), time.perf_counter() - started)
    return result


def _decide_chunked(result: CheckResult, load_valid_rows: bool) -> None:
    """_decide on the chunked check's keys: the same decision, on integer arrays."""
    keys = result.chunked.keys
    file_errors = [i for i in result.issues if i.is_error and i.rule.startswith("F")]
    error_lines = {i.line for i in result.issues if i.is_error}
    if file_errors or (error_lines and not load_valid_rows):
        result.status = REJECTED
        result.rejected_lines = chunked.LineSet(keys.line if file_errors else sorted(error_lines))
        return
    if error_lines:
        bad = np.isin(keys.line, np.fromiter(error_lines, dtype=np.int64))
        fallen = np.isin(keys.enrollment, np.unique(keys.enrollment[bad]))
        result.rejected_lines = chunked.LineSet(keys.line[fallen])
    if len(result.rejected_lines) == len(keys):
        result.status = REJECTED
