#!/usr/bin/env bash
# README command 1: set up everything and run the import DAG on the demo files. Safe to re-run.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
source scripts/env.sh
admin_uri="$(scripts/postgres.sh)"
if [ -z "${AIRFLOW_CONN_LMS_DB:-}" ]; then
  AIRFLOW_CONN_LMS_DB="$(python scripts/lms_database.py "$admin_uri" course_records)"
  export AIRFLOW_CONN_LMS_DB
fi
mkdir -p "$AIRFLOW_HOME" data/landing
echo "== Airflow metadata ($AIRFLOW_HOME) and the import pool"
airflow db migrate >"$AIRFLOW_HOME/setup.log" 2>&1 || { tail -20 "$AIRFLOW_HOME/setup.log"; exit 1; }
airflow pools import config/pools.json >>"$AIRFLOW_HOME/setup.log" 2>&1
echo "== LMS database"
python -m include.course_records init-db --demo 2>/dev/null
for file in course/CARD-101/card-101-2026.csv global/legacy-history.csv; do
  echo "== import run for $file"
  landing="${AIRFLOW_VAR_COURSE_RECORD_LANDING#file://}"
  mkdir -p "$(dirname "$landing/$file")"
  cp "demo/$file" "$landing/$file"
  log="$AIRFLOW_HOME/demo-$(basename "$file" .csv).log"
  airflow dags test course_record_import -c "{\"file\": \"$file\"}" >"$log" 2>&1 || true
  python scripts/show_run.py "$file" --log "$log"
done
echo
echo "Open the Airflow UI on the same set-up:  source scripts/env.sh && AIRFLOW_CONN_LMS_DB=$AIRFLOW_CONN_LMS_DB airflow standalone"
echo "Data Docs: $(python -c 'from include.course_records import settings; print(settings.data_docs_url())')/index.html"
