"""Principal components of a genotype matrix, for the encoder, the initialisations and the figures.

Genotypes are standardised per SNP as in Patterson et al. (2006): ``(g - 2p) * scale`` with ``p``
the observed frequency of the counted allele and ``scale = 1 / sqrt(2p(1-p))`` (0 for monomorphic
SNPs, which therefore contribute nothing); missing calls become 0, the SNP mean. Standardised
blocks of SNPs are made on the fly, so the float matrix of the cohort never exists.

Two solvers share that standardisation and :class:`GenotypePCA`:

* ``randomized`` (default): a range finder with power iterations in float32, streamed over SNP
  blocks; what training uses.
* ``exact``: the eigendecomposition of the N x N Gram matrix accumulated in float64, for the
  figures (a few thousand individuals at most) and wherever the exact axes matter.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np

from .frequencies import allele_frequencies

_BLOCK = 4096


@numba.njit(parallel=True, cache=True, fastmath=True, error_model="numpy")
def _standardised_block(calls, rows, start, stop, centre, scale, out):
    width = stop - start
    for r in numba.prange(rows.shape[0]):
        row = calls[rows[r], start:stop]
        target = out[r]
        for t in range(width):
            g = row[t]
            value = (g - centre[start + t]) * scale[start + t]
            target[t] = value if g != 3 else 0.0


@dataclass
class GenotypePCA:
    """A fitted PCA: per-SNP centring and scaling, SNP loadings and the samples' scores."""

    centre: np.ndarray  # M, 2 x allele frequency
    scale: np.ndarray  # M, 1 / sqrt(2p(1-p)); 0 for monomorphic SNPs
    loadings: np.ndarray  # M x d: projection of a standardised sample onto the PCs
    scores: np.ndarray  # N x d: the fitted samples' coordinates (X @ loadings)
    singular_values: np.ndarray
    # Sum of squares of the standardised matrix (exact solver only; NaN otherwise).
    total_variance: float = float("nan")

    @property
    def n_components(self) -> int:
        return self.loadings.shape[1]

    @property
    def explained(self) -> np.ndarray:
        """Fraction of the total variance carried by each component."""
        if not np.isfinite(self.total_variance) or self.total_variance <= 0:
            return np.zeros_like(self.singular_values)
        return self.singular_values**2 / self.total_variance

    def transform(self, calls: np.ndarray) -> np.ndarray:
        """Coordinates of samples (rows of ``calls``, same SNPs and order) on the PCs."""
        rows = np.arange(calls.shape[0])
        return _multiply(calls, rows, self.centre, self.scale, self.loadings)

    def project_frequencies(self, p: np.ndarray) -> np.ndarray:
        """Coordinates of cluster centres given allele frequencies ``p`` (SNPs x K, .P layout).

        A centre is placed where an individual whose genotypes are ``2 p`` would be.
        """
        p = np.asarray(p, dtype=np.float64)
        if p.shape[0] != self.loadings.shape[0]:
            raise ValueError(
                f"frequency matrix has {p.shape[0]} SNPs, the PCA was fitted on "
                f"{self.loadings.shape[0]}."
            )
        standard = (2.0 * p.T - self.centre) * self.scale
        return standard @ self.loadings.astype(np.float64)


def _standardised_blocks(calls, rows, centre, scale, dtype, block=_BLOCK):
    """``(start, stop, X[rows, start:stop] standardised)`` for consecutive SNP blocks."""
    for start in range(0, calls.shape[1], block):
        stop = min(start + block, calls.shape[1])
        out = np.empty((rows.shape[0], stop - start), dtype=dtype)
        _standardised_block(calls, rows, start, stop, centre, scale, out)
        yield start, stop, out


def _multiply(calls, rows, centre, scale, right):
    """Standardised X[rows] @ right, with right M x l (computed in right's precision)."""
    out = np.zeros((rows.shape[0], right.shape[1]), dtype=np.float64)
    for start, stop, block in _standardised_blocks(calls, rows, centre, scale, right.dtype):
        out += block @ right[start:stop]
    return out.astype(right.dtype)


def _multiply_transposed(calls, rows, centre, scale, left):
    """Standardised X[rows]^T @ left, with left N x l; returns M x l in left's precision."""
    out = np.empty((calls.shape[1], left.shape[1]), dtype=left.dtype)
    for start, stop, block in _standardised_blocks(calls, rows, centre, scale, left.dtype):
        out[start:stop] = block.T @ left
    return out


