"""Fused CPU kernels (numba) that read the uint8 genotype matrix once per pass.

With K this small every dense formulation is memory-bound: converting genotypes to float, masking
missing calls and taking logarithms as separate array operations costs many passes over N x M
values. These kernels do all of it in one pass, parallel over samples, with per-thread buffers
that are summed at the end.
"""

from __future__ import annotations

import sys

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
    """Use ``threads`` CPU threads in the numba kernels (None: all available).

    torch itself is kept to one thread: on CPU it only runs the small encoder, and its OpenMP
    workers spin-wait against the numba kernels when both are busy (measured here: a 1024-sample
    encoder step went from 5 ms to over 200 ms on 2 cores shared with another job).
    """
    torch = sys.modules.get("torch")  # only configure torch where a command has loaded it
    if torch is not None:
        torch.set_num_threads(1)
    if threads:
        numba.set_num_threads(max(1, min(threads, numba.config.NUMBA_NUM_THREADS)))


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


# Number of SNP groups the fused loss is split into. Each group accumulates its own partial sums
# and the groups are added in a fixed order, so results do not depend on how numba schedules
# threads (same data and seed, same numbers).
LOSS_GROUPS = 16
_TILE = 256
_SQRT2 = np.float32(1.4142135)
_LN2 = np.float32(0.6931472)


@numba.njit(inline="always", fastmath=True, error_model="numpy")
def _vector_log(values, bits, mantissa_bits, mantissa, out, width):
    """Natural log of ``values[:width]`` into ``out`` with plain arithmetic, so it vectorises.

    ``bits``/``mantissa`` are int32/float32 views of ``values``/``mantissa_bits``. The argument is
    split into 2^e * m with m in [sqrt(1/2), sqrt(2)) and log(m) = 2 atanh(s), s = (m-1)/(m+1),
    summed to s^9: relative error below 1e-7 for the positive normal floats used here.
    """
    for t in range(width):
        mantissa_bits[t] = (bits[t] & 0x007FFFFF) | 0x3F800000
    for t in range(width):
        exponent = np.float32(((bits[t] >> 23) & 0xFF) - 127)
        m = mantissa[t]
        big = m > _SQRT2
        m = m * np.float32(0.5) if big else m
        exponent = exponent + np.float32(1.0) if big else exponent
        s = (m - np.float32(1.0)) / (m + np.float32(1.0))
        s2 = s * s
        series = np.float32(1.0) + s2 * (
            np.float32(1.0 / 3.0)
            + s2 * (np.float32(0.2) + s2 * (np.float32(1.0 / 7.0) + s2 * np.float32(1.0 / 9.0)))
        )
        out[t] = exponent * _LN2 + np.float32(2.0) * s * series


@numba.njit(parallel=True, cache=True, fastmath=True, error_model="numpy")
def _bce_and_gradients(calls, rows, q, f_t, eps, want_loss, grad_f_t, grad_q_parts, loss_parts):
    k, m = f_t.shape
    n_rows = rows.shape[0]
    n_tiles = (m + _TILE - 1) // _TILE
    groups = grad_q_parts.shape[0]
    for group in numba.prange(groups):
        first = group * n_tiles // groups
        last = (group + 1) * n_tiles // groups
        one = np.float32(1.0)
        half = np.float32(0.5)
        zero = np.float32(0.0)
        prob = np.empty(_TILE, dtype=np.float32)
        slope = np.empty(_TILE, dtype=np.float32)
        argument = np.empty(_TILE, dtype=np.float32)
        weight = np.empty(_TILE, dtype=np.float32)
        logs = np.empty(_TILE, dtype=np.float32)
        mantissa_bits = np.empty(_TILE, dtype=np.int32)
        argument_bits = argument.view(np.int32)
        mantissa = mantissa_bits.view(np.float32)
        loss = 0.0
        observed = 0.0
        for tile in range(first, last):
            start = tile * _TILE
            stop = min(start + _TILE, m)
            width = stop - start
            for r in range(n_rows):
                # Row slices of C-contiguous arrays keep a contiguous type, so LLVM vectorises.
                row = calls[rows[r], start:stop]
                for t in range(width):
                    prob[t] = zero
                for c in range(k):
                    qc = q[r, c]
                    f_row = f_t[c, start:stop]
                    for t in range(width):
                        prob[t] += qc * f_row[t]
                for t in range(width):
                    g = row[t]
                    p = prob[t]
                    p = p if p > eps else eps
                    p = p if p < one - eps else one - eps
                    prob[t] = p
                    d = (p - half * np.float32(g)) / (p * (one - p))
                    slope[t] = d if g < 3 else zero
                if want_loss:
                    # -[y log p + (1 - y) log(1 - p)] with y = g/2 needs one log per call.
                    row_observed = zero
                    for t in range(width):
                        g = row[t]
                        p = prob[t]
                        argument[t] = one - p if g == 0 else (p if g == 2 else p * (one - p))
                        argument[t] = argument[t] if g < 3 else one
                        weight[t] = half if g == 1 else (one if g < 3 else zero)
                        row_observed += one if g < 3 else zero
                    _vector_log(argument, argument_bits, mantissa_bits, mantissa, logs, width)
                    row_loss = zero
                    for t in range(width):
                        row_loss -= weight[t] * logs[t]
                    loss += row_loss
                    observed += row_observed
                for c in range(k):
                    qc = q[r, c]
                    f_row = f_t[c, start:stop]
                    grad_row = grad_f_t[c, start:stop]
                    acc = zero
                    for t in range(width):
                        acc += slope[t] * f_row[t]
                        grad_row[t] += slope[t] * qc
                    grad_q_parts[group, r, c] += acc
        loss_parts[group, 0] = loss
        loss_parts[group, 1] = observed


def bce_and_gradients(calls, rows, q, f_t, eps=1e-6, want_loss=True):
    """Binary cross-entropy of genotype/2 against Q F, summed over observed calls, with gradients.

    ``calls`` is the full N x M uint8 matrix and ``rows`` the samples of the batch (so batches are
    never copied); ``q`` is B x K and ``f_t`` K x M, both float32. Returns ``(loss, observed,
    grad_q, grad_f_t)``: the loss and its gradients are sums over observed calls, with Q F clipped
    to [eps, 1 - eps]. The loss is only computed when ``want_loss``; gradients need no logarithm.
    """
    k = f_t.shape[0]
    grad_f_t = np.zeros_like(f_t)
    grad_q_parts = np.zeros((LOSS_GROUPS, rows.shape[0], k), dtype=np.float64)
    loss_parts = np.zeros((LOSS_GROUPS, 2), dtype=np.float64)
    _bce_and_gradients(
        np.ascontiguousarray(calls),
        np.ascontiguousarray(rows, dtype=np.int64),
        np.ascontiguousarray(q, dtype=np.float32),
        np.ascontiguousarray(f_t, dtype=np.float32),
        np.float32(eps),
        want_loss,
        grad_f_t,
        grad_q_parts,
        loss_parts,
    )
    totals = loss_parts.sum(axis=0)
    return float(totals[0]), float(totals[1]), grad_q_parts.sum(axis=0), grad_f_t
