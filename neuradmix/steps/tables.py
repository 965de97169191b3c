"""The per-cohort metrics table (one row per model x K x partition, with timings and speedups)
and the paper's Table 2 built from it."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from ..classic.cv import read_cv_table
from ..data import atomic_outputs
from ..data.tables import read_result_table
from ..errors import InputError
from .evaluate import METRIC_COLUMNS

EVALUATION_COLUMNS = METRIC_COLUMNS  # the columns `neuradmix evaluate` prints

METRICS_COLUMNS = [
    "cohort",
    "method",
    "model",
    "mode",
    "partition",
    *EVALUATION_COLUMNS,
    "cv_error",
    "train_seconds",
    "infer_seconds",
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


def read_evaluation(path: str | os.PathLike) -> pd.DataFrame:
    """One ``neuradmix evaluate`` output (header + row), tagged from its path.

    Paths follow the workflow layout ``.../evaluate/{method}/{model}/{partition}.{K}.tsv``.
    """
    path = Path(path)
    parts = path.parts
    match = re.fullmatch(r"(.+)\.(\d+)\.tsv", path.name)
    if len(parts) < 3 or match is None:
        raise InputError(
            f"{path}: evaluation files must be named .../{{method}}/{{model}}/"
            "{partition}.{K}.tsv as the workflow writes them."
        )
    table = read_result_table(
        path, "evaluation", EVALUATION_COLUMNS, "`neuradmix evaluate-model` for this model"
    )
    if len(table) != 1:
        raise InputError(
            f"{path}: expected the header and single row written by `neuradmix evaluate`, "
            f"found {len(table)} rows; rerun it for this model."
        )
    table = table[EVALUATION_COLUMNS].copy()
    table.insert(0, "partition", match.group(1))
    table.insert(0, "model", parts[-2])
    table.insert(0, "method", parts[-3])
    if int(table["k"].iat[0]) != int(match.group(2)):
        raise InputError(
            f"{path}: the file name says K={match.group(2)} but the row has k={table['k'].iat[0]}."
        )
    return table


def read_benchmark_seconds(path: str | os.PathLike) -> float:
    """Wall-clock seconds from a Snakemake ``benchmark:`` file (mean over repeats)."""
    table = read_result_table(path, "Snakemake benchmark file", ["s"], "Snakemake's benchmark:")
    return float(table["s"].mean())


def _benchmark_key(path: Path) -> tuple[str, str, int | None]:
    """``benchmarks/{stage}/{model}.tsv`` or ``benchmarks/{stage}/{model}.{K}.tsv``."""
    match = re.fullmatch(r"(.+?)(?:\.(\d+))?\.tsv", path.name)
    if match is None:
        raise InputError(f"{path}: benchmark files must be named {{model}}[.{{K}}].tsv.")
    k = int(match.group(2)) if match.group(2) else None
    return path.parent.name, match.group(1), k


def assemble_metrics(
    cohort: str,
    evaluations: Iterable[str | os.PathLike],
    benchmarks: Iterable[str | os.PathLike] = (),
    cv_tables: Iterable[str | os.PathLike] = (),
    modes: dict[str, str] | None = None,
    reference_baseline: str | None = None,
) -> pd.DataFrame:
    """One row per method x model x K x partition with timings and speedups.

    Timings come from benchmark files in stages ``train_neural`` and ``infer`` (one per neural
    run) and ``baseline`` and ``project`` (one per baseline tool and K). Speedups follow the
    paper, S = T_classic / T_neural, against ``reference_baseline``; one multi-head run replaces a
    classic run per K, so it is compared with the summed classic time over its K values. A
    pretrained run has no training speedup (its training reuses a classic fit). CV errors from
    ``cv/neural.cv.tsv`` go to the neural rows, those of any other CV table (``cv/em.cv.tsv``)
    to the baseline rows, matched on K.
    """
    modes = dict(modes or {})
    table = pd.concat([read_evaluation(p) for p in evaluations], ignore_index=True)
    if table.empty:
        raise InputError("no evaluation files given to the metrics table.")
    table.insert(0, "cohort", cohort)
    table.insert(
        4,
        "mode",
        [
            modes.get(model, "classic" if method == "baseline" else "unsupervised")
            for method, model in zip(table["method"], table["model"], strict=True)
        ],
    )

    train_time: dict[tuple[str, int | None], float] = {}
    infer_time: dict[tuple[str, int | None], float] = {}
    for path in benchmarks:
        stage, model, k = _benchmark_key(Path(path))
        seconds = read_benchmark_seconds(path)
        if stage in ("train_neural", "baseline"):
            train_time[(model, k)] = seconds
        elif stage in ("infer", "project"):
            infer_time[(model, k)] = seconds

    def seconds(times, method, model, k):
        return times.get((model, None) if method == "neural" else (model, k), np.nan)

    table["cv_error"] = np.nan
    for path in cv_tables:
        cv = read_cv_table(path)
        cv_method = cv["method"].iat[0]
        lookup = dict(zip(cv["k"].astype(int), cv["cv_error"], strict=True))
        rows = table["method"].eq("neural" if cv_method == "neural" else "baseline")
        table.loc[rows, "cv_error"] = table.loc[rows, "k"].map(lookup)

    table["train_seconds"] = [
        seconds(train_time, m, model, k)
        for m, model, k in zip(table["method"], table["model"], table["k"], strict=True)
    ]
    table["infer_seconds"] = [
        seconds(infer_time, m, model, k)
        for m, model, k in zip(table["method"], table["model"], table["k"], strict=True)
    ]

    ks_of = table.groupby("model")["k"].apply(lambda s: sorted(set(int(x) for x in s))).to_dict()

    def speedup(times, method, model, k, mode, stage_is_train):
        if reference_baseline is None:
            return np.nan
        if stage_is_train and mode == "pretrained":
            return np.nan
        own = seconds(times, method, model, k)
        ks = ks_of[model] if method == "neural" else [k]
        classic = [times.get((reference_baseline, kk), np.nan) for kk in ks]
        total = float(np.sum(classic))
        if not np.isfinite(own) or own <= 0 or not np.isfinite(total):
            return np.nan
        return total / own

    table["speedup_train"] = [
        speedup(train_time, *row, True)
        for row in zip(table["method"], table["model"], table["k"], table["mode"], strict=True)
    ]
    table["speedup_infer"] = [
        speedup(infer_time, *row, False)
        for row in zip(table["method"], table["model"], table["k"], table["mode"], strict=True)
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


def write_metrics(
    metrics: pd.DataFrame, out: str | os.PathLike, table2_out: str | os.PathLike | None = None
) -> None:
    with atomic_outputs() as staged:
        metrics.to_csv(staged(out), sep="\t", index=False, na_rep="NA", float_format="%.6g")
        if table2_out is not None:
            table2(metrics).to_csv(
                staged(table2_out), sep="\t", index=False, na_rep="NA", float_format="%.6g"
            )


def cv_table_file(source: str | os.PathLike, out: str | os.PathLike) -> int:
    """Saved ``CV error (K=k): x`` lines (or a CV table) -> a ``k``/``cv_error`` TSV."""
    table = read_cv_table(source)
    with atomic_outputs() as staged:
        table[["k", "cv_error"]].to_csv(staged(out), sep="\t", index=False, na_rep="NA")
    return 0


def metrics_table_files(
    cohort: str,
    evaluations,
    out,
    *,
    table2_out=None,
    benchmarks=(),
    cv_tables=(),
    modes=None,
    reference_baseline=None,
) -> int:
    """Assemble the metrics table of a cohort and write it (and Table 2)."""
    metrics = assemble_metrics(
        cohort,
        evaluations,
        benchmarks=benchmarks,
        cv_tables=cv_tables,
        modes=modes,
        reference_baseline=reference_baseline,
    )
    write_metrics(metrics, out, table2_out)
    return 0
