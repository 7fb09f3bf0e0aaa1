"""Turn the rows read from a file into the frame the Great Expectations suites check.

This module types and joins; it decides nothing. It trims values, parses dates and numbers,
and joins, set-based and read-only (one query per LMS table, never one per row), what the LMS
already holds: the learner a row names, the course, the credit types the course offers, the
enrollment and credit records already there. Whether any of that is acceptable is for the
suites in `expectations/` to say.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from include.course_records.db import Connection
from include.course_records.reader import LINE
from include.course_records.record_format import ALIASES, COLUMNS, DATE_COLUMNS
from include.course_records.resources import release_memory

log = logging.getLogger(__name__)

SEPARATOR = "\x1f"  # joins a row's raw values into ROW_TEXT; R01 looks for it alone
ROW_TEXT = "_row_text"
RAW_COLUMNS = "raw_columns"  # frame.attrs key: the file's columns, in ROW_TEXT's order


@dataclass
class LmsSnapshot:
    """What the LMS holds for the learners and courses a file names."""

    credit_types: pd.DataFrame  # id, machine_name
    courses: pd.DataFrame  # id, external_course_id, is_imported_shell, has_required
    offers: pd.DataFrame  # course_id, machine_name, max_credits, is_variable
    learners_by_email: pd.DataFrame  # id, email_key, external_user_id
    learners_by_user_id: pd.DataFrame  # id, external_user_id, email_key
    enrollments: pd.DataFrame  # id, learner_id, course_id, + enrollment columns
    credit_records: pd.DataFrame  # enrollment_id, machine_name, credits, credit_expiration


def canonical_columns(rows: pd.DataFrame) -> pd.DataFrame:
    """Rename aliases and add the contract's optional columns a file left out, as blanks."""
    rows = rows.rename(columns=ALIASES)
    for column in COLUMNS:
        if column not in rows:
            rows[column] = pd.Series(pd.NA, index=rows.index, dtype="str")
    return rows


def trim(rows: pd.DataFrame, present: list[str], names: list[str]) -> pd.DataFrame:
    """Keep the raw values joined in ROW_TEXT (R01, W05), then trim spaces; blank → missing.

    `present` are the columns the file has (canonical names), `names` the same as the file
    writes them (kept for reports).
    """
    # pyarrow's kernels: four times faster than the pandas string methods on a million rows.
    values = [pa.array(rows[column]) for column in present]
    separator = pa.scalar(SEPARATOR, values[0].type if values else pa.large_string())
    raw = []
    for value in values:
        filled = pc.fill_null(value, "")
        if pc.any(pc.match_substring(filled, SEPARATOR)).as_py():
            # A separator inside a value would shift the columns; as U+001E it still fails R01.
            filled = pc.replace_substring(filled, SEPARATOR, "\x1e")
        raw.append(filled)
    rows[ROW_TEXT] = pc.binary_join_element_wise(*raw, separator).to_pandas() if raw else ""
    rows.attrs[RAW_COLUMNS] = list(names)
    for column, value in zip(present, values, strict=True):
        rows[column] = trimmed(value)
    return rows


def trimmed(value) -> pd.Series:
    """A column's values with spaces at the edges trimmed; blank → missing (a pyarrow array in)."""

    value = pc.utf8_trim(value, " ")
    return pc.if_else(pc.equal(value, ""), pa.scalar(None, value.type), value).to_pandas()


def _fetch(conn: Connection, sql: str, params: tuple, columns: list[str]) -> pd.DataFrame:
    with conn.cursor() as cur:
        cur.execute(sql, params)
        return pd.DataFrame(cur.fetchall(), columns=columns)


def _lookup_keys(values: pd.Series) -> pa.Array:
    """The distinct values worth asking the LMS about. PostgreSQL text never holds a NUL, so a
    value with one matches nothing there (and R01 rejects its row); it cannot even be sent as a
    query parameter."""
    keys = pc.unique(_arrow(values).drop_null())
    return keys.filter(pc.invert(pc.match_substring(keys, "\x00")))


