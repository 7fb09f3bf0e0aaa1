"""Run the Great Expectations suites and turn their results into issues with line numbers.

GX is the rule engine: every rule is an expectation in `expectations/*.json`, whose `meta`
names its rule id, severity, the column to report and the message. This module only runs the
suites (one validation per frame, with an ephemeral context, which is safe under concurrent
tasks) and maps each failed expectation's unexpected rows back to the file's own lines.
"""

from __future__ import annotations

import json
import logging
import re
import string
import threading
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from typing import Any

import pandas as pd

from include.course_records import gx_speed, settings
from include.course_records.enrich import RAW_COLUMNS, ROW_TEXT, SEPARATOR
from include.course_records.issues import Issue, quoted
from include.course_records.reader import LINE
from include.course_records.record_format import ALIASES

log = logging.getLogger(__name__)

HEADER_KEY = "position"
KEPT_UNEXPECTED = 200  # unexpected rows kept per expectation in the JSON result (Data Docs)
SUITES: dict[str, dict[str, tuple[str, ...]]] = {
    "course": {"header": ("header",), "rows": ("rows", "rows.course")},
    "global": {"header": ("header", "header.global"), "rows": ("rows", "rows.global")},
}


@dataclass
class Failure:
    """One failed expectation: its config, the keys of the rows it found (None: table-level)."""

    meta: dict[str, Any]
    kwargs: dict[str, Any]
    keys: list[Any] | None
    observed: Any = None


@dataclass
class SuiteRun:
    """One suite's validation: what failed, the GX result as JSON (for Data Docs), the issues."""

    suite: dict[str, Any]  # the merged suite definition that ran (GX's JSON form)
    result: dict[str, Any]
    failures: list[Failure] = field(default_factory=list)
    issues: list[Issue] = field(default_factory=list)


def suite_definition(parts: tuple[str, ...]) -> dict[str, Any]:
    """The suites named, from their JSON files, merged into one (one validation, one batch)."""
    expectations: list[dict[str, Any]] = []
    for part in parts:
        expectations.extend(_suite_file(part)["expectations"])
    name = "course_records." + "+".join(p.removeprefix("course_records.") for p in parts)
    return {"name": name, "expectations": expectations}


@cache
def _suite_file(part: str) -> dict[str, Any]:
    return json.loads((settings.EXPECTATIONS_DIR / f"{part}.json").read_text(encoding="utf-8"))


def header_frame(header: list[str]) -> pd.DataFrame:
    """One row per header name, as written and as it would be read (aliases resolved)."""
    cleaned = ["".join(ch for ch in name if ch.isprintable() and not ch.isspace()) for name in header]
    return pd.DataFrame({
        "name": pd.Series(header, dtype="str"),
        "canonical": pd.Series([ALIASES.get(c, c) for c in cleaned], dtype="str"),
        HEADER_KEY: range(1, len(header) + 1),
    })


@cache
def _gx_batch_definition() -> Any:
    gx = gx_speed.load()
    import great_expectations.execution_engine.pandas_execution_engine as pandas_engine
    from great_expectations.data_context.types.base import ProgressBarsConfig

    # GX fingerprints every in-memory batch by hashing the whole frame (~0.3 s per million rows)
    # only to label it; we label runs ourselves. Internal knob: GX is pinned in requirements.txt.
    pandas_engine.HASH_THRESHOLD = 0
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    asset = context.data_sources.add_pandas("course_records").add_dataframe_asset("landing_file")
    return asset.add_batch_definition_whole_dataframe("whole_file")  # keeps its context alive


_preloading: list[threading.Thread] = []


def preload() -> None:
    """Import GX and make its context in a background thread, while the caller reads the file
    (pyarrow's reader and hashing let go of the GIL): 2–3 s of a cold process's imports hidden.
    `run_suite` waits for it; were it to fail, `run_suite` does the same again and says why."""
    if _gx_batch_definition.cache_info().currsize or _preloading:
        return
    thread = threading.Thread(target=_gx_batch_definition, name="gx-preload", daemon=True)
    _preloading.append(thread)
    thread.start()


