# Two commands do all the set-up on a fresh machine:
#   make demo   creates .venv, installs fivesafes and runs the demo on embedded defaults
#   make test   creates .venv, installs with the dev extras, runs ruff, mypy and pytest
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_OUT ?= demo-output
DEMO_PEOPLE ?= 10000

.PHONY: demo test lint typecheck pytest benchmark clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,postgres]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/fivesafes demo --out $(DEMO_OUT) --people $(DEMO_PEOPLE)

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP)
	$(BIN)/pytest -n 2

test: lint typecheck pytest

benchmark: $(STAMP)
	$(BIN)/python benchmarks/bench_synth_ingest.py

clean:
	rm -rf $(VENV) $(DEMO_OUT) .mypy_cache .ruff_cache .pytest_cache
