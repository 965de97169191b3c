"""Genotypes drawn from the Pritchard-Stephens-Donnelly (ADMIXTURE) model with known Q and F.

Used by the tests and benchmarks to check that a fit recovers a planted truth.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..data import MISSING, Genotypes, make_genotypes


@dataclass
class PlantedCohort:
    genotypes: Genotypes
    q: np.ndarray  # N x K true ancestry proportions
    p: np.ndarray  # M x K true allele frequencies (.P orientation)
    labels: np.ndarray  # dominant true component of each sample, as "pop1".."popK"


def simulate_psd(
    n_samples: int,
    n_snps: int,
    k: int,
    fst: float = 0.1,
    alpha: float = 0.5,
    missing_rate: float = 0.0,
    seed: int = 0,
    block: int = 8192,
) -> PlantedCohort:
    """Draw a cohort: Q ~ Dirichlet(alpha), F ~ Balding-Nichols(ancestral ~ U(0.05, 0.95), fst).

    Genotypes are Binomial(2, Q F^T), drawn in SNP blocks so memory stays at the uint8 matrix.
    """
    rng = np.random.default_rng(seed)
    q = rng.dirichlet(np.full(k, alpha), size=n_samples)
    ancestral = rng.uniform(0.05, 0.95, size=n_snps)
    scale = (1.0 - fst) / fst
    p = rng.beta(
        (ancestral * scale)[:, None].repeat(k, 1), ((1.0 - ancestral) * scale)[:, None].repeat(k, 1)
    )
    p = np.clip(p, 1e-6, 1 - 1e-6)
    calls = np.empty((n_samples, n_snps), dtype=np.uint8)
    for start in range(0, n_snps, block):
        stop = min(start + block, n_snps)
        expected = q @ p[start:stop].T
        calls[:, start:stop] = rng.binomial(2, expected).astype(np.uint8)
    if missing_rate > 0:
        mask = rng.random((n_samples, n_snps)) < missing_rate
        calls[mask] = MISSING
    labels = np.array([f"pop{c + 1}" for c in q.argmax(axis=1)], dtype=object)
    return PlantedCohort(make_genotypes(calls), q, p, labels)
