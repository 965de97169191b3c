"""The Snakemake workflow: formatting, lint, dry runs, config validation and a real run."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from neuradmix.data import read_q, write_bed
from neuradmix.data.vcf import write_vcf
from neuradmix.simulation.psd import simulate_psd

ROOT = Path(__file__).resolve().parents[2]
SNAKEFILE = ROOT / "Snakefile"
BIN = Path(sys.executable).parent
EXAMPLE = ROOT / "resources" / "example"

pytestmark = pytest.mark.skipif(
    shutil.which("snakemake", path=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}") is None,
    reason="snakemake is not installed (pip install -e '.[workflow]')",
)


def snakemake(workdir: Path, config: dict | None, *args: str, timeout: int = 600):
    """Run snakemake on the repository's Snakefile in ``workdir`` with ``config`` as its config."""
    command = [str(BIN / "snakemake"), "-s", str(SNAKEFILE), "-d", str(workdir), "--cores", "2"]
    if config is not None:
        config_path = workdir / "config.yaml"
        config_path.write_text(yaml.safe_dump(config, sort_keys=False))
        command += ["--configfile", str(config_path)]
    env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
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
    directory = tmp_path_factory.mktemp("tiny")
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
            "epochs": 2,
            "runs": {
                "single": {"mode": "unsupervised", "k": 3},
                "multi": {"mode": "multihead", "min_k": 2, "max_k": 3},
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
    for run in runs:
        assert jobs[f"train_neural_{run}"] == 2 and jobs[f"infer_{run}"] == 2
    assert jobs["vcf_to_bed"] == 1 and jobs["simulate"] == 1


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
    assert jobs["qc"] == 3 and jobs["ld_prune"] == 3 and jobs["split"] == 3
    assert jobs["simulate"] == 1  # only tiny asked for a simulated twin
    assert jobs["metrics_table"] == 4
    assert "--labels" not in _shell_of(result.stdout, "results/nolabels/logs/split.log")
    assert jobs["target_match"] == 1 and jobs["infer_target_single"] == 1
    assert "target_vcf_to_bed" not in jobs  # the target is a BED


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
            "a multihead run takes min_k and max_k (not k)",
        ),
        (
            lambda c: c["cohorts"]["tiny"]["targets"].update(new="absent.vcf.gz"),
            "cohorts.tiny.targets.new: file absent.vcf.gz not found",
        ),
        (
            lambda c: c["downsample"].update(target_snps=100),
            "exactly one of 'every' or 'target_snps'",
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
    ],
)
def test_config_errors_fail_at_validation(tiny, tmp_path, change, message):
    config = tiny_config(tiny)
    change(config)
    result = snakemake(tmp_path, config, "-n")
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert message in output, output[-3000:]
    assert not (tmp_path / "results").exists()


# ---------------------------------------------------------------------------------------------
# End to end
# ---------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_end_to_end_on_a_tiny_cohort(tiny, tmp_path):
    config = tiny_config(tiny)
    result = snakemake(tmp_path, config, timeout=900)
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    results = tmp_path / "results"

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
    for model in ("single", "sup"):
        row = indexed.loc[("neural", model, 3, "val")]
        assert 0 <= row["ami"] <= 1 and row["delta"] >= 0
        assert row["l_n_lambda0"] > 0 and row["speedup_train"] > 0 and row["speedup_infer"] > 0
    assert np.isnan(indexed.loc[("neural", "pre", 3, "val"), "speedup_train"])
    assert metrics["rmse_q"].isna().all()  # real data: no truth
    table2 = pd.read_csv(results / "tiny" / "table2.tsv", sep="\t")
    assert len(table2) == 7 and table2["l_n_lambda0_val"].gt(0).all()

    # The simulated twin: disjoint founders, truth Q, RMSE against it.
    founders = pd.read_csv(results / "tiny_sim" / "prepare" / "sim.founders.tsv", sep="\t")
    val_ids = set(val_fam.read_text().split()[1::6])
    assert set(founders.loc[founders["partition"] == "val", "sample"]) == val_ids
    sim = pd.read_csv(results / "tiny_sim" / "metrics.tsv", sep="\t")
    at_k3 = sim[sim["k"] == 3]
    assert at_k3["rmse_q"].notna().all() and at_k3["rmse_q"].between(0, 0.5).all()
