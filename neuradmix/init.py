"""Decoder initialisations: PCK-Means (paper, Algorithm 1), label centroids, an existing ``.P``.

Every initialiser returns allele frequencies in the ``.P`` orientation (M x K) and, where it has
one, the hard assignment of each sample that produced them (used to warm-start the encoder).
"""

from __future__ import annotations

import numpy as np
from sklearn.cluster import KMeans

from .errors import InputError
from .io import Genotypes
from .kernels import weighted_allele_frequencies
from .pca import GenotypePCA, allele_frequencies, fit_pca


def pckmeans_components(k: int, available: int) -> int:
    """PCs used for K-Means: K - 1 (the admixture simplex's dimension), within the paper's 2-6."""
    return int(min(max(2, k - 1), 6, available))


def pckmeans(
    calls: np.ndarray, k: int, pca: GenotypePCA, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """PCK-Means: K-Means on the leading PCs, then each cluster's allele frequencies.

    Algorithm 1 returns the inverse PCA transform of the K-Means centroids, a rank-limited
    approximation of each cluster's mean genotype; here the cluster means are computed exactly from
    the genotypes (same partition, one pass over the data, missing calls skipped).
    """
    n_samples = pca.scores.shape[0]
    if k > n_samples:
        raise InputError(f"K={k} is larger than the number of samples ({n_samples}); lower K.")
    coords = pca.scores[:, : pckmeans_components(k, pca.n_components)].astype(np.float64)
    kmeans = KMeans(n_clusters=k, n_init=10, random_state=seed).fit(coords)
    assignment = kmeans.labels_.astype(np.int64)
    return centroid_frequencies(calls, assignment, k), assignment


def centroid_frequencies(calls: np.ndarray, assignment: np.ndarray, k: int) -> np.ndarray:
    """Allele frequencies of each group of samples (M x K); ``assignment[i] = -1`` skips i."""
    onehot = np.zeros((calls.shape[0], k))
    known = assignment >= 0
    onehot[np.flatnonzero(known), assignment[known]] = 1.0
    overall, _ = allele_frequencies(calls)
    return weighted_allele_frequencies(calls, onehot, fallback=overall)


def pckmeans_init(genotypes: Genotypes | np.ndarray, k: int, seed: int = 0) -> np.ndarray:
    """Convenience for other engines: PCK-Means allele frequencies (M x K) from genotypes."""
    calls = genotypes.calls if isinstance(genotypes, Genotypes) else genotypes
    pca = fit_pca(calls, n_components=pckmeans_components(k, calls.shape[0] - 1), seed=seed)
    frequencies, _ = pckmeans(calls, k, pca, seed)
    return frequencies


def label_centroids(
    calls: np.ndarray, labels: np.ndarray
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Supervised initialisation: allele frequencies of each labelled population.

    Returns (frequencies M x K, assignment with -1 for unknown, population names in column order:
    sorted).
    """
    names = sorted({str(x) for x in labels if str(x) != ""})
    if len(names) < 2:
        raise InputError(
            "supervised training needs at least two populations among the labels; found "
            f"{len(names)}."
        )
    index = {name: column for column, name in enumerate(names)}
    assignment = np.array([index.get(str(x), -1) for x in labels], dtype=np.int64)
    return centroid_frequencies(calls, assignment, len(names)), assignment, names
