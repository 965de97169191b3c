"""``simulate`` and ``simulate-split``: admixed descendants of phased founders with known Q."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from ..errors import InputError
from .common import add_seed, add_threads

_MODEL = (
    "Each descendant is the product of --generations generations of random mating from founders "
    "drawn with the descendant's source mixture; crossovers follow the genetic map (Poisson, one "
    "per Morgan). An admixed descendant of ancestry A has a Dirichlet(--alpha) mixture whose "
    "largest share is A; a single-ancestry descendant recombines founders of A only. Truth Q is "
    "the fraction of genetic length (cM) inherited from each population; the label is the "
    "dominant ancestry (the largest truth-Q share), so a single-ancestry descendant is labelled "
    "with its population."
)


def register(subparsers) -> None:
    _register_simulate(subparsers)
    _register_split(subparsers)


def _register_simulate(subparsers) -> None:
    simulate = subparsers.add_parser(
        "simulate",
        help="simulate admixed descendants of phased founders, with their exact ancestry",
        description=(
            "Simulate descendants of the founders in a phased VCF and write DIR/NAME.vcf.gz, "
            "DIR/NAME.truth.Q (columns in sorted population order, named one per line in "
            "DIR/NAME.truth.Q.columns) and DIR/NAME.labels (SAMPLE<TAB>LABEL); optionally "
            "DIR/NAME.bed/.bim/.fam (--bed) and DIR/NAME.segments.tsv (--segments). " + _MODEL
        ),
    )
    _add_inputs(simulate)
    simulate.add_argument(
        "--n-per-ancestry",
        type=int,
        default=400,
        metavar="N",
        help="admixed descendants per founder population (default: 400)",
    )
    simulate.add_argument(
        "--n-single-per-ancestry",
        type=int,
        default=0,
        metavar="N",
        help="single-ancestry descendants per founder population (default: 0)",
    )
    _add_model_options(simulate)
    _add_output_options(simulate)
    simulate.set_defaults(func=_run_simulate)


def _register_split(subparsers) -> None:
    split = subparsers.add_parser(
        "simulate-split",
        help="split founders into disjoint train/validation sets and simulate each separately",
        description=(
            "Split the founders (stratified by population) into disjoint training and validation "
            "sets and simulate descendants of each set separately, so no founder haplotype reaches "
            "both partitions. Writes DIR/NAME.train.* and DIR/NAME.val.* (the files of "
            "`neuradmix simulate`, with the same truth-Q columns) and DIR/NAME.founders.tsv "
            "(sample, population, partition). " + _MODEL
        ),
    )
    _add_inputs(split)
    side = split.add_mutually_exclusive_group()
    side.add_argument(
        "--val-fraction",
        type=float,
        default=0.2,
        metavar="F",
        help="fraction of each population's founders used for validation (default: 0.2)",
    )
    side.add_argument(
        "--val-samples",
        metavar="FILE",
        help=(
            "the validation founders: one sample ID per line (first column), or a PLINK .fam "
            "(its IID column); all other founders are training founders"
        ),
    )
    split.add_argument(
        "--n-per-ancestry",
        type=int,
        default=400,
        metavar="N",
        help="admixed training descendants per population (default: 400, as in the paper)",
    )
    split.add_argument(
        "--n-val-per-ancestry",
        type=int,
        default=50,
        metavar="N",
        help="admixed validation descendants per population (default: 50, as in the paper)",
    )
    split.add_argument(
        "--n-single-per-ancestry",
        type=int,
        default=0,
        metavar="N",
        help="single-ancestry training descendants per population (default: 0)",
    )
    split.add_argument(
        "--n-val-single-per-ancestry",
        type=int,
        default=0,
        metavar="N",
        help="single-ancestry validation descendants per population (default: 0)",
    )
    _add_model_options(split)
    _add_output_options(split)
    split.set_defaults(func=_run_split)


def _add_inputs(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--vcf", required=True, help="phased founders (VCF, plain or bgzipped; biallelic)"
    )
    parser.add_argument(
        "--labels",
        required=True,
        metavar="POPS",
        help="founder populations: SAMPLE<TAB>POPULATION per line (every VCF sample needed)",
    )
    parser.add_argument(
        "--populations",
        metavar="POP,POP",
        help="source populations to simulate from (comma-separated; default: all labelled). "
        "Leave out populations that are themselves admixed",
    )
    rate = parser.add_mutually_exclusive_group()
    rate.add_argument(
        "--map",
        metavar="GENETIC_MAP",
        help=(
            "genetic map covering every VCF chromosome: PLINK .map ('chrom id cM bp', no header) "
            "or HapMap ('chrom bp rate cM' after a header line)"
        ),
    )
    rate.add_argument(
        "--cm-per-mb",
        type=float,
        default=1.0,
        help="uniform recombination rate used when no --map is given (default: 1.0 cM/Mb)",
    )


def _add_model_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--generations",
        type=int,
        default=8,
        help="generations of random mating since the founders (default: 8)",
    )
    parser.add_argument(
        "--alpha",
        type=float,
        default=1.0,
        help="Dirichlet concentration of admixed source mixtures; smaller = fewer sources "
        "(default: 1.0)",
    )
    add_seed(parser)
    add_threads(parser)


def _add_output_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--out", required=True, metavar="DIR", help="output directory (created if missing)"
    )
    parser.add_argument("--name", help="stem of the output files (default: the VCF's stem)")
    parser.add_argument(
        "--bed", action="store_true", help="also write PREFIX.bed/.bim/.fam (ALT counted)"
    )
    parser.add_argument(
        "--no-vcf", action="store_true", help="do not write PREFIX.vcf.gz (needs --bed)"
    )
    parser.add_argument(
        "--segments",
        action="store_true",
        help="also write local-ancestry segments to PREFIX.segments.tsv",
    )


class _Progress:
    """Progress lines on stderr with the seconds since the command started (a log file shows
    where a long simulation is; no terminal control characters)."""

    def __init__(self):
        self.start = time.perf_counter()

    def __call__(self, message: str) -> None:
        print(f"[{time.perf_counter() - self.start:7.1f} s] {message}", file=sys.stderr, flush=True)


def _check_arguments(args: argparse.Namespace) -> tuple[Path, str]:
    """Every option and input file checked before any founder is read."""
    from ..data.outputs import check_name, check_out_dir
    from ..simulation.descendants import MAX_GENERATIONS

    if args.no_vcf and not args.bed:
        raise InputError("--no-vcf without --bed would write no genotypes; add --bed.")
    counts = {
        option: getattr(args, attribute)
        for option, attribute in (
            ("--n-per-ancestry", "n_per_ancestry"),
            ("--n-val-per-ancestry", "n_val_per_ancestry"),
            ("--n-single-per-ancestry", "n_single_per_ancestry"),
            ("--n-val-single-per-ancestry", "n_val_single_per_ancestry"),
        )
        if hasattr(args, attribute)
    }
    for option, value in counts.items():
        if value < 0:
            raise InputError(f"{option} {value}: a number of descendants cannot be negative.")
    if args.n_per_ancestry + args.n_single_per_ancestry == 0:
        raise InputError(
            "nothing to simulate: set --n-per-ancestry and/or --n-single-per-ancestry above 0."
        )
    if not 1 <= args.generations <= MAX_GENERATIONS:
        raise InputError(
            f"--generations {args.generations}: must be between 1 and {MAX_GENERATIONS}."
        )
    if not args.alpha > 0:
        raise InputError(f"--alpha {args.alpha}: the Dirichlet concentration must be positive.")
    if args.map is None and not args.cm_per_mb > 0:
        raise InputError(f"--cm-per-mb {args.cm_per_mb}: the recombination rate must be positive.")
    if getattr(args, "val_samples", None) is None and hasattr(args, "val_fraction"):
        if not 0 < args.val_fraction < 1:
            raise InputError(
                f"--val-fraction {args.val_fraction}: must lie strictly between 0 and 1."
            )
    for option, path in (
        ("--vcf", args.vcf),
        ("--labels", args.labels),
        ("--map", args.map),
        ("--val-samples", getattr(args, "val_samples", None)),
    ):
        if path is not None and not Path(path).is_file():
            raise InputError(f"{option} {path}: file not found.")
    out = check_out_dir(args.out)
    name = args.name or Path(args.vcf).name.removesuffix(".gz").removesuffix(".vcf")
    return out, check_name(name)


def _panel(args: argparse.Namespace, log):
    from ..runtime import set_threads
    from ..simulation.descendants import load_panel

    set_threads(args.threads)
    names = [name.strip() for name in (args.populations or "").split(",") if name.strip()]
    log(f"reading phased founders from {args.vcf}")
    panel = load_panel(args.vcf, args.labels, args.map, args.cm_per_mb, names or None)
    log(
        f"{panel.n_founders} founders of {len(panel.population_names)} populations "
        f"({', '.join(panel.population_names)}) on {panel.variants.shape[0]} SNPs"
    )
    return panel


def _run_simulate(args: argparse.Namespace) -> int:
    from ..simulation.descendants import simulate_to_files

    out, name = _check_arguments(args)
    log = _Progress()
    panel = _panel(args, log)
    sim = simulate_to_files(
        panel,
        out / name,
        vcf=not args.no_vcf,
        bed=args.bed,
        segments=args.segments,
        n_admixed_per_ancestry=args.n_per_ancestry,
        n_single_per_ancestry=args.n_single_per_ancestry,
        generations=args.generations,
        alpha=args.alpha,
        seed=args.seed,
        log=log,
    )
    log(
        f"{len(sim.sample_ids)} descendants of {panel.n_founders} founders "
        f"({', '.join(sim.populations)}) over {panel.variants.shape[0]} SNPs written to "
        f"{out / name}.*"
    )
    return 0


def _run_split(args: argparse.Namespace) -> int:
    from ..simulation.descendants import (
        read_sample_list,
        simulate_split_to_files,
        validation_founders,
    )

    out, name = _check_arguments(args)
    log = _Progress()
    listed = read_sample_list(args.val_samples) if args.val_samples else None
    panel = _panel(args, log)
    val_samples = (
        None
        if listed is None
        else validation_founders(panel, listed, args.val_samples, bool(args.populations))
    )
    prefix = out / name
    train, val, train_panel, val_panel = simulate_split_to_files(
        panel,
        prefix,
        val_fraction=args.val_fraction,
        val_samples=val_samples,
        n_admixed_per_ancestry=args.n_per_ancestry,
        n_val_admixed_per_ancestry=args.n_val_per_ancestry,
        n_single_per_ancestry=args.n_single_per_ancestry,
        n_val_single_per_ancestry=args.n_val_single_per_ancestry,
        generations=args.generations,
        alpha=args.alpha,
        seed=args.seed,
        vcf=not args.no_vcf,
        bed=args.bed,
        segments=args.segments,
        log=log,
    )
    log(
        f"train: {len(train.sample_ids)} descendants of {train_panel.n_founders} founders; "
        f"validation: {len(val.sample_ids)} descendants of {val_panel.n_founders} founders; "
        f"written to {prefix}.train.* and {prefix}.val.*"
    )
    return 0
