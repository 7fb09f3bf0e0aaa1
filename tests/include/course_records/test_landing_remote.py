"""The landing root on SFTP and S3, against real servers on loopback that these tests start.

- SFTP: OpenSSH's sshd (Debian `openssh-server`), in the foreground on a free 127.0.0.1 port, with
  its own config, host key and client key in a temporary folder.
- S3: moto's S3 API server (`ThreadedMotoServer`) on a free 127.0.0.1 port.

Airflow finds both through connections in the environment (`AIRFLOW_CONN_<ID>`), as a
deployment would. Files are dropped and checked with clients independent of the code under test
(paramiko and the server's own disk for SFTP, boto3 for S3).
"""

from __future__ import annotations

import contextlib
import getpass
import io
import json
import os
import re
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

import pytest

from tests.conftest import IMPORT_DEFAULTS, REPO, count, rows_of

pytestmark = pytest.mark.remote

SSHD = "/usr/sbin/sshd"
SFTP_CONN_ID = "landing_sftp_test"
S3_CONN_ID = "landing_s3_test"
BUCKET = "course-records"
DEMO_PATH = "course/CARD-101/card-101-2026.csv"
DEMO = (REPO / "demo" / DEMO_PATH).read_bytes()
REJECTED_PATH = "global/semicolons.csv"
REJECTED = b"external_course_id;title;external_email\nCARD-101;Cardiology Update;ann@example.org\n"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for_port(port: int, process: subprocess.Popen | None = None, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


# --- the servers ------------------------------------------------------------------------------

class SftpServer:
    """sshd serving this machine's disk over SFTP to one user with one key."""

    def __init__(self, home: Path) -> None:
        import asyncssh

        self.home, self.port, self.user = home, _free_port(), getpass.getuser()
        host_key, client_key = home / "host_ed25519", home / "client_ed25519"
        for path in (host_key, client_key):
            path.write_bytes(asyncssh.generate_private_key("ssh-ed25519").export_private_key())
            path.chmod(0o600)
        self.key_file = client_key
        authorized = home / "authorized_keys"
        authorized.write_bytes(asyncssh.read_private_key(client_key).export_public_key())
        self.config = home / "sshd_config"
        self.config.write_text("\n".join([
            f"Port {self.port}", "ListenAddress 127.0.0.1", f"HostKey {host_key}", f"PidFile {home / 'sshd.pid'}",
            f"AuthorizedKeysFile {authorized}", f"AllowUsers {self.user}", "PermitRootLogin prohibit-password",
            "PubkeyAuthentication yes", "PasswordAuthentication no", "KbdInteractiveAuthentication no",
            "UsePAM no", "StrictModes no",  # a throwaway key in a temp folder; PAM would need a login shell setup
            "Subsystem sftp internal-sftp", "LogLevel ERROR", "",
        ]))
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        if os.geteuid() == 0:
            Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege-separation chroot, as root
        checked = subprocess.run([SSHD, "-t", "-f", str(self.config)], capture_output=True, text=True, check=False)
        if checked.returncode != 0:
            raise RuntimeError(f"sshd -t rejects the test config: {checked.stderr.strip()}")
        self.log = (self.home / "sshd.log").open("wb")
        self.process = subprocess.Popen([SSHD, "-D", "-e", "-f", str(self.config)], stdout=self.log,
                                        stderr=subprocess.STDOUT)
        _wait_for_port(self.port, self.process)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()

    def connection(self) -> dict:
        return {"conn_type": "sftp", "host": "127.0.0.1", "port": self.port, "login": self.user,
                "extra": {"key_file": str(self.key_file), "no_host_key_check": True}}


def _missing_sshd() -> None:
    message = f"{SSHD} is missing: install Debian's openssh-server (.ci/run does)"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="module")
def sftp_server(tmp_path_factory) -> Iterator[SftpServer]:
    if not os.access(SSHD, os.X_OK):
        _missing_sshd()
    server = SftpServer(tmp_path_factory.mktemp("sshd"))
    server.start()
    with pytest.MonkeyPatch.context() as env:
        env.setenv(f"AIRFLOW_CONN_{SFTP_CONN_ID.upper()}", json.dumps(server.connection()))
        yield server
    _forget_store("sftp", SFTP_CONN_ID)
    server.stop()