def _batch_definition() -> Any:
    while _preloading:
        _preloading.pop().join()
    return _gx_batch_definition()


def _forget(batch: Any) -> None:
    """Drop what GX keeps of a validated batch. The datasource keeps one execution engine for the
    life of the context (this module's, the process's), and the engine every batch it was given
    and every metric computed on it: a million-row frame stayed in memory after its check, into
    the next task of the process, and a chunked check kept every chunk's metrics."""
    engine = getattr(getattr(batch, "data", None), "execution_engine", None)
    if engine is None:
        return
    engine.batch_manager.batch_data_cache.clear()
    engine.batch_manager.reset_batch_cache()
    cache = getattr(engine, "_metric_cache", None)  # GX is pinned in requirements.txt
    if isinstance(cache, dict):
        cache.clear()


def run_suite(frame: pd.DataFrame, parts: tuple[str, ...], key: str,
              parameters: dict[str, Any]) -> SuiteRun:
    """Validate `frame` with the merged suite; `key` is the column that identifies a row."""
    batch_definition = _batch_definition()
    gx = gx_speed.load()
    definition = suite_definition(parts)
    suite = gx.ExpectationSuite(**definition)
    if len(suite.expectations) != len(definition["expectations"]):  # GX drops bad ones, only logging
        raise RuntimeError(f"suite {definition['name']}: some expectations are not valid GX")
    # GX filters by row_condition with DataFrame.query, copying every column of the frame: give it
    # only the columns the suite reads (a third of the prepared frame).
    # Without the frame's attrs: pandas deep-copies them into every frame GX derives (thousands).
    checked = frame[columns_read(definition, frame, key)]
    checked.attrs = {}
    batch = batch_definition.get_batch(batch_parameters={"dataframe": checked})
    try:
        with gx_speed.scope(index_columns=[key]):  # what GX would compute again and again, computed once
            result = batch.validate(
                suite,
                result_format={"result_format": "COMPLETE", "unexpected_index_column_names": [key],
                               "partial_unexpected_count": 20, "return_unexpected_index_query": False},
                expectation_parameters=parameters,
            )
    finally:
        _forget(batch)
    failures = []
    for outcome in result.results:
        info = outcome.exception_info or {}
        raised = info.get("raised_exception") or any(
            isinstance(v, dict) and v.get("raised_exception") for v in info.values())
        if raised:
            raise RuntimeError(f"expectation {outcome.expectation_config.type} could not run: {info}")
        if outcome.success:
            continue
        found = outcome.result.get("unexpected_index_list")
        failures.append(Failure(outcome.expectation_config.meta, outcome.expectation_config.kwargs,
                                None if found is None else [entry[key] for entry in found],
                                outcome.result.get("observed_value")))
        # Keep the JSON for Data Docs small: the page shows a sample, rejects.csv has every row.
        for name in ("unexpected_list", "unexpected_index_list"):
            if isinstance(outcome.result.get(name), list):
                outcome.result[name] = outcome.result[name][:KEPT_UNEXPECTED]
    return SuiteRun(definition, result.to_json_dict(), failures)


_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def columns_read(definition: dict[str, Any], frame: pd.DataFrame, key: str) -> list[str]:
    """The frame's columns that the suite's expectations and row conditions refer to, and `key`."""
    names = {key}
    for expectation in definition["expectations"]:
        kwargs = expectation["kwargs"]
        names.update(kwargs[k] for k in ("column", "column_A", "column_B") if k in kwargs)
        names.update(kwargs.get("column_list", []))
        names.update(_NAME.findall(kwargs.get("row_condition") or ""))
    return [c for c in frame.columns if c in names]


