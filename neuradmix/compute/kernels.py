"""Fused numba kernels of the compute core, reading the 2-bit packed genotypes of a ``.bed``.

Notation: for an observed call ``g`` of sample ``i`` at SNP ``j`` with ``p = q_i . f_j`` (clamped
to ``[PROBABILITY_FLOOR, 1 - PROBABILITY_FLOOR]``), the log-likelihood term is
``g log p + (2 - g) log(1 - p)``; its first derivative in ``p`` is the score
``s = g / p - (2 - g) / (1 - p)`` and minus its second derivative the weight
``w = g / p^2 + (2 - g) / (1 - p)^2``.

* :func:`frequency_pass` (parallel over SNPs): at the current (Q, F) it accumulates, per SNP, the
  gradient ``sum_i s q_i`` and the Hessian ``-sum_i w q_i q_i^T`` in ``f_j``, takes the
  constrained Newton step for ``f_j`` (a box QP of size K, solved exactly), and returns the
  log-likelihood at the input point (in double precision; the Newton step's sums are single
  precision in chunks of samples: a whole ``neuradmix em`` process took 0.93 x the time of
  double-precision sums on a 1,000 x 15,619 ridge cohort at K=5, 0.99 x on a 2,000 x 100,000
  coalescent cohort at K=4, the same on a 105-sample cohort, with the same passes and
  log-likelihoods to 1e-4 units).
* :func:`ancestry_pass` (parallel over blocks of samples): at (Q, F) it accumulates, per sample,
  the gradient ``sum_j s f_j`` and Hessian ``-sum_j w f_j f_j^T`` in ``q_i``; the Newton step on
  the simplex (a QP of size K) is :func:`ancestry_newton`.

Both read each SNP's bytes and decode them on the fly, so the cohort stays at N x M / 4 bytes.
Sums that are split over threads are split into groups fixed by the data size and added in a
fixed order, so results do not depend on the number of threads.

Optional per-SNP ``weights`` (bootstrap replicates count a SNP 0, 1, 2, ... times) scale every
SNP's contribution; an optional held-out fold (cross-validation) treats the calls of that fold as
missing, the fold of call (i, j) being a hash of (seed, i, j), so no fold matrix is stored.
"""

from __future__ import annotations

import numba
import numpy as np

from ..data.genotypes import CODE_TO_COUNT
from ..data.packed import call_buffer, code_words, decode_words
from .bounds import PROBABILITY_FLOOR
from .likelihood import SUM_LOG_PAD, call_factor, sum_log

# Number of fixed groups the SNPs are split into for partial sums (independent of threads).
SNP_GROUPS = 64
# Most samples per block of the ancestry pass (a multiple of 4: whole bytes); see _sample_blocks.
SAMPLE_BLOCK = 256
# SNPs summed in single precision by the ancestry pass before its sums move to double precision.
_FLUSH = 64
# A call whose Hessian term w * max_k (f_jk - mean f_j)^2 exceeds this is summed in double
# precision: single precision would leave an error of 1e-7 of it (1e-2 at the cutoff), enough
# to tilt the small eigenvalues of a sample's Hessian when the term is 1e10 (a genotype 2
# where p = 1e-5).
_DOUBLE_CUTOFF = 1e5
_FASTMATH = {"reassoc", "contract", "arcp"}


@numba.njit(inline="always")
def _fold_of(seed, i, j, folds):
    """Fold of call (i, j): splitmix64 of (seed, i, j) modulo ``folds``."""
    z = np.uint64(seed) * np.uint64(0x9E3779B97F4A7C15)
    z ^= np.uint64(i) * np.uint64(0xBF58476D1CE4E5B9)
    z ^= np.uint64(j) * np.uint64(0x94D049BB133111EB)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    z = z ^ (z >> np.uint64(31))
    return np.int64(z % np.uint64(folds))


@numba.njit(cache=True)
def fold_of(seed, i, j, folds):
    return _fold_of(seed, i, j, folds)


@numba.njit(inline="always")
def _mask_fold(calls, start, n, j, seed, folds, heldout):
    for t in range(n):
        if calls[t] < 3 and _fold_of(seed, start + t, j, folds) == heldout:
            calls[t] = 3


# ------------------------------------------------------------------------------------------
# Small dense QPs (K x K): maximise r.d - d'Ad/2 within bounds, optionally with sum(d) = 0
# ------------------------------------------------------------------------------------------


