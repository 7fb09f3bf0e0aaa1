"""The reports a run leaves: summary.json (its shape is the contract) and rejects.csv."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from include.course_records.check import CheckResult
from include.course_records.enrich import RAW_COLUMNS, ROW_TEXT
from include.course_records.issues import ERROR
from include.course_records.reader import LINE
from include.course_records.validate import raw_values

NO_CREATIONS = {"learners": 0, "courses": 0, "enrollments": 0, "credit_records": 0, "held_records": 0}
_FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def summary(result: CheckResult, *, file: str, status: str | None = None,
            created: dict[str, int] | None = None, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """The summary document; `status` overrides the check's (loaded, locked)."""
    document = {
        "file": file,
        "sha256": result.sha256,
        "importer": result.target.importer,
        "course": result.target.course,
        "status": status or result.status,
        "rows": result.counts(),
        "issues": [issue.as_dict() for issue in result.issues],
        "created": dict(created or NO_CREATIONS),
    }
    if extra:
        document.update(extra)
    return document


def summary_json(document: dict[str, Any]) -> bytes:
    return (json.dumps(document, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def spreadsheet_safe(value: object) -> str:
    """A value that a spreadsheet will show as text, never run as a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_PREFIXES) else text


def rejects_csv(result: CheckResult) -> bytes:
    """One line per error: where, which rule, what to do, and the row as the file has it.

    With load_valid_rows, a line that has no error of its own but fell with another row of the
    same learner and course gets a line too, naming that row: every line not loaded is here.
    """
    raw_columns = result.frame.attrs.get(RAW_COLUMNS, []) if result.frame is not None else []
    rows_by_line: dict[int, dict[str, str]] = {}
    errors = [i for i in result.issues if i.severity == ERROR]
    if result.chunked is not None:  # a large file checked in chunks: the lines' raw values were kept
        from include.course_records.chunked import fallen_with_their_enrollment

        raw_columns = result.chunked.raw_columns
        fallen = fallen_with_their_enrollment(result.chunked, result.rejected_lines, errors)
        texts = result.chunked.row_text
        rows_by_line = {line: raw_values(texts[line], raw_columns)
                        for line in {i.line for i in errors} | set(fallen) if line in texts}
    else:
        fallen = _fallen_with_their_enrollment(result, errors)
    if result.frame is not None and errors:
        lines = {i.line for i in errors} | set(fallen)
        picked = result.frame.loc[result.frame[LINE].isin(lines), [LINE, ROW_TEXT]]
        rows_by_line = {int(line): raw_values(text, raw_columns)
                        for line, text in zip(picked[LINE], picked[ROW_TEXT], strict=True)}
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")  # CRLF: a lone CR or LF in a value is quoted too
    writer.writerow(["line", "column", "rule", "severity", "message", *raw_columns])
    listed = [(issue.line, issue.column or "", issue.rule, issue.message) for issue in errors]
    listed += [(line, "", cause.rule,
                f"line {line}: not loaded: line {cause.line} of the same learner and course was rejected, "
                f"and an enrollment's rows stand or fall together ({cause.rule})")
               for line, cause in fallen.items()]
    for line, column, rule, message in sorted(listed, key=lambda item: item[0]):
        row = rows_by_line.get(line, {})
        writer.writerow([spreadsheet_safe(v) for v in (
            line, column, rule, ERROR, message, *(row.get(c, "") for c in raw_columns))])
    return out.getvalue().encode("utf-8")


def _fallen_with_their_enrollment(result: CheckResult, errors: list) -> dict[int, Any]:
    """Rejected lines without an error of their own → the first error of their enrollment."""
    frame = result.frame
    error_lines = {i.line for i in errors}
    quiet = sorted(set(result.rejected_lines) - error_lines)
    if frame is None or not quiet:
        return {}
    group = ["_learner_key", "_course_key"]
    first_error = {}
    for issue in sorted(errors, key=lambda i: i.line):
        first_error.setdefault(issue.line, issue)
    keyed = frame.loc[frame[LINE].isin(error_lines | set(quiet)), [LINE, *group]]
    cause_of_group: dict[tuple, Any] = {}
    for line, *key in keyed.itertuples(index=False):
        if int(line) in first_error:
            cause_of_group.setdefault(tuple(key), first_error[int(line)])
    out = {}
    for line, *key in keyed.itertuples(index=False):
        if int(line) in quiet and tuple(key) in cause_of_group:
            out[int(line)] = cause_of_group[tuple(key)]
    return out
