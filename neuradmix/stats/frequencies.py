"""Allele frequencies of the counted allele: overall, and weighted by cluster membership."""

from __future__ import annotations

import numba
import numpy as np

from ..data import MISSING


def allele_frequencies(calls: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Frequency of the counted allele per SNP (0.5 where nothing is observed) and call counts."""
    sums = np.zeros(calls.shape[1])
    observed = np.zeros(calls.shape[1])
    for start in range(0, calls.shape[0], 256):
        block = calls[start : start + 256]
        mask = block != MISSING
        sums += np.where(mask, block, 0).sum(axis=0, dtype=np.float64)
        observed += mask.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        freq = np.where(observed > 0, sums / np.maximum(observed, 1) / 2.0, 0.5)
    return freq, observed


@numba.njit(parallel=True, cache=True, fastmath=True, error_model="numpy")
def _weighted_sums(calls, weights, chunk):
    n, m = calls.shape
    k = weights.shape[1]
    numerator = np.zeros((k, m))
    denominator = np.zeros((k, m))
    n_chunks = (m + chunk - 1) // chunk
    for c in numba.prange(n_chunks):
        start = c * chunk
        stop = min(start + chunk, m)
        width = stop - start
        counts = np.empty(width)
        observed = np.empty(width)
        for i in range(n):
            row = calls[i, start:stop]
            for t in range(width):
                g = row[t]
                counts[t] = g if g < 3 else 0.0
                observed[t] = 1.0 if g < 3 else 0.0
            for h in range(k):
                w = weights[i, h]
                numerator_row = numerator[h, start:stop]
                denominator_row = denominator[h, start:stop]
                for t in range(width):
                    numerator_row[t] += w * counts[t]
                    denominator_row[t] += w * observed[t]
    return numerator, denominator


def weighted_allele_frequencies(
    calls: np.ndarray, weights: np.ndarray, fallback: np.ndarray | None = None
) -> np.ndarray:
    """Allele frequency of each SNP in each component, weighting sample i by ``weights[i, k]``.

    With one-hot weights these are cluster centroids; with a ``.Q`` as weights it is the paper's
    recovery of F for SNPs the network never saw. Returns M x K (``.P`` orientation). Where a
    component has no observed call at a SNP, ``fallback`` (per-SNP frequency) is used.
    """
    numerator, denominator = _weighted_sums(
        np.ascontiguousarray(calls), np.ascontiguousarray(weights, dtype=np.float64), 512
    )
    with np.errstate(invalid="ignore", divide="ignore"):
        freq = numerator / (2.0 * denominator)
    empty = denominator <= 1e-12
    if empty.any():
        if fallback is None:
            fallback = np.full(calls.shape[1], 0.5)
        freq = np.where(empty, np.broadcast_to(fallback, freq.shape), freq)
    return np.clip(freq, 0.0, 1.0).T.copy()


def centroid_frequencies(calls: np.ndarray, assignment: np.ndarray, k: int) -> np.ndarray:
    """Allele frequencies of each group of samples (M x K); ``assignment[i] = -1`` skips i."""
    onehot = np.zeros((calls.shape[0], k))
    known = assignment >= 0
    onehot[np.flatnonzero(known), assignment[known]] = 1.0
    overall, _ = allele_frequencies(calls)
    return weighted_allele_frequencies(calls, onehot, fallback=overall)
