# Aftershock: `make demo` and `make test` are the whole onboarding.
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
WAREHOUSE ?= data/aftershock.duckdb
SNAPSHOT ?= ../shared/market-snapshot
export GX_ANALYTICS_ENABLED := false
export PREFECT_HOME ?= $(CURDIR)/data/prefect

.PHONY: demo test test-fast run snapshot lint bench clean setup

$(BIN)/aftershock: pyproject.toml constraints.txt
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found (Python 3.11 is required)"; exit 2; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev]'
	@touch $@

setup: $(BIN)/aftershock ## create .venv and install the project (pinned by constraints.txt)

demo: setup ## run the daily flow offline on the demo market into data/aftershock.duckdb
	$(BIN)/aftershock run --source demo --warehouse $(WAREHOUSE)

snapshot: setup ## run on the real recorded prices in ../shared/market-snapshot
	$(BIN)/aftershock run --source snapshot --snapshot-dir $(SNAPSHOT) --warehouse $(WAREHOUSE)

run: setup ## the live daily run (needs internet: Yahoo Finance)
	$(BIN)/aftershock run --source yahoo --warehouse $(WAREHOUSE)

test: setup ## lint, then every test (unit, slow and end-to-end)
	$(BIN)/ruff check .
	$(BIN)/pytest -q

test-fast: setup ## the fast suite only (no end-to-end runs)
	$(BIN)/pytest -q -m "not slow"

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check . || true

bench: setup ## benchmarks that print rows/s, seconds per stage and peak memory
	$(BIN)/python bench/bench_pipeline.py

clean:
	rm -rf data .pytest_cache .ruff_cache
