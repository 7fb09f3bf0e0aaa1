# The two commands of the README. Both set up everything they need on a fresh machine.
.PHONY: demo test lint bench bench-datadocs lock fuzz

demo:  ## set up, load the demo catalogue, run the import DAG on the demo files
	bash scripts/demo.sh

test:  ## the whole test suite (real PostgreSQL: a throwaway database per session)
	bash scripts/test.sh

fuzz:  ## the generated-file suite's long run: FUZZ_EXAMPLES (20000) over FUZZ_WORKERS processes; prints the count
	bash scripts/fuzz.sh

lint:
	bash scripts/setup.sh && .venv/bin/ruff check .

bench:  ## speed: validate and import 100k/1M/10M-row files beside a raw COPY and the LMS COPY floor (see README; ARGS="--sizes 100000")
	bash scripts/setup.sh && . scripts/env.sh && COURSE_RECORDS_PG="$$(scripts/postgres.sh)" python -m bench.run $(ARGS)

bench-datadocs:  ## Data Docs: publish time and store operations against 10,000 earlier validations
	bash scripts/setup.sh && . scripts/env.sh && COURSE_RECORDS_PG="$$(scripts/postgres.sh)" python -m bench.datadocs $(ARGS)

lock:  ## recompile requirements.txt from requirements.in
	uv pip compile requirements.in -o requirements.txt --python-version 3.11
