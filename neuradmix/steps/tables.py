"""The per-cohort metrics table (one row per model x K x partition, with timings and speedups)
and the paper's Table 2 built from it."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from .. import layout
from ..classic.cv import read_cv_table
from ..data import atomic_outputs
from ..data.tables import read_result_table
from ..data.timing import Timing, read_timing
from ..errors import InputError
from .evaluate import METRIC_COLUMNS

EVALUATION_COLUMNS = ["partition", *METRIC_COLUMNS]  # what `neuradmix evaluate-model` writes

# Per stage (train: fitting, infer: assigning the validation samples), from the timing sidecars.
STAGE_COLUMNS = ["tool", "fit_seconds", "process_seconds", "threads", "device"]
TIMING_METRICS = [f"{stage}_{c}" for stage in ("train", "infer") for c in STAGE_COLUMNS]

METRICS_COLUMNS = [
    "cohort",
    "method",
    "model",
    "mode",
    "partition",
    *METRIC_COLUMNS,
    "cv_error",
    *TIMING_METRICS,
    "speedup_train",
    "speedup_infer",
]

TABLE2_COLUMNS = [
    "cohort",
    "method",
    "model",
    "mode",
    "k",
    "l_n_lambda0_val",
    "delta_train",
    "delta_val",
    "ami_train",
    "ami_val",
    "speedup_train",
    "speedup_infer",
]

# Which command's timing is the training and which the inference of a model.
_STAGE_OF_COMMAND = {"train": "train", "baseline": "train", "infer": "infer", "project": "infer"}


def read_evaluation(path: str | os.PathLike) -> pd.DataFrame:
    """One model's ``neuradmix evaluate-model`` table, tagged with method and model from its path.

    Paths follow the workflow layout ``.../evaluate/{method}/{model}.tsv``.
    """
    path = Path(path)
    found = layout.parse_evaluation(path)
    if found is None:
        raise InputError(
            f"{path}: evaluation tables must be named .../{{method}}/{{model}}.tsv as the "
            "workflow writes them."
        )
    table = read_result_table(
        path, "evaluation table", EVALUATION_COLUMNS, "`neuradmix evaluate-model` for this model"
    )
    table = table[EVALUATION_COLUMNS].copy()
    table.insert(0, "model", found[1])
    table.insert(0, "method", found[0])
    return table


def _timing_key(path: Path, timing: Timing) -> tuple[str, str, str]:
    """(method, model, stage) of a sidecar at ``.../{method}/{model}/NAME[.K].timing.tsv``."""
    stage = _STAGE_OF_COMMAND.get(timing.command)
    if stage is None:
        raise InputError(
            f"{path}: timing of a `{timing.command}` command; the metrics table compares "
            f"{', '.join(sorted(_STAGE_OF_COMMAND))} timings."
        )
    found = layout.parse_model_file(path)
    if found is None:
        raise InputError(f"{path}: timing files must sit in .../{{method}}/{{model}}/.")
    return *found, stage


def read_timings(paths: Iterable[str | os.PathLike]) -> dict[tuple[str, str, str, int], Timing]:
    """``(method, model, stage, K) -> Timing`` for every K a sidecar covers (a multi-head model's
    one training covers all its K)."""
    timings = {}
    for path in paths:
        path = Path(path)
        timing = read_timing(path)
        method, model, stage = _timing_key(path, timing)
        for k in timing.k_values:
            timings[(method, model, stage, k)] = timing
    return timings


def assemble_metrics(
    cohort: str,
    evaluations: Iterable[str | os.PathLike],
    timings: Iterable[str | os.PathLike] = (),
    cv_tables: Iterable[str | os.PathLike] = (),
    modes: dict[str, str] | None = None,
    reference_baseline: str | None = None,
) -> pd.DataFrame:
    """One row per method x model x K x partition with timings and speedups.

    Timings come from the sidecars the fitting commands write beside their outputs
    (``neural/{run}/train.timing.tsv``, ``baseline/{tool}/val.{K}.timing.tsv``, ...): the seconds
    of the fit itself and of the whole process, threads and device. Speedups follow the paper,
    S = T_classic / T_neural on the fit seconds (start-up and file reading excluded), against
    ``reference_baseline``; one multi-head run replaces a classic run per K, so it is compared
    with the summed classic time over its K values. A pretrained run has no training speedup (its
    training reuses a classic fit). CV errors from ``cv/neural.cv.tsv`` go to the neural rows,
    those of any other CV table (``cv/em.cv.tsv``) to the baseline rows, matched on K.
    """
    modes = dict(modes or {})
    evaluations = list(evaluations)
    if not evaluations:
        raise InputError("no evaluation tables given to the metrics table.")
    table = pd.concat([read_evaluation(p) for p in evaluations], ignore_index=True)
    table.insert(0, "cohort", cohort)
    table.insert(
        3,
        "mode",
        [
            modes.get(model, "classic" if method == "baseline" else "unsupervised")
            for method, model in zip(table["method"], table["model"], strict=True)
        ],
    )
    times = read_timings(timings)

    table["cv_error"] = np.nan
    for path in cv_tables:
        cv = read_cv_table(path)
        cv_method = cv["method"].iat[0]
        lookup = dict(zip(cv["k"].astype(int), cv["cv_error"], strict=True))
        rows = table["method"].eq("neural" if cv_method == "neural" else "baseline")
        table.loc[rows, "cv_error"] = table.loc[rows, "k"].map(lookup)

    keys = list(zip(table["method"], table["model"], table["k"].astype(int), strict=True))
    for stage in ("train", "infer"):
        for column in STAGE_COLUMNS:
            table[f"{stage}_{column}"] = [
                getattr(times[(m, model, stage, k)], column)
                if (m, model, stage, k) in times
                else np.nan
                for m, model, k in keys
            ]

    def speedup(method, model, k, mode, stage):
        if reference_baseline is None or (stage == "train" and mode == "pretrained"):
            return np.nan
        own = times.get((method, model, stage, k))
        if own is None or not own.fit_seconds > 0:
            return np.nan
        # A multi-head training (or inference) covers all its K at once.
        covered = own.k_values if method == "neural" else [k]
        classic = [times.get(("baseline", reference_baseline, stage, kk)) for kk in covered]
        if any(c is None for c in classic):
            return np.nan
        return float(sum(c.fit_seconds for c in classic)) / own.fit_seconds

    for stage in ("train", "infer"):
        table[f"speedup_{stage}"] = [
            speedup(m, model, k, mode, stage)
            for (m, model, k), mode in zip(keys, table["mode"], strict=True)
        ]
    order = {"train": 0, "val": 1}
    table = table.sort_values(
        ["method", "model", "k", "partition"],
        key=lambda s: s.map(lambda v: order.get(v, 2)) if s.name == "partition" else s,
        kind="mergesort",
    ).reset_index(drop=True)
    return table[METRICS_COLUMNS]


def table2(metrics: pd.DataFrame) -> pd.DataFrame:
    """The paper's Table 2 layout: one row per model and K, train/validation side by side."""
    keys = ["cohort", "method", "model", "mode", "k"]
    rows = []
    for key, group in metrics.groupby(keys, sort=False):
        by_part = group.set_index("partition")

        def value(part, column, by_part=by_part):
            return by_part[column].get(part, np.nan) if part in by_part.index else np.nan

        rows.append(
            dict(
                zip(keys, key, strict=True),
                l_n_lambda0_val=value("val", "l_n_lambda0"),
                delta_train=value("train", "delta"),
                delta_val=value("val", "delta"),
                ami_train=value("train", "ami"),
                ami_val=value("val", "ami"),
                speedup_train=group["speedup_train"].iloc[0],
                speedup_infer=group["speedup_infer"].iloc[0],
            )
        )
    return pd.DataFrame(rows, columns=TABLE2_COLUMNS)


def write_metrics(metrics: pd.DataFrame, out_dir: str | os.PathLike) -> tuple[Path, Path]:
    """``OUT/metrics.tsv`` and ``OUT/table2.tsv``, both or neither."""
    out_dir = Path(out_dir)
    paths = out_dir / "metrics.tsv", out_dir / "table2.tsv"
    with atomic_outputs() as staged:
        metrics.to_csv(staged(paths[0]), sep="\t", index=False, na_rep="NA", float_format="%.6g")
        table2(metrics).to_csv(
            staged(paths[1]), sep="\t", index=False, na_rep="NA", float_format="%.6g"
        )
    return paths


def cv_table_file(source: str | os.PathLike, out_dir: str | os.PathLike, name: str) -> Path:
    """Saved ``CV error (K=k): x`` lines (or a CV table) -> ``OUT/NAME.cv.tsv`` (k, cv_error)."""
    table = read_cv_table(source)
    out = Path(layout.cv_file(out_dir, name))
    with atomic_outputs() as staged:
        table[["k", "cv_error"]].to_csv(staged(out), sep="\t", index=False, na_rep="NA")
    return out
