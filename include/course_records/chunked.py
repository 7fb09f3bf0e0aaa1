"""The check of a large file in bounded memory: the same checks, streamed in chunks of rows.

`check.check_file` sends a file of more than CHUNK_THRESHOLD data rows here. Nothing holds the
whole file: not its bytes, its text, its rows nor its prepared frame.

- Pass 0 (`scan`) reads the bytes once for the sha256 (F06) and the line count.
- Pass 1 streams the file in chunks of whole records, read exactly as the whole-file reader reads
  them, and keeps only compact integer keys per row: the learner's user id and email, the course,
  the credit type (as codes: two 64-bit hashes per distinct value, never the strings), the line,
  and the enrollment signature. The LMS is asked about each distinct user id and email once. From
  these arrays, set-based, come the columns that depend on other rows of the file: the learner
  each row names (through the file's pairings of user ids and emails), the distinct emails of a
  user id and user ids of an email (R02), each course's first row (W01), the enrollment variants
  of a learner and course (R10), and the other line of a repeated credit type (R09).
- When some rows need a value only another row holds (the user id the file pairs with an email,
  for a row without one) or the columns in which an enrollment's rows disagree (R10), one more
  streaming pass collects just those.
- Pass 2 streams the chunks again; each is prepared by `enrich.prepare` as a whole file would be,
  with the cross-row columns from pass 1, and validated by the same Great Expectations row suite
  (`validate.run_suite`). R09 is GX's compound-uniqueness expectation over the chunk: a row whose
  learner, course and credit type repeat only in another chunk is given a copy of itself (a
  "ghost", with a negative line), so that GX finds it as it would in the whole file; ghosts are
  dropped from its findings. A file-level finding is kept once, from the first chunk that has it.
  The chunks' GX results are combined into one result per suite (counts summed, samples bounded).
- The rows to stage are spooled to a local CSV file as each chunk is checked (never held); the
  load stages that file with one COPY and drops the lines the decision rejected.

Rejections made while reading (F01, F04, a header the reader cannot take) are rare for large
files; such a file is read by the whole-file reader, as before.
"""

from __future__ import annotations

import codecs
import contextlib
import hashlib
import io
import logging
import os
import tempfile
import time
import weakref
from collections import Counter
from collections.abc import Iterator, Set
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from include.course_records import enrich, validate
from include.course_records.issues import Issue
from include.course_records.reader import (
    _BARE_CR,
    BOM,
    LINE,
    _first_record,
    _parse_exact,
    _parse_fast,
    _quoting_problem,
)
from include.course_records.record_format import ALIASES
from include.course_records.resources import release_memory

log = logging.getLogger(__name__)

# Files of more data rows than this are checked in chunks (the environment variables are for
# tests and tuning; check_file takes the same as parameters). Up to a million rows the whole-file
# check is faster (25 s against 31 s at 1M rows) and stays under 1.5 GiB; above, it grows ~1.5 GiB
# per million rows while the chunked check stays under 2 GiB at ten million. Chunks of 100,000
# rows: at ten million, the validate task path peaked at 1,590 MiB (finishing the keys) against
# 1,964 MiB with chunks of 200,000 (a chunk prepared and validated); GX's cost per validation is paid
# twice as often (`make bench` times it).
CHUNK_THRESHOLD = int(os.environ.get("COURSE_RECORD_CHUNK_THRESHOLD", "1000000"))
CHUNK_ROWS = int(os.environ.get("COURSE_RECORD_CHUNK_ROWS", "100000"))
BLOCK = 8 << 20  # bytes read at a time
_HASH_KEYS = ("course-records-a", "course-records-b")  # two SipHash keys: 128 bits per distinct value
_LOOKUP_BATCH = 50_000  # keys per LMS query


class Irregular(Exception):
    """The reader has something to say about the file (or the chunked check cannot be exact): it
    is checked whole, as before."""


# --- the bytes ----------------------------------------------------------------------------

class Source:
    """A file's bytes: in memory, or a local path read as a stream (as many times as needed)."""

    def __init__(self, data: bytes | str | os.PathLike):
        if isinstance(data, bytes | bytearray | memoryview):
            self.data: bytes | None = bytes(data) if not isinstance(data, bytes) else data
            self.path = None
        else:
            self.data, self.path = None, os.fspath(data)

    def open(self) -> io.BufferedIOBase:
        return io.BytesIO(self.data) if self.data is not None else open(self.path, "rb")

    def size(self) -> int:
        return len(self.data) if self.data is not None else os.path.getsize(self.path)

    def read_bytes(self) -> bytes:
        if self.data is not None:
            return self.data
        with open(self.path, "rb") as stream:
            return stream.read()


@dataclass
class Facts:
    sha256: str
    lf: int  # line feeds
    cr: int  # carriage returns

    @property
    def line_ends(self) -> int:
        return self.lf or self.cr

    @property
    def rows(self) -> int:
        """About the data rows: the lines after the header."""
        return max(0, self.line_ends - 1)


def scan(source: Source) -> Facts:
    """Pass 0: the sha256 and the line ends, reading the bytes once."""
    digest, lf, cr = hashlib.sha256(), 0, 0
    with source.open() as stream:
        while block := stream.read(BLOCK):
            digest.update(block)
            lf += block.count(b"\n")
            cr += block.count(b"\r")
    return Facts(digest.hexdigest(), lf, cr)


def count_data_lines(source: Source, facts: Facts) -> int:
    """reader.count_data_lines, streamed: lines after the header with anything but spaces."""
    separator = b"\n" if facts.lf else b"\r"
    count, header, carry = 0, True, b""
    with source.open() as stream:
        while block := stream.read(BLOCK):
            parts = (carry + block).split(separator)
            carry = parts.pop()
            if header and parts:
                parts, header = parts[1:], False
            count += sum(1 for part in parts if part.strip())
    return count + (1 if not header and carry.strip() else 0)


