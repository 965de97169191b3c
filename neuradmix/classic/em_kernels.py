"""Fused numba kernels for the ADMIXTURE EM: one read of the uint8 genotypes per EM pass.

For an observed call g at sample i and SNP j, with p = sum_k q_ik f_jk, the FRAPPE/ADMIXTURE EM
step needs, per SNP, ``A_jk = sum_i q_ik g / p`` and ``B_jk = sum_i q_ik (2 - g) / (1 - p)``
(giving ``f_new = f A / (f A + (1 - f) B)``) and, per sample,
``C_ik = sum_j f_jk g / p + (1 - f_jk) (2 - g) / (1 - p)`` (giving ``q_new = q C / (2 n_obs)``).

The kernels walk the SNPs in chunks of a few hundred columns. A chunk's ``A``/``B`` live in a small
buffer that stays in cache while every sample is visited, and the new frequencies of the chunk
are written as soon as the chunk is done. The per-sample sums ``C`` are accumulated per *group*
of chunks; the number of groups depends only on the data size (never on the thread count), and
groups are added in a fixed order, so results are bit-identical for any number of threads.

The log-likelihood at the input parameters comes out of the same pass. Instead of one logarithm
per call, the kernel multiplies the per-call probabilities p^g (1-p)^(2-g) and takes a logarithm
only when the running product gets small, which removes almost all ``log`` calls.
"""

from __future__ import annotations

import numba
import numpy as np

from .likelihood import PROBABILITY_FLOOR as P_EPS

# Columns per chunk: the chunk's A/B buffers (2 x CHUNK x K doubles) stay in L1/L2.
CHUNK = 256
# At most this many groups of chunks (each holding its own N x K buffer for C).
MAX_GROUPS = 64
# Reassociation lets LLVM vectorise the short reductions over a chunk.
_FASTMATH = {"reassoc", "contract"}


def group_bounds(n_snps: int, chunk: int = CHUNK, max_groups: int = MAX_GROUPS) -> np.ndarray:
    """Split SNPs into whole-chunk groups; the split depends on the data size only."""
    n_chunks = max(1, -(-n_snps // chunk))
    n_groups = min(n_chunks, max_groups)
    chunk_edges = np.linspace(0, n_chunks, n_groups + 1).round().astype(np.int64)
    return np.minimum(chunk_edges * chunk, n_snps).astype(np.int64)


@numba.njit(parallel=True, cache=True, fastmath=_FASTMATH)
def em_pass(calls, q, ft, bounds, chunk, update_f, f_lo, f_hi, ft_out, c_out, ll_out):
    """One EM pass at (q, ft) where ``ft`` is F transposed (K x M).

    Writes the new F (transposed) into ``ft_out`` when ``update_f``, the per-group sums C into
    ``c_out`` (G x N x K) and the per-group log-likelihood at the input into ``ll_out`` (G).
    """
    n = calls.shape[0]
    k = q.shape[1]
    n_groups = bounds.shape[0] - 1
    for grp in numba.prange(n_groups):
        start = bounds[grp]
        stop = bounds[grp + 1]
        acc_c = c_out[grp]
        acc_c[:, :] = 0.0
        a_buf = np.zeros((k, chunk))
        b_buf = np.zeros((k, chunk))
        p_buf = np.empty(chunk)
        r1 = np.empty(chunk)
        r2 = np.empty(chunk)
        factor = np.empty(chunk)
        log_total = 0.0
        for c0 in range(start, stop, chunk):
            width = min(c0 + chunk, stop) - c0
            if update_f:
                a_buf[:, :] = 0.0
                b_buf[:, :] = 0.0
            for i in range(n):
                row = calls[i, c0 : c0 + width]
                p_buf[:width] = 0.0
                for t in range(k):
                    qt = q[i, t]
                    ftt = ft[t, c0 : c0 + width]
                    for jj in range(width):
                        p_buf[jj] += qt * ftt[jj]
                for jj in range(width):
                    g = row[jj]
                    p = min(max(p_buf[jj], P_EPS), 1.0 - P_EPS)
                    observed = g <= 2
                    ref_copies = np.float64(g) if observed else 0.0
                    alt_copies = 2.0 - np.float64(g) if observed else 0.0
                    r1[jj] = ref_copies / p
                    r2[jj] = alt_copies / (1.0 - p)
                    # p^g (1-p)^(2-g) without branches: p or 1-p for each of the two copies.
                    first = p if g >= 1 else 1.0 - p
                    second = p if g == 2 else 1.0 - p
                    factor[jj] = first * second if observed else 1.0
                # p >= P_EPS, so a product of 8 factors stays above 1e-160: one log per 8 calls.
                for s0 in range(0, width, 8):
                    prod = 1.0
                    for jj in range(s0, min(s0 + 8, width)):
                        prod *= factor[jj]
                    log_total += np.log(prod)
                for t in range(k):
                    ftt = ft[t, c0 : c0 + width]
                    total = 0.0
                    for jj in range(width):
                        total += ftt[jj] * (r1[jj] - r2[jj]) + r2[jj]
                    acc_c[i, t] += total
                if update_f:
                    for t in range(k):
                        qt = q[i, t]
                        for jj in range(width):
                            a_buf[t, jj] += qt * r1[jj]
                            b_buf[t, jj] += qt * r2[jj]
            if update_f:
                for t in range(k):
                    for jj in range(width):
                        fv = ft[t, c0 + jj]
                        fa = fv * a_buf[t, jj]
                        denom = fa + (1.0 - fv) * b_buf[t, jj]
                        value = fa / denom if denom > 0.0 else fv
                        ft_out[t, c0 + jj] = min(max(value, f_lo), f_hi)
        ll_out[grp] = log_total


@numba.njit(parallel=True, cache=True)
def observed_per_sample(calls):
    n, m = calls.shape
    out = np.zeros(n)
    for i in numba.prange(n):
        count = 0
        for j in range(m):
            if calls[i, j] <= 2:
                count += 1
        out[i] = count
    return out


@numba.njit(parallel=True, cache=True)
def mask_entries(calls, folds, fold, missing):
    """Copy of ``calls`` with the entries of ``fold`` set to ``missing``."""
    n, m = calls.shape
    out = np.empty_like(calls)
    for i in numba.prange(n):
        for j in range(m):
            out[i, j] = missing if folds[i, j] == fold else calls[i, j]
    return out


@numba.njit(parallel=True, cache=True)
def heldout_deviance(calls, folds, fold, q, f, eps):
    """Sum of binomial deviances g log(g / mu) + (2 - g) log((2 - g) / (2 - mu)), mu = 2 p, over
    the observed entries of ``fold``; returns (sum, count)."""
    n, m = calls.shape
    k = q.shape[1]
    sums = np.zeros(n)
    counts = np.zeros(n)
    for i in numba.prange(n):
        total = 0.0
        count = 0.0
        for j in range(m):
            g = calls[i, j]
            if g > 2 or folds[i, j] != fold:
                continue
            p = 0.0
            for t in range(k):
                p += q[i, t] * f[j, t]
            p = min(max(p, eps), 1.0 - eps)
            if g == 0:
                total += 2.0 * np.log(1.0 / (1.0 - p))
            elif g == 1:
                total += np.log(1.0 / (2.0 * p)) + np.log(1.0 / (2.0 - 2.0 * p))
            else:
                total += 2.0 * np.log(1.0 / p)
            count += 1.0
        sums[i] = total
        counts[i] = count
    return sums.sum(), counts.sum()
