"""Genotypes in and out: PLINK BED/BIM/FAM, ADMIXTURE ``.Q``/``.P`` files and label files.

Allele orientation, said once for the whole package
----------------------------------------------------
A genotype value is the number of copies (0, 1, 2) of the allele in column 5 of the ``.bim`` file
(PLINK's "A1"; the ALT allele in files made by ``plink2 --make-bed``). This is the allele ADMIXTURE
and fastmixture count, so every ``.P`` row is the frequency of the column-5 allele and a ``.P`` from
ADMIXTURE, fastmixture or neuradmix can be used interchangeably. Missing calls are stored as
:data:`MISSING` (3) and never treated as an allele count.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import InputError

MISSING = np.uint8(3)
BED_MAGIC = bytes([0x6C, 0x1B, 0x01])
_SNPS_PER_READ = 4096

# BED two-bit codes -> copies of the column-5 allele (00 hom A1, 01 missing, 10 het, 11 hom A2).
_CODE_TO_COUNT = np.array([2, MISSING, 1, 0], dtype=np.uint8)
_COUNT_TO_CODE = np.array([0b00, 0b10, 0b11, 0b01], dtype=np.uint8)  # indexed by 2, 1, 0, missing


@dataclass
class Genotypes:
    """A cohort held compactly in memory.

    ``calls`` is a uint8 matrix (samples x SNPs) of copies of the column-5 allele, with
    :data:`MISSING` for missing calls. ``samples`` has columns ``fid`` and ``iid`` in ``.fam``
    order; ``variants`` has ``chrom``, ``snp``, ``cm``, ``pos``, ``a1`` (counted allele) and ``a2``
    in ``.bim`` order.
    """

    calls: np.ndarray
    samples: pd.DataFrame
    variants: pd.DataFrame
    source: str = field(default="<memory>")

    @property
    def n_samples(self) -> int:
        return self.calls.shape[0]

    @property
    def n_snps(self) -> int:
        return self.calls.shape[1]

    @property
    def sample_ids(self) -> np.ndarray:
        return self.samples["iid"].to_numpy(dtype=str)

    @property
    def snp_ids(self) -> np.ndarray:
        return self.variants["snp"].to_numpy(dtype=str)

    def select_snps(self, index) -> Genotypes:
        index = np.asarray(index)
        return Genotypes(
            np.ascontiguousarray(self.calls[:, index]),
            self.samples,
            self.variants.iloc[index].reset_index(drop=True),
            self.source,
        )

    def select_samples(self, index) -> Genotypes:
        index = np.asarray(index)
        return Genotypes(
            np.ascontiguousarray(self.calls[index]),
            self.samples.iloc[index].reset_index(drop=True),
            self.variants,
            self.source,
        )


def plink_prefix(path: str | os.PathLike) -> Path:
    """``data.bed``, ``data.bim``, ``data.fam`` or ``data`` all name the fileset ``data``."""
    path = Path(path)
    if path.suffix in (".bed", ".bim", ".fam"):
        return path.with_suffix("")
    return path


def read_bed(path: str | os.PathLike) -> Genotypes:
    """Read a PLINK 1 binary fileset (SNP-major) into a :class:`Genotypes`.

    The ``.bim`` and ``.fam`` tables and the genotype blocks are read with pandas-plink; the calls
    are converted block by block to uint8, so no float matrix of the whole cohort is ever built.
    """
    prefix = plink_prefix(path)
    bed, bim, fam = (prefix.with_name(prefix.name + ext) for ext in (".bed", ".bim", ".fam"))
    for part in (bed, bim, fam):
        if not part.is_file():
            raise InputError(
                f"{part}: file not found; a PLINK fileset needs {prefix.name}.bed, .bim and .fam "
                "side by side (make one with `plink2 --vcf IN.vcf.gz --make-bed --out PREFIX`)."
            )
    variants = _read_table(bim, ["chrom", "snp", "cm", "pos", "a1", "a2"], "bim")
    samples = _read_table(fam, ["fid", "iid", "father", "mother", "sex", "phenotype"], "fam")
    n_samples, n_snps = len(samples), len(variants)
    _check_bed_header(bed, n_samples, n_snps)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        os.environ.setdefault("DISABLE_PANDERA_IMPORT_WARNING", "True")
        from pandas_plink import read_plink

        _, _, dosage = read_plink(str(prefix), verbose=False)
        calls = np.empty((n_samples, n_snps), dtype=np.uint8)
        for start in range(0, n_snps, _SNPS_PER_READ):
            stop = min(start + _SNPS_PER_READ, n_snps)
            # pandas-plink counts the column-6 allele; flip to the column-5 allele ADMIXTURE counts.
            block = dosage[start:stop].compute()
            counted = np.where(np.isnan(block), MISSING, 2 - np.nan_to_num(block, nan=0.0))
            calls[:, start:stop] = counted.astype(np.uint8).T
    variants["chrom"] = variants["chrom"].astype(str)
    variants["snp"] = variants["snp"].astype(str)
    variants["pos"] = variants["pos"].astype(np.int64)
    variants["cm"] = variants["cm"].astype(float)
    variants["a1"] = variants["a1"].astype(str)
    variants["a2"] = variants["a2"].astype(str)
    samples = samples.astype(str)
    return Genotypes(calls, samples, variants, str(bed))


def _read_table(path: Path, columns: list[str], kind: str) -> pd.DataFrame:
    try:
        table = pd.read_csv(path, sep=r"\s+", header=None, dtype=str, comment=None)
    except pd.errors.EmptyDataError:
        raise InputError(
            f"{path}: the .{kind} file is empty; regenerate the fileset with plink2."
        ) from None
    if table.shape[1] != len(columns):
        raise InputError(
            f"{path}: expected {len(columns)} whitespace-separated columns per line in a .{kind} "
            f"file, found {table.shape[1]}; regenerate the fileset with plink2 --make-bed."
        )
    table.columns = columns
    if kind == "bim":
        if not pd.to_numeric(table["pos"], errors="coerce").notna().all():
            raise InputError(f"{path}: column 4 (base-pair position) must be an integer.")
        if not pd.to_numeric(table["cm"], errors="coerce").notna().all():
            raise InputError(f"{path}: column 3 (centimorgans) must be a number.")
    return table


def _check_bed_header(bed: Path, n_samples: int, n_snps: int) -> None:
    with open(bed, "rb") as handle:
        magic = handle.read(3)
    if magic != BED_MAGIC:
        raise InputError(
            f"{bed}: not a SNP-major PLINK 1 .bed file (bad magic bytes); re-export it with "
            "`plink2 --bfile PREFIX --make-bed --out NEW`."
        )
    expected = 3 + n_snps * ((n_samples + 3) // 4)
    actual = bed.stat().st_size
    if actual != expected:
        raise InputError(
            f"{bed}: {actual} bytes, but {n_snps} SNPs x {n_samples} samples from the .bim/.fam "
            f"need {expected}; the file is truncated or does not belong to these .bim/.fam files. "
            "Copy it again or regenerate the fileset with plink2."
        )


def write_bed(prefix: str | os.PathLike, genotypes: Genotypes) -> None:
    """Write ``genotypes`` as ``PREFIX.bed/.bim/.fam`` (SNP-major, column-5 allele counted)."""
    prefix = plink_prefix(prefix)
    prefix.parent.mkdir(parents=True, exist_ok=True)
    write_bed_parts(
        prefix.with_name(prefix.name + ".bed"),
        prefix.with_name(prefix.name + ".bim"),
        prefix.with_name(prefix.name + ".fam"),
        genotypes,
    )


def write_bed_parts(bed: Path, bim: Path, fam: Path, genotypes: Genotypes) -> None:
    """Write the three files of a fileset to explicit paths (used with :func:`atomic_outputs`)."""
    calls = genotypes.calls
    n_samples, n_snps = calls.shape
    n_bytes = (n_samples + 3) // 4
    with open(bed, "wb") as handle:
        handle.write(BED_MAGIC)
        for start in range(0, n_snps, _SNPS_PER_READ):
            block = calls[:, start : start + _SNPS_PER_READ].T  # SNPs x samples
            codes = _COUNT_TO_CODE[np.where(block > 2, 3, 2 - block.astype(np.int16))]
            padded = np.zeros((block.shape[0], n_bytes * 4), dtype=np.uint8)
            padded[:, :n_samples] = codes
            padded = padded.reshape(block.shape[0], n_bytes, 4)
            packed = (
                padded[:, :, 0]
                | (padded[:, :, 1] << 2)
                | (padded[:, :, 2] << 4)
                | (padded[:, :, 3] << 6)
            )
            handle.write(packed.astype(np.uint8).tobytes())
    variants = genotypes.variants
    pd.DataFrame(
        {
            "chrom": variants["chrom"],
            "snp": variants["snp"],
            "cm": variants.get("cm", pd.Series(0.0, index=variants.index)),
            "pos": variants["pos"],
            "a1": variants["a1"],
            "a2": variants["a2"],
        }
    ).to_csv(bim, sep="\t", header=False, index=False)
    samples = genotypes.samples
    fam_table = pd.DataFrame(
        {
            "fid": samples["fid"],
            "iid": samples["iid"],
            "father": samples.get("father", "0"),
            "mother": samples.get("mother", "0"),
            "sex": samples.get("sex", "0"),
            "phenotype": samples.get("phenotype", "-9"),
        }
    )
    fam_table.to_csv(fam, sep=" ", header=False, index=False)


def make_genotypes(calls, sample_ids=None, snp_ids=None, chrom="1", positions=None, alleles=None):
    """Build a :class:`Genotypes` from a count matrix (tests, simulations)."""
    calls = np.asarray(calls)
    if calls.dtype != np.uint8:
        calls = (
            np.where(np.isnan(calls), MISSING, calls).astype(np.uint8)
            if calls.dtype.kind == "f"
            else calls.astype(np.uint8)
        )
    n_samples, n_snps = calls.shape
    sample_ids = (
        [f"ind{i + 1}" for i in range(n_samples)] if sample_ids is None else list(sample_ids)
    )
    snp_ids = [f"snp{j + 1}" for j in range(n_snps)] if snp_ids is None else list(snp_ids)
    positions = np.arange(1, n_snps + 1) * 1000 if positions is None else np.asarray(positions)
    a1, a2 = ("A", "G") if alleles is None else alleles
    samples = pd.DataFrame({"fid": sample_ids, "iid": sample_ids})
    variants = pd.DataFrame(
        {
            "chrom": [str(chrom)] * n_snps if np.isscalar(chrom) else [str(c) for c in chrom],
            "snp": snp_ids,
            "cm": np.zeros(n_snps),
            "pos": positions.astype(np.int64),
            "a1": a1 if not np.isscalar(a1) else [a1] * n_snps,
            "a2": a2 if not np.isscalar(a2) else [a2] * n_snps,
        }
    )
    return Genotypes(np.ascontiguousarray(calls), samples, variants)


# --------------------------------------------------------------------------------------------
# ADMIXTURE .Q / .P files
# --------------------------------------------------------------------------------------------


def write_matrix(path: str | os.PathLike, matrix: np.ndarray, digits: int = 6) -> None:
    """Write a whitespace-separated matrix the way ADMIXTURE does (fixed decimals, no header)."""
    np.savetxt(path, np.asarray(matrix, dtype=np.float64), fmt=f"%.{digits}f", delimiter=" ")


def read_matrix(path: str | os.PathLike, what: str) -> np.ndarray:
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: file not found; give the path of an existing {what} file.")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            matrix = np.loadtxt(path, dtype=np.float64, ndmin=2)
    except ValueError as exc:
        raise InputError(
            f"{path}: not a valid {what} file ({exc}); expected whitespace-separated numbers, "
            "one row per line, as ADMIXTURE writes them."
        ) from None
    if matrix.size == 0:
        raise InputError(f"{path}: the {what} file is empty.")
    if not np.isfinite(matrix).all():
        raise InputError(f"{path}: the {what} file contains NaN or infinite values.")
    return matrix


def read_q(path: str | os.PathLike, n_samples: int | None = None) -> np.ndarray:
    """Read an ADMIXTURE ``.Q`` (samples x K, rows in ``.fam`` order)."""
    q = read_matrix(path, ".Q")
    if n_samples is not None and q.shape[0] != n_samples:
        raise InputError(
            f"{path}: {q.shape[0]} rows, but the genotype data have {n_samples} samples; use the "
            ".Q file that was written for this .fam."
        )
    if (q < -1e-6).any() or np.abs(q.sum(axis=1) - 1).max() > 1e-3:
        raise InputError(
            f"{path}: rows of a .Q file must be non-negative and sum to 1; this is not a .Q file."
        )
    q = np.clip(q, 0.0, None)
    return q / q.sum(axis=1, keepdims=True)


def read_p(path: str | os.PathLike, n_snps: int | None = None) -> np.ndarray:
    """Read an ADMIXTURE ``.P`` (SNPs x K, rows in ``.bim`` order, column-5 allele frequency)."""
    p = read_matrix(path, ".P")
    if n_snps is not None and p.shape[0] != n_snps:
        raise InputError(
            f"{path}: {p.shape[0]} rows, but the genotype data have {n_snps} SNPs; use the .P file "
            "that was written for this .bim (same SNPs, same order)."
        )
    if (p < 0).any() or (p > 1).any():
        raise InputError(f"{path}: allele frequencies in a .P file must lie in [0, 1].")
    return p


write_q = write_matrix
write_p = write_matrix


# --------------------------------------------------------------------------------------------
# Population labels
# --------------------------------------------------------------------------------------------

UNKNOWN_LABELS = {"-", "", "NA", "nan", "?"}


def read_labels(path: str | os.PathLike, sample_ids) -> np.ndarray:
    """Population labels aligned to ``sample_ids`` (``.fam`` order); unknown samples get ``""``.

    Two layouts are accepted:

    * ADMIXTURE's ``.pop``: one label per line, same length and order as the ``.fam``, ``-`` for a
      sample of unknown population;
    * a table with the sample ID in the first column and the label in the second (tab or space
      separated, optional header line), in any order; samples missing from it are unknown.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: label file not found.")
    lines = [line.rstrip("\n\r") for line in path.read_text().splitlines()]
    lines = [line for line in lines if line.strip() != ""]
    sample_ids = [str(s) for s in sample_ids]
    rows = [line.split() for line in lines]
    if rows and all(len(r) == 1 for r in rows):
        if len(rows) != len(sample_ids):
            raise InputError(
                f"{path}: {len(rows)} labels, but the genotype data have {len(sample_ids)} "
                "samples; "
                "a one-column label file needs one line per .fam sample, in .fam order "
                "('-' for unknown), or use two columns: sample ID and label."
            )
        labels = np.array([r[0] for r in rows], dtype=object)
    else:
        mapping: dict[str, str] = {}
        for number, row in enumerate(rows, start=1):
            if len(row) < 2:
                raise InputError(
                    f"{path}: line {number} has one column but others have two; use 'SAMPLE LABEL' "
                    "on every line."
                )
            mapping[row[0]] = row[1]
        known = sum(s in mapping for s in sample_ids)
        if known == 0:
            raise InputError(
                f"{path}: none of its sample IDs match the IIDs of the genotype data; the first "
                "column must hold the .fam IID."
            )
        labels = np.array([mapping.get(s, "-") for s in sample_ids], dtype=object)
    labels = np.array(["" if str(x) in UNKNOWN_LABELS else str(x) for x in labels], dtype=object)
    return labels


def write_labels(path: str | os.PathLike, sample_ids, labels) -> None:
    pd.DataFrame({"sample": list(sample_ids), "population": list(labels)}).to_csv(
        path, sep="\t", header=False, index=False
    )
