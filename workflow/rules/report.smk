"""Figures and the self-contained HTML report of each cohort (also offered to snakemake --report)."""


include: "report_common.smk"


# What the jobs with many named inputs read beyond their input files (plots and report: which
# run is where, the main K, the λ runs, the filesets of the summary, the config; metrics_table:
# the evaluations, timings, CV tables and modes; align and pong, per partition: the .Q of each
# run and K), written from the plan. A change of the plan changes the params, so the manifest
# (and the jobs that read it) run again.
rule job_inputs:
    output:
        layout.job_inputs("{cohort}", "{job}"),
    log:
        layout.log("{cohort}", "job_inputs", "{job}"),
    wildcard_constraints:
        job="plots|report|metrics_table|(?:align|pong)/(?:train|val)",
    localrule: True
    params:
        manifest=lambda wc: PLAN.job_inputs_json(wc.cohort, wc.job),
    run:
        write_manifest(output[0], params.manifest, log[0])


rule plots:
    input:
        unpack(plots_inputs),
    output:
        **plots_outputs(),
    log:
        layout.log("{cohort}", "plots"),
    benchmark:
        layout.benchmark("{cohort}", "plots")
    conda:
        "../../envs/neuradmix.yaml"
    threads: rule_threads("plots")
    resources:
        **rule_resources("plots"),
    params:
        max_samples=REPORT_MAX_SAMPLES,
        seed=SEED,
        outdir=subpath(output.manifest, parent=True),
    shell:
        "python -m neuradmix plots --inputs {input.manifest:q} --max-samples {params.max_samples}"
        " --seed {params.seed} --out {params.outdir:q} 2> {log:q}"


rule report:
    input:
        unpack(report_inputs),
    output:
        report(
            layout.report("{cohort}"),
            caption="../report/report.rst",
            category="{cohort}",
            subcategory="Report",
            labels={"figure": "HTML report"},
        ),
    log:
        layout.log("{cohort}", "report"),
    benchmark:
        layout.benchmark("{cohort}", "report")
    conda:
        "../../envs/neuradmix.yaml"
    threads: rule_threads("report")
    resources:
        **rule_resources("report"),
    params:
        figures=subpath(input.manifest, parent=True),
        outdir=subpath(output[0], parent=True),
    shell:
        "python -m neuradmix report --cohort {wildcards.cohort} --figures {params.figures:q}"
        " --table2 {input.table2:q} --metrics {input.metrics:q} --inputs {input.inputs:q}"
        " --out {params.outdir:q} --name report 2> {log:q}"
