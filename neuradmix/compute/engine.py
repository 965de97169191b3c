"""The interface of a compute engine: the passes over the genotypes that the fits are built from.

An engine holds one cohort (optionally with per-SNP weights, for the bootstrap, or a held-out
fold of calls, for cross-validation) and counts its passes over the genotypes in ``passes``.
:class:`~neuradmix.compute.numba_engine.NumbaEngine` runs them on the CPU,
:class:`~neuradmix.compute.torch_engine.TorchEngine` with torch tensors (CUDA);
:func:`neuradmix.compute.engines.make_engine` chooses one.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np


class Engine(ABC):
    """Passes over one cohort's genotypes at a point (Q N x K, F M x K)."""

    passes: float

    @abstractmethod
    def frequencies(self, q: np.ndarray, f: np.ndarray, steps: int = 1):
        """(F after ``steps`` Newton steps per SNP, log-likelihood at (Q, F)); F unchanged for
        ``steps = 0``."""

    def log_likelihood(self, q: np.ndarray, f: np.ndarray) -> float:
        """The log-likelihood at (Q, F) (one pass)."""
        return self.frequencies(q, f, steps=0)[1]

    @abstractmethod
    def ancestry_model(self, q: np.ndarray, f: np.ndarray):
        """The second-order model of every sample's log-likelihood in its ``q_i`` at (Q, F): the
        gradient (N x K) and minus the Hessian (N x K x K), both taken along the simplex (a
        multiple of (1, ..., 1) is left out, which changes neither for a step that keeps
        ``sum(q_i) = 1``); one pass over the genotypes."""

    @abstractmethod
    def ancestry(
        self,
        q: np.ndarray,
        f: np.ndarray,
        fixed: np.ndarray | None,
        entropy: np.ndarray | None = None,
        rows: np.ndarray | None = None,
    ) -> np.ndarray:
        """Newton-updated Q at (Q, F); rows where ``fixed`` is True are kept. ``entropy`` (one
        weight per sample) adds ``entropy_i * H(q_i)`` to each sample's objective (the neural
        method's lambda). ``rows`` (sample indices) limits the step to those samples; the others
        keep their Q."""
