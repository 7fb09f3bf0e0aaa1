"""Files for the cluster scenarios, and reading what became of them (ledger, runs, task instances)."""

from __future__ import annotations

import time
from typing import Any

from tests.cluster.conftest import GLOBAL_HEADER, HEADER, Cluster, parse_time, wait_until

IMPORT = "course_record_import"
LOADS = ("load_course_level", "load_legacy_global")


def course_rows(prefix: str, count: int, *, completed: str = "2026-05-05", credits: str = "2.00") -> str:
    return "".join(f"{prefix}{i}@example.org,First{i},Last,2026-05-04,1,{completed},{credits},ama_pra_1,physician\n"
                   for i in range(count))


def course_file(prefix: str, count: int, **kwargs: str) -> str:
    return HEADER + course_rows(prefix, count, **kwargs)


def global_file(course: str, prefix: str, count: int) -> str:
    return GLOBAL_HEADER + "".join(
        f"{course},Legacy {course},{prefix}{i}@example.org,First{i},Last,2025-01-10,1,2025-01-12,1.00,ama_pra_1\n"
        for i in range(count))


def bad_file(prefix: str) -> str:
    """R06: credits on a record that is not complete."""
    return HEADER + f"{prefix}0@example.org,Ann,Lee,2026-05-04,1,2026-05-05,2.00,ama_pra_1,physician\n" \
                  + f"{prefix}1@example.org,Bo,Ek,2026-05-04,0,,2.00,ama_pra_1,physician\n"


def ledger(cluster: Cluster, token: str) -> list[dict[str, Any]]:
    names = ("batch_id", "file_path", "status", "sha256", "created_learners", "created_enrollments",
             "created_credit_records", "archived_uri", "run_id")
    rows = cluster.sql(f"SELECT {', '.join(names)} FROM course_import.ledger WHERE file_path LIKE %s"
                       " ORDER BY started_at", (f"%{token}%",))
    return [dict(zip(names, row, strict=True)) for row in rows]


def import_runs(cluster: Cluster, token: str) -> list[dict[str, Any]]:
    return [r for r in cluster.runs(IMPORT) if token in str((r.get("conf") or {}).get("file", ""))]


def waiting_in_landing(cluster: Cluster, token: str) -> list[str]:
    return [k for k in cluster.objects() if token in k and k.split("/", 1)[0] in ("course", "global")]


def settle(cluster: Cluster, token: str, files: int, timeout: float) -> list[dict[str, Any]]:
    """Scan until no file of `token` is left in landing and every import run of them finished."""
    def done():
        runs = import_runs(cluster, token)
        if waiting_in_landing(cluster, token):
            cluster.scan()
            return None
        if len({(r.get("conf") or {}).get("file") for r in runs}) < files:
            return None
        return runs if all(r["state"] in ("success", "failed") for r in runs) else None
    return wait_until(f"the {files} files of {token} to be imported", done, timeout, every=10)


def scanning(cluster: Cluster, check):
    """A check for wait_until that starts a landing scan whenever it finds nothing yet."""
    def scan_then_check():
        found = check()
        if not found:
            cluster.scan()
        return found
    return scan_then_check


def spans(cluster: Cluster, runs: list[dict[str, Any]], task_ids: tuple[str, ...]) -> list[tuple]:
    """(start, end, run id, task id) of every task instance of those tasks that ran (not skipped), by start."""
    found = []
    for run in runs:
        for ti in cluster.task_instances(IMPORT, run["dag_run_id"]):
            ran = ti["state"] in ("success", "failed")  # a skipped task gets a start and end too
            if ti["task_id"] in task_ids and ran and ti.get("start_date") and ti.get("end_date"):
                found.append((parse_time(ti["start_date"]), parse_time(ti["end_date"]), run["dag_run_id"],
                              ti["task_id"]))
    return sorted(found)


def overlapping(found: list[tuple]) -> list[tuple]:
    """Pairs of spans that overlap in time."""
    return [(a, b) for i, a in enumerate(found) for b in found[i + 1:] if b[0] < a[1]]


def load_running(cluster: Cluster, token: str, timeout: float) -> dict[str, Any]:
    """The load task instance of a file of `token` running now (waits for one)."""
    def running():
        tis = [ti for task_id in LOADS for ti in cluster.task_instances(IMPORT, task_id=task_id)
               if ti["state"] == "running" and token in ti["dag_run_id"]]
        return tis[0] if tis else None
    try:
        return wait_until("a load task to run", running, timeout, every=1)
    except AssertionError:
        return None


def inserting(cluster: Cluster, timeout: float) -> int:
    """The LMS backend pid of a load inside its INSERTs (waits for one, polling often on one connection)."""
    import psycopg2

    conn = psycopg2.connect(cluster.settings["AIRFLOW_CONN_LMS_DB"])
    conn.autocommit = True
    try:
        def backend():
            with conn.cursor() as cur:
                cur.execute("SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND state = 'active'"
                            " AND query LIKE '%%INSERT INTO lms.%%' AND pid <> pg_backend_pid()")
                row = cur.fetchone()
            return row[0] if row else None
        return wait_until("a load to insert into the LMS", backend, timeout, every=0.05)
    finally:
        conn.close()


def seconds_since(start: float) -> float:
    return round(time.time() - start, 1)
