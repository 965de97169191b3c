"""Subcommands the Snakemake workflow calls between the heavy steps.

``check-vcf``, ``split``, ``downsample``, ``match-snps``, ``cv-table``, ``evaluate-model`` and
``metrics-table``.
"""

from __future__ import annotations

import argparse
import sys

from .common import parse_pairs


def _check_vcf(args: argparse.Namespace) -> int:
    from ..data.vcf import check_vcf, write_vcf_summary

    summary = check_vcf(args.vcf, require_phased=args.require_phased)
    if args.out:
        write_vcf_summary(summary, args.out)
    print(
        f"{args.vcf}: {summary.n_samples} diploid samples, {summary.n_sites} records, "
        f"{summary.n_biallelic_snps} biallelic SNPs kept; {summary.n_multiallelic} multi-allelic "
        f"and {summary.n_other} other records (indels, symbolic, monomorphic) will be dropped; "
        f"phased: {'yes' if summary.phased else 'no'}.",
        file=sys.stderr,
    )
    return 0


def _split(args: argparse.Namespace) -> int:
    from ..steps.split import split_cohort

    n_train, n_val = split_cohort(
        args.bed,
        args.out_dir,
        labels_path=args.labels,
        validation_fraction=args.validation_fraction,
        seed=args.seed,
        min_samples=args.min_samples,
    )
    print(f"{n_train} training and {n_val} validation samples in {args.out_dir}", file=sys.stderr)
    return 0


def _downsample(args: argparse.Namespace) -> int:
    from ..steps.downsample import downsample_uniform

    kept = downsample_uniform(args.bed, args.out, every=args.every, target=args.target)
    print(f"kept {kept} evenly spaced SNPs in {args.out}", file=sys.stderr)
    return 0


def _match_snps(args: argparse.Namespace) -> int:
    from ..steps.match import write_matched

    matched = write_matched(args.bed, args.reference, args.out)
    print(
        f"{matched.n_samples} samples on the {matched.n_snps} model SNPs written to {args.out}",
        file=sys.stderr,
    )
    return 0


def _cv_table(args: argparse.Namespace) -> int:
    from ..steps.tables import cv_table_file

    return cv_table_file(args.cv_output, args.out)


def _evaluate_model(args: argparse.Namespace) -> int:
    from ..runtime import set_threads
    from ..steps.evaluate import evaluate_model

    set_threads(args.threads)
    written = evaluate_model(
        args.model_dir,
        args.ks,
        parse_pairs(args.data, "--data", "PARTITION=PATH"),
        args.out_dir,
        labels=parse_pairs(args.labels, "--labels", "PARTITION=PATH"),
        truth=parse_pairs(args.truth_q, "--truth-q", "PARTITION=PATH"),
    )
    print(f"{len(written)} evaluations written to {args.out_dir}", file=sys.stderr)
    return 0


def _metrics_table(args: argparse.Namespace) -> int:
    from ..steps.tables import metrics_table_files

    return metrics_table_files(
        args.cohort,
        args.evaluations,
        args.out,
        table2_out=args.table2,
        benchmarks=args.benchmarks or [],
        cv_tables=args.cv or [],
        modes=parse_pairs(args.mode, "--mode", "RUN=MODE"),
        reference_baseline=args.reference_baseline,
    )


