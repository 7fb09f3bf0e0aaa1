"""Data Docs: the site where the data team reads every validation, written beside the landing root.

The site lives at a URL (`settings.data_docs_url()`: `file://`, `s3://conn@bucket/prefix` or
`sftp://conn@host/path`), written through ObjectStoragePath, so every worker of a cluster
publishes to it without a shared disk. The operator page serves it from there. Its layout:

    runs/<batch>.html                  one page per validated file: every check, what failed, the fix
    entries/YYYY/MM/DD/<batch>.json    one small entry per run, written once: the truth for the lists
    days/YYYY/MM/DD.json               the day's entries gathered (a cache, rebuilt from entries/)
    days/YYYY/MM/DD.html               every run of that day
    months/YYYY/MM.html                the days of the month that have runs
    index.html                         the newest runs, and the months

**Publishing costs the same whatever the history.** A publish renders its own run page and entry,
then the lists that run appears in: its day (its cache, plus any entry the cache lacks), its
month (one listing of ≤ 31 day pages) and the index (the newest day caches, and one listing of
month pages per year). Nothing reads the runs of other days or re-renders their pages; the one
cost that grows is the page of a busy day, which lists all of that day's runs.

**Several workers may publish at once, with no lock.** Run pages and entries have one writer
each (the batch id is unique). A list page has many: each publisher re-reads the list's inputs
after writing it, and writes again when they hold something its page lacks. The last writer of a
list therefore always sees every input written before its own write, so when publishers stop no
run is missing from its day, no day from its month, no month from the index. The site never
links to a page before it exists: each list is built from the pages below it, which are written
first. (Serving the lists dynamically would need no such care, but the site must stay readable
as plain files: from a `validate --report-dir` folder, a bucket, or the operator page.)
"""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import re
import secrets
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from include.course_records import datadocs_render, datadocs_text

if TYPE_CHECKING:
    from airflow.sdk import ObjectStoragePath

    from include.course_records.check import CheckResult

log = logging.getLogger(__name__)

VALIDATION_FILE = "validation.json"  # the run's payload, in its report folder beside summary.json
WINDOW = 50  # runs on the index page
SHOWN_ISSUES = 200  # findings listed on a run page; rejects.csv has all of them
_DAYS_AT_ONCE = 8  # day caches fetched together for the index (one round trip on S3 and SFTP)
_ATTEMPTS = 20  # rewrites of one list page while other publishers keep adding to it
_BATCH = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_LOCAL = frozenset({"file", "local"})
_OBJECT_STORES = frozenset({"s3", "s3a", "s3n", "gs", "gcs", "abfs", "abfss", "az", "adl"})


# --- what a validation leaves for the site -----------------------------------------------------

def payload(result: CheckResult, *, batch: str, file: str, run_time: str) -> dict[str, Any]:
    """A run's validation as the site needs it: the facts, the first findings, the GX results.

    Bounded whatever the file's size: at most SHOWN_ISSUES findings (with the totals), and the
    GX results as validate trims them. Each expectation gets its description and notes from meta.
    """
    severities = Counter(issue.severity for issue in result.issues)
    return {
        "batch": batch, "file": file, "sha256": result.sha256, "importer": result.target.importer,
        "course": result.target.course, "status": result.status, "time": run_time, "rows": result.counts(),
        "errors": severities.get("error", 0), "warnings": severities.get("warning", 0),
        "issues": [issue.as_dict() for issue in result.issues[:SHOWN_ISSUES]],
        "issues_total": len(result.issues),
        "validations": [{"suite": _described_suite(run.suite), "result": _described_result(run.result)}
                        for run in result.suite_runs],
    }


def _described_suite(suite: dict[str, Any]) -> dict[str, Any]:
    return {**suite, "expectations": [datadocs_text.describe(e) for e in suite["expectations"]]}


def _described_result(result: dict[str, Any]) -> dict[str, Any]:
    result = json.loads(json.dumps(result, default=str))  # a copy, and JSON all through
    for outcome in result.get("results", []):
        outcome["expectation_config"] = datadocs_text.describe(outcome.get("expectation_config") or {})
        (outcome.get("result") or {}).pop("unexpected_index_query", None)  # pandas code, for no reader
    return result


# --- publishing --------------------------------------------------------------------------------

def run_page(batch: str) -> str:
    """Where a run's page is, relative to the site root."""
    return f"runs/{_checked_batch(batch)}.html"


