"""Per-model evaluation and the per-cohort metrics table (the paper's Table 2 and more)."""


rule evaluate:
    input:
        unpack(evaluate_inputs),
    output:
        "results/{cohort}/evaluate/{method}/{model}/{partition}.{k}.tsv",
    log:
        "results/{cohort}/logs/evaluate/{method}.{model}.{partition}.{k}.log",
    benchmark:
        "results/{cohort}/benchmarks/evaluate/{method}.{model}.{partition}.{k}.tsv"
    wildcard_constraints:
        method="neural|baseline",
        model=_alternatives(list(RUNS) + [BASELINE]),
    conda:
        "../../envs/neuradmix.yaml"
    params:
        options=evaluate_options,
    shell:
        "neuradmix evaluate {input.bed} --q {input.q} --p {input.p} {params.options}"
        " --threads {threads} > {output} 2> {log}"


rule metrics_table:
    input:
        unpack(metrics_inputs),
    output:
        metrics="results/{cohort}/metrics.tsv",
        table2="results/{cohort}/table2.tsv",
    log:
        "results/{cohort}/logs/metrics_table.log",
    benchmark:
        "results/{cohort}/benchmarks/metrics_table/metrics_table.tsv"
    conda:
        "../../envs/neuradmix.yaml"
    params:
        benchmarks=benchmark_files,
        cv=lambda wc, input: (
            f"--cv {' '.join(input.cv)}" if "cv" in input.keys() else ""
        ),
        reference=BASELINE,
        modes=" ".join(f"--mode {run}={spec['mode']}" for run, spec in RUNS.items()),
    shell:
        "neuradmix metrics-table --cohort {wildcards.cohort} --evaluations {input.evaluations}"
        " --benchmarks {params.benchmarks} {params.cv} {params.modes}"
        " --reference-baseline {params.reference} --out {output.metrics} --table2 {output.table2}"
        " 2> {log}"