def text_array(keys: pa.Array | pa.ChunkedArray | list[str]) -> str:
    """Keys as one PostgreSQL text[] literal, sent as a single parameter (`= ANY(%s::text[])`):
    made by pyarrow, a third of the time of psycopg2 adapting a list of 300,000 strings, and
    without a Python string per key."""
    keys = pa.array(keys, type=pa.large_string()) if isinstance(keys, list) else keys
    if len(keys) == 0:
        return "{}"
    quoted = pc.replace_substring(pc.replace_substring(keys, "\\", "\\\\"), '"', '\\"')
    if isinstance(quoted, pa.ChunkedArray):
        quoted = quoted.combine_chunks()
    listed = pa.ListArray.from_arrays(pa.array([0, len(quoted)], pa.int32()), quoted)  # one list: no copy
    return '{"' + pc.binary_join(listed, pa.scalar('","', quoted.type))[0].as_py() + '"}'


def fetch_snapshot(conn: Connection, rows: pd.DataFrame, *, learner_ids: list[int] | None = None,
                   learners: tuple[pd.DataFrame, pd.DataFrame] | None = None,
                   own_transaction: bool = True) -> LmsSnapshot:
    """Read, in one read-only transaction, what the LMS holds for the rows' learners and courses.

    `learner_ids`: learners the rows name through other rows of the file (the chunked check
    resolved them), whose enrollments are wanted too; `learners`: the learners by email and by
    user id, already read (by the chunked check's first pass). `own_transaction=False`: the
    caller holds the (read-only) transaction, across the chunks of one file.
    """
    emails = _lookup_keys(rows["_email_key"])
    user_ids = _lookup_keys(rows["external_user_id"])
    course_keys = _lookup_keys(rows["_course_key"])
    if own_transaction:
        conn.rollback()
        with conn.cursor() as cur:
            cur.execute("SET TRANSACTION READ ONLY")
    try:
        credit_types = _fetch(conn, "SELECT id, machine_name FROM lms.credit_type", (),
                              ["id", "machine_name"])
        courses = _fetch(
            conn,
            "SELECT c.id, c.external_course_id, c.is_imported_shell,"
            " EXISTS (SELECT 1 FROM lms.course_object o WHERE o.course_id = c.id AND o.required)"
            " FROM lms.course c WHERE c.external_course_id = ANY(%s::text[])",
            (text_array(course_keys),), ["id", "external_course_id", "is_imported_shell", "has_required"],
        )
        course_ids = courses["id"].tolist()
        offers = _fetch(
            conn,
            "SELECT o.course_id, t.machine_name, o.max_credits::float8, o.is_variable"
            " FROM lms.course_credit_type o JOIN lms.credit_type t ON t.id = o.credit_type_id"
            " WHERE o.course_id = ANY(%s)",
            (course_ids,), ["course_id", "machine_name", "max_credits", "is_variable"],
        )
        if learners is not None:
            by_email, by_user_id = learners
        else:
            by_email = _fetch(conn, "SELECT id, lower(email), external_user_id FROM lms.learner"
                                    " WHERE lower(email) = ANY(%s::text[])",
                              (text_array(emails),), ["id", "email_key", "external_user_id"])
            by_user_id = _fetch(conn, "SELECT id, external_user_id, lower(email) FROM lms.learner"
                                      " WHERE external_user_id = ANY(%s::text[])",
                                (text_array(user_ids),), ["id", "external_user_id", "email_key"])
        learner_ids = sorted(set(by_email["id"]) | set(by_user_id["id"]) | set(learner_ids or ()))
        enrollments = _fetch(
            conn,
            "SELECT id, learner_id, course_id, enrollment_start, enrollment_end, complete,"
            " date_completed, attended, participant_category FROM lms.enrollment"
            " WHERE learner_id = ANY(%s) AND course_id = ANY(%s)",
            (learner_ids, course_ids),
            ["id", "learner_id", "course_id", "enrollment_start", "enrollment_end", "complete",
             "date_completed", "attended", "participant_category"],
        )
        credit_records = _fetch(
            conn,
            "SELECT r.enrollment_id, t.machine_name, r.credits::float8, r.credit_expiration"
            " FROM lms.credit_record r JOIN lms.credit_type t ON t.id = r.credit_type_id"
            " WHERE r.enrollment_id = ANY(%s)",
            (enrollments["id"].tolist(),),
            ["enrollment_id", "machine_name", "credits", "credit_expiration"],
        )
    finally:
        if own_transaction:
            conn.rollback()
    return LmsSnapshot(credit_types, courses, offers, by_email, by_user_id, enrollments,
                       credit_records)


def _as_utc(values: pd.Series) -> pd.Series:
    return pd.to_datetime(values, format="ISO8601", utc=True, errors="coerce")


