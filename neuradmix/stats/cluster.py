"""K-means (Lloyd's algorithm with k-means++ seeding), for PCK-Means on a few principal axes.

Written out here rather than taken from scikit-learn so that a fit does not load scikit-learn
(about 90 MB and half a second at start-up) for a clustering of N points in at most 6 dimensions.
"""

from __future__ import annotations

import numpy as np


def _plus_plus(points: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """k-means++ seeding (Arthur & Vassilvitskii 2007): centres drawn with probability
    proportional to the squared distance to the nearest centre already chosen."""
    n = points.shape[0]
    centres = np.empty((k, points.shape[1]))
    centres[0] = points[rng.integers(n)]
    closest = ((points - centres[0]) ** 2).sum(axis=1)
    for c in range(1, k):
        total = closest.sum()
        index = rng.choice(n, p=closest / total) if total > 0 else rng.integers(n)
        centres[c] = points[index]
        closest = np.minimum(closest, ((points - centres[c]) ** 2).sum(axis=1))
    return centres


def _lloyd(points, centres, max_iter: int, tol: float):
    for _ in range(max_iter):
        distances = ((points[:, None, :] - centres[None, :, :]) ** 2).sum(axis=2)
        labels = distances.argmin(axis=1)
        moved = 0.0
        for c in range(centres.shape[0]):
            members = points[labels == c]
            if len(members):
                new = members.mean(axis=0)
                moved = max(moved, float(((new - centres[c]) ** 2).sum()))
                centres[c] = new
        if moved <= tol:
            break
    distances = ((points[:, None, :] - centres[None, :, :]) ** 2).sum(axis=2)
    labels = distances.argmin(axis=1)
    inertia = float(distances[np.arange(points.shape[0]), labels].sum())
    return labels, centres, inertia


def kmeans(
    points: np.ndarray, k: int, seed: int = 0, n_init: int = 10, max_iter: int = 300
) -> np.ndarray:
    """Cluster labels (0..k-1) of the best of ``n_init`` seeded runs (lowest inertia)."""
    points = np.asarray(points, dtype=np.float64)
    if k > points.shape[0]:
        raise ValueError(f"{k} clusters for {points.shape[0]} points")
    rng = np.random.default_rng(seed)
    scale = float(points.var(axis=0).mean()) if points.size else 0.0
    tol = 1e-4 * scale
    best = None
    for _ in range(n_init):
        labels, _, inertia = _lloyd(points, _plus_plus(points, k, rng), max_iter, tol)
        if best is None or inertia < best[1]:
            best = (labels, inertia)
    return best[0].astype(np.int64)
