"""Bytes of a landing file → the header, the data rows, and the file-level findings.

The reader catches what a CSV parser would otherwise repair in silence (bytes that are not
UTF-8, a wrong delimiter, a quote left open or closed in the middle of a value, a row with more
or fewer values than the header, a carriage return that splits a line) and keeps each row's line
number in the file. Every file ends in rows or in an F-rule finding, never in an exception.
Whether the header is acceptable is for the header suite (expectations/) to say, not for the reader.

Line ends: LF or CRLF; a file with no LF at all may use CR alone (old "CSV (Macintosh)"
exports); in a file with LF, a CR not followed by LF outside quotes is an error (F04).
"""

from __future__ import annotations

import csv
import io
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from include.course_records.issues import ERROR, Issue, quoted
from include.course_records.resources import use_jemalloc

use_jemalloc()  # before the first table is read: every arrow buffer of the process from one pool

LINE = "_line"  # the column that carries each row's line number in the file
BOM = "\ufeff"
MAX_F04_LINES = 50  # a file with many short or long rows: the first ones are enough to fix it

# Quoted values of any length: the csv module's default limit (128 KiB) would raise on a long one.
csv.field_size_limit(sys.maxsize)

# A well-formed quoted value: it starts a field and ends one ("" inside stands for one quote).
_QUOTED_FIELD = re.compile(r'(?:^|(?<=[,\r\n]))"(?:[^"]|"")*"(?=[,\r\n]|\Z)', re.M)
_BARE_CR = re.compile(r"\r(?!\n)")


@dataclass
class ReadResult:
    header: list[str] = field(default_factory=list)
    rows: pd.DataFrame | None = None  # every value a string or NA, plus LINE
    issues: list[Issue] = field(default_factory=list)
    data_lines: int = 0  # non-blank lines after the header, counted also when the rows can't be read

    @property
    def ok(self) -> bool:
        return not any(issue.is_error for issue in self.issues)


def _f04(line: int, text: str) -> Issue:
    return Issue(line, None, "F04", ERROR, f"line {line}: {text} (F04)")


_BLANK_LINES = {  # a line end, then a line of nothing but white space (as str.strip sees it)
    (str, "\n"): re.compile(r"\n[^\S\n]*(?=\n|\Z)"), (str, "\r"): re.compile(r"\r[^\S\r]*(?=\r|\Z)"),
    (bytes, b"\n"): re.compile(rb"\n[^\S\n]*(?=\n|\Z)"), (bytes, b"\r"): re.compile(rb"\r[^\S\r]*(?=\r|\Z)"),
}


def count_data_lines(text: str | bytes) -> int:
    """Lines after the header with anything but spaces on them (what a person counts as rows).

    Counted without splitting the text (a million lines are not made a million strings)."""
    kind = str if isinstance(text, str) else bytes
    newline = "\n" if kind is str else b"\n"
    if newline not in text:
        newline = "\r" if kind is str else b"\r"
    blank = sum(1 for _ in _BLANK_LINES[kind, newline].finditer(text))
    return text.count(newline) - blank


def read_course_records(data: bytes) -> ReadResult:
    """Decode, split the header from the rows, and parse the rows as comma CSV of strings."""
    result = ReadResult()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1 if b"\n" in data else data.count(b"\r", 0, exc.start) + 1
        result.data_lines = count_data_lines(data)
        result.issues.append(
            Issue(line, None, "F01", ERROR,
                  f"line {line}: byte 0x{data[exc.start]:02x} is not valid UTF-8 — save the file "
                  "as UTF-8 (in Excel: 'CSV UTF-8 (Comma delimited)') and drop it again (F01)")
        )
        return result
    raw: bytes | None = data  # the text's own bytes, while nothing below changes the text
    if text.startswith(BOM):
        text, raw = text[1:], None
    if "\r" in text and "\n" not in text:
        text, raw = text.replace("\r", "\n"), None  # CR alone ends lines (old Mac exports)
    result.data_lines = count_data_lines(text)

    first = _first_record(text)
    if isinstance(first, Issue):
        result.issues.append(first)
        return result
    header = first
    if [name.strip().lower() for name in header][:1] in (["sep="], ["sep=;"], ["sep=\t"]):
        result.issues.append(_f04(1, "this is Excel's delimiter hint (sep=…), not the header — delete the first line "
                                     "so that the column names are on line 1"))
        return result
    if not header or header == [""]:
        result.issues.append(Issue(1, None, "F05", ERROR,
                                   "line 1: the file is empty — it needs a header line and at "
                                   "least one data row (F05)"))
        return result
    result.header = header
    if len(header) == 1 and (";" in header[0] or "\t" in header[0]):
        delimiter = "semicolons" if ";" in header[0] else "tabs"
        result.issues.append(_f04(1, f"the columns are separated by {delimiter}, not commas — export the "
                                     "sheet as comma-separated CSV"))
        return result
    problem = _quoting_problem(text)
    if problem:
        result.issues.append(problem)
        return result
    if len(set(header)) != len(header):
        # a parser would rename duplicates in silence; the header suite reports them (F03).
        return result

    rows = _parse_fast(text, len(header), raw)
    if rows is None:
        rows, issues = _parse_exact(text, len(header))
        if issues:
            result.issues.extend(issues)
            return result
    rows.columns = [*header, LINE]
    result.rows = rows
    return result


_LINE_END = re.compile(r"\r\n|\r|\n")