def _ns(values: pd.Series) -> np.ndarray:
    """Timestamps as int64 nanoseconds, missing as -1, for signatures."""
    stamps = pd.to_datetime(values, utc=True)
    out = stamps.dt.tz_convert(None).to_numpy(dtype="datetime64[ns]").astype(np.int64)
    out[stamps.isna().to_numpy()] = -1
    return out


def _flag(values: pd.Series) -> np.ndarray:
    """A 0/1 column (text or boolean) as int8 with missing = -1."""
    text = pd.Series(values).astype("str").str.lower()
    return np.select([text.isin(["1", "true"]).to_numpy(dtype=bool), text.isin(["0", "false"]).to_numpy(dtype=bool)],
                     [1, 0], -1).astype(np.int8)


def enrollment_signature(start, end, complete, completed, attended, category) -> pd.Series:
    """One number per row naming its enrollment columns, the same for file rows and the LMS."""
    complete_flag = _flag(complete)
    complete_flag[complete_flag == -1] = 0  # blank complete means 0
    frame = pd.DataFrame({
        "start": _ns(start), "end": _ns(end), "complete": complete_flag,
        "completed": _ns(completed), "attended": _flag(attended),
        "category": pd.Series(category).astype("str").fillna("").to_numpy(),
    })
    return pd.Series(pd.util.hash_pandas_object(frame, index=False).to_numpy(), dtype="uint64")


def credit_signature(credits: pd.Series, expiration: pd.Series) -> pd.Series:
    cents = np.round(pd.to_numeric(credits, errors="coerce").to_numpy(dtype=float) * 100)
    frame = pd.DataFrame({"cents": np.nan_to_num(cents, nan=-1).astype(np.int64),
                          "expiration": _ns(expiration)})
    return pd.Series(pd.util.hash_pandas_object(frame, index=False).to_numpy(), dtype="uint64")


CREATE, HOLD = "create", "hold"  # what becomes of rows whose learner is not in the LMS


@dataclass
class CrossRows:
    """For the rows of one chunk of a large file: the columns that depend on the file's other rows,
    computed over the whole file by the chunked check (`include/course_records/chunked.py`).
    Each is positional, one value per row of the chunk; `prepare` takes them instead of computing
    them from the chunk alone, and computes everything else exactly as for a whole file."""

    first_row_of_course: np.ndarray  # bool
    learner_id: pd.api.extensions.ExtensionArray  # Int64: the LMS learner, by the row's keys or the file's pairings
    user_id_of_email: pd.Series  # str: for a row without a user id, the first one the file pairs with its email
    email_of_user_id: pd.Series  # str: for a row without an email, the first email key paired with its user id
    emails_of_user_id: np.ndarray  # distinct emails the file gives with the row's user id
    user_ids_of_email: np.ndarray  # distinct user ids the file gives with the row's email
    enrollment_variants: np.ndarray  # int64: distinct enrollment signatures of the row's learner and course
    r09_other_line: pd.api.extensions.ExtensionArray  # Int64
    r10_columns: pd.Series  # str
    learners: Any = None  # callable: the rows' user ids and email keys → (by_email, by_user_id) frames


