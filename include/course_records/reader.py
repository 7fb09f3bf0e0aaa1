"""Bytes of a landing file → the header, the data rows, and the file-level findings.

The reader catches what pandas would otherwise repair in silence (bytes that are not UTF-8, a
wrong delimiter, unbalanced quotes) and keeps each row's line number in the file. Whether the
header is acceptable is for the header suite (expectations/) to say, not for the reader.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from include.course_records.issues import ERROR, Issue, quoted

LINE = "_line"  # the column that carries each row's line number in the file
BOM = "\ufeff"
_TOKENIZE_LINE = re.compile(r"line (\d+)")


@dataclass
class ReadResult:
    header: list[str] = field(default_factory=list)
    rows: pd.DataFrame | None = None  # every value a string or NA, plus LINE
    issues: list[Issue] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not any(issue.is_error for issue in self.issues)


def read_course_records(data: bytes) -> ReadResult:
    """Decode, split the header from the rows, and parse the rows as comma CSV of strings."""
    result = ReadResult()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        result.issues.append(
            Issue(line, None, "F01", ERROR,
                  f"line {line}: byte 0x{data[exc.start]:02x} is not valid UTF-8 — save the file "
                  "as UTF-8 (in Excel: 'CSV UTF-8 (Comma delimited)') and drop it again (F01)")
        )
        return result
    if text.startswith(BOM):
        text = text[1:]
        data = data[len(BOM.encode()):]

    header = next(csv.reader(io.StringIO(text)), None)
    if not header or header == [""]:
        result.issues.append(Issue(1, None, "F05", ERROR,
                                   "line 1: the file is empty — it needs a header line and at "
                                   "least one data row (F05)"))
        return result
    result.header = header
    if len(header) == 1 and (";" in header[0] or "\t" in header[0]):
        delimiter = "semicolons" if ";" in header[0] else "tabs"
        result.issues.append(
            Issue(1, None, "F04", ERROR,
                  f"line 1: the columns are separated by {delimiter}, not commas — export the "
                  "sheet as comma-separated CSV (F04)")
        )
        return result
    if len(set(header)) != len(header):
        # pandas would rename duplicates in silence; the header suite reports them (F03).
        return result

    try:
        rows = _parse(data, len(header))
    except pd.errors.ParserError as exc:
        result.issues.append(_parser_issue(text, str(exc)))
        return result
    except pd.errors.EmptyDataError:
        result.issues.append(Issue(1, None, "F05", ERROR, "line 1: the file is empty (F05)"))
        return result
    if _has_unclosed_quote(text):
        # The C parser accepts a quote left open at the end of the file.
        result.issues.append(_unbalanced_quote_issue(text))
        return result
    rows = rows.iloc[1:].reset_index(drop=True)
    rows.columns = header
    rows[LINE] = _line_numbers(text, len(rows))
    result.rows = rows
    return result


def _parse(data: bytes, columns: int) -> pd.DataFrame:
    """Every line as strings (blank → missing), the header line included as the first row.

    pyarrow's reader is fast (0.25 s for a million rows); on anything irregular it stops, and
    pandas' C parser reads the file instead, whose errors name the record. Both are given the
    header as an ordinary row, so a row with an extra value is an error rather than an index.
    """
    import pyarrow as pa
    import pyarrow.csv as pacsv

    try:
        table = pacsv.read_csv(
            io.BytesIO(data),
            read_options=pacsv.ReadOptions(autogenerate_column_names=True),
            parse_options=pacsv.ParseOptions(newlines_in_values=True),
            convert_options=pacsv.ConvertOptions(column_types={f"f{i}": pa.string() for i in range(columns)},
                                                 null_values=[""], strings_can_be_null=True),
        )
        return table.combine_chunks().to_pandas()  # one chunk per column: row selection is much faster
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return pd.read_csv(io.BytesIO(data), header=None, dtype=str, keep_default_na=False, na_values=[""],
                           skip_blank_lines=True, engine="c")


def _line_numbers(text: str, n_rows: int) -> np.ndarray:
    """The file line on which each parsed row starts (header = line 1)."""
    physical = text.count("\n") + (0 if text.endswith("\n") else 1)
    if physical - 1 == n_rows:  # no blank lines, no line breaks inside quoted values
        return np.arange(2, n_rows + 2, dtype=np.int64)
    return np.asarray(_record_lines(text)[1:n_rows + 1], dtype=np.int64)


def _record_lines(text: str) -> list[int]:
    """The line on which each record starts (the header is record 0), skipping blank lines as pandas does."""
    starts = []
    reader = csv.reader(io.StringIO(text, newline=""))
    line = 1
    for row in reader:
        if row and not (len(row) == 1 and not row[0].strip(" \t")):
            starts.append(line)
        line = reader.line_num + 1
    return starts


def _has_unclosed_quote(text: str) -> bool:
    return text.count('"') % 2 == 1


def _unbalanced_quote_issue(text: str) -> Issue:
    open_line, inside = 1, False
    for number, line in enumerate(text.split("\n"), start=1):  # not splitlines(): U+2028 is no line end
        if line.count('"') % 2 == 1:
            inside = not inside
            if inside:
                open_line = number
    return Issue(open_line, None, "F04", ERROR,
                 f"line {open_line}: a quote (\") opened here is never closed, so the rest of the "
                 "file would be read as one value — close or remove the quote (F04)")


def _parser_issue(text: str, message: str) -> Issue:
    if "EOF" in message:
        return _unbalanced_quote_issue(text)
    match = _TOKENIZE_LINE.search(message)
    record = int(match.group(1)) if match else 1  # pandas counts records, not lines
    starts = _record_lines(text)
    line = starts[record - 1] if 0 < record <= len(starts) else record
    fields = re.search(r"Expected (\d+) fields.*saw (\d+)", message)
    detail = (f"has {fields.group(2)} values where the header has {fields.group(1)} columns"
              if fields else "cannot be read as comma CSV")
    lines = text.split("\n")
    snippet = lines[line - 1] if 0 < line <= len(lines) else ""
    return Issue(line, None, "F04", ERROR,
                 f"line {line}: {quoted(snippet, 60)} {detail} — quote values that contain "
                 "commas and check the delimiter is a comma (F04)")
