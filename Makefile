# The two commands of the README. Both set up everything they need on a fresh machine.
.PHONY: demo test lint bench bench-datadocs lock fuzz cluster cluster-stop cluster-status cluster-test

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

cluster:  ## the compose topology as processes on loopback: API server, scheduler, DAG processor, triggerer, 2 Celery workers, S3 landing (README)
	bash scripts/cluster.sh start

cluster-stop:  ## stop every process `make cluster` started (by pid)
	bash scripts/cluster.sh stop

cluster-status:
	bash scripts/cluster.sh status

cluster-test:  ## the cluster scenarios (tests/cluster/) on a fresh cluster, stopped afterwards
	bash scripts/cluster.sh stop && bash scripts/cluster.sh start --fresh \
	  && { bash scripts/test.sh -m cluster tests/cluster $(ARGS); status=$$?; bash scripts/cluster.sh stop; exit $$status; } \
	  || { bash scripts/cluster.sh stop; exit 1; }
