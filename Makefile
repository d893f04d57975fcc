# The two README commands are `make run` and `make test`; both create .venv and install the
# project on first use (and again whenever pyproject.toml changes).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
SPECS_DIR ?= specs
# Node tools of the spec checks (AsyncAPI parser, openapi-typescript, tsc), pinned by
# tools/node/package-lock.json and installed into tools/node/node_modules only.
NODE_DIR := tools/node
NODE_BIN := $(NODE_DIR)/node_modules/.bin
NODE_STAMP := $(NODE_DIR)/node_modules/.installed-stamp
CLIENT_DIR := $(NODE_DIR)/client-check

.PHONY: install dev run cluster test pytest lint lint-check format typecheck export-openapi export-specs \
	bench bench-quick bench-rest screenshot clean node-deps node-deps-required client-check fuzz soak

$(STAMP): pyproject.toml setup.cfg
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --disable-pip-version-check -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: install
	$(PY) -m trading serve

# One host, several processes (docs/deployment.md): a supervisor and $(WORKERS) workers sharing
# the port, with Redis as the WebSocket backplane (a private redis-server on a loopback port
# unless TRADING_REDIS_URL is set; scripts/cluster.sh). `make cluster WORKERS=4`.
WORKERS ?= 2
cluster: install
	PY=$(PY) WORKERS=$(WORKERS) scripts/cluster.sh

dev: install
	$(VENV)/bin/watchfiles --filter python '$(PY) -m trading serve' trading

test: install lint-check typecheck node-deps pytest

# The suite runs in $(PYTEST_WORKERS) processes (pytest-xdist): most of its time is spent
# waiting on servers it started (restarts, kill -9, browsers), so two workers on this 2-core
# machine halve the wall time (14 min -> 5 min) at 141 % CPU. `make pytest PYTEST_WORKERS=0`
# runs it in one process; each worker starts its own redis-server/PostgreSQL when asked for.
PYTEST_WORKERS ?= 2
pytest: install
	$(PY) -m pytest -n $(PYTEST_WORKERS) --dist worksteal

lint: install
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

lint-check: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install
	$(VENV)/bin/ruff format .

typecheck: install
	$(VENV)/bin/mypy

export-openapi export-specs: install
	$(PY) -m trading export-specs --out $(SPECS_DIR)

# Without npm, `make test` still runs: the AsyncAPI parser test then skips with its reason.
node-deps:
	@if command -v npm >/dev/null 2>&1; then \
		$(MAKE) --no-print-directory $(NODE_STAMP); \
	else \
		echo "node-deps: npm not found, skipping (the AsyncAPI parser and generated-client" \
			"tests will be skipped; install Node.js >= 18 for them and for make client-check)"; \
	fi

node-deps-required:
	@command -v npm >/dev/null 2>&1 || { echo "npm not found: install Node.js >= 18" >&2; exit 1; }
	@$(MAKE) --no-print-directory $(NODE_STAMP)

$(NODE_STAMP): $(NODE_DIR)/package.json $(NODE_DIR)/package-lock.json
	cd $(NODE_DIR) && npm ci
	touch $@

# TypeScript types generated from the committed specs/openapi.json, type-checked (tsc --strict)
# together with a small typed usage example (what a frontend would write against the
# reference's names). Request and response share one schema per model (rest.md §1), so
# defaulted fields must stay optional in the types: --default-non-nullable false. Then the
# test that also generates typescript-axios clients (openapi-generator, needs Java) and
# type-checks the reference-named usage files against them (part of `make test` too).
client-check: node-deps-required install
	$(NODE_BIN)/openapi-typescript $(SPECS_DIR)/openapi.json --default-non-nullable false \
		-o $(CLIENT_DIR)/generated/api.d.ts
	$(NODE_BIN)/tsc -p $(CLIENT_DIR)/tsconfig.json
	@echo "client-check: generated types and usage example type-check (tsc --strict)"
	$(PY) -m pytest -q -p no:randomly tests/test_generated_clients.py

# Longer schemathesis run than the one in `make test` (same test, bigger budget).
fuzz: install
	TRADING_FUZZ_EXAMPLES=$${TRADING_FUZZ_EXAMPLES:-300} \
	TRADING_FUZZ_PHASES=examples,coverage,fuzzing,stateful TRADING_FUZZ_TIMEOUT_S=1800 \
		$(PY) -m pytest -q tests/test_fuzz.py

# Longer restart-durability run than the one in `make test`: concurrent writers, SIGKILL and
# SIGTERM restarts, every acknowledged operation compared with what is stored.
soak: install
	TRADING_SOAK_ROUNDS=$${TRADING_SOAK_ROUNDS:-12} TRADING_SOAK_SECONDS=$${TRADING_SOAK_SECONDS:-10} \
		$(PY) -m pytest -q -s -p no:randomly tests/test_restart_durability.py

# Every benchmark of issue 16 in one table: ours, the minimal server, the ratio, in one run
# (scripts/bench_all.py lists the scripts). `make bench-quick`: small counts, ~10 minutes.
bench: install
	$(PY) scripts/bench_all.py

bench-quick: install
	$(PY) scripts/bench_all.py --quick

# The single-server REST table (requests/s, latency, server CPU per request)
bench-rest: install
	$(PY) scripts/bench_rest.py

# docs/screenshot.png: the /app/ page at 1280x800 (needs Debian's chromium)
screenshot: install
	$(PY) scripts/screenshot.py

clean:
	rm -rf $(VENV) build *.egg-info .mypy_cache .ruff_cache .hypothesis \
		$(NODE_DIR)/node_modules $(CLIENT_DIR)/generated