@pytest.fixture(scope="module")
def s3_server() -> Iterator[str]:
    """The endpoint URL of a moto S3 server with the landing bucket."""
    import boto3
    from moto.server import ThreadedMotoServer

    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    _wait_for_port(port)
    boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="testing",
                 aws_secret_access_key="testing").create_bucket(Bucket=BUCKET)
    with pytest.MonkeyPatch.context() as env:
        # a connection URI, the form docker-compose.yaml gives landing_s3 (the SFTP one is JSON)
        env.setenv(f"AIRFLOW_CONN_{S3_CONN_ID.upper()}",
                   f"aws://testing:testing@/?endpoint_url={quote(endpoint, safe='')}&region_name=us-east-1")
        yield endpoint
    _forget_store("s3", S3_CONN_ID)
    server.stop()


def _forget_store(protocol: str, conn_id: str) -> None:
    """Airflow caches one filesystem per store for the process: drop ours, and close it, with its server."""
    from airflow.sdk.io.store import _STORE_CACHE

    store = _STORE_CACHE.pop(f"{protocol}-{conn_id}", None)
    fs = store.__dict__.get("fs") if store else None  # only if it was ever opened
    if fs is None:
        return
    type(fs).clear_instance_cache()
    if protocol == "sftp":
        # close the SSH connection now, not at interpreter exit after pytest closed the log streams
        type(fs)._finalize(fs.loop, fs._pool, fs._stack)


# --- a landing root on each server, and a client that plays the uploader ----------------------

class RemoteLanding:
    """One test's landing root: its URL, and an outside client to drop and inspect files."""

    url: str

    def drop(self, path: str, content: bytes) -> None:
        raise NotImplementedError

    def files(self) -> dict[str, bytes]:
        """Every file under the root, by path under the root."""
        raise NotImplementedError


class SftpLanding(RemoteLanding):
    def __init__(self, server: SftpServer, directory: Path) -> None:
        self.server, self.directory = server, directory
        directory.mkdir()
        self.url = f"sftp://{SFTP_CONN_ID}@127.0.0.1{directory}"

    def drop(self, path: str, content: bytes) -> None:
        import paramiko

        transport = paramiko.Transport(("127.0.0.1", self.server.port))
        try:
            transport.connect(username=self.server.user,
                              pkey=paramiko.Ed25519Key.from_private_key_file(str(self.server.key_file)))
            sftp = paramiko.SFTPClient.from_transport(transport)
            folder = str(self.directory)
            for part in path.split("/")[:-1]:
                folder = f"{folder}/{part}"
                with contextlib.suppress(OSError):  # already there
                    sftp.mkdir(folder)
            sftp.putfo(io.BytesIO(content), f"{self.directory}/{path}")
        finally:
            transport.close()

    def files(self) -> dict[str, bytes]:
        return {p.relative_to(self.directory).as_posix(): p.read_bytes()
                for p in self.directory.rglob("*") if p.is_file()}


class S3Landing(RemoteLanding):
    def __init__(self, endpoint: str, prefix: str) -> None:
        import boto3

        self.prefix = prefix
        self.client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                                   aws_access_key_id="testing", aws_secret_access_key="testing")
        self.url = f"s3://{S3_CONN_ID}@{BUCKET}/{prefix}"

    def drop(self, path: str, content: bytes) -> None:
        self.client.put_object(Bucket=BUCKET, Key=f"{self.prefix}/{path}", Body=content)

    def files(self) -> dict[str, bytes]:
        listed = self.client.list_objects_v2(Bucket=BUCKET, Prefix=f"{self.prefix}/").get("Contents", [])
        return {o["Key"].removeprefix(f"{self.prefix}/"):
                self.client.get_object(Bucket=BUCKET, Key=o["Key"])["Body"].read() for o in listed}


