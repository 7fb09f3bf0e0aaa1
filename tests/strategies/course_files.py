"""Hypothesis strategies: course-record files built from the format's grammar, and mutations of them.

`landing_files()` draws a `Drawn` file: its landing path (importer and course), the run's options
and its bytes. The grammar side makes files a careful partner would send for the demo catalogue
(both importers, existing and new learners, new courses, every column, one row per credit type);
the mutation side then breaks them the ways real files break: odd or oversized values, every
date and number shape, bytes and line ends, short and long rows, duplicate and conflicting rows,
quoting, and values PostgreSQL cannot store although Python can (NUL, huge ids, year 0).

Unit tests and the long fuzz run (`make fuzz`) share these.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import date, timedelta

from hypothesis import strategies as st

COLUMNS = (
    "external_course_id", "title", "external_user_id", "external_email", "first_name", "last_name",
    "enrollment_start", "enrollment_end", "complete", "date_completed", "credits", "credit_type",
    "credit_expiration", "attended", "participant_category",
)
# The demo catalogue: what each course offers (max, variable?), and who the LMS knows.
OFFERS = {
    "CARD-101": {"ama_pra_1": ("2.00", False), "ancc": ("2.00", True), "participation": ("2.00", True)},
    "NEURO-201": {"ama_pra_1": ("1.50", False)},
    "PHARM-301": {"ama_pra_1": ("3.00", True), "acpe": ("3.00", False), "abim_moc": ("3.00", False)},
}
TITLES = {"CARD-101": "Cardiology Update", "NEURO-201": "Stroke Care Essentials", "PHARM-301": "Opioid Prescribing"}
KNOWN = [("U1001", "ada@example.org", "Ada", "Lovelace"), ("U1002", "grace@example.org", "Grace", "Hopper"),
         ("U1003", "alan@example.org", "Alan", "Turing")]
NEW = [("N2001", "kim@example.org", "Kim", "Park"), ("N2002", "lee@example.org", "Lee", "Chan"),
       ("N2003", "ola@example.org", "Ola", "Nordmann"), ("N2004", "ravi@example.org", "Ravi", "Iyer"),
       ("N2005", "zoe@example.org", "Zoë", "O'Neil")]
NEW_COURSES = {"LEG-2019-ECG": "ECG Interpretation (2019)", "LEG-2018-ACLS": "ACLS refresher, 2018"}
TODAY = date(2026, 11, 29)  # the tests' clock (the check runs with now = this day at noon UTC)

# Values the database cannot take, or a person did not mean, though a parser reads them.
ODD_VALUES = [
    "", " ", "  padded  ", "\u00a0", "\u200b", "\ufeff", "\x00", "a\x00b", "\x1f", "\r", "\n", "tab\there",
    "<script>alert(1)</script>", '<img src=x onerror="alert(1)">', "a < b", "</td><script>x</script>", "<!--",
    "&amp;", "x<y", "<b>bold</b>", "javascript:alert(1)", "=HYPERLINK(\"http://x\")", "+1", "-1", "@SUM(A1)",
    "'; DROP TABLE lms.learner;--", "NULL", "null", "NaN", "None", "nan", "inf", "-0", "1e3", "0x10", "١٢", "½",
    "x" * 5000, "é" * 3000, "\U0001f600", "a,b", 'say "hi"', "\\N", "\u2028", "\ufffd",
]
DATE_SHAPES = [
    "2026-3-2", "2026/03/02", "2026", "2026-03", "03/02/2026", "2026-02-30", "2026-13-01", "0000-01-01",
    "-0001-01-01", "0001-01-01", "1899-12-31", "9999-12-31", "9999-12-31T23:59:59-05:00", "10000-01-01",
    "2026-05-31T14:00", "2026-05-31 14:00:00", "2026-05-31T14:00Z", "2026-05-31T25:00Z", "2026-05-31T14:00:00.123456789Z",
    "2026-05-31T14:00:00+14:00", "2026-05-31T14:00:00+99:00", "2026-05-31Z", "20260531", "31 May 2026",
    "2026-05-31 ", " 2026-05-31", "2026‐05‐31", "２０２６-05-31", "2027-01-01", "1970-01-01T00:00:00Z",
]
NUMBER_SHAPES = [
    "0", "0.00", "2", "2.0", "2.00", "2.000", "1.5", ".5", "5.", "9999.99", "10000", "-0.5", "1,5", "1 5",
    "2.00 ", "1e1", "Infinity", "0002.00", "99999999999999999999", "0.001", "3.00", "1.49",
]
EMAIL_SHAPES = [
    "mailto:kim@example.org", "kim@example.org;lee@example.org", "Kim <kim@example.org>", "kim@example", "@example.org",
    "kim@@example.org", "kim@example..org", "kim@.example.org", ".kim@example.org", "KIM@EXAMPLE.ORG",
    "ada@example.org", "Ada@Example.Org", "grace@example.org", "a" * 300 + "@example.org", "kim@exa mple.org",
    "kim@example.org.", "kim@例え.jp", "kim+tag@example.org",
]
USER_ID_SHAPES = ["U1001", "U1002", "U1003", "N2001", "u1001", " U1001", "U" * 3000, "0", "N2001\x00", ""]
CREDIT_TYPES = ["ama_pra_1", "ancc", "acpe", "aapa_1", "abim_moc", "participation", "AMA_PRA_1", "ama_pra_1;ancc",
                "ama_pra_1,ancc", "ama_pra_1/ancc", "unknown_type", "cme"]
COURSE_IDS = ["CARD-101", "NEURO-201", "PHARM-301", "LEG-2019-ECG", "card-101", "C" * 129, "C" * 128, "NOPE-999"]


@dataclass
class Drawn:
    """One generated landing file and the run options it is checked with."""

    path: str  # under the landing root: course/<id>/<name>.csv or global/<name>.csv
    data: bytes
    load_valid_rows: bool = False
    missing_learners: str = "create"
    assign_immediately: bool = True
    mutations: list[str] = field(default_factory=list)  # what was done to the clean file (for reports)

    @property
    def importer(self) -> str:
        return "course" if self.path.startswith("course/") else "global"


def _day(draw, low: date, high: date) -> date:
    return low + timedelta(days=draw(st.integers(0, max(0, (high - low).days))))


def _date_text(draw, day: date) -> str:
    shape = draw(st.sampled_from(["date", "date", "T", "space", "offset", "fraction"]))
    if shape == "date":
        return day.isoformat()
    hour, minute = draw(st.integers(0, 11)), draw(st.integers(0, 59))
    if shape == "T":
        return f"{day.isoformat()}T{hour:02d}:{minute:02d}:00Z"
    if shape == "space":
        return f"{day.isoformat()} {hour:02d}:{minute:02d}Z"
    if shape == "offset":
        return f"{day.isoformat()}T{hour + 12:02d}:{minute:02d}:00+02:00"
    return f"{day.isoformat()}T{hour:02d}:{minute:02d}:07.250Z"


@st.composite
def enrollment_rows(draw, course: str, learner: tuple[str, str, str, str], identity: str, known: bool,
                    importer: str) -> list[dict[str, str]]:
    """The rows of one learner's enrollment in one course: one per credit type (or one without)."""
    uid, email, first, last = learner
    start = _day(draw, date(2019, 1, 1), TODAY - timedelta(days=2))
    complete = draw(st.sampled_from(["1", "1", "0", ""]))
    base = {
        "external_course_id": course if (importer == "global" or draw(st.booleans())) else "",
        "title": NEW_COURSES.get(course, TITLES.get(course, "")),
        "external_user_id": uid if identity in ("uid", "both") else "",
        "external_email": (email if draw(st.booleans()) else email.upper()) if identity in ("email", "both") else "",
        "first_name": first if (not known or draw(st.booleans())) else "",
        "last_name": last if (not known or draw(st.booleans())) else "",
        "enrollment_start": _date_text(draw, start) if draw(st.integers(0, 5)) else "",
        "enrollment_end": "",
        "complete": complete,
        "date_completed": "",
        "credits": "", "credit_type": "", "credit_expiration": "",
        "attended": draw(st.sampled_from(["", "0", "1"])),
        "participant_category": draw(st.sampled_from(["physician", "other", ""])),
    }
    if draw(st.booleans()):
        base["enrollment_end"] = _date_text(draw, _day(draw, start, TODAY + timedelta(days=400)))
    if complete != "1":
        return [base]
    base["date_completed"] = _date_text(draw, _day(draw, start, TODAY - timedelta(days=1)))
    offers = OFFERS.get(course, {"ama_pra_1": ("99.99", True), "participation": ("5.00", True)})  # shells: any
    kinds = draw(st.lists(st.sampled_from(sorted(offers)), unique=True, max_size=len(offers)))
    if not kinds:
        return [base]
    rows = []
    for kind in kinds:
        maximum, variable = offers[kind]
        amount = maximum
        if variable and draw(st.booleans()):
            amount = f"{draw(st.integers(0, int(float(maximum) * 100))) / 100:.2f}"
        row = dict(base, credit_type=kind, credits=amount)
        if draw(st.booleans()):
            row["credit_expiration"] = _date_text(draw, _day(draw, start, date(2030, 12, 31)))
        rows.append(row)
    return rows


