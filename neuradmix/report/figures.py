"""A cohort's figures: each drawn, with its title and caption, by one function of this module.

:data:`FIGURES` is the catalogue (file stem, the ``snakemake --report`` category, and what a figure
needs); the workflow reads it through :func:`figure_names` instead of deciding the list again.
:func:`build_figures` loads the result files once (:class:`CohortResults`), draws every figure the
inputs allow and writes ``figures.json`` (file, title, caption, in display order), which
``neuradmix report`` embeds. Captions carry facts known only while drawing, such as how many
individuals a barplot shows after downsampling.

matplotlib is imported inside the drawing functions, so the catalogue stays cheap to import (the
Snakefile reads it every time it is parsed).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .. import layout
from ..classic.cv import read_cv_table
from ..data import atomic_outputs, read_bed, read_fam_ids, read_labels, read_p, read_q
from ..data.tables import read_result_table
from ..errors import InputError
from ..stats.alignment import align_runs
from ..stats.metrics import entropy_of

MANIFEST = "figures.json"


@dataclass
class FigureEntry:
    file: str
    title: str
    caption: str


@dataclass
class RunFiles:
    """Where one model's outputs live: ``DIR/{train_name}.{K}.Q`` and friends."""

    name: str
    directory: Path
    train_name: str = "train"
    val_name: str = "val"

    def path(self, partition: str, k: int, kind: str) -> Path:
        """The .Q (``kind`` Q) or .P (``kind`` P) of a partition at ``k``."""
        stem = self.train_name if partition == "train" else self.val_name
        return Path({"Q": layout.q_file, "P": layout.p_file}[kind](self.directory, stem, k))


def read_loss_table(path: str | Path) -> pd.DataFrame:
    """A training log of ``neuradmix train`` (columns epoch, stage, train_loss, ...)."""
    return read_result_table(path, "loss table", ["epoch", "train_loss"], "`neuradmix train`")


def _labels_for(path: str | Path | None, sample_ids) -> np.ndarray:
    if path is None:
        return np.full(len(sample_ids), "", dtype=object)
    return read_labels(path, sample_ids)


def _load_run_q(run: RunFiles, partition: str, k: int, n_samples: int, required: bool):
    path = run.path(partition, k, "Q")
    if not path.is_file():
        if required:
            raise InputError(
                f"{path}: file not found; run {run.name} has no K={k} {partition} result. "
                "Train that K or drop it from --k."
            )
        return None
    return read_q(path, n_samples)


def _shown_note(shown: int, total: int, what: str) -> str:
    if shown < total:
        return (
            f" To keep the report small, {shown} of {total} {what} are drawn, sampled within "
            "each population in proportion to its size."
        )
    return ""


# --------------------------------------------------------------------------------------------
# Loading a cohort's results once
# --------------------------------------------------------------------------------------------


@dataclass
class CohortResults:
    """Every input of the figures, read and checked once; colours aligned across all of them."""

    genotypes: object
    runs: list[RunFiles]
    ks: list[int]
    main_k: int
    main_key: tuple[str, int]
    train_labels: np.ndarray
    q_train: dict[tuple[str, int], np.ndarray]
    colour_ids: dict[tuple[str, int], np.ndarray]
    truth_train: np.ndarray | None = None
    truth_val_path: str | Path | None = None
    train_truth_path: str | Path | None = None
    val_ids: list[str] | None = None
    val_labels_path: str | Path | None = None
    cv_files: list[str | Path] = field(default_factory=list)
    loss_files: dict[str, str | Path] = field(default_factory=dict)
    lambda_runs: dict[str, RunFiles] = field(default_factory=dict)
    max_samples: int = 0
    max_pca_samples: int = 0
    seed: int = 0

    @property
    def truth_key(self) -> tuple[str, int] | None:
        return None if self.truth_train is None else ("truth", self.truth_train.shape[1])


