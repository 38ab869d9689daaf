# Flock: the two commands a newcomer needs are `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8000
# The PostgreSQL + Redis pass of `make test` (the machine's services; override to point elsewhere).
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/flock
TEST_REDIS_URL ?= redis://127.0.0.1:6379/1

.PHONY: tooling run worker test test-embedded test-services deploy bench bench-queries bench-messaging loadtest cluster cluster-stop test-cluster bench-cluster capacity

$(VENV)/.runtime: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r requirements.txt
	touch $@

$(VENV)/.dev: $(VENV)/.runtime requirements-dev.txt
	$(PY) -m pip install -q --disable-pip-version-check -r requirements-dev.txt
	touch $@

# The browser tests' tooling from npm (axe-core, pinned by its package-lock.json), when npm is there:
# without it the accessibility test is skipped with a notice (and fails under CI=true).
AXE := tests/browser/tooling/node_modules/axe-core/axe.min.js
$(AXE): tests/browser/tooling/package.json tests/browser/tooling/package-lock.json
	@if command -v npm >/dev/null 2>&1; then cd tests/browser/tooling && npm ci --no-audit --no-fund --loglevel=error && touch node_modules/axe-core/axe.min.js; \
	else echo "!! npm not found: the accessibility test (axe-core) will be skipped"; fi

tooling: $(AXE)

## make run: install, migrate, collect static, seed demo data when empty, serve with Gunicorn on PORT,
## with one task worker beside it (texts, periodic jobs) unless RUN_WORKER=0 (scripts/run.sh).
run: $(VENV)/.runtime
	$(PY) manage.py migrate --noinput
	$(PY) manage.py collectstatic --noinput -v 0
	@mkdir -p var && $(PY) manage.py seed_demo --if-empty > var/run-accounts.txt
	@PORT=$(PORT) bash scripts/welcome.sh var/run-accounts.txt
	PORT=$(PORT) exec bash scripts/run.sh

## make worker: one task worker in the foreground (SIGTERM / Ctrl-C: finishes the current send, exits).
worker: $(VENV)/.runtime
	$(PY) manage.py migrate --noinput
	exec $(PY) manage.py run_worker

## make test: the whole suite, on the embedded default and on PostgreSQL + Redis.
test: $(VENV)/.dev tooling
	$(MAKE) --no-print-directory test-embedded
	$(MAKE) --no-print-directory test-services

test-embedded: $(VENV)/.dev tooling
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
	$(MAKE) --no-print-directory bench-messaging
	BENCH_DATABASE_URL="$(BENCH_DATABASE_URL)" BENCH_REDIS_URL="$(BENCH_REDIS_URL)" $(PY) scripts/bench/run.py

BENCH_MESSAGING_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/flock_benchmsg
## make bench-messaging: a 10,000-recipient message's confirm time on PostgreSQL (median of several),
## deliveries/s with 1 and 2 real workers against a zero-latency fake Twilio beside the fake's raw request
## rate from a plain loop, with CPU shares; writes docs/bench/messaging.md (+ .json). About 2 minutes.
bench-messaging: $(VENV)/.dev
	BENCH_MESSAGING_DATABASE_URL="$(BENCH_MESSAGING_DATABASE_URL)" $(PY) scripts/bench/texts.py

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

# --- the multi-host topology on loopback (docs/scale-out.md) --------------------------------
CLUSTER_PORT ?= 8080

## make cluster: HAProxy (on CLUSTER_PORT) -> app hosts app-a and app-b (Gunicorn) -> PgBouncer ->
## PostgreSQL primary + streaming replica, Redis primary + replica + three Sentinels; data and logs
## in var/cluster/, var/cluster/topology.json lists every process. Installs the Debian packages
## it needs when run as root. Ports: CLUSTER_PORT, and the block CLUSTER_PORT_BASE (18400) + 1..32.
cluster: $(VENV)/.runtime
	CLUSTER_PORT=$(CLUSTER_PORT) $(PY) scripts/cluster/up.py

## make cluster-stop: stops every process of var/cluster/topology.json by its pid (data kept).
cluster-stop:
	CLUSTER_PORT=$(CLUSTER_PORT) $(if $(wildcard $(PY)),$(PY),$(PYTHON)) scripts/cluster/down.py

## make test-cluster: the fault tests on a private topology of their own (free ports, a temporary
## directory), every fault with more load and more rounds than the short version inside make test.
test-cluster: $(VENV)/.dev
	CLUSTER_FULL=1 env -u DATABASE_URL -u REDIS_URL $(PY) -m pytest tests/cluster -m cluster $(PYTEST_ARGS)

## make bench-cluster: the staff mix through the balancer with one app host vs two, PgBouncer vs
## direct, a dashboard miss on the replica vs the primary while a CSV import writes; writes
## docs/bench/cluster.md and its section of docs/benchmarks.md (own topology on free ports).
bench-cluster: $(VENV)/.dev
	$(PY) scripts/bench/cluster.py

## make capacity: the staff-mix capacity table (before vs after Phase 1, and each piece off in turn),
## open-loop at stepped rates against Gunicorn on 127.0.0.1, on the 1.1M-member bench database of
## bench-queries (seeded here the first time) and a copy of it without the critical indices; a private
## Redis. ~25 min on 2 cores (measured), seeding included; stops by itself. Writes docs/capacity.md, .png, .json.
## Development: .venv/bin/python scripts/bench/capacity.py --quick (a few minutes, noisy).
capacity: $(VENV)/.dev
	BENCH_DATABASE_URL="$(BENCH_QUERIES_DATABASE_URL)" $(PY) scripts/bench/capacity.py
