#!/usr/bin/env bash
# The compose stack's topology as processes on loopback (no Docker): Airflow API server,
# scheduler, DAG processor, triggerer and two Celery workers (CeleryExecutor; Redis broker;
# PostgreSQL for Airflow's metadata and Celery's results), the landing folder and the Data Docs
# site on an S3 API server (moto), the LMS on PostgreSQL.
#
#   scripts/cluster.sh start [--fresh]   start what is not running (--fresh: empty databases first)
#   scripts/cluster.sh status            each process, alive or not, and the scheduler's health
#   scripts/cluster.sh stop              stop every process this script started (by pid), nothing else
#   scripts/cluster.sh restart NAME      stop and start one component (scheduler, worker1, …)
#
# State lives in $CLUSTER_DIR (default .cluster/, git-ignored): pids/, logs/ (one per process),
# the Airflow home, cluster.env (the settings, for the tests and for `source`). Every setting
# below can be overridden from the environment; docker-compose.yaml carries the same Airflow and
# pipeline settings (README, "Run it as a cluster on one machine").
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$(pwd)"

CLUSTER_DIR="${CLUSTER_DIR:-.cluster}"
CLUSTER_API_PORT="${CLUSTER_API_PORT:-18080}"
CLUSTER_S3_PORT="${CLUSTER_S3_PORT:-15000}"
CLUSTER_REDIS_PORT="${CLUSTER_REDIS_PORT:-6379}"
CLUSTER_REDIS_DB="${CLUSTER_REDIS_DB:-7}"                 # a Redis database of its own
CLUSTER_PORT_BASE="${CLUSTER_PORT_BASE:-18790}"           # log servers and health check: base … base+4
CLUSTER_AIRFLOW_DB="${CLUSTER_AIRFLOW_DB:-course_records_cluster_airflow}"
CLUSTER_LMS_DB="${CLUSTER_LMS_DB:-course_records_cluster}"
CLUSTER_WORKER_CONCURRENCY="${CLUSTER_WORKER_CONCURRENCY:-2}"
# how long a running task may go without a heartbeat before the scheduler fails it (a dead worker)
CLUSTER_HEARTBEAT_TIMEOUT="${CLUSTER_HEARTBEAT_TIMEOUT:-60}"
CLUSTER_SCAN_SCHEDULE="${CLUSTER_SCAN_SCHEDULE:-* * * * *}"
COMPONENTS=(api-server scheduler dag-processor triggerer worker1 worker2)

mkdir -p "$CLUSTER_DIR"
CLUSTER_DIR="$(cd "$CLUSTER_DIR" && pwd)"
PIDS="$CLUSTER_DIR/pids"
LOGS="$CLUSTER_DIR/logs"