# --- the rows, chunk by chunk --------------------------------------------------------------

def _texts(source: Source) -> Iterator[str]:
    decoder = codecs.getincrementaldecoder("utf-8")()
    first = True
    with source.open() as stream:
        while True:
            block = stream.read(BLOCK)
            try:
                text = decoder.decode(block, final=not block)
            except UnicodeDecodeError:
                raise Irregular("not UTF-8 (F01)") from None
            if first and text:
                first = False
                if text.startswith(BOM):
                    text = text[1:]
            if text:
                yield text
            if not block:
                return


def _end_of_lines(text: str, lines: int, count: int) -> int | None:
    """A position just after a line feed of `text` (which has `count` of them), about `lines` lines
    in, at which no quote is open (an even number of quotes before it); None when `text` has not
    enough lines yet."""
    if count < lines:
        return None
    if lines <= 1000:  # exactly `lines` lines
        end = -1
        for _ in range(lines):
            end = text.find("\n", end + 1)
        end += 1
    else:  # about `lines` lines: the line feed nearest to where they would end on average
        end = text.rfind("\n", 0, max(1, len(text) * lines // count)) + 1
        if end <= 0:
            end = text.find("\n") + 1
    quotes, extra = text.count('"', 0, end), 0
    while quotes % 2:  # inside a quoted value that spans lines: end after it
        following = text.find("\n", end)
        if following < 0:
            return None
        quotes += text.count('"', end, following + 1)
        end, extra = following + 1, extra + 1
        if extra > lines + 10_000:
            raise Irregular("a quote left open (F04)")
    return end


def _pieces(source: Source, rows: int) -> Iterator[tuple[str, int]]:
    """The text in pieces of whole records (about `rows` lines each; the first with the header),
    each with the line number of its first line."""
    pending, count, line, want = "", 0, 1, rows + 1
    for text in _texts(source):
        pending = pending + text if pending else text
        count += text.count("\n")
        while (end := _end_of_lines(pending, want, count)) is not None:
            piece, pending = pending[:end], pending[end:]
            lines = piece.count("\n")
            yield piece, line
            line, count, want = line + lines, count - lines, rows
        if len(pending) > 64 * BLOCK and count > 4 * want:
            raise Irregular("a quote left open (F04)")
    if pending:
        yield pending, line


class ChunkReader:
    """The file's rows in chunks, each exactly as reader.read_course_records would give those rows
    of the whole file (same values, same LINE numbers). Raises Irregular whenever the whole-file
    reader would report something (F01, F04, a header it cannot take) or read the rows otherwise."""

    def __init__(self, source: Source, facts: Facts, rows: int):
        if facts.lf == 0:
            raise Irregular("no line feed (one line, or CR line ends)")
        self.source, self.rows = source, rows
        self.header: list[str] = []
        self._header_line = ""

    def _take_header(self, text: str) -> None:
        first = _first_record(text)
        if isinstance(first, Issue) or not first or first == [""]:
            raise Irregular("header")
        if [name.strip().lower() for name in first][:1] in (["sep="], ["sep=;"], ["sep=\t"]):
            raise Irregular("sep= line")
        if len(first) == 1 and (";" in first[0] or "\t" in first[0]):
            raise Irregular("delimiter")
        if len(set(first)) != len(first):
            raise Irregular("repeated column names")
        self._header_line = text[: text.find("\n") + 1]
        if self._header_line.count('"') % 2:
            raise Irregular("a header across lines")
        if _first_record(self._header_line) != first:
            raise Irregular("header")
        self.header = first

    def chunks(self) -> Iterator[pd.DataFrame]:
        for piece, first_line in _pieces(self.source, self.rows):
            if first_line == 1:
                self._take_header(piece)
                text = piece
            else:
                text = self._header_line + piece
            if _quoting_problem(text) is not None:
                raise Irregular("quoting (F04)")
            columns = len(self.header)
            rows = _parse_fast(text, columns)
            if rows is None:
                if _BARE_CR.search(text):
                    raise Irregular("a CR inside a value")  # csv counts it as a line: whole-file reader
                rows, issues = _parse_exact(text, columns)
                if issues:
                    raise Irregular("rows of the wrong length (F04)")
            rows.columns = [*self.header, LINE]
            if first_line != 1:
                rows[LINE] += first_line - 2
            if len(rows):
                yield rows


# --- codes for strings --------------------------------------------------------------------

class Codes:
    """Distinct strings → int codes (in order of first appearance), across the chunks of a file.

    Only two 64-bit SipHashes per distinct value are kept; a clash of both on two different
    strings (about 2^-128) would be seen on one of them and stop the chunked check (Irregular)."""

    def __init__(self) -> None:
        self._h1 = np.empty(0, np.uint64)
        self._h2 = np.empty(0, np.uint64)
        self._code = np.empty(0, np.int64)
        self.count = 0

    def encode(self, values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
        """Each value's code (-1 for missing), and the new distinct strings (in code order)."""
        local, uniques = pd.factorize(values)
        strings = np.asarray(uniques, dtype=object)
        if len(strings) == 0:
            return np.full(len(values), -1, np.int32), strings
        h1 = pd.util.hash_array(strings, hash_key=_HASH_KEYS[0], categorize=False)
        h2 = pd.util.hash_array(strings, hash_key=_HASH_KEYS[1], categorize=False)
        position = np.searchsorted(self._h1, h1)
        inside = position < len(self._h1)
        found = np.zeros(len(h1), dtype=bool)
        found[inside] = self._h1[position[inside]] == h1[inside]
        if (self._h2[position[found]] != h2[found]).any():
            raise Irregular("hash clash")
        codes = np.empty(len(h1), np.int64)
        codes[found] = self._code[position[found]]
        new = np.flatnonzero(~found)
        if len(new):
            if len(pd.unique(h1[new])) != len(new):
                raise Irregular("hash clash")
            codes[new] = self.count + np.arange(len(new))
            self.count += len(new)
            order = new[np.argsort(h1[new], kind="stable")]
            at = np.searchsorted(self._h1, h1[order])
            self._h1 = np.insert(self._h1, at, h1[order])
            self._h2 = np.insert(self._h2, at, h2[order])
            self._code = np.insert(self._code, at, codes[order])
        out = np.where(local >= 0, codes[np.maximum(local, 0)], -1).astype(np.int32)
        return out, strings[new]


def _at(table: np.ndarray, index: np.ndarray, missing: int = -1) -> np.ndarray:
    """table[index], with `missing` where index is -1 (or the table is empty)."""
    return np.append(table, np.asarray(missing, dtype=table.dtype))[index]


def _grow(array: np.ndarray, size: int, fill: int) -> np.ndarray:
    return array if len(array) >= size else np.concatenate([array, np.full(size - len(array), fill, array.dtype)])


# --- pass 1: the keys ---------------------------------------------------------------------

def _column(rows: pd.DataFrame, present: set[str], name: str) -> pd.Series:
    import pyarrow as pa

    return enrich.trimmed(pa.array(rows[name])) if name in present else rows[name]


def _present(header: list[str]) -> set[str]:
    return {ALIASES.get(c, c) for c in header}


class Keys:
    """Pass 1: per row, the integer keys of the cross-row rules; per distinct key, the LMS learner."""

    def __init__(self, conn, importer: str, target_course: str | None):
        self.conn, self.importer, self.target_course = conn, importer, target_course
        self.user_ids, self.emails, self.courses, self.credit_types = Codes(), Codes(), Codes(), Codes()
        self.learner_of_user_id = np.empty(0, np.int64)  # by code; -1: not in the LMS
        self.learner_of_email = np.empty(0, np.int64)
        self.email_of_user_id = np.empty(0, np.int32)  # the first email code the file pairs with it
        self.user_id_of_email = np.empty(0, np.int32)
        self.by_user_id: list[tuple] = []  # the LMS learners the file names: rows of enrich's snapshot frames
        self.by_email: list[tuple] = []
        self._parts: dict[str, list[np.ndarray]] = {k: [] for k in
                                                    ("uid", "email", "course", "ctype", "line", "sig", "pairs")}

    def _lookup(self, sql: str, strings: np.ndarray, kept: list) -> np.ndarray:
        """The LMS learner of each string (-1: none); the learners found are kept in `kept`, as
        rows of enrich's snapshot frames (for pass 2, which then asks the LMS again for none)."""
        ids = np.full(len(strings), -1, np.int64)
        keys = [s for s in strings.tolist() if "\x00" not in s]  # as enrich._lookup_keys
        found: dict[str, int] = {}
        for start in range(0, len(keys), _LOOKUP_BATCH):
            with self.conn.cursor() as cur:
                cur.execute(sql, (enrich.text_array(keys[start:start + _LOOKUP_BATCH]),))
                for row in cur.fetchall():
                    found[row[1]] = row[0]
                    kept.append(row)
        if found:
            ids[:] = [found.get(s, -1) for s in strings.tolist()]
        return ids

    def add(self, rows: pd.DataFrame) -> None:
        self._add(rows)
        release_memory()

    def _add(self, rows: pd.DataFrame) -> None:
        present = _present([c for c in rows.columns if c != LINE])
        rows = enrich.canonical_columns(rows)
        uid = _column(rows, present, "external_user_id")
        email = _column(rows, present, "external_email").str.lower()
        if self.importer == "course":
            course = pd.Series(self.target_course, index=rows.index, dtype="str")
        else:
            course = _column(rows, present, "external_course_id")
        uid_codes, new_uids = self.user_ids.encode(uid)
        email_codes, new_emails = self.emails.encode(email)
        course_codes, _ = self.courses.encode(course)
        ctype_codes, _ = self.credit_types.encode(_column(rows, present, "credit_type"))
        self.learner_of_user_id = np.concatenate([self.learner_of_user_id, self._lookup(
            "SELECT id, external_user_id, lower(email) FROM lms.learner WHERE external_user_id = ANY(%s::text[])",
            new_uids, self.by_user_id)])
        self.learner_of_email = np.concatenate([self.learner_of_email, self._lookup(
            "SELECT id, lower(email), external_user_id FROM lms.learner WHERE lower(email) = ANY(%s::text[])",
            new_emails, self.by_email)])

        both = (uid_codes >= 0) & (email_codes >= 0)
        pair_uid, pair_email = uid_codes[both], email_codes[both]
        self._parts["pairs"].append(pd.unique((pair_uid.astype(np.int64) << 32) | pair_email.astype(np.int64)))
        self.email_of_user_id = _grow(self.email_of_user_id, self.user_ids.count, -1)
        self.user_id_of_email = _grow(self.user_id_of_email, self.emails.count, -1)
        first_uid, at = np.unique(pair_uid, return_index=True)
        unset = self.email_of_user_id[first_uid] < 0
        self.email_of_user_id[first_uid[unset]] = pair_email[at[unset]]
        first_email, at = np.unique(pair_email, return_index=True)
        unset = self.user_id_of_email[first_email] < 0
        self.user_id_of_email[first_email[unset]] = pair_uid[at[unset]]

        dates = {c: enrich._as_utc(_column(rows, present, c))
                 for c in ("enrollment_start", "enrollment_end", "date_completed")}
        signature = enrich.enrollment_signature(
            dates["enrollment_start"], dates["enrollment_end"], _column(rows, present, "complete"),
            dates["date_completed"], _column(rows, present, "attended"),
            _column(rows, present, "participant_category"))
        for name, values in (("uid", uid_codes), ("email", email_codes), ("course", course_codes),
                             ("ctype", ctype_codes), ("line", rows[LINE].to_numpy(dtype=np.int64)),
                             ("sig", signature.to_numpy(dtype=np.uint64))):
            self._parts[name].append(values)

    def finish(self) -> CrossKeys:
        parts, self._parts = self._parts, {}
        cross = CrossKeys.build(self, parts)
        release_memory()
        cross.learners_by_email = pd.DataFrame(self.by_email, columns=["id", "email_key", "external_user_id"])
        cross.learners_by_user_id = pd.DataFrame(self.by_user_id, columns=["id", "external_user_id", "email_key"])
        return cross


@dataclass
class CrossKeys:
    """What pass 1 knows of every row (positional arrays) and of every distinct key."""

    line: np.ndarray  # int64, increasing
    user_id: np.ndarray  # int32 codes, -1 missing
    email: np.ndarray
    enrollment: np.ndarray  # int32: the learner and course (the rows that stand or fall together)
    repeat: np.ndarray  # int32: the learner, course and credit type (R09)
    repeats: np.ndarray  # by repeat code: its rows in the file
    variants: np.ndarray  # by enrollment code: distinct enrollment signatures (R10)
    first_of_course: np.ndarray  # bool
    learner_of_user_id: np.ndarray
    learner_of_email: np.ndarray
    email_of_user_id: np.ndarray
    user_id_of_email: np.ndarray
    emails_of_user_id: np.ndarray  # by user id code: distinct emails with it
    user_ids_of_email: np.ndarray
    r09_at: np.ndarray  # positions of the repeated rows, and the other line each names
    r09_line: np.ndarray
    user_id_text: dict[int, str] = field(default_factory=dict)  # codes whose string a row needs
    email_text: dict[int, str] = field(default_factory=dict)
    r10_at: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))  # rows whose enrollment disagrees
    r10_values: np.ndarray = field(default_factory=lambda: np.empty(0, object))  # … the columns that do
    identical: np.ndarray | None = None  # bool, from pass 2
    learners_by_email: pd.DataFrame | None = None  # the LMS learners the file names (few, or the LMS's own)
    learners_by_user_id: pd.DataFrame | None = None

    def learners(self, user_ids: pd.Series, emails: pd.Series) -> tuple[pd.DataFrame, pd.DataFrame]:
        """What enrich.fetch_snapshot would read of the learners of a chunk's rows."""
        by_email, by_user_id = self.learners_by_email, self.learners_by_user_id
        by_email = by_email[by_email["email_key"].isin(emails.dropna().unique())].reset_index(drop=True)
        by_user_id = by_user_id[by_user_id["external_user_id"].isin(user_ids.dropna().unique())].reset_index(drop=True)
        return by_email, by_user_id

    @classmethod
    def build(cls, keys: Keys, parts: dict[str, list[np.ndarray]]) -> CrossKeys:
        """The cross-row columns, set-based on the keys (one array at a time: memory stays low)."""
        def take(name: str, dtype) -> np.ndarray:
            values = parts.pop(name)
            out = np.concatenate(values).astype(dtype, copy=False) if values else np.empty(0, dtype)
            values.clear()
            return out

        pairs = take("pairs", np.int64)
        pairs.sort()  # sorted, not hashed: no table of ten million entries
        pairs = pairs[np.r_[True, pairs[1:] != pairs[:-1]]] if len(pairs) else pairs
        emails_of_user_id = np.bincount(pairs >> 32, minlength=keys.user_ids.count)
        user_ids_of_email = np.bincount(pairs & 0xFFFFFFFF, minlength=keys.emails.count)
        del pairs
        uid, email, line = take("uid", np.int32), take("email", np.int32), take("line", np.int64)
        email_of_user_id = _grow(keys.email_of_user_id, keys.user_ids.count, -1)
        user_id_of_email = _grow(keys.user_id_of_email, keys.emails.count, -1)
        # The learner key of enrich._join_learners as one integer: the learner's id, else the
        # (paired) user id's code, else the (paired) email's code, else the line; kind in the top bits.
        key = _learner(uid, email, keys.learner_of_user_id, keys.learner_of_email, email_of_user_id,
                       user_id_of_email)
        unknown = np.flatnonzero(key < 0)
        u, e = uid[unknown], email[unknown]
        paired = np.where(u >= 0, u, _at(user_id_of_email, e))
        key[unknown[paired >= 0]] = (1 << 48) | paired[paired >= 0].astype(np.int64)
        unknown, u, e = unknown[paired < 0], u[paired < 0], e[paired < 0]
        del paired
        paired = np.where(e >= 0, e, _at(email_of_user_id, u))
        key[unknown[paired >= 0]] = (2 << 48) | paired[paired >= 0].astype(np.int64)
        unknown = unknown[paired < 0]
        key[unknown] = (3 << 48) | line[unknown]
        del unknown, u, e, paired
        release_memory()  # the chunks' parts, freed as they were joined: given back before the sorts
        key = _codes(key)  # dense: 0 … learners − 1
        course = take("course", np.int64) + 1
        key *= keys.courses.count + 2
        key += course
        release_memory()
        enrollment = _codes(key).astype(np.int32)
        del key
        first_of_course = np.zeros(len(line), dtype=bool)
        first_of_course[np.unique(course, return_index=True)[1]] = True
        del course
        variants = _variants(enrollment, take("sig", np.uint64))
        triple = enrollment.astype(np.int64) * (keys.credit_types.count + 2) + take("ctype", np.int64) + 1
        repeat, repeats = _repeats(triple)
        del triple
        r09_at, r09_line = _other_lines(repeat, repeats, line)
        return cls(line=line, user_id=uid, email=email, enrollment=enrollment, repeat=repeat, repeats=repeats,
                   variants=variants, first_of_course=first_of_course,
                   learner_of_user_id=keys.learner_of_user_id, learner_of_email=keys.learner_of_email,
                   email_of_user_id=email_of_user_id, user_id_of_email=user_id_of_email,
                   emails_of_user_id=emails_of_user_id, user_ids_of_email=user_ids_of_email,
                   r09_at=r09_at, r09_line=r09_line)

    def __len__(self) -> int:
        return len(self.line)

    def learner(self, start: int, stop: int) -> np.ndarray:
        return _learner(self.user_id[start:stop], self.email[start:stop], self.learner_of_user_id,
                        self.learner_of_email, self.email_of_user_id, self.user_id_of_email)

    def needs(self) -> tuple[set[int], set[int], np.ndarray]:
        """Strings the rows need from other rows (the paired user id or email of a row without
        one, whose learner is new), and the positions of the rows whose enrollment disagrees."""
        learner = self.learner(0, len(self))
        new = learner < 0
        no_uid = new & (self.user_id < 0) & (self.email >= 0)
        no_email = new & (self.email < 0) & (self.user_id >= 0)
        uids = _at(self.user_id_of_email, self.email[no_uid])
        emails = _at(self.email_of_user_id, self.user_id[no_email])
        disagreeing = np.flatnonzero(self.variants[self.enrollment] > 1)
        return set(uids[uids >= 0].tolist()), set(emails[emails >= 0].tolist()), disagreeing

    def cross_rows(self, start: int, stop: int) -> enrich.CrossRows:
        uid, email = self.user_id[start:stop], self.email[start:stop]
        learner = self.learner(start, stop)
        new = learner < 0
        fill_uid = np.where(new & (uid < 0), _at(self.user_id_of_email, email), -1)
        fill_email = np.where(new & (email < 0), _at(self.email_of_user_id, uid), -1)
        r09 = np.full(stop - start, -1, np.int64)
        low, high = np.searchsorted(self.r09_at, [start, stop])
        r09[self.r09_at[low:high] - start] = self.r09_line[low:high]
        r10 = np.full(stop - start, None, dtype=object)
        low, high = np.searchsorted(self.r10_at, [start, stop])
        r10[self.r10_at[low:high] - start] = self.r10_values[low:high]
        return enrich.CrossRows(
            first_row_of_course=self.first_of_course[start:stop].copy(),
            learner_id=_nullable(learner),
            user_id_of_email=_texts_of(fill_uid, self.user_id_text),
            email_of_user_id=_texts_of(fill_email, self.email_text),
            emails_of_user_id=_at(self.emails_of_user_id, uid, 0),
            user_ids_of_email=_at(self.user_ids_of_email, email, 0),
            enrollment_variants=self.variants[self.enrollment[start:stop]].astype(np.int64),
            r09_other_line=_nullable(r09),
            r10_columns=pd.Series(r10, dtype="str"),
            learners=self.learners,
        )


def _remove_quietly(path: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)


def _nullable(values: np.ndarray) -> pd.api.extensions.ExtensionArray:
    """int64 with -1 for missing → Int64."""
    return pd.arrays.IntegerArray(values.astype(np.int64), values < 0)


def _texts_of(codes: np.ndarray, texts: dict[int, str]) -> pd.Series:
    out = np.full(len(codes), None, dtype=object)
    for i in np.flatnonzero(codes >= 0):
        out[i] = texts[int(codes[i])]
    return pd.Series(out, dtype="str")


def _codes(values: np.ndarray) -> np.ndarray:
    """pd.factorize's codes of int64 keys (numbered in order of first appearance), by sorting: at
    ten million distinct keys a hash table costs ~600 MB for a moment, the sort half of it."""
    if len(values) == 0:
        return np.empty(0, np.int64)
    order = np.argsort(values, kind="stable")
    ordered = values[order]
    new = np.empty(len(values), dtype=bool)
    new[0] = True
    np.not_equal(ordered[1:], ordered[:-1], out=new[1:])
    del ordered
    group = np.cumsum(new, dtype=np.int32 if len(values) < 2**31 else np.int64) - 1  # rank of the key's value
    first = order[new]  # each value's first row (the sort is stable)
    del new
    rank = np.empty(len(first), dtype=np.int64)
    rank[np.argsort(first)] = np.arange(len(first))  # values numbered by their first row
    del first
    codes = np.empty(len(values), dtype=np.int64)
    codes[order] = rank[group]
    return codes


def _learner(uid, email, of_uid, of_email, email_of_uid, uid_of_email) -> np.ndarray:
    """enrich._join_learners' learner: by user id, by email, then through the file's pairings
    (the user id the file pairs with the row's email, the email it pairs with its user id).
    Each fallback is computed only for the rows still without one."""
    learner = _at(of_uid, uid)
    if not (of_uid >= 0).any() and not (of_email >= 0).any():
        return learner  # the LMS knows none of the file's learners
    for step in range(3):
        missing = np.flatnonzero(learner < 0)
        if not len(missing):
            break
        if step == 0:
            found = _at(of_email, email[missing])
        elif step == 1:
            u, e = uid[missing], email[missing]
            found = _at(of_uid, np.where(u >= 0, u, _at(uid_of_email, e)))
        else:
            u, e = uid[missing], email[missing]
            found = _at(of_email, np.where(e >= 0, e, _at(email_of_uid, u)))
        learner[missing] = found
    return learner


def _variants(enrollment: np.ndarray, signature: np.ndarray) -> np.ndarray:
    """By enrollment code: its distinct enrollment signatures (R10's `_enrollment_variants`).

    The codes number the enrollments in order of first appearance, so each one's first row is
    where the running maximum grows; only enrollments with a row unlike their first are counted
    exactly (they are few)."""
    groups = int(enrollment.max(initial=-1)) + 1
    variants = np.ones(groups, dtype=np.int64)
    if not len(enrollment):
        return variants
    running = np.maximum.accumulate(enrollment)
    first = np.flatnonzero(np.r_[True, enrollment[1:] > running[:-1]])
    del running
    differs = signature != signature[first][enrollment]
    if differs.any():
        mixed = np.unique(enrollment[differs])
        rows = np.flatnonzero(np.isin(enrollment, mixed))
        pairs = pd.DataFrame({"g": enrollment[rows], "s": signature[rows]}).drop_duplicates()
        counted = pairs["g"].value_counts()
        variants[counted.index.to_numpy()] = counted.to_numpy()
    return variants


def _repeats(triple: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For R09: per row, a code shared by the rows of the same learner, course and credit type
    when there are several (-1 for a row alone), and per code its rows in the file. Sorted, not
    hashed: ten million keys take one sorted copy."""
    ordered = np.sort(triple)
    repeated = np.unique(ordered[1:][ordered[1:] == ordered[:-1]])
    del ordered
    repeat = np.full(len(triple), -1, dtype=np.int32)
    if len(repeated):
        at = np.searchsorted(repeated, triple)
        hit = (at < len(repeated)) & (repeated[np.minimum(at, len(repeated) - 1)] == triple)
        repeat[hit] = at[hit]
    counts = np.bincount(repeat[repeat >= 0], minlength=len(repeated))
    return repeat, counts


def _other_lines(repeat: np.ndarray, repeats: np.ndarray, line: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For the rows whose learner, course and credit type repeat (R09): the other line to name —
    the first of them, or for the first, the second (enrich._describe_duplicates)."""
    at = np.flatnonzero(repeat >= 0)
    if len(at) == 0:
        return at.astype(np.int64), at.astype(np.int64)
    order = at[np.lexsort((at, repeat[at]))]
    groups = repeat[order]
    starts = np.flatnonzero(np.r_[True, groups[1:] != groups[:-1]])
    first = np.repeat(line[order[starts]], np.diff(np.r_[starts, len(order)]))
    second = np.repeat(line[order[starts + 1]], np.diff(np.r_[starts, len(order)]))
    other = np.where(first != line[order], first, second)
    back = np.argsort(order)
    return order[back], other[back]


# --- the extra pass: strings and disagreeing columns -----------------------------------------

def collect_needs(reader_chunks: Iterator[pd.DataFrame], keys: CrossKeys, importer: str,
                  target_course: str | None) -> None:
    uids, emails, disagreeing = keys.needs()
    if not uids and not emails and len(disagreeing) == 0:
        return
    values: dict[int, list[set[str]]] = {}
    start = 0
    for rows in reader_chunks:
        stop = start + len(rows)
        present = _present([c for c in rows.columns if c != LINE])
        canonical = enrich.canonical_columns(rows)
        for wanted, codes, texts, column in ((uids, keys.user_id, keys.user_id_text, "external_user_id"),
                                             (emails, keys.email, keys.email_text, "external_email")):
            if not wanted:
                continue
            codes = codes[start:stop]
            for i in np.flatnonzero(np.isin(codes, list(wanted))):
                if int(codes[i]) not in texts:
                    value = _column(canonical.iloc[[i]], present, column)
                    texts[int(codes[i])] = (value.str.lower() if column == "external_email" else value).iloc[0]
        low, high = np.searchsorted(disagreeing, [start, stop])
        if high > low:
            positions = disagreeing[low:high]
            subset = canonical.iloc[positions - start].reset_index(drop=True)
            typed = {"complete": _column(subset, present, "complete"),
                     "attended": _column(subset, present, "attended"),
                     "participant_category": _column(subset, present, "participant_category")}
            for column in ("enrollment_start", "enrollment_end", "date_completed"):
                typed[f"_{column}"] = enrich._as_utc(_column(subset, present, column))
            for k, position in enumerate(positions):
                sets = values.setdefault(int(keys.enrollment[position]),
                                         [set() for _ in enrich._ENROLLMENT_FIELDS])
                for j, (column, typed_column, _) in enumerate(enrich._ENROLLMENT_FIELDS):
                    sets[j].add(enrich._normalised(typed[typed_column].iloc[k], column))
        start = stop
    texts = []
    for position in disagreeing.tolist():
        sets = values[int(keys.enrollment[position])]
        texts.append(", ".join(
            column for (column, _, _), seen in zip(enrich._ENROLLMENT_FIELDS, sets, strict=True) if len(seen) > 1))
    keys.r10_at, keys.r10_values = disagreeing.astype(np.int64), np.asarray(texts, dtype=object)


# --- pass 2: the suite on each chunk -------------------------------------------------------

@dataclass
class ChunkedRows:
    """What a chunked check keeps of the rows (CheckResult.chunked): positional arrays, the raw
    values of the lines rejects.csv lists, and the spool of rows to stage."""

    keys: CrossKeys
    raw_columns: list[str]
    row_text: dict[int, str]  # line → the row's raw values joined (enrich.ROW_TEXT)
    spool: str | None = None  # CSV of the rows to stage (not identical to the LMS), in file order
    spooled: int = 0

    def positions(self, lines) -> np.ndarray:
        lines = np.asarray(sorted(lines), dtype=np.int64)
        return np.searchsorted(self.keys.line, lines)

    def discard(self) -> None:
        if self.spool and os.path.exists(self.spool):
            os.unlink(self.spool)
        self.spool = None


class LineSet(Set):
    """CheckResult.rejected_lines of a chunked check: a set of line numbers held as one sorted
    int64 array (ten million lines are 80 MB, not the gigabyte of a Python set)."""

    def __init__(self, lines=()) -> None:
        self.array = np.unique(np.asarray(lines if not isinstance(lines, set | frozenset) else sorted(lines),
                                          dtype=np.int64))

    @classmethod
    def _from_iterable(cls, iterable):
        return set(iterable)

    def __contains__(self, line: object) -> bool:
        if not isinstance(line, int | np.integer):
            return False
        at = np.searchsorted(self.array, line)
        return bool(at < len(self.array) and self.array[at] == line)

    def __iter__(self):
        return iter(self.array.tolist()) if len(self.array) < 1_000_000 else (int(x) for x in self.array)

    def __len__(self) -> int:
        return len(self.array)

    def __repr__(self) -> str:
        return f"LineSet({len(self)} lines)"


def line_array(lines) -> np.ndarray:
    return lines.array if isinstance(lines, LineSet) else np.asarray(sorted(lines), dtype=np.int64)


def fallen_with_their_enrollment(rows: ChunkedRows | None, rejected_lines, errors: list[Issue]) -> dict[int, Issue]:
    """report._fallen_with_their_enrollment on the keys: rejected lines without an error of their
    own → the first error of their enrollment (its learner and course)."""
    if rows is None:
        return {}
    keys = rows.keys
    error_lines = np.asarray(sorted({i.line for i in errors}), dtype=np.int64)
    rejected = line_array(rejected_lines)
    quiet = rejected[~np.isin(rejected, error_lines)]
    if len(quiet) == 0 or len(error_lines) == 0:
        return {}
    first_error: dict[int, Issue] = {}
    for issue in sorted(errors, key=lambda i: i.line):
        first_error.setdefault(issue.line, issue)
    at = np.searchsorted(keys.line, error_lines)
    known = (at < len(keys.line)) & (keys.line[np.minimum(at, len(keys.line) - 1)] == error_lines)
    cause_of_group: dict[int, Issue] = {}
    for line, group in zip(error_lines[known].tolist(), keys.enrollment[at[known]].tolist(), strict=True):
        cause_of_group.setdefault(group, first_error[line])
    quiet_at = np.searchsorted(keys.line, quiet)
    groups = keys.enrollment[quiet_at]
    hit = np.isin(groups, np.fromiter(cause_of_group, dtype=np.int64))
    return {line: cause_of_group[group] for line, group in zip(quiet[hit].tolist(), groups[hit].tolist(), strict=True)}


class MergedRun:
    """The chunks' results of one suite, combined as if GX had validated the whole file once."""

    def __init__(self) -> None:
        self.result: dict[str, Any] | None = None
        self.file_level_seen: set[str] = set()

    def add(self, result: dict[str, Any], ghost_counts: list[int], ghosts: int) -> None:
        for outcome, ghost in zip(result["results"], ghost_counts, strict=True):
            _drop_ghosts(outcome, ghost, ghosts)
        if self.result is None:
            self.result = result
            return
        for mine, theirs in zip(self.result["results"], result["results"], strict=True):
            mine["success"] = bool(mine["success"] and theirs["success"])
            _merge_outcome(mine["result"], theirs["result"])

    def finish(self) -> dict[str, Any]:
        result = self.result
        outcomes = result["results"]
        good = sum(1 for o in outcomes if o["success"])
        result["success"] = good == len(outcomes)
        result["statistics"] = {"evaluated_expectations": len(outcomes), "successful_expectations": good,
                                "unsuccessful_expectations": len(outcomes) - good,
                                "success_percent": 100.0 * good / len(outcomes) if outcomes else None}
        return result


_SHORT, _LONG = ("partial_unexpected_list", "partial_unexpected_index_list"), ("unexpected_list", "unexpected_index_list")


def _drop_ghosts(outcome: dict[str, Any], ghost_unexpected: int, ghosts: int) -> None:
    if not ghosts:
        return
    found = outcome.get("result") or {}
    for value_list, index_list in (_SHORT, _LONG):
        if isinstance(found.get(index_list), list):
            keep = [i for i, entry in enumerate(found[index_list]) if not (entry.get(LINE, 0) < 0)]
            found[index_list] = [found[index_list][i] for i in keep]
            if isinstance(found.get(value_list), list) and len(found[value_list]) >= len(keep):
                values = found[value_list]
                found[value_list] = [values[i] for i in keep if i < len(values)]
    if "unexpected_count" in found:
        found["unexpected_count"] -= ghost_unexpected
    kwargs = outcome.get("expectation_config", {}).get("kwargs", {})
    if "element_count" in found and not kwargs.get("row_condition"):
        found["element_count"] -= ghosts
    _percentages(found)


def _merge_outcome(mine: dict[str, Any], theirs: dict[str, Any]) -> None:
    for name in ("element_count", "unexpected_count", "missing_count"):
        if name in mine and name in theirs:
            mine[name] += theirs[name]
    if "observed_value" in mine and isinstance(mine["observed_value"], int) \
            and isinstance(theirs.get("observed_value"), int):
        mine["observed_value"] += theirs["observed_value"]  # table row count
    for names, limit in ((_SHORT, 20), (_LONG, validate.KEPT_UNEXPECTED)):
        for name in names:
            if isinstance(mine.get(name), list) and isinstance(theirs.get(name), list):
                mine[name] = (mine[name] + theirs[name])[:limit]
    if isinstance(mine.get("partial_unexpected_counts"), list):
        counted = Counter(_hashable(v) for v in mine.get("partial_unexpected_list", []))
        mine["partial_unexpected_counts"] = [{"value": v, "count": c} for v, c in counted.most_common()]
    _percentages(mine)


def _hashable(value: Any) -> Any:
    return value if isinstance(value, str | int | float | bool | type(None)) else str(value)


def _percentages(found: dict[str, Any]) -> None:
    if "element_count" not in found or "unexpected_count" not in found:
        return
    elements, unexpected, missing = found["element_count"], found["unexpected_count"], found.get("missing_count", 0)
    present = elements - missing
    if "unexpected_percent" in found:
        found["unexpected_percent"] = 100.0 * unexpected / present if present else None
    if "unexpected_percent_total" in found:
        found["unexpected_percent_total"] = 100.0 * unexpected / elements if elements else None
    if "unexpected_percent_nonmissing" in found:
        found["unexpected_percent_nonmissing"] = 100.0 * unexpected / present if present else None
    if "missing_percent" in found:
        found["missing_percent"] = 100.0 * missing / elements if elements else None


def _failure_key(failure: validate.Failure) -> str:
    import json

    return json.dumps([failure.meta, failure.kwargs], sort_keys=True, default=str)


def check_rows(result, reader: ChunkReader, keys: CrossKeys, conn, *, suites, now, missing_learners: str,
               assign_immediately: bool, spool: bool) -> None:
    """Pass 2: every chunk prepared and validated by the row suite; issues, identical rows, spool."""
    from include.course_records.load import stage_csv

    target = result.target
    merged = MergedRun()
    parameters = validate.parameters(now)
    identical = np.zeros(len(keys), dtype=bool)
    staged_groups = np.zeros(int(keys.enrollment.max(initial=-1)) + 1, dtype=bool)
    chunked = ChunkedRows(keys=keys, raw_columns=[], row_text={})
    if spool:
        handle, chunked.spool = tempfile.mkstemp(prefix="course-records-stage-", suffix=".csv")
        os.close(handle)
        # staged or discarded by the caller; else removed when the result goes (nothing left in /tmp)
        weakref.finalize(chunked, _remove_quietly, chunked.spool)
    start = 0
    definition = None
    try:
        for rows in reader.chunks():
            stop = start + len(rows)
            began = time.perf_counter()
            frame = enrich.prepare(rows, target.importer, target.course, conn, missing_learners=missing_learners,
                                   assign_immediately=assign_immediately, cross=keys.cross_rows(start, stop),
                                   own_transaction=False)
            prepared = time.perf_counter()
            chunked.raw_columns = frame.attrs.get(enrich.RAW_COLUMNS, [])
            run, ghosts = _validate_chunk(frame, keys, start, stop, suites["rows"], parameters, merged)
            definition = run.suite
            issues = validate.issues_from(run, frame, LINE)
            result.issues.extend(issues)
            errors = {i.line for i in issues if i.is_error}
            if errors:
                picked = frame.loc[frame[LINE].isin(errors), [LINE, enrich.ROW_TEXT]]
                chunked.row_text.update(zip(picked[LINE].astype(int).tolist(), picked[enrich.ROW_TEXT], strict=True))
            same = frame["_identical"].to_numpy(dtype=bool)
            identical[start:stop] = same
            if chunked.spool:  # rows with an error of their own never load (their values may not even fit)
                candidate = ~same & ~frame[LINE].isin(errors).to_numpy(dtype=bool)
                groups = keys.enrollment[start:stop][candidate]
                first = ~pd.Series(groups).duplicated().to_numpy() & ~staged_groups[groups]
                staged_groups[groups] = True
                with open(chunked.spool, "ab") as out:
                    chunked.spooled += stage_csv(frame[candidate], out, first_of_enrollment=first)
            del frame, rows
            release_memory()
            log.info("%s: rows %d–%d checked (%d ghosts for R09): prepared in %.2fs, validated in %.2fs",
                     target.path, start + 1, stop, ghosts, prepared - began, time.perf_counter() - prepared)
            start = stop
    except BaseException:
        chunked.discard()
        raise
    keys.identical = identical
    result.chunked = chunked
    run = validate.SuiteRun(definition, merged.finish(), [], [])
    result.suite_runs.append(run)


def _validate_chunk(frame: pd.DataFrame, keys: CrossKeys, start: int, stop: int, parts, parameters,
                    merged: MergedRun) -> tuple[validate.SuiteRun, int]:
    """The row suite on one chunk (with ghosts for R09), its failures as the whole file's."""
    repeat = keys.repeat[start:stop]
    repeated = np.flatnonzero(repeat >= 0)
    codes, count_here = np.unique(repeat[repeated], return_counts=True)
    lonely = repeated[np.isin(repeat[repeated], codes[count_here == 1])]
    checked = frame
    if len(lonely):
        ghosts = frame.iloc[lonely].copy()
        ghosts[LINE] = -np.arange(1, len(lonely) + 1, dtype=np.int64)
        checked = pd.concat([frame, ghosts], ignore_index=True)
        checked.attrs = frame.attrs
    run = validate.run_suite(checked, parts, LINE, parameters)
    ghost_counts = []
    failures = iter(run.failures)
    kept = []
    for outcome in run.result["results"]:
        if outcome["success"]:
            ghost_counts.append(0)
            continue
        failure = next(failures)
        if failure.keys is None:
            ghost_counts.append(0)
        else:
            real = [k for k in failure.keys if k >= 0]
            ghost_counts.append(len(failure.keys) - len(real))
            failure.keys = real
        if failure.keys is not None and not failure.keys:
            continue
        if failure.meta.get("level") == "file":  # one finding for the file: from its first chunk
            key = _failure_key(failure)
            if key in merged.file_level_seen:
                continue
            merged.file_level_seen.add(key)
        kept.append(failure)
    run.failures = kept
    merged.add(run.result, ghost_counts, len(lonely))
    return run, len(lonely)


def fetch_row_texts(reader: ChunkReader, chunked: ChunkedRows, lines: set[int]) -> None:
    """Pass 3, when rejects.csv lists lines that fell with their enrollment: their raw values."""
    wanted = np.asarray(sorted(set(lines) - set(chunked.row_text)), dtype=np.int64)
    if len(wanted) == 0:
        return
    for rows in reader.chunks():
        found = rows[LINE].isin(wanted)
        if found.any():
            names = [c for c in rows.columns if c != LINE]
            subset = rows[found].reset_index(drop=True)
            subset = enrich.trim(enrich.canonical_columns(subset), [ALIASES.get(c, c) for c in names], names)
            chunked.row_text.update(zip(subset[LINE].astype(int).tolist(), subset[enrich.ROW_TEXT], strict=True))

