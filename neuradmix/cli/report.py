"""``neuradmix plots`` and ``neuradmix report``: figures and the self-contained HTML report."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..data.outputs import check_name, check_out_dir
from ..errors import InputError
from .common import merge_inputs, parse_pairs, positive_int, require_options


def register(subparsers) -> None:
    _register_plots(subparsers)
    _register_report(subparsers)


def _register_plots(subparsers) -> None:
    plots = subparsers.add_parser(
        "plots",
        help="Draw a cohort's figures (barplots, PCA with cluster centres, multi-K, CV, loss).",
        description=(
            "Draw the figures of one cohort into OUT_DIR, plus figures.json with their captions. "
            "A run directory holds TRAIN_NAME.K.Q, TRAIN_NAME.K.P and optionally VAL_NAME.K.Q."
        ),
    )
    plots.add_argument(
        "--inputs",
        metavar="JSON",
        help=(
            "A manifest giving any of the options below as a JSON object (keys as the options, "
            "with '_' for '-'; --run, --loss and --lambda-run as objects NAME: PATH), as the "
            "workflow writes it; options given on the command line take precedence."
        ),
    )
    plots.add_argument("--train-bed", help="PLINK prefix of the training data.")
    plots.add_argument("--train-labels", help="Population labels of the training individuals.")
    plots.add_argument("--val-bed", help="PLINK prefix (or .fam) of the validation data.")
    plots.add_argument("--val-labels", help="Population labels of the validation individuals.")
    plots.add_argument(
        "--run",
        action="append",
        default=[],
        metavar="NAME=DIR",
        help="A model's output directory, shown as NAME (repeat; the first sets the sort order).",
    )
    plots.add_argument("--k", type=int, nargs="+", help="K values to draw.")
    plots.add_argument(
        "--main-k", type=int, help="K of the barplots and λ figure (default: the middle --k)."
    )
    plots.add_argument(
        "--cv", nargs="*", default=[], metavar="FILE", help="CV tables (METHOD.cv.tsv)."
    )
    plots.add_argument(
        "--loss",
        action="append",
        default=[],
        metavar="NAME=FILE",
        help="Loss table of a neural run (repeat).",
    )
    plots.add_argument(
        "--lambda-run",
        action="append",
        default=[],
        metavar="LAMBDA=DIR",
        help="Output directory of a run trained with this λ (repeat) for the λ figure.",
    )
    plots.add_argument("--train-truth", help="True Q of the training individuals (simulations).")
    plots.add_argument("--val-truth", help="True Q of the validation individuals (simulations).")
    plots.add_argument("--train-name", default="train", help="Stem of training outputs.")
    plots.add_argument("--val-name", default="val", help="Stem of validation outputs.")
    plots.add_argument(
        "--max-samples",
        type=positive_int,
        default=3000,
        help="Most individuals drawn per barplot; more are downsampled by population (3000).",
    )
    plots.add_argument(
        "--max-pca-samples",
        type=positive_int,
        default=4000,
        help="Most individuals in the PCA (4000).",
    )
    plots.add_argument("--seed", type=int, default=0, help="Seed of the downsampling (0).")
    plots.add_argument(
        "--out", required=True, metavar="DIR", help="Directory for the PNG files and figures.json."
    )
    plots.set_defaults(func=_plots)


def _register_report(subparsers) -> None:
    report = subparsers.add_parser(
        "report",
        help="Write one self-contained HTML report for a cohort.",
        description=(
            "Render one self-contained HTML file: cohort summary, Table 2, timings, the figures "
            "of `neuradmix plots`, configuration and software versions."
        ),
    )
    report.add_argument("--cohort", required=True, help="Cohort name shown in the title.")
    report.add_argument("--figures", required=True, help="Directory written by `neuradmix plots`.")
    report.add_argument("--table2", help="Table 2 of the cohort (table2.tsv).")
    report.add_argument("--metrics", help="Full metrics table of the cohort (metrics.tsv).")
    report.add_argument(
        "--fileset",
        action="append",
        default=[],
        metavar="STAGE=PREFIX",
        help="A PLINK fileset to count samples and SNPs of, e.g. qc=results/c/prepare/qc (repeat).",
    )
    report.add_argument(
        "--labels",
        action="append",
        default=[],
        metavar="PARTITION=LABELS:PREFIX",
        help="Labels of a partition and the fileset they describe (repeat).",
    )
    report.add_argument(
        "--cv", nargs="*", default=[], metavar="FILE", help="CV tables (METHOD.cv.tsv)."
    )
    report.add_argument(
        "--reference-baseline",
        help="Baseline model the headline compares with (default: the metrics' baseline).",
    )
    report.add_argument(
        "--inputs",
        metavar="JSON",
        help=(
            "A manifest giving --fileset, --labels (objects STAGE: PREFIX and PARTITION: "
            "LABELS:PREFIX), --cv, --reference-baseline and the configuration ('config', an "
            "object) as JSON, as the workflow writes it; options on the command line come first."
        ),
    )
    config = report.add_mutually_exclusive_group()
    config.add_argument("--config", help="Configuration used, as a YAML or JSON file.")
    config.add_argument("--config-json", help="Configuration used, as JSON text.")
    report.add_argument(
        "--out", required=True, metavar="DIR", help="Output directory (created if missing)."
    )
    report.add_argument("--name", default="report", help="Writes DIR/NAME.html (default: report).")
    report.set_defaults(func=_report)


def _plots(args: argparse.Namespace) -> int:
    from ..report.figures import RunFiles, build_figures

    merge_inputs(args, ("run", "loss", "lambda_run"))
    require_options(args, "train_bed", "run", "k")
    runs = [
        RunFiles(name, Path(directory), args.train_name, args.val_name)
        for name, directory in parse_pairs(args.run, "--run", "NAME=DIR").items()
    ]
    lambdas = {
        value: RunFiles(f"λ={value}", Path(directory), args.train_name, args.val_name)
        for value, directory in parse_pairs(args.lambda_run, "--lambda-run", "LAMBDA=DIR").items()
    }
    out = check_out_dir(args.out)
    entries = build_figures(
        out,
        args.train_bed,
        runs,
        args.k,
        main_k=args.main_k,
        train_labels=args.train_labels,
        val_bed=args.val_bed,
        val_labels=args.val_labels,
        cv_files=args.cv,
        loss_files=parse_pairs(args.loss, "--loss", "NAME=FILE"),
        lambda_runs=lambdas,
        train_truth=args.train_truth,
        val_truth=args.val_truth,
        max_samples=args.max_samples,
        max_pca_samples=args.max_pca_samples,
        seed=args.seed,
    )
    print(f"wrote {len(entries)} figures to {out}", file=sys.stderr)
    return 0


def _report(args: argparse.Namespace) -> int:
    from ..report.html import build_report

    extra = merge_inputs(args, ("fileset", "labels"), extra=("config",))
    if "config" in extra and args.config is None and args.config_json is None:
        if not isinstance(extra["config"], dict):
            raise InputError(f"--inputs {args.inputs}: 'config' must be a JSON object.")
        args.config = extra["config"]
    filesets = list(parse_pairs(args.fileset, "--fileset", "STAGE=PREFIX").items())
    labels = {}
    for partition, value in parse_pairs(args.labels, "--labels", "PARTITION=LABELS:PREFIX").items():
        label_file, sep, prefix = value.rpartition(":")
        if not sep or not label_file or not prefix:
            raise InputError(
                f"--labels {partition}={value}: expected PARTITION=LABELS:PREFIX, e.g. "
                "train=results/c/prepare/train.labels:results/c/prepare/train."
            )
        labels[partition] = (label_file, prefix)
    config = args.config
    if args.config_json is not None:
        try:
            config = json.loads(args.config_json)
        except json.JSONDecodeError as exc:
            raise InputError(f"--config-json: not valid JSON ({exc}).") from None
        if not isinstance(config, dict):
            raise InputError("--config-json: expected a JSON object.")
    out = build_report(
        check_out_dir(args.out) / f"{check_name(args.name)}.html",
        args.cohort,
        args.figures,
        table2=args.table2,
        metrics=args.metrics,
        filesets=filesets,
        labels=labels,
        config=config,
        cv_files=args.cv,
        reference=args.reference_baseline,
    )
    print(f"wrote {out}", file=sys.stderr)
    return 0
