"""Data Docs publishing against history (README: `make bench-datadocs`). Reports numbers, asserts nothing.

Builds a site by publishing `--history` earlier validations through `datadocs.publish` itself
(`--per-day` a day, on consecutive days), and at each checkpoint publishes `--samples` new runs
on a day of their own, timing each one and counting the store operations it made (file reads,
writes, folder listings: what a remote store pays for in round trips). Then, on a fresh site,
the one cost that does grow: runs published on the same day (`--same-day`), whose day page lists
them all.

    python -m bench.datadocs [--history 10000] [--checkpoints 0,100,1000,10000] [--per-day 10]
                             [--samples 20] [--same-day 1000] [--out bench-out]

The payload is a real validation (a rejected file checked on a throwaway LMS database).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.run import REPO, _db, _drop

SAMPLE_FILE = ("external_email,first_name,last_name,enrollment_start,complete,date_completed,credits,credit_type,"
               "participant_category\n"
               "ann@example.org,Ann,Lee,2026-05-04,1,2026-05-05,2.00,ama_pra_1,physician\n"
               "grace@example.org,Grace,Hopper,2026-05-04,yes,2026-05-05,2.00,ama_pra_1,physician\n")
START = datetime(2020, 1, 1, 8, 0, tzinfo=UTC)


def sample_run(uri: str) -> dict:
    """One real validation's payload, checked on a throwaway LMS database with the demo catalogue."""
    subprocess.run([sys.executable, "-m", "include.course_records", "init-db", "--demo"], cwd=REPO, check=True,
                   capture_output=True, env=dict(os.environ, AIRFLOW_CONN_LMS_DB=uri, PYTHONPATH=str(REPO)))
    os.environ["AIRFLOW_CONN_LMS_DB"] = uri
    from include.course_records import datadocs, db
    from include.course_records.check import check_file
    from include.course_records.target import resolve_target

    conn = db.connect()
    result = check_file(SAMPLE_FILE.encode(), resolve_target("course/CARD-101/bench.csv"), conn)
    conn.close()
    return json.loads(json.dumps(datadocs.payload(result, batch="template", file="course/CARD-101/bench.csv",
                                                  run_time=START.isoformat())))


class Operations:
    """Counts the store operations of each publish (reads, writes, listings)."""

    def __init__(self) -> None:
        from include.course_records import datadocs

        self.counts: Counter[str] = Counter()
        for method in ("read", "read_many", "write", "names"):
            original = getattr(datadocs._Site, method)

            def counted(site, *args, _original=original, _method=method):
                self.counts[_method] += 1
                return _original(site, *args)

            setattr(datadocs._Site, method, counted)

    def take(self) -> dict[str, int]:
        taken = {"reads": self.counts["read"], "batched_reads": self.counts["read_many"], "writes": self.counts["write"],
                 "listings": self.counts["names"]}
        self.counts.clear()
        return taken


def publish(url: str, template: dict, batch: str, when: datetime) -> None:
    from include.course_records import datadocs

    datadocs.publish(url, dict(template, batch=batch, time=when.isoformat()))


def measure(url: str, template: dict, operations: Operations, day: datetime, samples: int, tag: str) -> dict:
    seconds, cpu, ops = [], [], []
    for n in range(samples):
        when = day + timedelta(minutes=n)
        operations.take()
        started, started_cpu = time.perf_counter(), time.process_time()
        publish(url, template, f"{when:%Y%m%dT%H%M%SZ}-{tag}{n:03d}", when)
        seconds.append(time.perf_counter() - started)
        cpu.append(time.process_time() - started_cpu)
        ops.append(operations.take())
    # CPU time as well as wall time: on a shared machine the wall time also measures the neighbours
    return {"publish_ms_median": round(statistics.median(seconds) * 1000, 1),
            "publish_ms_max": round(max(seconds) * 1000, 1),
            "publish_cpu_ms_median": round(statistics.median(cpu) * 1000, 1),
            "store_ops_per_publish": max(ops, key=lambda o: sum(o.values()))}


def history_run(url: str, template: dict, operations: Operations, args: argparse.Namespace) -> list[dict]:
    """Publish the history, measuring at each checkpoint on a day after everything so far."""
    checkpoints = sorted(int(c) for c in args.checkpoints.split(","))
    rows, published = [], 0
    for checkpoint in checkpoints:
        while published < checkpoint:
            # each checkpoint's samples take the day after the history so far: skip it
            when = START + timedelta(days=published // args.per_day + len(rows), minutes=published % args.per_day)
            publish(url, template, f"{when:%Y%m%dT%H%M%SZ}-h{published:06d}", when)
            published += 1
        day = START + timedelta(days=-(-published // args.per_day) + len(rows))
        row = {"earlier_validations": published + sum(args.samples for _ in rows),
               **measure(url, template, operations, day, args.samples, f"c{checkpoint}-")}
        rows.append(row)
        print(json.dumps(row), flush=True)
    return rows


def same_day_run(url: str, template: dict, operations: Operations, args: argparse.Namespace) -> list[dict]:
    """The day page lists every run of its day: what a publish costs as one day fills up."""
    rows, published = [], 0
    day = START + timedelta(days=5000)
    for checkpoint in sorted({0, args.same_day // 10, args.same_day}):
        while published < checkpoint:
            when = day + timedelta(seconds=published)
            publish(url, template, f"{when:%Y%m%dT%H%M%SZ}-d{published:06d}", when)
            published += 1
        row = {"earlier_runs_that_day": published,
               **measure(url, template, operations, day + timedelta(hours=12), args.samples, f"s{checkpoint}-")}
        rows.append(row)
        print(json.dumps(row), flush=True)
        published += args.samples
    return rows


def fresh_site(out: Path) -> str:
    """A local folder for the site. Remote stores pay per operation: the counts above are what they
    would do. (moto's S3 scans every key of the bucket on each listing, so its times would measure moto.)"""
    shutil.rmtree(out, ignore_errors=True)
    return out.resolve().as_uri()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--history", type=int, default=10_000)
    parser.add_argument("--checkpoints", default="0,100,1000,10000")
    parser.add_argument("--per-day", type=int, default=10)
    parser.add_argument("--samples", type=int, default=20)
    parser.add_argument("--same-day", type=int, default=1000, help="0 to skip")
    parser.add_argument("--out", type=Path, default=REPO / "bench-out")
    args = parser.parse_args()
    args.checkpoints = ",".join(c for c in args.checkpoints.split(",") if int(c) <= args.history)
    args.out.mkdir(parents=True, exist_ok=True)
    logging.getLogger("include.course_records.datadocs").setLevel(logging.WARNING)  # a line per publish otherwise
    admin_uri = os.environ.get("COURSE_RECORDS_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
    name, uri = _db(admin_uri)
    try:
        template = sample_run(uri)
    finally:
        _drop(admin_uri, name)
    operations = Operations()
    results = {"per_day": args.per_day, "samples": args.samples, "machine": {"cpus": os.cpu_count()}}
    started = time.perf_counter()
    results["history"] = history_run(fresh_site(args.out / "datadocs" / "site"), template, operations, args)
    if args.same_day:
        results["same_day"] = same_day_run(fresh_site(args.out / "datadocs" / "same-day"), template, operations, args)
    results["bench_seconds"] = round(time.perf_counter() - started)
    path = args.out / "datadocs.json"
    path.write_text(json.dumps(results, indent=2) + "\n")
    print(f"results: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
