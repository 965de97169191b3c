"""Starting points for the ADMIXTURE model: the SNP subset a start is computed on, PCK-Means
(the paper's Algorithm 1), its refinement by alternating least squares on the low-rank PCA
reconstruction, and F given a start's Q.

Both methods use them: the block-relaxation fit (:mod:`neuradmix.classic.fit`: ``--init
pckmeans``, ``svd`` or ``random``) and the neural training, to choose its first stage's SNPs and
initialise its decoders. Frequencies are returned in the ``.P`` orientation (M x K).
"""

from __future__ import annotations

import numpy as np

from ..compute.bounds import project_f, project_q, project_to_simplex
from ..data import Genotypes
from ..errors import InputError
from ..stats.cluster import kmeans
from ..stats.frequencies import allele_frequencies, centroid_frequencies, weighted_sums
from ..stats.pca import GenotypePCA, fit_pca

# Starts are computed and refined on at most this many common SNPs (evenly spread).
START_SNPS = 10_000
START_MAF = 0.05


def pckmeans_components(k: int, available: int) -> int:
    """PCs used for K-Means: K - 1 (the admixture simplex's dimension), within the paper's 2-6."""
    return int(min(max(2, k - 1), 6, available))


def pckmeans(source, k: int, pca: GenotypePCA, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """PCK-Means: K-Means on the leading PCs, then each cluster's allele frequencies.

    Algorithm 1 returns the inverse PCA transform of the K-Means centroids, a rank-limited
    approximation of each cluster's mean genotype; here the cluster means are computed exactly from
    the genotypes (same partition, one pass over the data, missing calls skipped).
    """
    n_samples = pca.scores.shape[0]
    if k > n_samples:
        raise InputError(f"K={k} is larger than the number of samples ({n_samples}); lower K.")
    coords = pca.scores[:, : pckmeans_components(k, pca.n_components)].astype(np.float64)
    assignment = kmeans(coords, k, seed=seed)
    return centroid_frequencies(source, assignment, k), assignment


def low_rank_als(
    pca: GenotypePCA,
    frequencies: np.ndarray,
    iterations: int = 25,
    tolerance: float = 1e-6,
) -> tuple[np.ndarray, np.ndarray]:
    """Refine a starting F by alternating least squares on the rank-(K-1) PCA reconstruction.

    The expected genotype of sample i is ``2 Q_i F``, so after centring it lies in a (K-1)-
    dimensional affine space that the leading principal axes capture. Writing the reconstruction
    ``X/2 ~ mean + U S V^T scaled back per SNP``, Q and F are fitted in turn by least squares with
    Q projected onto the simplex and F clipped to [0, 1], never forming an N x M matrix. Starting
    from the PCK-Means centroids, this moves the hard-cluster centroids (which admixed samples pull
    towards the mean) out to the ancestral frequencies, and gives soft Q to warm-start the encoder.
    Least squares is not the binomial likelihood: past a few dozen iterations the fit drifts
    towards the least-squares optimum (measured: RMSE(Q) against a planted truth 0.0161 after
    10 iterations, 0.0165 after 200), so the default stops early and training takes over.
    Returns (Q N x K, F as M x K).
    """
    k = frequencies.shape[1]
    mean, left, right = _reconstruction_factors(pca, k - 1)
    f = np.clip(frequencies.T.astype(np.float64), 0.0, 1.0)  # K x M
    q = None
    previous = np.inf
    for _ in range(iterations):
        q = _als_q_step(mean, left, right, f)
        # F step: argmin ||Q F - X/2||, clipped to [0, 1].
        gram_q = q.T @ q + 1e-9 * np.eye(k)
        rhs = np.outer(q.sum(axis=0), mean) + (q.T @ left) @ right.T  # K x M
        f_new = np.clip(np.linalg.solve(gram_q, rhs), 0.0, 1.0)
        change = float(np.sqrt(np.mean((f_new - f) ** 2)))
        f = f_new
        if abs(previous - change) < tolerance or change < tolerance:
            break
        previous = change
    return q, f.T.copy()


def _reconstruction_factors(pca: GenotypePCA, rank: int):
    """Mean (M) and factors (N x r, M x r) of the rank-r reconstruction of genotype / 2."""
    rank = max(1, min(rank, pca.n_components))
    # Per-SNP back-transform of standardised values to allele-frequency units.
    safe = np.where(pca.scale > 0, pca.scale, 1.0)
    unscale = np.where(pca.scale > 0, 0.5 / safe, 0.0)
    left = pca.scores[:, :rank].astype(np.float64)  # N x r  (= U S)
    right = pca.loadings[:, :rank].astype(np.float64) * unscale[:, None]  # M x r
    return pca.centre / 2.0, left, right


def _als_q_step(mean, left, right, f):
    """argmin_Q ||Q F - (1 mean^T + left right^T)||_F with rows of Q on the simplex."""
    k = f.shape[0]
    gram = f @ f.T + 1e-9 * np.eye(k)
    target = mean @ f.T + left @ (right.T @ f.T)  # N x K (the mean term broadcasts)
    return project_to_simplex(np.linalg.solve(gram, target.T).T)


def least_squares_q(pca: GenotypePCA, frequencies: np.ndarray) -> np.ndarray:
    """Q that best reconstructs the samples' low-rank genotypes from fixed F (M x K).

    Used to warm-start the encoder of a pretrained run, whose decoder is a given ``.P``.
    """
    mean, left, right = _reconstruction_factors(pca, frequencies.shape[1] - 1)
    return _als_q_step(mean, left, right, np.clip(frequencies.T, 0.0, 1.0))


def start_snps(genotypes: Genotypes, limit: int = START_SNPS) -> np.ndarray:
    """The start's SNPs: common ones (minor allele frequency >= 5%; all polymorphic SNPs if fewer
    than 100 are common), at most ``limit`` of them, evenly spread."""
    freq, _ = allele_frequencies(genotypes)
    minor = np.minimum(freq, 1.0 - freq)
    common = np.flatnonzero(minor >= START_MAF)
    if len(common) < 100:
        common = np.flatnonzero(minor > 0)
    if len(common) == 0:
        common = np.arange(genotypes.n_snps)
    if len(common) <= limit:
        return common
    return common[np.floor((np.arange(limit) + 0.5) * len(common) / limit).astype(np.int64)]


def svd_start(subset: Genotypes, k: int, seed: int) -> np.ndarray:
    """Q from a randomised SVD of the standardised genotypes of ``subset`` (the start's SNPs),
    PCK-Means on the leading K-1 axes and alternating least squares on the rank-(K-1)
    reconstruction."""
    components = max(1, min(k - 1, subset.n_samples - 1))
    pca = fit_pca(subset, max(components, 2), seed=seed, power_iterations=4)
    frequencies, _ = pckmeans(subset, k, pca, seed=seed)
    q, _ = low_rank_als(pca, frequencies)
    return project_q(q)


def random_start(n_samples: int, k: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return project_q(rng.dirichlet(np.ones(k), size=n_samples))


def frequencies_given_q(genotypes: Genotypes, q: np.ndarray) -> np.ndarray:
    """The least-squares F given Q (one pass): E[g / 2] = Q F' solved per SNP, missing calls
    replaced by the SNP's mean. Unlike the Q-weighted frequencies, which mix the clusters of
    admixed samples, this un-mixes them, so the first Newton steps start close."""
    overall, _ = allele_frequencies(genotypes)
    numerator, observed = weighted_sums(genotypes, q)  # K x M each
    missing_weight = q.sum(axis=0)[:, None] - observed
    rhs = numerator / 2.0 + missing_weight * overall[None, :]
    gram = q.T @ q + 1e-9 * np.eye(q.shape[1])
    return project_f(np.linalg.solve(gram, rhs).T)


def pckmeans_q(subset: Genotypes, k: int, seed: int) -> np.ndarray:
    """The paper's Algorithm 1 alone: hard PCK-Means clusters as Q."""
    pca = fit_pca(subset, pckmeans_components(k, subset.n_samples - 1), seed=seed)
    _, assignment = pckmeans(subset, k, pca, seed=seed)
    return project_q(np.eye(k)[assignment])
