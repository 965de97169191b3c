# Two entry points, each bootstrapping a local virtual environment in .venv:
#   make run    run the workflow on the bundled example cohort, ending in an HTML report
#   make test   lint and run the test suite
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CORES ?= 2

.PHONY: run test lint format venv clean

venv: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q -c constraints.txt torch==2.13.0
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[dev]'
	touch $@

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

test: lint
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/python -m pytest -q

run: $(STAMP)
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/python -m neuradmix.demo --out results/demo

clean:
	rm -rf $(VENV) results .snakemake
