"""The ADMIXTURE log-likelihood, ``sum_ij g log p + (2 - g) log(1 - p)`` with ``p = (Q F^T)_ij``
over observed calls (what ADMIXTURE prints as ``Loglikelihood:``; ``L_C`` of Equation 1 is its
negative).

:data:`PROBABILITY_FLOOR` is the one clamp of ``p`` inside every logarithm of the classic engine.
"""

from __future__ import annotations

import numba
import numpy as np

# p is kept inside [PROBABILITY_FLOOR, 1 - PROBABILITY_FLOOR] inside every logarithm.
PROBABILITY_FLOOR = 1e-10


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
        PROBABILITY_FLOOR,
    )


def log_likelihood(source, q: np.ndarray, p: np.ndarray) -> float:
    """ADMIXTURE log-likelihood sum_ij g log(p) + (2 - g) log(1 - p) over observed calls.

    ``source`` is a :class:`neuradmix.data.Genotypes` (read from its packed bytes, in one pass) or
    an N x M matrix of counts."""
    from ..data import Genotypes

    if isinstance(source, Genotypes):
        from .kernels import SNP_GROUPS, frequency_pass

        q = np.ascontiguousarray(np.asarray(q, dtype=np.float64).T)
        p = np.ascontiguousarray(p, dtype=np.float64)
        groups = np.zeros(max(1, min(SNP_GROUPS, source.n_snps)))
        frequency_pass(
            np.ascontiguousarray(source.packed),
            source.n_samples,
            q,
            p,
            p,
            0,
            0.0,
            1.0,
            np.zeros(0),
            0,
            0,
            0,
            groups,
        )
        return float(groups.sum())
    return float(log_likelihood_per_sample(source, q, p).sum())
