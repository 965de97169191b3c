"""The paper's evaluation metrics (Benchmark setup) and ADMIXTURE's log-likelihood.

* ``log_likelihood``: ADMIXTURE's ``sum g log p + (2 - g) log(1 - p)`` (what it prints as
  ``Loglikelihood:``); ``L_C`` of Equation 1 is its negative.
* ``l_n_lambda0``: ``L_N`` of Equation 2 with lambda = 0, which Equation 3 shows is ``L_C / 2``.
* ``ami``: adjusted mutual information between the dominant component and the labels (Eq. 6).
* ``delta``: ``||Q Q^T - Y Y^T||_F^2 / N^2`` (Eq. 7), computed without forming N x N matrices.
* ``rmse_q``: root mean squared error of Q against a truth after the best column matching.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment
from sklearn.metrics import adjusted_mutual_info_score

from .errors import InputError
from .kernels import log_likelihood


def l_n_lambda0(loglik: float) -> float:
    return -0.5 * loglik


def one_hot(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One-hot matrix of the known labels (rows with ``""`` dropped) and the kept row mask."""
    labels = np.asarray(labels, dtype=object)
    known = np.array([str(x) != "" for x in labels])
    names = sorted({str(x) for x in labels[known]})
    index = {name: c for c, name in enumerate(names)}
    y = np.zeros((int(known.sum()), len(names)))
    y[np.arange(y.shape[0]), [index[str(x)] for x in labels[known]]] = 1.0
    return y, known


def ami(q: np.ndarray, labels: np.ndarray) -> float:
    """AMI between argmax(Q) and the labels, over samples with a known label."""
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


def match_columns(q: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Column order of ``q`` that best matches ``truth`` (minimum squared difference)."""
    cost = ((q[:, :, None] - truth[:, None, :]) ** 2).sum(axis=0)  # K_q x K_truth
    rows, cols = linear_sum_assignment(cost)
    order = np.empty(truth.shape[1], dtype=np.int64)
    order[cols] = rows
    return order


def rmse_q(q: np.ndarray, truth: np.ndarray) -> float:
    """RMSE of Q against a truth Q after optimal matching of the clusters."""
    if q.shape != truth.shape:
        raise InputError(
            f"the truth Q has shape {truth.shape[0]} x {truth.shape[1]} but the estimate "
            f"{q.shape[0]} x {q.shape[1]}; compare files with the same samples and K."
        )
    order = match_columns(q, truth)
    return float(np.sqrt(np.mean((q[:, order] - truth) ** 2)))


def evaluate(calls, q, p=None, labels=None, truth_q=None) -> dict:
    """All metrics that the inputs allow; missing ones are NaN."""
    result = {
        "k": q.shape[1],
        "n_samples": calls.shape[0],
        "n_snps": calls.shape[1],
        "log_likelihood": float("nan"),
        "l_n_lambda0": float("nan"),
        "ami": float("nan"),
        "delta": float("nan"),
        "rmse_q": float("nan"),
    }
    if p is not None:
        loglik = log_likelihood(calls, q, p)
        result["log_likelihood"] = loglik
        result["l_n_lambda0"] = l_n_lambda0(loglik)
    if labels is not None:
        result["ami"] = ami(q, labels)
        result["delta"] = delta(q, labels)
    if truth_q is not None:
        result["rmse_q"] = rmse_q(q, truth_q)
    return result


METRIC_COLUMNS = [
    "k",
    "n_samples",
    "n_snps",
    "log_likelihood",
    "l_n_lambda0",
    "ami",
    "delta",
    "rmse_q",
]


def format_row(values: dict) -> str:
    def fmt(value):
        if isinstance(value, (int, np.integer)):
            return str(int(value))
        if value is None or (isinstance(value, float) and np.isnan(value)):
            return "NA"
        return f"{value:.10g}"

    return "\t".join(fmt(values[c]) for c in METRIC_COLUMNS)
