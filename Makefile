# The two Quick start commands. Each sets everything up from nothing (a venv in .venv) and then runs.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test lint bench clean

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	$(PY) -m pip install --quiet --no-deps -e .
	touch $(STAMP)

run: $(STAMP)
	$(PY) -m durable_ext start --port $${PORT:-7071}

lint: $(STAMP)
	$(PY) -m ruff check durable_ext tests
	$(PY) -m ruff format --check durable_ext tests
	$(PY) -m mypy

test: $(STAMP) lint
	$(PY) -m pytest tests

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache sample_app/.durable
