"""The speed benchmark (README: `make bench`). Not a test: it reports numbers, it asserts nothing.

For each size, in a fresh LMS database, it generates a seeded valid global file and measures in
the same run:
  * raw COPY of the file into an UNLOGGED table of text columns (the floor of reading the file),
  * `python -m include.course_records validate` as a whole process (wall time, peak RSS),
    these two alternated three times up to 1M rows (`--repeat`, `--repeat-max`): their medians,
  * the end-to-end import through the import DAG's tasks (`airflow dags test`): each task's
    duration, their sum, the process's peak RSS, and the validate and load tasks' own peaks (each
    logs it: what a worker, which runs every task in a process of its own, needs for it),
  * the COPY-into-LMS-tables floor: COPYing the rows that import created (learners, enrollments,
    credit records) into tables shaped like the LMS's (same columns, indexes, checks, foreign keys)
    in one transaction — what any load of that file must at least pay; up to 1M rows, where it
    goes: the same COPY into bare tables and into tables without the foreign keys, and each
    foreign key's checks timed by EXPLAIN ANALYZE;
and once, a cold `validate` of a 10-row file (a new process each time, the median of 3).

    python -m bench.run [--sizes 100000,1000000,10000000] [--e2e-sizes …] [--out bench-out]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

import psycopg2

from bench.generate import write_global_file
from include.course_records.resources import PEAK_LINE  # each heavy task logs its own peak

REPO = Path(__file__).resolve().parents[1]
FLOOR_TABLES = ("learner", "enrollment", "credit_record")


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


FLOOR_SHAPES = {
    # what each shape of the floor's tables has (all: the LMS's columns, defaults and NOT NULLs)
    "bare": "INCLUDING DEFAULTS",
    "keys": "INCLUDING ALL",  # + its indexes, primary and unique keys, checks
    "full": "INCLUDING ALL",  # + its foreign keys: the floor
}
FOREIGN_KEYS = {  # the LMS's foreign keys among the rows a load writes (sql/001_lms_schema.sql)
    "enrollment": (("learner_id", "floor_learner"), ("course_id", "lms.course")),
    "credit_record": (("enrollment_id", "floor_enrollment"), ("credit_type_id", "lms.credit_type")),
}


def _floor_tables(cur, shape: str) -> None:
    for table in FLOOR_TABLES:
        cur.execute(f"DROP TABLE IF EXISTS public.floor_{table} CASCADE")
        cur.execute(f"CREATE TABLE public.floor_{table} (LIKE lms.{table} {FLOOR_SHAPES[shape]})")
    if shape == "full":
        for table, keys in FOREIGN_KEYS.items():
            cur.execute(f"ALTER TABLE floor_{table} " + ", ".join(
                f"ADD CONSTRAINT floor_{table}_{column}_fkey FOREIGN KEY ({column}) REFERENCES {target} (id)"
                for column, target in keys))


def lms_copy_floor(uri: str, *, profile: bool = True) -> dict:
    """COPY what the import created into copies of the LMS tables (indexes, checks, foreign keys
    between them) in one transaction: the least any load of those rows costs.

    With `profile`, where that floor goes: the same COPY into bare tables (columns only) and into
    tables with the indexes, keys and checks but no foreign keys; and the same rows INSERTed into
    the full shape under EXPLAIN ANALYZE, which times each foreign key's row-by-row checks apart."""
    conn = psycopg2.connect(uri)
    buffers, counts, result = {}, {}, {}
    with conn.cursor() as cur:
        for table in FLOOR_TABLES:
            buffer = io.BytesIO()
            cur.copy_expert(f"COPY (SELECT * FROM lms.{table} WHERE import_batch IS NOT NULL) TO STDOUT", buffer)
            buffers[table], counts[table] = buffer, buffer.getvalue().count(b"\n")
        for shape in ("bare", "keys", "full") if profile else ("full",):
            _floor_tables(cur, shape)
            conn.commit()
            started = time.perf_counter()
            for table in FLOOR_TABLES:
                buffers[table].seek(0)
                cur.copy_expert(f"COPY public.floor_{table} FROM STDIN", buffers[table])
            conn.commit()
            result[shape] = round(time.perf_counter() - started, 2)
        if profile:
            result["foreign_keys"] = _foreign_key_profile(conn, cur, buffers)
        cur.execute("DROP TABLE floor_credit_record, floor_enrollment, floor_learner")
    conn.commit()
    conn.close()
    return {"seconds": result["full"], "rows": counts, "profile": result if profile else None}