@numba.njit(inline="always")
def _solve_in_place(a, b, n):
    """Gaussian elimination with partial pivoting on the leading n x n block; b gets x."""
    for c in range(n):
        pivot = c
        best = abs(a[c, c])
        for r in range(c + 1, n):
            if abs(a[r, c]) > best:
                best = abs(a[r, c])
                pivot = r
        if best < 1e-300:
            a[c, c] = 1e-300
            pivot = c
        if pivot != c:
            for t in range(n):
                a[c, t], a[pivot, t] = a[pivot, t], a[c, t]
            b[c], b[pivot] = b[pivot], b[c]
        for r in range(c + 1, n):
            factor = a[r, c] / a[c, c]
            if factor != 0.0:
                for t in range(c, n):
                    a[r, t] -= factor * a[c, t]
                b[r] -= factor * b[c]
    for c in range(n - 1, -1, -1):
        total = b[c]
        for t in range(c + 1, n):
            total -= a[c, t] * b[t]
        b[c] = total / a[c, c]


@numba.njit
def _bounded_qp(hess, grad, lo, hi, equality, d, work, rhs, free_index, state):
    """Primal active-set method for ``max grad.d - d'(hess)d/2`` with ``lo <= d <= hi`` (and
    ``sum(d) = 0`` when ``equality``), starting from the feasible ``d = 0``. ``hess`` is positive
    (semi-)definite and gets a tiny ridge. ``state`` (int8, K): 0 free, -1 at lo, +1 at hi.
    Scratch arrays: ``work`` (K+1 x K+1), ``rhs`` (K+1), ``free_index`` (K)."""
    k = grad.shape[0]
    ridge = 0.0
    for t in range(k):
        ridge += hess[t, t]
    ridge = 1e-12 * ridge / k + 1e-300
    for t in range(k):
        d[t] = 0.0
        state[t] = 0
        # Start with the bounds that are already tight and push outwards held.
        if lo[t] >= 0.0:
            state[t] = -1
        elif hi[t] <= 0.0:
            state[t] = 1
    # ``stationary``: d is the optimum over the working set, either because the last step was
    # taken in full or because the solve gave a zero step. Testing the step's size alone would
    # miss that a full step was taken when the Hessian has entries of 1e10, as it can where a
    # call is surprising: the next solve then returns rounding noise instead of zero.
    stationary = False
    for _ in range(6 * k + 6):
        # Residual gradient at d.
        n_free = 0
        for t in range(k):
            if state[t] == 0:
                free_index[n_free] = t
                n_free += 1
        size = n_free + (1 if equality else 0)
        step_is_zero = True
        if n_free > 0 and not stationary:
            for a in range(n_free):
                ta = free_index[a]
                r = grad[ta]
                for t in range(k):
                    r -= hess[ta, t] * d[t]
                rhs[a] = r
                for b in range(n_free):
                    work[a, b] = hess[ta, free_index[b]]
                work[a, a] += ridge
            if equality:
                for a in range(n_free):
                    work[a, n_free] = 1.0
                    work[n_free, a] = 1.0
                work[n_free, n_free] = 0.0
                rhs[n_free] = 0.0
            _solve_in_place(work, rhs, size)
            for a in range(n_free):
                if abs(rhs[a]) > 1e-15:
                    step_is_zero = False
        if stationary or step_is_zero:
            # Stationary on the working set: release a bound whose multiplier has the wrong sign.
            nu = 0.0
            if equality:
                # sum over free coordinates of (r_t - nu) = 0 at the optimum of the free problem.
                if n_free > 0:
                    total = 0.0
                    for a in range(n_free):
                        ta = free_index[a]
                        r = grad[ta]
                        for t in range(k):
                            r -= hess[ta, t] * d[t]
                        total += r
                    nu = total / n_free
            worst = -1
            worst_value = 1e-12
            for t in range(k):
                if state[t] == 0:
                    continue
                r = grad[t] - nu
                for u in range(k):
                    r -= hess[t, u] * d[u]
                violation = r if state[t] == -1 else -r
                if violation > worst_value:
                    worst_value = violation
                    worst = t
            if worst < 0:
                return
            state[worst] = 0
            stationary = False
            continue
        # Ratio test along the step.
        alpha = 1.0
        blocking = -1
        blocking_state = 0
        for a in range(n_free):
            t = free_index[a]
            step = rhs[a]
            if step < 0.0:
                room = (lo[t] - d[t]) / step
                if room < alpha:
                    alpha = max(room, 0.0)
                    blocking = t
                    blocking_state = -1
            elif step > 0.0:
                room = (hi[t] - d[t]) / step
                if room < alpha:
                    alpha = max(room, 0.0)
                    blocking = t
                    blocking_state = 1
        for a in range(n_free):
            d[free_index[a]] += alpha * rhs[a]
        if blocking >= 0:
            d[blocking] = lo[blocking] if blocking_state == -1 else hi[blocking]
            state[blocking] = blocking_state
        else:
            stationary = True


