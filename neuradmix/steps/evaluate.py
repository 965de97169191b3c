"""Scoring fitted models: ADMIXTURE's log-likelihood, L_N (lambda = 0), AMI and Delta against the
labels, RMSE against a simulated truth; one row per model, K and partition.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from .. import layout
from ..compute.engines import log_likelihood
from ..data import atomic_outputs, read_bed, read_labels, read_p, read_q, require_fileset
from ..errors import InputError
from ..stats.metrics import ami, delta, l_n_lambda0, rmse_q

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


def format_row(values: dict) -> str:
    def fmt(value):
        if isinstance(value, (int, np.integer)):
            return str(int(value))
        if value is None or (isinstance(value, float) and np.isnan(value)):
            return "NA"
        return f"{value:.10g}"

    return "\t".join(fmt(values[c]) for c in METRIC_COLUMNS)


def evaluate_files(bed, q_path, p_path=None, labels=None, truth_q=None) -> dict:
    """Metrics of one ``.Q`` (and ``.P``) of the fileset ``bed``."""
    genotypes = read_bed(bed)
    q = read_q(q_path, genotypes.n_samples)
    p = read_p(p_path, genotypes.n_snps) if p_path else None
    if p is not None and p.shape[1] != q.shape[1]:
        raise InputError(f"{p_path}: {p.shape[1]} clusters but {q_path} has {q.shape[1]}.")
    label_values = read_labels(labels, genotypes.sample_ids) if labels else None
    truth = read_q(truth_q, genotypes.n_samples) if truth_q else None
    return evaluate(genotypes.calls, q, p, label_values, truth)


def evaluate_model(
    model_dir: str | os.PathLike,
    ks: Sequence[int],
    partitions: dict[str, str | os.PathLike],
    out: str | os.PathLike,
    labels: dict[str, str | os.PathLike] | None = None,
    truth: dict[str, str | os.PathLike] | None = None,
) -> pd.DataFrame:
    """Write ``out``: one row per partition and K (columns ``partition`` and
    :data:`METRIC_COLUMNS`) for a model directory holding ``train.{K}.P`` and
    ``{partition}.{K}.Q``.

    ``partitions`` maps a partition name to its PLINK fileset. Every input file is checked to
    exist before any genotypes are read; each fileset is then read once for all K. The .P of the
    training fit scores every partition (validation samples are scored with the frequencies learnt
    on training, as in the paper). RMSE against ``truth`` is computed at the truth's own K only
    and is NA elsewhere.
    """
    model_dir = Path(model_dir)
    labels, truth = dict(labels or {}), dict(truth or {})
    ks = [int(k) for k in ks]
    if not ks:
        raise InputError("--ks: give at least one K to evaluate.")
    for name in list(labels) + list(truth):
        if name not in partitions:
            raise InputError(f"labels or truth given for partition {name!r}, which has no --data.")
    needed = [Path(layout.q_file(model_dir, part, k)) for part in partitions for k in ks]
    needed += [Path(layout.p_file(model_dir, "train", k)) for k in ks]
    needed += [Path(p) for p in list(labels.values()) + list(truth.values())]
    for path in needed:
        if not path.is_file():
            raise InputError(f"{path}: file not found; the model has no result for it.")
    for bed in partitions.values():
        require_fileset(bed)
    rows = []
    for partition, bed in partitions.items():
        genotypes = read_bed(bed)
        part_labels = (
            read_labels(labels[partition], genotypes.sample_ids) if partition in labels else None
        )
        part_truth = read_q(truth[partition], genotypes.n_samples) if partition in truth else None
        for k in ks:
            q_path = layout.q_file(model_dir, partition, k)
            p_path = layout.p_file(model_dir, "train", k)
            q = read_q(q_path, genotypes.n_samples)
            p = read_p(p_path, genotypes.n_snps)
            if q.shape[1] != k or p.shape[1] != k:
                raise InputError(
                    f"{q_path} has {q.shape[1]} columns and {p_path} {p.shape[1]}; both should "
                    f"have K={k}."
                )
            matching_truth = (
                part_truth if part_truth is not None and part_truth.shape[1] == k else None
            )
            values = evaluate(genotypes.calls, q, p, part_labels, matching_truth)
            rows.append({"partition": partition, **values})
    table = pd.DataFrame(rows, columns=["partition", *METRIC_COLUMNS])
    with atomic_outputs() as staged:
        table.to_csv(staged(out), sep="\t", index=False, na_rep="NA", float_format="%.10g")
    return table
