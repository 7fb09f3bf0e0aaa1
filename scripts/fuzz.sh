#!/usr/bin/env bash
# The generated-file suite's long run: FUZZ_EXAMPLES examples (default 20000) split over FUZZ_WORKERS
# pytest processes (default: the number of cores), each on its own throwaway database. Prints how
# many examples ran, how many were accepted and rejected, and how long it took. Each worker prints its
# count every 250 examples into its log (FUZZ_OUT/worker-N.log) and keeps FUZZ_OUT/worker-N.json current.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
source scripts/env.sh
COURSE_RECORDS_TEST_PG="${COURSE_RECORDS_TEST_PG:-$(scripts/postgres.sh)}"
export COURSE_RECORDS_TEST_PG
total="${FUZZ_EXAMPLES:-20000}"
workers="${FUZZ_WORKERS:-$(nproc)}"
out="${FUZZ_OUT:-fuzz-out}"
mkdir -p "$out"
started=$(date +%s)
pids=()
for i in $(seq 1 "$workers"); do
  FUZZ_EXAMPLES=$(( (total + workers - 1) / workers )) HYPOTHESIS_PROFILE=fuzz FUZZ_REPORT="$out/worker-$i.json" \
    .venv/bin/python -m pytest -q -s -p no:cacheprovider tests/include/course_records/test_generated_files.py \
    -k "test_generated_files_keep_the_invariants" >"$out/worker-$i.log" 2>&1 &
  pids+=($!)
done
status=0
for pid in "${pids[@]}"; do wait "$pid" || status=1; done
.venv/bin/python - "$out" "$(( $(date +%s) - started ))" <<'PY'
import json, pathlib, sys
reports = [json.loads(p.read_text()) for p in sorted(pathlib.Path(sys.argv[1]).glob("worker-*.json"))]
keys = ("examples", "accepted", "rejected", "loaded_rows")
total = {k: sum(r[k] for r in reports) for k in keys}
unfinished = sum(1 for r in reports if not r.get("finished", True))
print(f"fuzz: {total['examples']} examples ({total['accepted']} accepted, {total['rejected']} rejected, "
      f"{total['loaded_rows']} rows loaded) in {sys.argv[2]}s over {len(reports)} worker(s)"
      + (f"; {unfinished} worker(s) stopped before the end" if unfinished else ""))
PY
[ "$status" -eq 0 ] || { echo "a fuzz worker failed: see $out/worker-*.log (the shrunk example is printed there)"; exit 1; }
