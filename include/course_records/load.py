"""Load a validated batch: stage its rows with one COPY, then INSERT … SELECT in one transaction.

Validation stages the rows (`stage_rows`); the load task only runs the statements in
`sql/load/` inside a single transaction that holds the loaders' advisory lock, re-checks the
import lock, and marks the ledger row loaded. Either all of a batch is in the LMS or none of it.
"""

from __future__ import annotations

import logging
import re
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass

import numpy as np
import pandas as pd
import psycopg2.errors
from psycopg2 import sql

from include.course_records import settings
from include.course_records.db import Connection, transaction
from include.course_records.errors import CheckGap, ImportLocked, StaleValidation
from include.course_records.reader import LINE

log = logging.getLogger(__name__)

LOAD_DIR = settings.SQL_DIR / "load"
STAGE_COLUMNS = (
    "line", "learner_key", "learner_id", "new_user_id", "new_email", "new_email_key", "external_user_id",
    "email", "first_name", "last_name", "course_key", "course_id", "title", "enrollment_start",
    "enrollment_end", "complete", "date_completed", "attended", "participant_category", "credit_type_id",
    "credits", "credit_expiration", "held", "first_of_enrollment",
)


@dataclass(frozen=True)
class Created:
    learners: int = 0
    courses: int = 0
    enrollments: int = 0
    credit_records: int = 0
    held_records: int = 0

    def as_dict(self) -> dict[str, int]:
        return {"learners": self.learners, "courses": self.courses, "enrollments": self.enrollments,
                "credit_records": self.credit_records, "held_records": self.held_records}


def _stage_name(batch: str) -> str:
    return "stage_" + re.sub(r"[^a-z0-9]", "_", batch.lower())


def stage_table(batch: str) -> sql.Identifier:
    return sql.Identifier("course_import", _stage_name(batch))


def _resolved_view(batch: str) -> sql.Identifier:
    return sql.Identifier(f"{_stage_name(batch)}_resolved")  # a temporary view: no schema


def _flag(values: pd.Series) -> pd.Series:
    return values.map({"1": True, "0": False}).astype("boolean")


def _utc_wall_time(stamps: pd.Series) -> pd.Series:
    """UTC timestamps without their zone: pyarrow writes these to CSV 12× faster than zoned ones,
    and the COPY reads them as UTC (its transaction sets the time zone)."""
    return stamps.dt.tz_convert("UTC").dt.tz_localize(None) if stamps.dt.tz is not None else stamps


def stage_frame(rows: pd.DataFrame, first_of_enrollment=None) -> pd.DataFrame:
    """The prepared rows as the staging table's columns, typed. `first_of_enrollment`: given by a
    chunked check, which knows the rows of the enrollment staged by earlier chunks."""
    if first_of_enrollment is None:
        first_of_enrollment = ~rows.duplicated(["_learner_key", "_course_key"])
    return pd.DataFrame({
        "line": rows[LINE],
        "learner_key": rows["_learner_key"],
        "learner_id": rows["_learner_id"],
        "new_user_id": rows["_new_user_id"],
        "new_email": rows["_new_email"],
        "new_email_key": rows["_new_email"].str.lower(),
        "external_user_id": rows["external_user_id"],
        "email": rows["external_email"],
        "first_name": rows["first_name"],
        "last_name": rows["last_name"],
        "course_key": rows["_course_key"],
        "course_id": rows["_course_id"],
        "title": rows["title"],
        "enrollment_start": _utc_wall_time(rows["_enrollment_start"]),
        "enrollment_end": _utc_wall_time(rows["_enrollment_end"]),
        "complete": rows["complete"].eq("1").fillna(False).astype(bool),
        "date_completed": _utc_wall_time(rows["_date_completed"]),
        "attended": _flag(rows["attended"]),
        "participant_category": rows["participant_category"],
        "credit_type_id": rows["_credit_type_id"],
        "credits": rows["credits"],
        "credit_expiration": _utc_wall_time(rows["_credit_expiration"]),
        "held": rows["_held"].astype(bool),
        "first_of_enrollment": np.asarray(first_of_enrollment, dtype=bool),
    }, columns=list(STAGE_COLUMNS))