log() { printf '%s %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

alive() {  # alive NAME: its recorded process is running
  local pid
  pid="$(cat "$PIDS/$1.pid" 2>/dev/null)" || return 1
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null
}

environment() {  # write cluster.env: what every component and the tests read
  local pg="$1" secret
  secret="$CLUSTER_DIR/secret"
  [ -s "$secret" ] || .venv/bin/python -c "import secrets; print(secrets.token_urlsafe(24))" >"$secret"
  [ -s "$CLUSTER_DIR/fernet" ] || .venv/bin/python -c \
    "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())" >"$CLUSTER_DIR/fernet"
  [ -s "$CLUSTER_DIR/passwords.json" ] || .venv/bin/python -c \
    "import json, secrets; print(json.dumps({'admin': secrets.token_urlsafe(12)}))" >"$CLUSTER_DIR/passwords.json"
  local server="${pg%/*}" airflow_db s3
  airflow_db="${server/postgresql:\/\//postgresql+psycopg2://}/$CLUSTER_AIRFLOW_DB"
  s3="aws://testing:testing@/?endpoint_url=http%3A%2F%2F127.0.0.1%3A${CLUSTER_S3_PORT}&region_name=us-east-1"
  cat >"$CLUSTER_DIR/cluster.env" <<EOF
# written by scripts/cluster.sh start; the same names as docker-compose.yaml's x-airflow-common
AIRFLOW_HOME=$CLUSTER_DIR/airflow
AIRFLOW__CORE__DAGS_FOLDER=$ROOT/dags
AIRFLOW__CORE__PLUGINS_FOLDER=$ROOT/plugins
AIRFLOW__CORE__EXECUTOR=CeleryExecutor
AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=$airflow_db
AIRFLOW__CELERY__RESULT_BACKEND=db+$server/$CLUSTER_AIRFLOW_DB
AIRFLOW__CELERY__BROKER_URL=redis://127.0.0.1:$CLUSTER_REDIS_PORT/$CLUSTER_REDIS_DB
AIRFLOW__CELERY__WORKER_CONCURRENCY=$CLUSTER_WORKER_CONCURRENCY
AIRFLOW__CORE__FERNET_KEY=$(cat "$CLUSTER_DIR/fernet")
AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION=False
AIRFLOW__CORE__LOAD_EXAMPLES=False
AIRFLOW__CORE__EXECUTION_API_SERVER_URL=http://127.0.0.1:$CLUSTER_API_PORT/execution/
AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS=admin:admin
AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE=$CLUSTER_DIR/passwords.json
AIRFLOW__API__HOST=127.0.0.1
AIRFLOW__API__PORT=$CLUSTER_API_PORT
AIRFLOW__API__BASE_URL=http://127.0.0.1:$CLUSTER_API_PORT
AIRFLOW__API_AUTH__JWT_SECRET=$(cat "$secret")
AIRFLOW__API__SECRET_KEY=$(cat "$secret")
AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK=True
AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_HOST=127.0.0.1
AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_PORT=$((CLUSTER_PORT_BASE + 4))
AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT=$CLUSTER_HEARTBEAT_TIMEOUT
AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT=$((CLUSTER_PORT_BASE + 3))
AIRFLOW_CONN_LMS_DB=$server/$CLUSTER_LMS_DB
AIRFLOW_CONN_LANDING_S3=$s3
AIRFLOW_VAR_COURSE_RECORD_LANDING=s3://landing_s3@course-records/landing
COURSE_RECORD_SCAN_SCHEDULE=$CLUSTER_SCAN_SCHEDULE
PYTHONPATH=$ROOT
CLUSTER_DIR=$CLUSTER_DIR
CLUSTER_API_URL=http://127.0.0.1:$CLUSTER_API_PORT
CLUSTER_S3_ENDPOINT=http://127.0.0.1:$CLUSTER_S3_PORT
CLUSTER_REDIS_URL=redis://127.0.0.1:$CLUSTER_REDIS_PORT/$CLUSTER_REDIS_DB
CLUSTER_ADMIN_URI=$pg
EOF
  # every value quoted: a connection URI has & and %, a cron schedule has *
  sed -i -E "s/^([A-Za-z_0-9]+)=(.*)$/\1='\2'/" "$CLUSTER_DIR/cluster.env"
}

load_env() {
  set -a
  # shellcheck disable=SC1091
  source "$CLUSTER_DIR/cluster.env"
  set +a
  export PATH="$ROOT/.venv/bin:$PATH"
}

launch() {  # launch NAME COMMAND…: its own session (so stop can end its children too), its own log
  local name="$1"
  shift
  if alive "$name"; then log "$name already running (pid $(cat "$PIDS/$name.pid"))"; return; fi
  # setsid: the process leads its own process group, whose id is the pid recorded
  setsid "$@" >>"$LOGS/$name.log" 2>&1 </dev/null &
  echo $! >"$PIDS/$name.pid"
  log "started $name (pid $!), log $LOGS/$name.log"
}

start_component() {
  case "$1" in
    api-server) launch api-server airflow api-server --port "$CLUSTER_API_PORT" --host 127.0.0.1 ;;
    scheduler) launch scheduler airflow scheduler ;;
    dag-processor) launch dag-processor airflow dag-processor ;;
    triggerer) launch triggerer airflow triggerer ;;
    worker1 | worker2)
      local n="${1#worker}"
      AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT=$((CLUSTER_PORT_BASE + n)) \
        launch "$1" airflow celery worker --celery-hostname "$1@%h" --concurrency "$CLUSTER_WORKER_CONCURRENCY" ;;
    *) echo "unknown component $1 (one of: ${COMPONENTS[*]})" >&2; exit 2 ;;
  esac
}

wait_for() {  # wait_for WHAT SECONDS COMMAND…
  local what="$1" seconds="$2"
  shift 2
  for _ in $(seq 1 "$seconds"); do "$@" >/dev/null 2>&1 && return 0; sleep 1; done
  echo "$what did not come up within ${seconds}s; see $LOGS/" >&2
  return 1
}

redis_ping() { redis-cli -h 127.0.0.1 -p "$CLUSTER_REDIS_PORT" ping | grep -q PONG; }