def load_results(
    train_bed,
    runs: list[RunFiles],
    ks: list[int],
    main_k: int | None = None,
    train_labels=None,
    val_bed=None,
    val_labels=None,
    cv_files=(),
    loss_files=None,
    lambda_runs=None,
    train_truth=None,
    val_truth=None,
    max_samples: int | None = None,
    max_pca_samples: int | None = None,
    seed: int = 0,
) -> CohortResults:
    from . import plots

    if not runs:
        raise InputError("no runs given; pass at least one --run NAME=DIR.")
    ks = sorted(set(int(k) for k in ks))
    if not ks:
        raise InputError("no K given; pass --k with the K values that were trained.")
    main_k = ks[len(ks) // 2] if main_k is None else int(main_k)
    if main_k not in ks:
        raise InputError(f"--main-k {main_k} is not one of --k {' '.join(map(str, ks))}.")
    genotypes = read_bed(train_bed)
    n_train = genotypes.n_samples
    label_values = _labels_for(train_labels, genotypes.sample_ids)

    # Training Q of every run and K: their alignment fixes the colours of every figure.
    keys, train_qs = [], []
    for run in runs:
        found = 0
        for k in ks:
            q = _load_run_q(run, "train", k, n_train, required=False)
            if q is not None:
                if q.shape[1] != k:
                    raise InputError(
                        f"{run.path('train', k, 'Q')}: {q.shape[1]} columns, but its name says "
                        f"K={k}; check which run wrote it."
                    )
                keys.append((run.name, k))
                train_qs.append(q)
                found += 1
        if not found:
            raise InputError(
                f"{run.directory}: no {run.train_name}.K.Q file for any K in "
                f"{' '.join(map(str, ks))}; check --run {run.name}=DIR and --k."
            )
    main_key = next(((name, k) for name, k in keys if k == main_k), None)
    if main_key is None:
        raise InputError(
            f"no run has a K={main_k} result (files like "
            f"{runs[0].path('train', main_k, 'Q')}); choose --main-k among the trained K values."
        )
    truth = truth_key = None
    if train_truth is not None:
        # Simulated cohorts: the planted ancestry is drawn first, coloured like the main run.
        truth = read_q(train_truth, n_train)
        truth_key = ("truth", truth.shape[1])
        keys.insert(0, truth_key)
        train_qs.insert(0, truth)
    lambda_runs = dict(lambda_runs or {})
    for name, run in lambda_runs.items():
        keys.append((f"λ={name}", main_k))
        train_qs.append(_load_run_q(run, "train", main_k, n_train, required=True))
    q_train = dict(zip(keys, train_qs, strict=True))
    # The labelling of `neuradmix align` (the workflow's aligned/ files): the main run's clusters
    # name the colours and the truth is aligned last, like any other run, so that colour j is
    # column j of every aligned .Q.
    aligned = align_runs(
        {key: q_train[key] for key in sorted(keys, key=lambda key: key == truth_key)},
        reference=main_key[0],
    )
    return CohortResults(
        genotypes=genotypes,
        runs=runs,
        ks=ks,
        main_k=main_k,
        main_key=main_key,
        train_labels=label_values,
        q_train=q_train,
        colour_ids={key: aligned[key].permutation for key in keys},
        truth_train=truth,
        truth_val_path=val_truth,
        train_truth_path=train_truth,
        val_ids=read_fam_ids(val_bed) if val_bed is not None else None,
        val_labels_path=val_labels,
        cv_files=list(cv_files),
        loss_files=dict(loss_files or {}),
        lambda_runs=lambda_runs,
        max_samples=max_samples or plots.DEFAULT_MAX_BARPLOT_SAMPLES,
        max_pca_samples=max_pca_samples or plots.DEFAULT_MAX_PCA_SAMPLES,
        seed=seed,
    )


# --------------------------------------------------------------------------------------------
# One function per figure: (matplotlib figure, title, caption)
# --------------------------------------------------------------------------------------------


def structure_figure(results: CohortResults):
    """Figure 3a: training and validation barplots, one model per row."""
    from . import plots

    main_k, q_train, colours = results.main_k, results.q_train, results.colour_ids
    truth_panels = []
    if results.truth_train is not None:
        truth_panels = [plots.QPanel("truth", results.truth_train, colours[results.truth_key])]
    model_panels = [
        plots.QPanel(run.name, q_train[(run.name, main_k)], colours[(run.name, main_k)])
        for run in results.runs
        if (run.name, main_k) in q_train
    ]
    sections = [
        plots.BarplotSection(
            f"Training individuals, K={main_k}", results.train_labels, truth_panels + model_panels
        )
    ]
    if results.val_ids is not None:
        val_ids = results.val_ids
        val_panels = []
        if results.truth_val_path is not None and results.truth_train is not None:
            truth_val = read_q(results.truth_val_path, len(val_ids))
            if truth_val.shape[1] != results.truth_train.shape[1]:
                raise InputError(
                    f"{results.truth_val_path}: {truth_val.shape[1]} columns, but the training "
                    f"truth {results.train_truth_path} has {results.truth_train.shape[1]}; use "
                    "the files of one simulation."
                )
            val_panels.append(plots.QPanel("truth", truth_val, colours[results.truth_key]))
        for run in results.runs:
            if (run.name, main_k) not in q_train:
                continue
            q = _load_run_q(run, "val", main_k, len(val_ids), required=False)
            if q is not None:
                val_panels.append(plots.QPanel(run.name, q, colours[(run.name, main_k)]))
        if val_panels:
            sections.append(
                plots.BarplotSection(
                    f"Validation individuals, K={main_k}",
                    _labels_for(results.val_labels_path, val_ids),
                    val_panels,
                )
            )
    fig = plots.plot_structure(sections, max_samples=results.max_samples, seed=results.seed)
    notes = "".join(
        _shown_note(s.shown, s.total, f"{s.title.split(',')[0].lower()}") for s in sections
    )
    caption = (
        "Each bar is one individual and its coloured segments are its estimated ancestry "
        "proportions; individuals are grouped by population label and sorted by their "
        "main component, in the same order for every model of a block"
        + (" (the top row is the simulated truth)." if results.truth_train is not None else ".")
        + notes
    )
    return fig, f"Ancestry proportions at K={main_k}", caption


def pca_figure(results: CohortResults):
    """Figures 3b and 5: PCA of the training genotypes with the centres of every model."""
    from ..stats.pca import fit_pca
    from . import plots

    genotypes = results.genotypes
    labels = results.train_labels
    pca_index = plots.downsample(
        np.where(labels == "", plots.UNLABELLED, labels), results.max_pca_samples, results.seed
    )
    pca = fit_pca(genotypes.calls, 2, rows=pca_index, method="exact")
    centres: dict[int, dict[str, tuple]] = {}
    for run in results.runs:
        for k in results.ks:
            if (run.name, k) not in results.q_train:
                continue
            p = read_p(run.path("train", k, "P"), genotypes.n_snps)
            if p.shape[1] != k:
                raise InputError(
                    f"{run.path('train', k, 'P')}: {p.shape[1]} columns, but K={k}; use the "
                    ".P written together with the .Q."
                )
            centres.setdefault(k, {})[run.name] = (
                pca.project_frequencies(p),
                results.colour_ids[(run.name, k)],
            )
    colours = plots.population_colours(
        labels,
        results.q_train[results.main_key],
        results.colour_ids[results.main_key],
        used=[int(i) for ids in results.colour_ids.values() for i in ids],
    )
    fig = plots.plot_pca_centres(pca, labels[pca_index], centres, colours)
    caption = (
        "Small dots are training individuals coloured by population label and large "
        "markers are the allele frequencies F of each cluster placed in the same axes, one "
        "marker shape per model and one panel per K. Populations and clusters share one "
        f"palette: each population takes the colour of the cluster that dominates it in "
        f"{results.main_key[0]} at K={results.main_key[1]}, as in the barplots."
        + _shown_note(pca_index.size, genotypes.n_samples, "training individuals")
    )
    return fig, "Training data on its first two principal components with cluster centres", caption


def multik_figure(results: CohortResults):
    """Figures 6-7: every K for every run, colours matched across the whole grid."""
    from . import plots

    grid = {
        run.name: {
            k: (results.q_train[(run.name, k)], results.colour_ids[(run.name, k)])
            for k in results.ks
            if (run.name, k) in results.q_train
        }
        for run in results.runs
    }
    fig, shown, total = plots.plot_multik_grid(
        grid,
        results.train_labels,
        max_samples=results.max_samples,
        seed=results.seed,
        order_by=results.main_key,
    )
    ks = results.ks
    caption = (
        "Training individuals for every K (columns) and model (rows), in the same order in "
        "every panel, with clusters matched across K and models so that the same component "
        "keeps its colour." + _shown_note(shown, total, "training individuals")
    )
    return fig, f"Ancestry proportions for K={ks[0]} to {ks[-1]}", caption


def cv_figure(results: CohortResults):
    """Cross-validation error against K, one line per method."""
    from . import plots

    table = pd.concat([read_cv_table(path) for path in results.cv_files], ignore_index=True)
    fig = plots.plot_cv_error(table)
    best = table.loc[table.groupby("method")["cv_error"].idxmin()]
    choice = ", ".join(f"{m}: K={k}" for m, k in zip(best["method"], best["k"], strict=True))
    caption = (
        "Lower is better; the circled point is the K with the smallest held-out "
        f"error for each method ({choice})."
    )
    return fig, "Cross-validation error against K", caption


def loss_figure(results: CohortResults):
    """The training objective per epoch and stage, one panel per neural run."""
    from . import plots

    tables = {name: read_loss_table(path) for name, path in results.loss_files.items()}
    caption = (
        "Training objective of each neural run per epoch: the negative log-likelihood per "
        "observed genotype call of the training individuals (plus the λ term) at the network's "
        "forward pass, first on the common SNPs of the PCA start (blue, left axis), then on "
        "all SNPs (orange, right axis). The first stage stops when the objective improves by "
        "less than 1e-5 (relative) in two epochs running, the second at 1e-6 (1e-5 for a run "
        "that block relaxation polishes afterwards)."
    )
    return plots.plot_loss_curves(tables), "Training objective per epoch", caption


def lambda_figure(results: CohortResults):
    """Figure 8: the same individuals for several values of λ."""
    from . import plots

    main_k, colours = results.main_k, results.colour_ids
    panels, which = {}, "training"
    val_ids = results.val_ids
    if val_ids is not None and all(
        run.path("val", main_k, "Q").is_file() for run in results.lambda_runs.values()
    ):
        which = "validation"
        for name, run in results.lambda_runs.items():
            q = read_q(run.path("val", main_k, "Q"), len(val_ids))
            panels[f"λ={name}"] = (q, colours[(f"λ={name}", main_k)])
        lambda_labels = _labels_for(results.val_labels_path, val_ids)
    else:
        for name in results.lambda_runs:
            key = (f"λ={name}", main_k)
            panels[f"λ={name}"] = (results.q_train[key], colours[key])
        lambda_labels = results.train_labels
    fig, shown, total = plots.plot_lambda_effect(
        panels, lambda_labels, max_samples=results.max_samples, seed=results.seed
    )
    entropies = ", ".join(f"{name} {entropy_of(q).mean():.2f}" for name, (q, _) in panels.items())
    caption = (
        f"Ancestry of the {which} individuals at K={main_k} for each λ: small values "
        "give hard, single-cluster assignments and large values flatten them towards "
        f"uniform. Mean entropy of Q (uniform Q: ln {main_k} = {np.log(main_k):.2f}): "
        f"{entropies}." + _shown_note(shown, total, f"{which} individuals")
    )
    return fig, "Effect of the regularisation λ", caption


# --------------------------------------------------------------------------------------------
# The catalogue and the figure set of a cohort
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FigureSpec:
    name: str  # file stem: NAME.png
    category: str  # subcategory in `snakemake --report`
    label: str  # short name in `snakemake --report`
    needs: str | None  # None: always drawn; "cv", "loss" or "lambda": only with those inputs
    draw: Callable[[CohortResults], tuple]


FIGURES: tuple[FigureSpec, ...] = (
    FigureSpec("structure", "Ancestry", "Barplots at the main K", None, structure_figure),
    FigureSpec("pca", "Ancestry", "PCA with cluster centres", None, pca_figure),
    FigureSpec("multik", "Ancestry", "Every K and model", None, multik_figure),
    FigureSpec("cv", "Choosing K", "Cross-validation error", "cv", cv_figure),
    FigureSpec("loss", "Training", "Loss per epoch", "loss", loss_figure),
    FigureSpec("lambda", "Training", "Effect of λ", "lambda", lambda_figure),
)


def figure_specs(cv: bool, loss: bool, lambda_sweep: bool) -> list[FigureSpec]:
    """The figures a cohort gets, in display order."""
    available = {None: True, "cv": cv, "loss": loss, "lambda": lambda_sweep}
    return [spec for spec in FIGURES if available[spec.needs]]


def figure_names(cv: bool, loss: bool, lambda_sweep: bool) -> list[str]:
    return [spec.name for spec in figure_specs(cv, loss, lambda_sweep)]


def build_figures(out_dir: str | Path, train_bed, runs: list[RunFiles], ks, **inputs):
    """Draw every figure the inputs allow into ``out_dir`` and write the caption manifest.

    Always: ``structure.png`` (Figure 3a), ``pca.png`` (Figures 3b and 5), ``multik.png``
    (Figures 6-7). With ``cv_files``: ``cv.png``; with ``loss_files``: ``loss.png``; with
    ``lambda_runs``: ``lambda.png`` (Figure 8). All or nothing: on error no file is left behind.
    """
    from . import plots

    results = load_results(train_bed, runs, ks, **inputs)
    specs = figure_specs(
        bool(results.cv_files), bool(results.loss_files), bool(results.lambda_runs)
    )
    out_dir = Path(out_dir)
    entries: list[FigureEntry] = []
    with atomic_outputs() as staged:
        for spec in specs:
            fig, title, caption = spec.draw(results)
            plots.save_png(fig, staged(out_dir / f"{spec.name}.png"))
            entries.append(FigureEntry(f"{spec.name}.png", title, caption))
        manifest = staged(out_dir / MANIFEST)
        manifest.write_text(json.dumps([asdict(e) for e in entries], indent=2) + "\n")
    return entries


def read_manifest(figures_dir: str | Path) -> list[FigureEntry]:
    path = Path(figures_dir) / MANIFEST
    if not path.is_file():
        raise InputError(f"{path}: figure manifest not found; run `neuradmix plots` first.")
    try:
        items = json.loads(path.read_text())
        entries = [FigureEntry(**item) for item in items]
    except (ValueError, TypeError):
        raise InputError(
            f"{path}: not a figure manifest written by `neuradmix plots`; run it again."
        ) from None
    for entry in entries:
        if not (Path(figures_dir) / entry.file).is_file():
            raise InputError(
                f"{Path(figures_dir) / entry.file}: listed in {path} but missing; rerun "
                "`neuradmix plots`."
            )
    return entries
