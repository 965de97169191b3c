"""Principal components of a genotype matrix, for the encoder, the initialisations and the figures.

Genotypes are standardised per SNP as in Patterson et al. (2006): ``(g - 2p) * scale`` with ``p``
the observed frequency of the counted allele and ``scale = 1 / sqrt(2p(1-p))`` (0 for monomorphic
SNPs, which therefore contribute nothing); missing calls become 0, the SNP mean. Standardised
blocks of SNPs are made on the fly from a :class:`neuradmix.data.Genotypes` (decoded from its
packed bytes) or from an N x M matrix of counts, so the float matrix of the cohort never exists.
A PCA may use a subset of the SNPs (``snps``); it then projects new samples on that subset.

Two solvers share that standardisation and :class:`GenotypePCA`:

* ``randomized`` (default): a range finder with power iterations in float32, streamed over SNP
  blocks; what training uses.
* ``exact``: the eigendecomposition of the N x N Gram matrix accumulated in float64, for the
  figures (a few thousand individuals at most) and wherever the exact axes matter.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numba
import numpy as np

from ..data import Genotypes
from ..data.packed import decode_snps
from .frequencies import allele_frequencies

_BLOCK = 2048


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


@numba.njit(parallel=True, cache=True, fastmath=True, error_model="numpy")
def _standardised_decoded(decoded, rows, start, centre, scale, out):
    """``decoded`` is SNPs x N (from the packed bytes); ``out`` is SNPs x rows, SNP-major like
    the bytes, so both sides are read and written contiguously."""
    width = decoded.shape[0]
    all_rows = rows.shape[0] == decoded.shape[1]
    for t in numba.prange(width):
        source = decoded[t]
        target = out[t]
        c = centre[start + t]
        sc = scale[start + t]
        for r in range(rows.shape[0]):
            g = source[r] if all_rows else source[rows[r]]
            value = (g - c) * sc
            target[r] = value if g != 3 else 0.0


# SNPs summed in single precision by the packed projection before its sums move to double.
_FLUSH = 256
_SAMPLE_BLOCK = 512  # samples per parallel block of the packed projection (a multiple of 4)


@numba.njit(parallel=True, cache=True, fastmath=True)
def _project_packed(packed, n, snps, table, out, observed):
    """``out[i, c] = sum_t table[t, code(i, snps[t]), c]`` over the chosen SNPs, straight from
    the 2-bit codes of a .bed (``table[t, code]`` is that genotype's standardised value times the
    loadings; 0 for the missing code), and ``observed[i]``: sample i's calls among them."""
    d = table.shape[2]
    n_blocks = (n + _SAMPLE_BLOCK - 1) // _SAMPLE_BLOCK
    for blk in numba.prange(n_blocks):
        start = blk * _SAMPLE_BLOCK
        stop = min(start + _SAMPLE_BLOCK, n)
        width = stop - start
        first = start >> 2
        partial = np.zeros((d, width), dtype=np.float32)
        total = np.zeros((d, width))
        counts = np.zeros(width)
        codes = np.empty(width, dtype=np.uint8)
        for t in range(snps.shape[0]):
            row = packed[snps[t]]
            for s in range(width):
                code = (row[first + (s >> 2)] >> (2 * (s & 3))) & 3
                codes[s] = code
                counts[s] += code != 1
            for c in range(d):
                v0 = table[t, 0, c]
                v1 = table[t, 1, c]
                v2 = table[t, 2, c]
                v3 = table[t, 3, c]
                target = partial[c]
                for s in range(width):
                    code = codes[s]
                    target[s] += (
                        v0 if code == 0 else (v1 if code == 1 else (v2 if code == 2 else v3))
                    )
            if (t + 1) % _FLUSH == 0:
                for c in range(d):
                    for s in range(width):
                        total[c, s] += partial[c, s]
                        partial[c, s] = 0.0
        for c in range(d):
            for s in range(width):
                out[start + s, c] = total[c, s] + partial[c, s]
        for s in range(width):
            observed[start + s] = counts[s]


