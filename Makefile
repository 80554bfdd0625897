# The set-up contract: `make serve` and `make test` each create .venv if it is missing, install, then run.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: serve test lint bench fixtures clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip==26.3"
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[dev]"
	touch $(STAMP)

serve: $(STAMP)
	$(BIN)/apitwin serve

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/apitwin lint
	$(BIN)/pytest -q

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/apitwin lint

bench: $(STAMP)
	$(BIN)/python benchmarks/throughput.py

fixtures: $(STAMP)
	$(BIN)/apitwin fixtures

clean:
	rm -rf $(VENV) .apitwin .hypothesis .schemathesis
