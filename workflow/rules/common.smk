"""The config, validated and turned into the plan (neuradmix.steps.plan.Plan), and the helpers
every rule file uses. Every path comes from neuradmix.layout; every decision from the plan.
"""

import re
import shlex
import shutil
import sys

from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

from neuradmix import layout
from neuradmix.errors import InputError
from neuradmix.steps.plan import (
    PARTITIONS,
    PLINK2_IMPORT,
    Plan,
    config_error_line,
    plink_memory as _plink_memory,
    write_manifest,
)


def _config_error(message):
    """Stop before any job with one line on stderr (no Snakemake traceback around it)."""
    print(message, file=sys.stderr)
    raise SystemExit(1)


def _plan(config):
    """The config checked by the schema, then by the plan: a mistake is one line naming the key."""
    try:
        validate(config, schema="../schemas/config.schema.yaml")
    except WorkflowError as error:
        if not hasattr(error.__context__, "absolute_path"):  # not a jsonschema error
            raise
        _config_error(config_error_line(error.__context__))
    try:
        return Plan.from_config(config)
    except InputError as error:
        _config_error(f"Invalid config: {error}")


PLAN = _plan(config)
RUNS = PLAN.runs
SEED = config["seed"]
ALL_COHORTS = PLAN.all_cohorts


def _alternatives(names):
    return "|".join(re.escape(name) for name in names) if names else "(?!)"


wildcard_constraints:
    cohort=_alternatives(ALL_COHORTS),
    real=_alternatives(PLAN.real_cohorts),
    run=_alternatives(RUNS),
    tool=_alternatives(PLAN.baseline_tools),
    partition="train|val",
    method="neural|baseline",
    model=_alternatives(list(RUNS) + PLAN.baseline_tools),
    cv_method="em|neural",
    target=r"[A-Za-z0-9][A-Za-z0-9-]*",
    k=r"\d+",


def fileset(prefix):
    """The three files of a PLINK fileset as a named input/output dict."""
    return layout.fileset(prefix)


def plink2_missing_message():
    return (
        "plink2 was not found on PATH. Install it (Debian/Ubuntu: `sudo apt-get install "
        "plink2`; conda: `conda install -c bioconda plink2`; or download it from "
        "https://www.cog-genomics.org/plink/2.0/), or run with `--sdm conda` to use "
        "envs/plink2.yaml."
    )


def check_plink2():
    from snakemake.settings.types import DeploymentMethod

    if DeploymentMethod.CONDA in workflow.deployment_settings.deployment_method:
        return
    if shutil.which("plink2") is None:
        raise WorkflowError(plink2_missing_message())


# Resources (neuradmix.steps.plan.Plan.rule_resources): threads, memory and run time from
# config["resources"], or estimated from each job's input and doubled on every retry; SLURM
# partitions from config["partitions"]; a GPU only for runs with a cuda device.


def rule_threads(name):
    return PLAN.rule_settings(name)["threads"]


def rule_resources(name, per_run=False):
    return PLAN.rule_resources(name, per_run)


def plink_memory(wildcards, resources):
    return _plink_memory(resources.mem_mb)


# Input functions: one line each, over the plan.


def partition_files(partition):
    """Input function: the fileset of ``partition`` of the wildcard cohort."""
    return lambda wc: fileset(PLAN.partition_prefix(wc.cohort, partition))


def downsampled(wc):
    return fileset(layout.prepare_prefix(wc.real, PLAN.downsampled_stage))


def split_labels(wc):
    return {"labels": PLAN.entry(wc.real)["labels"]} if PLAN.has_labels(wc.real) else {}


def model_files(wc):
    return PLAN.model_files(wc.cohort, wc.method, wc.model)


def all_model_files(wc):
    return PLAN.all_model_files(wc.cohort)


def partition_prefix(wc, partition=None):
    return PLAN.partition_prefix(wc.cohort, partition or wc.partition)


def labels_of(partition=None):
    """Input function: the .labels of a partition (that of the wildcard when None), if any."""
    return lambda wc: (
        [layout.labels(partition_prefix(wc, partition))]
        if PLAN.has_labels(wc.cohort)
        else []
    )


def truth_of(partition=None):
    """Input function: the true Q of a partition, for a simulated cohort."""
    return lambda wc: (
        [layout.truth(partition_prefix(wc, partition))]
        if PLAN.is_simulated(wc.cohort)
        else []
    )


def cv_tables(wc):
    return PLAN.cv_tables(wc.cohort)
