"""The headline of a cohort's report: what a reader wants first, computed from the metrics table.

* the best K by cross-validation error, per CV method;
* how far each neural run's log-likelihood is from the baseline's at each K, relative to it;
* the training and inference speedups over the baseline, on the fits themselves;
* for simulated cohorts, RMSE of Q against the true ancestry.

Each part is a small table (:class:`Table`) with the best value of each column or row marked,
plus the sentence that says how to read it. The numbers are those of ``metrics.tsv``; nothing is
recomputed from the data.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

# What each baseline tool is, for the sentence that names it.
TOOL_NAMES = {
    "em": "this package's block relaxation, em (ADMIXTURE's model and likelihood, not the "
    "ADMIXTURE binary)",
    "admixture": "ADMIXTURE",
    "fastmixture": "fastmixture",
    "fastmixture2": "fastmixture2",
    "neural": "Neural ADMIXTURE",
    "neural+polish": "Neural ADMIXTURE polished by EM",
}


@dataclass
class Cell:
    text: str
    best: bool = False
    numeric: bool = True


@dataclass
class Table:
    headers: list[str]
    rows: list[list[Cell]] = field(default_factory=list)


@dataclass
class Headline:
    best_k: list[str] = field(default_factory=list)  # one sentence per CV method
    loglik_gap: Table | None = None
    speed: Table | None = None
    speed_note: str = ""
    rmse: Table | None = None
    reference: str | None = None  # the baseline model compared with


def run_labels(metrics: pd.DataFrame) -> dict[str, str]:
    """Each neural run's name as the report shows it: a run whose written fit is the classic
    method's polish of the network's says so, so that it is never read as the network's own."""
    neural = metrics[metrics["method"] == "neural"]
    labels = {}
    for run, rows in neural.groupby("model", sort=False):
        tools = set(rows.get("train_tool", pd.Series(dtype=str)).dropna().astype(str))
        labels[run] = f"{run} (network + classic polish)" if "neural+polish" in tools else run
    return labels


def _text(cell) -> Cell:
    return cell if isinstance(cell, Cell) else Cell(str(cell), numeric=False)


def best_k_sentences(cv: pd.DataFrame) -> list[str]:
    """``cv`` has columns method, k, cv_error (one CV table per method, as read_cv_table)."""
    sentences = []
    for method, rows in cv.dropna(subset=["cv_error"]).groupby("method", sort=True):
        best = rows.loc[rows["cv_error"].idxmin()]
        ks = sorted(rows["k"].astype(int))
        name = "block relaxation (em)" if method == "em" else f"the {method} model"
        sentences.append(
            f"Best K by cross-validation with {name}: K={int(best['k'])} (CV error "
            f"{best['cv_error']:.4g}; K={ks[0]}..{ks[-1]} tried)."
        )
    return sentences


def _percent(value: float) -> str:
    return "–" if not np.isfinite(value) else f"{100 * value:+.3f}%"


def loglik_gap_table(metrics: pd.DataFrame, reference: str) -> Table | None:
    """Rows K, columns neural runs: (ℓ_neural − ℓ_baseline) / |ℓ_baseline| on training samples.

    0 means the same fit; negative, the baseline fits better. The best run of each K is marked.
    """
    train = metrics[metrics["partition"] == "train"]
    base = train[(train["method"] == "baseline") & (train["model"] == reference)]
    base = base.set_index("k")["log_likelihood"]
    neural = train[train["method"] == "neural"]
    runs = list(dict.fromkeys(neural["model"]))
    if base.empty or not runs:
        return None
    gap = {}
    for run in runs:
        rows = neural[neural["model"] == run].set_index("k")["log_likelihood"]
        for k, value in rows.items():
            if k in base.index and np.isfinite(base[k]) and base[k] != 0:
                gap[(k, run)] = (value - base[k]) / abs(base[k])
    ks = sorted({k for k, _ in gap})
    if not ks:
        return None
    labels = run_labels(metrics)
    table = Table(["K", *[labels.get(run, run) for run in runs]])
    for k in ks:
        values = [gap.get((k, run), np.nan) for run in runs]
        finite = [v for v in values if np.isfinite(v)]
        best = max(finite) if finite else None
        row = [Cell(str(k))]
        row += [Cell(_percent(v), best=best is not None and v == best) for v in values]
        table.rows.append(row)
    return table


def _seconds(value) -> str:
    return "–" if not np.isfinite(value) else f"{value:.3g}"


def _speedup(value) -> str:
    return "–" if not np.isfinite(value) else f"{value:.3g}×"


