"""Per-model evaluation, the per-cohort metrics tables (the paper's Table 2 and more), every
run's .Q aligned to one labelling (with the modes of each K) and the pong files that draw every
run of a partition together.

Each model (neural run or baseline tool) is evaluated in one job over all its K values and both
partitions; the metrics table adds the fit times from the timing sidecars and the CV errors.
"""


rule evaluate:
    input:
        unpack(evaluate_inputs),
    output:
        "results/{cohort}/evaluate/{method}/{model}.tsv",
    log:
        "results/{cohort}/logs/evaluate/{method}.{model}.log",
    benchmark:
        "results/{cohort}/benchmarks/evaluate/{method}.{model}.tsv"
    conda:
        "../../envs/neuradmix.yaml"
    threads: rule_threads("evaluate")
    resources:
        **rule_resources("evaluate"),
    params:
        model_dir="results/{cohort}/{method}/{model}",
        outdir=subpath(output[0], parent=True),
        ks=lambda wc: " ".join(str(k) for k in model_ks(wc.method, wc.model)),
        options=evaluate_options,
    shell:
        "python -m neuradmix evaluate-model --model-dir {params.model_dir:q} --ks {params.ks}"
        " {params.options} --out {params.outdir:q} --name {wildcards.model}"
        " --threads {threads} 2> {log:q}"


rule metrics_table:
    input:
        unpack(metrics_inputs),
    output:
        metrics=report(
            "results/{cohort}/metrics.tsv",
            caption="../report/metrics.rst",
            category="{cohort}",
            subcategory="Tables",
            labels={"table": "metrics"},
        ),
        table2=report(
            "results/{cohort}/table2.tsv",
            caption="../report/table2.rst",
            category="{cohort}",
            subcategory="Tables",
            labels={"table": "Table 2"},
        ),
    log:
        "results/{cohort}/logs/metrics_table.log",
    benchmark:
        "results/{cohort}/benchmarks/metrics_table/metrics_table.tsv"
    conda:
        "../../envs/neuradmix.yaml"
    threads: rule_threads("metrics_table")
    resources:
        **rule_resources("metrics_table"),
    params:
        cv=lambda wc, input: (
            f"--cv {quoted(input.cv)}" if "cv" in input.keys() else ""
        ),
        reference=BASELINE,
        modes=" ".join(f"--mode {run}={spec['mode']}" for run, spec in RUNS.items()),
        outdir=subpath(output.metrics, parent=True),
    shell:
        "python -m neuradmix metrics-table --cohort {wildcards.cohort}"
        " --evaluations {input.evaluations:q} --timings {input.timings:q} {params.cv}"
        " {params.modes} --reference-baseline {params.reference:q} --out {params.outdir:q}"
        " 2> {log:q}"


rule align:
    input:
        unpack(align_inputs),
    output:
        permutations="results/{cohort}/aligned/{partition}/permutations.tsv",
        modes="results/{cohort}/aligned/{partition}/modes.tsv",
    log:
        "results/{cohort}/logs/align/{partition}.log",
    benchmark:
        "results/{cohort}/benchmarks/align/{partition}.tsv"
    conda:
        "../../envs/neuradmix.yaml"
    threads: rule_threads("align")
    resources:
        **rule_resources("align"),
    params:
        options=align_options,
        outdir=subpath(output.permutations, parent=True),
    shell:
        "python -m neuradmix align {params.options} --fam {input.fam:q}"
        " --out {params.outdir:q} 2> {log:q}"


rule pong:
    input:
        unpack(pong_inputs),
    output:
        filemap="results/{cohort}/pong/{partition}.filemap",
        ind2pop="results/{cohort}/pong/{partition}.ind2pop",
    log:
        "results/{cohort}/logs/pong/{partition}.log",
    benchmark:
        "results/{cohort}/benchmarks/pong/{partition}.tsv"
    conda:
        "../../envs/neuradmix.yaml"
    threads: rule_threads("pong")
    resources:
        **rule_resources("pong"),
    params:
        options=pong_options,
        outdir=subpath(output.filemap, parent=True),
    shell:
        "python -m neuradmix pong {params.options} --fam {input.fam:q} --labels {input.labels:q}"
        " --out {params.outdir:q} --name {wildcards.partition} 2> {log:q}"
