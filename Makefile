# Tenantry — the two commands of the README's Quickstart, and the checks CI runs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: dev test pytest lint format bench install clean
COMPAT := tests/compat/node_modules/.package-lock.json

# Create the virtualenv and install the package (editable) with its development tools.
$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11 or newer is required"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

# Run the example SaaS app (the seed's schema) on SQLite at http://127.0.0.1:8000.
dev: $(STAMP)
	cd examples/saas && ../../$(BIN)/tenantry dev

# The whole test suite: linters, type checks, then every test on SQLite and PostgreSQL.
test: lint pytest

# One pytest worker per core (pytest-xdist), each handed one test at a time, longest first (see
# tests/conftest.py), so that they finish together. PYTEST_WORKERS=0 runs the tests in this process.
PYTEST_WORKERS ?= auto
# The package's bytecode is compiled first, as an installed package has it: the tests start
# servers and commands in processes of their own, and where PYTHONDONTWRITEBYTECODE is set each of
# them would compile the package again (about 0.3 s of CPU to import the app).
pytest: $(STAMP) $(COMPAT)
	$(BIN)/python -m compileall -q src
	$(BIN)/pytest -n $(PYTEST_WORKERS) --maxschedchunk 1

# Better Auth's own client, for the compatibility suite (skipped without Node; required under CI).
$(COMPAT): tests/compat/package.json tests/compat/package-lock.json
	@if command -v npm >/dev/null 2>&1; then \
		cd tests/compat && npm ci --no-audit --no-fund --loglevel=error; \
	else \
		echo "npm not found: the Better Auth client compatibility suite will be skipped"; \
	fi

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

format: $(STAMP)
	$(BIN)/ruff format src tests bench
	$(BIN)/ruff check --fix src tests bench

# Throughput against a raw Starlette + asyncpg baseline (needs PostgreSQL and wrk).
bench: $(STAMP)
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache tests/compat/node_modules