@dataclass
class GenotypePCA:
    """A fitted PCA: per-SNP centring and scaling, SNP loadings and the samples' scores.

    ``centre``, ``scale`` and ``loadings`` describe the SNPs ``snps`` (indices into the cohort's
    SNPs; ``None`` for all of them)."""

    centre: np.ndarray  # M', 2 x allele frequency
    scale: np.ndarray  # M', 1 / sqrt(2p(1-p)); 0 for monomorphic SNPs
    loadings: np.ndarray  # M' x d: projection of a standardised sample onto the PCs
    scores: np.ndarray  # N x d: the fitted samples' coordinates (X @ loadings)
    singular_values: np.ndarray
    # Sum of squares of the standardised matrix (exact solver only; NaN otherwise).
    total_variance: float = float("nan")
    snps: np.ndarray | None = None

    @property
    def n_components(self) -> int:
        return self.loadings.shape[1]

    @property
    def explained(self) -> np.ndarray:
        """Fraction of the total variance carried by each component."""
        if not np.isfinite(self.total_variance) or self.total_variance <= 0:
            return np.zeros_like(self.singular_values)
        return self.singular_values**2 / self.total_variance

    def transform(self, source) -> np.ndarray:
        """Coordinates of samples (a ``Genotypes`` or rows of a count matrix, with the fitted
        cohort's SNPs in its order) on the PCs; double precision for a ``Genotypes``."""
        if isinstance(source, Genotypes):
            return self.coordinates(source)[0]
        data = _Source(source, None, self.snps)
        return _multiply(data, self.centre, self.scale, self.loadings)

    def coordinates(self, genotypes: Genotypes) -> tuple[np.ndarray, np.ndarray]:
        """(N x d coordinates in double precision, observed calls of each sample among the
        PCA's SNPs): one pass over the packed genotypes, no float matrix of them."""
        snps = np.arange(genotypes.n_snps) if self.snps is None else np.asarray(self.snps)
        counts = np.array([2.0, 0.0, 1.0, 0.0])  # copies of the counted allele per 2-bit code
        standard = (counts[None, :] - self.centre[:, None]) * self.scale[:, None]  # M' x 4
        standard[:, 1] = 0.0  # a missing call sits at the SNP's mean
        table = (standard[:, :, None] * self.loadings[:, None, :]).astype(np.float32)
        out = np.empty((genotypes.n_samples, self.n_components))
        observed = np.empty(genotypes.n_samples)
        _project_packed(
            np.ascontiguousarray(genotypes.packed),
            genotypes.n_samples,
            np.ascontiguousarray(snps, dtype=np.int64),
            np.ascontiguousarray(table),
            out,
            observed,
        )
        return out, observed

    def project_frequencies(self, p: np.ndarray) -> np.ndarray:
        """Coordinates of cluster centres given allele frequencies ``p`` (SNPs x K, .P layout).

        A centre is placed where an individual whose genotypes are ``2 p`` would be.
        """
        p = np.asarray(p, dtype=np.float64)
        if self.snps is not None and p.shape[0] != self.loadings.shape[0]:
            p = p[self.snps]
        if p.shape[0] != self.loadings.shape[0]:
            raise ValueError(
                f"frequency matrix has {p.shape[0]} SNPs, the PCA was fitted on "
                f"{self.loadings.shape[0]}."
            )
        standard = (2.0 * p.T - self.centre) * self.scale
        return standard @ self.loadings.astype(np.float64)


class _Source:
    """Rows ``rows`` and SNPs ``snps`` of a ``Genotypes`` (packed) or of a count matrix."""

    def __init__(self, source, rows, snps):
        self.packed = isinstance(source, Genotypes)
        if self.packed:
            self.genotypes = source
            n, m = source.n_samples, source.n_snps
        else:
            self.calls = np.asarray(source)
            n, m = self.calls.shape
        self.rows = np.arange(n) if rows is None else np.asarray(rows, dtype=np.int64)
        self.snps = np.arange(m) if snps is None else np.asarray(snps, dtype=np.int64)
        if not self.packed and snps is not None:
            self.calls = np.ascontiguousarray(self.calls[:, self.snps])

    @property
    def n_rows(self) -> int:
        return self.rows.shape[0]

    @property
    def n_snps(self) -> int:
        return self.snps.shape[0]

    def frequencies(self) -> np.ndarray:
        """Allele frequency of each chosen SNP among the chosen rows."""
        if not self.packed:
            rows_all = self.rows.shape[0] == self.calls.shape[0]
            return allele_frequencies(self.calls if rows_all else self.calls[self.rows])[0]
        if self.n_rows == self.genotypes.n_samples:
            return allele_frequencies(self.genotypes)[0][self.snps]
        freq = np.empty(self.n_snps)
        for start in range(0, self.n_snps, _BLOCK):
            chosen = self.snps[start : start + _BLOCK]
            decoded = decode_snps(self.genotypes.packed, self.genotypes.n_samples, chosen)
            freq[start : start + len(chosen)] = allele_frequencies(decoded[:, self.rows].T)[0]
        return freq

    def blocks(self, centre, scale, dtype, block=_BLOCK):
        """``(start, stop, X)``: the standardised rows x SNPs[start:stop] block."""
        for start in range(0, self.n_snps, block):
            stop = min(start + block, self.n_snps)
            if self.packed:
                decoded = decode_snps(
                    self.genotypes.packed, self.genotypes.n_samples, self.snps[start:stop]
                )
                snp_major = np.empty((stop - start, self.n_rows), dtype=dtype)
                _standardised_decoded(decoded, self.rows, start, centre, scale, snp_major)
                out = snp_major.T  # a view: BLAS reads it as a transposed matrix
            else:
                out = np.empty((self.n_rows, stop - start), dtype=dtype)
                _standardised_block(self.calls, self.rows, start, stop, centre, scale, out)
            yield start, stop, out