def stage_csv(rows: pd.DataFrame, out, first_of_enrollment=None) -> int:
    """Append the rows as the staging table's CSV (what COPY reads) to a binary stream; the count."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    frame = stage_frame(rows, first_of_enrollment)
    pacsv.write_csv(pa.Table.from_pandas(frame, preserve_index=False), out,
                    pacsv.WriteOptions(include_header=False))
    return len(frame)


def _copy_into_stage(conn: Connection, batch: str, stream, drop_lines=None) -> int:
    table = stage_table(batch)
    with transaction(conn) as cur:
        cur.execute(sql.SQL("DROP TABLE IF EXISTS {stage}").format(stage=table))
        cur.execute(sql.SQL((settings.SQL_DIR / "stage.sql").read_text()).format(stage=table))
        cur.execute("SET LOCAL TIME ZONE 'UTC'")  # the staged timestamps are UTC, written without a zone
        cur.copy_expert(sql.SQL("COPY {stage} ({cols}) FROM STDIN WITH (FORMAT csv)").format(
            stage=table, cols=sql.SQL(", ").join(map(sql.Identifier, STAGE_COLUMNS))).as_string(cur),
            stream, size=1 << 20)
        staged = cur.rowcount
        lines = list(drop_lines or ())
        for start in range(0, len(lines), 100_000):
            cur.execute(sql.SQL("DELETE FROM {stage} WHERE line = ANY(%s)").format(stage=table),
                        (lines[start:start + 100_000],))
            staged -= cur.rowcount
        cur.execute(sql.SQL("ANALYZE {stage}").format(stage=table))  # good join plans in the load
    return staged


STAGE_SLICE = 100_000  # rows made CSV at a time: the staging copies of a large frame stay small


def stage_rows(conn: Connection, batch: str, rows: pd.DataFrame) -> int:
    """Write the rows to load into the batch's staging table with one COPY; returns the count.

    The CSV is made a slice of rows at a time into a temporary file (in memory while small), so
    staging a million rows adds tens of MiB to the check's frame, not three more copies of it."""
    first_of_enrollment = ~rows.duplicated(["_learner_key", "_course_key"]).to_numpy()
    count = 0
    with tempfile.SpooledTemporaryFile(max_size=16 << 20) as spool:
        for start in range(0, len(rows), STAGE_SLICE):
            count += stage_csv(rows.iloc[start:start + STAGE_SLICE], spool,
                               first_of_enrollment[start:start + STAGE_SLICE])
        spool.seek(0)
        _copy_into_stage(conn, batch, spool)
    return count


def stage_result(conn: Connection, batch: str, result) -> int:
    """Stage what a check accepted (check.CheckResult); returns the rows staged.

    A file checked in chunks spooled its rows (all but those identical to the LMS) as it went:
    the spool is copied in one COPY and the lines the decision rejected are deleted."""
    if result.chunked is None:
        return stage_rows(conn, batch, result.loadable)
    if result.chunked.spool is None:
        raise RuntimeError("the chunked check kept no spool of its rows: check_file(..., spool=True)")
    try:
        with open(result.chunked.spool, "rb") as stream:
            return _copy_into_stage(conn, batch, stream, drop_lines=result.rejected_lines)
    finally:
        result.chunked.discard()


def drop_stage(conn: Connection, batch: str) -> None:
    with transaction(conn) as cur:
        cur.execute(sql.SQL("DROP TABLE IF EXISTS {stage}").format(stage=stage_table(batch)))


@contextmanager
def advisory_lock(conn: Connection) -> Iterator[None]:
    """Hold the loaders' advisory lock for the session (across transactions) while the block runs.

    A load (`load_batch`) on the same connection takes it again at once; loads, reverts and
    assignments on other connections wait. If the connection dies, PostgreSQL releases it.
    """
    with transaction(conn) as cur:
        cur.execute("SELECT pg_advisory_lock(%s)", (settings.LOAD_ADVISORY_LOCK_KEY,))
    try:
        yield
    finally:
        with suppress(psycopg2.Error), transaction(conn) as cur:
            cur.execute("SELECT pg_advisory_unlock(%s)", (settings.LOAD_ADVISORY_LOCK_KEY,))


