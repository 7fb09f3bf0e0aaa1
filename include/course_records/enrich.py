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

import numpy as np
import pandas as pd

from include.course_records.db import Connection
from include.course_records.reader import LINE
from include.course_records.record_format import ALIASES, COLUMNS, DATE_COLUMNS

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
    learners_by_email: pd.DataFrame  # id, email_key
    learners_by_user_id: pd.DataFrame  # id, external_user_id
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
    import pyarrow as pa
    import pyarrow.compute as pc

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
        trimmed = pc.utf8_trim(value, " ")
        rows[column] = pc.if_else(pc.equal(trimmed, ""), pa.scalar(None, trimmed.type), trimmed).to_pandas()
    return rows


def _fetch(conn: Connection, sql: str, params: tuple, columns: list[str]) -> pd.DataFrame:
    with conn.cursor() as cur:
        cur.execute(sql, params)
        return pd.DataFrame(cur.fetchall(), columns=columns)


def fetch_snapshot(conn: Connection, rows: pd.DataFrame) -> LmsSnapshot:
    """Read, in one read-only transaction, what the LMS holds for the rows' learners and courses."""
    emails = rows["_email_key"].dropna().unique().tolist()
    user_ids = rows["external_user_id"].dropna().unique().tolist()
    course_keys = rows["_course_key"].dropna().unique().tolist()
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
            " FROM lms.course c WHERE c.external_course_id = ANY(%s)",
            (course_keys,), ["id", "external_course_id", "is_imported_shell", "has_required"],
        )
        course_ids = courses["id"].tolist()
        offers = _fetch(
            conn,
            "SELECT o.course_id, t.machine_name, o.max_credits::float8, o.is_variable"
            " FROM lms.course_credit_type o JOIN lms.credit_type t ON t.id = o.credit_type_id"
            " WHERE o.course_id = ANY(%s)",
            (course_ids,), ["course_id", "machine_name", "max_credits", "is_variable"],
        )
        by_email = _fetch(conn, "SELECT id, lower(email) FROM lms.learner WHERE lower(email) = ANY(%s)",
                          (emails,), ["id", "email_key"])
        by_user_id = _fetch(conn, "SELECT id, external_user_id FROM lms.learner"
                                  " WHERE external_user_id = ANY(%s)",
                            (user_ids,), ["id", "external_user_id"])
        learner_ids = sorted(set(by_email["id"]) | set(by_user_id["id"]))
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
    text = values.astype("str").str.lower().map({"1": 1, "true": 1, "0": 0, "false": 0})
    return text.fillna(-1).astype(np.int8).to_numpy(copy=True)


def enrollment_signature(start, end, complete, completed, attended, category) -> pd.Series:
    """One number per row naming its enrollment columns, the same for file rows and the LMS."""
    complete_flag = _flag(complete)
    complete_flag[complete_flag == -1] = 0  # blank complete means 0 (DESIGN §3)
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


def prepare(rows: pd.DataFrame, importer: str, target_course: str | None,
            conn: Connection) -> pd.DataFrame:
    """The frame the row suites validate: the file's values, typed, with the LMS joined on."""
    names = [c for c in rows.columns if c != LINE]
    rows = rows.reset_index(drop=True)  # trim() assigns positional arrays
    rows = trim(canonical_columns(rows), [ALIASES.get(c, c) for c in names], names)

    rows["_email_key"] = rows["external_email"].str.lower()
    if importer == "course":
        rows["_target_course"] = pd.Series(target_course, index=rows.index, dtype="str")
        rows["_course_key"] = rows["_target_course"]
    else:
        rows["_target_course"] = pd.Series(pd.NA, index=rows.index, dtype="str")
        rows["_course_key"] = rows["external_course_id"]
    rows["_first_row_of_course"] = ~rows["_course_key"].duplicated()
    for column in DATE_COLUMNS:
        rows[f"_{column}"] = _as_utc(rows[column])
    for column in ("enrollment_start", "enrollment_end", "date_completed"):
        rows[f"_{column}_day"] = rows[f"_{column}"].dt.floor("D")
    rows["_credits"] = pd.to_numeric(rows["credits"], errors="coerce").astype("float64")

    lms = fetch_snapshot(conn, rows)
    _join_courses(rows, lms)
    _join_learners(rows, lms)
    _join_credit_offers(rows, lms)
    _join_existing_records(rows, lms)
    return rows


def _positions(index: pd.Index, keys: pd.Series | list[pd.Series]) -> np.ndarray:
    """For every key, its row in a table indexed (uniquely) by `index`, or -1 where there is none.

    Each distinct key is looked up once; several key columns make a MultiIndex key.
    """
    if isinstance(keys, list):
        codes, uniques = pd.MultiIndex.from_arrays(keys).factorize()
    else:
        codes, uniques = pd.factorize(keys)
    if len(index) == 0 or len(uniques) == 0:
        return np.full(len(codes), -1, dtype=np.int64)
    found = index.get_indexer(uniques)
    return np.where(codes >= 0, found[codes], -1)


def _lookup(keys: pd.Series | list[pd.Series], table: pd.DataFrame) -> pd.DataFrame:
    """`table`'s row for every key (NA where it has none); `table` is indexed by the key."""
    position = _positions(table.index, keys)
    if len(table) == 0:
        return table.iloc[0:0].reset_index(drop=True).reindex(range(len(position)))
    taken = table.iloc[np.maximum(position, 0)].reset_index(drop=True)
    return taken.where(np.repeat((position >= 0)[:, None], taken.shape[1], axis=1))


def _join_courses(rows: pd.DataFrame, lms: LmsSnapshot) -> None:
    course = _lookup(rows["_course_key"], lms.courses.set_index("external_course_id"))
    rows["_course_id"] = course["id"].astype("Int64")
    shell = course["is_imported_shell"].astype("boolean")
    rows["_course_is_shell"] = shell
    # R11 asks about required objects only of real courses: shells award nothing themselves.
    rows["_course_has_required_object"] = course["has_required"].astype("boolean").where(shell.eq(False), pd.NA)


def _join_learners(rows: pd.DataFrame, lms: LmsSnapshot) -> None:
    rows["_learner_by_email"] = _lookup(rows["_email_key"], lms.learners_by_email.set_index("email_key"))[
        "id"].astype("Int64")
    rows["_learner_by_user_id"] = _lookup(rows["external_user_id"], lms.learners_by_user_id.set_index(
        "external_user_id"))["id"].astype("Int64")
    # external_user_id is matched first when present (DESIGN §3)
    rows["_learner_id"] = rows["_learner_by_user_id"].fillna(rows["_learner_by_email"])
    rows["_learner_key"] = rows["_learner_id"].astype("str").where(
        rows["_learner_id"].notna(), "new:" + rows["_email_key"].fillna(""))


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


def _join_existing_records(rows: pd.DataFrame, lms: LmsSnapshot) -> None:
    rows["_enrollment_sig"] = enrollment_signature(
        rows["_enrollment_start"], rows["_enrollment_end"], rows["complete"],
        rows["_date_completed"], rows["attended"], rows["participant_category"])
    rows["_enrollment_variants"] = rows.groupby(
        ["_learner_key", "_course_key"], dropna=False)["_enrollment_sig"].transform("nunique")
    rows["_credit_sig"] = credit_signature(rows["credits"], rows["_credit_expiration"])

    held = lms.enrollments
    held_at = pd.MultiIndex.from_arrays([held["learner_id"].astype("Int64"), held["course_id"].astype("Int64")])
    position = _positions(held_at, [rows["_learner_id"], rows["_course_id"]])
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
