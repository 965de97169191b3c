"""Fused CPU kernels (numba) that read the uint8 genotype matrix once per pass.

With K this small every dense formulation is memory-bound: converting genotypes to float, masking
missing calls and taking logarithms as separate array operations costs many passes over N x M
values. These kernels do all of it in one pass, parallel over samples, with per-thread buffers
that are summed at the end.
"""

from __future__ import annotations

import numba
import numpy as np

# Frequencies are kept inside [EPS, 1 - EPS] inside every logarithm, as ADMIXTURE does.
EPS = 1e-10


@numba.njit(parallel=True, cache=True, fastmath=False)
def _loglik_rows(calls, q, f_t, eps):
    n, m = calls.shape
    k = q.shape[1]
    out = np.zeros(n)
    for i in numba.prange(n):
        total = 0.0
        for j in range(m):
            g = calls[i, j]
            if g > 2:
                continue
            p = 0.0
            for c in range(k):
                p += q[i, c] * f_t[j, c]
            p = min(max(p, eps), 1.0 - eps)
            # One logarithm per call: g log p + (2 - g) log(1 - p) for g in {0, 1, 2}.
            if g == 0:
                total += 2.0 * np.log1p(-p)
            elif g == 2:
                total += 2.0 * np.log(p)
            else:
                total += np.log(p * (1.0 - p))
        out[i] = total
    return out


def log_likelihood_per_sample(calls: np.ndarray, q: np.ndarray, p: np.ndarray) -> np.ndarray:
    """ADMIXTURE log-likelihood of each sample (missing calls skipped).

    ``calls`` is N x M uint8, ``q`` N x K, ``p`` M x K (the ``.P`` orientation).
    """
    return _loglik_rows(
        np.ascontiguousarray(calls),
        np.ascontiguousarray(q, dtype=np.float64),
        np.ascontiguousarray(p, dtype=np.float64),
        EPS,
    )


def log_likelihood(calls: np.ndarray, q: np.ndarray, p: np.ndarray) -> float:
    """ADMIXTURE log-likelihood sum_ij g log(p) + (2 - g) log(1 - p) over observed calls."""
    return float(log_likelihood_per_sample(calls, q, p).sum())


def set_threads(threads: int | None) -> None:
    """Use ``threads`` CPU threads in numba kernels and torch (None: leave the defaults)."""
    if not threads:
        return
    import torch

    numba.set_num_threads(max(1, min(threads, numba.config.NUMBA_NUM_THREADS)))
    torch.set_num_threads(threads)


@numba.njit(parallel=True, cache=True)
def _weighted_sums(calls, weights, chunk):
    n, m = calls.shape
    k = weights.shape[1]
    numerator = np.zeros((k, m))
    denominator = np.zeros((k, m))
    n_chunks = (m + chunk - 1) // chunk
    for c in numba.prange(n_chunks):
        start = c * chunk
        stop = min(start + chunk, m)
        for i in range(n):
            for j in range(start, stop):
                g = calls[i, j]
                if g > 2:
                    continue
                for h in range(k):
                    w = weights[i, h]
                    numerator[h, j] += w * g
                    denominator[h, j] += w
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
