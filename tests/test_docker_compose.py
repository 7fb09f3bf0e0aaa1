"""docker-compose.yaml and the Dockerfile agree with the code: the same names, files and image.

The compose file is read the way Compose reads it: by `docker compose config` and by the older
`docker-compose config` where either client is installed, and always by PyYAML with Compose's
`${VAR:-default}` interpolation done here (as with an empty environment).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from include.course_records import settings
from tests.conftest import REPO

COMPOSE_FILE = REPO / "docker-compose.yaml"
DOCKERFILE = REPO / "Dockerfile"
AIRFLOW_SERVICES = ("airflow-apiserver", "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer",
                    "airflow-worker", "airflow-init")
DATA_DOCS_LINK_ENV = "COURSE_RECORD_DATA_DOCS_LINK"  # plugins/data_docs_link.py
_VARIABLE = re.compile(r"\$\$|\$\{(\w+)(?:(:?[-?])([^}]*))?\}")


def _clean_env() -> dict[str, str]:
    """Only what the client needs to run: the user's own settings must not change what is checked."""
    return {key: os.environ[key] for key in ("PATH", "HOME") if key in os.environ}


def _interpolate(value: Any) -> Any:
    """Compose's variable substitution, every variable unset: defaults apply, `$$` is a `$`."""
    if isinstance(value, str):
        return _VARIABLE.sub(lambda m: "$" if m.group(0) == "$$" else (m.group(3) or ""), value)
    if isinstance(value, list):
        return [_interpolate(v) for v in value]
    if isinstance(value, dict):
        return {k: _interpolate(v) for k, v in value.items()}
    return value


def _compose_v2_available() -> bool:
    if not shutil.which("docker"):
        return False
    return subprocess.run(["docker", "compose", "version"], capture_output=True, check=False,
                          env=_clean_env()).returncode == 0


CLIENTS = [name for name, available in (("docker compose", _compose_v2_available()),
                                        ("docker-compose", bool(shutil.which("docker-compose")))) if available]


def _read(parser: str) -> dict[str, Any]:
    if parser == "pyyaml":
        return _interpolate(yaml.safe_load(COMPOSE_FILE.read_text()))
    if parser == "docker compose":
        command = ["docker", "compose", "-f", str(COMPOSE_FILE), "config", "--format", "json"]
    else:
        command = ["docker-compose", "-f", str(COMPOSE_FILE), "config"]
    result = subprocess.run(command, capture_output=True, text=True, check=False, timeout=120, env=_clean_env())
    assert result.returncode == 0, f"{' '.join(command[:2])} config rejects the file:\n{result.stderr}"
    document = json.loads(result.stdout) if "--format" in command else yaml.safe_load(result.stdout)
    # docker-compose v1 prints `$$` as written; v2 resolves it
    return _interpolate(document) if parser == "docker-compose" else document


@pytest.fixture(scope="module", params=["pyyaml", *CLIENTS])
def compose(request) -> dict[str, Any]:
    """The compose file as each reader at hand resolves it: PyYAML, and every Compose client installed."""
    return _read(request.param)


def test_a_compose_client_accepts_the_file():
    if not CLIENTS:
        pytest.skip("neither `docker compose` nor `docker-compose` is installed: checked with PyYAML only")
    for client in CLIENTS:
        assert _read(client)["services"]


def environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):  # KEY=VALUE items
        env = dict(item.split("=", 1) for item in env)
    return {key: "" if value is None else str(value) for key, value in env.items()}


def volumes(service: dict[str, Any]) -> dict[str, str]:
    """Mount target → source (a named volume or a host path), short or long syntax."""
    out = {}
    for volume in service.get("volumes") or []:
        if isinstance(volume, str):
            source, target = volume.split(":")[:2]
        else:
            source, target = volume.get("source", ""), volume["target"]
        out[target] = source
    return out


def published_ports(service: dict[str, Any]) -> set[int]:
    ports = set()
    for port in service.get("ports") or []:
        if isinstance(port, dict):
            ports.add(int(port["published"]))
        else:
            parts = str(port).split(":")
            if len(parts) > 1:
                ports.add(int(parts[-2]))
    return ports


