"""Revert one loaded batch: delete what it created, where nothing outside the batch uses it.

Every row a load writes carries its batch (`import_batch`), so a batch can be undone as a whole:
its credit records, its enrollments, the learners and the course shells it created, and the
records it holds for learners without an account that are still waiting. Whatever
something else still uses stays, and the revert says what and why (a learner the batch created
whom a later batch enrolled; a shell made into a real course). Learners, courses and records
that the batch did not create are never touched.

The statements in `sql/revert/` run in order, in one transaction that holds the loaders'
advisory lock, so a revert and a load never interleave and a revert either happens whole or
not at all. Each statement deletes one kind of row and returns every row of that kind the
batch created, with why it stays (NULL when it went); the kind is the file's name without its
number. A dry run runs the very same statements and rolls them back, so what it lists is
exactly what the revert would do at that moment.

The ledger row of the batch records the revert and its status becomes `reverted`; the same
bytes may then be loaded again (the duplicate-file check and the unique index on loaded
sha256 consider only `loaded` batches).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import psycopg2.errors

from include.course_records import lock, settings
from include.course_records.db import Connection
from include.course_records.errors import UsageError

log = logging.getLogger(__name__)

STEPS_DIR = settings.SQL_DIR / "revert"
LOADED, REVERTED = "loaded", "reverted"
# How a kind reads in messages: (one, many). A kind not named here reads as its file name.
NOUNS = {
    "held_records": ("held record", "held records"),
    "credit_records": ("credit record", "credit records"),
    "enrollments": ("enrollment", "enrollments"),
    "learners": ("learner", "learners"),
    "courses": ("course shell", "course shells"),
}


class RevertRefused(Exception):
    """The batch cannot be reverted now; the message says why and what to do. Nothing changed."""


@dataclass(frozen=True)
class Item:
    """One row the batch created: deleted, or kept with the reason."""

    kind: str
    id: int
    label: str
    kept_because: str | None = None

    @property
    def deleted(self) -> bool:
        return self.kept_because is None


@dataclass
class Revert:
    """What a revert did (or, for a dry run, would do) to one batch."""

    batch: str
    file_path: str
    importer: str
    course: str | None
    imported_at: datetime
    actor: str
    reason: str
    dry_run: bool
    kinds: list[str] = field(default_factory=list)
    items: list[Item] = field(default_factory=list)
    locked_by: dict[str, Any] | None = None  # a dry run may look while the importer is locked

    def counts(self, *, deleted: bool) -> dict[str, int]:
        return {kind: sum(1 for i in self.items if i.kind == kind and i.deleted == deleted) for kind in self.kinds}

    @property
    def kept(self) -> list[Item]:
        return [i for i in self.items if not i.deleted]

    def as_dict(self) -> dict[str, Any]:
        """Small and JSON-safe (for XCom): counts and what stayed, not every deleted row."""
        return {"batch": self.batch, "file": self.file_path, "dry_run": self.dry_run, "actor": self.actor,
                "reason": self.reason, "deleted": self.counts(deleted=True), "kept": self.counts(deleted=False),
                "kept_items": [_item_json(i) for i in self.kept]}


def _noun(kind: str, count: int = 1) -> str:
    return NOUNS.get(kind, (kind, kind))[count != 1]


def _item_json(item: Item) -> dict[str, Any]:
    return {"kind": item.kind, "id": item.id, "label": item.label, "kept_because": item.kept_because}


def steps() -> list[tuple[str, str]]:
    """(kind, SQL) of each revert statement, in the order they run: children before parents."""
    return [(path.stem.split("_", 1)[1], path.read_text()) for path in sorted(STEPS_DIR.glob("*.sql"))]


def revert_batch(conn: Connection, batch: str, *, actor: str, reason: str, dry_run: bool = False,
                 lock_holder: Callable[[], dict[str, Any] | None]) -> Revert:
    """Revert `batch` in one transaction, or with `dry_run` say what that would do and change nothing.

    `lock_holder()` is asked for the import lock once the advisory lock is held; a set lock
    refuses the revert (a dry run only notes it). Raises RevertRefused when the batch is not
    `loaded` or the importer is locked, UsageError when the reason is blank.
    """
    reason = (reason or "").strip()
    if not reason:
        raise UsageError("a reason is required to revert a batch (it is recorded in the ledger)")
    started = time.perf_counter()
    try:
        with conn.cursor() as cur:
            _take_load_lock(cur, batch)
            holder = lock_holder()
            if holder and not dry_run:
                raise RevertRefused(f"{lock.describe(holder)} — nothing was reverted; unlock the importer "
                                    f"(DAG {settings.UNLOCK_DAG_ID}) once its cause is fixed, then revert")
            result = _loaded_batch(cur, batch, actor=actor, reason=reason, dry_run=dry_run)
            result.locked_by = holder
            for kind, statement in steps():
                result.kinds.append(kind)
                try:
                    cur.execute(statement, {"batch": batch})
                except psycopg2.errors.ForeignKeyViolation as exc:  # a table this revert does not know
                    raise RevertRefused(
                        f"batch {batch}: {_noun(kind, 2)} cannot go, something else in the LMS "
                        f"refers to them ({exc.diag.message_detail or exc.diag.message_primary}); nothing was reverted"
                    ) from None
                result.items.extend(Item(kind, *row) for row in cur.fetchall())
            if not dry_run:
                _record(cur, result)
        if dry_run:
            conn.rollback()
        else:
            conn.commit()
    except BaseException:
        conn.rollback()
        raise
    log.info("%s%s: deleted %s, kept %s (%.2fs)", "dry run: " if dry_run else "", batch,
             result.counts(deleted=True), result.counts(deleted=False), time.perf_counter() - started)
    return result


def _take_load_lock(cur: Any, batch: str) -> None:
    """The loaders' advisory lock for this transaction: wait (and say so) while a load runs."""
    cur.execute("SELECT pg_try_advisory_xact_lock(%s)", (settings.LOAD_ADVISORY_LOCK_KEY,))
    if not cur.fetchone()[0]:
        log.warning("a load is running; the revert of %s waits for it to finish", batch)
        cur.execute("SELECT pg_advisory_xact_lock(%s)", (settings.LOAD_ADVISORY_LOCK_KEY,))


