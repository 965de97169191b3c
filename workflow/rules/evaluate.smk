"""Per-model evaluation and the per-cohort metrics table (the paper's Table 2 and more).

Each model (neural run or baseline tool) is evaluated in one job over all its K values and both
partitions, writing one `neuradmix evaluate`-style row per file.
"""

for _method, _model, _ks in evaluated_models():

    rule:
        name:
            f"evaluate_{_method}_{_model}"
        input:
            unpack(evaluate_inputs(_method, _model, _ks)),
        output:
            expand(
                "results/{{cohort}}/evaluate/{method}/{model}/{partition}.{k}.tsv",
                method=_method,
                model=_model,
                partition=["train", "val"],
                k=_ks,
            ),
        log:
            f"results/{{cohort}}/logs/evaluate/{_method}.{_model}.log",
        benchmark:
            f"results/{{cohort}}/benchmarks/evaluate/{_method}.{_model}.tsv"
        conda:
            "../../envs/neuradmix.yaml"
        threads: 2
        params:
            model_dir=f"results/{{cohort}}/{_method}/{_model}",
            outdir=f"results/{{cohort}}/evaluate/{_method}/{_model}",
            ks=" ".join(str(k) for k in _ks),
            options=evaluate_options,
        shell:
            "neuradmix evaluate-model --model-dir {params.model_dir} --ks {params.ks}"
            " {params.options} --out-dir {params.outdir} --threads {threads} 2> {log}"


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
