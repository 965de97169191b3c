"""Per-model evaluation, the per-cohort metrics tables (the paper's Table 2 and more), every
run's .Q aligned to one labelling (with the modes of each K) and the pong files that draw every
run of a partition together.

Each model (neural run or baseline tool) is evaluated in one job over all its K values and both
partitions; the metrics table adds the fit times from the timing sidecars and the CV errors. The metrics
table, align and pong read which file is which from a manifest the plan writes (rule job_inputs,
in report.smk).
"""


rule evaluate:
    input:
        unpack(lambda wc: PLAN.evaluate_inputs(wc.cohort, wc.method, wc.model)),
    output:
        layout.evaluation("{cohort}", "{method}", "{model}"),
    log:
        layout.log("{cohort}", "evaluate", "{method}.{model}"),
    benchmark:
        layout.benchmark("{cohort}", "evaluate", "{method}.{model}")
    conda:
        "../../envs/neuradmix.yaml"
    threads: rule_threads("evaluate")
    resources:
        **rule_resources("evaluate"),
    params:
        model_dir=layout.model_dir("{cohort}", "{method}", "{model}"),
        outdir=subpath(output[0], parent=True),
        ks=lambda wc: " ".join(map(str, PLAN.model_ks(wc.method, wc.model))),
        options=lambda wc: PLAN.evaluate_options(wc.cohort),
    shell:
        "python -m neuradmix evaluate-model --model-dir {params.model_dir:q} --ks {params.ks}"
        " {params.options} --out {params.outdir:q} --name {wildcards.model}"
        " --threads {threads} 2> {log:q}"


rule metrics_table:
    input:
        unpack(lambda wc: PLAN.metrics_inputs(wc.cohort)),
    output:
        metrics=report(
            layout.metrics("{cohort}"),
            caption="../report/metrics.rst",
            category="{cohort}",
            subcategory="Tables",
            labels={"table": "metrics"},
        ),
        table2=report(
            layout.table2("{cohort}"),
            caption="../report/table2.rst",
            category="{cohort}",
            subcategory="Tables",
            labels={"table": "Table 2"},
        ),
    log:
        layout.log("{cohort}", "metrics_table"),
    benchmark:
        layout.benchmark("{cohort}", "metrics_table")
    conda:
        "../../envs/neuradmix.yaml"
    threads: rule_threads("metrics_table")
    resources:
        **rule_resources("metrics_table"),
    params:
        outdir=subpath(output.metrics, parent=True),
    shell:
        "python -m neuradmix metrics-table --cohort {wildcards.cohort}"
        " --inputs {input.manifest:q} --out {params.outdir:q} 2> {log:q}"


rule align:
    input:
        unpack(lambda wc: PLAN.align_inputs(wc.cohort, wc.partition)),
    output:
        permutations=layout.permutations("{cohort}", "{partition}"),
        modes=layout.modes("{cohort}", "{partition}"),
    log:
        layout.log("{cohort}", "align", "{partition}"),
    benchmark:
        layout.benchmark("{cohort}", "align", "{partition}")
    conda:
        "../../envs/neuradmix.yaml"
    threads: rule_threads("align")
    resources:
        **rule_resources("align"),
    params:
        outdir=subpath(output.permutations, parent=True),
    shell:
        "python -m neuradmix align --inputs {input.manifest:q} --fam {input.fam:q}"
        " --out {params.outdir:q} 2> {log:q}"


rule pong:
    input:
        fam=lambda wc: fileset(partition_prefix(wc))["fam"],
        labels=lambda wc: layout.labels(partition_prefix(wc)),
        aligned=layout.permutations("{cohort}", "{partition}"),
        manifest=layout.job_inputs("{cohort}", "pong", "{partition}"),
    output:
        filemap=layout.pong_file("{cohort}", "{partition}", "filemap"),
        ind2pop=layout.pong_file("{cohort}", "{partition}", "ind2pop"),
    log:
        layout.log("{cohort}", "pong", "{partition}"),
    benchmark:
        layout.benchmark("{cohort}", "pong", "{partition}")
    conda:
        "../../envs/neuradmix.yaml"
    threads: rule_threads("pong")
    resources:
        **rule_resources("pong"),
    params:
        outdir=subpath(output.filemap, parent=True),
    shell:
        "python -m neuradmix pong --inputs {input.manifest:q} --fam {input.fam:q}"
        " --labels {input.labels:q} --out {params.outdir:q} --name {wildcards.partition}"
        " 2> {log:q}"