ADA_AS_HELD = {  # the row that is exactly what the LMS holds for Ada in CARD-101 (skipped, not loaded)
    "external_course_id": "CARD-101", "title": "", "external_user_id": "U1001", "external_email": "ada@example.org",
    "first_name": "Ada", "last_name": "Lovelace", "enrollment_start": "2026-03-01", "enrollment_end": "",
    "complete": "1", "date_completed": "2026-03-02", "credits": "2.00", "credit_type": "ama_pra_1",
    "credit_expiration": "", "attended": "", "participant_category": "physician",
}


@st.composite
def clean_files(draw) -> tuple[str, list[str], list[dict[str, str]]]:
    """A file as a careful partner would send it: (landing path, header, rows)."""
    importer = draw(st.sampled_from(["course", "course", "global"]))
    course = draw(st.sampled_from(sorted(OFFERS)))
    identity = draw(st.sampled_from(["email", "uid", "both", "both"]))
    path = f"course/{course}/gen.csv" if importer == "course" else "global/gen.csv"
    rows: list[dict[str, str]] = []
    pairs = set()
    for _ in range(draw(st.integers(1, 6))):
        known = draw(st.booleans())
        learner = draw(st.sampled_from(KNOWN if known else NEW))
        row_course = course if importer == "course" else draw(st.sampled_from([*OFFERS, *NEW_COURSES]))
        if (learner, row_course) in pairs:
            continue
        pairs.add((learner, row_course))
        if learner[0] == "U1001" and row_course == "CARD-101":
            rows.append(dict(ADA_AS_HELD))  # what the LMS holds already: identical, skipped
            continue
        if learner[0] == "U1003" and row_course == "NEURO-201":
            continue  # the LMS holds Alan's enrollment; a row for it is R13 unless identical
        rows.extend(draw(enrollment_rows(row_course, learner, identity, known, importer)))
    rows = draw(st.permutations(rows))
    needed = {"external_email": identity != "uid", "external_user_id": identity != "email",
              "external_course_id": importer == "global"}
    header = [c for c in COLUMNS if needed.get(c) or any(r[c] for r in rows) or draw(st.integers(0, 3)) == 0]
    if importer == "course" and "title" in header and not needed.get("title"):
        header.remove("title")
    header = draw(st.permutations(header))
    return path, list(header), rows