def speed_table(metrics: pd.DataFrame, reference: str) -> tuple[Table | None, str]:
    """One row per neural run: fit seconds of training and inference against the baseline's
    (summed over the run's K), and the speedups S_T and S_I; the largest of each is marked."""
    rows = metrics.drop_duplicates(subset=["method", "model", "k"])
    neural = rows[rows["method"] == "neural"]
    base = rows[(rows["method"] == "baseline") & (rows["model"] == reference)].set_index("k")
    if neural.empty:
        return None, ""
    entries = []
    for run, group in neural.groupby("model", sort=False):
        ks = sorted(group["k"].astype(int))
        first = group.iloc[0]
        classic = {
            stage: float(base.loc[ks, f"{stage}_fit_seconds"].sum())
            if set(ks) <= set(base.index) and base.loc[ks, f"{stage}_fit_seconds"].notna().all()
            else np.nan
            for stage in ("train", "infer")
        }
        entries.append(
            (
                run,
                ",".join(map(str, ks)),
                first["train_fit_seconds"],
                classic["train"],
                first["speedup_train"],
                first["infer_fit_seconds"],
                classic["infer"],
                first["speedup_infer"],
            )
        )
    best_train = _largest([e[4] for e in entries])
    best_infer = _largest([e[7] for e in entries])
    labels = run_labels(metrics)
    table = Table(
        [
            "run",
            "K",
            "training (s)",
            "baseline training (s)",
            "S<sub>T</sub>",
            "inference (s)",
            "baseline projection (s)",
            "S<sub>I</sub>",
        ]
    )
    for run, ks, t_n, t_b, s_t, i_n, i_b, s_i in entries:
        table.rows.append(
            [
                Cell(labels.get(run, run), numeric=False),
                Cell(ks),
                Cell(_seconds(t_n)),
                Cell(_seconds(t_b)),
                Cell(_speedup(s_t), best=best_train is not None and s_t == best_train),
                Cell(_seconds(i_n)),
                Cell(_seconds(i_b)),
                Cell(_speedup(s_i), best=best_infer is not None and s_i == best_infer),
            ]
        )
    return table, hardware_sentence(metrics, reference)


def _largest(values) -> float | None:
    finite = [v for v in values if np.isfinite(v)]
    return max(finite) if finite else None


def _one(values: pd.Series) -> str:
    found = sorted({str(v) for v in values.dropna() if str(v) not in ("", "nan")})
    return " / ".join(found) if found else "unknown"


def hardware_sentence(metrics: pd.DataFrame, reference: str) -> str:
    """Which baseline tool ran, and where each side ran (from the timing sidecars)."""
    base = metrics[(metrics["method"] == "baseline") & (metrics["model"] == reference)]
    neural = metrics[metrics["method"] == "neural"]
    tool = _one(base["train_tool"])
    described = TOOL_NAMES.get(tool, tool)
    projection = _one(base["infer_tool"])
    threads = _one(base["train_threads"].astype("Int64"))
    projected = "the same tool" if projection == tool else TOOL_NAMES.get(projection, projection)
    parts = [
        f"Baseline: {described}, fitted at each K with {threads} thread(s) on "
        f"{_one(base['train_device'])}; validation individuals projected with {projected}."
    ]
    if not neural.empty:
        parts.append(
            f"Neural runs trained on {_one(neural['train_device'])} with "
            f"{_one(neural['train_threads'].astype('Int64'))} thread(s) and assigned the "
            f"validation individuals on {_one(neural['infer_device'])}."
        )
    parts.append(
        "Times are those of the fits themselves, measured inside each command (start-up and "
        "file reading excluded); a multi-head run fits all its K at once and is compared with the "
        "baseline's summed time over those K."
    )
    return " ".join(parts)


def rmse_table(metrics: pd.DataFrame) -> Table | None:
    """Simulated cohorts: RMSE(Q) against the truth per model, training and validation; the
    lowest of each column is marked. None for real cohorts (no truth)."""
    rows = metrics.dropna(subset=["rmse_q"])
    if rows.empty:
        return None
    wide = rows.pivot_table(
        index=["method", "model", "k"], columns="partition", values="rmse_q", sort=False
    )
    partitions = [p for p in ("train", "val") if p in wide.columns]
    best = {p: wide[p].min() for p in partitions}
    names = {"train": "training", "val": "validation"}
    labels = run_labels(metrics)
    table = Table(["model", "K", *[f"RMSE(Q), {names[p]}" for p in partitions]])
    for (method, model, k), values in wide.iterrows():
        name = labels.get(model, model) if method == "neural" else model
        cells = [Cell(f"{method}/{name}", numeric=False), Cell(str(int(k)))]
        for p in partitions:
            value = values[p]
            cells.append(Cell(f"{value:.4f}" if np.isfinite(value) else "–", best=value == best[p]))
        table.rows.append(cells)
    return table


def build_headline(
    metrics: pd.DataFrame, cv: pd.DataFrame | None, reference: str | None
) -> Headline:
    """Every part the inputs allow; ``reference`` is the baseline model name (e.g. ``em``)."""
    if reference is None:
        baselines = metrics.loc[metrics["method"] == "baseline", "model"]
        reference = baselines.iat[0] if not baselines.empty else None
    headline = Headline(reference=reference)
    if cv is not None and not cv.empty:
        headline.best_k = best_k_sentences(cv)
    if reference is not None:
        headline.loglik_gap = loglik_gap_table(metrics, reference)
        headline.speed, headline.speed_note = speed_table(metrics, reference)
    headline.rmse = rmse_table(metrics)
    return headline
