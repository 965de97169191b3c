"""The one per-call log-likelihood of the ADMIXTURE model, inlined into the numba passes.

For an observed call ``g`` in {0, 1, 2} with ``p = q_i . f_j`` the term is ``g log p + (2 - g)
log(1 - p)`` (what ADMIXTURE prints as ``Loglikelihood:`` summed over the observed calls; ``L_C``
of Equation 1 is its negative). It is computed as the logarithm of the call's likelihood
``p^g (1 - p)^(2 - g)`` (:func:`call_factor`, with ``p`` clamped by
:data:`~neuradmix.compute.bounds.PROBABILITY_FLOOR`), and a SNP's terms as the logarithm of the
product of its calls' factors, one logarithm per 256 calls (:func:`sum_log`).

Every log-likelihood of the package comes from here, through the frequency pass
(:func:`neuradmix.compute.kernels.frequency_pass`); the torch engine computes the same terms with
tensors (:mod:`neuradmix.compute.torch_engine`).
"""

from __future__ import annotations

import numba
import numpy as np

from .bounds import PROBABILITY_FLOOR

_LN2_HI = 6.93147180369123816490e-01
_LN2_LO = 1.90821492927058770002e-10
_SQRT2 = 1.4142135623730951


@numba.njit(inline="always", fastmath={"contract"})
def _log_positive(values, bits, out, width):
    """Natural log of the positive normal float64 ``values[:width]`` into ``out``, written with
    plain arithmetic so that it vectorises (``bits`` is ``values`` viewed as int64 and is
    overwritten). x = 2^e m with m in [sqrt(1/2), sqrt(2)); log m = 2 atanh(s), s = (m-1)/(m+1),
    summed to s^21: within a few ulp of ``np.log``."""
    for t in range(width):
        b = bits[t]
        out[t] = np.float64(((b >> 52) & 0x7FF) - 1023)
        bits[t] = (b & 0x000FFFFFFFFFFFFF) | 0x3FF0000000000000
    for t in range(width):
        m = values[t]
        e = out[t]
        big = m > _SQRT2
        m = m * 0.5 if big else m
        e = e + 1.0 if big else e
        s = (m - 1.0) / (m + 1.0)
        z = s * s
        poly = 1.0 + z * (
            1.0 / 3
            + z
            * (
                1.0 / 5
                + z
                * (
                    1.0 / 7
                    + z
                    * (
                        1.0 / 9
                        + z
                        * (
                            1.0 / 11
                            + z
                            * (
                                1.0 / 13
                                + z * (1.0 / 15 + z * (1.0 / 17 + z * (1.0 / 19 + z * (1.0 / 21))))
                            )
                        )
                    )
                )
            )
        )
        out[t] = e * _LN2_HI + (e * _LN2_LO + 2.0 * s * poly)


# sum_log multiplies factors in groups of 8 (each factor >= PROBABILITY_FLOOR^2 = 1e-20, so a
# product >= 1e-160 stays a normal double), sets the products' binary exponents aside (exactly),
# and multiplies their mantissas, each in [1, 2), MANTISSA_GROUP at a time (< 2^32) before one
# logarithm: one logarithm per 256 calls. Factor buffers hold SUM_LOG_PAD more than the calls.
MANTISSA_GROUP = 32
SUM_LOG_PAD = 8 * MANTISSA_GROUP
_MANTISSA_BITS = 0x000FFFFFFFFFFFFF
_EXPONENT_ZERO = 0x3FF0000000000000


@numba.njit(inline="always")
def sum_log(factor, n, logs):
    """sum(log(factor[:n])): the factors multiplied in pairwise trees, eight at a time, the
    products split into exponent and mantissa, the mantissas multiplied 32 at a time and logged
    together (see MANTISSA_GROUP). ``factor`` (length >= n + SUM_LOG_PAD) is overwritten;
    ``logs`` is scratch of the same length."""
    padded = (n + SUM_LOG_PAD - 1) // SUM_LOG_PAD * SUM_LOG_PAD
    for t in range(n, padded):
        factor[t] = 1.0
    half = padded
    for _ in range(3):
        half = half >> 1
        for t in range(half):
            factor[t] = factor[t] * factor[t + half]
    bits = factor.view(np.int64)
    exponent = 0
    for t in range(half):
        b = bits[t]
        exponent += ((b >> 52) & 0x7FF) - 1023
        bits[t] = (b & _MANTISSA_BITS) | _EXPONENT_ZERO
    for _ in range(5):
        half = half >> 1
        for t in range(half):
            factor[t] = factor[t] * factor[t + half]
    _log_positive(factor, bits, logs, half)
    total = exponent * _LN2_HI + exponent * _LN2_LO
    for t in range(half):
        total += logs[t]
    return total


@numba.njit(inline="always")
def call_factor(g, p):
    """The likelihood ``p^g (1 - p)^(2 - g)`` of call ``g`` at ``p`` (clamped to
    ``[PROBABILITY_FLOOR, 1 - PROBABILITY_FLOOR]``), whose logarithm is the call's term; 1 for a
    missing call (``g = 3``), which adds nothing."""
    x = min(max(p, PROBABILITY_FLOOR), 1.0 - PROBABILITY_FLOOR)
    first = x if g >= 1 else 1.0 - x
    second = x if g == 2 else 1.0 - x
    return first * second if g < 3 else 1.0
