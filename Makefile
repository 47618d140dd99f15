# The two set-up commands a newcomer needs: `make demo` and `make test`.
# Each creates .venv when missing and installs the package with its extras.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed

.PHONY: demo test lint messages bench chromium clean

# `make demo PORT=8100 SANDBOX_PORT=8101 SANDBOX_API_PORT=8444` when the defaults are taken;
# DEMO_STATE is where the demo keeps its database and the sandbox's records.
PORT ?= 8000
SANDBOX_PORT ?= 8001
SANDBOX_API_PORT ?= 8443
DEMO_STATE ?= .demo

$(INSTALLED): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev,redis,postgres]"
	@touch $(INSTALLED)

# Debian's Chromium for the browser tests (never a browser download).
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq chromium; }

demo: $(INSTALLED)
	$(PY) example_site/demo.py --port $(PORT) --sandbox-port $(SANDBOX_PORT) \
	  --sandbox-api-port $(SANDBOX_API_PORT) --state-dir $(DEMO_STATE)

# Lint and types first: they take seconds and fail for reasons a test run would hide.
test: lint $(INSTALLED) chromium
	$(PY) -m pytest

lint: $(INSTALLED)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

# Extract and compile the Japanese catalogue.
messages: $(INSTALLED)
	cd wagtail_salesforce && PYTHONPATH=..:../example_site ../$(PY) -m django makemessages -l ja --settings=tests.settings
	cd wagtail_salesforce && PYTHONPATH=..:../example_site ../$(PY) -m django compilemessages --settings=tests.settings

bench: $(INSTALLED)
	$(PY) bench/sandbox_bench.py
	$(PY) bench/config_bench.py

clean:
	rm -rf .demo .pytest_cache .ruff_cache build dist *.egg-info