def _multiply(data: _Source, centre, scale, right):
    """Standardised X @ right, with right M' x l (computed in right's precision)."""
    out = np.zeros((data.n_rows, right.shape[1]), dtype=np.float64)
    for start, stop, block in data.blocks(centre, scale, right.dtype):
        out += block @ right[start:stop]
    return out.astype(right.dtype)


def _multiply_transposed(data: _Source, centre, scale, left):
    """Standardised X^T @ left, with left N' x l; returns M' x l in left's precision."""
    out = np.empty((data.n_snps, left.shape[1]), dtype=left.dtype)
    for start, stop, block in data.blocks(centre, scale, left.dtype):
        out[start:stop] = block.T @ left
    return out


def _standardisation(data: _Source):
    freq = data.frequencies()
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
    source,
    n_components: int,
    seed: int = 0,
    power_iterations: int = 2,
    oversample: int = 10,
    rows: np.ndarray | None = None,
    method: str = "randomized",
    block: int = _BLOCK,
    snps: np.ndarray | None = None,
) -> GenotypePCA:
    """Top ``n_components`` principal components of the standardised genotypes of ``rows``
    (default: all samples) on ``snps`` (default: all SNPs) of ``source`` (a ``Genotypes`` or an
    N x M count matrix).

    ``method`` is ``randomized`` (float32, streamed) or ``exact`` (float64 Gram matrix).
    """
    data = _Source(source, rows, snps)
    centre, scale = _standardisation(data)
    n, m = data.n_rows, data.n_snps
    if n < 2 or m < 1:
        raise ValueError("PCA needs at least two samples and one SNP.")
    d = max(1, min(n_components, n - 1, m))
    chosen = None if snps is None else data.snps
    if method == "exact":
        return _exact(data, centre, scale, d, block, chosen)
    if method != "randomized":
        raise ValueError(f"unknown PCA method {method!r}")
    width = min(d + oversample, n, m)
    rng = np.random.default_rng(seed)
    # Randomised range finder for X (N x M), orthonormalising only the small N-side basis: each
    # power iteration applies X X^T, and QR of an N x width matrix is cheap.
    gaussian = rng.standard_normal((m, width)).astype(np.float32)
    basis, _ = np.linalg.qr(_multiply(data, centre, scale, gaussian).astype(np.float64))
    for _ in range(power_iterations):
        snp_side = _multiply_transposed(data, centre, scale, basis.astype(np.float32))
        basis, _ = np.linalg.qr(_multiply(data, centre, scale, snp_side).astype(np.float64))
    # X^T B = V S W^T: its right singular vectors come from the small Gram matrix W S^2 W^T.
    small = _multiply_transposed(data, centre, scale, basis.astype(np.float32))
    small = small.astype(np.float64)  # M x w
    eigenvalues, eigenvectors = np.linalg.eigh(small.T @ small)
    top = np.argsort(eigenvalues)[::-1][:d]
    singular = np.sqrt(np.maximum(eigenvalues[top], 1e-300))
    vt = ((small @ eigenvectors[:, top]) / singular).T  # d x M, orthonormal rows
    loadings = vt[:d].T.astype(np.float32)  # M x d, unit columns
    # Scores are computed exactly as new samples will be projected (X @ loadings), so a model
    # assigns its own training samples the same Q at inference as at the end of training.
    scores = _multiply(data, centre, scale, loadings)
    _fix_signs(loadings, scores)
    return GenotypePCA(
        centre=centre.astype(np.float64),
        scale=scale.astype(np.float64),
        loadings=loadings,
        scores=scores,
        singular_values=singular.astype(np.float64),
        snps=chosen,
    )