# Samples per single-precision partial sum of the frequency pass.
_CHUNK = 256


@numba.njit(inline="always", fastmath=_FASTMATH)
def _chunked_dots(x, rows, n, out):
    """``out[r] += sum(x[:n] * rows[r, :n])`` for every row of the float32 matrix ``rows``:
    single-precision sums of _CHUNK terms, added in double precision; two rows per sweep, so
    each chunk of ``x`` is loaded once for both."""
    n_rows = rows.shape[0]
    for start in range(0, n, _CHUNK):
        stop = min(start + _CHUNK, n)
        # Slices keep a contiguous array type, which lets LLVM vectorise.
        xs = x[start:stop]
        r = 0
        while r + 1 < n_rows:
            ys = rows[r, start:stop]
            zs = rows[r + 1, start:stop]
            acc_y = np.float32(0.0)
            acc_z = np.float32(0.0)
            for i in range(stop - start):
                acc_y += xs[i] * ys[i]
                acc_z += xs[i] * zs[i]
            out[r] += acc_y
            out[r + 1] += acc_z
            r += 2
        if r < n_rows:
            ys = rows[r, start:stop]
            acc_y = np.float32(0.0)
            for i in range(stop - start):
                acc_y += xs[i] * ys[i]
            out[r] += acc_y


@numba.njit(inline="always")
def _heavy_call(g, p, qt, i, eps, grad, hess):
    """One call's gradient and Hessian terms in ``f_j`` in double precision (the lower triangle
    of ``hess``)."""
    x = min(max(p, eps), 1.0 - eps)
    a = np.float64(g)
    b = 2.0 - a
    s = a / x - b / (1.0 - x)
    w = a / (x * x) + b / ((1.0 - x) * (1.0 - x))
    k = qt.shape[0]
    for c in range(k):
        grad[c] += s * qt[c, i]
        for e in range(c + 1):
            hess[c, e] += w * qt[c, i] * qt[e, i]


@numba.njit(inline="always", fastmath=_FASTMATH)
def _mix(rows, weights, out, start, stop):
    """``out[:stop - start] = sum_c weights[c] rows[c, start:stop]``, two rows per sweep over
    ``out`` (half the loads and stores of one row per sweep). Row slices keep a contiguous array
    type, which lets LLVM vectorise."""
    k = rows.shape[0]
    width = stop - start
    if k % 2 == 1:
        w0 = weights[0]
        r0 = rows[0, start:stop]
        for i in range(width):
            out[i] = r0[i] * w0
        c = 1
    else:
        w0 = weights[0]
        w1 = weights[1]
        r0 = rows[0, start:stop]
        r1 = rows[1, start:stop]
        for i in range(width):
            out[i] = r0[i] * w0 + r1[i] * w1
        c = 2
    while c < k:
        w0 = weights[c]
        w1 = weights[c + 1]
        r0 = rows[c, start:stop]
        r1 = rows[c + 1, start:stop]
        for i in range(width):
            out[i] += r0[i] * w0 + r1[i] * w1
        c += 2


# ------------------------------------------------------------------------------------------
# The frequency pass: per-SNP Newton steps for F and the log-likelihood at the input
# ------------------------------------------------------------------------------------------


@numba.njit(parallel=True, cache=True, fastmath=_FASTMATH)
def frequency_pass(
    packed, n, qt, f, f_out, steps, f_lo, f_hi, weights, seed, folds, heldout, ll_groups
):
    """Log-likelihood at (Q, F) per SNP group into ``ll_groups`` and, for ``steps > 0``, that
    many Newton steps of every ``f_j`` (taken while the SNP's calls are in cache) into ``f_out``
    (M x K). ``qt`` is Q transposed (K x N). ``weights`` has one entry per SNP (or is empty: all
    1); ``folds > 0`` hides the calls of fold ``heldout``."""
    m = packed.shape[0]
    n_bytes = packed.shape[1]
    table = code_words()
    k = qt.shape[0]
    n_groups = ll_groups.shape[0]
    use_weights = weights.shape[0] == m
    eps = PROBABILITY_FLOOR
    # q_ik q_il for every pair k >= l: the Hessian of every f_j is sum_i w_i (q_ik q_il). The
    # per-call terms of the gradient and Hessian are summed in single precision (twice the SIMD
    # width), a chunk of _CHUNK samples at a time, the chunks' sums in double precision; a call
    # whose weight w is above _DOUBLE_CUTOFF (a genotype 2 where p = 1e-5 weighs 1e10) is summed
    # in double precision instead, so it cannot swamp the rest of its chunk.
    qt32 = qt.astype(np.float32)
    one = np.float32(1.0)
    two = np.float32(2.0)
    zero = np.float32(0.0)
    cutoff = np.float32(_DOUBLE_CUTOFF)
    qq = np.empty((k * (k + 1) // 2, n), dtype=np.float32)
    if steps > 0:
        pair = 0
        for c in range(k):
            for e in range(c + 1):
                for i in range(n):
                    qq[pair, i] = qt32[c, i] * qt32[e, i]
                pair += 1
    for grp in numba.prange(n_groups):
        start_snp = grp * m // n_groups
        stop_snp = (grp + 1) * m // n_groups
        calls, words = call_buffer(n_bytes)
        p = np.empty(n)
        s = np.empty(n, dtype=np.float32)
        w = np.empty(n, dtype=np.float32)
        factor = np.empty(n + SUM_LOG_PAD)
        logs = np.empty(n + SUM_LOG_PAD)
        fj = np.empty(k)
        grad = np.empty(k)
        hess = np.empty((k, k))
        pairs = np.empty(k * (k + 1) // 2)
        lo = np.empty(k)
        hi = np.empty(k)
        d = np.empty(k)
        work = np.empty((k + 1, k + 1))
        rhs = np.empty(k + 1)
        free_index = np.empty(k, dtype=np.int64)
        state = np.empty(k, dtype=np.int8)
        ll = 0.0
        for j in range(start_snp, stop_snp):
            for c in range(k):
                fj[c] = f[j, c]
            weight = weights[j] if use_weights else 1.0
            if weight == 0.0:
                if steps > 0:
                    for c in range(k):
                        f_out[j, c] = fj[c]
                continue
            decode_words(packed[j], table, 0, n_bytes, words)
            if folds > 0:
                _mask_fold(calls, 0, n, j, seed, folds, heldout)
            for step in range(max(steps, 1)):
                _mix(qt, fj, p, 0, n)
                if step == 0:
                    for i in range(n):
                        factor[i] = call_factor(calls[i], p[i])
                    ll += weight * sum_log(factor, n, logs)
                if steps == 0:
                    break
                heavy = 0
                for i in range(n):
                    g = calls[i]
                    x = min(max(p[i], eps), 1.0 - eps)
                    # p and 1 - p each to full relative precision (1 - p from the double p),
                    # then in single precision.
                    x32 = np.float32(x)
                    y32 = np.float32(1.0 - x)
                    observed = g < 3
                    a = np.float32(g) if observed else zero
                    b = two - np.float32(g) if observed else zero
                    # One division: 1/p = (1-p) r and 1/(1-p) = p r with r = 1 / (p (1-p)).
                    r = one / (x32 * y32)
                    inv_p = y32 * r
                    inv_q = x32 * r
                    weight_i = a * inv_p * inv_p + b * inv_q * inv_q
                    s[i] = a * inv_p - b * inv_q
                    w[i] = weight_i
                    heavy += weight_i > cutoff
                for c in range(k):
                    grad[c] = 0.0
                    for e in range(c + 1):
                        hess[c, e] = 0.0
                if heavy > 0:
                    for i in range(n):
                        if w[i] > cutoff:
                            _heavy_call(calls[i], p[i], qt, i, eps, grad, hess)
                            s[i] = 0.0
                            w[i] = 0.0
                _chunked_dots(s, qt32, n, grad)
                pairs[:] = 0.0
                _chunked_dots(w, qq, n, pairs)
                pair = 0
                for c in range(k):
                    for e in range(c + 1):
                        hess[c, e] += pairs[pair]
                        hess[e, c] = hess[c, e]
                        pair += 1
                    lo[c] = f_lo - fj[c]
                    hi[c] = f_hi - fj[c]
                _bounded_qp(hess, grad, lo, hi, False, d, work, rhs, free_index, state)
                largest = 0.0
                for c in range(k):
                    value = min(max(fj[c] + d[c], f_lo), f_hi)
                    largest = max(largest, abs(value - fj[c]))
                    fj[c] = value
                if largest < 1e-10:
                    break
            if steps > 0:
                for c in range(k):
                    f_out[j, c] = fj[c]
        ll_groups[grp] = ll


# ------------------------------------------------------------------------------------------
# The ancestry pass: per-sample gradient and Hessian in q_i, then the Newton step on the simplex
# ------------------------------------------------------------------------------------------


@numba.njit(inline="always")
def _sample_blocks(n, threads):
    """(width, count) of the ancestry pass's blocks of samples: at most SAMPLE_BLOCK wide (a
    multiple of 4) and as many for every thread. Each sample's sums are its own, so the blocks
    change the time, never the result."""
    per_thread = (n + threads - 1) // threads
    count = threads * ((per_thread + SAMPLE_BLOCK - 1) // SAMPLE_BLOCK)
    width = (((n + count - 1) // count) + 3) // 4 * 4
    return width, (n + width - 1) // width


@numba.njit(inline="always")
def _double_term(g, qt, f, u, j, i, t, weights, total):
    """One call's gradient and Hessian terms in double precision, into column ``t`` of
    ``total`` (the ancestry pass's double-precision sums)."""
    k = qt.shape[0]
    p = 0.0
    pc = 0.0
    for c in range(k):
        p += qt[c, i] * f[j, c]
        pc += qt[c, i] * (1.0 - f[j, c])
    p = max(p, PROBABILITY_FLOOR)
    pc = max(pc, PROBABILITY_FLOOR)
    a = float(g)
    b = 2.0 - a
    weight = weights[j] if weights.shape[0] == f.shape[0] else 1.0
    s = weight * (a / p - b / pc)
    w = weight * (a / (p * p) + b / (pc * pc))
    row = k
    for c in range(k):
        total[c, t] += s * u[j, c]
        for e in range(c + 1):
            total[row, t] += w * u[j, c] * u[j, e]
            row += 1


@numba.njit(parallel=True, cache=True, fastmath=_FASTMATH)
def ancestry_pass(packed, n, qt, f, weights, seed, folds, heldout, stats, rows, threads):
    """Per-sample gradient (``stats[0:K]``) and Hessian (``stats[K:]``, the K(K+1)/2 entries of
    ``sum_j w u_j u_j^T`` in row-major lower-triangle order) at (Q, F); ``stats`` is S x N, and
    ``u_j = f_j - mean_k f_jk``: on the simplex the centring changes neither the Newton step
    nor the QP, and keeps the all-ones direction from dominating the sums.

    The per-call terms and the running sums are single precision (twice the SIMD width); the sums
    move into double precision every ``_FLUSH`` SNPs, and the rare call whose Hessian term is
    above ``_DOUBLE_CUTOFF`` (a genotype 2 where p = 1e-5 weighs 1e10) is summed in double
    precision from the start.

    ``rows`` (int64) restricts the pass to those samples: ``n`` is then their number, ``qt`` and
    ``stats`` have one column per row, and each call is gathered from its byte; an empty
    ``rows`` means all ``n`` samples, decoded a block at a time. ``threads``: the threads the
    blocks of samples are balanced over (the result does not depend on it)."""
    m = packed.shape[0]
    use_rows = rows.shape[0] > 0
    k = qt.shape[0]
    use_weights = weights.shape[0] == m
    lut = CODE_TO_COUNT
    eps = np.float32(PROBABILITY_FLOOR)
    one = np.float32(1.0)
    two = np.float32(2.0)
    zero = np.float32(0.0)
    block, n_blocks = _sample_blocks(n, threads)
    table = code_words()
    n_stats = stats.shape[0]
    qt32 = qt.astype(np.float32)
    f32 = f.astype(np.float32)
    fc32 = (1.0 - f).astype(np.float32)
    # On the simplex the QP ignores any multiple of (1, ..., 1) in the gradient and any
    # 1 v^T + v 1^T in the Hessian, so each SNP's f_j enters centred. A call where every f_jk
    # is within 1e-5 of 1 (or 0) then adds a Hessian term of order 1 instead of 1e10 in the
    # all-ones direction, which would otherwise drown the rest in single precision.
    u64 = np.empty((m, k))
    cutoff = np.empty(m, dtype=np.float32)
    for j in range(m):
        centre = 0.0
        for c in range(k):
            centre += f[j, c]
        centre /= k
        largest = 0.0
        for c in range(k):
            u64[j, c] = f[j, c] - centre
            largest = max(largest, u64[j, c] * u64[j, c])
        cutoff[j] = _DOUBLE_CUTOFF / max(largest, 1e-30)
    u32 = u64.astype(np.float32)
    for blk in numba.prange(n_blocks):
        start = blk * block
        stop = min(start + block, n)
        width = stop - start
        n_bytes = (width + 3) // 4
        calls, words = call_buffer(n_bytes)
        p = np.empty(width, dtype=np.float32)
        pc = np.empty(width, dtype=np.float32)
        s = np.empty(width, dtype=np.float32)
        w = np.empty(width, dtype=np.float32)
        acc = np.zeros((n_stats, width), dtype=np.float32)
        total = np.zeros((n_stats, width))
        for j in range(m):
            weight = np.float32(weights[j]) if use_weights else one
            if weight == zero:
                continue
            if use_rows:
                row_bytes = packed[j]
                for t in range(width):
                    i = rows[start + t]
                    g = lut[(row_bytes[i >> 2] >> (2 * (i & 3))) & 3]
                    if folds > 0 and g < 3 and _fold_of(seed, i, j, folds) == heldout:
                        g = 3
                    calls[t] = g
            else:
                decode_words(packed[j], table, start >> 2, n_bytes, words)
                if folds > 0:
                    _mask_fold(calls, start, width, j, seed, folds, heldout)
            # p and 1 - p = sum_k q_k (1 - f_k), each to full relative precision.
            _mix(qt32, f32[j], p, start, stop)
            _mix(qt32, fc32[j], pc, start, stop)
            # Calls heavy enough for double precision are counted in the same sweep.
            limit = cutoff[j] / weight
            heavy = 0
            for t in range(width):
                g = calls[t]
                # p and 1 - p = sum_k q_k (1 - f_k) each keep full relative precision, even
                # where p is within 1e-5 of 1.
                x = max(p[t], eps)
                y = max(pc[t], eps)
                observed = g < 3
                a = np.float32(g) if observed else zero
                b = two - np.float32(g) if observed else zero
                r = one / (x * y)
                inv_p = y * r
                inv_q = x * r
                s[t] = a * inv_p - b * inv_q
                w[t] = a * inv_p * inv_p + b * inv_q * inv_q
                heavy += w[t] > limit
            if weight != one:
                for t in range(width):
                    s[t] *= weight
                    w[t] *= weight
            if heavy > 0:
                for t in range(width):
                    if w[t] > cutoff[j]:
                        _double_term(calls[t], qt, f, u64, j, start + t, t, weights, total)
                        s[t] = zero
                        w[t] = zero
            row = k
            for c in range(k):
                fc = u32[j, c]
                target = acc[c]
                for t in range(width):
                    target[t] += s[t] * fc
                for e in range(c + 1):
                    fce = fc * u32[j, e]
                    target = acc[row]
                    for t in range(width):
                        target[t] += w[t] * fce
                    row += 1
            if (j + 1) % _FLUSH == 0:
                for r_ in range(n_stats):
                    for t in range(width):
                        total[r_, t] += acc[r_, t]
                        acc[r_, t] = zero
        for r_ in range(n_stats):
            for t in range(width):
                stats[r_, start + t] = total[r_, t] + acc[r_, t]


def unpack_model(stats: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """``stats`` of :func:`ancestry_pass` (S x N) as (gradient N x K, curvature N x K x K)."""
    n = stats.shape[1]
    gradient = np.ascontiguousarray(stats[:k].T)
    curvature = np.empty((n, k, k))
    row = k
    for c in range(k):
        for e in range(c + 1):
            curvature[:, c, e] = stats[row]
            curvature[:, e, c] = stats[row]
            row += 1
    return gradient, curvature


@numba.njit(parallel=True, cache=True)
def add_entropy(qt, weight, stats):
    """Add ``weight_i * H(q_i)`` (``H(q) = -sum_k q_k log q_k``) to each sample's objective in
    ``stats``: gradient ``-weight_i (log q_k + 1)``, curvature ``weight_i / q_k`` on the diagonal
    (``stats`` holds the negated Hessian, as :func:`ancestry_pass` writes it)."""
    k, n = qt.shape
    for i in numba.prange(n):
        c_i = weight[i]
        if c_i == 0.0:
            continue
        for c in range(k):
            q = max(qt[c, i], 1e-300)
            stats[c, i] -= c_i * (np.log(q) + 1.0)
            stats[k + c * (c + 1) // 2 + c, i] += c_i / q


@numba.njit(parallel=True, cache=True)
def ancestry_newton(qt, stats, q_lo, fixed, q_out):
    """The Newton step of every free ``q_i`` on ``{q >= q_lo, sum(q) = 1}`` (an exact QP of size
    K from the gradient and Hessian in ``stats``); rows with ``fixed[i]`` keep their value."""
    k, n = qt.shape
    for i in numba.prange(n):
        if fixed.shape[0] == n and fixed[i]:
            for c in range(k):
                q_out[i, c] = qt[c, i]
            continue
        grad = np.empty(k)
        hess = np.empty((k, k))
        lo = np.empty(k)
        hi = np.empty(k)
        d = np.empty(k)
        work = np.empty((k + 1, k + 1))
        rhs = np.empty(k + 1)
        free_index = np.empty(k, dtype=np.int64)
        state = np.empty(k, dtype=np.int8)
        row = k
        for c in range(k):
            grad[c] = stats[c, i]
            for e in range(c + 1):
                hess[c, e] = stats[row, i]
                hess[e, c] = stats[row, i]
                row += 1
            lo[c] = q_lo - qt[c, i]
            hi[c] = 1.0 - qt[c, i]
        _bounded_qp(hess, grad, lo, hi, True, d, work, rhs, free_index, state)
        total = 0.0
        for c in range(k):
            value = max(qt[c, i] + d[c], q_lo)
            q_out[i, c] = value
            total += value
        for c in range(k):
            q_out[i, c] /= total


# ------------------------------------------------------------------------------------------
# Counts, held-out deviance
# ------------------------------------------------------------------------------------------


@numba.njit(parallel=True, cache=True)
def heldout_deviance(packed, n, qt, f, seed, folds, heldout, eps, groups):
    """Binomial deviance ``g log(g/mu) + (2-g) log((2-g)/(2-mu))`` (``mu = 2p``) summed over the
    observed calls of fold ``heldout``, and their number, per SNP group (G x 2)."""
    m = packed.shape[0]
    n_bytes = packed.shape[1]
    table = code_words()
    k = qt.shape[0]
    n_groups = groups.shape[0]
    for grp in numba.prange(n_groups):
        start_snp = grp * m // n_groups
        stop_snp = (grp + 1) * m // n_groups
        calls, words = call_buffer(n_bytes)
        total = 0.0
        count = 0.0
        for j in range(start_snp, stop_snp):
            decode_words(packed[j], table, 0, n_bytes, words)
            for i in range(n):
                g = calls[i]
                if g > 2 or _fold_of(seed, i, j, folds) != heldout:
                    continue
                p = 0.0
                for c in range(k):
                    p += qt[c, i] * f[j, c]
                p = min(max(p, eps), 1.0 - eps)
                if g == 0:
                    total += 2.0 * np.log(1.0 / (1.0 - p))
                elif g == 1:
                    total += np.log(1.0 / (2.0 * p)) + np.log(1.0 / (2.0 - 2.0 * p))
                else:
                    total += 2.0 * np.log(1.0 / p)
                count += 1.0
        groups[grp, 0] = total
        groups[grp, 1] = count


@numba.njit(parallel=True, cache=True)
def mask_calls(calls, seed, folds, heldout):
    """Set the calls of fold ``heldout`` (N x M counts) to missing, in place."""
    n, m = calls.shape
    for i in numba.prange(n):
        for j in range(m):
            if calls[i, j] < 3 and _fold_of(seed, i, j, folds) == heldout:
                calls[i, j] = 3


@numba.njit(parallel=True, cache=True)
def fold_mask(seed, folds, heldout, first_snp, out):
    """``out[t, i]``: whether call (i, first_snp + t) is in fold ``heldout`` (SNPs x N)."""
    width, n = out.shape
    for t in numba.prange(width):
        for i in range(n):
            out[t, i] = _fold_of(seed, i, first_snp + t, folds) == heldout