def _loaded_batch(cur: Any, batch: str, *, actor: str, reason: str, dry_run: bool) -> Revert:
    cur.execute("SELECT status, file_path, importer, course, started_at, reverted_at, reverted_by, revert_reason"
                " FROM course_import.ledger WHERE batch_id = %s FOR UPDATE", (batch,))
    row = cur.fetchone()
    if row is None:
        raise RevertRefused(f"there is no batch {batch!r} in the ledger (course_import.ledger): "
                            "check the batch id (it names the run's report folder, reports/<batch>/, and begins the archived file's name)")
    status, file_path, importer, course, imported_at, reverted_at, reverted_by, revert_reason = row
    if status == REVERTED:
        raise RevertRefused(f"batch {batch} ({file_path}) was already reverted at {reverted_at:%Y-%m-%d %H:%M} UTC "
                            f"by {reverted_by}: {revert_reason}")
    if status != LOADED:
        raise RevertRefused(f"batch {batch} ({file_path}) is {status}, not loaded: it put nothing in the LMS, "
                            "so there is nothing to revert")
    return Revert(batch=batch, file_path=file_path, importer=importer, course=course, imported_at=imported_at,
                  actor=actor, reason=reason, dry_run=dry_run)


def _record(cur: Any, result: Revert) -> None:
    """The ledger keeps who, when, why and the counts; status `reverted` frees the bytes to load again."""
    counts = {"deleted": result.counts(deleted=True), "kept": result.counts(deleted=False)}
    cur.execute(
        "UPDATE course_import.ledger SET status = %s, reverted_at = now(), reverted_by = %s, revert_reason = %s,"
        " revert_counts = %s, revert_kept = %s WHERE batch_id = %s",
        (REVERTED, result.actor, result.reason, json.dumps(counts),
         json.dumps([_item_json(i) for i in result.kept]), result.batch))


def _amounts(counts: dict[str, int]) -> str:
    """'4 credit records, 3 enrollments and 2 learners': the kinds with any, in step order."""
    parts = [f"{n} {_noun(kind, n)}" for kind, n in counts.items() if n]
    return ", ".join(parts[:-1]) + f" and {parts[-1]}" if len(parts) > 1 else "".join(parts) or "nothing"


def describe(result: Revert) -> list[str]:
    """What a person reads (the command line's output, the DAG's log), one line each.

    A revert lists what stayed and why; a dry run lists every row that would go or stay.
    """
    what = f"batch {result.batch} ({result.file_path}, {result.importer} importer" \
           f"{f' into {result.course}' if result.course else ''}, imported {result.imported_at:%Y-%m-%d %H:%M} UTC)"
    kept = result.counts(deleted=False)
    stays = f"{_amounts(kept)}, still used outside the batch:" if any(kept.values()) else None
    if result.dry_run:
        lines = [f"dry run — nothing was changed. Reverting {what} would delete {_amounts(result.counts(deleted=True))}"
                 + (f"; it would keep {stays}" if stays else "; nothing would stay.")]
        shown = result.items
    else:
        lines = [f"reverted {what}: deleted {_amounts(result.counts(deleted=True))}"
                 + (f"; kept {stays}" if stays else "; nothing stayed.")]
        shown = result.kept
    for item in shown:
        action = ("delete" if item.deleted else "keep  ") if result.dry_run else "kept"
        lines.append(f"  {action} {_noun(item.kind)} {item.label}"
                     + (f" — {item.kept_because}" if item.kept_because else ""))
    if result.dry_run and result.locked_by:
        lines.append(f"note: {lock.describe(result.locked_by)} — the revert itself is refused until it is unlocked")
    if not result.dry_run:
        lines.append(f"recorded in the ledger: reverted by {result.actor}: {result.reason}")
        lines.append("the batch's file may be loaded again: drop the corrected file (or the same one) into landing")
    return lines
