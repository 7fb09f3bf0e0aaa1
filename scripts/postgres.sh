#!/usr/bin/env bash
# Print a postgresql:// URI for a running server, starting one if needed:
#   1. $COURSE_RECORDS_PG (an admin URI) if set;  2. the local server on 127.0.0.1:5432 (started
#   with pg_ctlcluster if it is installed but down);  3. an embedded server from the pgserver wheel
#   in .pgdata/ (no install, no root needed).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -n "${COURSE_RECORDS_PG:-}" ]; then echo "$COURSE_RECORDS_PG"; exit 0; fi
local_uri="postgresql://postgres@127.0.0.1:5432/postgres"
ready() { .venv/bin/python -c "import psycopg2,sys; psycopg2.connect(sys.argv[1], connect_timeout=3).close()" "$1" 2>/dev/null; }
if ready "$local_uri"; then echo "$local_uri"; exit 0; fi
if command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ]; then
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start >&2 || true
  for _ in $(seq 1 20); do ready "$local_uri" && { echo "$local_uri"; exit 0; }; sleep 1; done
fi
echo "no PostgreSQL on 127.0.0.1:5432: starting an embedded one in .pgdata/ (pgserver)" >&2
.venv/bin/python - <<'PY'
import pathlib, pgserver
server = pgserver.get_server(pathlib.Path(".pgdata").resolve(), cleanup_mode=None)  # keeps running
print(server.get_uri())
PY
