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
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from typing import Any

import pandas as pd

from include.course_records import settings
from include.course_records.enrich import RAW_COLUMNS, ROW_TEXT, SEPARATOR
from include.course_records.issues import Issue, quoted
from include.course_records.reader import LINE
from include.course_records.record_format import ALIASES

log = logging.getLogger(__name__)

HEADER_KEY = "position"
SUITES: dict[str, dict[str, tuple[str, ...]]] = {
    "course": {"header": ("header",), "rows": ("rows", "rows.course")},
    "global": {"header": ("header", "header.global"), "rows": ("rows", "rows.global")},
}


@dataclass
class SuiteRun:
    """One suite's validation: the GX result as JSON (for Data Docs) and the issues it found."""

    suite: str
    result: dict[str, Any]
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
    import great_expectations as gx
    import great_expectations.execution_engine.pandas_execution_engine as pandas_engine
    from great_expectations.data_context.types.base import ProgressBarsConfig

    # GX fingerprints every in-memory batch by hashing the whole frame (~0.3 s per million rows)
    # only to label it; we label runs ourselves. Internal knob: GX is pinned in requirements.txt.
    pandas_engine.HASH_THRESHOLD = 0
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    asset = context.data_sources.add_pandas("course_records").add_dataframe_asset("landing_file")
    return context, asset.add_batch_definition_whole_dataframe("whole_file")


def run_suite(frame: pd.DataFrame, parts: tuple[str, ...], key: str,
              parameters: dict[str, Any]) -> SuiteRun:
    """Validate `frame` with the merged suite; `key` is the column that identifies a row."""
    import great_expectations as gx

    _context, batch_definition = _gx_batch_definition()
    definition = suite_definition(parts)
    suite = gx.ExpectationSuite(**definition)
    if len(suite.expectations) != len(definition["expectations"]):  # GX drops bad ones, only logging
        raise RuntimeError(f"suite {definition['name']}: some expectations are not valid GX")
    batch = batch_definition.get_batch(batch_parameters={"dataframe": frame})
    result = batch.validate(
        suite,
        result_format={"result_format": "COMPLETE", "unexpected_index_column_names": [key],
                       "partial_unexpected_count": 20},
        expectation_parameters=parameters,
    )
    for outcome in result.results:
        info = outcome.exception_info or {}
        raised = info.get("raised_exception") or any(
            isinstance(v, dict) and v.get("raised_exception") for v in info.values())
        if raised:
            raise RuntimeError(f"expectation {outcome.expectation_config.type} could not run: {info}")
    return SuiteRun(definition["name"], result.to_json_dict())


def issues_from(run: SuiteRun, frame: pd.DataFrame, key: str) -> list[Issue]:
    """Every failed expectation → one issue per unexpected row (or one per file/value, as meta says)."""
    issues: list[Issue] = []
    position = pd.Index(frame[key])
    for outcome in run.result["results"]:
        if outcome["success"]:
            continue
        config = outcome["expectation_config"]
        meta = config["meta"]
        found = outcome["result"].get("unexpected_index_list")
        if found is None:  # a table-level expectation: one finding about the file
            issues.append(_file_issue(meta, config, outcome["result"]))
            continue
        keys = [entry[key] for entry in found]
        rows = frame.iloc[position.get_indexer(keys)]
        if meta.get("level") == "file":
            rows = rows.head(1)
        issues.extend(_row_issues(meta, config, rows, key, frame.attrs.get(RAW_COLUMNS, [])))
    issues.sort(key=lambda i: (i.line, i.rule, i.column or ""))
    return issues


def _file_issue(meta: dict, config: dict, result: dict) -> Issue:
    detail = ""
    if "value_set" in config["kwargs"]:
        seen = set(result.get("observed_value") or [])
        missing = [c for c in config["kwargs"]["value_set"] if c not in seen]
        detail = ": " + ", ".join(missing)
    return Issue(1, None, meta["rule"], meta["severity"],
                 f"line 1: {meta['message']}{detail} — {meta['fix']} ({meta['rule']})")


def _row_issues(meta: dict, config: dict, rows: pd.DataFrame, key: str,
                raw_columns: list[str]) -> list[Issue]:
    rule, severity = meta["rule"], meta["severity"]
    out: list[Issue] = []
    seen_values: set[str] = set()
    for row in rows.to_dict("records"):
        if key == HEADER_KEY:
            name = row["name"]
            out.append(Issue(1, name, rule, severity,
                             f"line 1, header {quoted(name)} (column {row[HEADER_KEY]}): "
                             f"{meta['message']} — {meta['fix']} ({rule})"))
            continue
        if meta.get("once_per"):
            if row[meta["once_per"]] in seen_values:
                continue
            seen_values.add(row[meta["once_per"]])
        line = int(row[LINE])
        detail = f" ({meta['detail'].format(**row)})" if meta.get("detail") else ""
        for column, value in _located(meta, config, row, raw_columns):
            named = not column.startswith("_")
            where = f"line {line}, {column}" if named else f"line {line}"
            shown = f"{where}: {quoted(value)}" if value != "" else where
            out.append(Issue(line, column if named else None, rule, severity,
                             f"{shown} {meta['message']}{detail} — {meta['fix']} ({rule})"))
    return out


def _located(meta: dict, config: dict, row: dict, raw_columns: list[str]) -> list[tuple[str, Any]]:
    """The column(s) a finding is about, with the value as the file has it."""
    if meta.get("locate") != "regex":
        column = meta.get("column") or config["kwargs"].get("column")
        value = row.get(column)
        return [(column, "" if value is None or value is pd.NA or value != value else value)]
    pattern = re.compile(config["kwargs"]["regex"])
    return [(c, v) for c, v in raw_values(row[ROW_TEXT], raw_columns).items() if pattern.search(v)]


def raw_values(row_text: str, raw_columns: list[str]) -> dict[str, str]:
    """A row's values exactly as the file has them (before trimming), by column."""
    return dict(zip(raw_columns, row_text.split(SEPARATOR), strict=False))


def parameters(now: datetime) -> dict[str, Any]:
    """The suites' run-time parameters: the clock, and the open PARS reporting year."""
    stamp = pd.Timestamp(now).tz_convert("UTC") if pd.Timestamp(now).tzinfo else pd.Timestamp(now, tz="UTC")
    return {"now": stamp, "pars_year_start": pd.Timestamp(year=stamp.year, month=1, day=1, tz="UTC")}
