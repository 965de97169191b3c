"""The EM engine: updates, acceleration, modes, cross-validation and its subcommands."""

from __future__ import annotations

import re

import numba
import numpy as np
import pytest

from neuradmix.classic import em
from neuradmix.classic.likelihood import log_likelihood
from neuradmix.cli import main
from neuradmix.data import (
    MISSING,
    known_populations,
    make_genotypes,
    read_bed,
    read_p,
    read_q,
    write_bed,
    write_p,
    write_q,
)
from neuradmix.data.timing import read_timing
from neuradmix.errors import InputError
from neuradmix.simulation.psd import simulate_psd


@pytest.fixture(scope="module")
def cohort():
    return simulate_psd(240, 2500, 3, fst=0.15, alpha=0.5, missing_rate=0.02, seed=11)


def _reference_em_step(calls, q, p):
    """The FRAPPE/ADMIXTURE update written out directly with the a/b arrays."""
    g = calls.astype(float)
    observed = calls <= 2
    f = p.T  # K x M
    mix = q @ f
    a = np.where(observed, g, 0)[:, None, :] * q[:, :, None] * f[None] / mix[:, None, :]
    b = (
        np.where(observed, 2 - g, 0)[:, None, :]
        * q[:, :, None]
        * (1 - f[None])
        / (1 - mix[:, None, :])
    )
    f_new = a.sum(axis=0) / (a + b).sum(axis=0)
    q_new = (a + b).sum(axis=2) / (2 * observed.sum(axis=1))[:, None]
    return q_new, f_new.T


def test_one_em_pass_matches_hand_written_update():
    rng = np.random.default_rng(0)
    calls = rng.integers(0, 3, size=(6, 9)).astype(np.uint8)
    calls[1, 4] = MISSING
    calls[5, 0] = MISSING
    q0 = rng.dirichlet(np.ones(2) * 3, size=6)
    p0 = rng.uniform(0.2, 0.8, size=(9, 2))
    expected_q, expected_p = _reference_em_step(calls, q0, p0)
    for engine in ("numba", "torch"):
        result = em.fit(calls, 2, init_q=q0, init_p=p0, max_iter=1, accelerate=False, engine=engine)
        np.testing.assert_allclose(result.q, expected_q, rtol=1e-10)
        np.testing.assert_allclose(result.p, expected_p, rtol=1e-10)
        # The reported log-likelihood belongs to the parameters returned.
        assert result.log_likelihood == pytest.approx(
            log_likelihood(calls, result.q, result.p), rel=1e-12
        )


def test_numba_and_torch_engines_agree(cohort):
    runs = [
        em.fit(cohort.genotypes, 3, seed=1, max_iter=4, engine=engine)
        for engine in ("numba", "torch")
    ]
    np.testing.assert_allclose(runs[0].trace, runs[1].trace, rtol=1e-11)
    np.testing.assert_allclose(runs[0].q, runs[1].q, atol=1e-8)
    np.testing.assert_allclose(runs[0].p, runs[1].p, atol=1e-8)


def test_recovers_planted_truth_and_likelihood_is_monotone(cohort, aligned):
    result = em.fit(cohort.genotypes, 3, seed=3)
    assert result.converged
    assert np.all(np.diff(result.trace) >= -1e-6)
    rmse_q = np.sqrt(np.mean((aligned(result.q, cohort.q) - cohort.q) ** 2))
    assert rmse_q < 0.03
    # The optimum fits the data at least as well as the truth that generated it.
    assert result.log_likelihood > log_likelihood(cohort.genotypes.calls, cohort.q, cohort.p)
    np.testing.assert_allclose(result.q.sum(axis=1), 1.0, atol=1e-12)
    assert result.p.min() >= em.F_MIN and result.p.max() <= em.F_MAX


def test_acceleration_needs_fewer_passes_than_plain_em(cohort):
    accelerated = em.fit(cohort.genotypes, 3, seed=3, tol=1e-5)
    plain = em.fit(cohort.genotypes, 3, seed=3, tol=1e-5, accelerate=False, max_iter=5000)
    assert accelerated.em_passes < plain.em_passes
    assert accelerated.log_likelihood >= plain.log_likelihood - 1.0


def test_warm_start_on_a_snp_subset_reaches_the_same_optimum():
    wide = simulate_psd(40, 4 * em.WARM_START_MIN_SNPS, 2, fst=0.2, seed=9)
    warm = em.fit(wide.genotypes, 2, seed=1, tol=1e-9)
    cold = em.fit(wide.genotypes, 2, seed=1, tol=1e-9, warm_start=False)
    assert warm.log_likelihood == pytest.approx(cold.log_likelihood, rel=1e-7)
    assert warm.trace[0] > cold.trace[0]  # the full fit starts from the subset's answer


def test_same_seed_same_result_for_any_thread_count(cohort):
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = em.fit(cohort.genotypes, 3, seed=5, max_iter=6)
        numba.set_num_threads(min(2, numba.config.NUMBA_NUM_THREADS))
        two = em.fit(cohort.genotypes, 3, seed=5, max_iter=6)
    finally:
        numba.set_num_threads(before)
    np.testing.assert_array_equal(one.q, two.q)
    np.testing.assert_array_equal(one.p, two.p)
    other = em.fit(cohort.genotypes, 3, seed=6, max_iter=6)
    assert not np.array_equal(one.q, other.q)


def test_projection_reproduces_q_of_the_fit(cohort):
    fitted = em.fit(cohort.genotypes, 3, seed=3, tol=1e-9)
    projected = em.project(cohort.genotypes, fitted.p, tol=1e-9)
    np.testing.assert_array_equal(projected.p, fitted.p)
    assert np.sqrt(np.mean((projected.q - fitted.q) ** 2)) < 1e-3
    assert np.abs(projected.q - fitted.q).max() < 1e-2


