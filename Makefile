# Two commands set everything up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
RUN_STAMP := $(VENV)/.installed-run
TEST_STAMP := $(VENV)/.installed-test
# Extras the test suite exercises: dev tools, Ray (simulation executor), the pinned CPU build of
# PyTorch (chipfolio profile) and Playwright (report rendered in Debian's chromium).
TEST_EXTRAS := dev,ray,torch,service,gateway,export

.PHONY: demo test lint bench clean validation

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(RUN_STAMP): pyproject.toml | $(VENV)/bin/python
	$(BIN)/pip install --quiet -e .
	touch $(RUN_STAMP)

$(TEST_STAMP): pyproject.toml | $(VENV)/bin/python
	$(BIN)/pip install --quiet -e '.[$(TEST_EXTRAS)]'
	touch $(RUN_STAMP) $(TEST_STAMP)

demo: $(RUN_STAMP)
	$(BIN)/chipfolio plan examples/frontier-lab.yaml

lint: $(TEST_STAMP)
	$(BIN)/ruff check src tests benchmarks scripts
	$(BIN)/ruff format --check src tests benchmarks scripts
	$(BIN)/mypy

test: lint
	$(BIN)/pytest

bench: $(TEST_STAMP)
	for f in benchmarks/bench_*.py; do $(BIN)/python $$f || exit 1; done

validation: $(RUN_STAMP)
	$(BIN)/python scripts/validation_table.py

clean:
	rm -rf $(VENV) build dist src/*.egg-info .mypy_cache .ruff_cache .pytest_cache
