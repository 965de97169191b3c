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
            total += g * np.log(p) + (2.0 - g) * np.log1p(-p)
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
