"""The refinement layer: Newton steps of each sample's Q given the decoder's F.

The encoder maps a sample to Q in one forward pass; the refinement takes that Q as its start and
solves the per-sample problem the decoder defines, ``max_q  log-likelihood(q | F) + c_i H(q)`` on
the simplex (``H`` the entropy, ``c_i`` lambda times the sample's observed calls), by exact Newton
steps (the small QP per sample of :mod:`neuradmix.classic.kernels`). One step from a start within
a few percent of the optimum lands within a few parts in ten thousand, a second within
rounding, so the network's output is the exact optimum given F wherever the encoder is close.
"""

from __future__ import annotations

import numpy as np

from ..classic.fit import project_q

# Largest change of any q_ik below which the refinement stops.
REFINE_TOL = 1e-7


def refine(
    engine,
    q: np.ndarray,
    f: np.ndarray,
    *,
    max_steps: int,
    fixed: np.ndarray | None = None,
    fixed_q: np.ndarray | None = None,
    entropy: np.ndarray | None = None,
    tol: float = REFINE_TOL,
) -> tuple[np.ndarray, int]:
    """Up to ``max_steps`` Newton steps from ``q``, each sample until its Q moves by less than
    ``tol``; rows where ``fixed`` is True are set to ``fixed_q`` and kept. Returns (Q, steps
    taken)."""
    q = project_q(q)
    if fixed is not None:
        q[fixed] = fixed_q
    steps = 0
    active = None  # all samples
    while steps < max_steps:
        q_new = engine.ancestry(q, f, fixed, entropy, rows=active)
        steps += 1
        moved = np.abs(q_new - q).max(axis=1) >= tol if q.size else np.zeros(0, dtype=bool)
        q = q_new
        # Samples still moving take the next step alone (a pass over few samples is cheap):
        # most converge in two or three steps, a few near the boundary of the simplex in more.
        active = np.flatnonzero(moved)
        if active.size == 0:
            break
    return q, steps
