"""A cohort's genotypes, held 2-bit packed in memory exactly as a PLINK ``.bed`` stores them.

Allele orientation, said once for the whole package
----------------------------------------------------
A genotype value is the number of copies (0, 1, 2) of the allele in column 5 of the ``.bim`` file
(PLINK's "A1"; the ALT allele in files made by ``plink2 --make-bed``). This is the allele ADMIXTURE
and fastmixture count, so every ``.P`` row is the frequency of the column-5 allele and a ``.P`` from
ADMIXTURE, fastmixture or neuradmix can be used interchangeably. Missing calls are :data:`MISSING`
(3) once decoded and never count as an allele.

Storage
-------
``packed`` is the SNP-major byte matrix of a ``.bed`` (one row of ``ceil(N / 4)`` bytes per SNP,
sample ``i`` in bits ``2 (i % 4)`` of byte ``i // 4``), so a cohort costs N x M / 4 bytes. Kernels
that stream over SNPs decode it on the fly (:data:`CODE_TO_COUNT`); :attr:`Genotypes.calls` decodes
the whole N x M uint8 matrix once for code that needs random access by sample.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numba
import numpy as np
import pandas as pd

MISSING = np.uint8(3)

# BED two-bit codes -> copies of the column-5 allele (00 hom A1, 01 missing, 10 het, 11 hom A2).
CODE_TO_COUNT = np.array([2, MISSING, 1, 0], dtype=np.uint8)
# Copies (0, 1, 2, missing) -> BED code.
COUNT_TO_CODE = np.array([0b11, 0b10, 0b00, 0b01], dtype=np.uint8)


def bytes_per_snp(n_samples: int) -> int:
    return (n_samples + 3) // 4


@numba.njit(parallel=True, cache=True)
def _unpack(packed, n_samples, lut, out):
    """Decode SNP-major ``packed`` (M x B) into ``out`` (N x M, sample-major)."""
    n_snps = packed.shape[0]
    block = 64
    for b in numba.prange((n_snps + block - 1) // block):
        start = b * block
        stop = min(start + block, n_snps)
        for i in range(n_samples):
            byte_index = i >> 2
            shift = 2 * (i & 3)
            for j in range(start, stop):
                out[i, j] = lut[(packed[j, byte_index] >> shift) & 3]


@numba.njit(parallel=True, cache=True)
def _pack(calls, code, out):
    """Encode ``calls`` (N x M counts, values > 2 missing) into SNP-major ``out`` (M x B)."""
    n_samples, n_snps = calls.shape
    for j in numba.prange(n_snps):
        for b in range(out.shape[1]):
            value = 0
            for slot in range(4):
                i = 4 * b + slot
                if i < n_samples:
                    g = calls[i, j]
                    value |= code[g if g < 3 else 3] << (2 * slot)
            out[j, b] = value


def pack_calls(calls: np.ndarray) -> np.ndarray:
    """N x M counts (uint8, :data:`MISSING` or any value above 2 for missing) -> BED bytes."""
    calls = np.ascontiguousarray(calls, dtype=np.uint8)
    out = np.empty((calls.shape[1], bytes_per_snp(calls.shape[0])), dtype=np.uint8)
    _pack(calls, COUNT_TO_CODE, out)
    return out


def unpack_calls(packed: np.ndarray, n_samples: int) -> np.ndarray:
    """BED bytes (M x B) -> N x M uint8 counts with :data:`MISSING`."""
    out = np.empty((n_samples, packed.shape[0]), dtype=np.uint8)
    _unpack(np.ascontiguousarray(packed), n_samples, CODE_TO_COUNT, out)
    return out


@dataclass(eq=False)
class Genotypes:
    """A cohort: packed genotypes plus its ``.fam`` and ``.bim`` tables.

    ``samples`` has columns ``fid`` and ``iid`` in ``.fam`` order; ``variants`` has ``chrom``,
    ``snp``, ``cm``, ``pos``, ``a1`` (counted allele) and ``a2`` in ``.bim`` order.
    """

    packed: np.ndarray
    samples: pd.DataFrame
    variants: pd.DataFrame
    source: str = "<memory>"
    _calls: np.ndarray | None = field(default=None, repr=False)
    # Allele counts per SNP (sum, observed), computed once: the packed bytes are never changed
    # in place (masking or selecting makes a new Genotypes).
    _counts: np.ndarray | None = field(default=None, repr=False, compare=False)

    @classmethod
    def from_calls(
        cls, calls: np.ndarray, samples: pd.DataFrame, variants: pd.DataFrame, source="<memory>"
    ) -> Genotypes:
        """Wrap an N x M count matrix (it is packed; the matrix itself is kept as the decoding)."""
        calls = np.ascontiguousarray(calls, dtype=np.uint8)
        return cls(pack_calls(calls), samples, variants, source, calls)

    @property
    def n_samples(self) -> int:
        return len(self.samples)

    @property
    def n_snps(self) -> int:
        return self.packed.shape[0]

    @property
    def calls(self) -> np.ndarray:
        """The N x M uint8 matrix of counts (decoded on first use, then kept)."""
        if self._calls is None:
            self._calls = unpack_calls(self.packed, self.n_samples)
        return self._calls

    @property
    def sample_ids(self) -> np.ndarray:
        return self.samples["iid"].to_numpy(dtype=str)

    @property
    def snp_ids(self) -> np.ndarray:
        return self.variants["snp"].to_numpy(dtype=str)

    def select_snps(self, index) -> Genotypes:
        index = np.asarray(index)
        calls = None if self._calls is None else np.ascontiguousarray(self._calls[:, index])
        counts = None if self._counts is None else self._counts[index]
        return Genotypes(
            np.ascontiguousarray(self.packed[index]),
            self.samples,
            self.variants.iloc[index].reset_index(drop=True),
            self.source,
            calls,
            counts,
        )

    def select_samples(self, index) -> Genotypes:
        index = np.asarray(index)
        return Genotypes.from_calls(
            self.calls[index],
            self.samples.iloc[index].reset_index(drop=True),
            self.variants,
            self.source,
        )


def make_genotypes(calls, sample_ids=None, snp_ids=None, chrom="1", positions=None, alleles=None):
    """Build a :class:`Genotypes` from a count matrix (tests, simulations); NaN is missing."""
    calls = np.asarray(calls)
    if calls.dtype != np.uint8:
        calls = (
            np.where(np.isnan(calls), MISSING, calls).astype(np.uint8)
            if calls.dtype.kind == "f"
            else calls.astype(np.uint8)
        )
    n_samples, n_snps = calls.shape
    sample_ids = (
        [f"ind{i + 1}" for i in range(n_samples)] if sample_ids is None else list(sample_ids)
    )
    snp_ids = [f"snp{j + 1}" for j in range(n_snps)] if snp_ids is None else list(snp_ids)
    positions = np.arange(1, n_snps + 1) * 1000 if positions is None else np.asarray(positions)
    a1, a2 = ("A", "G") if alleles is None else alleles
    samples = pd.DataFrame({"fid": sample_ids, "iid": sample_ids})
    variants = pd.DataFrame(
        {
            "chrom": [str(chrom)] * n_snps if np.isscalar(chrom) else [str(c) for c in chrom],
            "snp": snp_ids,
            "cm": np.zeros(n_snps),
            "pos": positions.astype(np.int64),
            "a1": a1 if not np.isscalar(a1) else [a1] * n_snps,
            "a2": a2 if not np.isscalar(a2) else [a2] * n_snps,
        }
    )
    return Genotypes.from_calls(calls, samples, variants)