def to_csv(header: list[str], rows: list[dict[str, str]], *, quote_all: bool = False, line_end: str = "\n") -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator=line_end, quoting=csv.QUOTE_ALL if quote_all else csv.QUOTE_MINIMAL)
    writer.writerow(header)
    for row in rows:
        writer.writerow([row.get(c, "") for c in header])
    return out.getvalue()


# --- mutations ---------------------------------------------------------------------------------

CELL_SHAPES = {  # column → values that exercise its rule
    "external_email": EMAIL_SHAPES, "external_user_id": USER_ID_SHAPES, "credit_type": CREDIT_TYPES,
    "credits": NUMBER_SHAPES, "external_course_id": COURSE_IDS, "complete": ["0", "1", "", "2", "yes", "true", " 1"],
    "attended": ["0", "1", "", "Y"], "participant_category": ["physician", "other", "Physician", "nurse", ""],
    **{c: DATE_SHAPES for c in ("enrollment_start", "enrollment_end", "date_completed", "credit_expiration")},
}


@st.composite
def mutate_rows(draw, header: list[str], rows: list[dict[str, str]]) -> tuple[list[str], list[dict[str, str]], list[str]]:
    """Value- and row-level breakage: cells, duplicates, conflicts."""
    done = []
    rows = [dict(r) for r in rows]
    for _ in range(draw(st.integers(0, 3))):
        kind = draw(st.sampled_from(["cell", "cell", "odd", "duplicate", "conflict", "huge"]))
        if not rows:
            break
        i = draw(st.integers(0, len(rows) - 1))
        column = draw(st.sampled_from(header))
        if kind == "cell":
            rows[i][column] = draw(st.sampled_from(CELL_SHAPES.get(column, ODD_VALUES)))
        elif kind == "odd":
            rows[i][column] = draw(st.sampled_from(ODD_VALUES))
        elif kind == "duplicate":
            rows.insert(draw(st.integers(0, len(rows))), dict(rows[i]))
        elif kind == "conflict":
            changed = dict(rows[i])
            changed[column] = draw(st.sampled_from(CELL_SHAPES.get(column, ODD_VALUES)))
            rows.append(changed)
        else:
            rows[i][column] = draw(st.sampled_from(["x" * 200_000, "9" * 3000 + "@example.org", "U" * 100_000]))
        done.append(f"{kind}:{column}")
    return header, rows, done


