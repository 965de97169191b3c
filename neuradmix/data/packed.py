"""Kernels that decode the 2-bit packed genotypes of a ``.bed`` on the fly.

SNP ``j`` occupies one row of ``ceil(N / 4)`` bytes; sample ``i`` is in bits ``2 (i % 4)`` of byte
``i // 4`` (see :mod:`neuradmix.data.genotypes`). Everything that streams over the cohort decodes
a few SNPs at a time with these, so no N x M matrix is ever held. The passes that stream over
every SNP use :func:`decode_words` (one table lookup per byte, into a buffer of whole bytes); on a
1,600 x 100,000 cohort it decodes six times faster than :func:`decode_row` (one per call).
"""

from __future__ import annotations

import numba
import numpy as np

from .genotypes import CODE_TO_COUNT


@numba.njit(inline="always")
def decode_row(packed_row, lut, start, stop, out):
    """Counts of samples ``start..stop-1`` (``start`` a multiple of 4) into ``out[:stop-start]``;
    3 marks a missing call."""
    n = stop - start
    first = start >> 2
    full = n >> 2
    for b in range(full):
        byte = packed_row[first + b]
        base = 4 * b
        out[base] = lut[byte & 3]
        out[base + 1] = lut[(byte >> 2) & 3]
        out[base + 2] = lut[(byte >> 4) & 3]
        out[base + 3] = lut[(byte >> 6) & 3]
    for s in range(n - 4 * full):
        out[4 * full + s] = lut[(packed_row[first + full] >> (2 * s)) & 3]


@numba.njit(inline="always")
def code_words():
    """Each byte's four counts as one native-order word: ``table[byte]`` viewed as 4 uint8 are
    the counts (3 = missing) of its samples 0..3. Built in the kernel that uses it (256 words):
    numba does not cache a kernel that reads a global array of this size."""
    table = np.empty(1024, dtype=np.uint8)
    for byte in range(256):
        for s in range(4):
            table[4 * byte + s] = CODE_TO_COUNT[(byte >> (2 * s)) & 3]
    return table.view(np.uint32)


@numba.njit(inline="always")
def call_buffer(n_bytes):
    """A buffer of ``4 n_bytes`` counts and its view as words, for :func:`decode_words`."""
    calls = np.empty(4 * n_bytes, dtype=np.uint8)
    return calls, calls.view(np.uint32)


@numba.njit(inline="always")
def decode_words(packed_row, table, first_byte, n_bytes, words):
    """Counts of the samples in bytes ``first_byte..first_byte + n_bytes - 1`` of a SNP's row
    into ``words`` (a :func:`call_buffer`), one table lookup per byte; the samples past the
    cohort's end in its last byte decode as junk that callers never read."""
    for b in range(n_bytes):
        words[b] = table[packed_row[first_byte + b]]


@numba.njit(parallel=True, cache=True)
def _decode_snps(packed, n, snps, out):
    lut = CODE_TO_COUNT
    for t in numba.prange(snps.shape[0]):
        decode_row(packed[snps[t]], lut, 0, n, out[t])


def decode_snps(packed: np.ndarray, n_samples: int, snps) -> np.ndarray:
    """Counts of the SNPs ``snps`` (indices) as a len(snps) x N uint8 matrix (3 = missing)."""
    snps = np.ascontiguousarray(snps, dtype=np.int64)
    out = np.empty((snps.shape[0], n_samples), dtype=np.uint8)
    _decode_snps(packed, n_samples, snps, out)
    return out


@numba.njit(parallel=True, cache=True)
def _allele_counts(packed, n, out):
    table = code_words()
    n_bytes = packed.shape[1]
    for j in numba.prange(packed.shape[0]):
        calls, words = call_buffer(n_bytes)
        decode_words(packed[j], table, 0, n_bytes, words)
        copies = 0.0
        observed = 0.0
        for i in range(n):
            if calls[i] < 3:
                copies += calls[i]
                observed += 1.0
        out[j, 0] = copies
        out[j, 1] = observed


def allele_counts(packed: np.ndarray, n_samples: int) -> np.ndarray:
    """Per SNP: copies of the counted allele and observed calls (M x 2)."""
    out = np.empty((packed.shape[0], 2))
    _allele_counts(packed, n_samples, out)
    return out


_SAMPLE_BLOCK = 256  # samples per parallel block (a multiple of 4: whole bytes)


@numba.njit(parallel=True, cache=True)
def observed_per_sample(packed, n):
    """Observed calls of every sample."""
    m = packed.shape[0]
    n_blocks = (n + _SAMPLE_BLOCK - 1) // _SAMPLE_BLOCK
    out = np.zeros(n)
    table = code_words()
    for blk in numba.prange(n_blocks):
        start = blk * _SAMPLE_BLOCK
        stop = min(start + _SAMPLE_BLOCK, n)
        n_bytes = (stop - start + 3) // 4
        calls, words = call_buffer(n_bytes)
        counts = np.zeros(stop - start)
        for j in range(m):
            decode_words(packed[j], table, start >> 2, n_bytes, words)
            for t in range(stop - start):
                if calls[t] < 3:
                    counts[t] += 1.0
        for t in range(stop - start):
            out[start + t] = counts[t]
    return out
