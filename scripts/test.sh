#!/usr/bin/env bash
# README command 2: the whole test suite, on the real PostgreSQL (a throwaway database per session).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
source scripts/env.sh
COURSE_RECORDS_TEST_PG="${COURSE_RECORDS_TEST_PG:-$(scripts/postgres.sh)}"
export COURSE_RECORDS_TEST_PG
.venv/bin/ruff check .
exec .venv/bin/python -m pytest "$@"
