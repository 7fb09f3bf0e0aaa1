"""What a check found, as comparable data; run as a script, the same for files checked in a new process.

Kept apart from conftest (which imports Airflow, and with it SQLAlchemy) so that a new process
imports Great Expectations the way the command line does: `python -m
tests.include.course_records.gx_outcome [--extras] NOW BASE PATH…` prints one JSON outcome per
file (`--extras`: SQLAlchemy and boto3 imported first, as in a process that has Airflow's models).
"""

from __future__ import annotations

import importlib
import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

from include.course_records.gx_speed import OPTIONAL_EXTRAS  # imports nothing but the standard library


def documents(result: Any) -> list[str]:
    """GX's result documents, without what names the run (its id and time)."""
    found = []
    for run in result.suite_runs:
        document = json.loads(json.dumps(run.result, sort_keys=True, default=str))
        document.pop("meta", None)
        for outcome in document.get("results", []):
            outcome.get("expectation_config", {}).pop("id", None)
        found.append(json.dumps(document, sort_keys=True))
    return found


def outcome(result: Any) -> list:
    """The verdict, every issue, the rejected lines and GX's documents (JSON-shaped)."""
    return [result.status, [[i.line, i.column, i.rule, i.severity, i.message] for i in result.issues],
            sorted(result.rejected_lines), documents(result)]


def main(argv: list[str]) -> None:
    if argv[0] == "--extras":
        for name in OPTIONAL_EXTRAS:
            importlib.import_module(name)
        argv = argv[1:]
    from include.course_records import db
    from include.course_records.check import check_file
    from include.course_records.target import resolve_target

    now, base, paths = datetime.fromisoformat(argv[0]), Path(argv[1]), argv[2:]
    conn = db.connect()
    print(json.dumps({"extras_before": [name for name in OPTIONAL_EXTRAS if name in sys.modules]}))
    for path in paths:
        result = check_file((base / path).read_bytes(), resolve_target(path), conn, now=now)
        print(json.dumps({"path": path, "outcome": outcome(result)}))
    conn.close()
    print(json.dumps({"extras_after": [name for name in OPTIONAL_EXTRAS if name in sys.modules]}))


if __name__ == "__main__":
    main(sys.argv[1:])