def _foreign_key_profile(conn, cur, buffers: dict) -> dict:
    """EXPLAIN ANALYZE of the floor's rows INSERTed into the full shape, in one transaction: the
    insert's own time and each foreign key's checks (PostgreSQL runs one query per row and key)."""
    for table in FLOOR_TABLES:
        cur.execute(f"DROP TABLE IF EXISTS public.floor_source_{table}")
        cur.execute(f"CREATE UNLOGGED TABLE public.floor_source_{table} (LIKE lms.{table})")
        buffers[table].seek(0)
        cur.copy_expert(f"COPY public.floor_source_{table} FROM STDIN", buffers[table])
    _floor_tables(cur, "full")
    conn.commit()
    profile: dict = {"insert_s": {}, "checks": {}}
    for table in FLOOR_TABLES:
        cur.execute(f"EXPLAIN (ANALYZE, FORMAT JSON) INSERT INTO public.floor_{table}"
                    f" SELECT * FROM public.floor_source_{table}")
        plan = cur.fetchone()[0][0]
        triggers = plan.get("Triggers", [])
        checks = sum(t["Time"] for t in triggers) / 1000
        profile["insert_s"][table] = round(plan["Execution Time"] / 1000 - checks, 2)
        for trigger in triggers:
            profile["checks"][trigger.get("Constraint Name", trigger["Trigger Name"])] = {
                "seconds": round(trigger["Time"] / 1000, 2), "calls": trigger["Calls"]}
    conn.rollback()
    cur.execute("DROP TABLE " + ", ".join(f"public.floor_source_{table}" for table in FLOOR_TABLES))
    conn.commit()
    return profile


RSS_LIMIT_MIB = [6144]  # a process above this is stopped (the machine is shared): reported as exit -9


