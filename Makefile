# The two README commands are `make run` and `make test`; both create .venv and install the
# project on first use (and again whenever pyproject.toml changes).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
SPECS_DIR ?= specs

.PHONY: install dev run test pytest lint lint-check format typecheck export-openapi export-specs bench clean

$(STAMP): pyproject.toml setup.cfg
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --disable-pip-version-check -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: install
	$(PY) -m trading serve

dev: install
	$(VENV)/bin/watchfiles --filter python '$(PY) -m trading serve' trading

test: install lint-check typecheck pytest

pytest: install
	$(PY) -m pytest

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

bench: install
	$(PY) scripts/bench_rest.py

clean:
	rm -rf $(VENV) build *.egg-info .mypy_cache .ruff_cache .hypothesis
