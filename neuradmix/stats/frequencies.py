"""Allele frequencies of the counted allele: overall, and weighted by cluster membership.

Each function takes either a :class:`neuradmix.data.Genotypes` (read from its packed bytes, SNP by
SNP, without decoding the whole cohort) or an N x M matrix of counts.
"""

from __future__ import annotations

import numba
import numpy as np

from ..data import MISSING, Genotypes
from ..data.packed import allele_counts, call_buffer, code_words, decode_words


def allele_frequencies(source) -> tuple[np.ndarray, np.ndarray]:
    """Frequency of the counted allele per SNP (0.5 where nothing is observed) and call counts."""
    if isinstance(source, Genotypes):
        if source._counts is None:
            source._counts = allele_counts(source.packed, source.n_samples)
        sums, observed = source._counts[:, 0], source._counts[:, 1]
    else:
        calls = source
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


@numba.njit(parallel=True, cache=True, fastmath=True, error_model="numpy")
def _weighted_sums_packed(packed, n, weights_t):
    m = packed.shape[0]
    k = weights_t.shape[0]
    numerator = np.zeros((k, m))
    denominator = np.zeros((k, m))
    table = code_words()
    n_bytes = packed.shape[1]
    for j in numba.prange(m):
        calls, words = call_buffer(n_bytes)
        decode_words(packed[j], table, 0, n_bytes, words)
        counts = np.empty(n)
        observed = np.empty(n)
        for i in range(n):
            g = calls[i]
            counts[i] = g if g < 3 else 0.0
            observed[i] = 1.0 if g < 3 else 0.0
        for h in range(k):
            row = weights_t[h]
            top = 0.0
            bottom = 0.0
            for i in range(n):
                top += row[i] * counts[i]
                bottom += row[i] * observed[i]
            numerator[h, j] = top
            denominator[h, j] = bottom
    return numerator, denominator


def weighted_sums(source, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``sum_i w_ik g_ij`` and ``sum_i w_ik [g_ij observed]`` (K x M each)."""
    weights = np.asarray(weights, dtype=np.float64)
    if isinstance(source, Genotypes):
        return _weighted_sums_packed(
            source.packed, source.n_samples, np.ascontiguousarray(weights.T)
        )
    return _weighted_sums(np.ascontiguousarray(source), np.ascontiguousarray(weights), 512)


def weighted_allele_frequencies(
    source, weights: np.ndarray, fallback: np.ndarray | None = None
) -> np.ndarray:
    """Allele frequency of each SNP in each component, weighting sample i by ``weights[i, k]``.

    With one-hot weights these are cluster centroids; with a ``.Q`` as weights it is the paper's
    recovery of F for SNPs the network never saw. Returns M x K (``.P`` orientation). Where a
    component has no observed call at a SNP, ``fallback`` (per-SNP frequency) is used.
    """
    n_snps = source.n_snps if isinstance(source, Genotypes) else source.shape[1]
    numerator, denominator = weighted_sums(source, weights)
    with np.errstate(invalid="ignore", divide="ignore"):
        freq = numerator / (2.0 * denominator)
    empty = denominator <= 1e-12
    if empty.any():
        if fallback is None:
            fallback = np.full(n_snps, 0.5)
        freq = np.where(empty, np.broadcast_to(fallback, freq.shape), freq)
    return np.clip(freq, 0.0, 1.0).T.copy()


def centroid_frequencies(source, assignment: np.ndarray, k: int) -> np.ndarray:
    """Allele frequencies of each group of samples (M x K); ``assignment[i] = -1`` skips i."""
    onehot = np.zeros((len(assignment), k))
    known = assignment >= 0
    onehot[np.flatnonzero(known), assignment[known]] = 1.0
    overall, _ = allele_frequencies(source)
    return weighted_allele_frequencies(source, onehot, fallback=overall)