def timed(command: list[str], env: dict[str, str], log: Path) -> tuple[float, float, int]:
    """Wall seconds, peak RSS (MiB) and exit status of a whole process (GNU time)."""
    import psutil

    stats = log.with_suffix(".time")
    with log.open("w") as out:
        started = time.perf_counter()
        process = subprocess.Popen(["/usr/bin/time", "-f", "%e %M", "-o", str(stats), *command],
                                   cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
        peak, watched = 0.0, psutil.Process(process.pid)
        while process.poll() is None:
            try:
                rss = sum(p.memory_info().rss for p in watched.children(recursive=True)) / 2**20
            except psutil.Error:
                rss = 0.0
            peak = max(peak, rss)
            if rss > RSS_LIMIT_MIB[0]:
                for child in watched.children(recursive=True):
                    child.kill()
                print(f"stopped at {rss:.0f} MiB RSS (limit {RSS_LIMIT_MIB[0]} MiB): {' '.join(command[:4])}", file=out)
            time.sleep(0.5)
        status = process.returncode
        wall = time.perf_counter() - started
    try:  # GNU time's own figures: the wall time exact (the loop above polls every 0.5 s)
        elapsed, max_kib = stats.read_text().split()[-2:]
        wall, peak = float(elapsed), max(peak, int(max_kib) / 1024)
    except (OSError, ValueError, IndexError):
        status = status or -9
    return wall, peak, status


def _load_average() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="100000,1000000,10000000")
    parser.add_argument("--e2e-sizes", default=None, help="sizes to import end to end (default: all; '' for none)")
    parser.add_argument("--out", type=Path, default=REPO / "bench-out")
    parser.add_argument("--repeat", type=int, default=3,
                        help="time the raw COPY and validate this many times each (alternated) and take the medians")
    parser.add_argument("--repeat-max", type=int, default=1_000_000,
                        help="repeat only for sizes up to this many rows (larger ones: once)")
    parser.add_argument("--floor-profile-max", type=int, default=1_000_000,
                        help="profile the LMS COPY floor (bare / keyed / full tables, each foreign key's checks)"
                             " for sizes up to this many rows (it triples the floor's time)")
    parser.add_argument("--rss-limit-mib", type=int, default=RSS_LIMIT_MIB[0],
                        help="stop a measured process above this RSS (the machine may be shared)")
    args = parser.parse_args()
    RSS_LIMIT_MIB[0] = args.rss_limit_mib
    admin_uri = os.environ.get("COURSE_RECORDS_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
    args.out.mkdir(parents=True, exist_ok=True)
    sizes = [int(s) for s in args.sizes.split(",") if s]
    e2e = sizes if args.e2e_sizes is None else [int(s) for s in args.e2e_sizes.split(",") if s]
    results: dict = {"machine": {"cpus": os.cpu_count(), "load_average_at_start": _load_average()},
                     "sizes": []}
    print(json.dumps(results["machine"]), flush=True)
    results["cold_small_file"] = cold_small_file(admin_uri, args.out)
    print(json.dumps(results["cold_small_file"]), flush=True)
    for size in sizes:
        name, uri = _db(admin_uri)
        try:
            row = measure(size, uri, args.out, end_to_end=size in e2e, profile_max=args.floor_profile_max,
                          repeat=args.repeat if size <= args.repeat_max else 1)
        finally:
            _drop(admin_uri, name)
        results["sizes"].append(row)
        print(json.dumps(row), flush=True)
    results["machine"]["load_average_at_end"] = _load_average()
    (args.out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    print_table(results)
    print(f"results: {args.out / 'results.json'}")
    return 0


def _env(uri: str) -> dict[str, str]:
    return dict(os.environ, AIRFLOW_CONN_LMS_DB=uri, PYTHONPATH=str(REPO))


def _init_db(env: dict[str, str]) -> None:
    subprocess.run([sys.executable, "-m", "include.course_records", "init-db", "--demo"], cwd=REPO, env=env,
                   check=True, capture_output=True)


def cold_small_file(admin_uri: str, out: Path) -> dict:
    name, uri = _db(admin_uri)
    try:
        env = _env(uri)
        _init_db(env)
        path = write_global_file(out / "global" / "bench-10.csv", 10)
        walls = [timed([sys.executable, "-m", "include.course_records", "validate", str(path)], env,
                       out / "validate-10.log")[0] for _ in range(3)]
    finally:
        _drop(admin_uri, name)
    return {"rows": 10, "cold_validate_s": [round(w, 2) for w in walls],
            "median_s": round(statistics.median(walls), 2), "load_average": _load_average()}


def measure(size: int, uri: str, out: Path, *, end_to_end: bool, profile_max: int, repeat: int) -> dict:
    env = _env(uri)
    _init_db(env)
    path = write_global_file(out / "global" / f"bench-{size}.csv", size)
    # a single timing on a shared VM is noisy: up to `repeat` of each, alternated, and their medians
    copies, walls, peaks, statuses = [], [], [], []
    for _ in range(repeat):
        copies.append(raw_copy_seconds(uri, path))
        wall, rss, status = timed([sys.executable, "-m", "include.course_records", "validate", str(path)],
                                  env, out / f"validate-{size}.log")
        walls.append(wall)
        peaks.append(rss)
        statuses.append(status)
    copy, wall = statistics.median(copies), statistics.median(walls)
    row = {"rows": size, "load_average": _load_average(), "raw_copy_s": round(copy, 2),
           "raw_copy_runs_s": [round(c, 2) for c in copies],
           "validate_s": round(wall, 2), "validate_runs_s": [round(w, 2) for w in walls],
           "validate_vs_copy": round(wall / copy, 1),
           "validate_peak_rss_mib": round(max(peaks)), "validate_us_per_row": round(wall / size * 1e6, 1),
           "validate_exit": max(statuses, key=lambda s: (s not in (0, 1), s))}
    if end_to_end:
        e2e = row["end_to_end"] = import_file(size, uri, env, out, path)
        load = e2e["task_seconds"].get("load_legacy_global")
        if e2e.get("status") == "loaded":
            floor = lms_copy_floor(uri, profile=size <= profile_max)
            row["lms_copy_floor_s"], row["lms_copy_floor_rows"] = floor["seconds"], floor["rows"]
            row["lms_copy_floor_vs_copy"] = round(floor["seconds"] / copy, 1)
            if floor["profile"]:
                row["lms_copy_floor_profile"] = floor["profile"]
            if load is not None and floor["seconds"]:
                row["load_vs_floor"] = round(load / floor["seconds"], 2)
        e2e["tasks_vs_copy"] = round(e2e["tasks_total_s"] / copy, 1)
        if load is not None:
            e2e["tasks_but_load_s"] = round(e2e["tasks_total_s"] - load, 2)
            e2e["tasks_but_load_vs_copy"] = round((e2e["tasks_total_s"] - load) / copy, 1)
        e2e["us_per_row"] = round(e2e["tasks_total_s"] / size * 1e6, 1)
    return row


def import_file(size: int, uri: str, env: dict[str, str], out: Path, source: Path) -> dict:
    """The import DAG on the file, in a throwaway Airflow home and landing folder."""
    home = out / "airflow"
    shutil.rmtree(home, ignore_errors=True)
    landing = out / "landing"
    shutil.rmtree(landing, ignore_errors=True)
    (landing / "global").mkdir(parents=True)
    landed = landing / "global" / source.name
    shutil.copyfile(source, landed)
    run_env = dict(env, AIRFLOW_HOME=str(home), AIRFLOW__CORE__LOAD_EXAMPLES="False",
                   AIRFLOW__CORE__DAGS_FOLDER=str(REPO / "dags"),
                   AIRFLOW_VAR_COURSE_RECORD_LANDING=landing.resolve().as_uri())
    airflow = str(Path(sys.executable).with_name("airflow"))
    subprocess.run([airflow, "db", "migrate"], env=run_env, check=True, capture_output=True)
    wall, rss, status = timed([airflow, "dags", "test", "course_record_import", "-c",
                               json.dumps({"file": landed.relative_to(landing).as_posix()})],
                              run_env, out / f"e2e-{size}.log")
    with sqlite3.connect(home / "airflow.db") as meta:
        durations = dict(meta.execute("SELECT task_id, duration FROM task_instance"
                                      " WHERE duration IS NOT NULL AND state = 'success'"))  # not the skipped
    steps = {step: {"peak_mib": int(peak), "start_mib": int(start)} for step, peak, start in
             PEAK_LINE.findall((out / f"e2e-{size}.log").read_text(errors="replace"))}
    summaries = list((landing / "reports").glob("*/summary.json"))
    loaded = json.loads(summaries[0].read_text()) if summaries else {}
    return {"task_seconds": {k: round(v, 2) for k, v in durations.items()},
            "tasks_total_s": round(sum(durations.values()), 2), "process_wall_s": round(wall, 2),
            "peak_rss_mib": round(rss), "step_peak_mib": steps, "exit": status, "status": loaded.get("status"),
            "created": loaded.get("created")}


def print_table(results: dict) -> None:
    """The README's table (markdown)."""
    for row in results["sizes"]:
        if len(row.get("validate_runs_s", [])) > 1:
            print(f"{row['rows']:,} rows: medians of raw COPY {row['raw_copy_runs_s']} s and validate "
                  f"{row['validate_runs_s']} s")
    print("\n| rows | raw COPY | validate (× COPY, peak RSS, µs/row) | import tasks (× COPY, peak RSS, µs/row) "
          "| load task | LMS COPY floor | load ÷ floor |")
    print("|---|---|---|---|---|---|---|")
    for row in results["sizes"]:
        e2e = row.get("end_to_end") or {}
        load = (e2e.get("task_seconds") or {}).get("load_legacy_global")
        validated = (f"{row['validate_s']} s ({row['validate_vs_copy']}×, {row['validate_peak_rss_mib']} MiB, "
                     f"{row['validate_us_per_row']})") if row["validate_exit"] in (0, 1) else \
            f"stopped at {row['validate_peak_rss_mib']} MiB after {row['validate_s']} s (exit {row['validate_exit']})"
        print(f"| {row['rows']:,} | {row['raw_copy_s']} s | {validated} "
              + (f"| {e2e['tasks_total_s']} s ({e2e['tasks_vs_copy']}×, {e2e['peak_rss_mib']} MiB, {e2e['us_per_row']}) "
                 if e2e else "| — ")
              + (f"| {load} s " if load is not None else "| — ")
              + (f"| {row['lms_copy_floor_s']} s | {row.get('load_vs_floor', '—')}× |" if "lms_copy_floor_s" in row
                 else "| — | — |"))
    for row in results["sizes"]:
        steps = (row.get("end_to_end") or {}).get("step_peak_mib") or {}
        if steps:
            print(f"\n{row['rows']:,} rows, each task's own peak: " + "; ".join(
                f"{step} {peak['peak_mib']} MiB ({peak['start_mib']} MiB when it started)"
                for step, peak in steps.items()))
    for row in results["sizes"]:
        e2e, profile = row.get("end_to_end") or {}, row.get("lms_copy_floor_profile")
        if not profile:
            continue
        checks = profile["foreign_keys"]["checks"]
        print(f"\n{row['rows']:,} rows, the LMS COPY floor ({row['lms_copy_floor_vs_copy']}× the raw COPY): "
              f"bare tables {profile['bare']} s; with the indexes, keys and checks {profile['keys']} s; "
              f"with the foreign keys too {profile['full']} s. EXPLAIN ANALYZE of the same rows inserted: "
              + "; ".join(f"{table} {seconds} s" for table, seconds in profile["foreign_keys"]["insert_s"].items())
              + ", then the foreign keys' row-by-row checks: "
              + "; ".join(f"{name} {check['seconds']} s ({check['calls']:,} checks)" for name, check in checks.items())
              + f" = {round(sum(check['seconds'] for check in checks.values()), 2)} s.")
        if "tasks_but_load_s" in e2e:
            print(f"The import's tasks but the load: {e2e['tasks_but_load_s']} s "
                  f"({e2e['tasks_but_load_vs_copy']}× the raw COPY): "
                  + "; ".join(f"{task} {seconds} s" for task, seconds in sorted(
                      e2e["task_seconds"].items(), key=lambda item: -item[1]) if task != "load_legacy_global"))
    cold = results.get("cold_small_file")
    if cold:
        print(f"\ncold `validate` of a 10-row file: {cold['median_s']} s (median of {cold['cold_validate_s']})")


if __name__ == "__main__":
    sys.exit(main())
