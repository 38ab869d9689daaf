# Flock: the two commands a newcomer needs are `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8000
# The PostgreSQL + Redis pass of `make test` (the machine's services; override to point elsewhere).
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/flock
TEST_REDIS_URL ?= redis://127.0.0.1:6379/1

.PHONY: run test test-embedded test-services deploy bench bench-queries loadtest capacity

$(VENV)/.runtime: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r requirements.txt
	touch $@

$(VENV)/.dev: $(VENV)/.runtime requirements-dev.txt
	$(PY) -m pip install -q --disable-pip-version-check -r requirements-dev.txt
	touch $@

## make run: install, migrate, collect static, seed demo data when empty, serve with Gunicorn on PORT.
run: $(VENV)/.runtime
	$(PY) manage.py migrate --noinput
	$(PY) manage.py collectstatic --noinput -v 0
	$(PY) manage.py seed_demo --if-empty
	PORT=$(PORT) exec $(VENV)/bin/gunicorn -c gunicorn.conf.py churchapp.wsgi

## make test: the whole suite, on the embedded default and on PostgreSQL + Redis.
test: $(VENV)/.dev
	$(MAKE) --no-print-directory test-embedded
	$(MAKE) --no-print-directory test-services

test-embedded: $(VENV)/.dev
	@echo "== make test: embedded default (SQLite + shared disk cache) =="
	env -u DATABASE_URL -u REDIS_URL $(PY) -m pytest $(PYTEST_ARGS)

test-services: $(VENV)/.dev
	@echo "== make test: PostgreSQL + Redis ($(TEST_DATABASE_URL), $(TEST_REDIS_URL)) =="
	@if $(PY) scripts/services_up.py "$(TEST_DATABASE_URL)" "$(TEST_REDIS_URL)"; then \
		DATABASE_URL="$(TEST_DATABASE_URL)" REDIS_URL="$(TEST_REDIS_URL)" $(PY) -m pytest $(PYTEST_ARGS); \
	elif [ "$$CI" = "true" ]; then \
		echo "PostgreSQL or Redis is not answering and CI=true: failing instead of skipping."; exit 1; \
	else \
		echo "!! PostgreSQL or Redis is not answering: the PostgreSQL + Redis pass was NOT run."; \
	fi

## make deploy: install, migrate (stops on failure), collect static, then HUP the running Gunicorn
## master (var/gunicorn.pid) or start one in the background. See docs/operations.md.
deploy:
	PORT=$(PORT) bash scripts/deploy.sh

# make bench / make loadtest: the machine's PostgreSQL + Redis (their own database and db number).
BENCH_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/flock_benchdash
BENCH_REDIS_URL ?= redis://127.0.0.1:6379/9

## make bench: first `make bench-queries` (hot queries at a million members, ~5 min with its seed), then the
## dashboard bench: cache off vs on, side by side in one run (~3 min; seeds 100,000 members the first
## time), including the staff mix from an empty cache and in the steady state. Writes docs/benchmarks.md
## (with a "Hot queries at a million members" section from docs/bench/queries-1m.json),
## docs/benchmarks.png and docs/benchmarks.json. Needs wrk (apt-get install wrk).
## The dashboard bench alone: .venv/bin/python scripts/bench/run.py (it reads the last queries-1m.json).
bench: $(VENV)/.dev
	$(MAKE) --no-print-directory bench-queries
	BENCH_DATABASE_URL="$(BENCH_DATABASE_URL)" BENCH_REDIS_URL="$(BENCH_REDIS_URL)" $(PY) scripts/bench/run.py

## make loadtest: the quick smoke test of the staff mix (Locust, headless, 20 staff users with think time for
## 60 s against a Gunicorn on 127.0.0.1); writes docs/loadtest.md. Capacity is `make capacity`'s job.
loadtest: $(VENV)/.dev
	BENCH_DATABASE_URL="$(BENCH_DATABASE_URL)" BENCH_REDIS_URL="$(BENCH_REDIS_URL)" $(PY) scripts/bench/loadtest.py

BENCH_QUERIES_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/flock_bench
## make bench-queries: each hot query before/after the critical indices at a million members
## (1.1M members in 201 churches; seeds them the first time, ~2.5 of its ~5 min); writes docs/bench/queries-1m.md
## and .json (the JSON feeds the "Hot queries at a million members" section of docs/benchmarks.md).
bench-queries: $(VENV)/.dev
	DATABASE_URL="$(BENCH_QUERIES_DATABASE_URL)" CACHE_ASIDE=off $(PY) scripts/bench_queries.py --seed --report queries-1m

## make capacity: the staff-mix capacity table (before vs after Phase 1, and each piece off in turn),
## open-loop at stepped rates against Gunicorn on 127.0.0.1, on the 1.1M-member bench database of
## bench-queries (seeded here the first time) and a copy of it without the critical indices; a private
## Redis. ~25 min on 2 cores (measured), seeding included; stops by itself. Writes docs/capacity.md, .png, .json.
## Development: .venv/bin/python scripts/bench/capacity.py --quick (a few minutes, noisy).
capacity: $(VENV)/.dev
	BENCH_DATABASE_URL="$(BENCH_QUERIES_DATABASE_URL)" $(PY) scripts/bench/capacity.py
