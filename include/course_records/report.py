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
    """One line per error: where, which rule, what to do, and the row as the file has it."""
    raw_columns = result.frame.attrs.get(RAW_COLUMNS, []) if result.frame is not None else []
    rows_by_line: dict[int, dict[str, str]] = {}
    errors = [i for i in result.issues if i.severity == ERROR]
    if result.frame is not None and errors:
        lines = {i.line for i in errors}
        picked = result.frame.loc[result.frame[LINE].isin(lines), [LINE, ROW_TEXT]]
        rows_by_line = {int(line): raw_values(text, raw_columns)
                        for line, text in zip(picked[LINE], picked[ROW_TEXT], strict=True)}
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")  # CRLF: a lone CR or LF in a value is quoted too
    writer.writerow(["line", "column", "rule", "severity", "message", *raw_columns])
    for issue in errors:
        row = rows_by_line.get(issue.line, {})
        writer.writerow([spreadsheet_safe(v) for v in (
            issue.line, issue.column or "", issue.rule, issue.severity, issue.message,
            *(row.get(c, "") for c in raw_columns))])
    return out.getvalue().encode("utf-8")
