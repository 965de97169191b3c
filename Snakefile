"""neuradmix workflow: cohorts (VCF or PLINK) -> QC -> downsampling -> train/validation split ->
Neural ADMIXTURE runs and a classic ADMIXTURE baseline -> metrics, figures and an HTML
report per cohort.

Configure in config/config.yaml (keys explained in config/README.md); run with
`snakemake --cores all` locally or `snakemake --profile profiles/slurm` on a cluster.
"""


configfile: "config/config.yaml"


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
        expand("results/{cohort}/metrics.tsv", cohort=ALL_COHORTS),
        expand("results/{cohort}/table2.tsv", cohort=ALL_COHORTS),
        expand("results/{cohort}/report.html", cohort=ALL_COHORTS),
        target_outputs(),