def register(subparsers) -> None:
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
    parser.add_argument("--out", help="Write the summary as a two-column TSV here.")
    parser.set_defaults(func=_check_vcf)

    parser = subparsers.add_parser(
        "split",
        help="Stratified train/validation split of a PLINK fileset by population label.",
        description=(
            "Split samples into OUT_DIR/train.{bed,bim,fam,labels} and OUT_DIR/val.*, drawing "
            "the validation fraction separately in each population (seeded)."
        ),
    )
    parser.add_argument("bed", help="PLINK fileset (.bed path or prefix).")
    parser.add_argument("--out-dir", required=True, help="Directory for the two partitions.")
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
    parser.add_argument("--seed", type=int, default=42, help="Random seed (default: 42).")
    parser.add_argument(
        "--min-samples",
        type=int,
        default=2,
        help="Fail if a partition gets fewer samples than this (default: 2).",
    )
    parser.set_defaults(func=_split)

    parser = subparsers.add_parser(
        "downsample",
        help="Keep evenly spaced SNPs (every n-th, or a target count).",
        description="Uniform SNP downsampling, as the Neural ADMIXTURE paper did for chromosome 1.",
    )
    parser.add_argument("bed", help="PLINK fileset (.bed path or prefix).")
    choice = parser.add_mutually_exclusive_group(required=True)
    choice.add_argument("--every", type=int, help="Keep SNPs 1, 1+n, 1+2n, ...")
    choice.add_argument("--target", type=int, help="Keep this many evenly spaced SNPs.")
    parser.add_argument("--out", required=True, help="Output fileset prefix.")
    parser.set_defaults(func=_downsample)

    parser = subparsers.add_parser(
        "match-snps",
        help="Put a target cohort on a model's SNPs (order and counted allele).",
        description=(
            "Restrict and reorder a target fileset to the SNPs of a reference .bim (matched on "
            "chromosome, position and alleles), flipping counts where the alleles are swapped; "
            "SNPs absent from the target become missing."
        ),
    )
    parser.add_argument("bed", help="Target PLINK fileset.")
    parser.add_argument("--reference", required=True, help=".bim of the training data.")
    parser.add_argument("--out", required=True, help="Output fileset prefix.")
    parser.set_defaults(func=_match_snps)

    parser = subparsers.add_parser(
        "cv-table",
        help="Turn saved 'CV error (K=k): x' lines into a k / cv_error TSV.",
    )
    parser.add_argument("cv_output", help="Saved stdout of `neuradmix cv` or `admixture --cv`.")
    parser.add_argument("--out", required=True, help="Output TSV (columns k, cv_error).")
    parser.set_defaults(func=_cv_table)

    parser = subparsers.add_parser(
        "evaluate-model",
        help="Evaluate every K and partition of one model directory in one pass.",
        description=(
            "For a model directory with train.K.P and PARTITION.K.Q files, write "
            "OUT_DIR/PARTITION.K.tsv for each K and partition: the header and row that "
            "`neuradmix evaluate` prints (log-likelihood under train.K.P, L_N lambda=0, AMI and "
            "Delta against the labels, RMSE against the truth Q at its own K). Each fileset is "
            "read once."
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
    parser.add_argument("--out-dir", required=True, help="Directory for the evaluation TSVs.")
    parser.add_argument(
        "--threads", type=int, default=None, help="CPU threads (default: all available)."
    )
    parser.set_defaults(func=_evaluate_model)

    parser = subparsers.add_parser(
        "metrics-table",
        help="Assemble per-model evaluations, benchmarks and CV errors into one table.",
        description=(
            "Read `neuradmix evaluate` outputs named .../{method}/{model}/{partition}.{K}.tsv, "
            "Snakemake benchmark files named .../{stage}/{model}[.{K}].tsv (stages train_neural, "
            "infer, baseline, project) and CV tables .../{tool}.cv.tsv, and write one row per "
            "model x K x partition with the speedups S = T_classic / T_neural."
        ),
    )
    parser.add_argument("--cohort", required=True, help="Cohort name for the first column.")
    parser.add_argument("--evaluations", nargs="+", required=True, help="Evaluation TSVs.")
    parser.add_argument("--benchmarks", nargs="*", help="Snakemake benchmark TSVs.")
    parser.add_argument("--cv", nargs="*", help="CV tables written by `cv-table`.")
    parser.add_argument(
        "--mode", action="append", help="RUN=MODE for each neural run (repeatable)."
    )
    parser.add_argument(
        "--reference-baseline",
        help="Baseline model the speedups are measured against (e.g. the configured tool).",
    )
    parser.add_argument("--out", required=True, help="Output metrics TSV.")
    parser.add_argument("--table2", help="Also write the paper's Table 2 layout here.")
    parser.set_defaults(func=_metrics_table)