def prepare(rows: pd.DataFrame, importer: str, target_course: str | None, conn: Connection, *,
            missing_learners: str = CREATE, assign_immediately: bool = True,
            cross: CrossRows | None = None, own_transaction: bool = True) -> pd.DataFrame:
    """The frame the row suites validate: the file's values, typed, with the LMS joined on.

    `missing_learners`: `create` makes a learner from a row whose learner the LMS doesn't know;
    `hold` keeps such rows in the holding table until the learner exists. With
    `assign_immediately` off, rows of learners the LMS knows are held too.
    `cross`: the rows are one chunk of a large file, and these are its cross-row columns.
    """
    names = [c for c in rows.columns if c != LINE]
    rows = rows.reset_index(drop=True)  # trim() assigns positional arrays
    rows = trim(canonical_columns(rows), [ALIASES.get(c, c) for c in names], names)
    release_memory()  # the steps' temporaries, given back as they go: the frame's peak stays its size

    rows["_email_key"] = rows["external_email"].str.lower()
    if importer == "course":
        rows["_target_course"] = pd.Series(target_course, index=rows.index, dtype="str")
        rows["_course_key"] = rows["_target_course"]
    else:
        rows["_target_course"] = pd.Series(pd.NA, index=rows.index, dtype="str")
        rows["_course_key"] = rows["external_course_id"]
    rows["_first_row_of_course"] = ~rows["_course_key"].duplicated() if cross is None else cross.first_row_of_course
    for column in DATE_COLUMNS:
        rows[f"_{column}"] = _as_utc(rows[column])
    for column in ("enrollment_start", "enrollment_end", "date_completed"):
        rows[f"_{column}_day"] = rows[f"_{column}"].dt.floor("D")
    rows["_credits"] = pd.to_numeric(rows["credits"], errors="coerce").astype("float64")

    extra = learners = None
    if cross is not None:
        extra = sorted({int(i) for i in cross.learner_id[pd.notna(cross.learner_id)]})
        learners = cross.learners(rows["external_user_id"], rows["_email_key"]) if cross.learners else None
    lms = fetch_snapshot(conn, rows, learner_ids=extra, learners=learners, own_transaction=own_transaction)
    _join_courses(rows, lms)
    _join_learners(rows, lms, cross)
    release_memory()
    unknown = rows["_learner_id"].isna().to_numpy()
    rows["_creates_learner"] = unknown & (missing_learners == CREATE)
    rows["_held"] = (unknown & (missing_learners == HOLD)) | (~unknown & (not assign_immediately))
    _join_credit_offers(rows, lms)
    _join_existing_records(rows, lms, cross)
    _describe_duplicates(rows, cross)
    return rows


def _positions(index: pd.Index, keys: pd.Series | list[pd.Series]) -> np.ndarray:
    """For every key, its row in a table indexed (uniquely) by `index`, or -1 where there is none.

    One hash look-up per key (pyarrow's `index_in`, against a hash table of the index); several
    key columns are first made one integer key. A missing key matches nothing.
    """
    if isinstance(keys, list):
        keys, index = _combined_keys(keys, index)
    if len(index) == 0 or len(keys) == 0:
        return np.full(len(keys), -1, dtype=np.int64)
    found = _index_in(keys, index)
    if found is not None:
        return found
    codes, uniques = pd.factorize(keys)  # keys pyarrow cannot compare with the index (other types)
    found = index.get_indexer(uniques)
    return np.where(codes >= 0, found[codes], -1)


def _index_in(keys: pd.Series | np.ndarray, index: pd.Index) -> np.ndarray | None:
    """`_positions` for one key column, in pyarrow; None if the key and index types differ."""
    try:
        wanted, values = _arrow(keys), _arrow(index)
        if isinstance(values, pa.ChunkedArray):
            values = values.combine_chunks()
        if values.type != wanted.type:
            values = values.cast(wanted.type)
        found = pc.index_in(wanted, value_set=values, skip_nulls=True)
    except (pa.ArrowException, TypeError, ValueError):
        return None
    return np.asarray(found.fill_null(-1).to_numpy(), dtype=np.int64)


def _arrow(values: pd.Series | pd.Index | np.ndarray) -> pa.Array:
    """The values as one pyarrow array (no copy where pandas already holds them in pyarrow)."""
    array = values.array if isinstance(values, pd.Series | pd.Index) else values
    held = getattr(array, "_pa_array", None)  # pandas' pyarrow-backed arrays (strings)
    if held is not None:
        return held
    if isinstance(array, pd.api.extensions.ExtensionArray) and hasattr(array, "__arrow_array__"):
        return pa.array(array)  # masked arrays (Int64, boolean): NA becomes null
    return pa.array(np.asarray(array), from_pandas=True)


def _combined_keys(keys: list[pd.Series], index: pd.MultiIndex) -> tuple[np.ndarray, pd.Index]:
    """Several key columns and a MultiIndex of the same levels as one int64 key each (-1 where a
    part of a row's key is not in the table at all, so that the row matches nothing).

    Each level's values are numbered by the table's distinct values (a hash look-up per row):
    linear, where a MultiIndex of a million tuples is not.
    """
    rows = len(keys[0])
    row_key = np.zeros(rows, dtype=np.int64)
    table_key = np.zeros(len(index), dtype=np.int64)
    unknown = np.zeros(rows, dtype=bool)
    table_missing = np.zeros(len(index), dtype=bool)
    for level, key in enumerate(keys):
        table_codes, table_values = pd.factorize(index.get_level_values(level))
        row_codes = pd.Index(table_values).get_indexer(key) if len(table_values) else np.full(rows, -1)
        unknown |= row_codes < 0
        row_key = row_key * (len(table_values) + 1) + np.maximum(row_codes, 0)
        table_key = table_key * (len(table_values) + 1) + np.maximum(table_codes, 0)
        table_missing |= table_codes < 0
    row_key[unknown] = -1
    # The LMS's keys are NOT NULL; were a part missing, that entry matches no row (and stays unique).
    table_key[table_missing] = -2 - np.arange(int(table_missing.sum()))
    return row_key, pd.Index(table_key)


