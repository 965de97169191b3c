"""Agreement between ancestry estimates, labels and truths (the paper's Benchmark setup).

* ``ami``: adjusted mutual information between the dominant component and the labels (Eq. 6).
* ``delta``: ``||Q Q^T - Y Y^T||_F^2 / N^2`` (Eq. 7), computed without forming N x N matrices.
* ``rmse_q``: root mean squared error of Q against a truth after the best column matching.
* ``match_columns``: the one place where clusters of two Q matrices are paired (Hungarian
  method), by squared difference (scoring) or by weighted Jaccard similarity (colours).
* ``l_n_lambda0``: ``L_N`` of Equation 2 with lambda = 0, which Equation 3 shows is ``-loglik/2``.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment

from ..data import is_unknown
from ..errors import InputError


def l_n_lambda0(loglik: float) -> float:
    return -0.5 * loglik


def one_hot(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One-hot matrix of the known labels (unknown rows dropped) and the kept row mask."""
    labels = np.asarray(labels, dtype=object)
    known = np.array([not is_unknown(x) for x in labels], dtype=bool)
    names = sorted({str(x) for x in labels[known]})
    index = {name: c for c, name in enumerate(names)}
    y = np.zeros((int(known.sum()), len(names)))
    y[np.arange(y.shape[0]), [index[str(x)] for x in labels[known]]] = 1.0
    return y, known


def ami(q: np.ndarray, labels: np.ndarray) -> float:
    """AMI between argmax(Q) and the labels, over samples with a known label."""
    # scikit-learn costs 55 MB and a second at import; only the report's metrics need it.
    from sklearn.metrics import adjusted_mutual_info_score

    _, known = one_hot(labels)
    if known.sum() < 2:
        return float("nan")
    return float(
        adjusted_mutual_info_score(np.asarray(labels)[known].astype(str), q[known].argmax(axis=1))
    )


def delta(q: np.ndarray, labels: np.ndarray) -> float:
    """Equation 7 over samples with a known label.

    ``||QQ^T - YY^T||_F^2 = ||Q^T Q||_F^2 + ||Y^T Y||_F^2 - 2 ||Q^T Y||_F^2``, which costs
    O(N K^2) instead of O(N^2).
    """
    y, known = one_hot(labels)
    if known.sum() == 0:
        return float("nan")
    q = q[known]
    n = q.shape[0]
    value = np.square(q.T @ q).sum() + np.square(y.T @ y).sum() - 2.0 * np.square(q.T @ y).sum()
    return float(max(value, 0.0) / n**2)


def column_similarity(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Weighted Jaccard similarity of every column of ``a`` with every column of ``b``.

    ``a`` and ``b`` are ancestry matrices of the same samples (N x Ka, N x Kb); entry (i, j) is
    ``sum(min(a_i, b_j)) / sum(max(a_i, b_j))``, 1 for identical columns and 0 for disjoint ones.
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape[0] != b.shape[0]:
        raise ValueError(f"Q matrices describe different samples ({a.shape[0]} vs {b.shape[0]}).")
    similarity = np.empty((a.shape[1], b.shape[1]))
    for j in range(b.shape[1]):
        column = b[:, [j]]
        overlap = np.minimum(a, column).sum(axis=0)
        union = np.maximum(a, column).sum(axis=0)
        similarity[:, j] = np.divide(overlap, union, out=np.zeros_like(overlap), where=union > 0)
    return similarity


def match_columns(
    reference: np.ndarray, q: np.ndarray, criterion: str = "squared"
) -> tuple[np.ndarray, np.ndarray, float]:
    """Best one-to-one pairing of the columns of ``reference`` with those of ``q``.

    Returns ``(reference_columns, q_columns, score)``: column ``reference_columns[t]`` pairs with
    ``q_columns[t]``. ``criterion`` is ``squared`` (smallest summed squared difference; ``score``
    is the mean squared difference of the pairs) or ``jaccard`` (largest weighted Jaccard
    similarity, :func:`column_similarity`; ``score`` is the mean similarity of the pairs).
    """
    reference = np.asarray(reference, dtype=np.float64)
    q = np.asarray(q, dtype=np.float64)
    if criterion == "squared":
        if reference.shape[0] != q.shape[0]:
            raise ValueError(
                f"Q matrices describe different samples ({reference.shape[0]} vs {q.shape[0]})."
            )
        cost = ((reference[:, :, None] - q[:, None, :]) ** 2).sum(axis=0)
        rows, cols = linear_sum_assignment(cost)
        return rows, cols, float(cost[rows, cols].mean() / reference.shape[0])
    if criterion == "jaccard":
        similarity = column_similarity(reference, q)
        rows, cols = linear_sum_assignment(similarity, maximize=True)
        return rows, cols, float(similarity[rows, cols].mean())
    raise ValueError(f"unknown matching criterion {criterion!r}")


def rmse_q(q: np.ndarray, truth: np.ndarray) -> float:
    """RMSE of Q against a truth Q after optimal matching of the clusters."""
    if q.shape != truth.shape:
        raise InputError(
            f"the truth Q has shape {truth.shape[0]} x {truth.shape[1]} but the estimate "
            f"{q.shape[0]} x {q.shape[1]}; compare files with the same samples and K."
        )
    truth_columns, q_columns, _ = match_columns(truth, q)
    order = np.empty(truth.shape[1], dtype=np.int64)
    order[truth_columns] = q_columns
    return float(np.sqrt(np.mean((q[:, order] - truth) ** 2)))


def entropy_of(q: np.ndarray) -> np.ndarray:
    """Entropy of each row of Q, ``-sum_k q_k log q_k`` (natural log; 0 for a hard assignment,
    ``log K`` for uniform Q)."""
    safe = np.clip(q, 1e-300, 1.0)
    return -(q * np.log(safe)).sum(axis=1)
