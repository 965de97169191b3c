"""Principal components of a genotype matrix without ever holding it as floats.

Genotypes are standardised per SNP as in Patterson et al. (2006): ``(g - 2p) / sqrt(2p(1-p))`` with
``p`` the observed allele frequency; missing calls become 0 (the SNP mean) and monomorphic SNPs
contribute nothing. The SVD is a randomised range finder with power iterations, streamed over SNP
blocks that are standardised on the fly, so memory stays near the uint8 matrix.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np

from .io import MISSING

_BLOCK = 4096


@numba.njit(parallel=True, cache=True, fastmath=True, error_model="numpy")
def _standardised_block(calls, rows, start, stop, centre, scale, out):
    centre_block = centre[start:stop]
    scale_block = scale[start:stop]
    width = stop - start
    for r in numba.prange(rows.shape[0]):
        row = calls[rows[r], start:stop]
        target = out[r]
        for t in range(width):
            g = row[t]
            value = (np.float32(g) - centre_block[t]) * scale_block[t]
            target[t] = value if g != 3 else np.float32(0.0)


def allele_frequencies(calls: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Frequency of the counted allele per SNP (0.5 where nothing is observed) and call counts."""
    sums = np.zeros(calls.shape[1])
    observed = np.zeros(calls.shape[1])
    for start in range(0, calls.shape[0], 256):
        block = calls[start : start + 256]
        mask = block != MISSING
        sums += np.where(mask, block, 0).sum(axis=0, dtype=np.float64)
        observed += mask.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        freq = np.where(observed > 0, sums / np.maximum(observed, 1) / 2.0, 0.5)
    return freq, observed


@dataclass
class GenotypePCA:
    """A fitted PCA: per-SNP centring and scaling, SNP loadings and the sample scores."""

    centre: np.ndarray  # M, 2 * allele frequency
    scale: np.ndarray  # M, 1 / sqrt(2p(1-p)), 0 for monomorphic SNPs
    loadings: np.ndarray  # M x d, float32: projection of a standardised sample onto the PCs
    scores: np.ndarray  # N x d, float32: the training samples' coordinates
    singular_values: np.ndarray

    @property
    def n_components(self) -> int:
        return self.loadings.shape[1]

    def transform(self, calls: np.ndarray) -> np.ndarray:
        """Coordinates of new samples (rows of ``calls``, same SNPs and order) on the PCs."""
        rows = np.arange(calls.shape[0])
        return _multiply(calls, rows, self.centre, self.scale, self.loadings)


def _multiply(calls, rows, centre, scale, right):
    """Standardised X[rows] @ right, with right M x l."""
    out = np.zeros((rows.shape[0], right.shape[1]), dtype=np.float64)
    for start in range(0, calls.shape[1], _BLOCK):
        stop = min(start + _BLOCK, calls.shape[1])
        block = np.empty((rows.shape[0], stop - start), dtype=np.float32)
        _standardised_block(calls, rows, start, stop, centre, scale, block)
        out += block @ right[start:stop]
    return out.astype(np.float32)


def _multiply_transposed(calls, rows, centre, scale, left):
    """Standardised X[rows]^T @ left, with left N x l; returns M x l."""
    out = np.empty((calls.shape[1], left.shape[1]), dtype=np.float32)
    left = left.astype(np.float32)
    for start in range(0, calls.shape[1], _BLOCK):
        stop = min(start + _BLOCK, calls.shape[1])
        block = np.empty((rows.shape[0], stop - start), dtype=np.float32)
        _standardised_block(calls, rows, start, stop, centre, scale, block)
        out[start:stop] = block.T @ left
    return out


def fit_pca(
    calls: np.ndarray,
    n_components: int,
    seed: int = 0,
    power_iterations: int = 2,
    oversample: int = 10,
    rows: np.ndarray | None = None,
) -> GenotypePCA:
    """Top ``n_components`` principal components of the standardised genotypes of ``rows``."""
    rows = np.arange(calls.shape[0]) if rows is None else np.asarray(rows)
    sub = calls if rows is None else calls[rows]
    freq, _ = allele_frequencies(sub)
    centre = 2.0 * freq
    variance = 2.0 * freq * (1.0 - freq)
    scale = np.where(variance > 1e-12, 1.0 / np.sqrt(np.maximum(variance, 1e-12)), 0.0)
    n, m = len(rows), calls.shape[1]
    d = max(1, min(n_components, n - 1, m))
    width = min(d + oversample, n, m)
    rng = np.random.default_rng(seed)
    # Randomised range finder for X (N x M), orthonormalising only the small N-side basis: each
    # power iteration applies X X^T, and QR of an N x width matrix is cheap.
    gaussian = rng.standard_normal((m, width)).astype(np.float32)
    basis, _ = np.linalg.qr(_multiply(calls, rows, centre, scale, gaussian).astype(np.float64))
    for _ in range(power_iterations):
        snp_side = _multiply_transposed(calls, rows, centre, scale, basis)
        basis, _ = np.linalg.qr(_multiply(calls, rows, centre, scale, snp_side).astype(np.float64))
    # X^T B = V S W^T: its right singular vectors come from the small Gram matrix W S^2 W^T.
    small = _multiply_transposed(calls, rows, centre, scale, basis).astype(np.float64)  # M x w
    eigenvalues, eigenvectors = np.linalg.eigh(small.T @ small)
    top = np.argsort(eigenvalues)[::-1][:d]
    singular = np.sqrt(np.maximum(eigenvalues[top], 1e-300))
    vt = ((small @ eigenvectors[:, top]) / singular).T  # d x M, orthonormal rows
    loadings = vt[:d].T.astype(np.float32)  # M x d, unit columns
    # Scores are computed exactly as new samples will be projected (X @ loadings), so a model
    # assigns its own training samples the same Q at inference as at the end of training.
    scores = _multiply(calls, rows, centre, scale, loadings)
    # Deterministic signs: the largest-magnitude score of each component is positive.
    signs = np.sign(scores[np.abs(scores).argmax(axis=0), np.arange(d)])
    signs[signs == 0] = 1.0
    loadings *= signs
    scores *= signs
    return GenotypePCA(
        centre=centre.astype(np.float64),
        scale=scale.astype(np.float64),
        loadings=loadings,
        scores=scores,
        singular_values=singular.astype(np.float64),
    )
