"""What each expectation says to the data team, generated from its `meta` in this one place.

Every expectation in `expectations/*.json` carries `meta` (rule id, severity, message, fix,
the import precaution it enforces, the file column it reports); the precautions' words are the
rulebook's. GX 1.x expectations also have a `description` (shown instead of GX's own sentence,
which names internal columns such as `_fixed_credits`) and `notes`. Both are derived here, at run
time, so the suite files keep one copy of each fact and the Data Docs pages and the validation
results agree.
"""

from __future__ import annotations

from typing import Any

from include.course_records.record_format import ALIASES, COLUMNS
from include.course_records.rulebook import PRECAUTIONS

# Columns of the frames the suites run on that stand for something a person knows by another name.
_HEADER_FRAME = frozenset({"name", "canonical"})  # the header suite's frame: one row per header name
_ANY_VALUE = frozenset({"_row_text"})  # a row's values joined: R01/W05 look at every cell
_PLAIN = {"_course_key": "course"}  # the course a row names, or the course-level import's target
_FILE_COLUMNS = frozenset(COLUMNS) | frozenset(ALIASES)
# Checked columns whose values are the file's own cells (trimmed) or header names as written.
CELL_COLUMNS = _FILE_COLUMNS | {"name"}


def subject(meta: dict[str, Any], kwargs: dict[str, Any]) -> str | None:
    """What a check is about, in the file's terms: a file column, "header", "any value", or nothing."""
    column = meta.get("column") or kwargs.get("column")
    if column in _FILE_COLUMNS:
        return column
    if column in _HEADER_FRAME:
        return "header"
    if column in _ANY_VALUE:
        return "any value"
    if column in _PLAIN:
        return _PLAIN[column]
    return None  # a table-level check, or an internal column with no file counterpart


def precaution(meta: dict[str, Any]) -> str | None:
    number = meta.get("precaution")
    return f"Precaution {number}: {PRECAUTIONS[number]}" if number in PRECAUTIONS else None


def description(meta: dict[str, Any], kwargs: dict[str, Any]) -> str:
    """One line naming the rule and the problem the check looks for: 'R04 · complete: is not 0, 1 or blank'."""
    about = subject(meta, kwargs)
    if about and not meta["message"].startswith(about):  # "header has …" names its subject already
        return f"{meta['rule']} · {about}: {meta['message']}"
    return f"{meta['rule']} · {meta['message']}"


def notes(meta: dict[str, Any]) -> list[str]:
    """Why the rule exists (its precaution, when it enforces one) and how to fix a row that breaks it."""
    why = precaution(meta)
    return ([why] if why else []) + [f"Fix: {meta['fix']}"]


def describe(expectation: dict[str, Any]) -> dict[str, Any]:
    """The expectation (GX's JSON form) with its description and notes filled in from its meta."""
    meta = expectation.get("meta") or {}
    if "rule" not in meta:
        return expectation
    return {**expectation, "description": description(meta, expectation.get("kwargs") or {}), "notes": notes(meta)}
