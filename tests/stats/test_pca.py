"""The genotype PCA shared by the encoder, the initialisations and the figures."""

import numpy as np
import pytest

from neuradmix.data import MISSING
from neuradmix.simulation.psd import simulate_psd
from neuradmix.stats.pca import axes_above_noise, fit_pca


@pytest.fixture(scope="module")
def cohort():
    return simulate_psd(120, 400, 3, fst=0.25, alpha=0.2, seed=3)


def test_pca_matches_dense_svd_and_projects_samples_onto_their_scores(cohort):
    calls = cohort.genotypes.calls
    pca = fit_pca(calls, 2, method="exact", block=97)
    dosage = calls.astype(float)
    freq = dosage.mean(axis=0) / 2
    scale = np.sqrt(2 * freq * (1 - freq))
    polymorphic = scale > 0
    assert not polymorphic.all()  # monomorphic SNPs must be ignored, not produce NaN
    standard = np.zeros_like(dosage)
    standard[:, polymorphic] = (dosage - 2 * freq)[:, polymorphic] / scale[polymorphic]
    u, s, _ = np.linalg.svd(standard, full_matrices=False)
    for c in range(2):
        reference = u[:, c] * s[c]
        assert (
            min(
                np.abs(pca.scores[:, c] - reference).max(),
                np.abs(pca.scores[:, c] + reference).max(),
            )
            < 1e-8
        )
    # A "cluster centre" equal to one individual's genotypes / 2 lands exactly on that individual.
    centres = pca.project_frequencies(dosage[:4].T / 2)
    np.testing.assert_allclose(centres, pca.scores[:4], atol=1e-8)


def test_pca_treats_missing_as_mean_and_places_true_centres_near_their_populations():
    cohort = simulate_psd(150, 600, 3, fst=0.3, alpha=0.05, missing_rate=0.05, seed=5)
    assert (cohort.genotypes.calls == MISSING).any()
    pca = fit_pca(cohort.genotypes.calls, 2, method="exact")
    assert np.isfinite(pca.scores).all()
    centres = pca.project_frequencies(cohort.p)
    for k in range(3):
        pure = cohort.q[:, k] > 0.95
        distances = np.linalg.norm(centres - pca.scores[pure].mean(axis=0), axis=1)
        assert distances.argmin() == k


def test_pca_rejects_frequencies_of_other_snps(cohort):
    pca = fit_pca(cohort.genotypes.calls, 2, method="exact")
    with pytest.raises(ValueError, match="SNPs"):
        pca.project_frequencies(cohort.p[:10])


@pytest.mark.parametrize("k", [1, 3, 5])
def test_axes_above_noise_count_the_planted_populations(k):
    """K populations mixed by Dirichlet(0.5) span K - 1 axes above the noise edge; a cohort
    without structure (k=1: one population) has none, however many axes are fitted."""
    cohort = simulate_psd(400, 4000, k, fst=0.1, alpha=0.5, missing_rate=0.01, seed=3)
    assert axes_above_noise(fit_pca(cohort.genotypes, 10, seed=1)) == k - 1