@st.composite
def mutate_text(draw, text: str) -> tuple[str, list[str]]:
    """Structure-level breakage on the CSV text: header, rows' lengths, quoting, line ends."""
    done = []
    lines = text.split("\n")
    for _ in range(draw(st.integers(0, 2))):
        kind = draw(st.sampled_from(["short_row", "long_row", "header_space", "alias", "unknown_column",
                                     "twice_column", "blank_lines", "unbalanced_quote", "no_rows", "bare_cr",
                                     "quote_inside", "delimiter", "drop_header"]))
        body = [i for i in range(1, len(lines)) if lines[i]]
        if kind == "short_row" and body:
            i = draw(st.sampled_from(body))
            lines[i] = lines[i].rsplit(",", 1)[0] if "," in lines[i] else ""
        elif kind == "long_row" and body:
            lines[draw(st.sampled_from(body))] += ",extra"
        elif kind == "header_space":
            names = lines[0].split(",")
            j = draw(st.integers(0, len(names) - 1))
            names[j] = draw(st.sampled_from([names[j] + " ", " " + names[j], names[j].replace("_", "  "),
                                              names[j] + "\u00a0", "\ufeff" + names[j], names[j].upper()]))
            lines[0] = ",".join(names)
        elif kind == "alias":
            lines[0] = lines[0].replace("external_email", "external_mail")
        elif kind == "unknown_column":
            lines[0] += ",nickname"
            lines[1:] = [line + ",x" if line else line for line in lines[1:]]
        elif kind == "twice_column":
            first = lines[0].split(",")[0]
            lines[0] += "," + first
            lines[1:] = [line + "," if line else line for line in lines[1:]]
        elif kind == "blank_lines":
            lines.insert(draw(st.integers(1, len(lines))), draw(st.sampled_from(["", "   ", ",,,"])))
        elif kind == "unbalanced_quote" and body:
            lines[draw(st.sampled_from(body))] += '"'
        elif kind == "no_rows":
            lines = [*lines[:1], ""]
        elif kind == "bare_cr" and body:
            i = draw(st.sampled_from(body))
            cut = draw(st.integers(0, len(lines[i])))
            lines[i] = lines[i][:cut] + "\r" + lines[i][cut:]
        elif kind == "quote_inside" and body:
            i = draw(st.sampled_from(body))
            lines[i] = lines[i].replace(",", ',x"', 1)
        elif kind == "delimiter":
            lines = [line.replace(",", draw(st.sampled_from([";", "\t"]))) for line in lines]
        elif kind == "drop_header":
            lines = lines[1:]
        done.append(kind)
    return "\n".join(lines), done


@st.composite
def encode(draw, text: str) -> tuple[bytes, list[str]]:
    """Bytes and line ends: CRLF, CR only, a BOM, a byte that is not UTF-8, nothing at all."""
    kind = draw(st.sampled_from(["utf8"] * 6 + ["crlf", "cr_only", "bom", "latin1", "no_final_newline", "empty"]))
    if kind == "crlf":
        return text.replace("\n", "\r\n").encode(), [kind]
    if kind == "cr_only":
        return text.replace("\n", "\r").encode(), [kind]
    if kind == "bom":
        return ("\ufeff" + text).encode(), [kind]
    if kind == "latin1":
        return text.replace("a", "\u00e9", 1).encode("latin-1", errors="replace"), [kind]
    if kind == "no_final_newline":
        return text.rstrip("\n").encode(), [kind]
    if kind == "empty":
        return b"", [kind]
    return text.encode(), []


@st.composite
def landing_files(draw, *, mutate: bool = True) -> Drawn:
    """A generated file, clean or broken, with the options of the run that checks it."""
    path, header, rows = draw(clean_files())
    done: list[str] = []
    if mutate and draw(st.integers(0, 2)):
        header, rows, done = draw(mutate_rows(header, rows))
    text = to_csv(header, rows, quote_all=draw(st.integers(0, 5)) == 0)
    if mutate and draw(st.integers(0, 3)) == 0:
        text, more = draw(mutate_text(text))
        done += more
    data, more = draw(encode(text)) if mutate else (text.encode(), [])
    return Drawn(path=path, data=data, mutations=done + more,
                 load_valid_rows=draw(st.booleans()),
                 missing_learners=draw(st.sampled_from(["create", "create", "hold"])),
                 assign_immediately=draw(st.integers(0, 5)) > 0)
