"""neuradmix workflow: cohorts (VCF or PLINK) -> QC -> downsampling -> train/validation split ->
Neural ADMIXTURE runs and a classic ADMIXTURE baseline -> metrics, figures and an HTML
report per cohort.

Configure in config/config.yaml (keys explained in config/README.md); run with
`snakemake --cores all` locally or `snakemake --profile profiles/slurm` on a cluster.
"""

import os
import sys

from snakemake.utils import min_version

min_version("9.0")

# Every rule runs the package of this checkout (`python -m neuradmix`), never another installed
# copy: the Snakefile imports it from here, and jobs (local, SLURM or in the conda envs, which
# hold only the dependencies) find it first on PYTHONPATH.
sys.path.insert(0, workflow.basedir)
_inherited = [p for p in os.getenv("PYTHONPATH", "").split(os.pathsep) if p]
os.environ.update(PYTHONPATH=os.pathsep.join([workflow.basedir, *_inherited]))


configfile: "config/config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/prepare.smk"
include: "workflow/rules/simulate.smk"
include: "workflow/rules/neural.smk"
include: "workflow/rules/baseline.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/report.smk"


onstart:
    check_plink2()


rule all:
    default_target: True
    input:
        [layout.metrics(cohort) for cohort in ALL_COHORTS],
        [layout.table2(cohort) for cohort in ALL_COHORTS],
        [layout.report(cohort) for cohort in ALL_COHORTS],
        [
            layout.pong_file(cohort, partition, "filemap")
            for cohort in ALL_COHORTS
            for partition in PARTITIONS
        ],
        PLAN.target_outputs(),
