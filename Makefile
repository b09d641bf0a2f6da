# Each target creates .venv from pyproject.toml when it is missing: run and reproduce
# install what nnfit needs (about half a minute), test, lint and bench the dev tools too.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev

.PHONY: run test lint reproduce bench clean

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e .
	touch $(STAMP)

$(DEV_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(DEV_STAMP)

run: $(STAMP)
	$(BIN)/nnfit run experiments/quick.yaml

# one test process per core (at most 4): on two cores the suite takes about a quarter less time
test: $(DEV_STAMP)
	$(BIN)/python -m pytest -q -n auto --maxprocesses 4

lint: $(DEV_STAMP)
	$(BIN)/ruff check nnfit tests bench
	$(BIN)/ruff format --check nnfit tests bench

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis

# installs what it compares against: scikit-learn, PyTorch and JAX (the bench extra);
# `make bench BENCH_ARGS=--quick` runs every tool briefly
bench: $(DEV_STAMP)
	$(BIN)/python -m pip install --quiet -e ".[dev,bench]"
	$(BIN)/python bench/bench.py $(BENCH_ARGS)
	$(BIN)/python bench/second_order.py

reproduce: $(STAMP)
	$(BIN)/nnfit study --jobs 2
