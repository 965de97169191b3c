"""The bounds of the ADMIXTURE model's parameters, as ADMIXTURE sets them, and the one clamp of a
call's probability inside every logarithm.

``f`` lies in ``[F_MIN, F_MAX] = [1e-5, 1 - 1e-5]`` and every row of ``Q`` on the simplex with
``q >= Q_MIN = 1e-5``; ``p = q_i . f_j`` is kept inside ``[PROBABILITY_FLOOR, 1 -
PROBABILITY_FLOOR]`` where a logarithm or a division takes it.
"""

from __future__ import annotations

import numpy as np

F_MIN = 1e-5
F_MAX = 1.0 - 1e-5
Q_MIN = 1e-5
# p is kept inside [PROBABILITY_FLOOR, 1 - PROBABILITY_FLOOR] inside every logarithm.
PROBABILITY_FLOOR = 1e-10


def project_to_simplex(rows: np.ndarray) -> np.ndarray:
    """Euclidean projection of each row onto the probability simplex (Duchi et al. 2008)."""
    n, k = rows.shape
    ordered = -np.sort(-rows, axis=1)
    cumulative = np.cumsum(ordered, axis=1) - 1.0
    steps = np.arange(1, k + 1)
    support = ordered - cumulative / steps > 0
    last = k - 1 - np.argmax(support[:, ::-1], axis=1)
    threshold = cumulative[np.arange(n), last] / (last + 1)
    return np.maximum(rows - threshold[:, None], 0.0)


def project_q(q: np.ndarray) -> np.ndarray:
    """Rows onto ``{q >= Q_MIN, sum = 1}`` (Euclidean projection)."""
    k = q.shape[1]
    shifted = project_to_simplex((np.asarray(q, dtype=np.float64) - Q_MIN) / (1.0 - k * Q_MIN))
    return Q_MIN + (1.0 - k * Q_MIN) * shifted


def project_f(f: np.ndarray) -> np.ndarray:
    return np.clip(f, F_MIN, F_MAX)
