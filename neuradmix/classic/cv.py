"""ADMIXTURE-style cross-validation: hold out genotype entries, refit, score the held-out ones.

:func:`cross_validate` takes the fit to run on each masked copy as a function, so the classic
engine (:func:`em_fold_fit`) and the neural one (``neuradmix.neural.run.neural_fold_fit``) share
the folds, the scoring and the output. :func:`read_cv_table` is the one reader of CV results,
whether a table written here or the ``CV error (K=k): x`` lines ADMIXTURE prints.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..data import MISSING, Genotypes, atomic_outputs
from ..errors import InputError
from . import em_kernels
from .defaults import DEFAULT_MAX_ITER, DEFAULT_TOL

# fit_fold(masked genotypes, K) -> (Q N x K, P M x K)
FoldFit = Callable[[Genotypes, int], tuple[np.ndarray, np.ndarray]]


@dataclass
class CVResult:
    k: int
    error: float
    fold_errors: list[float]
    heldout_entries: int


def fold_assignment(calls: np.ndarray, folds: int, seed: int) -> np.ndarray:
    """A fold number (0..folds-1) for every genotype entry, uniformly at random.

    Missing entries get a fold too but are never scored, so each fold holds about 1/folds of the
    observed entries, as in ADMIXTURE's ``--cv``.
    """
    rng = np.random.default_rng(seed)
    return rng.integers(0, folds, size=calls.shape, dtype=np.uint8)


def heldout_error(calls: np.ndarray, folds: np.ndarray, fold: int, q, p) -> tuple[float, int]:
    """Total binomial deviance of the observed entries in ``fold`` and their number."""
    total, count = em_kernels.heldout_deviance(
        calls,
        folds,
        np.uint8(fold),
        np.ascontiguousarray(q, dtype=np.float64),
        np.ascontiguousarray(p, dtype=np.float64),
        em_kernels.P_EPS,
    )
    return float(total), int(count)


def cross_validate(
    genotypes: Genotypes, k: int, fit_fold: FoldFit, *, folds: int = 5, seed: int = 42
) -> CVResult:
    """ADMIXTURE-style ``--cv``: hold out each fold of genotype entries, fit without them with
    ``fit_fold`` and score them by the binomial deviance
    ``g log(g/mu) + (2-g) log((2-g)/(2-mu))``, ``mu = 2 p``.

    The CV error is the total deviance over all held-out entries divided by their number.
    """
    if folds < 2:
        raise InputError(f"--folds {folds}: cross-validation needs at least 2 folds.")
    calls = genotypes.calls
    assignment = fold_assignment(calls, folds, seed)
    fold_errors = []
    total, count = 0.0, 0
    for fold in range(folds):
        masked = em_kernels.mask_entries(calls, assignment, np.uint8(fold), MISSING)
        masked_genotypes = Genotypes.from_calls(
            masked, genotypes.samples, genotypes.variants, genotypes.source
        )
        q, p = fit_fold(masked_genotypes, k)
        fold_total, fold_count = heldout_error(calls, assignment, fold, q, p)
        fold_errors.append(fold_total / max(fold_count, 1))
        total += fold_total
        count += fold_count
    if count == 0:
        raise InputError("no observed genotypes to hold out; the .bed has only missing calls.")
    return CVResult(k=k, error=total / count, fold_errors=fold_errors, heldout_entries=count)


def em_fold_fit(
    genotypes: Genotypes,
    k: int,
    *,
    seed: int = 42,
    tol: float = DEFAULT_TOL,
    max_iter: int = DEFAULT_MAX_ITER,
    device: str | None = "cpu",
) -> FoldFit:
    """The classic engine's fold fit: each fold starts from the full-data fit, as ADMIXTURE
    does."""
    from . import em

    options = {"seed": seed, "tol": tol, "max_iter": max_iter, "device": device}
    full = em.fit(genotypes, k, **options)

    def fit_fold(masked: Genotypes, k: int):
        result = em.fit(masked, k, init_q=full.q, init_p=full.p, **options)
        return result.q, result.p

    return fit_fold


def format_cv(result: CVResult) -> str:
    """The line ADMIXTURE prints, so existing parsers read it."""
    return f"CV error (K={result.k}): {result.error:.6f}"


def write_cv_table(path: str | os.PathLike, results: list[CVResult]) -> None:
    """``k``, ``cv_error`` and one column per fold, all or nothing."""
    folds = max((len(r.fold_errors) for r in results), default=0)
    table = pd.DataFrame(
        {
            "k": [r.k for r in results],
            "cv_error": [r.error for r in results],
            **{
                f"fold{f + 1}": [
                    r.fold_errors[f] if f < len(r.fold_errors) else np.nan for r in results
                ]
                for f in range(folds)
            },
        }
    )
    with atomic_outputs() as staged:
        table.to_csv(staged(path), sep="\t", index=False, na_rep="NA", float_format="%.6f")


_CV_LINE = re.compile(r"CV error \(K=(\d+)\)\s*:\s*([-+0-9.eE]+|nan|NA)")


def read_cv_table(path: str | os.PathLike) -> pd.DataFrame:
    """Cross-validation errors of one method as a table with columns method, k, cv_error.

    Accepts a table with columns ``k`` and ``cv_error`` (what ``neuradmix cv --out`` writes) or
    text holding ``CV error (K=3): 0.52`` lines (what ADMIXTURE and ``neuradmix cv`` print). The
    method is the file name without ``.cv.tsv`` (``em.cv.tsv`` -> ``em``).
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: CV table not found; run `neuradmix cv` to make it.")
    method = re.sub(r"(\.cv)?(\.tsv|\.txt|\.log)?$", "", path.name)
    text = path.read_text()
    pairs = _CV_LINE.findall(text)
    if pairs:
        rows = [(int(k), float("nan") if v in ("nan", "NA") else float(v)) for k, v in pairs]
    else:
        try:
            table = pd.read_csv(path, sep=r"\s+", na_values=["NA"])
        except (pd.errors.EmptyDataError, pd.errors.ParserError):
            table = pd.DataFrame()
        columns = {c.lower(): c for c in table.columns}
        if "k" not in columns or "cv_error" not in columns:
            raise InputError(
                f"{path}: no 'CV error (K=k): x' lines (as ADMIXTURE prints) and no table with "
                "columns K and cv_error; regenerate it with `neuradmix cv`."
            )
        values = table[[columns["k"], columns["cv_error"]]].apply(pd.to_numeric, errors="coerce")
        if values[columns["k"]].isna().any():
            raise InputError(f"{path}: K must be a number on every line.")
        rows = [(int(k), float(v)) for k, v in values.itertuples(index=False)]
    if not rows:
        raise InputError(f"{path}: no CV errors in this file; regenerate it with `neuradmix cv`.")
    table = pd.DataFrame(
        {"method": method, "k": [r[0] for r in rows], "cv_error": [r[1] for r in rows]}
    )
    return table.drop_duplicates("k", keep="last").sort_values("k").reset_index(drop=True)
