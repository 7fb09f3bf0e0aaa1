"""Is every file value inert in a Data Docs site? A check any test can run on a published site.

    from include.course_records import datadocs, datadocs_audit
    site = (tmp_path / "site").as_uri()  # or any published site's URL (s3://…, sftp://…)
    datadocs.publish(site, datadocs.payload(result, batch="b1", file=path, run_time=now.isoformat()))
    assert datadocs_audit.leaks(site, values_from_the_file) == []

Three checks, all exact (no false alarm on the site's own markup):

1. Every `<` in a page starts a tag, a comment or a declaration: the site writes no other, so a
   raw `<` in text (`a < b`, `x<`, `<3`) came from a file.
2. Every page parses into only the elements and attributes the site's templates write, with no
   comment, no processing instruction, and links that stay inside the site. Markup that came
   from a file would show up as something else (a <script>, an onerror=, a javascript: link).
3. No value holding markup the site never writes (`<script`, `<img`, `<!--`…) appears raw in any
   page: escaped, it reads `&lt;script`. This one names the value.

What no check can see is a value made only of the site's own harmless markup (`<td>`,
`<strong>x</strong>`), which is indistinguishable from it and could run nothing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import cache
from html.parser import HTMLParser

from airflow.sdk import ObjectStoragePath

from include.course_records.datadocs_render import TEMPLATES

_TAG = re.compile(r"<([a-zA-Z][a-zA-Z0-9]*)\b([^>]*)>")
_ATTRIBUTE = re.compile(r"\s([a-zA-Z][a-zA-Z-]*)=")
_QUOTED = re.compile(r'"[^"]*"')
_MARKUP_IN_VALUE = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9-]*)|<[!?]")
_STRAY_LESS_THAN = re.compile(r"(?=((?:<(?![A-Za-z!?/])|</(?![A-Za-z])).{0,12}))", re.S)  # with what follows, for the message
_SCHEME = re.compile(r"^\s*[a-zA-Z][a-zA-Z0-9+.-]*:")


@cache
def vocabulary() -> dict[str, frozenset[str]]:
    """Every element the templates write, with the attributes each may carry."""
    found: dict[str, set[str]] = {"span": {"class", "title"}}  # datadocs_render.visible()
    for template in TEMPLATES.glob("*.j2"):
        for name, attributes in _TAG.findall(template.read_text(encoding="utf-8")):
            unquoted = _QUOTED.sub('""', " " + attributes)  # "width=device-width, initial-scale=1" is a value
            found.setdefault(name.lower(), set()).update(a.lower() for a in _ATTRIBUTE.findall(unquoted))
    return {name: frozenset(attributes) for name, attributes in found.items()}


def pages(site_url: str) -> dict[str, str]:
    """Every HTML page of the site, by its path under the site root."""
    root = ObjectStoragePath(site_url)
    base = root.path.rstrip("/")
    root.fs.invalidate_cache()
    found = root.fs.find(base, withdirs=False)
    return {name[len(base) + 1:]: root.fs.cat_file(name).decode("utf-8")
            for name in sorted(found) if name.endswith(".html")}


def leaks(site_url: str, values: Iterable[object]) -> list[str]:
    """Where file values are not inert in the site: one line per problem, [] when there is none."""
    return page_leaks(pages(site_url), values)


def page_leaks(html_pages: dict[str, str], values: Iterable[object]) -> list[str]:
    """The same check on pages already read (name → HTML)."""
    suspicious = sorted({str(v) for v in values if v is not None and _foreign_markup(str(v))})
    problems = []
    for name, html in html_pages.items():
        problems.extend(f"{name}: a raw {m.group(1)!r} in text" for m in _STRAY_LESS_THAN.finditer(html))
        problems.extend(f"{name}: {problem}" for problem in _structure_problems(html))
        problems.extend(f"{name}: the value {value!r} is written unescaped" for value in suspicious if value in html)
    return problems


def _foreign_markup(value: str) -> bool:
    """Does the value hold markup the site never writes (so its raw presence can only be a leak)?"""
    known = vocabulary()
    for match in _MARKUP_IN_VALUE.finditer(value):
        name = match.group(2)
        if name is None or name.lower() not in known:
            return True
    return False


class _Structure(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []
        self.known = vocabulary()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in self.known:
            self.problems.append(f"an element the site never writes: <{tag}>")
            return
        for name, value in attrs:
            if name not in self.known[tag]:
                self.problems.append(f"an attribute the site never writes: <{tag} {name}=…>")
            elif name == "href" and (value is None or _SCHEME.match(value) or value.startswith(("/", "\\"))):
                self.problems.append(f"a link out of the site: {value!r}")

    handle_startendtag = handle_starttag

    def handle_comment(self, data: str) -> None:
        self.problems.append("a comment (the site writes none)")

    def handle_pi(self, data: str) -> None:
        self.problems.append("a processing instruction")

    def unknown_decl(self, data: str) -> None:
        self.problems.append(f"a declaration: {data[:40]!r}")

    def handle_decl(self, decl: str) -> None:
        if decl.lower() != "doctype html":
            self.problems.append(f"a declaration: {decl[:40]!r}")


def _structure_problems(html: str) -> list[str]:
    parser = _Structure()
    parser.feed(html)
    parser.close()
    return parser.problems