def publish_report(site_url: str, report_dir: ObjectStoragePath) -> str | None:
    """Publish the run whose report folder this is; None when it left no validation.

    The outcome shown is the run's own (loaded, rejected, locked…) from its summary.json.
    """
    try:
        run = json.loads((report_dir / VALIDATION_FILE).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    with contextlib.suppress(FileNotFoundError):  # a run that stopped before its summary keeps the check's verdict
        run["status"] = json.loads((report_dir / "summary.json").read_text(encoding="utf-8"))["status"]
    return publish(site_url, run)


def publish(site_url: str, run: dict[str, Any]) -> str:
    """Add one run to the site: its page, its entry, and the lists it appears in. Returns the page's URL."""
    from airflow.sdk import ObjectStoragePath  # Airflow only when a site is published (a cold `validate` is faster)

    site = _Site(ObjectStoragePath(site_url))
    batch = _checked_batch(run["batch"])
    day = _day_of(run["time"])
    site.write(run_page(batch), _run_html(run, day))
    site.write(f"entries/{day}/{batch}.json", json.dumps(_entry(run), ensure_ascii=False).encode())
    _converge(f"the day page of {day}", lambda: _write_day(site, day, batch),
              lambda shown: _entries_of(site, day) <= shown)
    month = day[:7]
    _converge(f"the month page of {month}", lambda: _write_month(site, month),
              lambda shown: set(_pages(site, f"days/{month}")) <= shown)
    _converge("the index", lambda: _write_index(site), lambda shown: _index_inputs(site) == shown)
    log.info("Data Docs: %s published to %s", batch, site.url(run_page(batch)))
    return site.url(run_page(batch))


def _converge(what: str, write: Callable[[], Any], complete: Callable[[Any], bool]) -> None:
    """Write a list page until, read again after the write, its inputs hold nothing it lacks."""
    for _ in range(_ATTEMPTS):
        if complete(write()):
            return
    log.warning("Data Docs: %s kept changing under %d rewrites; the next publish completes it", what, _ATTEMPTS)


def _checked_batch(batch: str) -> str:
    if not _BATCH.match(batch):
        raise ValueError(f"not a batch id: {batch!r}")
    return batch


def _day_of(iso: str) -> str:
    moment = datetime.fromisoformat(iso)
    return f"{moment.astimezone(UTC) if moment.tzinfo else moment:%Y/%m/%d}"


def _entry(run: dict[str, Any]) -> dict[str, Any]:
    """What the lists show of a run."""
    keys = ("batch", "file", "importer", "course", "status", "time", "rows", "errors", "warnings")
    return {key: run.get(key) for key in keys}


def _newest_first(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(entries, key=lambda e: (str(e.get("time")), str(e.get("batch"))), reverse=True)


# --- the pages ---------------------------------------------------------------------------------

def _run_html(run: dict[str, Any], day: str) -> bytes:
    validations = []
    for validation in run.get("validations", []):
        checks = datadocs_render.checks(validation)
        outcomes = Counter(c.outcome for c in checks)
        validations.append({"title": datadocs_render.suite_title(validation["suite"]["name"]),
                            "name": validation["suite"]["name"], "checks": checks, "failed": outcomes["failed"],
                            "warned": outcomes["warning"], "passed": outcomes["passed"]})
    status = datadocs_render.STATUS.get(run.get("status"), (str(run.get("status")), "neutral"))
    return _html("run.html.j2", root="../", run=run, status=status, validations=validations,
                 day_path=day, day_label=_day_label(day))


def _write_day(site: _Site, day: str, publishing: str) -> set[str]:
    """The day's cache and page, from the cache and the entries it lacks (and the one being
    published, which may be a run published again); returns the batches shown."""
    cached = _json(site.read(f"days/{day}.json"))
    rows: dict[str, dict[str, Any]] = cached if isinstance(cached, dict) else {}
    for batch in (_entries_of(site, day) - rows.keys()) | {publishing}:
        entry = _json(site.read(f"entries/{day}/{batch}.json"))
        if isinstance(entry, dict):
            rows[batch] = entry
    site.write(f"days/{day}.json", json.dumps(rows, ensure_ascii=False).encode())
    site.write(f"days/{day}.html", _html("day.html.j2", root="../../../", runs=_newest_first(list(rows.values())),
                                        label=_day_label(day), month_path=day[:7], month_label=_month_label(day[:7])))
    return set(rows)


def _write_month(site: _Site, month: str) -> set[str]:
    days = sorted(_pages(site, f"days/{month}"), reverse=True)
    site.write(f"months/{month}.html", _html(
        "month.html.j2", root="../../", label=_month_label(month),
        days=[{"path": f"{month}/{d}", "label": _day_label(f"{month}/{d}")} for d in days]))
    return set(days)


def _index_inputs(site: _Site) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """What the index shows: the months with a page, and the newest runs (batch ids)."""
    months = _months(site)
    return tuple(months), tuple(e["batch"] for e in _newest(site, months))


def _write_index(site: _Site) -> tuple[tuple[str, ...], tuple[str, ...]]:
    months = _months(site)
    newest = _newest(site, months)
    site.write("index.html", _html("index.html.j2", root="", runs=newest, window=WINDOW,
                                   months=[{"path": m, "label": _month_label(m)} for m in months]))
    return tuple(months), tuple(e["batch"] for e in newest)


def _months(site: _Site) -> list[str]:
    """Every month with a page, newest first: one listing per year."""
    return [f"{year}/{month}" for year in sorted(site.names("months"), reverse=True)
            for month in sorted(_pages(site, f"months/{year}"), reverse=True)]


def _newest(site: _Site, months: list[str]) -> list[dict[str, Any]]:
    """The WINDOW newest runs, from the newest day caches only (at most WINDOW of them, read a few at a time)."""
    found: list[dict[str, Any]] = []
    days = (f"days/{month}/{day}.json" for month in months for day in sorted(_caches(site, f"days/{month}"), reverse=True))
    while len(found) < WINDOW and (batch := list(itertools.islice(days, _DAYS_AT_ONCE))):
        for cached in map(_json, site.read_many(batch)):
            found.extend(cached.values() if isinstance(cached, dict) else [])
    return _newest_first(found)[:WINDOW]


def _entries_of(site: _Site, day: str) -> set[str]:
    return {name.removesuffix(".json") for name in site.names(f"entries/{day}") if name.endswith(".json")}


def _pages(site: _Site, folder: str) -> list[str]:
    return [name.removesuffix(".html") for name in site.names(folder) if name.endswith(".html")]


def _caches(site: _Site, folder: str) -> list[str]:
    return [name.removesuffix(".json") for name in site.names(folder) if name.endswith(".json")]


def _html(template: str, **context: Any) -> bytes:
    text = datadocs_render.render(template, written=datetime.now(UTC).isoformat(), **context)
    return text.encode("utf-8", errors="backslashreplace")


def _json(data: bytes | None) -> Any:
    if data is None:
        return None
    try:
        return json.loads(data)
    except ValueError:  # caught mid-write on a store without atomic replace: rebuilt from the entries
        return None


def _day_label(day: str) -> str:
    moment = datetime.strptime(day, "%Y/%m/%d")
    return f"{moment:%A} {moment.day} {moment:%B %Y}"


def _month_label(month: str) -> str:
    return datetime.strptime(month, "%Y/%m").strftime("%B %Y")


# --- the store ---------------------------------------------------------------------------------

class _Site:
    """The site's files on its store: whole-file reads and writes, and fresh listings."""

    def __init__(self, root: ObjectStoragePath) -> None:
        self.root, self.fs = root, root.fs
        self.base = root.path.rstrip("/")

    def url(self, relative: str) -> str:
        from include.course_records import landing

        return landing.url_of(self.root / relative)

    def _path(self, relative: str) -> str:
        return f"{self.base}/{relative}"

    def read(self, relative: str) -> bytes | None:
        try:
            return self.fs.cat_file(self._path(relative))
        except FileNotFoundError:
            return None

    def read_many(self, relatives: list[str]) -> list[bytes | None]:
        """Several files at once (concurrently on remote stores), None for any that is missing."""
        found = self.fs.cat([self._path(r) for r in relatives], on_error="omit")
        return [found.get(self._path(r)) for r in relatives]

    def write(self, relative: str, data: bytes) -> None:
        """Replace the file whole. Locally through a rename, so a reader never sees half a page;
        object stores replace an object in one PUT; on SFTP a reader may catch a page mid-write,
        which the next read corrects."""
        path = self._path(relative)
        if self.root.protocol not in _OBJECT_STORES:
            self.fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)  # never on object stores: s3fs makes buckets
        if self.root.protocol in _LOCAL:
            temporary = f"{path}.{secrets.token_hex(6)}.tmp"
            self.fs.pipe_file(temporary, data)
            self.fs.mv(temporary, path)
        else:
            self.fs.pipe_file(path, data)

    def names(self, folder: str) -> list[str]:
        """The names in a folder as the store holds them now (no cached listing); [] when there is none."""
        path = self._path(folder)
        self.fs.invalidate_cache(path)
        try:
            listed = self.fs.ls(path, detail=False)
        except FileNotFoundError:
            return []
        return [name.rstrip("/").rsplit("/", 1)[-1] for name in listed if not name.endswith(".tmp")]
