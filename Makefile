# kizuna: every target sets itself up; a fresh machine needs nothing but python3.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: demo test test-slow lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

# `make demo DEMO_ARGS="--speed 1"` passes options on (see `kizuna demo --help`).
DEMO_ARGS ?=
demo: $(STAMP)
	$(VENV)/bin/kizuna demo $(DEMO_ARGS)

# The browser tests drive Debian's chromium through Python Playwright (never `playwright
# install`, which downloads its own browsers): install both once.
BROWSER_STAMP := $(VENV)/.browser
$(BROWSER_STAMP): $(STAMP)
	command -v chromium >/dev/null || (apt-get update && apt-get install -y chromium)
	$(PY) -m pip install --quiet playwright
	touch $(BROWSER_STAMP)

test: $(STAMP) $(BROWSER_STAMP)
	$(PY) -m ruff check kizuna tests bench
	$(PY) -m pytest -q

test-slow: $(STAMP)
	$(PY) -m pytest -q -m slow

bench: $(STAMP)
	$(PY) -m pip install --quiet -e '.[test,bench]'
	$(PY) bench/propagate.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache
