"""Fused CPU kernel (numba) for the reconstruction loss of Equation 2 and its gradients.

With K this small every dense formulation is memory-bound: converting genotypes to float, masking
missing calls and taking logarithms as separate array operations costs many passes over N x M
values. The kernel does all of it in one pass over the batch's genotypes, with per-group partial
sums that are added in a fixed order.
"""

from __future__ import annotations

import numba
import numpy as np

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
