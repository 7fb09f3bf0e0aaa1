"""A burst of 30 files dropped at once into the S3 landing, on the cluster (two Celery workers)."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.cluster.conftest import parse_time, record
from tests.cluster.scenario import (
    LOADS,
    bad_file,
    course_file,
    global_file,
    import_runs,
    ledger,
    overlapping,
    settle,
    spans,
)

pytestmark = pytest.mark.cluster
LARGE_ROWS = 200_000


def burst(token: str) -> tuple[dict[str, str], dict[str, str | set[str]]]:
    """30 files and what each must end as (a set: one of a pair ends as each)."""
    files, expected = {}, {}
    for i in range(11):
        files[f"course/CARD-101/{token}-c{i:02}.csv"] = course_file(f"c{i}-{token}-", 5 + i)
        files[f"global/{token}-g{i:02}.csv"] = global_file(f"LEG-{token}-{i}", f"g{i}-{token}-", 3 + i)
    for name in files:
        expected[name] = "loaded"
    for i in range(3):
        files[f"course/CARD-101/{token}-bad{i}.csv"] = bad_file(f"bad{i}-{token}-")
        expected[f"course/CARD-101/{token}-bad{i}.csv"] = "rejected"
    may = course_file(f"may-{token}-", 4)
    pair = {"loaded", "duplicate_file"}
    files[f"course/CARD-101/{token}-may.csv"] = files[f"course/CARD-101/{token}-may (1).csv"] = may
    expected[f"course/CARD-101/{token}-may.csv"] = expected[f"course/CARD-101/{token}-may (1).csv"] = pair
    # the same learner and course in both, completed on other days: whichever loads second is R13
    files[f"course/CARD-101/{token}-first.csv"] = course_file(f"o-{token}-", 3)
    files[f"course/CARD-101/{token}-second.csv"] = (course_file(f"o-{token}-", 1, completed="2026-05-06")
                                                    + course_file(f"s-{token}-", 2).split("\n", 1)[1])
    expected[f"course/CARD-101/{token}-first.csv"] = expected[f"course/CARD-101/{token}-second.csv"] = {
        "loaded", "rejected"}
    files[f"course/CARD-101/{token}-large.csv"] = course_file(f"big-{token}-", LARGE_ROWS)
    expected[f"course/CARD-101/{token}-large.csv"] = "loaded"
    assert len(files) == 30
    return files, expected


def test_a_burst_of_30_files_each_ends_once_loads_never_overlap_validations_do(cluster, token, free):
    files, expected = burst(token)
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda item: cluster.put(*item), files.items()))
    uploaded = time.time()
    cluster.scan()

    runs = settle(cluster, token, len(files), timeout=2400)

    finished = max(r["end_date"] for r in runs)
    minutes = (parse_time(finished).timestamp() - uploaded) / 60
    first_start = min(parse_time(r["start_date"]) for r in runs)
    busy_minutes = (parse_time(finished) - first_start).total_seconds() / 60
    record("burst_files", len(files))
    record("burst_minutes_from_upload", round(minutes, 2))
    record("burst_files_per_minute_from_upload", round(len(files) / minutes, 1))
    record("burst_files_per_minute_from_first_run", round(len(files) / busy_minutes, 1))

    entries = ledger(cluster, token)
    by_file = {}
    for entry in entries:
        assert entry["file_path"] not in by_file, f"two runs for {entry['file_path']}: {entries}"
        by_file[entry["file_path"]] = entry
    assert set(by_file) == set(files)
    for name, want in expected.items():
        got = by_file[name]["status"]
        assert got in want if isinstance(want, set) else got == want, (name, got)
    for pair in (("may.csv", "may (1).csv"), ("first.csv", "second.csv")):
        statuses = sorted(by_file[f"course/CARD-101/{token}-{p}"]["status"] for p in pair)
        assert statuses in (["duplicate_file", "loaded"], ["loaded", "rejected"]), (pair, statuses)

    # every file archived or quarantined, none left in landing
    keys = set(cluster.objects())
    for name, entry in by_file.items():
        folder = "quarantine" if entry["status"] == "rejected" else "archive"
        moved = [k for k in keys if k.startswith(folder) and k.endswith(f"{entry['batch_id']}-{name.rsplit('/', 1)[1]}")]
        assert len(moved) == 1, (name, entry["status"])
        assert name not in keys
        assert cluster.read(moved[0]) == files[name].encode()

    # what the LMS holds of these batches is what the ledger says they created, and the copy loaded nothing
    loaded = [e["batch_id"] for e in entries if e["status"] == "loaded"]
    for table, column in (("lms.enrollment", "created_enrollments"), ("lms.learner", "created_learners")):
        [(in_lms,)] = cluster.sql(f"SELECT count(*) FROM {table} WHERE import_batch = ANY(%s)", (loaded,))
        assert in_lms == sum(e[column] for e in entries if e["status"] == "loaded"), table
    [(credits,)] = cluster.sql("SELECT count(*) FROM lms.credit_record r JOIN lms.enrollment e ON e.id = r.enrollment_id"
                               " WHERE e.import_batch = ANY(%s)", (loaded,))
    assert credits == sum(e["created_credit_records"] for e in entries if e["status"] == "loaded")
    [(may_rows,)] = cluster.sql("SELECT count(*) FROM lms.learner WHERE email LIKE %s", (f"may-{token}-%",))
    assert may_rows == 4
    [(large,)] = cluster.sql("SELECT count(*) FROM lms.enrollment WHERE import_batch = %s",
                             (by_file[f"course/CARD-101/{token}-large.csv"]["batch_id"],))
    assert large == LARGE_ROWS

    # loads one at a time across the workers; validations side by side
    loads = spans(cluster, runs, LOADS)
    # every loaded file's load ran; the three bad files never reached one (the copy and the overlapping
    # file did if they were validated before their twin loaded: their load checked them again)
    assert len(loaded) <= len(loads) <= len(files) - 3
    assert overlapping(loads) == []
    validations = spans(cluster, runs, ("validate_file",))
    assert overlapping(validations), "no two validations ran at the same time"
    # the outcome in the run list: rejected runs failed at file_rejected, the others succeeded
    states = {(r.get("conf") or {})["file"]: r["state"] for r in import_runs(cluster, token)}
    for name, entry in by_file.items():
        assert states[name] == ("failed" if entry["status"] == "rejected" else "success"), name
    assert cluster.lock() is None

    # the Data Docs site, published to S3 by both workers at once, has every run's page and lists every run
    site = set(cluster.objects("reports/data_docs/"))
    days = b"".join(cluster.read(k) for k in site if k.startswith("reports/data_docs/days/") and k.endswith(".html"))
    for entry in entries:
        assert f"reports/data_docs/runs/{entry['batch_id']}.html" in site
        assert entry["batch_id"].encode() in days
