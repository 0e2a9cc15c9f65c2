# The two Quick start commands. Each sets everything up from nothing (a venv in .venv) and then runs.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test lint bench clean browser-deps

$(STAMP): requirements.txt requirements-dev.txt requirements-browser.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt -r requirements-browser.txt
	$(PY) -m pip install --quiet --no-deps -e .
	touch $(STAMP)

run: $(STAMP)
	$(PY) -m durable_ext start --port $${PORT:-7071}

lint: $(STAMP)
	$(PY) -m ruff check durable_ext tests bench
	$(PY) -m ruff format --check durable_ext tests bench
	$(PY) -m mypy

# Azurite, pinned in package.json, for the Azure Storage tests (npm ci from the lock file).
NODE_STAMP := node_modules/.package-lock.json

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error

test: $(STAMP) $(NODE_STAMP) browser-deps lint
	$(PY) -m pytest tests

# Debian's headless Chromium and its driver, for tests/browser (no browser download; needs root or sudo).
browser-deps:
	@test -x /usr/bin/chromium -a -x /usr/bin/chromedriver || { \
	  SUDO=$$( [ "$$(id -u)" -eq 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && \
	  $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver; }

BENCH_STAMP := $(VENV)/.bench-installed

$(BENCH_STAMP): $(STAMP) requirements-bench.txt
	$(PY) -m pip install --quiet -r requirements-bench.txt
	touch $(BENCH_STAMP)

# Benchmarks side by side with the peers (DBOS on SQLite, durabletask in-memory): make bench BENCH_ARGS=--quick
# Azurite (npm) for the Azurite column; without npm that column is n/a and the rest still runs.
bench: $(BENCH_STAMP)
	@if command -v npm >/dev/null 2>&1; then $(MAKE) --no-print-directory $(NODE_STAMP); \
	else echo "npm not found: the Azurite column will be n/a" >&2; fi
	$(PY) -m bench $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache sample_app/.durable node_modules
