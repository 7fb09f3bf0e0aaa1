#!/usr/bin/env bash
# Create .venv and install the locked requirements (idempotent, fast when nothing changed).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3.11}"
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3
if [ ! -x .venv/bin/python ]; then
  echo "creating .venv with $("$PYTHON" --version)"
  "$PYTHON" -m venv .venv
fi
stamp=.venv/.requirements.sha256
# the stamp names the lock and how it was installed (bytecode compiled: cold processes start fast)
want="$(sha256sum requirements.txt | cut -d' ' -f1) compiled"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "installing requirements.txt into .venv"
  .venv/bin/python -m pip install --quiet --disable-pip-version-check "uv==0.13.9"
  # Compile bytecode now: machines that set PYTHONDONTWRITEBYTECODE would otherwise recompile
  # Airflow, GX and pandas in every cold process (seconds each).
  .venv/bin/uv pip sync --quiet --compile-bytecode --python .venv/bin/python requirements.txt
  echo "$want" > "$stamp"
fi
