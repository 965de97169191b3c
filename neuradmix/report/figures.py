"""Read a cohort's result files and draw its figure set, with a caption manifest for the report.

The ``neuradmix plots`` command calls :func:`build_figures`; it writes the PNG files and
``figures.json`` (file, title, caption of each figure, in display order), which
``neuradmix report`` embeds. Captions carry facts known only while drawing, such as how many
individuals a barplot shows after downsampling.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .. import plots
from ..errors import InputError, atomic_outputs
from ..io import plink_prefix, read_bed, read_labels, read_p, read_q

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
        stem = self.train_name if partition == "train" else self.val_name
        return self.directory / f"{stem}.{k}.{kind}"


def parse_assignment(text: str, option: str) -> tuple[str, str]:
    """``NAME=VALUE`` command-line pairs (``--run neural/default=results/c/neural/default``)."""
    name, sep, value = text.partition("=")
    if not sep or not name or not value:
        raise InputError(f"{option} {text!r}: expected NAME=PATH, e.g. {option} neural=results/x.")
    return name, value


def read_fam_ids(path: str | Path) -> list[str]:
    """IIDs of a ``.fam`` file (or of the fileset a ``.bed``/prefix names)."""
    fam = plink_prefix(path)
    fam = fam.with_name(fam.name + ".fam")
    if not fam.is_file():
        raise InputError(f"{fam}: file not found; give the PLINK prefix of the validation set.")
    rows = [line.split() for line in fam.read_text().splitlines() if line.strip()]
    if any(len(row) < 2 for row in rows):
        raise InputError(f"{fam}: every .fam line needs at least FID and IID columns.")
    return [row[1] for row in rows]


def read_cv_table(path: str | Path) -> pd.DataFrame:
    """Cross-validation errors of one method: a ``K cv_error`` table or ADMIXTURE log lines.

    The method name is the file name without ``.cv.tsv`` (``em.cv.tsv`` -> ``em``). Lines such
    as ``CV error (K=3): 0.52`` (what ADMIXTURE and ``neuradmix cv`` print) are accepted too.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: CV table not found; run `neuradmix cv` to make it.")
    method = re.sub(r"(\.cv)?(\.tsv|\.txt|\.log)?$", "", path.name)
    text = path.read_text()
    pairs = re.findall(r"CV error \(K=(\d+)\)\s*:\s*([0-9.eE+-]+)", text)
    if pairs:
        rows = [(int(k), float(v)) for k, v in pairs]
    else:
        try:
            table = pd.read_csv(path, sep=r"\s+")
        except (pd.errors.EmptyDataError, pd.errors.ParserError):
            table = pd.DataFrame()
        columns = {c.lower(): c for c in table.columns}
        if "k" not in columns or "cv_error" not in columns:
            raise InputError(
                f"{path}: expected a table with columns K and cv_error, or lines like "
                "'CV error (K=3): 0.52'; regenerate it with `neuradmix cv`."
            )
        values = table[[columns["k"], columns["cv_error"]]].apply(pd.to_numeric, errors="coerce")
        if values.isna().any().any():
            raise InputError(f"{path}: K and cv_error must be numbers on every line.")
        rows = [(int(k), float(v)) for k, v in values.itertuples(index=False)]
    if not rows:
        raise InputError(f"{path}: no CV errors in this file; regenerate it with `neuradmix cv`.")
    return pd.DataFrame(
        {"method": method, "k": [r[0] for r in rows], "cv_error": [r[1] for r in rows]}
    )


