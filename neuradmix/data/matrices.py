"""ADMIXTURE's ``.Q`` and ``.P`` files: whitespace-separated matrices without a header.

``.Q`` is samples x K (rows in ``.fam`` order, rows on the simplex); ``.P`` is SNPs x K (rows in
``.bim`` order, the frequency of the ``.bim`` column-5 allele in each cluster).
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np

from ..errors import InputError


def write_matrix(path: str | os.PathLike, matrix: np.ndarray, digits: int = 6) -> None:
    """Write a whitespace-separated matrix the way ADMIXTURE does (fixed decimals, no header)."""
    np.savetxt(path, np.asarray(matrix, dtype=np.float64), fmt=f"%.{digits}f", delimiter=" ")


def read_matrix(path: str | os.PathLike, what: str) -> np.ndarray:
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: file not found; give the path of an existing {what} file.")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            matrix = np.loadtxt(path, dtype=np.float64, ndmin=2)
    except ValueError as exc:
        raise InputError(
            f"{path}: not a valid {what} file ({exc}); expected whitespace-separated numbers, "
            "one row per line, as ADMIXTURE writes them."
        ) from None
    if matrix.size == 0:
        raise InputError(f"{path}: the {what} file is empty.")
    if not np.isfinite(matrix).all():
        raise InputError(f"{path}: the {what} file contains NaN or infinite values.")
    return matrix


def read_q(path: str | os.PathLike, n_samples: int | None = None) -> np.ndarray:
    """Read an ADMIXTURE ``.Q`` (samples x K, rows in ``.fam`` order)."""
    q = read_matrix(path, ".Q")
    if n_samples is not None and q.shape[0] != n_samples:
        raise InputError(
            f"{path}: {q.shape[0]} rows, but the genotype data have {n_samples} samples; use the "
            ".Q file that was written for this .fam."
        )
    if (q < -1e-6).any() or np.abs(q.sum(axis=1) - 1).max() > 1e-3:
        raise InputError(
            f"{path}: rows of a .Q file must be non-negative and sum to 1; this is not a .Q file."
        )
    q = np.clip(q, 0.0, None)
    return q / q.sum(axis=1, keepdims=True)


def read_p(path: str | os.PathLike, n_snps: int | None = None) -> np.ndarray:
    """Read an ADMIXTURE ``.P`` (SNPs x K, rows in ``.bim`` order, column-5 allele frequency)."""
    p = read_matrix(path, ".P")
    if n_snps is not None and p.shape[0] != n_snps:
        raise InputError(
            f"{path}: {p.shape[0]} rows, but the genotype data have {n_snps} SNPs; use the .P file "
            "that was written for this .bim (same SNPs, same order)."
        )
    if (p < 0).any() or (p > 1).any():
        raise InputError(f"{path}: allele frequencies in a .P file must lie in [0, 1].")
    return p


# ADMIXTURE keeps allele frequencies inside [1e-5, 1 - 1e-5], so no genotype ever gets
# probability zero; every .P written here is bounded the same way, whatever fitted it.
P_BOUND = 1e-5


def write_q(path: str | os.PathLike, q: np.ndarray, digits: int = 6) -> None:
    """Write an ADMIXTURE ``.Q`` (samples x K)."""
    write_matrix(path, q, digits)


def bound_p(p: np.ndarray) -> np.ndarray:
    """``p`` bounded to [1e-5, 1 - 1e-5], as ADMIXTURE writes a ``.P``."""
    p = np.asarray(p, dtype=np.float64)
    if not np.isfinite(p).all() or p.min(initial=0.0) < -1e-6 or p.max(initial=0.0) > 1 + 1e-6:
        raise ValueError("allele frequencies to write must be finite and lie in [0, 1].")
    return np.clip(p, P_BOUND, 1.0 - P_BOUND)


def as_written(q: np.ndarray | None, p: np.ndarray | None, digits: int = 6):
    """The values a reader gets back from :func:`write_q` and :func:`write_p` (Q rows
    renormalised after rounding), so every tool is scored on what its files say."""
    if q is not None:
        q = np.round(np.asarray(q, dtype=np.float64), digits)
        q /= q.sum(axis=1, keepdims=True)
    if p is not None:
        p = np.round(bound_p(p), digits)
    return q, p


def write_p(path: str | os.PathLike, p: np.ndarray, digits: int = 6) -> None:
    """Write an ADMIXTURE ``.P`` (SNPs x K), bounded to [1e-5, 1 - 1e-5] as ADMIXTURE does."""
    write_matrix(path, bound_p(p), digits)
