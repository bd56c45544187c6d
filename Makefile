# The few commands people type. `make run` and `make test` set up what they need on a fresh clone.
SHELL := /bin/bash
.SHELLFLAGS := -eo pipefail -c
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# pip prints one warning per package for the machine-wide extra indexes; keep real errors visible
PIP_FILTER := grep -v -e "is ignored: it is neither a file nor a directory" || true

.PHONY: help run test test-fast test-dags lint format bench report status up down clean

help:
	@echo "make run      - set up .venv and run the nightly pipeline on the demo source"
	@echo "make test     - set up .venv (with dev + Airflow extras) and run the whole test suite"
	@echo "make lint     - ruff check + format check"
	@echo "make bench    - run the benchmarks in bench/ (small sizes; see bench/README.md for full runs)"
	@echo "make report   - render the weekly report of the last complete week"
	@echo "make test-dags - only the Airflow DAG tests (import checks + real airflow dags test runs)"
	@echo "make up/down  - start / stop the Docker Compose deployment (docs/deploy.md)"
	@echo "make clean    - remove .venv and ./data"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.core-installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e . 2>&1 | $(PIP_FILTER)
	$(BIN)/python -c "import pipeline.cli"
	touch $@

$(VENV)/.dev-installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev,airflow]' 2>&1 | $(PIP_FILTER)
	$(BIN)/python -c "import pipeline.cli, airflow, pytest"
	touch $@ $(VENV)/.core-installed

run: $(VENV)/.core-installed
	$(BIN)/ripple run

test: $(VENV)/.dev-installed
	$(BIN)/pytest

test-fast: $(VENV)/.dev-installed
	$(BIN)/pytest -m "not slow and not airflow and not browser"

test-dags: $(VENV)/.dev-installed
	$(BIN)/pytest tests/dags

up:
	docker compose up -d

down:
	docker compose down

lint: $(VENV)/.dev-installed
	$(BIN)/ruff check pipeline dags tests bench
	$(BIN)/ruff format --check pipeline dags tests bench

format: $(VENV)/.dev-installed
	$(BIN)/ruff format pipeline dags tests bench
	$(BIN)/ruff check --fix pipeline dags tests bench

bench: $(VENV)/.dev-installed
	$(BIN)/python bench/e2e.py --items 50000

report: $(VENV)/.core-installed
	$(BIN)/ripple report

status: $(VENV)/.core-installed
	$(BIN)/ripple status

clean:
	rm -rf $(VENV) data
