"""HTML for people: the operator page and the notification mails, from Jinja templates.

Autoescaping is on for every template, so a value from a file (its name, a rule message quoting
a cell, a lock reason) is always text, never markup. Markdown (the file-format rules) is rendered
with raw HTML disabled, which escapes any tag written in it.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape

TEMPLATES = Path(__file__).resolve().parent / "templates"
RULE_ID = re.compile(r"^`?([FRW]\d{2})`?\b")
HTML_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)


@cache
def _environment() -> Environment:
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(default=True),
                      trim_blocks=True, lstrip_blocks=True)
    env.filters["when"] = when
    env.filters["duration"] = duration
    return env


def render(template: str, **values: Any) -> str:
    return _environment().get_template(template).render(**values)


def when(value: datetime | str | None) -> str:
    """A timestamp as ops read it: 2026-11-29 10:15:00 UTC."""
    if value is None or value == "":
        return "—"
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return value
    return f"{value:%Y-%m-%d %H:%M:%S} UTC" if value.utcoffset() in (None, timedelta(0)) else value.isoformat()


def duration(value: timedelta | None) -> str:
    if value is None:
        return "—"
    seconds = value.total_seconds()
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, seconds = divmod(round(seconds), 60)
    return f"{minutes} min {seconds:02d} s" if minutes < 60 else f"{minutes // 60} h {minutes % 60:02d} min"


def markdown(text: str) -> str:
    """Markdown as safe HTML (raw HTML escaped). Each rule id (R06, F02, W01…) gets one anchor, so
    issues can link to their rule: the heading that starts with it, else the table row that does."""
    from markdown_it import MarkdownIt

    md = MarkdownIt("commonmark", {"html": False}).enable("table")
    tokens = md.parse(HTML_COMMENT.sub("", text))  # markers for the people who edit it, not readers
    anchored: set[str] = set()
    for index, token in enumerate(tokens):
        if token.type == "heading_open":
            content = tokens[index + 1].content
            match = RULE_ID.match(content)
            anchor = match.group(1) if match and match.group(1) not in anchored else _slug(content)
            token.attrSet("id", anchor)
            anchored.add(anchor)
    for index, token in enumerate(tokens):
        if token.type == "tr_open":
            cell = next((t for t in tokens[index + 1:] if t.type == "inline"), None)
            match = RULE_ID.match(cell.content.strip()) if cell else None
            if match and match.group(1) not in anchored:
                token.attrSet("id", match.group(1))
                anchored.add(match.group(1))
    return md.renderer.render(tokens, md.options, {})


def _slug(text: str) -> str:
    return re.sub(r"[^\w-]+", "", text.strip().lower().replace(" ", "-"))
