"""The Snakemake workflow: formatting, lint, dry runs, config validation and a real run."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from neuradmix.data import read_bed, read_q, write_bed
from neuradmix.data.vcf import write_vcf
from neuradmix.report.figures import FIGURES
from neuradmix.simulation.psd import simulate_psd

ROOT = Path(__file__).resolve().parents[2]
SNAKEFILE = ROOT / "Snakefile"
BIN = Path(sys.executable).parent
EXAMPLE = ROOT / "resources" / "example"

pytestmark = pytest.mark.skipif(
    shutil.which("snakemake", path=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}") is None,
    reason="snakemake is not installed (pip install -e '.[workflow]')",
)


def snakemake(workdir: Path, config: dict | None, *args: str, timeout: int = 600, env=None):
    """Run snakemake on the repository's Snakefile in ``workdir`` with ``config`` as its config."""
    command = [str(BIN / "snakemake"), "-s", str(SNAKEFILE), "-d", str(workdir), "--cores", "2"]
    if config is not None:
        workdir.mkdir(parents=True, exist_ok=True)
        config_path = workdir / "config.yaml"
        config_path.write_text(yaml.safe_dump(config, sort_keys=False))
        command += ["--configfile", str(config_path)]
    env = dict(env or os.environ, PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    return subprocess.run(
        command + list(args), capture_output=True, text=True, timeout=timeout, env=env
    )


def write_tiny_cohort(directory: Path, n_samples=45, n_snps=1500, k=3, seed=7):
    """A phased VCF of three well separated populations, their labels and a BED copy."""
    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    cohort = simulate_psd(n_samples, n_snps, k, fst=0.3, alpha=0.05, seed=seed)
    counts = cohort.genotypes.calls.T.astype(np.int16)  # SNPs x samples
    first = np.where(counts == 1, rng.integers(0, 2, counts.shape), counts // 2)
    haplotypes = np.empty((n_snps, 2 * n_samples), dtype=np.uint8)
    haplotypes[:, 0::2] = first
    haplotypes[:, 1::2] = counts - first
    variants = pd.DataFrame(
        {
            "chrom": "1",
            "pos": np.arange(1, n_snps + 1) * 1000,
            "snp": [f"rs{j}" for j in range(n_snps)],
            "ref": "A",
            "alt": "G",
        }
    )
    samples = [f"s{i:03d}" for i in range(n_samples)]
    write_vcf(directory / "tiny.vcf.gz", haplotypes, samples, variants)
    pd.DataFrame({"sample": samples, "population": cohort.labels}).to_csv(
        directory / "tiny.pops.tsv", sep="\t", header=False, index=False
    )
    genotypes = cohort.genotypes
    genotypes.samples["fid"] = samples
    genotypes.samples["iid"] = samples
    write_bed(directory / "tiny", genotypes)
    return cohort


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    # A folder with a space and a shell metacharacter, as shared drives have: every rule must
    # quote the paths it passes to the shell.
    directory = tmp_path_factory.mktemp("tiny") / "shared data;x"
    directory.mkdir()
    write_tiny_cohort(directory)
    return directory


def tiny_config(data: Path, **overrides) -> dict:
    config = {
        "cohorts": {
            "tiny": {
                "vcf": str(data / "tiny.vcf.gz"),
                "labels": str(data / "tiny.pops.tsv"),
                "phased": True,
                "simulate": True,
                "targets": {"again": str(data / "tiny.bed")},
            }
        },
        "downsample": {"method": "uniform", "every": 2},
        "simulate": {"n_per_population": 10, "n_val_per_population": 4},
        "neural": {
            "epochs": 10,
            "runs": {
                "single": {"mode": "unsupervised", "k": 3},
                "multi": {"mode": "multihead", "min_k": 2, "max_k": 3, "polish": True},
                "sup": {"mode": "supervised"},
                "pre": {"mode": "pretrained", "k": 3},
            },
        },
        "baseline": {"tool": "em"},
        "cv": {"min_k": 2, "max_k": 3, "folds": 2},
    }
    config.update(overrides)
    return config


# ---------------------------------------------------------------------------------------------
# Static checks
# ---------------------------------------------------------------------------------------------


def test_snakefmt_is_clean():
    files = [str(SNAKEFILE), *map(str, sorted((ROOT / "workflow" / "rules").glob("*.smk")))]
    result = subprocess.run(
        [str(BIN / "snakefmt"), "--check", *files], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr


def test_snakemake_lint_is_clean(tiny, tmp_path):
    result = snakemake(tmp_path, tiny_config(tiny), "--lint")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Congratulations" in result.stdout + result.stderr


# ---------------------------------------------------------------------------------------------
# Dry runs
# ---------------------------------------------------------------------------------------------


def _job_counts(output: str) -> dict[str, int]:
    counts, in_table = {}, False
    for line in output.splitlines():
        if line.startswith("job ") and "count" in line:
            in_table = True
            continue
        if in_table:
            fields = line.split()
            if len(fields) == 2 and fields[1].isdigit():
                counts[fields[0]] = int(fields[1])
            elif fields and not set(line.strip()) <= {"-", " "}:
                break
    return counts


@pytest.mark.skipif(not (EXAMPLE / "example.vcf.gz").exists(), reason="example not built")
def test_default_config_dry_run(tmp_path):
    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    for entry in config["cohorts"].values():
        for key in ("vcf", "bed", "labels", "genetic_map"):
            if key in entry:
                entry[key] = str(ROOT / entry[key])
    result = snakemake(tmp_path, config, "-n")
    assert result.returncode == 0, result.stdout[-3000:]
    jobs = _job_counts(result.stdout)
    runs = config["neural"]["runs"]
    assert jobs["metrics_table"] == 2  # the example and its simulated twin
    assert jobs["train_neural"] == jobs["infer"] == 2 * len(runs)
    assert jobs["vcf_to_bed"] == 1 and jobs["simulate"] == 1
    assert jobs["pong"] == jobs["align"] == 4  # train and val of both cohorts


def test_multi_cohort_dry_run_only_builds_what_each_cohort_needs(tiny, tmp_path):
    config = tiny_config(tiny)
    config["cohorts"]["plinkset"] = {"bed": str(tiny / "tiny.bed")}
    config["cohorts"]["nolabels"] = {"vcf": str(tiny / "tiny.vcf.gz")}
    config["downsample"] = {"method": "ld_prune", "window": 20, "step": 5, "r2": 0.5}
    config["neural"]["runs"] = {"single": {"mode": "unsupervised", "k": 3}}
    result = snakemake(tmp_path, config, "-n")
    assert result.returncode == 0, result.stdout[-3000:]
    jobs = _job_counts(result.stdout)
    assert jobs["vcf_to_bed"] == 2  # tiny and nolabels; plinkset starts from its BED
    assert jobs["check_vcf"] == 2
    assert jobs["qc"] == 3 and jobs["snp_list"] == 3 and jobs["split"] == 3
    assert jobs["partition"] == 6  # plink2 --keep writes train and val of each cohort
    assert jobs["simulate"] == 1  # only tiny asked for a simulated twin
    assert jobs["metrics_table"] == 4
    assert "--labels" not in _shell_of(result.stdout, "results/nolabels/logs/split.log")
    assert "--indep-pairwise 20 5 0.5" in _shell_of(result.stdout, "logs/snp_list.log")
    assert jobs["target_match"] == 1 and jobs["infer_target"] == 1
    assert "target_vcf_to_bed" not in jobs  # the target is a BED


@pytest.fixture(scope="module")
def tiny_pgen(tiny):
    """The tiny cohort's BED as a PLINK 2 fileset (prefix), beside it."""
    if shutil.which("plink2") is None:
        pytest.skip("plink2 is not installed (make plink2)")
    prefix = tiny / "tiny-pfile"
    subprocess.run(
        ["plink2", "--bfile", str(tiny / "tiny"), "--make-pgen", "--out", str(prefix)],
        check=True,
        capture_output=True,
    )
    return prefix


def test_pgen_cohort_is_prepared_like_a_vcf(tiny, tiny_pgen, tmp_path):
    """A PLINK 2 cohort goes through plink2 --pfile with the VCF import's flags into raw.bed,
    then the same chain; its genotypes and counted allele are those of the fileset it came from.
    """
    config = tiny_config(tiny, baseline={"tool": "adamixture"})
    config["cohorts"]["pfile"] = {"pgen": str(tiny_pgen), "labels": str(tiny / "tiny.pops.tsv")}
    config["neural"]["runs"] = {"single": {"mode": "unsupervised", "k": 3}}
    result = snakemake(tmp_path, config, "-n")
    assert result.returncode == 0, result.stdout[-3000:]
    jobs = _job_counts(result.stdout)
    assert jobs["pgen_to_bed"] == 1 and jobs["vcf_to_bed"] == 1 and jobs["check_vcf"] == 1
    assert jobs["qc"] == 2 and jobs["partition"] == 4
    assert jobs["baseline"] == 3  # adamixture at K=3 on tiny, tiny_sim and pfile
    pgen = _shell_of(result.stdout, "results/pfile/logs/pgen_to_bed.log")
    vcf = _shell_of(result.stdout, "results/tiny/logs/vcf_to_bed.log")
    assert "--pfile" in pgen and "tiny-pfile" in pgen
    flags = vcf[vcf.index("--max-alleles") : vcf.index(" --make-bed")]
    assert "--set-all-var-ids" in flags and flags in pgen  # one set of import flags

    # The preparation itself (plink2, seconds) and, where ADAMIXTURE is installed, its fit and
    # the projection of the validation samples onto its .P.
    targets = ["results/pfile/prepare/train.bed"]
    if shutil.which("adamixture", path=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"):
        targets.append("results/pfile/baseline/adamixture/val.3.Q")
    # (-p ends --configfile's list of files, so that the targets are read as targets.)
    result = snakemake(tmp_path, config, "-p", *targets)
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    results = tmp_path / "results" / "pfile"
    if len(targets) == 2:
        log = (results / "logs" / "baseline" / "adamixture.3.log").read_text()
        assert "adamixture: K=3" in log
        assert read_q(results / "baseline" / "adamixture" / "val.3.Q", 9).shape == (9, 3)
    raw = read_bed(results / "prepare" / "raw.bed")
    source = read_bed(tiny / "tiny.bed")
    np.testing.assert_array_equal(raw.calls, source.calls)
    assert list(raw.sample_ids) == list(source.sample_ids)
    assert raw.variants["snp"].iloc[0] == "1:1000:G:A"  # chr:pos:ref:alt, ALT (A) counted
    assert (results / "prepare" / "train.labels").is_file()


def _jobs(output: str) -> list[dict]:
    """The jobs of a dry run: rule, wildcards, threads and resources of each."""
    jobs, job = [], None
    for line in output.splitlines():
        if line.startswith(("rule ", "localrule ")) and line.rstrip().endswith(":"):
            job = {"rule": line.split()[1].rstrip(":"), "wildcards": {}, "threads": 1}
            jobs.append(job)
        elif job is not None and line.startswith("    "):
            key, _, value = line.strip().partition(": ")
            if key == "wildcards":
                job["wildcards"] = dict(item.split("=", 1) for item in value.split(", "))
            elif key == "threads":
                job["threads"] = int(value)
            elif key == "resources":
                job["resources"] = dict(item.split("=", 1) for item in value.split(", "))
        elif not line.strip():
            job = None
    return jobs


_CLUSTER_RESOURCES = ("mem_mb", "runtime", "gpu", "slurm_partition")


def _job_set(output: str, rename: dict[str, str]) -> list[tuple]:
    """Each job as (rule, wildcards with runs renamed back, threads, cluster resources)."""
    jobs = []
    for job in _jobs(output):
        wildcards = dict(job["wildcards"])
        for key in ("run", "model"):  # a neural run is also the model of its evaluation
            if key in wildcards:
                wildcards[key] = rename.get(wildcards[key], wildcards[key])
        resources = job.get("resources", {})
        kept = tuple((r, resources.get(r)) for r in _CLUSTER_RESOURCES)
        jobs.append((job["rule"], tuple(sorted(wildcards.items())), job["threads"], kept))
    return sorted(jobs)


def test_renamed_runs_give_the_same_jobs_and_resources(tiny, tmp_path):
    config = tiny_config(tiny)
    config["neural"]["runs"]["sup"]["device"] = "cuda"
    config["partitions"] = {"cpu": "cpuq", "gpu": "gpuq"}  # as profiles/slurm sets them
    config["resources"] = {"train_neural": {"threads": 2, "mem_mb": 3000}}
    names = {"single": "alpha", "multi": "beta", "sup": "gamma", "pre": "delta"}
    renamed = dict(config, neural=dict(config["neural"]))
    renamed["neural"]["runs"] = {names[r]: spec for r, spec in config["neural"]["runs"].items()}
    first = snakemake(tmp_path / "a", config, "-n")
    second = snakemake(tmp_path / "b", renamed, "-n")
    assert first.returncode == 0 and second.returncode == 0, first.stdout[-2000:]
    jobs = _job_set(first.stdout, {})
    assert jobs == _job_set(second.stdout, {new: old for old, new in names.items()})

    by_rule = {}
    for rule, wildcards, threads, resources in jobs:
        by_rule.setdefault(rule, []).append((dict(wildcards), threads, dict(resources)))
    train = {w["run"]: (t, r) for w, t, r in by_rule["train_neural"] if w["cohort"] == "tiny"}
    # mem_mb as the config sets it; the run time estimated once the input exists
    assert train["sup"] == (2, {"mem_mb": "3000", "runtime": "<TBD>", "gpu": "1",
                                "slurm_partition": "gpuq"})  # fmt: skip
    assert train["single"][1]["gpu"] == "0" and train["single"][1]["slurm_partition"] == "cpuq"
    infer = {w["run"]: r for w, _, r in by_rule["infer"] if w["cohort"] == "tiny"}
    assert infer["sup"]["slurm_partition"] == "gpuq" and infer["sup"]["gpu"] == "1"
    assert infer["pre"]["slurm_partition"] == "cpuq" and infer["pre"]["gpu"] == "0"
    assert all(r["slurm_partition"] == "cpuq" for _, _, r in by_rule["baseline"])
    assert all(r.get("gpu") is None for _, _, r in by_rule["baseline"])
    assert {t for _, t, _ in by_rule["cv"]} == {2}  # 16 from config, capped at --cores 2


def test_heavy_jobs_ask_for_what_their_input_needs_unless_the_config_says(tmp_path):
    """A 240 x 5,000 cohort, on which sbatch refused the former fixed 32 GB of train_neural,
    asks for the interpreter and a little; a mem_mb the config sets is used as it is."""
    data = tmp_path / "data"
    write_tiny_cohort(data, n_samples=240, n_snps=5_000)
    config = tiny_config(data)
    config["neural"]["runs"] = {
        "single": {"mode": "unsupervised", "k": 3},
        "multi": {"mode": "multihead", "min_k": 2, "max_k": 5},
    }
    for workdir in (tmp_path / "estimated", tmp_path / "fixed"):
        prepare = workdir / "results" / "tiny" / "prepare"
        prepare.mkdir(parents=True)
        for suffix in (".bed", ".bim", ".fam"):
            shutil.copy(data / f"tiny{suffix}", prepare / f"train{suffix}")
    targets = [f"results/tiny/neural/{run}/train.timing.tsv" for run in ("single", "multi")]
    options = ["-n", "--allowed-rules", "train_neural", "-p", *targets]
    estimated = snakemake(tmp_path / "estimated", config, *options)
    assert estimated.returncode == 0, estimated.stdout[-3000:] + estimated.stderr[-3000:]
    train = {job["wildcards"]["run"]: job["resources"] for job in _jobs(estimated.stdout)}
    assert set(train) == {"single", "multi"}
    for resources in train.values():
        assert 500 < int(resources["mem_mb"]) < 4_000  # the floor with torch, and a little
        assert int(resources["runtime"]) == 10  # the floor
    assert int(train["multi"]["mem_mb"]) >= int(train["single"]["mem_mb"])

    config["resources"] = {"train_neural": {"mem_mb": 64_000}}
    fixed = snakemake(tmp_path / "fixed", config, *options)
    assert fixed.returncode == 0, fixed.stdout[-3000:] + fixed.stderr[-3000:]
    train = {job["wildcards"]["run"]: job["resources"] for job in _jobs(fixed.stdout)}
    assert {r["mem_mb"] for r in train.values()} == {"64000"}
    assert {r["runtime"] for r in train.values()} == {"10"}  # still estimated


def test_slurm_profile_names_no_rule_or_run():
    profile = yaml.safe_load((ROOT / "profiles" / "slurm" / "config.yaml").read_text())
    assert "set-threads" not in profile and "set-resources" not in profile
    assert set(profile["config"]["partitions"]) == {"cpu", "gpu"}


def _shell_of(output: str, log: str) -> str:
    for line in output.splitlines():
        if line.startswith("Shell command:") and log in line:
            return line
    raise AssertionError(f"no shell command writing {log}")


# ---------------------------------------------------------------------------------------------
# Config errors fail at validation, with a message naming the problem
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda c: c.update(epochs=3), "Additional properties are not allowed ('epochs'"),
        (
            lambda c: c["cohorts"]["tiny"].update(vcf="missing.vcf.gz"),
            "cohorts.tiny.vcf: file missing.vcf.gz not found",
        ),
        (
            lambda c: c["cohorts"]["tiny"].update(pgen="more"),
            "Invalid config: cohorts.tiny: give exactly one of 'vcf', 'bed' or 'pgen'",
        ),
        (
            lambda c: (
                c["cohorts"]["tiny"].pop("vcf"),
                c["cohorts"]["tiny"].update(pgen="gone", simulate=False),
            ),
            "cohorts.tiny.pgen: gone.pgen: file not found; a PLINK 2 fileset needs gone.pgen, "
            ".pvar and .psam",
        ),
        (
            lambda c: c["baseline"].update(tool="adamixtrue"),
            "'adamixtrue' is not one of",
        ),
        (
            lambda c: c["cohorts"]["tiny"].update(labels="nowhere.tsv"),
            "cohorts.tiny.labels: file nowhere.tsv not found",
        ),
        (
            lambda c: c["neural"]["runs"]["single"].update(k=40),
            "K=40 (neural.runs / cv.max_k) is out of range for cohort 'tiny'",
        ),
        (lambda c: c["neural"]["runs"]["single"].update(k=1), "1 is less than the minimum of 2"),
        (
            lambda c: c["neural"]["runs"]["sup"].update(k=5),
            "supervised k=5 but cohort 'tiny' has 3 labelled populations",
        ),
        (
            lambda c: c["neural"]["runs"]["multi"].update(k=2),
            "neural.runs.multi: a multihead run takes min_k and max_k (not k)",
        ),
        (
            lambda c: c["cohorts"]["tiny"].update(phased=False),
            "simulate: true needs a phased 'vcf', phased: true and 'labels'",
        ),
        (
            lambda c: c["neural"]["runs"]["sup"].update(max_k=3),
            "neural.runs.sup: a supervised run takes k or nothing",
        ),
        (
            lambda c: c["cohorts"]["tiny"]["targets"].update(new="absent.vcf.gz"),
            "cohorts.tiny.targets.new: file absent.vcf.gz not found",
        ),
        (
            lambda c: c["downsample"].update(target_snps=100),
            "Invalid config: downsample: the uniform method needs exactly one of 'every' or "
            "'target_snps'",
        ),
        (
            lambda c: c["simulate"].update(populations=["pop1", "elsewhere"]),
            "simulate.populations: elsewhere not among the labels of cohort 'tiny'",
        ),
        (
            lambda c: c["simulate"].update(populations=["pop1", "pop2"]),
            "neural.runs.sup is supervised with k=3, but the simulated cohort 'tiny_sim' "
            "descends from 2 populations",
        ),
        (
            lambda c: c.update(resources={"train_nerual": {"threads": 4}}),
            "Additional properties are not allowed ('train_nerual'",
        ),
        (
            lambda c: (
                c.update(partitions={"cpu": "cpuq"}),
                c["neural"]["runs"]["single"].update(device="cuda"),
            ),
            "neural.runs.single runs on cuda but partitions.gpu is not set",
        ),
    ],
)
def test_config_errors_fail_at_validation(tiny, tmp_path, change, message):
    config = tiny_config(tiny)
    change(config)
    result = snakemake(tmp_path, config, "-n")
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert message in output, output[-3000:]
    # One line naming the key, not the schema and the config dumped after it.
    assert "Failed validating" not in output and "On instance" not in output, output[-3000:]
    # ... nor Snakemake's error header and traceback around it.
    assert "WorkflowError" not in output and 'File "' not in output, output[-3000:]
    assert not (tmp_path / "results").exists()


# ---------------------------------------------------------------------------------------------
# End to end
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_run(tiny, tmp_path_factory):
    """One real run of the whole workflow on the tiny cohort, shared by the tests below.

    A decoy ``neuradmix`` package that fails on import comes first on PYTHONPATH, as an older
    installed copy would: the run only succeeds if every job runs this checkout's package.
    """
    workdir = tmp_path_factory.mktemp("run")
    decoy = tmp_path_factory.mktemp("decoy")
    (decoy / "neuradmix").mkdir()
    (decoy / "neuradmix" / "__init__.py").write_text(
        "raise ImportError('the decoy neuradmix package was imported instead of the checkout')\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = str(decoy)
    result = snakemake(workdir, tiny_config(tiny), timeout=900, env=env)
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    return workdir


@pytest.mark.slow
def test_end_to_end_on_a_tiny_cohort(tiny_run):
    results = tiny_run / "results"

    # Preparation: every other SNP kept, 80/20 stratified split.
    train_fam = results / "tiny" / "prepare" / "train.fam"
    val_fam = results / "tiny" / "prepare" / "val.fam"
    n_train = len(train_fam.read_text().splitlines())
    n_val = len(val_fam.read_text().splitlines())
    assert (n_train, n_val) == (36, 9)
    assert len((results / "tiny" / "prepare" / "ds.bim").read_text().splitlines()) <= 750

    # Models: Q files for every run, K and partition, with one row per sample.
    for run, ks in {"single": [3], "multi": [2, 3], "sup": [3], "pre": [3]}.items():
        for k in ks:
            q = read_q(results / "tiny" / "neural" / run / f"train.{k}.Q", n_train)
            assert q.shape == (n_train, k)
            assert read_q(results / "tiny" / "neural" / run / f"val.{k}.Q", n_val).shape[1] == k
            p = np.loadtxt(results / "tiny" / "neural" / run / f"train.{k}.P")
            assert p.min() >= 1e-5 and p.max() <= 1 - 1e-5  # bounded as ADMIXTURE does
    assert read_q(results / "tiny" / "baseline" / "em" / "val.3.Q", n_val).shape == (n_val, 3)
    # The extra target cohort (the whole tiny cohort again) assigned by every head.
    for run, ks in {"single": [3], "multi": [2, 3]}.items():
        for k in ks:
            target_q = results / "tiny" / "neural" / run / "targets" / f"again.{k}.Q"
            assert read_q(target_q, n_train + n_val).shape == (n_train + n_val, k)
    for rule in ("train_neural/single.tsv", "infer/multi.tsv", "baseline/em.3.tsv"):
        assert (results / "tiny" / "benchmarks" / rule).is_file()

    # Metrics: one row per model x K x partition, with the paper's columns filled in.
    metrics = pd.read_csv(results / "tiny" / "metrics.tsv", sep="\t")
    assert len(metrics) == 2 * (1 + 2 + 1 + 1 + 2)
    indexed = metrics.set_index(["method", "model", "k", "partition"])
    baseline = indexed.loc[("baseline", "em", 3, "train")]
    assert baseline["ami"] > 0.8  # three well separated populations
    assert baseline["speedup_train"] == pytest.approx(1.0)
    assert baseline["cv_error"] > 0
    assert baseline["train_tool"] == "em" and baseline["train_device"].startswith("cpu (")
    for model in ("single", "sup"):
        row = indexed.loc[("neural", model, 3, "val")]
        assert 0 <= row["ami"] <= 1 and row["delta"] >= 0
        assert row["l_n_lambda0"] > 0 and row["speedup_train"] > 0 and row["speedup_infer"] > 0
        # Speedups are ratios of the fits themselves, not of whole processes.
        assert row["speedup_train"] == pytest.approx(
            baseline["train_fit_seconds"] / row["train_fit_seconds"], rel=1e-4
        )
        assert row["train_fit_seconds"] < row["train_process_seconds"]
        assert row["infer_fit_seconds"] < row["infer_process_seconds"]
    assert np.isnan(indexed.loc[("neural", "pre", 3, "val"), "speedup_train"])
    # The polished run says so: its fit is the block relaxation's continuation of the network's.
    assert indexed.loc[("neural", "multi", 3, "train"), "train_tool"] == "neural+polish"
    assert indexed.loc[("neural", "single", 3, "train"), "train_tool"] == "neural"
    assert (
        "polish K=3: the classic method (block relaxation) continued"
        in (results / "tiny" / "logs" / "train_neural" / "multi.log").read_text()
    )
    assert "multi (network + classic polish)" in (results / "tiny" / "report.html").read_text()
    assert metrics["rmse_q"].isna().all()  # real data: no truth
    table2 = pd.read_csv(results / "tiny" / "table2.tsv", sep="\t")
    assert len(table2) == 7 and table2["l_n_lambda0_val"].gt(0).all()

    # The simulated twin: disjoint founders, truth Q, RMSE against it, progress in its log.
    founders = pd.read_csv(results / "tiny_sim" / "prepare" / "sim.founders.tsv", sep="\t")
    val_ids = set(val_fam.read_text().split()[1::6])
    assert set(founders.loc[founders["partition"] == "val", "sample"]) == val_ids
    sim = pd.read_csv(results / "tiny_sim" / "metrics.tsv", sep="\t")
    at_k3 = sim[sim["k"] == 3]
    assert at_k3["rmse_q"].notna().all() and at_k3["rmse_q"].between(0, 0.5).all()
    log = (results / "tiny" / "logs" / "simulate.log").read_text().splitlines()
    assert len(log) >= 6 and all(line.startswith("[") and "\r" not in line for line in log)


@pytest.mark.slow
def test_pong_files_list_every_run_of_a_partition(tiny_run):
    pong = tiny_run / "results" / "tiny" / "pong"
    labels = pd.read_csv(
        tiny_run / "results" / "tiny" / "prepare" / "val.labels", sep="\t", header=None
    )
    rows = [line.split("\t") for line in (pong / "val.filemap").read_text().splitlines()]
    assert [row[0] for row in rows] == [
        "neural_single_K3", "neural_multi_K2", "neural_multi_K3", "neural_sup_K3",
        "neural_pre_K3", "baseline_em_K2", "baseline_em_K3",
    ]  # fmt: skip
    for _run_id, k, path in rows:
        q = np.loadtxt(pong / path, ndmin=2)  # relative to the filemap, as pong reads it
        assert q.shape == (len(labels), int(k))
    assert (pong / "val.ind2pop").read_text().split("\n")[:-1] == list(labels[1])
    sim_rows = (tiny_run / "results" / "tiny_sim" / "pong" / "train.filemap").read_text()
    assert sim_rows.startswith("truth\t3\t../aligned/train/truth.3.Q\n")


@pytest.mark.slow
def test_aligned_files_share_one_labelling_for_pong_and_the_figures(tiny_run):
    aligned = tiny_run / "results" / "tiny" / "aligned"
    n_val = len((tiny_run / "results" / "tiny" / "prepare" / "val.fam").read_text().splitlines())
    for partition in ("train", "val"):
        table = pd.read_csv(aligned / partition / "permutations.tsv", sep="\t")
        assert set(zip(table["run"], table["k"], strict=True)) == {
            ("neural_single", 3), ("neural_multi", 2), ("neural_multi", 3), ("neural_sup", 3),
            ("neural_pre", 3), ("baseline_em", 2), ("baseline_em", 3),
        }  # fmt: skip
        for _, row in table.iterrows():
            q = read_q(aligned / partition / row["file"])
            assert q.shape[1] == row["k"] and sorted(row["permutation"].split(",")) == [
                str(c) for c in range(row["k"])
            ]
        modes = pd.read_csv(aligned / partition / "modes.tsv", sep="\t")
        assert modes.groupby("k")["n_runs"].sum().to_dict() == {2: 2, 3: 5}
        assert set(table["mode"]) <= set(modes["mode"])
    # The labels start at the main run (single, K=3 only) via the first run with K=2 (multi).
    rows = table.set_index("file")
    assert pd.isna(rows.loc["neural_multi.2.Q", "aligned_to"])
    assert rows.loc["neural_single.3.Q", "aligned_to"] == "neural_multi.2.Q"
    assert read_q(aligned / "val" / "baseline_em.3.Q").shape[0] == n_val


def _report_json(html: str, name: str):
    match = re.search(rf"var {name} = (\{{.*?\}});\n", html, flags=re.S)
    assert match, f"no {name} in the Snakemake report"
    return json.loads(match.group(1))


@pytest.mark.slow
def test_snakemake_report_shows_every_figure_with_its_caption(tiny, tiny_run, tmp_path):
    result = snakemake(tiny_run, tiny_config(tiny), "--report", str(tmp_path / "report.zip"))
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    with zipfile.ZipFile(tmp_path / "report.zip") as archive:
        html = archive.read("report/report.html").decode()
        stored = {Path(name).name for name in archive.namelist()}
    categories = _report_json(html, "categories")
    results = _report_json(html, "results")
    assert set(categories) == {"tiny", "tiny_sim"}
    for cohort, groups in categories.items():
        assert set(groups) == {"Ancestry", "Choosing K", "Training", "Tables", "Report"}
        for spec in FIGURES:
            if spec.needs == "lambda":  # no runs differing only in λ in this config
                continue
            path = f"results/{cohort}/figures/{spec.name}.png"
            assert path in groups[spec.category]
            caption = (ROOT / "workflow" / "report" / f"{spec.name}.rst").read_text().split()
            assert " ".join(caption[:6]) in results[path]["caption"]
    assert {"structure.png", "pca.png", "multik.png", "report.html", "metrics.tsv"} <= stored
    assert "Every metric of cohort tiny_sim" in html  # captions are rendered per cohort