def load_batch(conn: Connection, batch: str, importer: str, *,
               lock_holder: Callable[[], dict | None],
               after_load: Callable[[object, Created], None]) -> Created:
    """Insert the staged batch into the LMS in one transaction.

    `lock_holder()` is asked for the import lock once the advisory lock is held; if it names a
    lock, nothing is loaded (ImportLocked). `after_load(cursor, created)` runs in the same
    transaction (the ledger marks the batch loaded there, so the same bytes load only once).
    """
    params = {"batch": batch, "source": settings.SOURCE_BY_IMPORTER[importer], "importer": importer}
    stage, resolved = stage_table(batch), _resolved_view(batch)
    started = time.perf_counter()
    with transaction(conn) as cur:
        cur.execute("SELECT pg_advisory_xact_lock(%s)", (settings.LOAD_ADVISORY_LOCK_KEY,))
        holder = lock_holder()
        if holder:
            raise ImportLocked(holder)
        counts = {}
        for path in sorted(LOAD_DIR.glob("*.sql")):
            step = time.perf_counter()
            try:
                cur.execute(sql.SQL(path.read_text()).format(stage=stage, resolved=resolved), params)
            except psycopg2.errors.UniqueViolation as exc:
                raise StaleValidation(
                    f"{path.stem}: the LMS already holds {exc.diag.message_detail or 'a record this file adds'}; "
                    "it changed since validation and nothing was loaded — run the file again") from exc
            except psycopg2.errors.ForeignKeyViolation as exc:  # a learner or course went since validation
                raise StaleValidation(
                    f"{path.stem}: the LMS no longer holds {exc.diag.message_detail or 'a row this file refers to'} "
                    "(reverted or deleted since validation); nothing was loaded — run the file again") from exc
            except (psycopg2.IntegrityError, psycopg2.DataError) as exc:
                # Not-null, check, foreign-key, range or encoding errors on rows that passed validation: the
                # checks should have caught them. Say so, rather than blame the file or the database.
                first = (exc.pgerror or str(exc)).strip().splitlines()[0]
                raise CheckGap(
                    f"{path.stem}: the database refused a row that passed every check ({first}) — this is a bug "
                    "in the pipeline's checks, not in the file; nothing was loaded. Report it with the file "
                    "and this message") from exc
            counts[path.stem] = cur.rowcount
            log.info("%s: %s → %d rows (%.2fs)", batch, path.stem, cur.rowcount, time.perf_counter() - step)
        cur.execute(sql.SQL("SELECT count(*), count(*) FILTER (WHERE first_of_enrollment AND NOT held),"
                            " count(credit_type_id) FILTER (WHERE NOT held) FROM {stage}").format(stage=stage))
        staged, enrollments_expected, credits_expected = cur.fetchone()
        created = Created(learners=counts["20_learners"], courses=counts["10_course_shells"],
                          enrollments=counts["40_enrollments"], credit_records=counts["50_credit_records"],
                          held_records=counts["05_held_records"])
        if (created.enrollments, created.credit_records) != (enrollments_expected, credits_expected):
            raise StaleValidation(
                f"expected {enrollments_expected} enrollments and {credits_expected} credit records, "
                f"but the LMS took {created.enrollments} and {created.credit_records}: it changed since "
                "validation; nothing was loaded — run the file again")
        try:
            after_load(cur, created)
        except psycopg2.errors.UniqueViolation as exc:  # the ledger's one loaded batch per sha256
            raise StaleValidation("the same bytes were loaded by another batch since validation; "
                                  "nothing was loaded") from exc
        cur.execute(sql.SQL("DROP VIEW {resolved}; DROP TABLE {stage}").format(resolved=resolved, stage=stage))
    log.info("%s: loaded %d staged rows in %.2fs: %s", batch, staged, time.perf_counter() - started,
             created.as_dict())
    return created
