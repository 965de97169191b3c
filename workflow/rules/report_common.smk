"""Helpers of workflow/rules/report.smk: which figures a cohort gets (the package's catalogue,
neuradmix.report.figures.FIGURES) and their inputs."""

import json

from neuradmix.report.figures import figure_specs

REPORT_MAX_SAMPLES = 3000


def _main_k():
    """K of the barplots: that of the first single-K run, else the middle of a multi-head range."""
    for run in RUNS:
        if RUNS[run]["mode"] != "multihead":
            return run_ks(run)[0]
    return ALL_KS[len(ALL_KS) // 2]


def _lambda_sweep():
    """Runs that differ only in λ (same mode and K values); the largest such group, or []."""
    groups = {}
    for run in RUNS:
        key = (RUNS[run]["mode"], tuple(run_ks(run)))
        groups.setdefault(key, []).append(run)
    best = []
    for key, runs in groups.items():
        lambdas = {run_setting(run, "lambda") for run in runs}
        if (
            _main_k() in key[1]
            and len(lambdas) == len(runs) > 1
            and len(runs) > len(best)
        ):
            best = sorted(runs, key=lambda run: run_setting(run, "lambda"))
    return best


MAIN_K = _main_k()
LAMBDA_RUNS = _lambda_sweep()


def _model_dirs(cohort):
    """Display name -> output directory of every model, neural runs first."""
    dirs = {f"neural/{run}": f"results/{cohort}/neural/{run}" for run in RUNS}
    dirs[f"baseline/{BASELINE}"] = f"results/{cohort}/baseline/{BASELINE}"
    return dirs


def plots_inputs(wildcards):
    cohort = wildcards.cohort
    train = partition_prefix(cohort, "train")
    val = partition_prefix(cohort, "val")
    files = fileset(train)
    files["val_fam"] = f"{val}.fam"
    if has_labels(cohort):
        files["train_labels"] = f"{train}.labels"
        files["val_labels"] = f"{val}.labels"
    files["models"] = [
        path
        for method, model, _ in evaluated_models()
        for path in model_files(cohort, method, model)
    ]
    files["loss"] = [f"results/{cohort}/neural/{run}/train.loss.tsv" for run in RUNS]
    if is_simulated(cohort):
        files["train_truth"] = f"{train}.truth.Q"
        files["val_truth"] = f"{val}.truth.Q"
    cv = metrics_inputs(wildcards).get("cv")
    if cv:
        files["cv"] = cv
    return files


def plots_options(wildcards, input):
    cohort = wildcards.cohort
    options = [
        f"--run {name}={directory}" for name, directory in _model_dirs(cohort).items()
    ]
    options += [
        f"--loss {run}=results/{cohort}/neural/{run}/train.loss.tsv" for run in RUNS
    ]
    options += [
        f"--lambda-run {run_setting(run, 'lambda')}=results/{cohort}/neural/{run}"
        for run in LAMBDA_RUNS
    ]
    if "train_labels" in input.keys():
        options.append(
            f"--train-labels {shlex.quote(input.train_labels)}"
            f" --val-labels {shlex.quote(input.val_labels)}"
        )
    if "train_truth" in input.keys():
        options.append(
            f"--train-truth {shlex.quote(input.train_truth)}"
            f" --val-truth {shlex.quote(input.val_truth)}"
        )
    if "cv" in input.keys():
        options.append(f"--cv {quoted(input.cv)}")
    return " ".join(options)


FIGURES = figure_specs(cv=bool(CV_KS), loss=bool(RUNS), lambda_sweep=bool(LAMBDA_RUNS))


def figure_path(name, cohort="{cohort}"):
    return f"results/{cohort}/figures/{name}.png"


def plots_outputs():
    """Every figure of the catalogue this config draws, offered to snakemake --report with its
    caption (workflow/report/NAME.rst), plus the manifest."""
    outputs = {
        f"figure_{spec.name}": report(
            figure_path(spec.name),
            caption=f"../report/{spec.name}.rst",
            category="{cohort}",
            subcategory=spec.category,
            labels={"figure": spec.label},
        )
        for spec in FIGURES
    }
    outputs["manifest"] = "results/{cohort}/figures/figures.json"
    return outputs


def _report_stages(cohort):
    """(stage, PLINK prefix) pairs for the cohort summary, in pipeline order."""
    if is_simulated(cohort):
        return [
            ("simulated training", partition_prefix(cohort, "train")),
            ("simulated validation", partition_prefix(cohort, "val")),
        ]
    base = f"results/{cohort}/prepare"
    stages = [("input", input_prefix(cohort))]
    stages.append(("after QC", f"{base}/qc"))
    if DS["method"] != "none":
        stages.append(("after downsampling", f"{base}/ds"))
    stages += [("training", f"{base}/train"), ("validation", f"{base}/val")]
    return stages


def report_inputs(wildcards):
    cohort = wildcards.cohort
    files = {
        # Plain paths: the report() flags belong to the outputs of the plots rule only.
        "figures": [figure_path(spec.name, cohort) for spec in FIGURES],
        "manifest": f"results/{cohort}/figures/figures.json",
        "table2": f"results/{cohort}/table2.tsv",
        "metrics": f"results/{cohort}/metrics.tsv",
        "stages": [
            f"{prefix}.{ext}"
            for _, prefix in _report_stages(cohort)
            for ext in ("bim", "fam")
        ],
    }
    if has_labels(cohort):
        files["labels"] = [
            f"{partition_prefix(cohort, partition)}.labels" for partition in PARTITIONS
        ]
    cv = metrics_inputs(wildcards).get("cv")
    if cv:
        files["cv"] = cv
    return files


def report_options(wildcards, input):
    cohort = wildcards.cohort
    options = [
        f"--fileset '{stage}={prefix}'" for stage, prefix in _report_stages(cohort)
    ]
    options.append(f"--reference-baseline {BASELINE}")
    if "cv" in input.keys():
        options.append(f"--cv {quoted(input.cv)}")
    if "labels" in input.keys():
        for partition in ("train", "val"):
            prefix = partition_prefix(cohort, partition)
            options.append(f"--labels {partition}={prefix}.labels:{prefix}")
    return " ".join(options)
