"""Block-bootstrap standard errors of Q."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from neuradmix.classic import fit
from neuradmix.classic.bootstrap import bootstrap_se, replicate_weights, snp_blocks
from neuradmix.cli import main
from neuradmix.data import read_matrix, write_bed
from neuradmix.errors import InputError
from neuradmix.simulation.psd import simulate_psd
from neuradmix.stats.metrics import match_columns


def test_blocks_follow_the_map_and_never_span_chromosomes():
    variants = pd.DataFrame(
        {
            "chrom": ["1"] * 5 + ["2"] * 3,
            "cm": [0.0, 1.0, 4.9, 5.1, 12.0, 0.0, 0.0, 0.0],
            "pos": [1, 2, 3, 4, 5, 1_000_000, 4_000_000, 6_000_000],
        }
    )
    # Chromosome 1 by cM: [0, 5) [5, 10) [10, 15); chromosome 2 has no map: 1 cM per Mb.
    assert snp_blocks(variants, 5.0).tolist() == [0, 0, 0, 1, 2, 3, 3, 4]
    with pytest.raises(InputError, match="positive"):
        snp_blocks(variants, 0.0)


def test_replicate_weights_count_whole_blocks():
    blocks = np.repeat(np.arange(20), 7)
    weights = replicate_weights(blocks, np.random.default_rng(0))
    per_block = weights.reshape(20, 7)
    assert (per_block == per_block[:, :1]).all()  # a block is drawn as a whole
    assert per_block[:, 0].sum() == 20  # as many draws as blocks


def test_standard_errors_cover_the_planted_truth():
    cohort = simulate_psd(300, 4000, 3, fst=0.1, alpha=0.3, seed=8)
    genotypes = cohort.genotypes
    result = fit.fit(genotypes, 3, seed=1)
    boot = bootstrap_se(genotypes, result.q, result.p, replicates=60, block_cm=0.02, seed=2)
    assert boot.blocks == 200 and boot.se.shape == (300, 3)
    truth_columns, fit_columns, _ = match_columns(cohort.q, result.q)
    order = np.empty(3, dtype=int)
    order[truth_columns] = fit_columns
    estimate, se = result.q[:, order], boot.se[:, order]
    covered = np.abs(estimate - cohort.q) <= 2 * se
    # About 95% of the true proportions lie within 2 SE of the estimate (measured: 93%; the
    # misses are mostly proportions pinned at the lower bound).
    assert 0.88 <= covered.mean() <= 0.99
    assert np.median(se) > 0.005


def test_replicates_reach_their_own_optimum():
    # A replicate cut short stays near the full-data fit and understates the spread. Each
    # replicate runs the fit's iteration to the replicate tolerance: its standard errors match
    # those of replicates run to convergence (three plain block-relaxation steps per replicate
    # gave a 10th percentile of 0.68 of the converged errors here).
    cohort = simulate_psd(200, 2000, 3, fst=0.1, alpha=0.3, seed=8)
    result = fit.fit(cohort.genotypes, 3, seed=1)
    common = {"replicates": 20, "block_cm": 0.02, "seed": 2}
    converged = bootstrap_se(
        cohort.genotypes, result.q, result.p, iterations=500, tol=1e-12, **common
    ).se
    default = bootstrap_se(cohort.genotypes, result.q, result.p, **common).se
    informative = converged > 1e-4
    ratio = default[informative] / converged[informative]
    assert np.percentile(ratio, 10) > 0.95
    assert np.percentile(ratio, 90) < 1.05


def test_cli_bootstrap_writes_q_se(tmp_path, capsys):
    cohort = simulate_psd(60, 1200, 2, seed=3)
    write_bed(tmp_path / "x", cohort.genotypes)
    args = ["em", str(tmp_path / "x.bed"), "--k", "2", "--out", str(tmp_path / "o"),
            "--bootstrap", "10", "--bootstrap-block", "0.05", "--quiet"]  # fmt: skip
    assert main(args) == 0
    assert "10 bootstrap replicates over" in capsys.readouterr().out
    se = read_matrix(tmp_path / "o" / "x.2.Q_se", ".Q_se")
    assert se.shape == (60, 2) and (se >= 0).all() and np.median(se) > 0 and (se < 0.5).all()
    # Blocks longer than the genome leave nothing to resample: refused before the fit.
    args[args.index("0.05")] = "500"
    args[args.index(str(tmp_path / "o"))] = str(tmp_path / "other")
    assert main(args) == 2
    assert "one bootstrap block" in capsys.readouterr().err
    assert not (tmp_path / "other").exists()
