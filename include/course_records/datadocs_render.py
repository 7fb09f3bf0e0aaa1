"""HTML for the Data Docs site: one Jinja2 environment that escapes everything it is given.

Every value that comes from a file (cells, header names, the file's name) is data to the
templates: autoescape is on for every template whatever its name, and the only markup built in
Python is `visible()`, which escapes each character it keeps. No page has a script or loads
anything from elsewhere: the stylesheet is inlined, and a Content-Security-Policy forbids
scripts, so the pages read the same offline, from a file, or served by the operator page.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

from markupsafe import Markup, escape

from include.course_records import datadocs_text
from include.course_records.reader import LINE
from include.course_records.validate import HEADER_KEY

TEMPLATES = Path(__file__).resolve().parent / "datadocs_templates"
SHOWN_LINES = 20  # line numbers listed per failed check (the count is always the full one)
SHOWN_VALUES = 10  # distinct unexpected values listed per failed check
SHOWN_CHARS = 120  # a longer value is cut; rejects.csv has it whole

# Characters that show nothing, or look like a plain space, spelled out where they stand.
_NAMED = {"\t": "tab", "\n": "LF", "\r": "CR", "\ufeff": "BOM", "\ufffd": "U+FFFD replacement character"}
_SPACE_MARK = "␣"


def _invisible(ch: str) -> bool:
    return ch in _NAMED or not ch.isprintable()


def _char_name(ch: str) -> str:
    return _NAMED.get(ch) or unicodedata.name(ch, "").lower() or f"U+{ord(ch):04X}"


def visible_text(value: object, limit: int = SHOWN_CHARS) -> str:
    """The value as plain text with its invisible characters spelled out (for titles, attributes)."""
    return "".join(text for text, _ in _pieces(value, limit))


def visible(value: object, limit: int = SHOWN_CHARS) -> Markup:
    """The value as safe HTML: every character escaped, spaces at the edges or doubled shown as ␣,
    invisible characters (controls, zero-width, no-break spaces, BOM, U+FFFD) shown by name."""
    out = []
    for text, title in _pieces(value, limit):
        if title is None:
            out.append(escape(text))
        else:
            out.append(Markup('<span class="invisible" title="{}">{}</span>').format(title, text))
    return Markup('<span class="value">{}</span>').format(Markup("").join(out))


def _pieces(value: object, limit: int) -> list[tuple[str, str | None]]:
    """(text, None) for ordinary text, (marker, name) for a character a person could not see."""
    text = "" if value is None else str(value)
    cut = len(text) > limit
    text = text[:limit]
    pieces: list[tuple[str, str | None]] = []
    last = len(text) - 1
    for i, ch in enumerate(text):
        if ch == " " and (i == 0 or (i == last and not cut) or text[i - 1] == " " or (i < last and text[i + 1] == " ")):
            pieces.append((_SPACE_MARK, "space"))
        elif _invisible(ch):
            pieces.append((f"⟨{_char_name(ch)}⟩", f"U+{ord(ch):04X}"))
        elif pieces and pieces[-1][1] is None:
            pieces[-1] = (pieces[-1][0] + ch, None)
        else:
            pieces.append((ch, None))
    if cut:
        pieces.append((f"… ({len(str(value)) - limit} more characters)", "cut"))
    return pieces


@cache
def _environment():
    from jinja2 import Environment, FileSystemLoader, StrictUndefined

    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=True, undefined=StrictUndefined,
                      trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    env.filters["visible"] = visible
    env.filters["visible_text"] = visible_text
    env.filters["when"] = _when
    env.filters["number"] = lambda n: f"{n:,}" if isinstance(n, int) else ("" if n is None else str(n))
    env.globals["gx_version"] = _gx_version()
    env.globals["STATUS"] = STATUS
    return env


def _gx_version() -> str:
    from importlib.metadata import version

    return version("great_expectations")


def _when(iso: str) -> str:
    try:
        moment = datetime.fromisoformat(iso)
    except (TypeError, ValueError):
        return str(iso)
    return f"{moment.astimezone(UTC) if moment.tzinfo else moment:%Y-%m-%d %H:%M:%S} UTC"


# How each outcome of a run reads, and the style that marks it.
STATUS: dict[str, tuple[str, str]] = {
    "accepted": ("Accepted", "passed"),
    "loaded": ("Loaded", "passed"),
    "rejected": ("Rejected", "failed"),
    "duplicate_file": ("Duplicate: skipped", "neutral"),
    "locked": ("Locked: not loaded", "warning"),
    "failed": ("Load failed", "failed"),
}


def render(template: str, **context: Any) -> str:
    return _environment().get_template(template).render(**context)


# --- the checks of one validation, as a person reads them --------------------------------------

@dataclass
class Check:
    """One expectation's outcome: what it looks for, why, how to fix, and where it failed."""

    outcome: str  # failed | warning | passed | not_run
    rule: str
    severity: str
    description: str
    notes: list[str]
    gx_type: str
    subject: str | None
    unexpected: int | None = None
    where: list[str] = field(default_factory=list)  # "line 3", or "header column 2"
    values: list[tuple[Any, int]] = field(default_factory=list)  # (a value as the file has it, how many rows)

    @property
    def label(self) -> str:
        return {"failed": "✘ Failed", "warning": "⚠ Warning", "passed": "✔ Passed", "not_run": "– Not run"}[self.outcome]

    @property
    def counted(self) -> bool:
        """Do the values' counts add up to every failing row? (GX counts a sample on big files.)"""
        return sum(count for _, count in self.values) == self.unexpected

    @property
    def more(self) -> int:
        return max((self.unexpected or 0) - len(self.where), 0)


_ORDER = {"failed": 0, "not_run": 1, "warning": 2, "passed": 3}


def checks(validation: dict[str, Any]) -> list[Check]:
    """Every expectation of one validation, failed first, each described from its meta."""
    out = []
    for outcome in validation["result"].get("results", []):
        config = outcome.get("expectation_config") or {}
        meta, kwargs = config.get("meta") or {}, config.get("kwargs") or {}
        if "rule" not in meta:
            continue
        result = outcome.get("result") or {}
        raised = (outcome.get("exception_info") or {}).get("raised_exception")
        failed = not outcome.get("success")
        state = "not_run" if raised else ("passed" if not failed else ("warning" if meta["severity"] == "warning" else "failed"))
        about = datadocs_text.subject(meta, kwargs)
        check = Check(state, meta["rule"], meta["severity"],
                      config.get("description") or datadocs_text.description(meta, kwargs),
                      list(config.get("notes") or datadocs_text.notes(meta)), config.get("type", ""), about,
                      result.get("unexpected_count"))
        if failed:
            check.where = [_where(index) for index in (result.get("unexpected_index_list") or [])[:SHOWN_LINES]]
            if kwargs.get("column") in datadocs_text.CELL_COLUMNS:  # not internal values, nor a row's joined text
                check.values = [(v.get("value"), v.get("count", 0))
                                for v in (result.get("partial_unexpected_counts") or [])[:SHOWN_VALUES]]
        out.append(check)
    out.sort(key=lambda c: (_ORDER[c.outcome], c.rule))
    return out


def _where(index: Any) -> str:
    """A row of the checked frame as the file knows it: its line, or the header's column number."""
    if isinstance(index, dict):
        if LINE in index:
            return f"line {index[LINE]}"
        if HEADER_KEY in index:
            return f"header column {index[HEADER_KEY]}"
    return str(index)


def suite_title(name: str) -> str:
    return "Header checks" if name.split("+")[0].endswith(".header") else "Row checks"
