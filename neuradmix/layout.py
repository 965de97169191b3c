"""Where every result of a cohort lives: one function per file (or folder) of ``results/``.

The workflow's rules, input functions and plan, the steps that read a directory (evaluation,
tables) and the figures all build their paths here, so renaming an output is one edit of
:data:`PATTERNS`. Every function returns a relative path as a ``str``; its arguments may be
Snakemake wildcards (``cohort="{cohort}"``) to give a rule's output pattern. The ``parse_*``
functions read method, model and K back from a path.

This module imports nothing from the package (and only the standard library), so that the
Snakefile, the steps and the report can all use it.
"""

from __future__ import annotations

import os
import re
from pathlib import PurePath

RESULTS = "results"

# One pattern per kind of result; fields in braces. ``{cohort_dir}`` is RESULTS/{cohort}.
PATTERNS = {
    # preparation: PLINK prefixes (.bed/.bim/.fam beside them) and the split
    "prepare": "{cohort_dir}/prepare/{stage}",
    "vcf_check": "{cohort_dir}/prepare/raw.vcf_check.tsv",
    "snp_list": "{cohort_dir}/prepare/{name}",
    "keep": "{cohort_dir}/prepare/{partition}.keep",
    "labels": "{prefix}.labels",
    "truth": "{prefix}.truth.Q",
    "simulated": "{cohort_dir}/prepare/sim.{partition}",
    "sim_founders": "{cohort_dir}/prepare/sim.founders.tsv",
    "founders_vcf": "{cohort_dir}/simulate/founders.vcf.gz",
    "target": "{cohort_dir}/targets/{target}/{stage}",
    # a model's folder and the files of its K values inside it
    "model_dir": "{cohort_dir}/{method}/{model}",
    # (also what the commands write with --out DIRECTORY --name NAME, in any folder)
    "q": "{directory}/{name}.{k}.Q",
    "p": "{directory}/{name}.{k}.P",
    "q_se": "{directory}/{name}.{k}.Q_se",
    "q_columns": "{q}.columns",
    "timing": "{directory}/{name}.timing.tsv",
    "timing_k": "{directory}/{name}.{k}.timing.tsv",
    "baseline_summary": "{directory}/{name}.{k}.baseline.tsv",
    "resume": "{directory}/{name}.resume.npz",
    "model_pt": "{directory}/{name}.model.pt",
    "loss": "{directory}/{name}.loss.tsv",
    "target_timing": "{directory}/targets/{target}.timing.tsv",
    # cross-validation, evaluation and tables
    "cv_dir": "{cohort_dir}/cv",
    "cv": "{directory}/{name}.cv.tsv",
    "evaluation": "{cohort_dir}/evaluate/{method}/{model}.tsv",
    "metrics": "{cohort_dir}/metrics.tsv",
    "table2": "{cohort_dir}/table2.tsv",
    # aligned files, pong, figures, report
    "aligned_dir": "{cohort_dir}/aligned/{partition}",
    "aligned_q": "{directory}/{run}.{k}.Q",
    "permutations": "{directory}/permutations.tsv",
    "modes": "{directory}/modes.tsv",
    "pong": "{cohort_dir}/pong/{partition}.{ext}",
    "figure": "{cohort_dir}/figures/{name}.png",
    "figures_manifest": "{cohort_dir}/figures/figures.json",
    "job_inputs": "{cohort_dir}/inputs/{job}.json",
    "report": "{cohort_dir}/report.html",
    # logs and benchmarks of the jobs
    "log": "{cohort_dir}/logs/{job}.log",
    "benchmark": "{cohort_dir}/benchmarks/{rule}/{name}.tsv",
}

PARTITIONS = ("train", "val")


def _path(kind: str, cohort: str | None = None, **fields) -> str:
    if cohort is not None:
        fields["cohort_dir"] = f"{RESULTS}/{cohort}"
    return PATTERNS[kind].format(**fields)


# ---------------------------------------------------------------------------------------------
# Preparation
# ---------------------------------------------------------------------------------------------


def prepare_prefix(cohort: str, stage: str) -> str:
    """PLINK prefix of a preparation stage: raw, qc, ds, or a partition (train, val)."""
    return _path("prepare", cohort, stage=stage)


def simulated_prefix(cohort: str, partition: str) -> str:
    """PLINK prefix of a partition of a simulated cohort ({real}_sim)."""
    return _path("simulated", cohort, partition=partition)


def fileset(prefix: str) -> dict[str, str]:
    """The three files of a PLINK fileset, by extension."""
    return {ext: f"{prefix}.{ext}" for ext in ("bed", "bim", "fam")}