@pytest.fixture(params=["sftp", "s3"])
def remote(request, tmp_path, monkeypatch) -> RemoteLanding:
    """An empty landing root on the SFTP or S3 server, set as ops would (the Variable's env)."""
    name = f"landing-{uuid.uuid4().hex[:8]}"
    if request.param == "sftp":
        server = request.getfixturevalue("sftp_server")
        landing: RemoteLanding = SftpLanding(server, server.home / name)
    else:
        landing = S3Landing(request.getfixturevalue("s3_server"), name)
    monkeypatch.setenv("AIRFLOW_VAR_COURSE_RECORD_LANDING", landing.url)
    return landing


# --- landing.py on each store -----------------------------------------------------------------

def test_list_read_report_and_move_on_the_remote_root(remote):
    from include.course_records import landing
    from include.course_records.errors import UsageError

    root = landing.landing_root()
    assert landing.list_landed(root) == []  # no course/ or global/ yet: nothing, not an error

    remote.drop(DEMO_PATH, DEMO)
    remote.drop("global/legacy.csv", b"x")
    remote.drop("course/CARD-101/upload.csv.part", b"still coming")  # in progress: silently skipped
    remote.drop("course/CARD-101/notes.txt", b"not a csv")  # not a landing file: skipped
    remote.drop("course/stray.csv", b"not under a course")  # outside the layout: skipped

    landed = landing.list_landed(root)

    assert [(path, size) for path, size, _ in landed] == [(DEMO_PATH, len(DEMO)), ("global/legacy.csv", 1)]
    assert all(abs(mtime - time.time()) < 600 for _, _, mtime in landed)  # seconds since the epoch, as scan.plan wants
    assert landing.read_bytes(root, DEMO_PATH) == DEMO
    with pytest.raises(UsageError, match="not in the landing folder"):
        landing.read_bytes(root, "course/CARD-101/never-landed.csv")

    report = landing.write_report_file(landing.report_dir(root, "b1"), "summary.json", b"{}")
    moved = landing.move(root, DEMO_PATH, landing.archive_path(DEMO_PATH, "b1", datetime(2026, 5, 4, tzinfo=UTC)))

    assert moved == f"{remote.url}/archive/2026/05/04/b1-card-101-2026.csv"
    assert report == f"{remote.url}/reports/b1/summary.json"
    files = remote.files()
    assert files["archive/2026/05/04/b1-card-101-2026.csv"] == DEMO
    assert DEMO_PATH not in files
    assert files["reports/b1/summary.json"] == b"{}"
    assert not landing.exists(root, DEMO_PATH)
    assert [path for path, _, _ in landing.list_landed(root)] == ["global/legacy.csv"]


def _refuse_delete(path, **kwargs):
    raise PermissionError(f"AccessDenied: s3:DeleteObject on {path}")


def test_s3_move_whose_delete_fails_keeps_both_copies(request, monkeypatch, caplog):
    """No atomic rename on S3: copy, verify, delete. A failed delete leaves a duplicate, never a loss."""
    remote = S3Landing(request.getfixturevalue("s3_server"), f"landing-{uuid.uuid4().hex[:8]}")
    from include.course_records import landing

    remote.drop(DEMO_PATH, DEMO)
    root = landing.landing_root(remote.url)

    monkeypatch.setattr(root.fs, "rm_file", _refuse_delete)  # fsspec binds sync methods per instance
    moved = landing.move(root, DEMO_PATH, "quarantine/b2-card-101-2026.csv")

    assert moved.endswith("/quarantine/b2-card-101-2026.csv")
    assert remote.files() == {DEMO_PATH: DEMO, "quarantine/b2-card-101-2026.csv": DEMO}
    assert "could not delete the original" in caplog.text


# --- end to end: dropped remotely → scan → import DAG → LMS, archive, quarantine, reports ------

IMPORT_PARAM_DEFAULTS = {"file": "", **IMPORT_DEFAULTS}


def _run_import(dagbag, **conf):
    """dag.test() for one file, with every param given and put back after.

    dag.test() writes run_conf into the DAG's own Param objects, so one run's `importer` would
    otherwise carry over to the next run of the same DAG object in this process.
    """
    dag = dagbag.get_dag("course_record_import")
    try:
        return dag.test(run_conf={**IMPORT_PARAM_DEFAULTS, **conf})
    finally:
        for name, default in IMPORT_PARAM_DEFAULTS.items():
            dag.params.get_param(name).value = default