def command_text(service: dict[str, Any]) -> str:
    command = service.get("command") or ""
    return "\n".join(command) if isinstance(command, list) else command


# --- the compose file -------------------------------------------------------------------------

def test_the_stack_has_every_service(compose):
    expected = {*AIRFLOW_SERVICES, "postgres", "redis", "lms-db", "minio", "minio-init", "sftp"}
    assert expected <= set(compose["services"])


def test_every_airflow_service_runs_the_image_built_from_the_dockerfile(compose):
    services = compose["services"]
    images = {services[name]["image"] for name in AIRFLOW_SERVICES}
    assert len(images) == 1, "one image for all: a scaled-out worker runs what the scheduler parsed"
    for name in AIRFLOW_SERVICES:
        build = services[name]["build"]
        build = {"context": build} if isinstance(build, str) else build
        assert (COMPOSE_FILE.parent / build["context"]).resolve() == REPO, name
        assert build.get("dockerfile", "Dockerfile") == DOCKERFILE.name, name
        assert not environment(services[name]).get("_PIP_ADDITIONAL_REQUIREMENTS"), \
            f"{name}: requirements belong in the image, not installed at every start"


def test_airflow_services_name_the_connection_variable_and_settings_the_code_reads(compose):
    lms_env = f"AIRFLOW_CONN_{settings.LMS_CONN_ID.upper()}"
    landing_env = f"AIRFLOW_VAR_{settings.LANDING_VARIABLE.upper()}"
    assert (lms_env, landing_env) == (settings.LMS_CONN_ENV, settings.LANDING_ENV)
    for name in AIRFLOW_SERVICES:
        env = environment(compose["services"][name])
        assert env[lms_env].startswith(("postgresql://", "postgres://")), name
        assert settings.DATA_DOCS_ENV in env and DATA_DOCS_LINK_ENV in env, f"{name}: .env cannot reach it"
        landing = env[landing_env]
        scheme, _, rest = landing.partition("://")
        assert scheme in {"file", "s3", "sftp"}, f"{name}: {landing}"
        conn_id = rest.split("@", 1)[0] if "@" in rest.split("/", 1)[0] else None
        if conn_id:  # the landing root's connection is defined beside it
            assert f"AIRFLOW_CONN_{conn_id.upper()}" in env, f"{name}: no connection {conn_id!r} for {landing}"


# Settings scripts/cluster.sh gives every process that the compose stack must give every container
# (the rest is where things are: hosts, ports, secrets, paths).
SHARED_WITH_THE_CLUSTER = (
    "AIRFLOW__CORE__EXECUTOR", "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION", "AIRFLOW__CORE__LOAD_EXAMPLES",
    "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK", "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT",
    "AIRFLOW_VAR_COURSE_RECORD_LANDING",
)


def test_the_cluster_script_and_the_stack_share_their_settings(compose):
    import re

    script = (REPO / "scripts/cluster.sh").read_text()
    template = script[script.index('cat >"$CLUSTER_DIR/cluster.env"'):]
    defaults = dict(re.findall(r'^(CLUSTER_[A-Z_]+)="\$\{CLUSTER_[A-Z_]+:-(.*)\}"', script, re.M))
    cluster = {}
    for key, value in re.findall(r"^([A-Z_0-9]+)=(.*)$", template, re.M):
        cluster[key] = re.sub(r"\$(CLUSTER_[A-Z_]+)", lambda m: defaults.get(m.group(1), m.group(0)), value)
    for name in AIRFLOW_SERVICES:
        env = environment(compose["services"][name])
        for key in SHARED_WITH_THE_CLUSTER:
            assert env[key].lower() == cluster[key].lower(), (name, key, env[key], cluster[key])


def _airflow_connection(conn_id: str, value: str):
    """The connection as Airflow reads it from AIRFLOW_CONN_<ID>: JSON or a URI."""
    from airflow.models.connection import Connection

    if value.lstrip().startswith("{"):
        return Connection.from_json(value, conn_id=conn_id)
    return Connection(conn_id=conn_id, uri=value)


