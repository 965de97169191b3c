#!/usr/bin/env bash
# Snakemake runs this inside the freshly created env, from the directory snakemake was started in
# (the workflow checkout). NEURADMIX_SOURCE overrides where the package is installed from.
set -euo pipefail
python -m pip install --no-deps "${NEURADMIX_SOURCE:-.}"
