# Two commands do all the set-up on a fresh machine:
#   make demo   creates .venv, installs fivesafes and runs the demo on embedded defaults
#   make test   creates .venv, installs with the dev extras, runs ruff, mypy and pytest
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_OUT ?= demo-output
DEMO_PEOPLE ?= 10000

.PHONY: demo test lint typecheck pytest benchmark clean translations

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet 'torch==2.13.0'
	$(BIN)/python -m pip install --quiet -e '.[dev,postgres,models]'
	$(BIN)/python -m pip install --quiet --no-deps 'sacroml==2.0.1'
	touch $(STAMP)

# The demo site's database, and whether to serve it at the end (DEMO_SERVE=0: don't).
DEMO_WEB_DB ?= sqlite:///$(abspath $(DEMO_OUT))/web/fivesafes.db
DEMO_SERVE ?= 1
DEMO_PORT ?= 8000

demo: $(STAMP)
	$(BIN)/fivesafes demo --out $(DEMO_OUT) --people $(DEMO_PEOPLE)
	rm -rf $(DEMO_OUT)/web
	$(BIN)/fivesafes web seed-demo --db $(DEMO_WEB_DB) --store $(DEMO_OUT)/store --summary $(DEMO_OUT)/summary.md
	@if [ "$(DEMO_SERVE)" = "1" ]; then \
	  echo "The demo site: http://127.0.0.1:$(DEMO_PORT)/  (log in with the users above; Ctrl-C stops it)"; \
	  FIVESAFES_STORE=$(abspath $(DEMO_OUT))/store \
	  FIVESAFES_PUBLISHED_DIR=$(abspath $(DEMO_OUT))/published \
	  FIVESAFES_BUNDLES=$(abspath $(DEMO_OUT))/web/bundles \
	  FIVESAFES_COLLECTIONS_DIR=$(abspath $(DEMO_OUT))/web/collections \
	  $(BIN)/fivesafes serve --db $(DEMO_WEB_DB) --port $(DEMO_PORT); \
	fi

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP)
	$(BIN)/pytest -n 2 --durations=15

test: lint typecheck pytest

benchmark: $(STAMP)
	$(BIN)/python benchmarks/bench_synth_ingest.py

clean:
	rm -rf $(VENV) $(DEMO_OUT) .mypy_cache .ruff_cache .pytest_cache

# The web app's messages (docs/languages.md): extract them from the templates and the
# route code into messages.pot, merge it into each language's messages.po (new
# messages come in untranslated), and compile the .po files to the .mo files the app
# reads. Commit all three; translators edit only the .po files.
LOCALE := src/fivesafes/web/locale
translations: $(STAMP)
	$(BIN)/pybabel -q extract -F src/fivesafes/web/babel.cfg --project=fivesafes \
	  --copyright-holder="fivesafes contributors" --add-comments=Translators: \
	  --sort-by-file -w 88 -o $(LOCALE)/messages.pot src/fivesafes/web
	$(BIN)/pybabel -q update -i $(LOCALE)/messages.pot -d $(LOCALE) -w 88 --no-fuzzy-matching
	$(BIN)/pybabel compile --statistics -d $(LOCALE)
