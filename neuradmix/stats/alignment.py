"""Aligning the clusters of many ``Q`` matrices of the same samples, within and across K, and
grouping the runs of one K into modes: the approach of Clumppling (Liu et al. 2024).

* The cost of two matrices of the same shape is ``||P - Q||_F^2 / (2N)`` (0 for identical
  matrices, at most 1), and their similarity CLUMPP's ``G' = 1 - sqrt(cost)``.
* Within one K, a run's columns are permuted onto the reference's by the permutation of least
  cost. Clumppling solves it as an integer programme; with equal K that programme is an
  assignment problem, which the Hungarian method (:func:`~neuradmix.stats.metrics.match_columns`)
  solves exactly.
* Across K, the reference of K is matched to the aligned reference of K-1 as Clumppling does:
  every pair of its columns is tried merged into one, the rest matched one to one; the pair whose
  merge fits best is the cluster that split. Of the two, the one closer to the matched cluster
  keeps its label and the other takes the new label K-1, so that column ``j`` is one cluster at
  every K. (When a K is missing in between, the extra columns are those the Hungarian method
  leaves unmatched, numbered in column order.)
* The modes of one K are the groups of runs whose pairwise ``G'`` (each pair under its own best
  permutation) reaches a threshold, by complete linkage: every two runs of a mode are that
  similar. (Clumppling detects communities in the same similarity graph; a threshold needs no
  extra dependencies and says plainly what a mode means.)

Everything works on arrays; :mod:`neuradmix.steps.align` reads and writes the files and
:mod:`neuradmix.report.figures` colours the figures with the same labels.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from itertools import combinations

import numpy as np
from scipy.optimize import linear_sum_assignment

from .metrics import match_columns

DEFAULT_MODE_THRESHOLD = 0.9


def alignment_cost(p: np.ndarray, q: np.ndarray) -> float:
    """Clumppling's cost ``||P - Q||_F^2 / (2N)`` of two matrices of the same shape, in [0, 1]
    for rows on the simplex."""
    p = np.asarray(p, dtype=np.float64)
    q = np.asarray(q, dtype=np.float64)
    if p.shape != q.shape:
        raise ValueError(f"Q matrices of different shapes ({p.shape} vs {q.shape}).")
    return float(np.square(p - q).sum() / (2 * p.shape[0]))


def g_prime(p: np.ndarray, q: np.ndarray) -> float:
    """CLUMPP's similarity ``G' = 1 - sqrt(cost)`` of two matrices already aligned."""
    return float(1.0 - np.sqrt(min(max(alignment_cost(p, q), 0.0), 1.0)))


def permute(q: np.ndarray, permutation) -> np.ndarray:
    """``q`` with column ``j`` moved to column ``permutation[j]`` (its reference label)."""
    q = np.asarray(q)
    permutation = np.asarray(permutation, dtype=np.int64)
    if sorted(permutation.tolist()) != list(range(q.shape[1])):
        raise ValueError(f"{permutation.tolist()} is not a permutation of {q.shape[1]} columns.")
    aligned = np.empty_like(q)
    aligned[:, permutation] = q
    return aligned


def within_k_permutation(reference: np.ndarray, q: np.ndarray) -> np.ndarray:
    """The reference column of each column of ``q`` (same K) under the permutation of least
    cost."""
    reference = np.asarray(reference, dtype=np.float64)
    q = np.asarray(q, dtype=np.float64)
    if reference.shape != q.shape:
        raise ValueError(f"Q matrices of different shapes ({reference.shape} vs {q.shape}).")
    reference_columns, q_columns, _ = match_columns(reference, q, criterion="squared")
    permutation = np.empty(q.shape[1], dtype=np.int64)
    permutation[q_columns] = reference_columns
    return permutation


def across_k_permutation(reference: np.ndarray, q: np.ndarray) -> np.ndarray:
    """The label of each column of ``q`` (K columns) given the aligned ``reference`` of a smaller
    K: the reference's columns keep their labels, the clusters new at this K take labels from the
    reference's K upwards. One more column: the best split (module docstring)."""
    reference = np.asarray(reference, dtype=np.float64)
    q = np.asarray(q, dtype=np.float64)
    if reference.shape[0] != q.shape[0]:
        raise ValueError(
            f"Q matrices describe different samples ({reference.shape[0]} vs {q.shape[0]})."
        )
    k_ref, k = reference.shape[1], q.shape[1]
    if k <= k_ref:
        raise ValueError(f"aligning across K needs a larger K than the reference's ({k_ref}).")
    # Every squared distance from the Gram matrices: O(N K^2) once, then O(K^3) per pair.
    qq = q.T @ q
    qr = q.T @ reference
    rr = np.einsum("ij,ij->j", reference, reference)
    single = np.diag(qq)[:, None] + rr[None, :] - 2.0 * qr  # column of q vs column of reference
    permutation = np.empty(k, dtype=np.int64)
    if k > k_ref + 1:
        rows, cols = linear_sum_assignment(single)
        permutation[rows] = cols
        matched = set(rows.tolist())
        unmatched = [c for c in range(k) if c not in matched]
        permutation[unmatched] = np.arange(k_ref, k)
        return permutation
    best = None
    for a, b in combinations(range(k), 2):
        others = [c for c in range(k) if c not in (a, b)]
        merged = qq[a, a] + qq[b, b] + 2.0 * qq[a, b] + rr - 2.0 * (qr[a] + qr[b])
        cost = np.vstack([single[others], merged[None, :]])
        rows, cols = linear_sum_assignment(cost)
        total = float(cost[rows, cols].sum())
        if best is None or total < best[0] - 1e-12:
            best = (total, a, b, others, rows, cols)
    _, a, b, others, rows, cols = best
    target = None
    for row, col in zip(rows, cols, strict=True):
        if row < len(others):
            permutation[others[row]] = col
        else:
            target = col
    keeper, other = (a, b) if single[a, target] <= single[b, target] else (b, a)
    permutation[keeper] = target
    permutation[other] = k_ref
    return permutation