def _lookup(keys: pd.Series | list[pd.Series], table: pd.DataFrame) -> pd.DataFrame:
    """`table`'s row for every key (NA where it has none); `table` is indexed by the key."""
    return _rows_at(table, _positions(table.index, keys))


def _lookup_codes(codes: np.ndarray, uniques: pd.Index, table: pd.DataFrame) -> pd.DataFrame:
    """`_lookup` of keys given as pd.factorize's codes and uniques: each distinct key looked up once."""
    found = _positions(table.index, pd.Series(uniques.array)) if len(uniques) else np.empty(0, np.int64)
    return _rows_at(table, np.where(codes >= 0, found[np.maximum(codes, 0)] if len(found) else -1, -1))


def _rows_at(table: pd.DataFrame, position: np.ndarray) -> pd.DataFrame:
    """`table`'s rows at `position` (-1: a row of NA); integer columns become Int64."""
    if len(table) == 0:
        return table.iloc[0:0].reset_index(drop=True).reindex(range(len(position)))
    columns = {}
    for name, column in table.items():
        values = column.array
        if column.dtype.kind in "iu":
            values = pd.array(column.to_numpy(), dtype="Int64")
        columns[name] = pd.api.extensions.take(values, position, allow_fill=True)
    return pd.DataFrame(columns, columns=table.columns)


def _join_courses(rows: pd.DataFrame, lms: LmsSnapshot) -> None:
    course = _lookup(rows["_course_key"], lms.courses.set_index("external_course_id"))
    rows["_course_id"] = course["id"].astype("Int64")
    shell = course["is_imported_shell"].astype("boolean")
    rows["_course_is_shell"] = shell
    # R11 asks about required objects only of real courses: shells award nothing themselves.
    rows["_course_has_required_object"] = course["has_required"].astype("boolean").where(shell.eq(False), pd.NA)


def _join_learners(rows: pd.DataFrame, lms: LmsSnapshot, cross: CrossRows | None = None) -> None:
    """Which LMS learner each row names, and how the file pairs user ids with emails.

    A row names its learner by external_user_id (matched first) or external_email (any case).
    A row that gives only one of them is matched through the other rows of the file that give
    both, so the rows of one person resolve to one learner, new or known. The suites judge the
    pairings (R02); this only lays them side by side.
    """
    uid, email = rows["external_user_id"], rows["_email_key"]
    uid_codes, uids = pd.factorize(uid)  # each distinct user id and email is looked at once
    email_codes, emails = pd.factorize(email)
    by_email = lms.learners_by_email.set_index("email_key")
    by_uid = lms.learners_by_user_id.set_index("external_user_id")
    email_match = _lookup_codes(email_codes, emails, by_email)
    uid_match = _lookup_codes(uid_codes, uids, by_uid)
    rows["_learner_by_email"] = email_match["id"].astype("Int64")
    rows["_learner_by_user_id"] = uid_match["id"].astype("Int64")
    # What the LMS pairs with the row's id or email (compared with the row's other key: R02)
    rows["_lms_email_of_user_id"] = uid_match["email_key"].astype("str")
    rows["_lms_user_id_of_email"] = email_match["external_user_id"].astype("str")

    new_uid = uid.notna() & rows["_learner_by_user_id"].isna()
    new_email = email.notna() & rows["_learner_by_email"].isna()
    if cross is not None:  # a chunk of a large file: the pairings are the whole file's
        paired_email = email.fillna(pd.Series(cross.email_of_user_id.to_numpy(), index=rows.index, dtype="str"))
        paired_uid = uid.fillna(pd.Series(cross.user_id_of_email.to_numpy(), index=rows.index, dtype="str"))
        rows["_emails_of_new_user_id"] = pd.Series(cross.emails_of_user_id, index=rows.index,
                                                   dtype="Int64").where(new_uid, pd.NA)
        rows["_user_ids_of_new_email"] = pd.Series(cross.user_ids_of_email, index=rows.index,
                                                   dtype="Int64").where(new_email, pd.NA)
        rows["_learner_id"] = pd.Series(cross.learner_id, index=rows.index, dtype="Int64")
        learner = rows["_learner_id"]
    else:
        # The file's own pairings: each user id with the email of its first row that gives both,
        # and the reverse; a row without one of them is paired through them.
        paired_email_codes = _paired(uid_codes, email_codes)
        paired_uid_codes = _paired(email_codes, uid_codes)
        paired_email = pd.Series(pd.api.extensions.take(emails.array, paired_email_codes, allow_fill=True),
                                 index=rows.index)
        paired_uid = pd.Series(pd.api.extensions.take(uids.array, paired_uid_codes, allow_fill=True),
                               index=rows.index)
        rows["_emails_of_new_user_id"] = _distinct_per_key(uid_codes, email_codes, new_uid)
        rows["_user_ids_of_new_email"] = _distinct_per_key(email_codes, uid_codes, new_email)

        learner = rows["_learner_by_user_id"].fillna(rows["_learner_by_email"])
        learner = learner.fillna(_lookup_codes(paired_uid_codes, uids, by_uid)["id"].astype("Int64"))
        learner = learner.fillna(_lookup_codes(paired_email_codes, emails, by_email)["id"].astype("Int64"))
        rows["_learner_id"] = learner
    # A learner still to be made is named by its user id if the file gives one, else its email.
    rows["_new_user_id"] = paired_uid.where(learner.isna())
    rows["_new_email"] = rows["external_email"].fillna(paired_email).where(learner.isna())  # as written
    key = learner.astype("str").where(learner.notna())
    key = key.fillna("uid:" + paired_uid).fillna("email:" + paired_email)
    rows["_learner_key"] = key.fillna("line:" + rows[LINE].astype("str"))


