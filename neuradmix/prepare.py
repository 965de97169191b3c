"""Workflow helpers: VCF pre-checks, stratified train/validation split, uniform SNP downsampling,
matching a target cohort's SNPs to a model, and assembling the per-cohort metrics table.

Everything here is what the Snakemake rules call through ``neuradmix <command>``; it stays plain
Python so it can be tested without Snakemake.
"""

from __future__ import annotations

import gzip
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import InputError, atomic_outputs
from .io import MISSING, Genotypes, plink_prefix, read_bed, read_labels, write_bed_parts
from .metrics import METRIC_COLUMNS

UNKNOWN = "-"

# --------------------------------------------------------------------------------------------
# VCF pre-checks
# --------------------------------------------------------------------------------------------

# The GT sub-field is the first one of each sample column (the VCF spec puts GT first), so it
# always follows a tab. A call with no allele separator is haploid; one with two is polyploid.
_HAPLOID_GT = re.compile(r"\t([0-9.]+)(?=[:\t\n]|$)")
_POLYPLOID_GT = re.compile(r"\t([0-9.]+[/|][0-9.]+[/|][0-9./|]+)(?=[:\t\n]|$)")
_UNPHASED_GT = re.compile(r"\t([0-9]+/[0-9.]+|\./[0-9]+)(?=[:\t\n]|$)")


@dataclass
class VcfSummary:
    n_samples: int
    n_sites: int
    n_biallelic_snps: int
    n_multiallelic: int
    n_other: int  # indels, symbolic alleles, monomorphic records with ALT "."
    phased: bool

    def as_table(self) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "field": [
                    "n_samples",
                    "n_sites",
                    "n_biallelic_snps",
                    "n_multiallelic",
                    "n_other",
                    "phased",
                ],
                "value": [
                    self.n_samples,
                    self.n_sites,
                    self.n_biallelic_snps,
                    self.n_multiallelic,
                    self.n_other,
                    "yes" if self.phased else "no",
                ],
            }
        )


def _open_text(path: Path):
    with open(path, "rb") as handle:
        magic = handle.read(2)
    if magic == b"\x1f\x8b":
        return gzip.open(path, "rt")
    return open(path)