def vcf_check(cohort: str) -> str:
    return _path("vcf_check", cohort)


def snp_list(cohort: str, name: str) -> str:
    """The SNPs that downsampling keeps (``ds.snps`` or plink2's ``ds.prune.in``)."""
    return _path("snp_list", cohort, name=name)


def keep(cohort: str, partition: str) -> str:
    return _path("keep", cohort, partition=partition)


def labels(prefix: str) -> str:
    """Population labels of the samples of a partition's fileset, beside it."""
    return _path("labels", prefix=prefix)


def truth(prefix: str) -> str:
    """Simulated true Q of a partition's fileset, beside it."""
    return _path("truth", prefix=prefix)


def sim_founders(cohort: str) -> str:
    return _path("sim_founders", cohort)


def founders_vcf(cohort: str) -> str:
    return _path("founders_vcf", cohort)


def target_prefix(cohort: str, target: str, stage: str) -> str:
    """PLINK prefix of a target cohort: raw (from its VCF) or matched (to the training SNPs)."""
    return _path("target", cohort, target=target, stage=stage)


# ---------------------------------------------------------------------------------------------
# Models: neural runs and baseline tools
# ---------------------------------------------------------------------------------------------


def model_dir(cohort: str, method: str, model: str) -> str:
    """Folder of a neural run (method neural) or a baseline tool (method baseline)."""
    return _path("model_dir", cohort, method=method, model=model)


def run_dir(cohort: str, run: str) -> str:
    return model_dir(cohort, "neural", run)


def baseline_dir(cohort: str, tool: str) -> str:
    return model_dir(cohort, "baseline", tool)


def q_file(directory: str | os.PathLike, name: str, k) -> str:
    """``DIR/NAME.K.Q``: the ancestry proportions a command wrote with --name NAME."""
    return _path("q", directory=directory, name=name, k=k)


def p_file(directory: str | os.PathLike, name: str, k) -> str:
    return _path("p", directory=directory, name=name, k=k)


def q_se_file(directory: str | os.PathLike, name: str, k) -> str:
    """Bootstrap standard errors of the .Q of ``em --bootstrap``."""
    return _path("q_se", directory=directory, name=name, k=k)


def q_columns(q: str | os.PathLike) -> str:
    """The population of each column of a supervised or simulated .Q, beside it."""
    return _path("q_columns", q=q)


def timing(directory: str | os.PathLike, name: str, k=None) -> str:
    """Timing sidecar: ``DIR/NAME.timing.tsv`` for a whole model, ``DIR/NAME.K.timing.tsv`` for
    a fit at one K."""
    if k is None:
        return _path("timing", directory=directory, name=name)
    return _path("timing_k", directory=directory, name=name, k=k)


def baseline_summary(directory: str | os.PathLike, name: str, k) -> str:
    """One row of a baseline fit: tool, wall seconds, log-likelihood."""
    return _path("baseline_summary", directory=directory, name=name, k=k)


def resume_checkpoint(directory: str | os.PathLike, name: str) -> str:
    return _path("resume", directory=directory, name=name)


def model_file(directory: str | os.PathLike, name: str) -> str:
    """``DIR/NAME.model.pt``: the trained network ``train --name NAME`` writes."""
    return _path("model_pt", directory=directory, name=name)


def loss_file(directory: str | os.PathLike, name: str) -> str:
    """``DIR/NAME.loss.tsv``: the loss of each epoch of ``train --name NAME``."""
    return _path("loss", directory=directory, name=name)


def model_checkpoint(cohort: str, run: str) -> str:
    """The trained network of a run (trained on the training partition)."""
    return model_file(run_dir(cohort, run), "train")


def loss_table(cohort: str, run: str) -> str:
    return loss_file(run_dir(cohort, run), "train")


def target_timing(cohort: str, run: str, target: str) -> str:
    """Sidecar of a target cohort's assignment by a run; its ``{target}.{K}.Q`` sit beside it."""
    return _path("target_timing", directory=run_dir(cohort, run), target=target)


# ---------------------------------------------------------------------------------------------
# Cross-validation, evaluation, tables
# ---------------------------------------------------------------------------------------------


def cv_file(directory: str | os.PathLike, name: str) -> str:
    """``DIR/NAME.cv.tsv``: the CV error of each K (``cv --out DIR --name NAME``)."""
    return _path("cv", directory=directory, name=name)


def cv_table(cohort: str, method: str) -> str:
    return cv_file(_path("cv_dir", cohort), method)


