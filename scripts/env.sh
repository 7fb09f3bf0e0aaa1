# Shared environment for the Makefile's demo and test commands. Source it from the repository root.
# Everything has a default; set a variable before `make` to override it.
ROOT="$(pwd)"
export PATH="$ROOT/.venv/bin:$PATH"          # airflow standalone spawns `airflow` subprocesses
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
export AIRFLOW_HOME="${AIRFLOW_HOME:-$ROOT/.airflow}"
export AIRFLOW__CORE__DAGS_FOLDER="${AIRFLOW__CORE__DAGS_FOLDER:-$ROOT/dags}"
export AIRFLOW__CORE__PLUGINS_FOLDER="${AIRFLOW__CORE__PLUGINS_FOLDER:-$ROOT/plugins}"
export AIRFLOW__CORE__LOAD_EXAMPLES="${AIRFLOW__CORE__LOAD_EXAMPLES:-False}"
export AIRFLOW_VAR_COURSE_RECORD_LANDING="${AIRFLOW_VAR_COURSE_RECORD_LANDING:-file://$ROOT/data/landing}"