def _lines(text: str) -> Iterator[str]:
    """The text's lines with their ends, one at a time, split as io.StringIO(newline="") splits
    them (without copying a large file's text)."""
    position = 0
    while position < len(text):
        found = _LINE_END.search(text, position)
        end = len(text) if found is None else found.end()
        yield text[position:end]
        position = end


def _first_record(text: str) -> list[str] | Issue:
    try:
        return next(csv.reader(_lines(text), strict=True), [])
    except csv.Error:
        return _f04(1, "the header line cannot be read as comma CSV (a quote is misplaced) — "
                       "retype the header as plain names separated by commas")


def _quoting_problem(text: str) -> Issue | None:
    """A quote left open, a quote in the middle of a value, or a CR that splits a line."""
    if '"' not in text and "\r" not in text:
        return None
    if text.count('"') % 2 == 1:
        return _unbalanced_quote_issue(text)
    outside = _QUOTED_FIELD.sub("", text) if '"' in text else text
    if '"' in outside:
        line = _line_of_first_outside(text, '"')
        return _f04(line, 'a quote (") sits inside a value instead of around it — put the whole '
                          'value in quotes and double every quote inside it ("")')
    if _BARE_CR.search(outside):
        line = _line_of_first_outside(text, "\r")
        return _f04(line, "a carriage return (CR) without a line feed splits this line — save the "
                          "file again as CSV with Windows (CRLF) or Unix (LF) line ends, and look "
                          "for a line break pasted into a value")
    return None


def _line_of_first_outside(text: str, char: str) -> int:
    """The line of the first `char` outside well-formed quoted values (a bare CR for "\\r")."""
    position = 0
    for match in _QUOTED_FIELD.finditer(text):
        stretch = text[position:match.start()]
        found = _BARE_CR.search(stretch) if char == "\r" else re.search(re.escape(char), stretch)
        if found:
            return text.count("\n", 0, position + found.start()) + 1
        position = match.end()
    stretch = text[position:]
    found = _BARE_CR.search(stretch) if char == "\r" else re.search(re.escape(char), stretch)
    return text.count("\n", 0, position + (found.start() if found else 0)) + 1


def _parse_fast(text: str, columns: int, raw: bytes | None = None) -> pd.DataFrame | None:
    """pyarrow's reader (0.25 s for a million rows), when the file is regular: every line one row.

    It is given the header as an ordinary row, so that a row with a wrong number of values is an
    error rather than an index. Anything irregular (blank lines, line breaks inside values, a row
    of the wrong length) → None, and the exact reader decides. `raw`: the text's UTF-8 bytes, when
    the caller has them (no copy).
    """
    import pyarrow as pa
    import pyarrow.csv as pacsv

    try:
        table = pacsv.read_csv(
            io.BytesIO(raw if raw is not None else text.encode("utf-8")),  # `raw`: no copy of a large file
            read_options=pacsv.ReadOptions(autogenerate_column_names=True),
            parse_options=pacsv.ParseOptions(newlines_in_values=True),
            convert_options=pacsv.ConvertOptions(column_types={f"f{i}": pa.string() for i in range(columns)},
                                                 null_values=[""], strings_can_be_null=True),
        )
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return None
    physical = text.rstrip("\r\n").count("\n") + 1
    if table.num_rows != physical or table.num_columns != columns:
        return None
    rows = table.slice(1).combine_chunks().to_pandas()  # one chunk per column: row selection is faster
    rows[LINE] = np.arange(2, len(rows) + 2, dtype=np.int64)
    return rows


def _parse_exact(text: str, columns: int) -> tuple[pd.DataFrame | None, list[Issue]]:
    """Python's csv module, record by record: each row's first line, blank lines skipped, and
    every row with more or fewer values than the header named (F04)."""
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    values: list[list[str | None]] = []
    lines: list[int] = []
    issues: list[Issue] = []
    line = 1
    try:
        next(reader)
        line = reader.line_num + 1
        for row in reader:
            if not row or (len(row) == 1 and not row[0].strip(" \t")):
                line = reader.line_num + 1
                continue  # a blank line (or one of spaces) is no record
            if len(row) != columns:
                if len(issues) < MAX_F04_LINES:
                    shown = quoted(",".join(row), 60)
                    issues.append(_f04(line, f"{shown} has {len(row)} values where the header has {columns} "
                                             "columns — every line needs one value per column (leave a value "
                                             "empty, don't drop it); quote values that contain commas"))
            else:
                values.append([value if value != "" else None for value in row])
                lines.append(line)
            line = reader.line_num + 1
    except csv.Error:
        issues.append(_f04(line, "this line cannot be read as comma CSV — check its quotes"))
    if issues:
        return None, issues
    rows = pd.DataFrame(values, columns=[f"f{i}" for i in range(columns)], dtype="str") if values else \
        pd.DataFrame({f"f{i}": pd.Series([], dtype="str") for i in range(columns)})
    rows[LINE] = np.asarray(lines, dtype=np.int64)
    return rows, []


def _unbalanced_quote_issue(text: str) -> Issue:
    open_line, inside = 1, False
    for number, line in enumerate(text.split("\n"), start=1):  # not splitlines(): U+2028 is no line end
        if line.count('"') % 2 == 1:
            inside = not inside
            if inside:
                open_line = number
    return _f04(open_line, 'a quote (") opened here is never closed, so the rest of the file would be read '
                           "as one value — close or remove the quote")
