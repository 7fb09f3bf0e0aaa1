"""Golden files: every export of the PARS report on the test catalogue, for 2025 and 2026.

The catalogue (pars_catalogue) has a live course, a regularly scheduled series and an enduring
material, directly and jointly provided, a Joint Accreditation activity, activities failing the
pre-submission check, a shell, and records crossing New Year in the provider's time zone. After a
deliberate change, regenerate with `UPDATE_GOLDEN=1 bash scripts/test.sh tests/include/course_records/test_pars_golden.py`
and review the diff like code.
"""

from __future__ import annotations

import difflib
import json
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from include.course_records import pars
from tests.conftest import REPO
from tests.include.course_records import pars_catalogue

GOLDEN = REPO / "tests" / "golden" / "pars"
NOW = datetime(2027, 2, 15, 12, 0, tzinfo=UTC)


@pytest.fixture
def catalogue(conn):
    pars_catalogue.build(conn)
    yield conn
    pars_catalogue.restore_time_zone()


def matches_golden(files: dict[str, bytes], folder: Path) -> None:
    if os.environ.get("UPDATE_GOLDEN"):
        folder.mkdir(parents=True, exist_ok=True)
        for suffix, content in files.items():
            (folder / suffix).write_bytes(content)
    differences = []
    for suffix, content in files.items():
        expected = (folder / suffix).read_text(encoding="utf-8")
        if content.decode("utf-8") != expected:
            differences.append("".join(difflib.unified_diff(
                expected.splitlines(keepends=True), content.decode("utf-8").splitlines(keepends=True),
                f"golden {suffix}", f"written {suffix}")))
    assert not differences, "\n".join(differences)


@pytest.mark.parametrize("year", [2025, 2026])
def test_every_export_of_the_year_matches_its_golden_file(catalogue, year):
    files = pars.export_files(pars.build_report(catalogue, year), None, NOW)

    matches_golden(files, GOLDEN / str(year))
    assert set(files) == {path.name for path in (GOLDEN / str(year)).iterdir()}


def test_the_reconciliation_shows_the_change_since_the_last_export_of_the_year(catalogue):
    first = pars.export_files(pars.build_report(catalogue, 2026), None, NOW)
    # after the first export: one more learner in the JA activity, one more session for the enduring material
    pars_catalogue.enroll(catalogue, "IPE-TEAM", "xena@example.org", first="Xena", last="Team",
                          start="2026-02-01 09:00-07", completed="2026-02-10 18:00-07", category="other")
    pars_catalogue.enroll(catalogue, "ECG-EM", "yara@example.org", first="Yara", last="Reader",
                          start="2026-05-01 09:00-05", completed="2026-05-02 10:00-05")

    second = pars.export_files(pars.build_report(catalogue, 2026), json.loads(first[pars.RECONCILIATION_JSON]), NOW)

    matches_golden({pars.RECONCILIATION_CSV: second[pars.RECONCILIATION_CSV]}, GOLDEN / "2026-second-export")
