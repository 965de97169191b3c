# Two entry points, each bootstrapping a local virtual environment in .venv:
#   make run    run the workflow on the bundled example cohort, ending in an HTML report
#   make test   lint and run the test suite
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CORES ?= 2

.PHONY: run test lint format venv clean plink2 slurm

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

test: lint plink2 slurm
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/python -m pytest -q

# plink2 comes from the system: installed with apt-get when we are root on Debian/Ubuntu,
# otherwise the message says how to get it. The workflow and its tests both need it.
plink2:
	@command -v plink2 >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "plink2 not found: installing it with apt-get"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq plink2; \
	  else \
	    echo "plink2 is required but not on PATH. Install it with 'sudo apt-get install plink2'" \
	      "(Debian/Ubuntu), 'conda install -c bioconda plink2', or from" \
	      "https://www.cog-genomics.org/plink/2.0/, then rerun 'make run'." >&2; \
	    exit 1; \
	  fi; }

# A one-node SLURM cluster for tests/workflow/test_slurm.py (slurmctld, slurmd and munge, started
# by the test itself): installed with apt-get when we are root on Debian/Ubuntu; elsewhere that
# test is skipped (it needs root to run slurmd) and nothing else needs SLURM.
slurm:
	@command -v slurmctld >/dev/null 2>&1 && command -v slurmd >/dev/null 2>&1 && \
	  command -v munged >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "slurm-wlm or munge not found: installing them with apt-get"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	      --no-install-recommends slurm-wlm munge; \
	  else \
	    echo "slurm-wlm and munge are not installed: tests/workflow/test_slurm.py will be" \
	      "skipped (as root on Debian/Ubuntu, 'make slurm' installs them)."; \
	  fi; }

run: $(STAMP) plink2
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/snakemake --cores $(CORES)
	@echo
	@echo "Done. Outputs for the example cohort (and its simulated twin, results/example_sim/):"
	@echo "  results/example/metrics.tsv   all metrics, one row per model x K x partition"
	@echo "  results/example/table2.tsv    the paper's Table 2 layout"
	@echo "  results/example/neural/       Neural ADMIXTURE .Q/.P files and trained models"
	@echo "  results/example/baseline/     classic ADMIXTURE .Q/.P files"
	@if [ -f results/example/report.html ]; then \
	  echo "  results/example/report.html   the HTML report (open it in a browser)"; fi

clean:
	rm -rf $(VENV) results .snakemake
