"""Per-model evaluation and the per-cohort metrics table (the paper's Table 2 and more)."""


def _models():
    """(method, model, K) for every fitted model of a cohort."""
    models = [("neural", run, k) for run in RUNS for k in run_ks(run)]
    models += [("baseline", BASELINE, k) for k in baseline_ks()]
    return models


def evaluate_inputs(wildcards):
    base = f"results/{wildcards.cohort}"
    prefix = partition_prefix(wildcards.cohort, wildcards.partition)
    files = fileset(prefix)
    model_dir = f"{base}/{wildcards.method}/{wildcards.model}"
    files["q"] = f"{model_dir}/{wildcards.partition}.{wildcards.k}.Q"
    files["p"] = f"{model_dir}/train.{wildcards.k}.P"
    if has_labels(wildcards.cohort):
        files["labels"] = f"{prefix}.labels"
    if is_simulated(wildcards.cohort):
        files["truth"] = f"{prefix}.truth.Q"
    return files


def evaluate_options(wildcards, input):
    options = []
    if "labels" in input.keys():
        options.append(f"--labels {input.labels}")
    if "truth" in input.keys():
        options.append(f"--truth-q {input.truth}")
    return " ".join(options)


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
        " > {output} 2> {log}"


def metrics_inputs(wildcards):
    base = f"results/{wildcards.cohort}"
    evaluations = [
        f"{base}/evaluate/{method}/{model}/{partition}.{k}.tsv"
        for method, model, k in _models()
        for partition in ("train", "val")
    ]
    inputs = {"evaluations": evaluations}
    if CV_KS:
        inputs["cv"] = [
            f"{base}/cv/{method}.cv.tsv" for method in config["cv"]["methods"]
        ]
    return inputs


def benchmark_files(wildcards):
    """Timing files of the training and inference rules; their Q files are inputs here, so the
    rules that write these files have finished before the table is built."""
    base = f"results/{wildcards.cohort}/benchmarks"
    files = [f"{base}/train_neural/{run}.tsv" for run in RUNS]
    files += [f"{base}/infer/{run}.tsv" for run in RUNS]
    files += [f"{base}/baseline/{BASELINE}.{k}.tsv" for k in baseline_ks()]
    files += [f"{base}/project/{BASELINE}.{k}.tsv" for k in baseline_ks()]
    return " ".join(files)


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
        modes=" ".join(f"--mode {run}={spec['mode']}" for run, spec in RUNS.items()),
    shell:
        "neuradmix metrics-table --cohort {wildcards.cohort} --evaluations {input.evaluations}"
        " --benchmarks {params.benchmarks} {params.cv} {params.modes}"
        " --reference-baseline {BASELINE} --out {output.metrics} --table2 {output.table2}"
        " 2> {log}"