def _scan_twice(dagbag, conn) -> list[dict]:
    """Run the scan DAG as its schedule would: a new file is seen, then dispatched once it has settled.

    Returns the conf of each import run it started (the runs themselves wait in Airflow's queue:
    dag.test() has no scheduler, so the test runs the import DAG for each conf itself).
    """
    from include.course_records import scan

    scan_dag = dagbag.get_dag("course_record_landing_scan")
    assert scan_dag.test().state == "success"
    assert {state for (state,) in rows_of(conn, "SELECT state FROM course_import.landing_file")} == {"seen"}
    assert scan_dag.test().state == "success"
    dispatched = rows_of(conn, "SELECT file_path, run_id FROM course_import.landing_file WHERE state = 'dispatched'")
    assert all(run_id.startswith("scan__") for _, run_id in dispatched)
    return [scan.run_request(path, "test")["conf"] for path, _ in sorted(dispatched)]


def test_file_dropped_remotely_is_scanned_loaded_archived_and_reported(remote, dagbag, conn, no_lock):
    remote.drop(DEMO_PATH, DEMO)
    remote.drop(REJECTED_PATH, REJECTED)
    enrollments = count(conn, "lms.enrollment")

    runs = _scan_twice(dagbag, conn)

    assert [run["file"] for run in runs] == [DEMO_PATH, REJECTED_PATH]
    for run in runs:
        assert _run_import(dagbag, **run).state == "success"

    assert count(conn, "lms.enrollment") - enrollments == 3
    files = remote.files()
    assert not [path for path in files if path.startswith(("course/", "global/"))], "landing is empty again"
    [archived] = [p for p in files if p.startswith("archive/")]
    [quarantined] = [p for p in files if p.startswith("quarantine/")]
    loaded_batch = re.fullmatch(r"archive/\d{4}/\d{2}/\d{2}/(.+)-card-101-2026\.csv", archived).group(1)
    rejected_batch = re.fullmatch(r"quarantine/(.+)-semicolons\.csv", quarantined).group(1)
    assert (files[archived], files[quarantined]) == (DEMO, REJECTED)
    loaded = json.loads(files[f"reports/{loaded_batch}/summary.json"])
    rejected = json.loads(files[f"reports/{rejected_batch}/summary.json"])
    assert (loaded["status"], loaded["file"], loaded["created"]["enrollments"]) == ("loaded", DEMO_PATH, 3)
    assert (rejected["status"], rejected["file"]) == ("rejected", REJECTED_PATH)
    assert f"reports/{rejected_batch}/rejects.csv" in files
    ledger = dict(rows_of(conn, "SELECT status, archived_uri FROM course_import.ledger"))
    assert ledger == {"loaded": f"{remote.url}/{archived}", "rejected": f"{remote.url}/{quarantined}"}
    assert rows_of(conn, "SELECT count(*) FROM course_import.landing_file") == [(0,)]


def test_a_copy_left_by_a_failed_s3_delete_is_absorbed_by_the_ledger(request, dagbag, conn, no_lock,
                                                                     monkeypatch, tmp_path):
    """The failed delete's leftover goes through again: same sha256, so a duplicate, nothing loaded."""
    remote = S3Landing(request.getfixturevalue("s3_server"), f"landing-{uuid.uuid4().hex[:8]}")
    monkeypatch.setenv("AIRFLOW_VAR_COURSE_RECORD_LANDING", remote.url)
    from include.course_records import landing

    remote.drop(DEMO_PATH, DEMO)
    with monkeypatch.context() as broken:
        broken.setattr(landing.landing_root().fs, "rm_file", _refuse_delete)
        assert _run_import(dagbag, file=DEMO_PATH).state == "success"
    enrollments = count(conn, "lms.enrollment")
    assert DEMO_PATH in remote.files(), "the original stayed: the delete failed"

    assert _run_import(dagbag, file=DEMO_PATH).state == "success"

    assert count(conn, "lms.enrollment") == enrollments
    assert rows_of(conn, "SELECT status FROM course_import.ledger ORDER BY started_at") == [
        ("loaded",), ("duplicate_file",)]
    files = remote.files()
    assert DEMO_PATH not in files
    assert len([p for p in files if p.startswith("archive/")]) == 2

