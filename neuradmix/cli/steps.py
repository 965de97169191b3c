"""Subcommands the Snakemake workflow calls between the heavy steps.

``check-vcf``, ``split``, ``downsample``, ``match-snps``, ``cv-table``, ``evaluate-model``,
``metrics-table``, ``align`` and ``pong``. Every ``--out`` names a directory (created if
missing); ``--name``, where a command takes it, is the stem of the files written there.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..data.outputs import check_name, check_out_dir
from ..errors import InputError
from .common import (
    add_inputs,
    add_seed,
    add_threads,
    merge_inputs,
    parse_pairs,
    require_options,
)


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _stem(path: str, suffixes=(".bed", ".bim", ".fam", ".gz", ".vcf", ".tsv", ".txt", ".log")):
    name = Path(path).name
    while any(name.endswith(s) for s in suffixes):
        name = next(name[: -len(s)] for s in suffixes if name.endswith(s))
    return name


def _out(args, default_name: str | None = None) -> tuple[Path, str | None]:
    """``--out`` checked as a directory and ``--name`` (or its default) as a stem."""
    out = check_out_dir(args.out)
    name = getattr(args, "name", None) or default_name
    return out, (check_name(name) if name is not None else None)


def _existing(path: str, what: str) -> None:
    if not Path(path).is_file():
        raise InputError(f"{path}: {what} not found.")


def _check_vcf(args: argparse.Namespace) -> int:
    from ..data.vcf import check_vcf, write_vcf_summary

    out = name = None
    if args.out:
        out, name = _out(args, _stem(args.vcf))
    _existing(args.vcf, "VCF file")
    summary = check_vcf(args.vcf, require_phased=args.require_phased)
    if out is not None:
        write_vcf_summary(summary, out / f"{name}.vcf_check.tsv")
    _log(
        f"{args.vcf}: {summary.n_samples} diploid samples, {summary.n_sites} records, "
        f"{summary.n_biallelic_snps} biallelic SNPs kept; {summary.n_multiallelic} multi-allelic "
        f"and {summary.n_other} other records (indels, symbolic, monomorphic) will be dropped; "
        f"phased: {'yes' if summary.phased else 'no'}."
    )
    return 0


def _split(args: argparse.Namespace) -> int:
    from ..steps.split import write_split

    out, _ = _out(args)
    n_train, n_val = write_split(
        args.bed,
        out,
        labels_path=args.labels,
        validation_fraction=args.validation_fraction,
        seed=args.seed,
        min_samples=args.min_samples,
    )
    _log(
        f"{n_train} training and {n_val} validation samples listed in {out}/train.keep and "
        f"{out}/val.keep (with their labels)"
    )
    return 0


def _downsample(args: argparse.Namespace) -> int:
    from ..steps.downsample import write_uniform_snp_list

    out, name = _out(args, _stem(args.bed))
    path, kept, total = write_uniform_snp_list(
        args.bed, out, name, every=args.every, target=args.target
    )
    _log(f"{kept} of {total} SNPs, evenly spaced, listed in {path} (for plink2 --extract)")
    return 0


def _match_snps(args: argparse.Namespace) -> int:
    from ..data import require_fileset
    from ..steps.match import write_matched

    out, name = _out(args, _stem(args.bed))
    require_fileset(args.bed)
    _existing(args.reference, "reference .bim")
    matched = write_matched(args.bed, args.reference, out / name)
    _log(f"{matched.n_samples} samples on the {matched.n_snps} model SNPs written to {out}/{name}")
    return 0


def _cv_table(args: argparse.Namespace) -> int:
    from ..steps.tables import cv_table_file

    out, name = _out(args, _stem(args.cv_output).removesuffix(".cv"))
    path = cv_table_file(args.cv_output, out, name)
    _log(f"wrote {path}")
    return 0


def _evaluate_model(args: argparse.Namespace) -> int:
    from ..runtime import set_threads
    from ..steps.evaluate import evaluate_model

    out, name = _out(args, Path(args.model_dir).name)
    data = parse_pairs(args.data, "--data", "PARTITION=PATH")
    labels = parse_pairs(args.labels, "--labels", "PARTITION=PATH")
    truth = parse_pairs(args.truth_q, "--truth-q", "PARTITION=PATH")
    set_threads(args.threads)
    table = evaluate_model(args.model_dir, args.ks, data, out / f"{name}.tsv", labels, truth)
    _log(f"{len(table)} evaluations (K x partition) written to {out}/{name}.tsv")
    return 0


def _metrics_table(args: argparse.Namespace) -> int:
    from ..steps.tables import assemble_metrics, write_metrics

    merge_inputs(args, pairs=("mode",))
    require_options(args, "evaluations")
    out, _ = _out(args)
    files = list(args.evaluations) + list(args.timings or []) + list(args.cv or [])
    for path in files:
        _existing(path, "input of the metrics table")
    metrics = assemble_metrics(
        args.cohort,
        args.evaluations,
        timings=args.timings or [],
        cv_tables=args.cv or [],
        modes=parse_pairs(args.mode, "--mode", "RUN=MODE"),
        reference_baseline=args.reference_baseline,
    )
    metrics_path, table2_path = write_metrics(metrics, out)
    _log(f"{len(metrics)} rows written to {metrics_path}; Table 2 to {table2_path}")
    return 0


def _pong(args: argparse.Namespace) -> int:
    from ..steps.pong import write_pong_files

    merge_inputs(args, pairs=("q",))
    require_options(args, "q")
    out, name = _out(args, _stem(args.fam))
    q_files = parse_pairs(args.q, "--q", "RUN_ID=FILE.Q")
    _, ind2pop, gaps = write_pong_files(q_files, args.fam, out, name, args.labels)
    filemap = out / f"{name}.filemap"
    command = f"pong -m {filemap}" + (f" -i {out / ind2pop.name}" if ind2pop else "")
    _log(f"{len(q_files)} .Q files listed in {filemap}; draw them with `{command}`")
    if gaps:
        _log(
            f"note: pong needs a .Q for every K in its range and none was fitted at K="
            f"{','.join(map(str, gaps))}; remove the lines of the K outside one unbroken range "
            "(or fit the missing K) before running pong."
        )
    return 0


def _align(args: argparse.Namespace) -> int:
    from ..steps.align import MODES, PERMUTATIONS, align_q_files

    merge_inputs(args, pairs=("q",))
    require_options(args, "q")
    out, _ = _out(args)
    # One pair per file: a run lists one .Q per K, so the same run name comes back.
    q_files = [next(iter(parse_pairs([item], "--q", "RUN=FILE.Q").items())) for item in args.q]
    threshold = {} if args.mode_threshold is None else {"threshold": args.mode_threshold}
    permutations, modes = align_q_files(q_files, out, args.reference, args.fam, **threshold)
    _log(
        f"{len(permutations)} .Q files aligned to one labelling in {out}; permutations in "
        f"{out / PERMUTATIONS}, {len(modes)} modes over {modes['k'].nunique()} K in {out / MODES}"
    )
    return 0


def _add_out(parser, name_help: str | None) -> None:
    parser.add_argument(
        "--out", required=True, metavar="DIR", help="output directory (created if missing)"
    )
    if name_help:
        parser.add_argument("--name", help=name_help)


def register(subparsers) -> None:
    _register_check_vcf(subparsers)
    _register_split(subparsers)
    _register_downsample(subparsers)
    _register_match_snps(subparsers)
    _register_cv_table(subparsers)
    _register_evaluate_model(subparsers)
    _register_metrics_table(subparsers)
    _register_align(subparsers)
    _register_pong(subparsers)


def _register_check_vcf(subparsers) -> None:
    parser = subparsers.add_parser(
        "check-vcf",
        help="Check a VCF before conversion: diploid calls only, phasing, site counts.",
        description=(
            "Scan a VCF and refuse haploid or polyploid calls (plink2 would read them silently "
            "as diploid). Counts multi-allelic and non-SNP records, which the conversion drops."
        ),
    )
    parser.add_argument("vcf", help="VCF or bgzipped VCF.")
    parser.add_argument(
        "--require-phased",
        action="store_true",
        help="Fail unless every call is phased ('|'); needed by the descendant simulation.",
    )
    parser.add_argument(
        "--out", metavar="DIR", help="Also write the counts to DIR/NAME.vcf_check.tsv."
    )
    parser.add_argument("--name", help="Stem of the summary file (default: the VCF's stem).")
    parser.set_defaults(func=_check_vcf)


def _register_split(subparsers) -> None:
    parser = subparsers.add_parser(
        "split",
        help="Stratified train/validation split: sample lists for plink2 --keep, and labels.",
        description=(
            "Choose the validation samples separately in each population (seeded) from the .fam "
            "and the labels, and write DIR/train.keep and DIR/val.keep (for `plink2 --keep`) and "
            "DIR/train.labels and DIR/val.labels. Genotypes are not read: plink2 writes the "
            "partitions (`plink2 --bfile IN --keep DIR/train.keep --make-bed --out DIR/train`)."
        ),
    )
    parser.add_argument("bed", help="PLINK fileset (.bed path or prefix); only its .fam is read.")
    _add_out(parser, None)
    parser.add_argument(
        "--labels",
        help="Population labels: two columns SAMPLE LABEL, or an ADMIXTURE .pop file.",
    )
    parser.add_argument(
        "--validation-fraction",
        type=float,
        default=0.2,
        help="Fraction of each population put in validation (default: 0.2).",
    )
    add_seed(parser)
    parser.add_argument(
        "--min-samples",
        type=int,
        default=2,
        help="Fail if a partition gets fewer samples than this (default: 2).",
    )
    parser.set_defaults(func=_split)


def _register_downsample(subparsers) -> None:
    parser = subparsers.add_parser(
        "downsample",
        help="List evenly spaced SNPs (every n-th, or a target count) for plink2 --extract.",
        description=(
            "Uniform SNP downsampling, as the Neural ADMIXTURE paper did for chromosome 1: "
            "stream the .bim and write the IDs of evenly spaced SNPs to DIR/NAME.snps; "
            "`plink2 --bfile IN --extract DIR/NAME.snps --make-bed --out OUT` writes the "
            "fileset. SNP IDs must be unique (plink2 --rm-dup exclude-all)."
        ),
    )
    parser.add_argument("bed", help="PLINK fileset (.bed path or prefix); only its .bim is read.")
    choice = parser.add_mutually_exclusive_group(required=True)
    choice.add_argument("--every", type=int, help="Keep SNPs 1, 1+n, 1+2n, ...")
    choice.add_argument("--target", type=int, help="Keep this many evenly spaced SNPs.")
    _add_out(parser, "Stem of the SNP list (default: the fileset's stem).")
    parser.set_defaults(func=_downsample)


def _register_match_snps(subparsers) -> None:
    parser = subparsers.add_parser(
        "match-snps",
        help="Put a target cohort on a model's SNPs (order and counted allele).",
        description=(
            "Restrict and reorder a target fileset to the SNPs of a reference .bim (matched on "
            "chromosome, position and alleles), flipping counts where the alleles are swapped; "
            "SNPs absent from the target become missing. Writes DIR/NAME.{bed,bim,fam}."
        ),
    )
    parser.add_argument("bed", help="Target PLINK fileset.")
    parser.add_argument("--reference", required=True, help=".bim of the training data.")
    _add_out(parser, "Stem of the matched fileset (default: the target's stem).")
    parser.set_defaults(func=_match_snps)


def _register_cv_table(subparsers) -> None:
    parser = subparsers.add_parser(
        "cv-table",
        help="Turn saved 'CV error (K=k): x' lines into DIR/NAME.cv.tsv (k, cv_error).",
    )
    parser.add_argument("cv_output", help="Saved stdout of `neuradmix cv` or `admixture --cv`.")
    _add_out(parser, "Stem of the table, the CV method (default: the input's stem).")
    parser.set_defaults(func=_cv_table)


def _register_evaluate_model(subparsers) -> None:
    parser = subparsers.add_parser(
        "evaluate-model",
        help="Evaluate every K and partition of one model directory in one pass.",
        description=(
            "For a model directory with train.K.P and PARTITION.K.Q files, write DIR/NAME.tsv: "
            "one row per partition and K with the columns `neuradmix evaluate` prints "
            "(log-likelihood under train.K.P, L_N lambda=0, AMI and Delta against the labels, "
            "RMSE against the truth Q at its own K). Each fileset is read once."
        ),
    )
    parser.add_argument("--model-dir", required=True, help="Directory of the model's .Q/.P.")
    parser.add_argument("--ks", type=int, nargs="+", required=True, help="K values to evaluate.")
    parser.add_argument(
        "--data",
        action="append",
        required=True,
        metavar="PARTITION=BED",
        help="PLINK fileset of a partition, e.g. train=prepare/train.bed (repeatable).",
    )
    parser.add_argument(
        "--labels", action="append", metavar="PARTITION=FILE", help="Labels of a partition."
    )
    parser.add_argument(
        "--truth-q", action="append", metavar="PARTITION=FILE", help="Truth Q of a partition."
    )
    _add_out(parser, "Stem of the table (default: the model directory's name).")
    add_threads(parser)
    parser.set_defaults(func=_evaluate_model)


def _register_metrics_table(subparsers) -> None:
    parser = subparsers.add_parser(
        "metrics-table",
        help="Assemble per-model evaluations, timings and CV errors into one table.",
        description=(
            "Read `neuradmix evaluate-model` tables named .../{method}/{model}.tsv, the timing "
            "sidecars of the fits (.../{method}/{model}/NAME[.K].timing.tsv, written by train, "
            "infer, baseline and project) and CV tables .../{method}.cv.tsv, and write "
            "DIR/metrics.tsv (one row per model x K x partition, fit and whole-process seconds, "
            "speedups S = T_classic / T_neural on the fit seconds) and DIR/table2.tsv."
        ),
    )
    parser.add_argument("--cohort", required=True, help="Cohort name for the first column.")
    parser.add_argument("--evaluations", nargs="+", help="Evaluation tables (required).")
    parser.add_argument("--timings", nargs="*", help="Timing sidecars (NAME[.K].timing.tsv).")
    parser.add_argument("--cv", nargs="*", help="CV tables (METHOD.cv.tsv).")
    parser.add_argument(
        "--mode", action="append", help="RUN=MODE for each neural run (repeatable)."
    )
    parser.add_argument(
        "--reference-baseline",
        help="Baseline model the speedups are measured against (e.g. the configured tool).",
    )
    add_inputs(
        parser,
        "--evaluations, --timings, --cv (lists), --mode (an object RUN: MODE) and "
        "--reference-baseline",
    )
    _add_out(parser, None)
    parser.set_defaults(func=_metrics_table)


def _register_align(subparsers) -> None:
    parser = subparsers.add_parser(
        "align",
        help="Align the clusters of many .Q files (every run and K) to one labelling; modes.",
        description=(
            "Permute the columns of every .Q (all of the same individuals) so that column j "
            "holds the same cluster in every run and at every K, as Clumppling does: within a K "
            "by the permutation of least squared difference to the reference run, across K by "
            "finding the cluster that split. Writes DIR/RUN.K.Q (ADMIXTURE format), "
            "DIR/permutations.tsv (the reference column of each original column) and "
            "DIR/modes.tsv (the runs of each K whose pairwise similarity G' reaches "
            "--mode-threshold)."
        ),
    )
    parser.add_argument(
        "--q",
        action="append",
        metavar="RUN=FILE.Q",
        help="A .Q file and its run (a letter, then letters, digits, _ or -); repeat, one per "
        "run and K (required, here or in --inputs).",
    )
    parser.add_argument(
        "--reference",
        help="Run whose clusters name the labels (default: the first run given).",
    )
    parser.add_argument("--fam", help=".fam of the individuals (checks the number of rows).")
    parser.add_argument(
        "--mode-threshold",
        type=float,
        help="Least G' between every two runs of a mode (default: 0.9).",
    )
    add_inputs(parser, "--q (an object RUN: [FILE.Q, ...], one .Q per K) and --reference")
    _add_out(parser, None)
    parser.set_defaults(func=_align)


def _register_pong(subparsers) -> None:
    parser = subparsers.add_parser(
        "pong",
        help="Write a pong filemap (and ind2pop) listing .Q files of the same individuals.",
        description=(
            "Write DIR/NAME.filemap (run ID, K, path of the .Q relative to DIR; tab-separated) "
            "and, with --labels, DIR/NAME.ind2pop (one population per individual, .fam order), "
            "so that `pong -m DIR/NAME.filemap -i DIR/NAME.ind2pop` draws the .Q files as they "
            "are."
        ),
    )
    parser.add_argument(
        "--q",
        action="append",
        metavar="RUN_ID=FILE.Q",
        help="A .Q file and its pong run ID (a letter, then letters, digits, _ or -); repeat "
        "(required, here or in --inputs).",
    )
    parser.add_argument("--fam", required=True, help=".fam of the individuals of every .Q.")
    parser.add_argument("--labels", help="Population labels of those individuals.")
    add_inputs(parser, "--q (an object RUN_ID: FILE.Q)")
    _add_out(parser, "Stem of the two files (default: the .fam's stem).")
    parser.set_defaults(func=_pong)