def test_projection_refuses_p_of_other_snps(cohort):
    with pytest.raises(InputError, match="SNPs"):
        em.project(cohort.genotypes, np.full((10, 3), 0.5))


def test_supervised_rows_stay_fixed(cohort):
    labels = np.array(["", ""] * 120, dtype=object)
    labels[:90] = cohort.labels[:90]
    result = em.fit_supervised(cohort.genotypes, labels, seed=2, tol=1e-6)
    names = known_populations(labels)
    assert result.q.shape == (240, len(names))
    for i in range(90):
        expected = np.zeros(len(names))
        expected[names.index(labels[i])] = 1.0
        np.testing.assert_array_equal(result.q[i], expected)
    assert np.all(result.q[90:].max(axis=1) < 1.0)
    with pytest.raises(InputError, match="smaller than"):
        em.fit_supervised(cohort.genotypes, labels, k=1)


def test_polish_reaches_the_optimum_from_a_rough_start(cohort):
    optimum = em.fit(cohort.genotypes, 3, seed=3)
    rough_q = 0.6 * cohort.q + 0.4 / 3
    polished = em.polish(cohort.genotypes, rough_q, cohort.p)
    assert polished.converged and polished.iterations > 0 and polished.seconds > 0
    assert polished.log_likelihood == pytest.approx(optimum.log_likelihood, abs=1.0)
    with pytest.raises(InputError, match="polish the .Q/.P"):
        em.polish(cohort.genotypes, rough_q[:10], cohort.p)


# ------------------------------------------------------------------------------------------
# Subcommands
# ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fileset(tmp_path_factory, cohort):
    prefix = tmp_path_factory.mktemp("em_cli") / "toy"
    write_bed(prefix, cohort.genotypes)
    return prefix


def test_cli_em_project_polish(fileset, tmp_path, capsys):
    out = tmp_path / "fit"
    assert main(["em", str(fileset) + ".bed", "--k", "3", "--out", str(out), "--threads", "1"]) == 0
    printed = capsys.readouterr().out
    loglik = float(re.search(r"^Loglikelihood: (-\d+\.\d+)$", printed, re.MULTILINE).group(1))
    q = read_q(out / "toy.3.Q", 240)
    p = read_p(out / "toy.3.P", 2500)
    calls = read_bed(str(fileset) + ".bed").calls
    assert log_likelihood(calls, q, p) == pytest.approx(loglik, rel=1e-6)
    timing = read_timing(out / "toy.3.timing.tsv")
    assert (timing.command, timing.tool, timing.k_values) == ("em", "em", [3])
    assert 0 < timing.fit_seconds < timing.process_seconds and timing.threads == 1

    assert (
        main(
            [
                "project",
                str(fileset) + ".bed",
                "--p",
                str(out / "toy.3.P"),
                "--out",
                str(tmp_path / "proj"),
                "--name",
                "val",
            ]
        )
        == 0
    )
    assert read_q(tmp_path / "proj" / "val.3.Q", 240).shape == (240, 3)

    assert (
        main(
            [
                "polish",
                str(fileset) + ".bed",
                "--q",
                str(out / "toy.3.Q"),
                "--p",
                str(out / "toy.3.P"),
                "--out",
                str(tmp_path / "pol"),
            ]
        )
        == 0
    )
    printed = capsys.readouterr().out
    assert re.search(r"Polish: \d+ iterations \(\d+ EM passes\) in [0-9.]+ s", printed)
    assert (tmp_path / "pol" / "toy.3.Q").is_file() and (tmp_path / "pol" / "toy.3.P").is_file()


def test_cli_project_refuses_mismatched_p(fileset, tmp_path, capsys):
    bad = tmp_path / "ref.3.P"
    write_p(bad, np.full((100, 3), 0.5))
    out = tmp_path / "proj"
    assert main(["project", str(fileset) + ".bed", "--p", str(bad), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert str(bad) in err and "100 rows" in err and len(err.strip().splitlines()) == 1
    assert not out.exists() or not any(out.iterdir())


def test_cli_em_supervised_and_init_files(tmp_path, capsys):
    small = simulate_psd(40, 400, 2, fst=0.2, seed=8)
    write_bed(tmp_path / "small", small.genotypes)
    pop = tmp_path / "small.pop"
    pop.write_text("\n".join(lab if i % 2 == 0 else "-" for i, lab in enumerate(small.labels)))
    assert (
        main(
            [
                "em",
                str(tmp_path / "small.bed"),
                "--labels",
                str(pop),
                "--out",
                str(tmp_path / "sup"),
                "--tol",
                "1e-2",
            ]
        )
        == 0
    )
    q = read_q(tmp_path / "sup" / "small.2.Q", 40)
    assert np.all(np.isin(q[::2], [0.0, 1.0]))
    write_q(tmp_path / "start.Q", small.q)
    assert (
        main(
            [
                "em",
                str(tmp_path / "small.bed"),
                "--k",
                "3",
                "--init-q",
                str(tmp_path / "start.Q"),
                "--out",
                str(tmp_path / "bad"),
            ]
        )
        == 2
    )
    assert "2 columns, but --k is 3" in capsys.readouterr().err
    assert not (tmp_path / "bad").exists()


def test_rejects_k_larger_than_samples():
    genotypes = make_genotypes(np.zeros((3, 5), dtype=np.uint8))
    with pytest.raises(InputError, match="more ancestral populations"):
        em.fit(genotypes, 4)
