"""The speed benchmark (README: `make bench`). Not a test: it reports numbers, it asserts nothing.

For each size it generates a seeded valid global file and measures, in the same run:
  * raw COPY of the file into an UNLOGGED table of text columns (the floor),
  * `python -m include.course_records validate` as a whole process (wall time, peak RSS),
and for the largest size, the end-to-end import through the import DAG's tasks
(`airflow dags test`): the sum of the task durations and the process's peak RSS.

    python -m bench.run [--sizes 10000,100000,1000000] [--e2e-size 1000000] [--out bench-out]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
import uuid
from pathlib import Path

import psycopg2

from bench.generate import write_global_file

REPO = Path(__file__).resolve().parents[1]


def _db(admin_uri: str) -> tuple[str, str]:
    name = f"course_records_bench_{uuid.uuid4().hex[:6]}"
    admin = psycopg2.connect(admin_uri)
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    admin.close()
    return name, admin_uri.rsplit("/", 1)[0] + "/" + name


def _drop(admin_uri: str, name: str) -> None:
    admin = psycopg2.connect(admin_uri)
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,))
        cur.execute(f'DROP DATABASE IF EXISTS "{name}"')
    admin.close()


def raw_copy_seconds(uri: str, path: Path) -> float:
    conn = psycopg2.connect(uri)
    with conn.cursor() as cur:
        header = path.open().readline().strip().split(",")
        cur.execute("DROP TABLE IF EXISTS bench_raw")
        cur.execute("CREATE UNLOGGED TABLE bench_raw (" + ", ".join(f"{c} text" for c in header) + ")")
        conn.commit()
        started = time.perf_counter()
        with path.open("rb") as data:
            cur.copy_expert("COPY bench_raw FROM STDIN WITH (FORMAT csv, HEADER true)", data)
        conn.commit()
        elapsed = time.perf_counter() - started
        cur.execute("DROP TABLE bench_raw")
    conn.commit()
    conn.close()
    return elapsed


def timed(command: list[str], env: dict[str, str], log: Path) -> tuple[float, float, int]:
    """Wall seconds, peak RSS (MiB) and exit status of a whole process (GNU time)."""
    stats = log.with_suffix(".time")
    with log.open("w") as out:
        started = time.perf_counter()
        status = subprocess.call(["/usr/bin/time", "-f", "%M", "-o", str(stats), *command],
                                 cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
        wall = time.perf_counter() - started
    return wall, int(stats.read_text().split()[-1]) / 1024, status


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--e2e-size", type=int, default=1_000_000, help="0 to skip the end-to-end import")
    parser.add_argument("--out", type=Path, default=REPO / "bench-out")
    args = parser.parse_args()
    admin_uri = os.environ.get("COURSE_RECORDS_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
    args.out.mkdir(parents=True, exist_ok=True)
    name, uri = _db(admin_uri)
    env = dict(os.environ, AIRFLOW_CONN_LMS_DB=uri, PYTHONPATH=str(REPO))
    results: dict = {"sizes": [], "machine": {"cpus": os.cpu_count()}}
    try:
        subprocess.run([sys.executable, "-m", "include.course_records", "init-db", "--demo"], cwd=REPO, env=env,
                       check=True, capture_output=True)
        for size in [int(s) for s in args.sizes.split(",")]:
            path = write_global_file(args.out / "global" / f"bench-{size}.csv", size)
            copy = raw_copy_seconds(uri, path)
            wall, rss, status = timed(
                [sys.executable, "-m", "include.course_records", "validate", str(path), "--importer", "global"],
                env, args.out / f"validate-{size}.log")
            row = {"rows": size, "raw_copy_s": round(copy, 2), "validate_s": round(wall, 2),
                   "validate_vs_copy": round(wall / copy, 1), "validate_peak_rss_mib": round(rss),
                   "validate_us_per_row": round(wall / size * 1e6, 1), "validate_exit": status}
            results["sizes"].append(row)
            print(json.dumps(row), flush=True)
        if args.e2e_size:
            results["end_to_end"] = end_to_end(args.e2e_size, uri, env, args.out)
            print(json.dumps(results["end_to_end"]), flush=True)
    finally:
        _drop(admin_uri, name)
    (args.out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    print(f"results: {args.out / 'results.json'}")
    return 0


def end_to_end(size: int, uri: str, env: dict[str, str], out: Path) -> dict:
    """The import DAG on a `size`-row global file, in a throwaway Airflow home."""
    home = out / "airflow"
    shutil.rmtree(home, ignore_errors=True)
    landing = out / "landing"
    shutil.rmtree(landing, ignore_errors=True)
    source = write_global_file(landing / "global" / f"e2e-{size}.csv", size, seed=11)
    copy = raw_copy_seconds(uri, source)
    run_env = dict(env, AIRFLOW_HOME=str(home), AIRFLOW__CORE__LOAD_EXAMPLES="False",
                   AIRFLOW__CORE__DAGS_FOLDER=str(REPO / "dags"),
                   AIRFLOW_VAR_COURSE_RECORD_LANDING=landing.resolve().as_uri())
    airflow = str(Path(sys.executable).with_name("airflow"))
    subprocess.run([airflow, "db", "migrate"], env=run_env, check=True, capture_output=True)
    wall, rss, status = timed([airflow, "dags", "test", "course_record_import", "-c",
                               json.dumps({"file": source.relative_to(landing).as_posix()})],
                              run_env, out / f"e2e-{size}.log")
    with sqlite3.connect(home / "airflow.db") as meta:
        durations = dict(meta.execute("SELECT task_id, duration FROM task_instance WHERE duration IS NOT NULL"))
        states = dict(meta.execute("SELECT task_id, state FROM task_instance"))
    summary = next((landing / "reports").glob("*/summary.json"))
    loaded = json.loads(summary.read_text())
    work = sum(durations.values())
    return {"rows": size, "raw_copy_s": round(copy, 2), "task_seconds": {k: round(v, 2) for k, v in durations.items()},
            "tasks_total_s": round(work, 2), "tasks_vs_copy": round(work / copy, 1),
            "validate_and_load_s": round(durations.get("validate_file", 0) + durations.get("load_legacy_global", 0), 2),
            "process_wall_s": round(wall, 2), "peak_rss_mib": round(rss), "exit": status,
            "status": loaded["status"], "created": loaded["created"], "states": states}


if __name__ == "__main__":
    sys.exit(main())
