"""Standard errors of Q by a block bootstrap over SNPs (ADMIXTURE's ``-B``).

Neighbouring SNPs are linked, so SNPs are resampled in blocks of consecutive SNPs: the genome is
cut into blocks of ``block_cm`` centimorgans (from the ``.bim`` genetic positions; where a
chromosome has none, its base-pair positions at 1 cM per Mb), and each replicate draws as many
blocks as there are, with replacement. A replicate is then the same likelihood with every SNP
counted as often as its block was drawn (a per-SNP weight, 0 for blocks not drawn), refitted from
the full-data optimum by the fit's own iteration (:func:`neuradmix.classic.fit._iterate`: the
quasi-Newton acceleration and the stopping rule on the gain still to come) to the looser
tolerance ``BOOTSTRAP_TOL`` (:mod:`neuradmix.classic.defaults`), at most ``iterations``
iterations. The optimum moves little between replicates, so warm starts make a replicate cost a
fraction of a fit. The standard error of each entry of Q is the standard deviation over
replicates.

A replicate cut short underestimates the spread: measured on the ridge cohort of
``benchmarks/cohorts.py`` (1,000 x 15,619, K=3, 20 replicates), three plain block-relaxation
steps per replicate (6 passes) gave standard errors whose 10th percentile was 0.68 of those of
replicates run to convergence (41 passes); this loop with the defaults takes 20 passes and its
10th percentile is 0.99 (PSD 300 x 4,000: 0.86 against 0.99).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..compute.engines import make_engine
from ..data import Genotypes
from ..errors import InputError
from .defaults import BOOTSTRAP_TOL, DEFAULT_ACCELERATION, DEFAULT_BOOTSTRAP_ITER
from .fit import _iterate, _Iteration

DEFAULT_REPLICATES = 100
DEFAULT_BLOCK_CM = 5.0


@dataclass
class BootstrapResult:
    se: np.ndarray  # N x K standard errors of Q
    replicates: int
    blocks: int
    seconds: float


def snp_blocks(variants: pd.DataFrame, block_cm: float = DEFAULT_BLOCK_CM) -> np.ndarray:
    """Block number of every SNP: consecutive SNPs within ``block_cm`` on one chromosome."""
    if not block_cm > 0:
        raise InputError(f"--bootstrap-block {block_cm}: the block length must be positive.")
    chrom = variants["chrom"].astype(str).to_numpy()
    cm = variants["cm"].to_numpy(dtype=np.float64) if "cm" in variants else None
    pos = variants["pos"].to_numpy(dtype=np.float64)
    blocks = np.empty(len(variants), dtype=np.int64)
    offset = 0
    for name in pd.unique(chrom):
        rows = np.flatnonzero(chrom == name)
        coordinate = cm[rows] if cm is not None else None
        if coordinate is None or np.ptp(coordinate) <= 0:
            coordinate = pos[rows] / 1e6  # no genetic map: 1 cM per Mb
        local = np.floor((coordinate - coordinate.min()) / block_cm).astype(np.int64)
        _, local = np.unique(local, return_inverse=True)
        blocks[rows] = offset + local
        offset += int(local.max()) + 1
    return blocks


def replicate_weights(blocks: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Per-SNP weights of one replicate: how often the SNP's block was drawn."""
    n_blocks = int(blocks.max()) + 1
    counts = np.bincount(rng.integers(0, n_blocks, size=n_blocks), minlength=n_blocks)
    return counts[blocks].astype(np.float64)


def bootstrap_se(
    genotypes: Genotypes,
    q: np.ndarray,
    p: np.ndarray,
    *,
    replicates: int = DEFAULT_REPLICATES,
    block_cm: float = DEFAULT_BLOCK_CM,
    iterations: int = DEFAULT_BOOTSTRAP_ITER,
    seed: int = 42,
    device: str | None = "cpu",
    fixed_rows: np.ndarray | None = None,
    tol: float = BOOTSTRAP_TOL,
    acceleration: str = DEFAULT_ACCELERATION,
    progress=None,
) -> BootstrapResult:
    """Standard errors of ``q`` (the fit ``q``, ``p`` of ``genotypes``) from ``replicates`` block
    bootstrap refits, each warm-started at (``q``, ``p``) and iterated to ``tol`` or for at most
    ``iterations`` iterations."""
    if replicates < 2:
        raise InputError(f"--bootstrap {replicates}: at least 2 replicates are needed.")
    if iterations < 1:
        raise InputError(f"--bootstrap-iter {iterations}: at least one iteration is needed.")
    started = time.perf_counter()
    blocks = snp_blocks(genotypes.variants, block_cm)
    n_blocks = int(blocks.max()) + 1
    if n_blocks < 2:
        raise InputError(
            f"{genotypes.source}: all SNPs fall in one bootstrap block of {block_cm} cM; use a "
            "shorter --bootstrap-block (the standard errors need many blocks)."
        )
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0xB007]))
    fixed_q = None if fixed_rows is None else q[fixed_rows]
    total = np.zeros_like(q)
    squares = np.zeros_like(q)
    for replicate in range(1, replicates + 1):
        tick = time.perf_counter()
        weights = replicate_weights(blocks, rng)
        engine = make_engine(genotypes, device, weights=weights)
        iteration = _Iteration(engine, fixed_rows, fixed_q, fix_f=False)
        run = _iterate(
            iteration,
            q,
            np.ascontiguousarray(p),
            tol=tol,
            max_iter=iterations,
            progress=None,
            stage="bootstrap",
            acceleration=acceleration,
        )
        ll = run.trace[-1]
        total += run.q
        squares += run.q * run.q
        if progress is not None:
            progress("bootstrap", replicate, ll, time.perf_counter() - tick)
    mean = total / replicates
    variance = np.maximum(squares / replicates - mean * mean, 0.0) * replicates / (replicates - 1)
    return BootstrapResult(
        se=np.sqrt(variance),
        replicates=replicates,
        blocks=n_blocks,
        seconds=time.perf_counter() - started,
    )
