"""Drawing primitives: structure barplots, PCA with cluster centres, multi-K grids, curves.

Every function here works on arrays and data frames so it can be tested without files;
:mod:`neuradmix.report.figures` reads the result files and composes these into the cohort's
figures. Colours are tied to clusters, not to column numbers: every panel takes the colour id of
each of its columns (:func:`neuradmix.stats.alignment.align_runs` matches the columns of every
``Q``, across K and across runs), so that the same ancestry component keeps the same colour in
every panel.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from ..stats.pca import GenotypePCA  # noqa: E402

UNLABELLED = "unlabelled"
DEFAULT_MAX_BARPLOT_SAMPLES = 3000
DEFAULT_MAX_PCA_SAMPLES = 4000
_RUN_MARKERS = ["*", "X", "P", "D", "^", "s", "v", "o"]


def palette() -> list[str]:
    """Cluster colours: tab10 first (the familiar ADMIXTURE look), then tab20b/tab20c."""
    colours = [matplotlib.colors.to_hex(c) for c in plt.get_cmap("tab10").colors]
    for name in ("tab20b", "tab20c"):
        colours += [matplotlib.colors.to_hex(c) for c in plt.get_cmap(name).colors]
    return colours


def cluster_colour(colour_id: int) -> str:
    colours = palette()
    return colours[int(colour_id) % len(colours)]


UNLABELLED_COLOUR = "#9a9a9a"


def population_colours(labels, q: np.ndarray, colours: np.ndarray, used=()) -> dict[str, str]:
    """A colour per population label from the cluster palette, so that a population is drawn in
    the colour of the cluster that dominates it.

    Populations and the columns of ``q`` (whose colour ids are ``colours``) are matched one to one
    on the mean ancestry of each population (Hungarian method); a population left without a
    cluster (more populations than K) takes a palette colour that neither these clusters nor the
    colour ids in ``used`` (those of the other models and K) take. Unlabelled individuals are
    grey.
    """
    from scipy.optimize import linear_sum_assignment

    q = np.asarray(q, dtype=np.float64)
    labels = _clean_labels(labels, q.shape[0])
    names = sorted(set(labels.tolist()) - {UNLABELLED})
    result = {UNLABELLED: UNLABELLED_COLOUR}
    if not names:
        return result
    means = np.stack([q[labels == name].mean(axis=0) for name in names])
    rows, cols = linear_sum_assignment(-means)
    assigned = {names[r]: int(colours[c]) for r, c in zip(rows, cols, strict=True)}
    next_id = int(max(np.max(colours), max(used, default=-1))) + 1
    for name in names:
        if name not in assigned:
            assigned[name] = next_id
            next_id += 1
    result.update({name: cluster_colour(i) for name, i in assigned.items()})
    return result


# --------------------------------------------------------------------------------------------
# Ordering and downsampling individuals
# --------------------------------------------------------------------------------------------


def _clean_labels(labels, n_samples: int) -> np.ndarray:
    if labels is None:
        return np.full(n_samples, UNLABELLED, dtype=object)
    labels = np.asarray(labels, dtype=object)
    if labels.shape[0] != n_samples:
        raise ValueError(f"{labels.shape[0]} labels for {n_samples} samples.")
    return np.array([UNLABELLED if str(x) == "" else str(x) for x in labels], dtype=object)


def downsample(labels, max_samples: int, seed: int = 0) -> np.ndarray:
    """Sorted indices of at most ``max_samples`` individuals, stratified by population label.

    Every population keeps at least one individual and the rest of the budget is shared in
    proportion to population size, so small groups stay visible in a downsampled barplot.
    """
    labels = np.asarray(labels, dtype=object)
    n_samples = labels.shape[0]
    if n_samples <= max_samples:
        return np.arange(n_samples)
    rng = np.random.default_rng(seed)
    groups = {name: np.flatnonzero(labels == name) for name in sorted(set(labels.tolist()))}
    if len(groups) >= max_samples:
        keep = [rng.choice(members, 1) for members in groups.values()]
        return np.sort(np.concatenate(keep))[:max_samples]
    extra_budget = max_samples - len(groups)
    sizes = np.array([len(m) - 1 for m in groups.values()], dtype=float)
    quota = np.floor(sizes / sizes.sum() * extra_budget).astype(int)
    remainder = extra_budget - quota.sum()
    # Largest fractional parts get the leftover places (ties by group order, deterministic).
    fractions = sizes / sizes.sum() * extra_budget - quota
    for position in np.argsort(-fractions, kind="stable")[:remainder]:
        quota[position] += 1
    keep = []
    for (_, members), extra in zip(groups.items(), quota, strict=True):
        keep.append(rng.choice(members, min(len(members), extra + 1), replace=False))
    return np.sort(np.concatenate(keep))


def population_order(q: np.ndarray, colours: np.ndarray, labels) -> list[str]:
    """Order populations so groups dominated by the same cluster sit next to each other.

    Populations are sorted by the colour id of their largest mean component, then by decreasing
    share of it, then by name; unlabelled individuals come last.
    """
    q = np.asarray(q, dtype=np.float64)
    labels = _clean_labels(labels, q.shape[0])
    keys = []
    for name in sorted(set(labels.tolist())):
        mean = q[labels == name].mean(axis=0)
        top = int(np.argmax(mean))
        keys.append((name == UNLABELLED, int(colours[top]), -float(mean[top]), name))
    return [key[-1] for key in sorted(keys)]


def sample_order(q: np.ndarray, colours: np.ndarray, labels, populations: Sequence[str]):
    """Indices of individuals grouped by population, each group sorted by dominant component.

    Inside a group, individuals are sorted by the colour id of their largest component and then
    by decreasing size of it, which turns each group into solid blocks of colour.
    Returns ``(order, boundaries)`` where ``boundaries`` lists ``(population, start, stop)``.
    """
    q = np.asarray(q, dtype=np.float64)
    labels = _clean_labels(labels, q.shape[0])
    top = q.argmax(axis=1)
    order, boundaries, start = [], [], 0
    for name in populations:
        members = np.flatnonzero(labels == name)
        if members.size == 0:
            continue
        keys = np.lexsort((-q[members, top[members]], np.asarray(colours)[top[members]]))
        order.append(members[keys])
        boundaries.append((name, start, start + members.size))
        start += members.size
    order = np.concatenate(order) if order else np.arange(0)
    return order, boundaries


# --------------------------------------------------------------------------------------------
# Structure barplots
# --------------------------------------------------------------------------------------------


@dataclass
class QPanel:
    """One barplot row: a title, an ancestry matrix (N x K) and the colour id of each column."""

    title: str
    q: np.ndarray
    colours: np.ndarray


@dataclass
class BarplotSection:
    """Panels of the same individuals drawn one above the other with the same sample order.

    The first panel sets the order (groups and within-group sort), so a given individual sits at
    the same horizontal position in every panel of the section.
    """

    title: str
    labels: np.ndarray | None
    panels: list[QPanel]
    shown: int = field(default=0, init=False)
    total: int = field(default=0, init=False)


def draw_barplot(ax, q: np.ndarray, colours, boundaries, show_populations: bool = True) -> None:
    """Stacked ancestry bars, one per individual (rows of ``q`` already in display order)."""
    q = np.asarray(q, dtype=np.float64)
    n_samples = q.shape[0]
    edges = np.arange(n_samples + 1)
    bottom = np.zeros(n_samples + 1)
    # Draw the largest column first so that dominant colours sit at the bottom of the bars.
    for column in np.argsort(-q.sum(axis=0), kind="stable"):
        values = np.append(q[:, column], q[-1, column] if n_samples else 0.0)
        top = bottom + values
        ax.fill_between(
            edges,
            bottom,
            top,
            step="post",
            color=cluster_colour(colours[column]),
            linewidth=0,
            antialiased=False,
        )
        bottom = top
    ax.set_xlim(0, max(n_samples, 1))
    ax.set_ylim(0, 1)
    ax.set_yticks([0, 0.5, 1])
    ax.tick_params(axis="y", labelsize=7)
    for _, start, _ in boundaries[1:]:
        ax.axvline(start, color="white", linewidth=1.2)
    if show_populations and boundaries:
        ax.set_xticks([(start + stop) / 2 for _, start, stop in boundaries])
        ax.set_xticklabels([name for name, _, _ in boundaries], rotation=90, fontsize=7)
    else:
        ax.set_xticks([])
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)


def _prepare_section(section: BarplotSection, max_samples: int, seed: int):
    first = section.panels[0]
    n_samples = first.q.shape[0]
    for panel in section.panels:
        if panel.q.shape[0] != n_samples:
            raise ValueError(f"panel {panel.title!r} has {panel.q.shape[0]} rows, not {n_samples}.")
    labels = _clean_labels(section.labels, n_samples)
    keep = downsample(labels, max_samples, seed)
    section.shown, section.total = int(keep.size), n_samples
    q_first = first.q[keep]
    populations = population_order(q_first, first.colours, labels[keep])
    order, boundaries = sample_order(q_first, first.colours, labels[keep], populations)
    return keep[order], boundaries


def plot_structure(
    sections: Sequence[BarplotSection],
    max_samples: int = DEFAULT_MAX_BARPLOT_SAMPLES,
    seed: int = 0,
    width: float = 11.0,
) -> Figure:
    """Figure 3a: ancestry barplots, sections (e.g. training, validation) one under another."""
    rows = sum(len(s.panels) for s in sections)
    if rows == 0:
        raise ValueError("plot_structure needs at least one panel.")
    prepared = [_prepare_section(section, max_samples, seed) for section in sections]
    # Rows: a title strip, one panel per model and the population names, per section, so the
    # panels of a section sit close together instead of each leaving room for names.
    heights = []
    for section, (_, boundaries) in zip(sections, prepared, strict=True):
        longest = max((len(name) for name, _, _ in boundaries), default=4)
        heights += [0.25] + [0.62] * len(section.panels) + [0.065 * longest + 0.1]
    fig = plt.figure(figsize=(width, sum(heights) + 0.2))
    grid = fig.add_gridspec(
        len(heights), 1, height_ratios=heights, hspace=0.3, left=0.13, right=0.99,
        top=0.99, bottom=0.01,
    )  # fmt: skip
    row = 0
    for section, (order, boundaries) in zip(sections, prepared, strict=True):
        row += 1  # the title strip
        for position, panel in enumerate(section.panels):
            ax = fig.add_subplot(grid[row, 0])
            last = position == len(section.panels) - 1
            draw_barplot(ax, panel.q[order], panel.colours, boundaries, show_populations=last)
            shown = (
                f" ({section.shown} of {section.total} shown)"
                if section.shown < section.total
                else ""
            )
            ax.set_ylabel(panel.title, rotation=0, ha="right", va="center", fontsize=8)
            if position == 0:
                ax.set_title(f"{section.title}{shown}", fontsize=9, loc="left")
            row += 1
        row += 1  # the population names
    return fig


def plot_multik_grid(
    columns: Mapping[str, Mapping[int, tuple[np.ndarray, np.ndarray]]],
    labels,
    max_samples: int = DEFAULT_MAX_BARPLOT_SAMPLES,
    seed: int = 0,
    order_by: tuple[str, int] | None = None,
    max_columns: int = 4,
    width: float = 11.0,
) -> tuple[Figure, int, int]:
    """Figures 6-7: one column per K, one row per model, colours aligned across the whole grid.

    ``columns[model][k] = (q, colours)`` for the same individuals. Every column is titled with
    its K and has the population names under its bottom panel, and every row is labelled with
    its model, whichever K a model was fitted at (a cell without a fit says so). More than
    ``max_columns`` K values wrap into further bands, so the figure keeps a width that stays
    readable in the report. The sample order is set by the panel ``order_by = (model, k)``
    (default: smallest K of the first model) and shared by every panel. Returns
    ``(figure, shown, total)``.
    """
    models = list(columns)
    ks = sorted({k for model in models for k in columns[model]})
    if not models or not ks:
        raise ValueError("plot_multik_grid needs at least one model with one K.")
    if order_by is None:
        order_by = (models[0], min(columns[models[0]]))
    first_q, first_colours = columns[order_by[0]][order_by[1]]
    labels = _clean_labels(labels, first_q.shape[0])
    keep = downsample(labels, max_samples, seed)
    populations = population_order(first_q[keep], first_colours, labels[keep])
    order, boundaries = sample_order(first_q[keep], first_colours, labels[keep], populations)
    order = keep[order]
    n_cols = min(len(ks), max_columns)
    bands = [ks[i : i + n_cols] for i in range(0, len(ks), n_cols)]
    label_space = 0.065 * max(len(name) for name, _, _ in boundaries) + 0.1
    heights = []
    for _ in bands:
        heights += [0.3] + [0.62] * len(models) + [label_space]
    fig = plt.figure(figsize=(width, sum(heights) + 0.2))
    grid = fig.add_gridspec(
        len(heights),
        n_cols,
        height_ratios=heights,
        hspace=0.3,
        wspace=0.06,
        left=0.13,
        right=0.99,
        top=0.99,
        bottom=0.01,
    )
    row = 0
    for band in bands:
        row += 1  # the title row of this band (titles sit on the first model's panels)
        for r, model in enumerate(models):
            for c, k in enumerate(band):
                ax = fig.add_subplot(grid[row + r, c])
                last = r == len(models) - 1
                if k in columns[model]:
                    q, colours = columns[model][k]
                    draw_barplot(ax, q[order], colours, boundaries, show_populations=last)
                else:
                    _empty_panel(ax, f"{model} not fitted at K={k}", boundaries, last)
                if c > 0:
                    ax.set_yticks([])
                if c == 0:
                    ax.set_ylabel(model, rotation=0, ha="right", va="center", fontsize=8)
                if r == 0:
                    ax.set_title(f"K={k}", fontsize=9, fontweight="bold")
        row += len(models) + 1
    return fig, int(keep.size), int(first_q.shape[0])


def _empty_panel(ax, message: str, boundaries, show_populations: bool) -> None:
    """A grid cell without a fit: a short note, and the population names when it is the
    bottom of its column."""
    n_shown = boundaries[-1][2] if boundaries else 1
    ax.set_xlim(0, n_shown)
    ax.set_ylim(0, 1)
    ax.text(
        0.5, 0.5, message, ha="center", va="center", fontsize=7, color="#57606a",
        transform=ax.transAxes,
    )  # fmt: skip
    for side in ("top", "right", "left", "bottom"):
        ax.spines[side].set_visible(side == "bottom" and show_populations)
    ax.set_yticks([])
    if show_populations and boundaries:
        ax.set_xticks([(start + stop) / 2 for _, start, stop in boundaries])
        ax.set_xticklabels([name for name, _, _ in boundaries], rotation=90, fontsize=7)
    else:
        ax.set_xticks([])


def plot_lambda_effect(
    panels: Mapping[str, tuple[np.ndarray, np.ndarray]],
    labels,
    max_samples: int = DEFAULT_MAX_BARPLOT_SAMPLES,
    seed: int = 0,
) -> tuple[Figure, int, int]:
    """Figure 8: barplots of the same individuals for several values of λ, one row each.

    ``panels[name] = (q, colours)``. Returns ``(figure, shown, total)`` individuals.
    """
    section = BarplotSection(
        "Assignments for each value of λ",
        labels,
        [QPanel(name, q, colours) for name, (q, colours) in panels.items()],
    )
    fig = plot_structure([section], max_samples=max_samples, seed=seed)
    return fig, section.shown, section.total


# --------------------------------------------------------------------------------------------
# PCA of the training genotypes with cluster centres
# --------------------------------------------------------------------------------------------


def plot_pca_centres(
    pca: GenotypePCA,
    labels,
    centres: Mapping[int, Mapping[str, tuple[np.ndarray, np.ndarray]]],
    population_colour: Mapping[str, str] | None = None,
    width: float = 11.0,
) -> Figure:
    """Figures 3b and 5: training individuals on PC1/PC2, cluster centres of each model on top.

    ``labels`` are the population labels of the individuals the PCA was fitted on.
    ``centres[k][run] = (coordinates K x 2, colour ids)``; one panel per K, one marker shape per
    run, each centre filled with its cluster colour. Individuals take the colour of their
    population from ``population_colour`` (:func:`population_colours`: the same palette, so a
    population and the cluster that dominates it share a colour), drawn lighter than the centres.
    """
    labels = _clean_labels(labels, pca.scores.shape[0])
    ks = sorted(centres)
    if not ks:
        raise ValueError("plot_pca_centres needs centres for at least one K.")
    n_cols = min(len(ks), 3)
    n_rows = -(-len(ks) // n_cols)
    legend_width = 2.0
    panel = (width - legend_width) / n_cols
    fig, axes = plt.subplots(
        n_rows, n_cols, figsize=(width, 0.92 * panel * n_rows + 0.3), squeeze=False
    )
    populations = sorted(set(labels.tolist()), key=lambda x: (x == UNLABELLED, x))
    population_colour = dict(population_colour or {})
    fallback = {name: cluster_colour(i) for i, name in enumerate(populations)}
    runs_seen: list[str] = []
    for panel_index, k in enumerate(ks):
        ax = axes[panel_index // n_cols, panel_index % n_cols]
        for name in populations:
            members = labels == name
            colour = population_colour.get(
                name, UNLABELLED_COLOUR if name == UNLABELLED else fallback[name]
            )
            ax.scatter(
                pca.scores[members, 0],
                pca.scores[members, 1],
                s=9,
                color=colour,
                edgecolors="none",
                alpha=0.45,
                label=name if panel_index == 0 else None,
                rasterized=True,
            )
        for run, (coords, colours) in centres[k].items():
            if run not in runs_seen:
                runs_seen.append(run)
            marker = _RUN_MARKERS[runs_seen.index(run) % len(_RUN_MARKERS)]
            for (x, y), colour_id in zip(np.asarray(coords), colours, strict=True):
                ax.scatter(
                    x,
                    y,
                    s=190,
                    marker=marker,
                    color=cluster_colour(colour_id),
                    edgecolors="black",
                    linewidths=0.8,
                    zorder=3,
                )
        ax.set_title(f"K={k}", fontsize=9)
        ax.set_xlabel(f"PC1 ({100 * pca.explained[0]:.1f}%)", fontsize=8)
        if pca.scores.shape[1] > 1:
            ax.set_ylabel(f"PC2 ({100 * pca.explained[1]:.1f}%)", fontsize=8)
        ax.tick_params(labelsize=7)
    for empty in range(len(ks), n_rows * n_cols):
        axes[empty // n_cols, empty % n_cols].set_axis_off()
    handles, names = axes[0, 0].get_legend_handles_labels()
    for position, run in enumerate(runs_seen):
        handles.append(
            matplotlib.lines.Line2D(
                [],
                [],
                marker=_RUN_MARKERS[position % len(_RUN_MARKERS)],
                linestyle="none",
                markerfacecolor="white",
                markeredgecolor="black",
                markersize=10,
            )
        )
        names.append(f"{run} centres")
    fig.legend(handles, names, loc="center right", fontsize=7, frameon=False)
    fig.tight_layout(rect=(0, 0, 1 - legend_width / fig.get_figwidth(), 1))
    return fig


# --------------------------------------------------------------------------------------------
# Curves: CV error against K, training loss, λ
# --------------------------------------------------------------------------------------------


def plot_cv_error(table: pd.DataFrame) -> Figure:
    """CV error against K, one line per method (``table`` columns: method, k, cv_error)."""
    missing = {"method", "k", "cv_error"} - set(table.columns)
    if missing:
        raise ValueError(f"CV table lacks columns {sorted(missing)}.")
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    for position, (method, rows) in enumerate(table.groupby("method", sort=True)):
        rows = rows.sort_values("k")
        ax.plot(
            rows["k"],
            rows["cv_error"],
            marker=_RUN_MARKERS[position % len(_RUN_MARKERS)],
            label=str(method),
        )
        best = rows.loc[rows["cv_error"].idxmin()]
        ax.scatter([best["k"]], [best["cv_error"]], s=120, facecolors="none", edgecolors="black")
    ax.set_xlabel("K")
    ax.set_ylabel("cross-validation error")
    ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(nbins=6, integer=True))
    ax.legend(fontsize=8, frameon=False)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def plot_loss_curves(tables: Mapping[str, pd.DataFrame]) -> Figure:
    """The training objective per epoch (``train_loss``: negative log-likelihood per observed
    call, plus the λ term), one panel per neural run and one line per training stage (the
    stages fit different SNP sets, so their losses are not on one scale)."""
    if not tables:
        raise ValueError("plot_loss_curves needs at least one loss table.")
    # At most three panels a row, so the figure keeps the report's width (11 in at 110 dpi).
    n_cols = min(len(tables), 3)
    n_rows = -(-len(tables) // n_cols)
    fig, axes = plt.subplots(
        n_rows, n_cols, figsize=(min(11.0, 3.7 * n_cols), 3.1 * n_rows), squeeze=False
    )
    for empty in range(len(tables), n_rows * n_cols):
        axes[empty // n_cols, empty % n_cols].set_axis_off()
    for ax, (run, table) in zip(axes.ravel(), tables.items(), strict=False):
        stages = table["stage"] if "stage" in table.columns else pd.Series("training", table.index)
        for stage in pd.unique(stages):
            rows = table[stages == stage]
            if len(pd.unique(stages)) == 1:
                ax.plot(rows["epoch"], rows["train_loss"], "-", marker=".", label=str(stage))
                continue
            # One axis per stage: the second stage's loss (all SNPs) sits on its own scale.
            target = ax if stage == stages.iloc[0] else ax.twinx()
            colour = "C0" if target is ax else "C1"
            target.plot(rows["epoch"], rows["train_loss"], "-", marker=".", color=colour)
            target.tick_params(axis="y", colors=colour, labelsize=7)
            target.ticklabel_format(axis="y", useOffset=False)
            target.set_ylabel(f"loss, {stage}", color=colour, fontsize=8)
        ax.set_title(run, fontsize=9)
        ax.set_xlabel("epoch")
        if len(pd.unique(stages)) == 1:
            ax.ticklabel_format(axis="y", useOffset=False)
            ax.set_ylabel("loss")
            ax.legend(fontsize=8, frameon=False)
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(nbins=6, integer=True))
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def save_png(fig: Figure, path, dpi: int = 110) -> None:
    """Write a figure as PNG with fixed metadata, so identical inputs give identical bytes."""
    fig.savefig(path, format="png", dpi=dpi, metadata={"Software": None})
    plt.close(fig)