def vcf_sample_ids(path: str | os.PathLike) -> list[str]:
    """Sample IDs from a VCF header (reads only the header)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: VCF file not found.")
    with _open_text(path) as handle:
        for line in handle:
            if line.startswith("#CHROM"):
                return line.rstrip("\n").split("\t")[9:]
            if not line.startswith("#"):
                break
    raise InputError(
        f"{path}: no '#CHROM' header line; this is not a VCF file (give a .vcf or .vcf.gz)."
    )


def check_vcf(path: str | os.PathLike, require_phased: bool = False) -> VcfSummary:
    """Scan a VCF once and refuse what PLINK would silently mangle.

    plink2 reads a haploid call ``0`` as ``0/0`` and has no notion of polyploid calls, so both are
    rejected here with the line and sample at fault. Multi-allelic sites and non-SNPs are only
    counted: ``vcf_to_bed`` drops them (``--max-alleles 2 --snps-only``). When ``require_phased``
    is set (the cohort feeds the descendant simulation) every called genotype must use ``|``.
    """
    path = Path(path)
    samples = vcf_sample_ids(path)
    if not samples:
        raise InputError(f"{path}: the VCF has no sample columns; it holds no genotypes.")
    duplicates = pd.Index(samples)[pd.Index(samples).duplicated()].unique().tolist()
    if duplicates:
        raise InputError(
            f"{path}: duplicate sample IDs in the header ({', '.join(duplicates[:3])}); "
            "rename them, e.g. with `bcftools reheader`."
        )
    n_sites = n_snps = n_multi = n_other = 0
    phased = True
    with _open_text(path) as handle:
        for number, line in enumerate(handle, start=1):
            if line.startswith("#"):
                continue
            n_sites += 1
            fields = line.split("\t", 9)
            if len(fields) < 10:
                raise InputError(
                    f"{path}: line {number} has {len(fields)} tab-separated columns, fewer than "
                    "the 10 a VCF record with genotypes needs; the file is truncated or not "
                    "tab-separated."
                )
            ref, alt, fmt = fields[3], fields[4], fields[8]
            if not fmt.startswith("GT"):
                raise InputError(
                    f"{path}: line {number} (position {fields[0]}:{fields[1]}) has no GT field "
                    "first in FORMAT; neuradmix needs hard genotype calls."
                )
            alts = alt.split(",")
            if len(alts) > 1:
                n_multi += 1
            elif len(ref) == 1 and len(alt) == 1 and ref in "ACGTacgt" and alt in "ACGTacgt":
                n_snps += 1
            else:
                n_other += 1
            body = "\t" + fields[9]
            bad = _HAPLOID_GT.search(body) or _POLYPLOID_GT.search(body)
            if bad is not None:
                column = body[: bad.start() + 1].count("\t")
                sample = samples[column - 1] if 0 < column <= len(samples) else "?"
                raise InputError(
                    f"{path}: line {number} (position {fields[0]}:{fields[1]}), sample {sample} "
                    f"has the non-diploid call '{bad.group(1)}'; neuradmix needs diploid "
                    "autosomal genotypes. Drop haploid regions (chrX/Y/MT in males) first, e.g. "
                    "`bcftools view -t ^X,Y,MT`."
                )
            if phased and _UNPHASED_GT.search(body) is not None:
                phased = False
                if require_phased:
                    raise InputError(
                        f"{path}: line {number} (position {fields[0]}:{fields[1]}) has an "
                        "unphased genotype ('/'), but the cohort is configured with phased: true "
                        "(needed by the descendant simulation). Phase it first (e.g. SHAPEIT or "
                        "Beagle) or set phased: false and simulate: false for this cohort."
                    )
    if n_sites == 0:
        raise InputError(f"{path}: the VCF has a header but no variant records.")
    if n_snps == 0:
        raise InputError(
            f"{path}: none of the {n_sites} records is a biallelic SNP, so nothing is left "
            "after keeping biallelic SNPs; check that this is the genotype VCF you meant."
        )
    return VcfSummary(len(samples), n_sites, n_snps, n_multi, n_other, phased)


def write_vcf_summary(summary: VcfSummary, out: str | os.PathLike) -> None:
    with atomic_outputs() as staged:
        summary.as_table().to_csv(staged(out), sep="\t", index=False)


# --------------------------------------------------------------------------------------------
# Stratified train / validation split
# --------------------------------------------------------------------------------------------


def stratified_split(
    labels: Sequence[str], validation_fraction: float = 0.2, seed: int = 42
) -> tuple[np.ndarray, np.ndarray]:
    """Indices (sorted) of the training and validation samples.

    Each population (samples of unknown population form one more stratum) gives
    ``round(fraction * size)`` samples to validation, clamped so that a population of two or
    more keeps at least one sample on each side; a singleton stays in training. The draw depends
    only on ``labels``, ``validation_fraction`` and ``seed``.
    """
    if not 0.0 < validation_fraction < 1.0:
        raise InputError(
            f"validation fraction {validation_fraction} must lie strictly between 0 and 1."
        )
    labels = np.asarray([UNKNOWN if str(x) in ("", UNKNOWN) else str(x) for x in labels])
    rng = np.random.default_rng(seed)
    validation: list[np.ndarray] = []
    for population in sorted(set(labels.tolist())):
        members = np.flatnonzero(labels == population)
        size = members.size
        n_val = int(round(validation_fraction * size))
        n_val = 0 if size < 2 else min(max(n_val, 1), size - 1)
        validation.append(rng.permutation(members)[:n_val])
    val_index = np.sort(np.concatenate(validation)) if validation else np.array([], dtype=int)
    train_index = np.setdiff1d(np.arange(labels.size), val_index)
    return train_index, val_index


def _fileset(prefix: Path) -> tuple[Path, Path, Path]:
    return tuple(prefix.with_name(prefix.name + ext) for ext in (".bed", ".bim", ".fam"))


def split_cohort(
    bed: str | os.PathLike,
    out_dir: str | os.PathLike,
    labels_path: str | os.PathLike | None = None,
    validation_fraction: float = 0.2,
    seed: int = 42,
    min_samples: int = 2,
) -> tuple[int, int]:
    """Write ``OUT/train.{bed,bim,fam,labels}`` and ``OUT/val.{bed,bim,fam,labels}``.

    The label files have two tab-separated columns (sample, population; ``-`` when unknown) so
    they can be fed to supervised training and to the metrics. Returns the partition sizes.
    """
    genotypes = read_bed(bed)
    ids = genotypes.sample_ids
    if labels_path is not None:
        labels = read_labels(labels_path, ids)
    else:
        labels = np.array([""] * genotypes.n_samples, dtype=object)
    train_index, val_index = stratified_split(labels, validation_fraction, seed)
    for name, index in (("training", train_index), ("validation", val_index)):
        if index.size < min_samples:
            raise InputError(
                f"{plink_prefix(bed)}.fam: only {genotypes.n_samples} samples, leaving "
                f"{index.size} for the {name} partition (at least {min_samples} needed); "
                "add samples or change split.validation_fraction."
            )
    out_dir = Path(out_dir)
    with atomic_outputs() as staged:
        for name, index in (("train", train_index), ("val", val_index)):
            part = genotypes.select_samples(index)
            bed_path, bim_path, fam_path = _fileset(out_dir / name)
            write_bed_parts(staged(bed_path), staged(bim_path), staged(fam_path), part)
            part_labels = [x if x else UNKNOWN for x in labels[index]]
            pd.DataFrame({"sample": part.sample_ids, "population": part_labels}).to_csv(
                staged(out_dir / f"{name}.labels"), sep="\t", header=False, index=False
            )
    return int(train_index.size), int(val_index.size)


# --------------------------------------------------------------------------------------------
# Uniform SNP downsampling
# --------------------------------------------------------------------------------------------


def uniform_snp_indices(n_snps: int, every: int | None = None, target: int | None = None):
    """Evenly spaced SNP indices: every ``every``-th SNP, or ``target`` SNPs spread evenly.

    With a target of at least ``n_snps`` all SNPs are kept.
    """
    if (every is None) == (target is None):
        raise InputError("give exactly one of --every and --target for uniform downsampling.")
    if every is not None:
        if every < 1:
            raise InputError(f"--every must be a positive integer, got {every}.")
        return np.arange(0, n_snps, every)
    if target < 1:
        raise InputError(f"--target must be a positive integer, got {target}.")
    if target >= n_snps:
        return np.arange(n_snps)
    # Centre each pick in its stretch so the first and last SNPs are not favoured.
    return np.floor((np.arange(target) + 0.5) * n_snps / target).astype(np.int64)


def downsample_uniform(
    bed: str | os.PathLike,
    out_prefix: str | os.PathLike,
    every: int | None = None,
    target: int | None = None,
) -> int:
    """Write ``OUT_PREFIX.{bed,bim,fam}`` with evenly spaced SNPs; returns the SNP count."""
    genotypes = read_bed(bed)
    index = uniform_snp_indices(genotypes.n_snps, every, target)
    if index.size == 0:
        raise InputError(f"{plink_prefix(bed)}.bim: no SNPs to downsample.")
    kept = genotypes.select_snps(index)
    with atomic_outputs() as staged:
        write_bed_parts(*(staged(p) for p in _fileset(plink_prefix(out_prefix))), kept)
    return int(index.size)


# --------------------------------------------------------------------------------------------
# Target cohorts: bring their SNPs into the model's SNP set and allele orientation
# --------------------------------------------------------------------------------------------


def match_snps(target: Genotypes, reference_bim: str | os.PathLike) -> Genotypes:
    """``target`` restricted and ordered to the SNPs of ``reference_bim``.

    SNPs are matched on chromosome and position with the same pair of alleles; a SNP whose
    alleles are swapped has its counts flipped so that the column-5 allele of the reference is
    counted. SNPs absent from the target become missing calls; if fewer than half are present
    the target is refused, because a forward pass on mostly missing input means little.
    """
    reference_bim = Path(reference_bim)
    reference = pd.read_csv(
        reference_bim,
        sep=r"\s+",
        header=None,
        dtype=str,
        names=["chrom", "snp", "cm", "pos", "a1", "a2"],
    )
    ref_keys = reference["chrom"] + ":" + reference["pos"]
    variants = target.variants
    tgt_keys = variants["chrom"].astype(str) + ":" + variants["pos"].astype(str)
    lookup = pd.Series(np.arange(len(tgt_keys)), index=tgt_keys)
    lookup = lookup[~lookup.index.duplicated(keep=False)]
    calls = np.full((target.n_samples, len(reference)), MISSING, dtype=np.uint8)
    found = 0
    for column, (key, a1, a2) in enumerate(
        zip(ref_keys, reference["a1"], reference["a2"], strict=True)
    ):
        source = lookup.get(key)
        if source is None:
            continue
        t_a1, t_a2 = variants["a1"].iat[source], variants["a2"].iat[source]
        values = target.calls[:, source]
        if (t_a1, t_a2) == (a1, a2):
            calls[:, column] = values
        elif (t_a1, t_a2) == (a2, a1):
            calls[:, column] = np.where(values == MISSING, MISSING, 2 - values.astype(np.int16))
        else:
            continue
        found += 1
    if found < 0.5 * len(reference):
        raise InputError(
            f"{target.source}: only {found} of the model's {len(reference)} SNPs (from "
            f"{reference_bim}) are present with the same alleles; the target must be genotyped "
            "on the same SNPs and build as the training cohort."
        )
    variants_out = reference[["chrom", "snp", "cm", "pos", "a1", "a2"]].copy()
    variants_out["pos"] = variants_out["pos"].astype(np.int64)
    variants_out["cm"] = variants_out["cm"].astype(float)
    return Genotypes(calls, target.samples, variants_out, target.source)


def write_matched(
    bed: str | os.PathLike, reference_bim: str | os.PathLike, out_prefix: str | os.PathLike
) -> Genotypes:
    matched = match_snps(read_bed(bed), reference_bim)
    with atomic_outputs() as staged:
        write_bed_parts(*(staged(p) for p in _fileset(plink_prefix(out_prefix))), matched)
    return matched


# --------------------------------------------------------------------------------------------
# Cross-validation output and the metrics table
# --------------------------------------------------------------------------------------------

_CV_LINE = re.compile(r"CV error \(K=(\d+)\):\s*([-+0-9.eE]+|nan|NA)")


def parse_cv(text: str, source: str = "<cv output>") -> pd.DataFrame:
    """``CV error (K=k): x`` lines (ADMIXTURE's format) as a table with columns k, cv_error."""
    rows = [
        (int(k), float("nan") if v in ("nan", "NA") else float(v))
        for k, v in _CV_LINE.findall(text)
    ]
    if not rows:
        raise InputError(
            f"{source}: no 'CV error (K=k): x' lines found; it is not the output of "
            "`neuradmix cv` or `admixture --cv`."
        )
    return pd.DataFrame(rows, columns=["k", "cv_error"]).drop_duplicates("k", keep="last")


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
    try:
        table = pd.read_csv(path, sep="\t", na_values=["NA"])
    except (pd.errors.EmptyDataError, FileNotFoundError):
        raise InputError(
            f"{path}: missing or empty; rerun `neuradmix evaluate` for this model."
        ) from None
    missing = [c for c in EVALUATION_COLUMNS if c not in table.columns]
    if missing or len(table) != 1:
        raise InputError(
            f"{path}: expected the header and single row written by `neuradmix evaluate` "
            f"(columns {' '.join(EVALUATION_COLUMNS)}); missing {missing or 'nothing'}, "
            f"{len(table)} rows."
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
    path = Path(path)
    try:
        table = pd.read_csv(path, sep="\t")
    except (pd.errors.EmptyDataError, FileNotFoundError):
        raise InputError(f"{path}: missing or empty Snakemake benchmark file.") from None
    if "s" not in table.columns or table.empty:
        raise InputError(f"{path}: not a Snakemake benchmark file (no 's' column).")
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
        path = Path(path)
        cv = pd.read_csv(path, sep="\t")
        cv_method = path.name.split(".")[0]
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


# --------------------------------------------------------------------------------------------
# Evaluating every K and partition of one model in one process
# --------------------------------------------------------------------------------------------


def evaluate_model(
    model_dir: str | os.PathLike,
    ks: Sequence[int],
    partitions: dict[str, str | os.PathLike],
    out_dir: str | os.PathLike,
    labels: dict[str, str | os.PathLike] | None = None,
    truth: dict[str, str | os.PathLike] | None = None,
) -> list[Path]:
    """Write ``OUT/{partition}.{K}.tsv`` for a model directory holding ``train.{K}.P`` and
    ``{partition}.{K}.Q``, each file the header and row of ``neuradmix evaluate``.

    ``partitions`` maps a partition name to its PLINK fileset. Each fileset is read once for all
    K, which is what makes this cheaper than one ``neuradmix evaluate`` per file. The .P of the
    training fit scores every partition (validation samples are scored with the frequencies
    learnt on training, as in the paper). RMSE against ``truth`` is computed at the truth's own K
    only and is NA elsewhere.
    """
    from .io import read_p, read_q
    from .metrics import METRIC_COLUMNS, evaluate, format_row

    model_dir, out_dir = Path(model_dir), Path(out_dir)
    labels, truth = dict(labels or {}), dict(truth or {})
    written = []
    with atomic_outputs() as staged:
        for partition, bed in partitions.items():
            genotypes = read_bed(bed)
            part_labels = (
                read_labels(labels[partition], genotypes.sample_ids)
                if partition in labels
                else None
            )
            part_truth = (
                read_q(truth[partition], genotypes.n_samples) if partition in truth else None
            )
            for k in ks:
                q = read_q(model_dir / f"{partition}.{k}.Q", genotypes.n_samples)
                p = read_p(model_dir / f"train.{k}.P", genotypes.n_snps)
                if q.shape[1] != k or p.shape[1] != k:
                    raise InputError(
                        f"{model_dir}: {partition}.{k}.Q has {q.shape[1]} columns and "
                        f"train.{k}.P {p.shape[1]}; both should have K={k}."
                    )
                matching_truth = (
                    part_truth if part_truth is not None and part_truth.shape[1] == k else None
                )
                values = evaluate(genotypes.calls, q, p, part_labels, matching_truth)
                out = out_dir / f"{partition}.{k}.tsv"
                staged(out).write_text("\t".join(METRIC_COLUMNS) + "\n" + format_row(values) + "\n")
                written.append(out)
    return written