def cv_checkpoint(cohort: str, method: str) -> str:
    return resume_checkpoint(_path("cv_dir", cohort), method)


def evaluation(cohort: str, method: str, model: str) -> str:
    return _path("evaluation", cohort, method=method, model=model)


def metrics(cohort: str) -> str:
    return _path("metrics", cohort)


def table2(cohort: str) -> str:
    return _path("table2", cohort)


# ---------------------------------------------------------------------------------------------
# Aligned files, pong, figures, report
# ---------------------------------------------------------------------------------------------


def aligned_dir(cohort: str, partition: str) -> str:
    return _path("aligned_dir", cohort, partition=partition)


def aligned_q(directory: str | os.PathLike, run: str, k) -> str:
    """``DIR/RUN.K.Q``: the .Q of ``run`` at ``k`` with its columns in the common labelling."""
    return _path("aligned_q", directory=directory, run=run, k=k)


def permutations(cohort: str, partition: str) -> str:
    return _path("permutations", directory=aligned_dir(cohort, partition))


def modes(cohort: str, partition: str) -> str:
    return _path("modes", directory=aligned_dir(cohort, partition))


def pong_file(cohort: str, partition: str, ext: str) -> str:
    """pong's ``.filemap`` or ``.ind2pop`` of a partition."""
    return _path("pong", cohort, partition=partition, ext=ext)


def figure(cohort: str, name: str) -> str:
    return _path("figure", cohort, name=name)


def figures_manifest(cohort: str) -> str:
    """``figures.json``: every figure drawn, with its title and caption (written by plots)."""
    return _path("figures_manifest", cohort)


def job_inputs(cohort: str, job: str, name: str | None = None) -> str:
    """The manifest of what a job reads (``plots``, ``report``, ``metrics_table``; ``align`` and
    ``pong`` with the partition as ``name``: ``inputs/JOB/NAME.json``), written from the plan."""
    return _path("job_inputs", cohort, job=job if name is None else f"{job}/{name}")


def report(cohort: str) -> str:
    return _path("report", cohort)


def log(cohort: str, rule: str, name: str | None = None) -> str:
    """``logs/RULE.log`` of a job, or ``logs/RULE/NAME.log`` for one of a rule's many jobs."""
    return _path("log", cohort, job=rule if name is None else f"{rule}/{name}")


def benchmark(cohort: str, rule: str, name: str | None = None) -> str:
    return _path("benchmark", cohort, rule=rule, name=rule if name is None else name)


# ---------------------------------------------------------------------------------------------
# Reading a path back
# ---------------------------------------------------------------------------------------------


def _pattern_regex(kind: str, **fields: str) -> re.Pattern:
    """A pattern as a regular expression for a whole path: a leading folder field
    (``{cohort_dir}/``, ``{directory}/``) matches any folders or none, every other field one
    path component (or the expression ``fields`` gives for it)."""
    regex, after_folder = [], False
    for part in re.split(r"(\{[a-z_]+\}/?)", PATTERNS[kind]):
        name = part.strip("{}/")
        if part.startswith("{") and name in ("cohort_dir", "directory", "prefix"):
            regex.append("(?:.*/)?" if part.endswith("/") else ".*")
        elif part.startswith("{"):
            regex.append(f"(?P<{name}>{fields.get(name, '[^/]+')})" + part[len(name) + 2 :])
        elif after_folder and part.endswith("/"):
            regex.append(f"(?:{re.escape(part)})?")  # e.g. evaluate/: any folder will do
        else:
            regex.append(re.escape(part))
        after_folder = regex[-1] == "(?:.*/)?"
    return re.compile("".join(regex))


def _parse(kind: str, path: str | os.PathLike, **fields: str) -> dict[str, str] | None:
    match = _pattern_regex(kind, **fields).fullmatch(PurePath(path).as_posix())
    return match.groupdict() if match else None


def parse_evaluation(path: str | os.PathLike) -> tuple[str, str] | None:
    """(method, model) of an evaluation table ``.../{method}/{model}.tsv``, as
    :func:`evaluation` names it (in any folder)."""
    found = _parse("evaluation", path)
    return None if found is None else (found["method"], found["model"])


def parse_model_file(path: str | os.PathLike) -> tuple[str, str] | None:
    """(method, model) of a file in a model's folder (:func:`model_dir`), e.g. a timing
    sidecar."""
    parent = PurePath(path).parent.as_posix()
    found = _parse("model_dir", parent)
    return None if found is None else (found["method"], found["model"])