@dataclass(frozen=True)
class Alignment:
    """How one run at one K was aligned: the reference label of each of its columns, the
    (run, K) it was aligned to (None for the run that defines the labels) and its ``G'`` with the
    reference of its K once aligned (1 for that reference)."""

    permutation: np.ndarray
    aligned_to: tuple[str, int] | None
    similarity: float


def reference_runs(keys, reference: str) -> dict[int, str]:
    """The reference run of each K: ``reference`` where it has that K, else the first run (in
    the order given) that has it."""
    references: dict[int, str] = {}
    for name, k in keys:
        if k not in references or (name == reference and references[k] != reference):
            references[k] = name
    return references


def align_runs(
    qs: Mapping[tuple[str, int], np.ndarray], reference: str | None = None
) -> dict[tuple[str, int], Alignment]:
    """Align every ``Q`` (keyed by ``(run, K)``, all of the same samples) to one labelling.

    The labels are those of the smallest K's reference run (``reference`` when it has that K,
    else the first run that does; ``reference`` defaults to the first run given). The reference
    of each larger K is aligned across K to the aligned reference of the K before it, and every
    other run to the reference of its own K. Column ``j`` of every aligned matrix then holds
    cluster ``j``, at every K.
    """
    if not qs:
        return {}
    matrices = {key: np.asarray(q, dtype=np.float64) for key, q in qs.items()}
    n_samples = next(iter(matrices.values())).shape[0]
    for (name, k), q in matrices.items():
        if q.ndim != 2 or q.shape[0] != n_samples:
            raise ValueError("aligning needs Q matrices of the same samples (same rows).")
        if q.shape[1] != k:
            raise ValueError(f"{name}: K={k} but {q.shape[1]} columns.")
    if reference is None:
        reference = next(iter(matrices))[0]
    references = reference_runs(matrices, reference)
    result: dict[tuple[str, int], Alignment] = {}
    aligned_reference: dict[int, np.ndarray] = {}
    previous = None
    for k in sorted(references):
        key = (references[k], k)
        q = matrices[key]
        if previous is None:
            permutation = np.arange(k)
        else:
            permutation = across_k_permutation(aligned_reference[previous], q)
        aligned_reference[k] = permute(q, permutation)
        aligned_to = None if previous is None else (references[previous], previous)
        result[key] = Alignment(permutation, aligned_to, 1.0)
        previous = k
    for key, q in matrices.items():
        if key in result:
            continue
        k = key[1]
        permutation = within_k_permutation(aligned_reference[k], q)
        similarity = g_prime(aligned_reference[k], permute(q, permutation))
        result[key] = Alignment(permutation, (references[k], k), similarity)
    return {key: result[key] for key in matrices}


def pairwise_similarity(qs) -> np.ndarray:
    """``G'`` of every pair of ``Q`` matrices of one K, each pair under its own best
    permutation (1 on the diagonal)."""
    qs = [np.asarray(q, dtype=np.float64) for q in qs]
    similarity = np.eye(len(qs))
    for i, j in combinations(range(len(qs)), 2):
        aligned = permute(qs[j], within_k_permutation(qs[i], qs[j]))
        similarity[i, j] = similarity[j, i] = g_prime(qs[i], aligned)
    return similarity


def find_modes(qs, threshold: float = DEFAULT_MODE_THRESHOLD) -> tuple[np.ndarray, np.ndarray]:
    """Modes of the runs of one K: returns the mode of each run (1 for the largest mode, ties
    broken by the earliest run) and the pairwise ``G'`` matrix. Two runs share a mode only if
    every pair of runs in it has ``G' >= threshold`` (complete linkage)."""
    from scipy.cluster.hierarchy import fcluster, linkage
    from scipy.spatial.distance import squareform

    if not 0.0 <= threshold <= 1.0:
        raise ValueError(f"the mode threshold {threshold} must lie between 0 and 1.")
    similarity = pairwise_similarity(qs)
    n = similarity.shape[0]
    if n < 2:
        return np.ones(n, dtype=np.int64), similarity
    distance = squareform(np.clip(1.0 - similarity, 0.0, None), checks=False)
    groups = fcluster(
        linkage(distance, method="complete"), t=1.0 - threshold + 1e-12, criterion="distance"
    )
    order = sorted(
        set(groups.tolist()), key=lambda g: (-(groups == g).sum(), np.argmax(groups == g))
    )
    renumber = {g: i + 1 for i, g in enumerate(order)}
    return np.array([renumber[g] for g in groups], dtype=np.int64), similarity
