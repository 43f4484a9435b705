# jiefen — the two quick-start commands are `make run` and `make test` (see README.md).
SHELL := /bin/bash
PY ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
HOST ?= 127.0.0.1
PORT ?= 5000

.PHONY: run test test-pg setup node catalogs chromium clean-db help

help:
	@echo "make run   - install (first time), create the SQLite database, load demo data, serve http://$(HOST):$(PORT)/ with the scheduler"
	@echo "make test  - install (first time) and run the whole test suite (SQLite; DATABASE_URL=... for PostgreSQL)"

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]' --config-settings editable_mode=compat
	@touch $(STAMP)

setup: $(STAMP) node
	@$(MAKE) --no-print-directory catalogs
	@scripts/ensure-pdf.sh

# The UI's compiled catalogs (.mo: build output, never committed; the app only warns when one is missing).
# Every domain (messages: the UI's texts, errors: engine messages by id) of every locale folder; Babel looks a
# zh_CN catalog up as zh_Hans_CN, so that folder gets a copy.
PYBABEL ?= $(BIN)/pybabel
TRANSLATIONS := webui/translations
catalogs:
	@set -e; for po in $(TRANSLATIONS)/*/LC_MESSAGES/*.po; do $(PYBABEL) compile -i "$$po" -o "$${po%.po}.mo"; done
	@mkdir -p $(TRANSLATIONS)/zh_Hans_CN/LC_MESSAGES && cp $(TRANSLATIONS)/zh_CN/LC_MESSAGES/*.mo $(TRANSLATIONS)/zh_Hans_CN/LC_MESSAGES/

# Browser packages (package.json, pinned by package-lock.json): bpmn-js for the case page's diagram and the
# modeler, bpmn-js-properties-panel (its prebuilt UMD bundle) and camunda-bpmn-moddle for the modeler, dmn-js (its
# UMD bundle) for the decision table editor, ECharts for the dashboard; installed, served from node_modules by the
# vendor routes, never committed. The one build step: bpmn-js-token-simulation ships ES modules only, so esbuild
# bundles it (scripts/token_simulation_bundle.js, `npm run build:vendor`) into its package's dist/.
TOKEN_SIMULATION_BUNDLE := node_modules/bpmn-js-token-simulation/dist/bpmn-js-token-simulation.js
node:
	@if [ -f package.json ] && command -v npm >/dev/null 2>&1; then \
	  if [ ! -f node_modules/.package-lock.json ] || [ package.json -nt node_modules/.package-lock.json ]; then \
	    npm install --no-audit --no-fund --loglevel=error; fi; \
	  if [ ! -f $(TOKEN_SIMULATION_BUNDLE) ] || [ scripts/token_simulation_bundle.js -nt $(TOKEN_SIMULATION_BUNDLE) ]; then \
	    npm run --silent build:vendor; fi; \
	else echo "npm not found: the case diagram will show a notice instead of bpmn-js"; fi

# Debian's Chromium for the Playwright browser tests (Playwright never downloads a browser here).
chromium:
	@scripts/ensure-chromium.sh

run: setup
	$(BIN)/jiefen init-db
	JIEFEN_DEMO=1 $(BIN)/jiefen demo
	JIEFEN_DEMO=1 $(BIN)/jiefen serve --host $(HOST) --port $(PORT) --with-scheduler

# The suite runs in parallel on every core (pytest-xdist; whole files per worker, so a module's fixtures and
# seeds stay in one process); PYTEST_WORKERS=0 runs it in one process.
PYTEST_WORKERS ?= auto
PYTEST_PARALLEL = $(if $(filter 0,$(PYTEST_WORKERS)),-p no:xdist,-n $(PYTEST_WORKERS) --dist loadfile)
test: setup chromium
	$(BIN)/python -m pytest $(PYTEST_PARALLEL) $(PYTEST_ARGS)

# The same suite against PostgreSQL (installs and starts a local server if needed).
test-pg: setup chromium
	@scripts/ensure-postgres.sh
	DATABASE_URL=$${DATABASE_URL:-postgresql+psycopg://postgres@127.0.0.1:5432/test} $(BIN)/python -m pytest $(PYTEST_PARALLEL) $(PYTEST_ARGS)

clean-db:
	rm -f instance/jiefen.sqlite3*