def _group_codes(columns: list[pd.Series]) -> np.ndarray:
    """One int64 code per distinct combination of the columns' values (blank is a value too)."""
    code = np.zeros(len(columns[0]), dtype=np.int64)
    for column in columns:
        codes, uniques = pd.factorize(column, use_na_sentinel=False)
        code = code * (len(uniques) + 1) + codes
    return pd.factorize(code)[0]


def _distinct_per_group(group: np.ndarray, values: np.ndarray) -> np.ndarray:
    """For every row, how many distinct `values` (never blank) the rows of its group hold."""
    value_codes = pd.factorize(values)[0].astype(np.int64)
    width = int(value_codes.max(initial=0)) + 1
    pairs = pd.unique(group * width + value_codes)
    return np.bincount(pairs // width, minlength=int(group.max(initial=-1)) + 1)[group].astype(np.int64)


def _paired(key: np.ndarray, other: np.ndarray) -> np.ndarray:
    """`other` (codes), or where it is blank, the `other` of the first row that gives both it and
    the row's `key`; -1 where there is none."""
    both = np.flatnonzero((key >= 0) & (other >= 0))
    first = both[~pd.Index(key[both]).duplicated()]
    other_of_key = np.full(int(key.max(initial=-1)) + 1, -1, dtype=np.int64)
    other_of_key[key[first]] = other[first]
    through_key = np.where(key >= 0, other_of_key[np.maximum(key, 0)] if len(other_of_key) else -1, -1)
    return np.where(other >= 0, other, through_key)


def _distinct_per_key(key: np.ndarray, other: np.ndarray, where: pd.Series) -> pd.Series:
    """For rows where `where` holds: how many distinct `other` values the file gives with `key`
    (both as codes from pd.factorize: -1 for blank). Blank `other` values are not counted; NA
    where the key is blank."""
    out = np.full(len(key), -1, dtype=np.int64)
    chosen = where.to_numpy(dtype=bool, na_value=False)
    if chosen.any():
        width = int(other.max(initial=-1)) + 2
        both = chosen & (key >= 0) & (other >= 0)
        pairs = pd.unique(key[both].astype(np.int64) * width + other[both])  # hashed: np.unique is 10× slower
        counts = np.bincount(pairs // width, minlength=int(key.max(initial=-1)) + 1)
        picked = key[chosen]
        out[chosen] = np.where(picked >= 0, counts[np.maximum(picked, 0)] if len(counts) else -1, -1)
    return pd.Series(pd.array(out, dtype="Int64"), index=where.index).where(out >= 0, pd.NA)


def _join_credit_offers(rows: pd.DataFrame, lms: LmsSnapshot) -> None:
    known = lms.credit_types.set_index("machine_name")
    rows["_credit_type_id"] = _lookup(rows["credit_type"], known)["id"].astype("Int64")
    # Only a real course's offers apply; shells and courses still to be created offer nothing.
    real = rows["_course_is_shell"].eq(False) & rows["_credit_type_id"].notna()
    offers = lms.offers.astype({"course_id": "Int64"}).set_index(["course_id", "machine_name"])
    offer = _lookup([rows["_course_id"], rows["credit_type"]], offers)
    rows["_offered"] = offer["max_credits"].notna().where(real, pd.NA).astype("boolean")
    rows["_max_credits"] = offer["max_credits"].where(real).astype("float64")
    fixed = offer["is_variable"].eq(False)
    rows["_fixed_credits"] = rows["_max_credits"].where(fixed).astype("float64")


def _take(values: np.ndarray, position: np.ndarray, missing: int) -> np.ndarray:
    if len(values) == 0:
        return np.full(len(position), missing, dtype=values.dtype)
    return np.where(position >= 0, values[position], missing).astype(values.dtype)


def _join_existing_records(rows: pd.DataFrame, lms: LmsSnapshot, cross: CrossRows | None = None) -> None:
    rows["_enrollment_sig"] = enrollment_signature(
        rows["_enrollment_start"], rows["_enrollment_end"], rows["complete"],
        rows["_date_completed"], rows["attended"], rows["participant_category"])
    if cross is not None:
        rows["_enrollment_variants"] = pd.Series(cross.enrollment_variants, index=rows.index, dtype="int64")
    else:
        rows["_enrollment_variants"] = _distinct_per_group(
            _group_codes([rows["_learner_key"], rows["_course_key"]]), rows["_enrollment_sig"].to_numpy())
    rows["_credit_sig"] = credit_signature(rows["credits"], rows["_credit_expiration"])

    held = lms.enrollments
    held_at = pd.MultiIndex.from_arrays([held["learner_id"].astype("Int64"), held["course_id"].astype("Int64")])
    position = _positions(held_at, [rows["_learner_id"], rows["_course_id"]])
    found_position = position
    found = position >= 0
    ids = pd.array(_take(held["id"].to_numpy(dtype="int64"), position, 0), dtype="Int64")
    ids[~found] = pd.NA
    rows["_lms_enrollment_id"] = ids
    # Signatures are plain uint64 with 0 for "the LMS holds none" (GX compares them as numbers).
    rows["_lms_enrollment_sig"] = _take(enrollment_signature(
        held["enrollment_start"], held["enrollment_end"], held["complete"],
        held["date_completed"], held["attended"], held["participant_category"]).to_numpy(), position, 0)

    credits = lms.credit_records
    credit_at = pd.MultiIndex.from_arrays([credits["enrollment_id"].astype("Int64"),
                                           credits["machine_name"].astype("str")])
    position = _positions(credit_at, [rows["_lms_enrollment_id"], rows["credit_type"]])
    rows["_lms_credit_sig"] = _take(
        credit_signature(credits["credits"], credits["credit_expiration"]).to_numpy(), position, 0)
    # A row the LMS already holds exactly is skipped, not loaded again (R14's exception).
    same_enrollment = rows["_enrollment_sig"].eq(rows["_lms_enrollment_sig"])
    same_credit = rows["credit_type"].isna() | rows["_credit_sig"].eq(rows["_lms_credit_sig"])
    rows["_identical"] = (same_enrollment & same_credit).astype(bool)
    rows["_same_enrollment"] = same_enrollment.astype(bool)
    _describe_lms_records(rows, lms, enrollment_position=found_position, credit_position=position)


_ENROLLMENT_FIELDS = (  # (file column, the frame's typed column, the LMS column)
    ("enrollment_start", "_enrollment_start", "enrollment_start"),
    ("enrollment_end", "_enrollment_end", "enrollment_end"),
    ("complete", "complete", "complete"),
    ("date_completed", "_date_completed", "date_completed"),
    ("attended", "attended", "attended"),
    ("participant_category", "participant_category", "participant_category"),
)


def _shown(value: object, column: str) -> str:
    """A typed value as a person reads it in a message (dates ISO, flags 0/1, blank for none)."""
    if value is None or value is pd.NA or value is pd.NaT or (isinstance(value, float) and np.isnan(value)):
        return "0" if column == "complete" else "blank"
    if isinstance(value, bool | np.bool_):
        return "1" if value else "0"
    if isinstance(value, pd.Timestamp | datetime):
        stamp = pd.Timestamp(value).tz_convert("UTC") if pd.Timestamp(value).tzinfo else pd.Timestamp(value)
        day = f"{stamp.year:04d}-{stamp.month:02d}-{stamp.day:02d}"  # strftime fails before year 1000
        return day if stamp == stamp.normalize() else stamp.isoformat()
    return str(value)


def _normalised(value: object, column: str) -> str:
    text = _shown(value, column)
    return {"true": "1", "false": "0"}.get(text.lower(), text)


def _describe_lms_records(rows: pd.DataFrame, lms: LmsSnapshot, *, enrollment_position: np.ndarray,
                          credit_position: np.ndarray) -> None:
    """For the few rows that conflict with the LMS (R13, R14): what the LMS holds, in words."""
    rows["_lms_enrollment_text"] = pd.Series(pd.NA, index=rows.index, dtype="str")
    rows["_lms_credit_text"] = pd.Series(pd.NA, index=rows.index, dtype="str")
    differs = (enrollment_position >= 0) & ~rows["_same_enrollment"].to_numpy()
    held = lms.enrollments
    for i in np.flatnonzero(differs):
        lms_row = held.iloc[enrollment_position[i]]
        parts = []
        for column, typed, lms_column in _ENROLLMENT_FIELDS:
            ours, theirs = rows.at[i, typed], lms_row[lms_column]
            if _normalised(ours, column) != _normalised(theirs, column):
                parts.append(f"{column} {_shown(theirs, column)} (this row: {_shown(ours, column)})")
        rows.at[i, "_lms_enrollment_text"] = "the LMS holds " + ("; ".join(parts) or "a different enrollment")
    conflicts = rows["_same_enrollment"].to_numpy() & rows["credit_type"].notna().to_numpy() & \
        (rows["_credit_sig"].to_numpy() != rows["_lms_credit_sig"].to_numpy())
    records = lms.credit_records
    for i in np.flatnonzero(conflicts):
        kind = rows.at[i, "credit_type"]
        if credit_position[i] < 0:
            rows.at[i, "_lms_credit_text"] = f"the LMS holds no {kind} credit record on this enrollment"
            continue
        record = records.iloc[credit_position[i]]
        expiry = record["credit_expiration"]
        until = f", expiring {_shown(expiry, 'credit_expiration')}" if expiry is not None and not pd.isna(expiry) else ""
        rows.at[i, "_lms_credit_text"] = f"the LMS holds {kind} {float(record['credits']):.2f}{until}"


def _describe_duplicates(rows: pd.DataFrame, cross: CrossRows | None = None) -> None:
    """For rows that repeat a credit type (R09) or disagree on their enrollment (R10): the other
    line, or the columns that disagree, so a message can point at them."""
    if cross is not None:
        rows["_r09_other_line"] = pd.Series(cross.r09_other_line, index=rows.index, dtype="Int64")
        rows["_r10_columns"] = pd.Series(cross.r10_columns.to_numpy(), index=rows.index, dtype="str")
        return
    keys = ["_learner_key", "_course_key", "credit_type"]
    rows["_r09_other_line"] = pd.Series(pd.NA, index=rows.index, dtype="Int64")
    repeated = rows.duplicated(keys, keep=False)
    if repeated.any():
        subset = rows.loc[repeated, [*keys, LINE]]
        groups = subset.groupby(keys, dropna=False)[LINE]
        first, second = groups.transform("min"), groups.transform(lambda lines: lines.nsmallest(2).iloc[-1])
        rows.loc[repeated, "_r09_other_line"] = first.where(first != subset[LINE], second).astype("Int64")

    rows["_r10_columns"] = pd.Series(pd.NA, index=rows.index, dtype="str")
    disagreeing = rows["_enrollment_variants"].gt(1).to_numpy()
    if disagreeing.any():
        subset = rows.loc[disagreeing]
        group = ["_learner_key", "_course_key"]
        named = pd.Series("", index=subset.index, dtype="str")
        for column, typed, _ in _ENROLLMENT_FIELDS:
            values = subset[typed].map(lambda v, c=column: _normalised(v, c))
            varies = values.groupby([subset[g] for g in group], dropna=False).transform("nunique").gt(1)
            named = named.where(~varies, named + ", " + column)
        rows.loc[disagreeing, "_r10_columns"] = named.str.lstrip(", ")
