"""The cluster scenarios' access to a running cluster (`make cluster`), through its public surfaces
only: the landing bucket (S3 API), Airflow's REST API, and the LMS tables.

Selected with `-m cluster` (`make cluster-test` starts a fresh cluster, runs them and stops it);
the default suite deselects them (pyproject.toml).
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import time
import uuid
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
CLUSTER_DIR = Path(os.environ.get("CLUSTER_DIR", REPO / ".cluster"))
BUCKET, PREFIX = "course-records", "landing"
HEADER = ("external_email,first_name,last_name,enrollment_start,complete,date_completed,credits,credit_type,"
          "participant_category\n")
GLOBAL_HEADER = ("external_course_id,title,external_email,first_name,last_name,enrollment_start,complete,"
                 "date_completed,credits,credit_type\n")
MEASUREMENTS = CLUSTER_DIR / "measurements.json"


def wait_until(what: str, check: Callable[[], Any], timeout: float, every: float = 2.0) -> Any:
    """Poll `check` until it returns something true; fail naming `what` after `timeout` seconds."""
    deadline = time.time() + timeout
    while True:
        found = check()
        if found:
            return found
        if time.time() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(every)


def parse_time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


def record(name: str, value: Any) -> None:
    """Keep a measured figure for the README (.cluster/measurements.json)."""
    found = json.loads(MEASUREMENTS.read_text()) if MEASUREMENTS.exists() else {}
    found[name] = value
    MEASUREMENTS.write_text(json.dumps(found, indent=2) + "\n")
    print(f"MEASURED {name}: {value}")


class Cluster:
    def __init__(self, settings: dict[str, str]) -> None:
        import boto3
        import requests

        self.settings = settings
        self.url = settings["CLUSTER_API_URL"]
        self.http = requests.Session()
        password = json.loads((CLUSTER_DIR / "passwords.json").read_text())["admin"]
        response = self.http.post(f"{self.url}/auth/token", json={"username": "admin", "password": password},
                                  timeout=30)
        response.raise_for_status()
        self.http.headers["Authorization"] = f"Bearer {response.json()['access_token']}"
        self.s3 = boto3.client("s3", endpoint_url=settings["CLUSTER_S3_ENDPOINT"], region_name="us-east-1",
                               aws_access_key_id="testing", aws_secret_access_key="testing")

    # --- Airflow's REST API -------------------------------------------------------------------
    def api(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.http.request(method, f"{self.url}/api/v2/{path}", timeout=60, **kwargs)
        if response.status_code == 404 and method == "GET":
            return None
        assert response.ok, f"{method} {path}: {response.status_code} {response.text[:500]}"
        return response.json() if response.content else None

    def trigger(self, dag_id: str, conf: dict[str, Any] | None = None, run_id: str | None = None) -> str:
        body: dict[str, Any] = {"logical_date": None, "conf": conf or {}}
        if run_id:
            body["dag_run_id"] = run_id
        return self.api("POST", f"dags/{dag_id}/dagRuns", json=body)["dag_run_id"]

    def runs(self, dag_id: str) -> list[dict[str, Any]]:
        found, offset = [], 0
        while True:
            page = self.api("GET", f"dags/{dag_id}/dagRuns", params={"limit": 100, "offset": offset})
            found += page["dag_runs"]
            offset += 100
            if offset >= page["total_entries"]:
                return found

    def run(self, dag_id: str, run_id: str) -> dict[str, Any] | None:
        return self.api("GET", f"dags/{dag_id}/dagRuns/{run_id}")

    def wait_run(self, dag_id: str, run_id: str, timeout: float = 600) -> str:
        def finished():
            state = (self.run(dag_id, run_id) or {}).get("state")
            return state if state in ("success", "failed") else None
        return wait_until(f"{dag_id} run {run_id} to finish", finished, timeout)

    def task_instances(self, dag_id: str, run_id: str | None = None, task_id: str | None = None) -> list[dict]:
        body: dict[str, Any] = {"dag_ids": [dag_id], "page_limit": 1000}
        if run_id:
            body["dag_run_ids"] = [run_id]
        if task_id:
            body["task_ids"] = [task_id]
        return self.api("POST", "dags/~/dagRuns/~/taskInstances/list", json=body)["task_instances"]

    def lock(self) -> dict[str, Any] | None:
        variable = self.api("GET", "variables/course_record_import_lock")
        return json.loads(variable["value"]) if variable and variable.get("value") else None

    def unlock(self, reason: str) -> None:
        run_id = self.trigger("course_record_unlock", {"reason": reason, "confirm": True})
        assert self.wait_run("course_record_unlock", run_id, timeout=300) == "success"

    def scan(self) -> str | None:
        """Start a landing scan now (the schedule runs one every minute too); None if one is running."""
        active = [r for r in self.runs("course_record_landing_scan") if r["state"] in ("queued", "running")]
        return None if active else self.trigger("course_record_landing_scan")

    # --- the landing bucket -------------------------------------------------------------------
    def put(self, relative: str, content: str | bytes) -> None:
        body = content.encode() if isinstance(content, str) else content
        self.s3.put_object(Bucket=BUCKET, Key=f"{PREFIX}/{relative}", Body=body)

    def objects(self, under: str = "") -> list[str]:
        found = []
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=f"{PREFIX}/{under}"):
            found += [item["Key"].removeprefix(f"{PREFIX}/") for item in page.get("Contents", [])]
        return found

    def read(self, relative: str) -> bytes:
        return self.s3.get_object(Bucket=BUCKET, Key=f"{PREFIX}/{relative}")["Body"].read()

    # --- the LMS ------------------------------------------------------------------------------
    def sql(self, query: str, params: tuple = ()) -> list[tuple]:
        import psycopg2

        conn = psycopg2.connect(self.settings["AIRFLOW_CONN_LMS_DB"])
        try:
            with conn.cursor() as cur:
                cur.execute(query, params or None)
                return cur.fetchall() if cur.description else []
        finally:
            conn.commit()
            conn.close()

    # --- the processes (the test's hand as ops or as a failure) --------------------------------
    def pid(self, component: str) -> int:
        return int((CLUSTER_DIR / "pids" / f"{component}.pid").read_text())

    def kill(self, component: str) -> None:
        """SIGKILL a component and every process it started (its process group): a lost node."""
        os.killpg(self.pid(component), signal.SIGKILL)

    def worker_running(self, pid: int) -> str:
        """Which worker a task process belongs to: the one among its ancestors (Celery workers on one
        host share its hostname, so the task instance's `hostname` does not tell)."""
        workers = {self.pid(w): w for w in ("worker1", "worker2") if self.alive(w)}
        while pid > 1:
            if os.getpgid(pid) in workers:
                return workers[os.getpgid(pid)]
            pid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])  # the parent
        raise AssertionError("the task process is not under a worker of this cluster")

    def lose_node(self, worker: str, task_pid: int) -> None:
        """SIGKILL a worker and everything it runs, as when its machine is lost: the Celery worker's
        process group, and the task's own (Airflow gives each task process a group of its own)."""
        os.killpg(os.getpgid(task_pid), signal.SIGKILL)
        os.killpg(self.pid(worker), signal.SIGKILL)

    def restart(self, component: str) -> None:
        subprocess.run(["bash", str(REPO / "scripts/cluster.sh"), "restart", component], check=True, cwd=REPO,
                       timeout=120)

    def alive(self, component: str) -> bool:
        try:
            os.kill(self.pid(component), 0)
        except (OSError, ValueError):
            return False
        return True


@pytest.fixture(scope="session")
def cluster() -> Cluster:
    env_file = CLUSTER_DIR / "cluster.env"
    if not env_file.exists():
        pytest.fail("no cluster: start one with `make cluster` (or run `make cluster-test`)")
    settings = {}
    for line in env_file.read_text().splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            settings[key] = shlex.split(value)[0] if value else ""
    found = Cluster(settings)
    health = found.api("GET", "monitor/health")
    assert health["scheduler"]["status"] == "healthy", health
    return found


@pytest.fixture
def token() -> str:
    """A name part of this test's own: files and learners never meet an earlier run's."""
    return uuid.uuid4().hex[:6]


@pytest.fixture
def free(cluster):
    """The importer is free before the test (a failed earlier scenario may have left it locked)."""
    if cluster.lock():
        cluster.unlock("cluster test set-up: clearing a lock left by an earlier scenario")
    yield