def _standardisation(calls: np.ndarray, rows: np.ndarray):
    freq, observed = allele_frequencies(calls if rows is None else calls[rows])
    centre = 2.0 * freq
    variance = 2.0 * freq * (1.0 - freq)
    scale = np.where(variance > 1e-12, 1.0 / np.sqrt(np.maximum(variance, 1e-12)), 0.0)
    return centre, scale


def _fix_signs(loadings: np.ndarray, scores: np.ndarray) -> None:
    """Deterministic signs: the largest-magnitude score of each component is positive."""
    d = scores.shape[1]
    signs = np.sign(scores[np.abs(scores).argmax(axis=0), np.arange(d)])
    signs[signs == 0] = 1.0
    loadings *= signs.astype(loadings.dtype)
    scores *= signs.astype(scores.dtype)


def fit_pca(
    calls: np.ndarray,
    n_components: int,
    seed: int = 0,
    power_iterations: int = 2,
    oversample: int = 10,
    rows: np.ndarray | None = None,
    method: str = "randomized",
    block: int = _BLOCK,
) -> GenotypePCA:
    """Top ``n_components`` principal components of the standardised genotypes of ``rows``.

    ``method`` is ``randomized`` (float32, streamed) or ``exact`` (float64 Gram matrix).
    """
    subset = None if rows is None else np.asarray(rows)
    rows = np.arange(calls.shape[0]) if subset is None else subset
    centre, scale = _standardisation(calls, subset)
    n, m = len(rows), calls.shape[1]
    if n < 2 or m < 1:
        raise ValueError("PCA needs at least two samples and one SNP.")
    d = max(1, min(n_components, n - 1, m))
    if method == "exact":
        return _exact(calls, rows, centre, scale, d, block)
    if method != "randomized":
        raise ValueError(f"unknown PCA method {method!r}")
    width = min(d + oversample, n, m)
    rng = np.random.default_rng(seed)
    # Randomised range finder for X (N x M), orthonormalising only the small N-side basis: each
    # power iteration applies X X^T, and QR of an N x width matrix is cheap.
    gaussian = rng.standard_normal((m, width)).astype(np.float32)
    basis, _ = np.linalg.qr(_multiply(calls, rows, centre, scale, gaussian).astype(np.float64))
    for _ in range(power_iterations):
        snp_side = _multiply_transposed(calls, rows, centre, scale, basis.astype(np.float32))
        basis, _ = np.linalg.qr(_multiply(calls, rows, centre, scale, snp_side).astype(np.float64))
    # X^T B = V S W^T: its right singular vectors come from the small Gram matrix W S^2 W^T.
    small = _multiply_transposed(calls, rows, centre, scale, basis.astype(np.float32))
    small = small.astype(np.float64)  # M x w
    eigenvalues, eigenvectors = np.linalg.eigh(small.T @ small)
    top = np.argsort(eigenvalues)[::-1][:d]
    singular = np.sqrt(np.maximum(eigenvalues[top], 1e-300))
    vt = ((small @ eigenvectors[:, top]) / singular).T  # d x M, orthonormal rows
    loadings = vt[:d].T.astype(np.float32)  # M x d, unit columns
    # Scores are computed exactly as new samples will be projected (X @ loadings), so a model
    # assigns its own training samples the same Q at inference as at the end of training.
    scores = _multiply(calls, rows, centre, scale, loadings)
    _fix_signs(loadings, scores)
    return GenotypePCA(
        centre=centre.astype(np.float64),
        scale=scale.astype(np.float64),
        loadings=loadings,
        scores=scores,
        singular_values=singular.astype(np.float64),
    )


def _exact(calls, rows, centre, scale, d, block) -> GenotypePCA:
    """Eigendecomposition of the float64 Gram matrix, accumulated one SNP block at a time."""
    n, m = rows.shape[0], calls.shape[1]
    gram = np.zeros((n, n))
    for _, _, standard in _standardised_blocks(calls, rows, centre, scale, np.float64, block):
        gram += standard @ standard.T
    values, vectors = np.linalg.eigh(gram)
    top = np.argsort(values)[::-1][:d]
    values = np.clip(values[top], 0.0, None)
    vectors = vectors[:, top]
    singular = np.sqrt(values)
    loadings = np.zeros((m, d))
    for start, stop, standard in _standardised_blocks(
        calls, rows, centre, scale, np.float64, block
    ):
        loadings[start:stop] = standard.T @ vectors
    loadings /= np.where(singular > 0, singular, 1.0)
    scores = vectors * singular
    _fix_signs(loadings, scores)
    return GenotypePCA(
        centre=centre.astype(np.float64),
        scale=scale.astype(np.float64),
        loadings=loadings,
        scores=scores,
        singular_values=singular,
        total_variance=float(np.trace(gram)),
    )