def issues_from(run: SuiteRun, frame: pd.DataFrame, key: str) -> list[Issue]:
    """Every failed expectation → one issue per unexpected row (one per file if its level is file)."""
    issues: list[Issue] = []
    position = pd.Index(frame[key])
    for failure in run.failures:
        if failure.keys is None:  # a table-level expectation: one finding about the file
            issues.append(_file_issue(failure))
            continue
        rows = frame.iloc[position.get_indexer(failure.keys)]
        if failure.meta.get("level") == "file":
            rows = rows.head(1)
        issues.extend(_row_issues(failure, rows, key, frame.attrs.get(RAW_COLUMNS, [])))
    # One finding per cell and rule: a value can fail two expectations of one rule (a date neither
    # shaped nor existing); the first, in suite order, says it best.
    seen: set[tuple[int, str | None, str]] = set()
    unique = []
    for issue in issues:
        cell = (issue.line, issue.column, issue.rule) if key != HEADER_KEY and issue.column else None
        if cell is None or cell not in seen:
            seen.add(cell)
            unique.append(issue)
    unique.sort(key=lambda i: (i.line, i.rule, i.column or ""))
    return unique


def _file_issue(failure: Failure) -> Issue:
    meta, detail = failure.meta, ""
    if "value_set" in failure.kwargs:
        seen = set(failure.observed or [])
        missing = [c for c in failure.kwargs["value_set"] if c not in seen]
        detail = ": " + ", ".join(missing)
    return Issue(1, None, meta["rule"], meta["severity"],
                 f"line 1: {meta['message']}{detail} — {meta['fix']} ({meta['rule']})")


def _row_issues(failure: Failure, rows: pd.DataFrame, key: str, raw_columns: list[str]) -> list[Issue]:
    meta, kwargs = failure.meta, failure.kwargs
    rule, severity = meta["rule"], meta["severity"]
    out: list[Issue] = []
    if key == HEADER_KEY:
        for name, position in zip(rows["name"], rows[HEADER_KEY], strict=True):
            out.append(Issue(1, name, rule, severity,
                             f"line 1, header {quoted(name)} (column {position}): "
                             f"{meta['message']} — {meta['fix']} ({rule})"))
        return out
    column = meta.get("column") or kwargs.get("column")
    needed = {LINE, column, ROW_TEXT} | {f for _, f, _, _ in string.Formatter().parse(meta.get("detail", "")) if f}
    for row in rows[[c for c in needed if c in rows]].to_dict("records"):
        line = int(row[LINE])
        detail = f" ({meta['detail'].format(**row)})" if meta.get("detail") else ""
        for named_column, value in _located(meta, kwargs, column, row, raw_columns):
            named = not named_column.startswith("_")
            where = f"line {line}, {named_column}" if named else f"line {line}"
            shown = f"{where}: {quoted(value)}" if value != "" else where
            out.append(Issue(line, named_column if named else None, rule, severity,
                             f"{shown} {meta['message']}{detail} — {meta['fix']} ({rule})"))
    return out


def _located(meta: dict, kwargs: dict, column: str, row: dict, raw_columns: list[str]) -> list[tuple[str, Any]]:
    """The column(s) a finding is about, with the value as the file has it."""
    if meta.get("locate") != "regex":
        value = row.get(column)
        return [(column, "" if value is None or value is pd.NA or value != value else value)]
    pattern = re.compile(kwargs["regex"])
    return [(c, v) for c, v in raw_values(row[ROW_TEXT], raw_columns).items() if pattern.search(v)]


def raw_values(row_text: str, raw_columns: list[str]) -> dict[str, str]:
    """A row's values exactly as the file has them (before trimming), by column."""
    return dict(zip(raw_columns, row_text.split(SEPARATOR), strict=False))


EARLIEST_DATE = pd.Timestamp("1900-01-01", tz="UTC")
LATEST_DATE = pd.Timestamp("9999-12-31", tz="UTC")  # the LMS and its clients read dates up to year 9999


def parameters(now: datetime) -> dict[str, Any]:
    """The suites' run-time parameters: the clock, the open PARS reporting year, plausible dates."""
    stamp = pd.Timestamp(now).tz_convert("UTC") if pd.Timestamp(now).tzinfo else pd.Timestamp(now, tz="UTC")
    return {"now": stamp, "pars_year_start": pd.Timestamp(year=stamp.year, month=1, day=1, tz="UTC"),
            "earliest_date": EARLIEST_DATE, "latest_date": LATEST_DATE}
