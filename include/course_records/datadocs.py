"""Great Expectations Data Docs: the static site where the data team reads every validation.

Validations run in many task processes with ephemeral contexts, each leaving a JSON payload in
its report folder. Building the site is one serialised step: it loads every payload kept in the
site's `results/` folder (the site mirrors that store, so a build must see all of them) and
renders only the new pages.
"""

from __future__ import annotations

import fcntl
import json
import logging
import re
from collections.abc import Iterable
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from include.course_records.validate import SuiteRun

log = logging.getLogger(__name__)

SITE_NAME = "course_records"
_UNSAFE_KEY = re.compile(r"[^A-Za-z0-9._-]+")


def payloads(runs: Iterable[SuiteRun], *, batch: str, run_time: str, file_name: str) -> list[dict[str, Any]]:
    """What a validation leaves for the site: the suite, its result (trimmed), and its run."""
    out = []
    for run in runs:
        result = json.loads(json.dumps(run.result, default=str))
        out.append({"suite": run.suite, "result": result, "run_name": batch,
                    "run_time": run_time, "batch_identifier": _UNSAFE_KEY.sub("_", file_name)})
    return out


def build_site(site_dir: Path, all_payloads: list[dict[str, Any]], new: list[dict[str, Any]] | None = None) -> Path:
    """Render the site into `site_dir` (index.html + a page per validation); returns index.html."""
    import great_expectations as gx
    from great_expectations.core.expectation_validation_result import (
        expectationSuiteValidationResultSchema,
    )
    from great_expectations.core.run_identifier import RunIdentifier
    from great_expectations.data_context.types.resource_identifiers import (
        ExpectationSuiteIdentifier,
        ValidationResultIdentifier,
    )

    context = gx.get_context(mode="ephemeral")
    context.add_data_docs_site(SITE_NAME, {
        "class_name": "SiteBuilder",
        "show_how_to_buttons": False,
        "store_backend": {"class_name": "TupleFilesystemStoreBackend",
                          "base_directory": str(site_dir.resolve())},
        "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
    })
    suites_seen: set[str] = set()
    new_ids = {id(p) for p in new} if new is not None else None
    new_keys = []
    for payload in all_payloads:
        if payload["suite"]["name"] not in suites_seen:
            context.suites.add_or_update(gx.ExpectationSuite(**payload["suite"]))
            suites_seen.add(payload["suite"]["name"])
        result = expectationSuiteValidationResultSchema.load(payload["result"])
        run_id = RunIdentifier(run_name=payload["run_name"], run_time=payload["run_time"])
        result.meta["run_id"] = run_id
        key = ValidationResultIdentifier(
            expectation_suite_identifier=ExpectationSuiteIdentifier(name=result.suite_name),
            run_id=run_id, batch_identifier=payload["batch_identifier"])
        context.validation_results_store.set(key, result)
        if new_ids is not None and id(payload) in new_ids:
            new_keys.append(key)
    context.build_data_docs(site_names=[SITE_NAME],
                            resource_identifiers=new_keys if new_ids is not None else None)
    index = site_dir / "index.html"
    if not index.exists():
        raise RuntimeError(f"Data Docs were not written to {site_dir} (see the log for GX's error)")
    return index


@contextmanager
def _exclusive(site_dir: Path):
    site_dir.mkdir(parents=True, exist_ok=True)
    with open(site_dir / ".build.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def publish(site_dir: Path, batch: str, new_payloads: list[dict[str, Any]]) -> Path:
    """Add one run's payloads to the shared site, one build at a time."""
    with _exclusive(site_dir):
        store = site_dir / "results"
        store.mkdir(exist_ok=True)
        (store / f"{batch}.json").write_text(json.dumps(new_payloads), encoding="utf-8")
        everything: list[dict[str, Any]] = []
        fresh: list[dict[str, Any]] = []
        for path in sorted(store.glob("*.json")):
            loaded = json.loads(path.read_text(encoding="utf-8"))
            everything.extend(loaded)
            if path.stem == batch:
                fresh.extend(loaded)
        index = build_site(site_dir, everything, fresh)
    log.info("Data Docs updated: %s (%d validations)", index, len(everything))
    return index