def read_loss_table(path: str | Path) -> pd.DataFrame:
    """A training log of ``neuradmix train`` (columns epoch, train_loss, val_loss, ...)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: loss table not found; it is written by `neuradmix train`.")
    try:
        table = pd.read_csv(path, sep="\t")
    except (pd.errors.EmptyDataError, pd.errors.ParserError):
        table = pd.DataFrame()
    if "epoch" not in table.columns or "train_loss" not in table.columns or table.empty:
        raise InputError(
            f"{path}: expected a tab-separated table with columns epoch and train_loss (and "
            "val_loss), as `neuradmix train` writes it."
        )
    return table


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


def build_figures(
    out_dir: str | Path,
    train_bed: str | Path,
    runs: list[RunFiles],
    ks: list[int],
    main_k: int | None = None,
    train_labels: str | Path | None = None,
    val_bed: str | Path | None = None,
    val_labels: str | Path | None = None,
    cv_files: list[str | Path] = (),
    loss_files: dict[str, str | Path] | None = None,
    lambda_runs: dict[str, RunFiles] | None = None,
    train_truth: str | Path | None = None,
    val_truth: str | Path | None = None,
    max_samples: int = plots.DEFAULT_MAX_BARPLOT_SAMPLES,
    max_pca_samples: int = plots.DEFAULT_MAX_PCA_SAMPLES,
    seed: int = 0,
) -> list[FigureEntry]:
    """Draw every figure the inputs allow into ``out_dir`` and write the caption manifest.

    Always: ``structure.png`` (Figure 3a), ``pca.png`` (Figures 3b and 5), ``multik.png``
    (Figures 6-7). With ``cv_files``: ``cv.png``; with ``loss_files``: ``loss.png``; with
    ``lambda_runs``: ``lambda.png`` (Figure 8). All or nothing: on error no file is left behind.
    """
    if not runs:
        raise InputError("no runs given; pass at least one --run NAME=DIR.")
    ks = sorted(set(int(k) for k in ks))
    if not ks:
        raise InputError("no K given; pass --k with the K values that were trained.")
    main_k = ks[len(ks) // 2] if main_k is None else int(main_k)
    if main_k not in ks:
        raise InputError(f"--main-k {main_k} is not one of --k {' '.join(map(str, ks))}.")
    out_dir = Path(out_dir)

    genotypes = read_bed(train_bed)
    n_train = genotypes.n_samples
    train_label_values = _labels_for(train_labels, genotypes.sample_ids)

    # Training Q of every run and K: these fix the colours for every figure.
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
    truth_train = None
    if train_truth is not None:
        # Simulated cohorts: the planted ancestry is drawn first and fixes the colours.
        truth_train = read_q(train_truth, n_train)
        keys.insert(0, ("truth", truth_train.shape[1]))
        train_qs.insert(0, truth_train)
    lambda_runs = lambda_runs or {}
    lambda_train = {}
    for name, run in lambda_runs.items():
        q = _load_run_q(run, "train", main_k, n_train, required=True)
        lambda_train[name] = q
        keys.append((f"λ={name}", main_k))
        train_qs.append(q)
    colour_ids = dict(zip(keys, plots.align_colours(train_qs), strict=True))
    q_train = dict(zip(keys, train_qs, strict=True))

    entries: list[FigureEntry] = []
    with atomic_outputs() as staged:
        # Figure 3a: training and validation barplots, one model per row.
        truth_panels = []
        if truth_train is not None:
            truth_key = ("truth", truth_train.shape[1])
            truth_panels = [plots.QPanel("truth", truth_train, colour_ids[truth_key])]
        sections = [
            plots.BarplotSection(
                f"Training individuals, K={main_k}",
                train_label_values,
                truth_panels
                + [
                    plots.QPanel(
                        run.name, q_train[(run.name, main_k)], colour_ids[(run.name, main_k)]
                    )
                    for run in runs
                    if (run.name, main_k) in q_train
                ],
            )
        ]
        val_ids = read_fam_ids(val_bed) if val_bed is not None else None
        if val_ids is not None:
            val_label_values = _labels_for(val_labels, val_ids)
            val_panels = []
            if val_truth is not None and truth_train is not None:
                truth_val = read_q(val_truth, len(val_ids))
                if truth_val.shape[1] != truth_train.shape[1]:
                    raise InputError(
                        f"{val_truth}: {truth_val.shape[1]} columns, but the training truth "
                        f"{train_truth} has {truth_train.shape[1]}; use the files of one "
                        "simulation."
                    )
                val_panels.append(plots.QPanel("truth", truth_val, colour_ids[truth_key]))
            for run in runs:
                if (run.name, main_k) not in q_train:
                    continue
                q = _load_run_q(run, "val", main_k, len(val_ids), required=False)
                if q is not None:
                    val_panels.append(plots.QPanel(run.name, q, colour_ids[(run.name, main_k)]))
            if val_panels:
                sections.append(
                    plots.BarplotSection(
                        f"Validation individuals, K={main_k}", val_label_values, val_panels
                    )
                )
        fig = plots.plot_structure(sections, max_samples=max_samples, seed=seed)
        plots.save_png(fig, staged(out_dir / "structure.png"))
        notes = "".join(
            _shown_note(s.shown, s.total, f"{s.title.split(',')[0].lower()}") for s in sections
        )
        entries.append(
            FigureEntry(
                "structure.png",
                f"Ancestry proportions at K={main_k}",
                "Each bar is one individual and its coloured segments are its estimated ancestry "
                "proportions; individuals are grouped by population label and sorted by their "
                "main component, in the same order for every model of a block"
                + (" (the top row is the simulated truth)." if truth_train is not None else ".")
                + notes,
            )
        )

        # Figures 3b and 5: PCA of the training genotypes with the centres of every model.
        pca_index = plots.downsample(
            np.where(train_label_values == "", plots.UNLABELLED, train_label_values),
            max_pca_samples,
            seed,
        )
        pca = plots.genotype_pca(genotypes.calls, sample_index=pca_index)
        centres: dict[int, dict[str, tuple]] = {}
        for run in runs:
            for k in ks:
                if (run.name, k) not in q_train:
                    continue
                p = read_p(run.path("train", k, "P"), genotypes.n_snps)
                if p.shape[1] != k:
                    raise InputError(
                        f"{run.path('train', k, 'P')}: {p.shape[1]} columns, but K={k}; use the "
                        ".P written together with the .Q."
                    )
                centres.setdefault(k, {})[run.name] = (
                    pca.project_frequencies(p),
                    colour_ids[(run.name, k)],
                )
        fig = plots.plot_pca_centres(pca, train_label_values[pca_index], centres)
        plots.save_png(fig, staged(out_dir / "pca.png"))
        entries.append(
            FigureEntry(
                "pca.png",
                "Training data on its first two principal components with cluster centres",
                "Small dots are training individuals coloured by population label and large "
                "markers are the allele frequencies F of each cluster placed in the same axes, one "
                "marker shape per model and one panel per K."
                + _shown_note(pca_index.size, n_train, "training individuals"),
            )
        )

        # Figures 6-7: every K for every run, colours matched across the whole grid.
        grid = {
            run.name: {
                k: (q_train[(run.name, k)], colour_ids[(run.name, k)])
                for k in ks
                if (run.name, k) in q_train
            }
            for run in runs
        }
        fig, shown, total = plots.plot_multik_grid(
            grid,
            train_label_values,
            max_samples=max_samples,
            seed=seed,
            order_by=main_key,
        )
        plots.save_png(fig, staged(out_dir / "multik.png"))
        entries.append(
            FigureEntry(
                "multik.png",
                f"Ancestry proportions for K={ks[0]} to {ks[-1]}",
                "Training individuals for every K (rows) and model (columns), with clusters "
                "matched across K and models so that the same component keeps its colour."
                + _shown_note(shown, total, "training individuals"),
            )
        )

        if cv_files:
            table = pd.concat([read_cv_table(path) for path in cv_files], ignore_index=True)
            plots.save_png(plots.plot_cv_error(table), staged(out_dir / "cv.png"))
            best = table.loc[table.groupby("method")["cv_error"].idxmin()]
            choice = ", ".join(
                f"{m}: K={k}" for m, k in zip(best["method"], best["k"], strict=True)
            )
            entries.append(
                FigureEntry(
                    "cv.png",
                    "Cross-validation error against K",
                    "Lower is better; the circled point is the K with the smallest held-out "
                    f"error for each method ({choice}).",
                )
            )

        if loss_files:
            tables = {name: read_loss_table(path) for name, path in loss_files.items()}
            plots.save_png(plots.plot_loss_curves(tables), staged(out_dir / "loss.png"))
            entries.append(
                FigureEntry(
                    "loss.png",
                    "Training and validation loss",
                    "Loss of the neural model per epoch on the training individuals and on the "
                    "held-out individuals used for early stopping.",
                )
            )

        if lambda_runs:
            panels, which = {}, "training"
            if val_ids is not None and all(
                run.path("val", main_k, "Q").is_file() for run in lambda_runs.values()
            ):
                which = "validation"
                for name, run in lambda_runs.items():
                    q = read_q(run.path("val", main_k, "Q"), len(val_ids))
                    panels[f"λ={name}"] = (q, colour_ids[(f"λ={name}", main_k)])
                lambda_labels = _labels_for(val_labels, val_ids)
            else:
                for name in lambda_runs:
                    panels[f"λ={name}"] = (lambda_train[name], colour_ids[(f"λ={name}", main_k)])
                lambda_labels = train_label_values
            fig, shown, total = plots.plot_lambda_effect(
                panels, lambda_labels, max_samples=max_samples, seed=seed
            )
            plots.save_png(fig, staged(out_dir / "lambda.png"))
            entries.append(
                FigureEntry(
                    "lambda.png",
                    "Effect of the regularisation λ",
                    f"Ancestry of the {which} individuals at K={main_k} for each λ: small values "
                    "give hard, single-cluster assignments and large values flatten them towards "
                    "uniform." + _shown_note(shown, total, f"{which} individuals"),
                )
            )

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
