# Two commands matter on a fresh machine (Python 3.11 + Java 17): `make demo` and `make test`.
# Both install into .venv if it is missing or out of date.

PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export ARTIFICIAL_DATA_HOME ?= $(CURDIR)/.artificial_data
export DAGSTER_HOME ?= $(CURDIR)/.dagster_home
# Whose signatures a release needs. The demo writes its own list here (DEMO keys only); a real
# deployment points this at the operator's file (docs/admin_guide.md).
export ARTIFICIAL_DATA_ALLOWED_SIGNERS ?= $(ARTIFICIAL_DATA_HOME)/demo_signers/allowed_signers
export PYSPARK_PYTHON := $(CURDIR)/$(BIN)/python

.PHONY: install demo test lint dev bench clean

$(BIN)/python:
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "need $(PYTHON) on PATH"; exit 1; }
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	@touch $(STAMP)

install: $(STAMP)

$(DAGSTER_HOME)/dagster.yaml:
	@mkdir -p $(DAGSTER_HOME)
	@printf 'telemetry:\n  enabled: false\n' > $(DAGSTER_HOME)/dagster.yaml

demo: install $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/artificial-data demo

test: install
	$(BIN)/python -m pytest

lint: install
	$(BIN)/ruff check artificial_data artificial_data_tests benchmarks
	$(BIN)/ruff format --check artificial_data artificial_data_tests benchmarks
	$(BIN)/lint-imports

dev: install $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/dagster dev -w workspace.yaml

bench: install
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf .artificial_data .pytest_cache .ruff_cache
