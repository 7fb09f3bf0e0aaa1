"""gx_speed changes how fast Great Expectations runs, never what it finds.

A corpus file of every rule (its minimal example) and the demo files are checked twice, with
GX as shipped and with our patches: the issues, the verdict and GX's own result documents must
be the same, byte for byte once the run's id and time are set aside.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from include.course_records import gx_speed
from include.course_records.check import check_file
from include.course_records.target import resolve_target
from tests.conftest import REPO
from tests.include.course_records.gx_outcome import outcome
from tests.include.course_records.test_corpus import CORPUS, EXPECTED, NOW


def _setup(path, conn):
    setup = path.with_suffix(".setup.sql")
    if setup.exists():
        with conn.cursor() as cur:
            cur.execute(setup.read_text())
        conn.commit()


def _one_file_per_rule() -> list[str]:
    """The first corpus file of each rule it shows (each runs GX twice: the suite's time counts)."""
    chosen: dict[str, str] = {}
    for path in sorted(EXPECTED):
        for rule, _ in EXPECTED[path]:
            chosen.setdefault(rule, path)
    return sorted(set(chosen.values()))


CASES = [(CORPUS, path) for path in _one_file_per_rule()] + \
    [(REPO / "demo", "course/CARD-101/card-101-2026.csv"), (REPO / "demo", "global/legacy-history.csv")]


@pytest.mark.parametrize(("base", "path"), CASES, ids=[p for _, p in CASES])
def test_patched_gx_finds_exactly_what_gx_finds(base, path, conn):
    _setup(base / path, conn)
    data, target = (base / path).read_bytes(), resolve_target(path)

    ours = outcome(check_file(data, target, conn, now=NOW))
    with gx_speed.unpatched():
        shipped = outcome(check_file(data, target, conn, now=NOW))

    assert ours == shipped


def test_load_valid_rows_outcome_is_the_same(conn):
    path = next(p for p in sorted(EXPECTED) if "/R09_" in p)
    data, target = (CORPUS / path).read_bytes(), resolve_target(path)

    ours = outcome(check_file(data, target, conn, now=NOW, load_valid_rows=True))
    with gx_speed.unpatched():
        shipped = outcome(check_file(data, target, conn, now=NOW, load_valid_rows=True))

    assert ours == shipped


def test_deferred_modules_load_on_first_use():
    gx_speed.load()
    from scipy import stats

    assert stats.entropy([0.5, 0.5], [0.5, 0.5]) == 0  # the real scipy.stats, imported now
    assert sys.modules["scipy.stats"].entropy is stats.entropy
    import altair

    assert altair.Chart is sys.modules["altair"].Chart


def test_outside_a_validation_nothing_is_kept():
    gx_speed.load()
    with gx_speed.scope():
        pass
    assert gx_speed._filtered.frames == {} and gx_speed._filtered.kwargs is None


def test_gx_imported_without_its_sql_and_aws_extras_finds_the_same(conn):
    """A new process (the command line, a task) imports GX with SQLAlchemy and boto3 refused to it;
    a process that had them first (Airflow's models) gives them to GX. Every rule's file: the same."""
    paths = [path for base, path in CASES if base == CORPUS and not (CORPUS / path).with_suffix(".setup.sql").exists()]
    command = [sys.executable, "-m", "tests.include.course_records.gx_outcome"]
    probes = {extras: subprocess.Popen([*command, *(["--extras"] if extras else []), NOW.isoformat(), str(CORPUS), *paths],
                                       cwd=REPO, env=os.environ, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
              for extras in (False, True)}
    found = {}
    for extras, probe in probes.items():
        out, err = probe.communicate(timeout=300)
        assert probe.returncode == 0, err[-3000:]
        found[extras] = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    every = list(gx_speed.OPTIONAL_EXTRAS)
    assert found[False][0] == {"extras_before": []} and found[False][-1] == {"extras_after": []}
    assert found[True][0] == {"extras_before": every} and found[True][-1] == {"extras_after": every}
    assert len(found[False]) == len(paths) + 2 > 20
    assert found[False][1:-1] == found[True][1:-1]