start() {
  local fresh="${1:-}"
  mkdir -p "$PIDS" "$LOGS"
  scripts/setup.sh
  local pg
  pg="$(scripts/postgres.sh)"
  environment "$pg"
  load_env
  mkdir -p "$AIRFLOW_HOME"

  # Redis: the one answering on the port (a database number of our own), else one of ours
  if ! redis_ping; then
    command -v redis-server >/dev/null || { echo "no Redis on 127.0.0.1:$CLUSTER_REDIS_PORT and no redis-server" >&2; exit 1; }
    launch redis redis-server --bind 127.0.0.1 --port "$CLUSTER_REDIS_PORT" --save "" --dir "$CLUSTER_DIR"
    wait_for Redis 20 redis_ping
  fi
  # S3 API for the landing folder and the Data Docs (in memory: a new server starts empty)
  launch s3 moto_server -H 127.0.0.1 -p "$CLUSTER_S3_PORT"
  wait_for "moto S3" 30 curl -fs "$CLUSTER_S3_ENDPOINT/"
  python - <<'PY'
import os, boto3
s3 = boto3.client("s3", endpoint_url=os.environ["CLUSTER_S3_ENDPOINT"], region_name="us-east-1",
                  aws_access_key_id="testing", aws_secret_access_key="testing")
if "course-records" not in [b["Name"] for b in s3.list_buckets().get("Buckets", [])]:
    s3.create_bucket(Bucket="course-records")
PY

  if [ "$fresh" = "--fresh" ]; then
    for name in "${COMPONENTS[@]}"; do alive "$name" && { echo "stop the cluster before --fresh" >&2; exit 2; }; done
    log "fresh: dropping $CLUSTER_AIRFLOW_DB and $CLUSTER_LMS_DB, emptying Redis db $CLUSTER_REDIS_DB"
    python - "$pg" "$CLUSTER_AIRFLOW_DB" "$CLUSTER_LMS_DB" <<'PY'
import sys, psycopg2
from psycopg2 import sql
conn = psycopg2.connect(sys.argv[1]); conn.autocommit = True
with conn.cursor() as cur:
    for name in sys.argv[2:]:
        cur.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,))
        cur.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))
PY
    redis-cli -h 127.0.0.1 -p "$CLUSTER_REDIS_PORT" -n "$CLUSTER_REDIS_DB" flushdb >/dev/null
  fi
  python scripts/lms_database.py "$pg" "$CLUSTER_AIRFLOW_DB" >/dev/null
  python scripts/lms_database.py "$pg" "$CLUSTER_LMS_DB" >/dev/null
  log "Airflow metadata ($CLUSTER_AIRFLOW_DB), the import pool, the LMS ($CLUSTER_LMS_DB, demo catalogue)"
  airflow db migrate >>"$LOGS/setup.log" 2>&1 || { tail -20 "$LOGS/setup.log"; exit 1; }
  airflow pools import config/pools.json >>"$LOGS/setup.log" 2>&1
  python -m include.course_records init-db --demo >>"$LOGS/setup.log" 2>&1

  for name in "${COMPONENTS[@]}"; do start_component "$name"; done
  wait_for "the API server" 120 curl -fs "$CLUSTER_API_URL/api/v2/version"
  wait_for "the scheduler" 120 curl -fs "http://127.0.0.1:$AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_PORT/health"
  echo "Airflow UI: $CLUSTER_API_URL  (user admin, password in $CLUSTER_DIR/passwords.json)"
  echo "Landing: $AIRFLOW_VAR_COURSE_RECORD_LANDING on $CLUSTER_S3_ENDPOINT; LMS: $AIRFLOW_CONN_LMS_DB"
  echo "Logs: $LOGS/; settings: source <(sed 's/^/export /' $CLUSTER_DIR/cluster.env)"
}

stop_one() {  # stop_one NAME: TERM its process group, KILL what is left after 30 s
  local name="$1" pid
  pid="$(cat "$PIDS/$name.pid" 2>/dev/null)" || return 0
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
    kill -KILL -- "-$pid" 2>/dev/null || true
    log "stopped $name (pid $pid)"
  fi
  # what the group left behind (a worker's task processes) is killed with its group above
  rm -f "$PIDS/$name.pid"
}

stop() {
  [ -d "$PIDS" ] || { log "nothing to stop"; return 0; }
  local name
  for name in worker1 worker2 scheduler triggerer dag-processor api-server; do stop_one "$name"; done
  for name in s3 redis; do stop_one "$name"; done
  for file in "$PIDS"/*.pid; do [ -e "$file" ] && stop_one "$(basename "$file" .pid)"; done
  return 0
}

status() {
  local name state=0
  for name in s3 redis "${COMPONENTS[@]}"; do
    if alive "$name"; then printf '%-14s running (pid %s)\n' "$name" "$(cat "$PIDS/$name.pid")"
    elif [ -e "$PIDS/$name.pid" ]; then printf '%-14s DEAD (pid %s)\n' "$name" "$(cat "$PIDS/$name.pid")"; state=1
    elif [ "$name" = redis ]; then printf '%-14s not ours (the server on port %s)\n' "$name" "$CLUSTER_REDIS_PORT"
    else printf '%-14s not started\n' "$name"; state=1
    fi
  done
  if [ -e "$CLUSTER_DIR/cluster.env" ]; then
    load_env
    curl -fs "http://127.0.0.1:$AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_PORT/health" && echo || true
  fi
  return "$state"
}

case "${1:-}" in
  start) start "${2:-}" ;;
  stop) stop ;;
  status) status ;;
  restart)
    [ -n "${2:-}" ] || { echo "usage: $0 restart COMPONENT" >&2; exit 2; }
    load_env
    stop_one "$2"
    start_component "$2" ;;
  *) echo "usage: $0 start [--fresh] | stop | status | restart COMPONENT" >&2; exit 2 ;;
esac
