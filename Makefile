# make demo | make test | make dev | make bench — each sets up .venv first (a fresh clone needs nothing else).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: install demo dev test test-heavy lint typecheck bench clean

# setup.py and the C source too: the editable install compiles the engine's JSON Lines parser.
$(STAMP): pyproject.toml setup.py export_pipelines/normalize/_jsonlines.c
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(BIN)/export-pipelines demo

dev: install
	$(BIN)/export-pipelines dev

lint: install
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .

typecheck: install
	$(BIN)/mypy

# Three workers on two cores: most tests wait on sockets, daemon ticks and subprocesses. The
# heavy tests (whole systems for minutes each) are scheduled first, one after another on one
# worker; `make test-heavy` runs them alone.
test: lint typecheck
	$(BIN)/pytest -n 3 --dist loadgroup --durations=30

test-heavy: install
	$(BIN)/pytest -m heavy

bench: install
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	$(BIN)/python -m export_pipelines_tests.bench
	$(BIN)/python -m export_pipelines_tests.bench.ledger

clean:
	rm -rf $(VENV) .dagster_home data .pytest_cache .mypy_cache .ruff_cache
