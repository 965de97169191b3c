"""The compute engine on the CPU: the passes of :mod:`neuradmix.compute.kernels` (numba) over the
packed genotypes, behind the interface of :class:`neuradmix.compute.engines.Engine`."""

from __future__ import annotations

import numba
import numpy as np

from ..data import Genotypes
from . import kernels
from .bounds import F_MAX, F_MIN, Q_MIN
from .engine import Engine


class NumbaEngine(Engine):
    """The two passes on the CPU (numba), optionally with per-SNP weights (bootstrap) or a
    held-out fold of calls (cross-validation)."""

    def __init__(
        self,
        genotypes: Genotypes,
        weights: np.ndarray | None = None,
        holdout: tuple[int, int, int] | None = None,
    ):
        self.genotypes = genotypes
        self.packed = np.ascontiguousarray(genotypes.packed)
        self.n = genotypes.n_samples
        self.weights = (
            np.zeros(0) if weights is None else np.ascontiguousarray(weights, dtype=np.float64)
        )
        self.seed, self.folds, self.heldout = holdout if holdout is not None else (0, 0, 0)
        groups = max(1, min(kernels.SNP_GROUPS, self.packed.shape[0]))
        self._ll_groups = np.zeros(groups)
        self.passes = 0.0

    def frequencies(self, q: np.ndarray, f: np.ndarray, steps: int = 1):
        """(F after ``steps`` Newton steps per SNP, log-likelihood at (Q, F)); F unchanged for
        ``steps = 0``."""
        qt = np.ascontiguousarray(q.T)
        f = np.ascontiguousarray(f)
        f_out = np.empty_like(f) if steps else f
        kernels.frequency_pass(
            self.packed,
            self.n,
            qt,
            f,
            f_out,
            steps,
            F_MIN,
            F_MAX,
            self.weights,
            self.seed,
            self.folds,
            self.heldout,
            self._ll_groups,
        )
        self.passes += 1
        return f_out, float(self._ll_groups.sum())

    def ancestry_model(self, q: np.ndarray, f: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """As :meth:`Engine.ancestry_model`."""
        stats = self._ancestry_stats(np.ascontiguousarray(q.T), f, np.zeros(0, dtype=np.int64))
        self.passes += 1
        return kernels.unpack_model(stats, q.shape[1])

    def _ancestry_stats(self, qt: np.ndarray, f: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """One ancestry pass: every sample's (or ``rows``') gradient and Hessian sums in q,
        packed K + K(K+1)/2 rows per sample."""
        k, n = qt.shape
        stats = np.empty((k + k * (k + 1) // 2, n))
        kernels.ancestry_pass(
            self.packed,
            n,
            qt,
            np.ascontiguousarray(f),
            self.weights,
            self.seed,
            self.folds,
            self.heldout,
            stats,
            rows,
            numba.get_num_threads(),
        )
        return stats

    def ancestry(
        self,
        q: np.ndarray,
        f: np.ndarray,
        fixed: np.ndarray | None,
        entropy: np.ndarray | None = None,
        rows: np.ndarray | None = None,
    ) -> np.ndarray:
        """As :meth:`Engine.ancestry`; a pass over ``rows`` costs in proportion to their
        number."""
        if rows is not None:
            rows = np.ascontiguousarray(rows, dtype=np.int64)
            q_rows = q[rows]
            n = len(rows)
        else:
            rows = np.zeros(0, dtype=np.int64)
            q_rows = q
            n = self.n
        qt = np.ascontiguousarray(q_rows.T)
        stats = self._ancestry_stats(qt, f, rows)
        subset = len(rows) > 0
        if entropy is not None:
            weight = np.asarray(entropy, dtype=np.float64)
            kernels.add_entropy(qt, np.ascontiguousarray(weight[rows] if subset else weight), stats)
        q_out = np.empty_like(q_rows)
        fixed = np.zeros(0, dtype=np.bool_) if fixed is None else fixed
        if subset and len(fixed):
            fixed = np.ascontiguousarray(fixed[rows])
        kernels.ancestry_newton(qt, stats, Q_MIN, fixed, q_out)
        self.passes += n / self.n
        if not subset:
            return q_out
        result = np.array(q, dtype=np.float64, copy=True)
        result[rows] = q_out
        return result
