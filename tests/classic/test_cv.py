"""Cross-validation: folds of genotype entries, scoring, the fit functions of both engines, the
CV table reader and the ``cv`` subcommand."""

from __future__ import annotations

import re

import numpy as np
import pytest

from neuradmix.classic.cv import (
    CVResult,
    classic_fold_fit,
    cross_validate,
    format_cv,
    heldout_error,
    masked_genotypes,
    read_cv_table,
)
from neuradmix.cli import main
from neuradmix.compute.numba_engine import NumbaEngine
from neuradmix.data import MISSING, make_genotypes, write_bed
from neuradmix.errors import InputError
from neuradmix.simulation.psd import simulate_psd


def test_cv_error_is_lowest_at_true_k():
    clean = simulate_psd(200, 2000, 3, fst=0.2, alpha=0.3, seed=4)
    errors = {
        k: cross_validate(
            clean.genotypes,
            k,
            classic_fold_fit(clean.genotypes, k, seed=1, tol=1e-5),
            folds=5,
            seed=1,
        ).error
        for k in (2, 3, 4)
    }
    assert min(errors, key=errors.get) == 3
    assert 0.2 < errors[3] < 1.0
    line = format_cv(CVResult(3, errors[3], [], 0))
    assert re.fullmatch(r"CV error \(K=3\): \d\.\d{6}", line)


def test_heldout_deviance_by_hand():
    genotypes = make_genotypes(np.array([[0, 1, 2, MISSING]], dtype=np.uint8))
    q = np.array([[1.0]])
    p = np.array([[0.25], [0.5], [0.8], [0.5]])
    total, count = heldout_error(genotypes, (7, 1, 0), q, p)  # one fold: every call held out
    expected = 2 * np.log(1 / 0.75) + 0.0 + 2 * np.log(1 / 0.8)
    assert count == 3
    assert total == pytest.approx(expected, rel=1e-12)


def test_folds_partition_the_observed_calls_and_the_fit_never_sees_its_fold():
    cohort = simulate_psd(60, 400, 2, missing_rate=0.05, seed=3)
    genotypes = cohort.genotypes
    observed = int(np.count_nonzero(genotypes.calls <= 2))
    q, p = cohort.q, np.clip(cohort.p, 1e-5, 1 - 1e-5)
    counts = [heldout_error(genotypes, (11, 4, fold), q, p)[1] for fold in range(4)]
    assert sum(counts) == observed  # every observed call is in exactly one fold
    assert all(abs(c - observed / 4) < 0.05 * observed for c in counts)
    # A fit with a held-out fold sees exactly the genotypes with that fold masked.
    holdout = (11, 4, 2)
    masked = masked_genotypes(genotypes, holdout)
    assert np.count_nonzero(masked.calls <= 2) == observed - counts[2]
    engine = NumbaEngine(genotypes, holdout=holdout)
    reference = NumbaEngine(masked)
    assert engine.log_likelihood(q, p) == pytest.approx(reference.log_likelihood(q, p), rel=1e-12)


def test_cli_cv_prints_admixture_lines(tmp_path, capsys):
    small = simulate_psd(60, 600, 2, fst=0.2, seed=2)
    write_bed(tmp_path / "small", small.genotypes)
    table = tmp_path / "em.cv.tsv"
    args = [
        "cv",
        str(tmp_path / "small.bed"),
        "--min-k",
        "1",
        "--max-k",
        "2",
        "--folds",
        "3",
        "--tol",
        "1e-2",
        "--out",
        str(tmp_path),
        "--name",
        "em",
    ]
    assert main(args) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert [re.fullmatch(r"CV error \(K=(\d)\): \d\.\d{6}", x).group(1) for x in lines] == [
        "1",
        "2",
    ]
    assert table.read_text().splitlines()[0] == "k\tcv_error\tfold1\tfold2\tfold3"


def test_cv_table_reads_admixture_lines(tmp_path):
    text = tmp_path / "em.cv.txt"
    text.write_text("noise\nCV error (K=2): 0.51\nCV error (K=3): 0.4875\n")
    table = read_cv_table(text)
    assert table[["k", "cv_error"]].to_dict("list") == {"k": [2, 3], "cv_error": [0.51, 0.4875]}
    (tmp_path / "cv.txt").write_text("nothing here")
    with pytest.raises(InputError, match="no 'CV error"):
        read_cv_table(tmp_path / "cv.txt")


def test_cv_table_accepts_both_layouts_and_names_the_method(tmp_path):
    log = tmp_path / "neural.cv.txt"
    log.write_text("fold 1 done\nCV error (K=2): 0.61\nCV error (K=3): 0.48\n")
    table = read_cv_table(log)
    assert table["method"].tolist() == ["neural", "neural"]
    assert table["k"].tolist() == [2, 3] and table["cv_error"].tolist() == [0.61, 0.48]
    tsv = tmp_path / "em.cv.tsv"
    tsv.write_text("K\tcv_error\n4\t0.5\n")
    assert read_cv_table(tsv)[["method", "k"]].values.tolist() == [["em", 4]]
    bad = tmp_path / "bad.cv.tsv"
    bad.write_text("k\terror\n2\t0.5\n")
    with pytest.raises(InputError, match="cv_error"):
        read_cv_table(bad)
