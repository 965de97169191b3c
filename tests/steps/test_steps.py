"""Workflow steps: stratified split, downsampling, SNP matching, evaluation, metrics table."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from neuradmix.cli import main
from neuradmix.data import MISSING, make_genotypes, read_bed, write_bed
from neuradmix.errors import InputError
from neuradmix.steps.downsample import downsample_uniform, uniform_snp_indices
from neuradmix.steps.match import match_snps
from neuradmix.steps.split import split_cohort, stratified_split
from neuradmix.steps.tables import assemble_metrics, table2

# ---------------------------------------------------------------------------------------------
# Stratified split
# ---------------------------------------------------------------------------------------------


def test_stratified_split_takes_the_fraction_of_every_population():
    labels = ["A"] * 50 + ["B"] * 20 + ["C"] * 2 + ["D"] + [""] * 10
    train, val = stratified_split(labels, 0.2, seed=3)
    labels = np.array(labels)
    assert np.intersect1d(train, val).size == 0
    assert np.union1d(train, val).size == len(labels)
    counts = pd.Series(labels[val]).value_counts().to_dict()
    assert counts == {"A": 10, "B": 4, "C": 1, "": 2}  # singleton D stays in training
    assert list(train) == sorted(train) and list(val) == sorted(val)


def test_stratified_split_is_deterministic_per_seed():
    labels = ["A"] * 30 + ["B"] * 30
    first = stratified_split(labels, 0.2, seed=1)
    again = stratified_split(labels, 0.2, seed=1)
    other = stratified_split(labels, 0.2, seed=2)
    assert np.array_equal(first[1], again[1])
    assert not np.array_equal(first[1], other[1])


def test_stratified_split_rejects_a_bad_fraction():
    with pytest.raises(InputError, match="strictly between 0 and 1"):
        stratified_split(["A", "B"], 1.0)


def _cohort(tmp_path, n=20, m=30, seed=0):
    rng = np.random.default_rng(seed)
    calls = rng.integers(0, 3, size=(n, m)).astype(np.uint8)
    genotypes = make_genotypes(calls)
    write_bed(tmp_path / "data", genotypes)
    labels = tmp_path / "pops.tsv"
    pops = ["X" if i % 2 else "Y" for i in range(n)]
    pd.DataFrame({"s": genotypes.sample_ids, "p": pops}).to_csv(
        labels, sep="\t", header=False, index=False
    )
    return genotypes, labels, pops


def test_split_cohort_writes_disjoint_partitions_with_labels(tmp_path):
    genotypes, labels, pops = _cohort(tmp_path)
    out = tmp_path / "split"
    n_train, n_val = split_cohort(tmp_path / "data.bed", out, labels, 0.2, seed=5)
    assert (n_train, n_val) == (16, 4)
    train, val = read_bed(out / "train.bed"), read_bed(out / "val.bed")
    assert set(train.sample_ids) | set(val.sample_ids) == set(genotypes.sample_ids)
    assert not set(train.sample_ids) & set(val.sample_ids)
    index = {s: i for i, s in enumerate(genotypes.sample_ids)}
    for part in (train, val):
        rows = [index[s] for s in part.sample_ids]
        assert np.array_equal(part.calls, genotypes.calls[rows])
    val_labels = pd.read_csv(out / "val.labels", sep="\t", header=None)
    assert list(val_labels[0]) == list(val.sample_ids)
    assert sorted(val_labels[1]) == ["X", "X", "Y", "Y"]
    assert all(val_labels[1] == [pops[index[s]] for s in val_labels[0]])


def test_split_cohort_too_small_fails_without_outputs(tmp_path, capsys):
    _cohort(tmp_path, n=3)
    out = tmp_path / "split"
    code = main(["split", str(tmp_path / "data.bed"), "--out-dir", str(out), "--min-samples", "2"])
    assert code == 2
    assert "validation partition" in capsys.readouterr().err
    assert not out.exists() or not any(out.iterdir())


# ---------------------------------------------------------------------------------------------
# Downsampling
# ---------------------------------------------------------------------------------------------


def test_uniform_indices_every_and_target():
    assert list(uniform_snp_indices(10, every=3)) == [0, 3, 6, 9]
    assert list(uniform_snp_indices(10, target=5)) == [1, 3, 5, 7, 9]
    assert list(uniform_snp_indices(4, target=10)) == [0, 1, 2, 3]
    with pytest.raises(InputError, match="exactly one"):
        uniform_snp_indices(10)


def test_downsample_writes_the_chosen_snps(tmp_path):
    genotypes, _, _ = _cohort(tmp_path, m=30)
    assert downsample_uniform(tmp_path / "data.bed", tmp_path / "ds", target=10) == 10
    kept = read_bed(tmp_path / "ds.bed")
    index = uniform_snp_indices(30, target=10)
    assert list(kept.snp_ids) == list(genotypes.snp_ids[index])
    assert np.array_equal(kept.calls, genotypes.calls[:, index])


# ---------------------------------------------------------------------------------------------
# Target cohorts on a model's SNPs
# ---------------------------------------------------------------------------------------------


def test_match_snps_reorders_flips_and_fills_missing(tmp_path):
    reference = make_genotypes(np.zeros((1, 4), dtype=np.uint8), positions=[10, 20, 30, 40])
    write_bed(tmp_path / "ref", reference)
    # Target: SNP at 30 first, SNP at 10 with swapped alleles, no SNP at 20, extra SNP at 50.
    target = make_genotypes(
        np.array([[2, 0, 1, 1], [1, MISSING, 0, 2]], dtype=np.uint8),
        positions=[30, 10, 40, 50],
        alleles=(["A", "G", "A", "A"], ["G", "A", "G", "G"]),
    )
    matched = match_snps(target, tmp_path / "ref.bim")
    expected = np.array([[2, MISSING, 2, 1], [MISSING, MISSING, 1, 0]], dtype=np.uint8)
    assert np.array_equal(matched.calls, expected)
    assert list(matched.snp_ids) == list(reference.snp_ids)


def test_match_snps_refuses_a_target_on_other_snps(tmp_path):
    write_bed(tmp_path / "ref", make_genotypes(np.zeros((1, 4), dtype=np.uint8)))
    target = make_genotypes(np.zeros((1, 4), dtype=np.uint8), positions=[1, 2, 3, 4])
    with pytest.raises(InputError, match="only 0 of the model's 4 SNPs"):
        match_snps(target, tmp_path / "ref.bim")


# ---------------------------------------------------------------------------------------------
# CV output and metrics table
# ---------------------------------------------------------------------------------------------


def _evaluation(root: Path, method, model, partition, k, ll, delta, ami):
    path = root / "evaluate" / method / model / f"{partition}.{k}.tsv"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "k\tn_samples\tn_snps\tlog_likelihood\tl_n_lambda0\tami\tdelta\trmse_q\n"
        f"{k}\t10\t100\t{ll}\t{-ll / 2}\t{ami}\t{delta}\tNA\n"
    )
    return path


def _benchmark(root: Path, stage, name, seconds):
    path = root / "benchmarks" / stage / f"{name}.tsv"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"s\th:m:s\tmax_rss\n{seconds}\t0:00:01\t10\n")
    return path


def test_metrics_table_speedups_follow_the_paper(tmp_path):
    evaluations = []
    for partition in ("train", "val"):
        for k in (2, 3):
            evaluations.append(_evaluation(tmp_path, "baseline", "em", partition, k, -100, 1, 0.5))
            evaluations.append(_evaluation(tmp_path, "neural", "multi", partition, k, -110, 2, 0.6))
        evaluations.append(_evaluation(tmp_path, "neural", "pre", partition, 3, -105, 3, 0.7))
    benchmarks = [
        _benchmark(tmp_path, "baseline", "em.2", 30),
        _benchmark(tmp_path, "baseline", "em.3", 50),
        _benchmark(tmp_path, "project", "em.2", 4),
        _benchmark(tmp_path, "project", "em.3", 6),
        _benchmark(tmp_path, "train_neural", "multi", 20),
        _benchmark(tmp_path, "infer", "multi", 0.5),
        _benchmark(tmp_path, "train_neural", "pre", 10),
        _benchmark(tmp_path, "infer", "pre", 0.25),
    ]
    cv = tmp_path / "cv" / "em.cv.tsv"
    cv.parent.mkdir()
    cv.write_text("k\tcv_error\n2\t0.5\n3\t0.45\n")
    metrics = assemble_metrics(
        "demo",
        evaluations,
        benchmarks,
        [cv],
        modes={"multi": "multihead", "pre": "pretrained"},
        reference_baseline="em",
    )
    assert len(metrics) == 10
    row = metrics.set_index(["model", "k", "partition"])
    # Multi-head: one training (20 s) replaces the classic runs at K=2 and K=3 (30 + 50 s).
    assert row.loc[("multi", 2, "val"), "speedup_train"] == pytest.approx(80 / 20)
    assert row.loc[("multi", 3, "train"), "speedup_infer"] == pytest.approx(10 / 0.5)
    # Pretrained: no training speedup; inference compared with the K=3 projection.
    assert np.isnan(row.loc[("pre", 3, "val"), "speedup_train"])
    assert row.loc[("pre", 3, "val"), "speedup_infer"] == pytest.approx(6 / 0.25)
    assert row.loc[("em", 3, "val"), "speedup_train"] == pytest.approx(1.0)
    assert row.loc[("em", 3, "val"), "cv_error"] == pytest.approx(0.45)
    assert np.isnan(row.loc[("multi", 3, "val"), "cv_error"])
    assert row.loc[("em", 2, "train"), "train_seconds"] == pytest.approx(30)
    wide = table2(metrics).set_index(["model", "k"])
    assert wide.loc[("multi", 2), "l_n_lambda0_val"] == pytest.approx(55)
    assert wide.loc[("pre", 3), "delta_train"] == 3
    assert wide.loc[("em", 2), "ami_val"] == 0.5


def test_metrics_table_cli_writes_both_tables(tmp_path):
    evaluations = [
        str(_evaluation(tmp_path, "neural", "single", part, 2, -50, 0.1, 0.9))
        for part in ("train", "val")
    ]
    out, wide = tmp_path / "metrics.tsv", tmp_path / "table2.tsv"
    code = main(
        ["metrics-table", "--cohort", "c", "--evaluations", *evaluations]
        + ["--out", str(out), "--table2", str(wide)]
    )
    assert code == 0
    metrics = pd.read_csv(out, sep="\t")
    assert list(metrics["partition"]) == ["train", "val"]
    assert metrics["speedup_train"].isna().all()
    assert pd.read_csv(wide, sep="\t")["ami_val"].tolist() == [0.9]


def test_metrics_table_rejects_a_mislabelled_evaluation(tmp_path):
    path = _evaluation(tmp_path, "neural", "single", "val", 2, -50, 0.1, 0.9)
    wrong = path.with_name("val.3.tsv")
    path.rename(wrong)
    with pytest.raises(InputError, match="K=3 but the row has k=2"):
        assemble_metrics("c", [wrong])


def test_evaluate_model_scores_every_k_and_partition(tmp_path):
    from neuradmix.classic.likelihood import log_likelihood
    from neuradmix.data import write_p, write_q
    from neuradmix.simulation.psd import simulate_psd
    from neuradmix.steps.evaluate import evaluate_model

    planted = simulate_psd(30, 200, 3, fst=0.2, seed=4)
    train, val = (
        planted.genotypes.select_samples(range(20)),
        planted.genotypes.select_samples(range(20, 30)),
    )
    write_bed(tmp_path / "train", train)
    write_bed(tmp_path / "val", val)
    model = tmp_path / "model"
    model.mkdir()
    for k in (2, 3):
        p = planted.p if k == 3 else planted.p[:, :2]
        q = planted.q if k == 3 else np.full((30, 2), 0.5)
        write_p(model / f"train.{k}.P", p)
        write_q(model / f"train.{k}.Q", q[:20])
        write_q(model / f"val.{k}.Q", q[20:])
    write_q(tmp_path / "val.truth.Q", planted.q[20:])
    out = tmp_path / "evaluate"
    written = evaluate_model(
        model,
        [2, 3],
        {"train": tmp_path / "train.bed", "val": tmp_path / "val.bed"},
        out,
        truth={"val": tmp_path / "val.truth.Q"},
    )
    assert sorted(p.name for p in written) == [
        "train.2.tsv",
        "train.3.tsv",
        "val.2.tsv",
        "val.3.tsv",
    ]
    row = pd.read_csv(out / "val.3.tsv", sep="\t", na_values=["NA"]).iloc[0]
    expected = log_likelihood(
        val.calls, np.loadtxt(model / "val.3.Q"), np.loadtxt(model / "train.3.P")
    )
    assert row["log_likelihood"] == pytest.approx(expected, rel=1e-6)
    assert row["l_n_lambda0"] == pytest.approx(-expected / 2, rel=1e-6)
    assert row["rmse_q"] == pytest.approx(0.0, abs=1e-5)
    assert np.isnan(pd.read_csv(out / "val.2.tsv", sep="\t", na_values=["NA"])["rmse_q"].iloc[0])
    assert np.isnan(pd.read_csv(out / "train.3.tsv", sep="\t", na_values=["NA"])["ami"].iloc[0])