def test_the_default_landing_connections_reach_the_bundled_minio_and_sftp(compose):
    env = environment(compose["services"]["airflow-worker"])
    s3 = _airflow_connection("landing_s3", env["AIRFLOW_CONN_LANDING_S3"])
    sftp = _airflow_connection("landing_sftp", env["AIRFLOW_CONN_LANDING_SFTP"])
    minio = environment(compose["services"]["minio"])
    assert (s3.conn_type, s3.extra_dejson["endpoint_url"]) == ("aws", "http://minio:9000")
    assert (s3.login, s3.password) == (minio["MINIO_ROOT_USER"], minio["MINIO_ROOT_PASSWORD"])
    assert (sftp.conn_type, sftp.host, sftp.port) == ("sftp", "sftp", 22)
    user, password = command_text(compose["services"]["sftp"]).split(":")[:2]
    assert (sftp.login, sftp.password) == (user, password)


def test_init_migrates_imports_the_pool_file_and_creates_the_lms_schema(compose):
    init = command_text(compose["services"]["airflow-init"])
    assert "airflow db migrate" in init
    assert "airflow pools import config/pools.json" in init
    assert "python -m include.course_records init-db" in init
    pools = json.loads((REPO / "config" / "pools.json").read_text())
    assert pools[settings.IMPORT_POOL]["slots"] == 1, "loads are serialised by a one-slot pool"


def test_the_data_docs_live_in_the_landing_store_every_worker_reaches(compose, monkeypatch):
    """No local volume to share between machines: the site defaults to <landing root>/reports/data_docs."""
    services = compose["services"]
    env = environment(services["airflow-worker"])
    monkeypatch.setenv(settings.DATA_DOCS_ENV, env[settings.DATA_DOCS_ENV])
    landing = env[settings.LANDING_ENV]
    assert settings.data_docs_url(landing) == f"{landing}/reports/data_docs"
    for name in AIRFLOW_SERVICES:
        assert not [target for target in volumes(services[name]) if "data_docs" in target], name


def test_workers_can_be_scaled_out(compose):
    worker = compose["services"]["airflow-worker"]
    assert "container_name" not in worker, "a fixed name allows one replica only"
    assert not published_ports(worker), "a fixed host port allows one replica only"
    assert command_text(worker).split() == ["celery", "worker"]


# --- the Dockerfile ---------------------------------------------------------------------------

def test_dockerfile_extends_the_locked_airflow_and_installs_requirements():
    text = DOCKERFILE.read_text()
    [base] = re.findall(r"^FROM\s+(\S+)", text, flags=re.M)
    locked = re.search(r"^apache-airflow==(\S+)", (REPO / "requirements.txt").read_text(), flags=re.M).group(1)
    assert base == f"apache/airflow:{locked}-python3.11"
    copied = re.search(r"^COPY[ \t].*\brequirements\.txt[ \t]+(\S+)$", text, flags=re.M)
    assert copied, "the Dockerfile copies requirements.txt"
    assert re.search(rf"^RUN[ \t]+pip install\b.*-r[ \t]+{re.escape(copied.group(1))}$", text, flags=re.M)
    for folder in ("include", "dags", "plugins", "expectations", "config"):
        assert re.search(rf"^COPY[ \t].*\b{folder}/[ \t]+/opt/airflow/{folder}/$", text, flags=re.M), folder
    assert re.search(r"^ENV\s+PYTHONPATH=/opt/airflow\b", text, flags=re.M)


def test_dockerignore_keeps_local_state_out_of_the_image():
    ignored = {line.strip() for line in (REPO / ".dockerignore").read_text().splitlines()
               if line.strip() and not line.startswith("#")}
    assert {".git", ".venv", "data", ".env"} <= ignored
    for needed in ("include", "dags", "plugins", "expectations", "config", "requirements.txt"):
        assert needed not in ignored and Path(REPO / needed).exists()