def axes_above_noise(pca: GenotypePCA) -> int:
    """How many of the fitted axes carry structure: singular values above sqrt(N) + sqrt(M),
    the largest that N x M independent standardised genotypes give (the edge of the
    Marchenko-Pastur law; M counts the polymorphic SNPs, N the samples). Found on a 2,000 x
    100,000 coalescent cohort of 4 sources, a stdpopsim cohort of 3 sources and their mosaics,
    a 105-sample cohort of 5 populations and a PSD cohort of 5: 3, 2, 4 and 4 axes, the largest
    of the rest 0.90-0.99 x the edge and the smallest counted 1.2-5.2 x it. When every fitted
    axis is above the edge, that is their number (fit more to count further)."""
    n = pca.scores.shape[0]
    m = int(np.count_nonzero(pca.scale))
    edge = math.sqrt(n) + math.sqrt(m)
    return int(np.count_nonzero(pca.singular_values > edge))


def extend_to_all_snps(source: Genotypes, subset: GenotypePCA, n_components: int) -> GenotypePCA:
    """The leading ``n_components`` axes of a PCA fitted on a SNP subset (e.g. the common SNPs)
    carried to every SNP of ``source`` by one power step: loadings ``V = X^T U / |X^T U|`` from
    the subset's sample-side axes ``U``, scores ``X V`` (two passes over the genotypes). Every
    SNP then contributes to a sample's coordinates, so they are as precise as the whole genotype
    makes them (a subset of 10,000 SNPs leaves the coordinates of a 100,000-SNP cohort visibly
    noisier)."""
    d = max(1, min(n_components, subset.n_components))
    if subset.snps is None or len(subset.snps) == source.n_snps:
        layer = _first(subset, d)
        layer.scores = layer.transform(source)  # as new samples will be projected
        return layer
    data = _Source(source, None, None)
    centre, scale = _standardisation(data)
    sample_axes = subset.scores[:, :d].astype(np.float64)
    sample_axes /= np.maximum(np.linalg.norm(sample_axes, axis=0), 1e-300)
    loadings = _multiply_transposed(data, centre, scale, sample_axes.astype(np.float32))
    singular = np.linalg.norm(loadings.astype(np.float64), axis=0)
    loadings = (loadings / np.maximum(singular, 1e-30)).astype(np.float32)
    layer = GenotypePCA(
        centre=centre.astype(np.float64),
        scale=scale.astype(np.float64),
        loadings=loadings,
        scores=np.zeros((0, d), dtype=np.float32),
        singular_values=singular,
    )
    # The scores exactly as new samples will be projected (GenotypePCA.transform).
    layer.scores = layer.transform(source)
    _fix_signs(layer.loadings, layer.scores)
    return layer


def _first(pca: GenotypePCA, d: int) -> GenotypePCA:
    """The leading ``d`` axes of ``pca`` (a PCA over all SNPs)."""
    return GenotypePCA(
        centre=pca.centre,
        scale=pca.scale,
        loadings=np.ascontiguousarray(pca.loadings[:, :d]),
        scores=np.ascontiguousarray(pca.scores[:, :d]),
        singular_values=pca.singular_values[:d],
    )


def _exact(data: _Source, centre, scale, d, block, chosen) -> GenotypePCA:
    """Eigendecomposition of the float64 Gram matrix, accumulated one SNP block at a time."""
    n, m = data.n_rows, data.n_snps
    gram = np.zeros((n, n))
    for _, _, standard in data.blocks(centre, scale, np.float64, block):
        gram += standard @ standard.T
    values, vectors = np.linalg.eigh(gram)
    top = np.argsort(values)[::-1][:d]
    values = np.clip(values[top], 0.0, None)
    vectors = vectors[:, top]
    singular = np.sqrt(values)
    loadings = np.zeros((m, d))
    for start, stop, standard in data.blocks(centre, scale, np.float64, block):
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
        snps=chosen,
    )
