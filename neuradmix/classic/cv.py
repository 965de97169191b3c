"""ADMIXTURE-style cross-validation: hold out genotype entries, refit, score the held-out ones.

:func:`cross_validate` takes the fit to run without each fold as a function, so the classic method
(:func:`classic_fold_fit`) and the neural one (``neuradmix.neural.run.neural_fold_fit``) share the
folds, the scoring and the output. :func:`read_cv_table` is the one reader of CV results,
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

from ..compute import kernels
from ..compute.bounds import PROBABILITY_FLOOR
from ..data import Genotypes, atomic_outputs
from ..errors import InputError
from .defaults import DEFAULT_MAX_ITER, DEFAULT_TOL

# fit_fold(genotypes, K, holdout) -> (Q N x K, P M x K), fitted without the calls of the held-out
# fold; holdout = (seed, folds, fold).
FoldFit = Callable[[Genotypes, int, tuple[int, int, int]], tuple[np.ndarray, np.ndarray]]


@dataclass
class CVResult:
    k: int
    error: float
    fold_errors: list[float]
    heldout_entries: int


def heldout_error(
    genotypes: Genotypes, holdout: tuple[int, int, int], q: np.ndarray, p: np.ndarray
) -> tuple[float, int]:
    """Total binomial deviance of the observed calls of the held-out fold, and their number.

    The fold of call (i, j) is a hash of (seed, i, j) (:func:`kernels.fold_of`), so every call
    falls in one of the folds uniformly at random and no fold matrix is stored; missing calls are
    never scored, so each fold holds about 1/folds of the observed calls, as in ADMIXTURE's
    ``--cv``."""
    seed, folds, fold = holdout
    groups = np.zeros((max(1, min(kernels.SNP_GROUPS, genotypes.n_snps)), 2))
    kernels.heldout_deviance(
        np.ascontiguousarray(genotypes.packed),
        genotypes.n_samples,
        np.ascontiguousarray(np.asarray(q, dtype=np.float64).T),
        np.ascontiguousarray(p, dtype=np.float64),
        seed,
        folds,
        fold,
        PROBABILITY_FLOOR,
        groups,
    )
    total, count = groups.sum(axis=0)
    return float(total), int(count)


def masked_genotypes(genotypes: Genotypes, holdout: tuple[int, int, int]) -> Genotypes:
    """A copy with the calls of the held-out fold set missing (for fits that read decoded
    genotypes, such as the neural method's)."""
    seed, folds, fold = holdout
    calls = genotypes.calls.copy()
    kernels.mask_calls(calls, seed, folds, fold)
    return Genotypes.from_calls(calls, genotypes.samples, genotypes.variants, genotypes.source)


def cross_validate(
    genotypes: Genotypes,
    k: int,
    fit_fold: FoldFit,
    *,
    folds: int = 5,
    seed: int = 42,
    done: dict[int, tuple[float, int]] | None = None,
    on_fold: Callable[[int, float, int], None] | None = None,
) -> CVResult:
    """ADMIXTURE-style ``--cv``: hold out each fold of genotype calls, fit without them with
    ``fit_fold`` and score them by the binomial deviance
    ``g log(g/mu) + (2-g) log((2-g)/(2-mu))``, ``mu = 2 p``.

    The CV error is the total deviance over all held-out calls divided by their number.
    ``done`` (fold -> (deviance, calls)) gives folds already scored (a resumed run), and
    ``on_fold(fold, deviance, calls)`` is called after each fold is scored.
    """
    if folds < 2:
        raise InputError(f"--folds {folds}: cross-validation needs at least 2 folds.")
    fold_errors = []
    total, count = 0.0, 0
    for fold in range(folds):
        holdout = (seed, folds, fold)
        if done and fold in done:
            fold_total, fold_count = done[fold]
        else:
            q, p = fit_fold(genotypes, k, holdout)
            fold_total, fold_count = heldout_error(genotypes, holdout, q, p)
            if on_fold is not None:
                on_fold(fold, fold_total, fold_count)
        fold_errors.append(fold_total / max(fold_count, 1))
        total += fold_total
        count += fold_count
    if count == 0:
        raise InputError("no observed genotypes to hold out; the .bed has only missing calls.")
    return CVResult(k=k, error=total / count, fold_errors=fold_errors, heldout_entries=count)


def classic_fold_fit(
    genotypes: Genotypes,
    k: int,
    *,
    seed: int = 42,
    tol: float = DEFAULT_TOL,
    max_iter: int = DEFAULT_MAX_ITER,
    device: str | None = "cpu",
    progress=None,
) -> FoldFit:
    """The block-relaxation fold fit: each fold starts from the full-data fit, as ADMIXTURE
    does, and refits with the fold's calls treated as missing."""
    from . import fit

    options = {"tol": tol, "max_iter": max_iter, "device": device, "progress": progress}
    full = fit.fit(genotypes, k, seed=seed, **options)

    def fit_fold(genotypes: Genotypes, k: int, holdout):
        result = fit.fit(genotypes, k, init_q=full.q, init_p=full.p, holdout=holdout, **options)
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
