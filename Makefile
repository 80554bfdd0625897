# The set-up contract: `make serve` and `make test` each create .venv if it is missing, install, then run.
PYTHON ?= python3
HOST ?= 127.0.0.1
PORT ?= 8000
ARGS ?=
# make test runs the suite on this many pytest-xdist workers (0: in this process, one test after another)
WORKERS ?= 2
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: help serve test lint bench fixtures clean

help:  ## this list
	@grep -E '^[a-z]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | expand -t 10
	@echo 'variables: make serve HOST=0.0.0.0 PORT=9000 ARGS="--api dataiku --memory"'
	@echo '           (ARGS: any `apitwin serve` option; .venv/bin/apitwin serve --help lists them)'
	@echo '           make test WORKERS=4 (pytest-xdist workers; 0 runs the suite in one process)'

$(STAMP): pyproject.toml setup.py constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip==26.3"
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[dev]"
	touch $(STAMP)

serve: $(STAMP)  ## create .venv if missing, install, serve every twin, one log line per request (HOST, PORT, ARGS)
	$(BIN)/apitwin serve --log --host $(HOST) --port $(PORT) $(ARGS)

test: $(STAMP)  ## the same set-up, then ruff, mypy, apitwin lint and the whole suite
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/apitwin lint
	$(BIN)/pytest -q -n $(WORKERS) --dist worksteal

lint: $(STAMP)  ## ruff, mypy and apitwin lint only
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/apitwin lint

bench: $(STAMP)  ## the throughput benchmark (benchmarks/README.md)
	$(BIN)/python benchmarks/throughput.py

fixtures: $(STAMP)  ## regenerate fixtures/ from the fixed Faker seed
	$(BIN)/apitwin fixtures

clean:  ## remove .venv and local state
	rm -rf $(VENV) .apitwin .hypothesis .schemathesis
