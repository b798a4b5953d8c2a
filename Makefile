# Two commands matter on a fresh machine (Python 3.11 + Java 17): `make demo` and `make test`.
# Both install into .venv if it is missing or out of date. `make test` leaves out the tests
# marked slow (the list is in artificial_data_tests/conftest.py); `make test-slow` runs exactly
# those and CI runs both; `make test-all` runs everything in one pytest process.
# `make dev` is the single-user UI; `make isolated` is the deployment separated by the operating
# system (deploy/isolated.py).

PYTHON ?= python3.11
# Runs deploy/isolated.py (standard library only); the servers' venv uses Debian's python3.11.
SYSTEM_PYTHON ?= /usr/bin/python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export ARTIFICIAL_DATA_HOME ?= $(CURDIR)/.artificial_data
export DAGSTER_HOME ?= $(CURDIR)/.dagster_home
# Whose signatures a release needs. The demo writes its own list here (DEMO keys only); a real
# deployment points this at the operator's file (docs/reviewer_guide.md, "Signing off").
export ARTIFICIAL_DATA_ALLOWED_SIGNERS ?= $(ARTIFICIAL_DATA_HOME)/demo_signers/allowed_signers
export PYSPARK_PYTHON := $(abspath $(BIN)/python)

# The browser test (artificial_data_tests/test_browser.py, one of the slow ones) drives Debian's
# Chromium, never a downloaded one. Every test target installs the package when it is missing
# and make runs as root (CI on a fresh Debian machine), so `make test` is enough to prepare a
# machine for all of them; otherwise the test fails under CI=true and is skipped elsewhere.
CHROMIUM ?= /usr/bin/chromium

# Extra pytest options, e.g. `make test PYTEST_ARGS="-x -k scrape"`.
PYTEST_ARGS ?=
PYTEST := $(BIN)/python -m pytest $(PYTEST_ARGS)

.PHONY: install demo test test-slow test-all lint dev isolated bench clean browser

$(BIN)/python:
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "need $(PYTHON) on PATH"; exit 1; }
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	@touch $(STAMP)

install: $(STAMP)

# The instance settings (telemetry off, the `spark` concurrency pool): deploy/dagster.yaml.
$(DAGSTER_HOME)/dagster.yaml: deploy/dagster.yaml
	@mkdir -p $(DAGSTER_HOME)
	@cp deploy/dagster.yaml $(DAGSTER_HOME)/dagster.yaml

demo: install $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/artificial-data demo

browser:
	@if [ -x "$(CHROMIUM)" ]; then :; \
	elif [ "$$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "installing Debian's chromium for the browser test"; \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium \
	  || { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
	       --no-install-recommends chromium; }; \
	else echo "no $(CHROMIUM) and not root: the browser test fails under CI=true, is skipped otherwise (apt-get install chromium)"; fi

# pytest exits 5 when a selection holds no test; make passes that on as a failure.
test: install browser
	$(PYTEST) -m "not slow"

test-slow: install browser
	$(PYTEST) -m slow

test-all: install browser
	$(PYTEST)

lint: install
	$(BIN)/ruff check artificial_data artificial_data_tests benchmarks deploy
	$(BIN)/ruff format --check artificial_data artificial_data_tests benchmarks deploy
	$(BIN)/lint-imports

dev: install $(DAGSTER_HOME)/dagster.yaml
	@echo "make dev is SINGLE-USER: all three code locations run as $$(id -un) over one folder tree ($(ARTIFICIAL_DATA_HOME)); use 'make isolated' for separation by Unix user"
	$(BIN)/dagster dev -w workspace.yaml

# Users, groups, store roots under /srv/artificial_data, a venv in /opt/artificial_data/venv,
# then three code servers (each its own Unix user) + webserver + daemon; Ctrl-C stops them.
# Needs root: as another user it runs the same script with sudo. Options: ISOLATED_ARGS.
isolated:
	@echo "make isolated: each code location is its own gRPC code server under its own Unix user (deploy/isolated.py)"
	@if [ "$$(id -u)" -eq 0 ]; then $(SYSTEM_PYTHON) deploy/isolated.py up $(ISOLATED_ARGS); \
	else sudo $(SYSTEM_PYTHON) deploy/isolated.py up $(ISOLATED_ARGS); fi

# The benchmarks' extra (matplotlib, for benchmarks/full_release.py's plot) on top of dev.
BENCH_STAMP := $(VENV)/.installed-bench
$(BENCH_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev,bench]"
	@touch $(BENCH_STAMP)

# run_all.py runs every benchmarks/bench_*.py; the full release (benchmarks/full_release.py,
# hours at its default sizes) is run by hand: docs/performance.md, "Full release".
bench: install $(BENCH_STAMP)
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf .artificial_data .pytest_cache .ruff_cache
