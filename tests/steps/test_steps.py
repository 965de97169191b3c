"""Workflow steps: stratified split, downsampling, SNP matching, evaluation, metrics table."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from neuradmix.cli import main
from neuradmix.data import MISSING, make_genotypes, read_bed, write_bed, write_q
from neuradmix.data.timing import Timing, write_timing
from neuradmix.errors import InputError
from neuradmix.steps.downsample import uniform_snp_indices, write_uniform_snp_list
from neuradmix.steps.match import match_snps
from neuradmix.steps.split import stratified_split, write_split
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


def test_split_lists_disjoint_partitions_in_fam_order_with_labels(tmp_path):
    genotypes, labels, pops = _cohort(tmp_path)
    out = tmp_path / "split"
    n_train, n_val = write_split(tmp_path / "data.bed", out, labels, 0.2, seed=5)
    assert (n_train, n_val) == (16, 4)
    train = pd.read_csv(out / "train.keep", sep="\t", dtype=str)
    val = pd.read_csv(out / "val.keep", sep="\t", dtype=str)
    assert list(train.columns) == ["#FID", "IID"]
    assert set(train["IID"]) | set(val["IID"]) == set(genotypes.sample_ids)
    assert not set(train["IID"]) & set(val["IID"])
    order = {s: i for i, s in enumerate(genotypes.sample_ids)}
    for part in (train, val):  # .fam order, the order plink2 --keep --make-bed writes
        assert [order[s] for s in part["IID"]] == sorted(order[s] for s in part["IID"])
    val_labels = pd.read_csv(out / "val.labels", sep="\t", header=None)
    assert list(val_labels[0]) == list(val["IID"])
    assert sorted(val_labels[1]) == ["X", "X", "Y", "Y"]
    assert all(val_labels[1] == [pops[order[s]] for s in val_labels[0]])


@pytest.mark.skipif(shutil.which("plink2") is None, reason="plink2 not installed")
def test_plink2_writes_the_partitions_the_lists_name(tmp_path):
    genotypes, labels, _ = _cohort(tmp_path)
    assert main(["split", str(tmp_path / "data.fam"), "--labels", str(labels),
                 "--out", str(tmp_path / "split")]) == 0  # fmt: skip
    for name in ("train", "val"):
        subprocess.run(
            ["plink2", "--bfile", str(tmp_path / "data"), "--keep",
             str(tmp_path / "split" / f"{name}.keep"), "--make-bed", "--out",
             str(tmp_path / "split" / name)],
            check=True, capture_output=True,
        )  # fmt: skip
        part = read_bed(tmp_path / "split" / f"{name}.bed")
        rows = [list(genotypes.sample_ids).index(s) for s in part.sample_ids]
        assert np.array_equal(part.calls, genotypes.calls[rows])
        listed = pd.read_csv(tmp_path / "split" / f"{name}.labels", sep="\t", header=None)
        assert list(listed[0]) == list(part.sample_ids)


def test_split_too_small_fails_without_outputs(tmp_path, capsys):
    _cohort(tmp_path, n=3)
    out = tmp_path / "split"
    code = main(["split", str(tmp_path / "data.bed"), "--out", str(out), "--min-samples", "2"])
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


def test_downsample_lists_the_chosen_snp_ids_across_chunks(tmp_path, monkeypatch):
    import neuradmix.steps.downsample as downsample

    monkeypatch.setattr(downsample, "_CHUNK", 7)  # several chunks, picks straddling them
    genotypes, _, _ = _cohort(tmp_path, m=30)
    path, kept, total = write_uniform_snp_list(tmp_path / "data.bed", tmp_path, "ds", target=10)
    assert (path.name, kept, total) == ("ds.snps", 10, 30)
    index = uniform_snp_indices(30, target=10)
    assert path.read_text().split() == list(genotypes.snp_ids[index])


def test_downsample_refuses_ids_that_extract_cannot_tell_apart(tmp_path):
    _cohort(tmp_path, m=6)
    bim = (tmp_path / "data.bim").read_text().splitlines()
    bim[4] = bim[4].replace(bim[4].split()[1], bim[1].split()[1])
    (tmp_path / "data.bim").write_text("\n".join(bim) + "\n")
    with pytest.raises(InputError, match="not unique.*--rm-dup"):
        write_uniform_snp_list(tmp_path / "data.bed", tmp_path, "ds", every=2)
    bim[4] = bim[4].replace(bim[4].split()[1], ".")
    (tmp_path / "data.bim").write_text("\n".join(bim) + "\n")
    with pytest.raises(InputError, match="line 5 has no ID"):
        write_uniform_snp_list(tmp_path / "data.bed", tmp_path, "ds", every=2)
    assert not (tmp_path / "ds.snps").exists()


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


def _evaluation(root: Path, method, model, rows):
    """rows: (partition, k, log_likelihood, delta, ami)."""
    path = root / "evaluate" / method / f"{model}.tsv"
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ["partition\tk\tn_samples\tn_snps\tlog_likelihood\tl_n_lambda0\tami\tdelta\trmse_q"]
    for partition, k, ll, delta, ami in rows:
        lines.append(f"{partition}\t{k}\t10\t100\t{ll}\t{-ll / 2}\t{ami}\t{delta}\tNA")
    path.write_text("\n".join(lines) + "\n")
    return path


def _timing(root: Path, method, model, name, command, tool, ks, fit, process=None):
    path = root / method / model / f"{name}.timing.tsv"
    path.parent.mkdir(parents=True, exist_ok=True)
    timing = Timing(command, tool, ks, fit, process or fit + 5, 2, "cpu (test CPU)")
    write_timing(path, timing)
    return path


def test_metrics_table_speedups_follow_the_paper_on_fit_seconds(tmp_path):
    both = [(p, k) for p in ("train", "val") for k in (2, 3)]
    evaluations = [
        _evaluation(tmp_path, "baseline", "em", [(p, k, -100, 1, 0.5) for p, k in both]),
        _evaluation(tmp_path, "neural", "multi", [(p, k, -110, 2, 0.6) for p, k in both]),
        _evaluation(tmp_path, "neural", "pre", [(p, 3, -105, 3, 0.7) for p in ("train", "val")]),
    ]
    timings = [
        _timing(tmp_path, "baseline", "em", "train.2", "baseline", "em", "2", 30),
        _timing(tmp_path, "baseline", "em", "train.3", "baseline", "em", "3", 50),
        _timing(tmp_path, "baseline", "em", "val.2", "project", "em", "2", 4),
        _timing(tmp_path, "baseline", "em", "val.3", "project", "em", "3", 6),
        # Whole-process seconds are much larger than the fits: they must not set the speedups.
        _timing(tmp_path, "neural", "multi", "train", "train", "neural", "2,3", 20, 400),
        _timing(tmp_path, "neural", "multi", "val", "infer", "neural", "2,3", 0.5, 300),
        _timing(tmp_path, "neural", "pre", "train", "train", "neural", "3", 10),
        _timing(tmp_path, "neural", "pre", "val", "infer", "neural", "3", 0.25),
    ]
    cv = tmp_path / "cv" / "em.cv.tsv"
    cv.parent.mkdir()
    cv.write_text("k\tcv_error\n2\t0.5\n3\t0.45\n")
    metrics = assemble_metrics(
        "demo",
        evaluations,
        timings,
        [cv],
        modes={"multi": "multihead", "pre": "pretrained"},
        reference_baseline="em",
    )
    assert len(metrics) == 10
    row = metrics.set_index(["model", "k", "partition"])
    # Multi-head: one training (20 s) replaces the classic runs at K=2 and K=3 (30 + 50 s).
    assert row.loc[("multi", 2, "val"), "speedup_train"] == pytest.approx(80 / 20)
    assert row.loc[("multi", 3, "train"), "speedup_infer"] == pytest.approx(10 / 0.5)
    assert row.loc[("multi", 3, "train"), "train_process_seconds"] == pytest.approx(400)
    assert row.loc[("multi", 3, "train"), "infer_fit_seconds"] == pytest.approx(0.5)
    # Pretrained: no training speedup; inference compared with the K=3 projection.
    assert np.isnan(row.loc[("pre", 3, "val"), "speedup_train"])
    assert row.loc[("pre", 3, "val"), "speedup_infer"] == pytest.approx(6 / 0.25)
    assert row.loc[("em", 3, "val"), "speedup_train"] == pytest.approx(1.0)
    assert row.loc[("em", 3, "val"), "cv_error"] == pytest.approx(0.45)
    assert np.isnan(row.loc[("multi", 3, "val"), "cv_error"])
    assert row.loc[("em", 2, "train"), "train_fit_seconds"] == pytest.approx(30)
    assert row.loc[("em", 2, "train"), "train_tool"] == "em"
    assert row.loc[("em", 2, "train"), "infer_device"] == "cpu (test CPU)"
    wide = table2(metrics).set_index(["model", "k"])
    assert wide.loc[("multi", 2), "l_n_lambda0_val"] == pytest.approx(55)
    assert wide.loc[("pre", 3), "delta_train"] == 3
    assert wide.loc[("em", 2), "ami_val"] == 0.5


def test_metrics_table_cli_writes_both_tables(tmp_path):
    evaluation = _evaluation(
        tmp_path, "neural", "single", [(p, 2, -50, 0.1, 0.9) for p in ("train", "val")]
    )
    out = tmp_path / "tables"
    code = main(["metrics-table", "--cohort", "c", "--evaluations", str(evaluation),
                 "--out", str(out)])  # fmt: skip
    assert code == 0
    metrics = pd.read_csv(out / "metrics.tsv", sep="\t")
    assert list(metrics["partition"]) == ["train", "val"]
    assert metrics["speedup_train"].isna().all()
    assert pd.read_csv(out / "table2.tsv", sep="\t")["ami_val"].tolist() == [0.9]


def test_metrics_table_refuses_a_timing_it_cannot_place(tmp_path):
    evaluation = _evaluation(tmp_path, "neural", "single", [("train", 2, -50, 0.1, 0.9)])
    timing = _timing(tmp_path, "neural", "single", "train", "polish", "em", "2", 1)
    with pytest.raises(InputError, match="timing of a `polish` command"):
        assemble_metrics("c", [evaluation], [timing])


def test_evaluate_model_scores_every_k_and_partition(tmp_path):
    from neuradmix.compute.engines import log_likelihood
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
    out = tmp_path / "evaluate" / "model.tsv"
    evaluate_model(
        model,
        [2, 3],
        {"train": tmp_path / "train.bed", "val": tmp_path / "val.bed"},
        out,
        truth={"val": tmp_path / "val.truth.Q"},
    )
    table = pd.read_csv(out, sep="\t", na_values=["NA"]).set_index(["partition", "k"])
    assert sorted(table.index) == [("train", 2), ("train", 3), ("val", 2), ("val", 3)]
    row = table.loc[("val", 3)]
    expected = log_likelihood(
        val.calls, np.loadtxt(model / "val.3.Q"), np.loadtxt(model / "train.3.P")
    )
    assert row["log_likelihood"] == pytest.approx(expected, rel=1e-6)
    assert row["l_n_lambda0"] == pytest.approx(-expected / 2, rel=1e-6)
    assert row["rmse_q"] == pytest.approx(0.0, abs=1e-5)
    assert np.isnan(table.loc[("val", 2), "rmse_q"])
    assert np.isnan(table.loc[("train", 3), "ami"])


# ---------------------------------------------------------------------------------------------
# pong files
# ---------------------------------------------------------------------------------------------


def _read_filemap_as_pong_does(path: Path) -> list[tuple[str, int, Path]]:
    """pong's reading of a filemap: tab-separated run ID, K and a path relative to the filemap,
    '#' starting a comment; run IDs start with a letter and hold letters, digits, '_' and '-'."""
    rows = []
    for line in path.read_text().split("\n"):
        line = line.split("#", 1)[0]
        if not line.strip():
            continue
        run_id, k, relative = line.split("\t")
        assert re.fullmatch(r"[A-Za-z][A-Za-z0-9_-]*", run_id), run_id
        rows.append((run_id, int(k), path.parent / relative))
    return rows


def test_pong_filemap_and_ind2pop_follow_pongs_formats(tmp_path, capsys):
    genotypes, labels, pops = _cohort(tmp_path, n=12)
    rng = np.random.default_rng(0)
    q_files = {}
    for name, k in (("neural_single_K2", 2), ("neural_multi_K3", 3), ("baseline_em_K3", 3)):
        path = tmp_path / "models" / f"{name}.{k}.Q"
        path.parent.mkdir(exist_ok=True)
        write_q(path, rng.dirichlet(np.ones(k), 12))
        q_files[name] = path
    out = tmp_path / "results" / "pong"
    args = ["pong", "--fam", str(tmp_path / "data.fam"), "--labels", str(labels)]
    args += [f"--q={name}={path}" for name, path in q_files.items()]
    assert main([*args, "--out", str(out), "--name", "train"]) == 0
    rows = _read_filemap_as_pong_does(out / "train.filemap")
    assert [(r, k) for r, k, _ in rows] == [
        ("neural_single_K2", 2), ("neural_multi_K3", 3), ("baseline_em_K3", 3)
    ]  # fmt: skip
    for _, k, path in rows:
        assert not Path(os.path.relpath(path, out)).is_absolute()
        assert np.loadtxt(path, ndmin=2).shape == (12, k)
    assert (out / "train.ind2pop").read_text() == "".join(f"{p}\n" for p in pops)
    assert "pong -m" in capsys.readouterr().err


def test_pong_refuses_bad_run_ids_and_notes_missing_k(tmp_path, capsys):
    _, labels, _ = _cohort(tmp_path, n=12)
    write_q(tmp_path / "a.2.Q", np.full((12, 2), 0.5))
    write_q(tmp_path / "a.4.Q", np.full((12, 4), 0.25))
    base = ["pong", "--fam", str(tmp_path / "data.fam"), "--out", str(tmp_path / "pong")]
    assert main([*base, "--q", f"2runs={tmp_path / 'a.2.Q'}"]) == 2
    assert "start with a letter" in capsys.readouterr().err
    assert not (tmp_path / "pong").exists()
    assert main([*base, "--q", f"a={tmp_path / 'a.2.Q'}", "--q", f"b={tmp_path / 'a.4.Q'}"]) == 0
    assert "none was fitted at K=3" in capsys.readouterr().err
    write_q(tmp_path / "short.2.Q", np.full((5, 2), 0.5))
    assert main([*base, "--q", f"a={tmp_path / 'short.2.Q'}"]) == 2
    assert "5 rows, but" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------------
# Errors before work: one line naming the problem, exit 2, nothing written
# ---------------------------------------------------------------------------------------------


@pytest.fixture
def small_cohort(tmp_path):
    _cohort(tmp_path, n=12, m=20)
    (tmp_path / "a_file").write_text("not a directory\n")
    return tmp_path


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["split", "{d}/data.fam", "--out", "{d}/a_file"], "--out {d}/a_file: is a file"),
        (["split", "{d}/data.fam", "--out", "{d}/o", "--validation-fraction", "1.5"],
         "--validation-fraction 1.5: must lie strictly between 0 and 1"),
        (["split", "{d}/data.fam", "--out", "{d}/o", "--labels", "{d}/none.tsv"],
         "none.tsv: label file not found"),
        (["split", "{d}/nothing.fam", "--out", "{d}/o"], "nothing.fam: file not found"),
        (["downsample", "{d}/data.bim", "--every", "0", "--out", "{d}/o"],
         "--every must be a positive integer"),
        (["downsample", "{d}/data.bim", "--target", "5", "--out", "{d}/o", "--name", "x/y"],
         "--name 'x/y': give a plain file stem"),
        (["evaluate-model", "--model-dir", "{d}/none", "--ks", "2", "--data", "train={d}/data",
          "--out", "{d}/o"], "none/train.2.Q: file not found"),
        (["evaluate-model", "--model-dir", "{d}", "--ks", "2", "--data", "train={d}/data",
          "--labels", "val={d}/pops.tsv", "--out", "{d}/o"], "partition 'val', which has no"),
        (["metrics-table", "--cohort", "c", "--evaluations", "{d}/none.tsv", "--out", "{d}/o"],
         "none.tsv: input of the metrics table not found"),
        (["match-snps", "{d}/data.bed", "--reference", "{d}/none.bim", "--out", "{d}/o"],
         "none.bim: reference .bim not found"),
        (["cv-table", "{d}/none.txt", "--out", "{d}/o"], "none.txt: CV table not found"),
        (["pong", "--q", "a={d}/none.2.Q", "--fam", "{d}/data.fam", "--out", "{d}/o"],
         "none.2.Q: file not found"),
        (["simulate", "--vcf", "{d}/none.vcf.gz", "--labels", "{d}/pops.tsv", "--out", "{d}/o"],
         "--vcf {d}/none.vcf.gz: file not found"),
        (["simulate", "--vcf", "{d}/data.bed", "--labels", "{d}/pops.tsv", "--generations",
          "0", "--out", "{d}/o"], "--generations 0: must be between 1 and 60"),
        (["simulate-split", "--vcf", "{d}/data.bed", "--labels", "{d}/pops.tsv",
          "--n-val-per-ancestry", "-1", "--out", "{d}/o"], "--n-val-per-ancestry -1: a number"),
        (["simulate-split", "--vcf", "{d}/data.bed", "--labels", "{d}/pops.tsv",
          "--val-fraction", "0", "--out", "{d}/o"], "--val-fraction 0.0: must lie strictly"),
        (["simulate", "--vcf", "{d}/data.bed", "--labels", "{d}/pops.tsv", "--out",
          "{d}/a_file"], "--out {d}/a_file: is a file"),
        (["plots", "--train-bed", "{d}/data", "--run", "m={d}", "--k", "2", "--out",
          "{d}/a_file"], "--out {d}/a_file: is a file"),
    ],
)  # fmt: skip
def test_bad_arguments_stop_before_any_work(small_cohort, capsys, args, message):
    before = sorted(p.name for p in small_cohort.iterdir())
    assert main([a.format(d=small_cohort) for a in args]) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and message.format(d=small_cohort) in error, error
    assert sorted(p.name for p in small_cohort.iterdir()) == before  # nothing written
