"""PLINK 1 binary filesets (``.bed``/``.bim``/``.fam``): reading, writing, naming; of PLINK 2
filesets (``.pgen``/``.pvar``/``.psam``, which plink2 converts), only naming and the sample IDs.

A ``.bed`` is read straight into memory as the packed byte matrix it already is (no decoding),
after its size is checked against the ``.bim`` and ``.fam``; see :mod:`neuradmix.data.genotypes`
for the allele that is counted.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import InputError
from .genotypes import Genotypes, bytes_per_snp

BED_MAGIC = bytes([0x6C, 0x1B, 0x01])
_BIM_COLUMNS = ["chrom", "snp", "cm", "pos", "a1", "a2"]
_FAM_COLUMNS = ["fid", "iid", "father", "mother", "sex", "phenotype"]


def plink_prefix(path: str | os.PathLike) -> Path:
    """``data.bed``, ``data.bim``, ``data.fam`` or ``data`` all name the fileset ``data``."""
    path = Path(path)
    if path.suffix in (".bed", ".bim", ".fam"):
        return path.with_suffix("")
    return path


def fileset_paths(path: str | os.PathLike) -> tuple[Path, Path, Path]:
    """The ``.bed``, ``.bim`` and ``.fam`` paths of the fileset ``path`` names."""
    prefix = plink_prefix(path)
    return tuple(prefix.with_name(prefix.name + ext) for ext in (".bed", ".bim", ".fam"))


def require_fileset(path: str | os.PathLike) -> tuple[Path, Path, Path]:
    """The three paths, or a clear error naming the first one that is missing."""
    paths = fileset_paths(path)
    prefix = plink_prefix(path)
    for part in paths:
        if not part.is_file():
            raise InputError(
                f"{part}: file not found; a PLINK fileset needs {prefix.name}.bed, .bim and .fam "
                "side by side (make one with `plink2 --vcf IN.vcf.gz --make-bed --out PREFIX`)."
            )
    return paths


PFILE_SUFFIXES = (".pgen", ".pvar", ".psam")


def pfile_paths(path: str | os.PathLike) -> tuple[Path, Path, Path]:
    """The ``.pgen``, ``.pvar`` and ``.psam`` paths of the PLINK 2 fileset that ``data``,
    ``data.pgen``, ``data.pvar`` or ``data.psam`` names."""
    prefix = Path(path)
    if prefix.suffix in PFILE_SUFFIXES:
        prefix = prefix.with_suffix("")
    return tuple(prefix.with_name(prefix.name + ext) for ext in PFILE_SUFFIXES)


def require_pfileset(path: str | os.PathLike) -> tuple[Path, Path, Path]:
    """The three paths, or a clear error naming the first one that is missing."""
    paths = pfile_paths(path)
    for part in paths:
        if not part.is_file():
            name = paths[0].with_suffix("").name
            raise InputError(
                f"{part}: file not found; a PLINK 2 fileset needs {name}.pgen, .pvar and .psam "
                "side by side, named by their common prefix (decompress a .pvar.zst with "
                "`plink2 --pfile PREFIX vzs --make-pgen --out NEW`)."
            )
    return paths


def read_psam_ids(path: str | os.PathLike) -> list[str]:
    """IIDs of a PLINK 2 ``.psam`` (or of the fileset a prefix names): the ``IID`` column of its
    ``#FID``/``#IID`` header line, or column 2 of a header-less (``.fam``-style) file."""
    psam = pfile_paths(path)[2]
    if not psam.is_file():
        raise InputError(f"{psam}: file not found; give the PLINK 2 prefix of the fileset.")
    with open(psam) as handle:
        lines = [line.split() for line in handle if line.strip() and not line.startswith("##")]
    if lines and lines[0][0] in ("#FID", "#IID"):
        header, rows = lines[0], lines[1:]
        column = header.index("IID") if "IID" in header else 0
    else:
        rows, column = lines, 1
    if not rows or any(len(row) <= column for row in rows):
        raise InputError(
            f"{psam}: no sample IDs found; a .psam starts with a '#FID IID' or '#IID' header "
            "line, one sample per line (regenerate it with plink2 --make-pgen)."
        )
    ids = pd.Series([row[column] for row in rows])
    if ids.duplicated().any():
        first = ids[ids.duplicated()].iloc[0]
        raise InputError(
            f"{psam}: sample ID {first!r} appears more than once; IIDs must be unique, because "
            "labels and outputs name samples by them."
        )
    return ids.tolist()


def read_bim(path: str | os.PathLike) -> pd.DataFrame:
    """The variant table of a ``.bim`` (columns chrom, snp, cm, pos, a1, a2)."""
    bim = fileset_paths(path)[1]
    variants = _read_table(bim, _BIM_COLUMNS, "bim")
    for column in ("chrom", "snp", "a1", "a2"):
        variants[column] = variants[column].astype(str)
    variants["pos"] = variants["pos"].astype(np.int64)
    variants["cm"] = variants["cm"].astype(float)
    return variants


def read_fam(path: str | os.PathLike) -> pd.DataFrame:
    """The sample table of a ``.fam`` (columns fid, iid, father, mother, sex, phenotype)."""
    fam = fileset_paths(path)[2]
    samples = _read_table(fam, _FAM_COLUMNS, "fam").astype(str)
    duplicated = samples["iid"].duplicated(keep=False)
    if duplicated.any():
        lines = (duplicated[duplicated].index[:2] + 1).tolist()
        first = samples["iid"][duplicated].iloc[0]
        raise InputError(
            f"{fam}: sample ID {first!r} appears more than once (lines {lines[0]} and "
            f"{lines[1]}); sample IDs (column 2) must be unique, as plink2 requires, because "
            "labels and outputs name samples by them. Rename or remove the duplicates "
            "(e.g. `plink2 --bfile PREFIX --remove dups.txt --make-bed --out NEW`)."
        )
    return samples


def read_fam_ids(path: str | os.PathLike) -> list[str]:
    """IIDs of a ``.fam`` (or of the fileset a ``.bed``/prefix names)."""
    fam = fileset_paths(path)[2]
    if not fam.is_file():
        raise InputError(f"{fam}: file not found; give the PLINK prefix of the fileset.")
    return read_fam(fam)["iid"].tolist()


def read_bed(path: str | os.PathLike) -> Genotypes:
    """Read a PLINK 1 binary fileset (SNP-major) into a packed :class:`Genotypes`."""
    bed, bim, fam = require_fileset(path)
    variants = read_bim(bim)
    samples = read_fam(fam)
    n_samples, n_snps = len(samples), len(variants)
    _check_unique_snps(bim, variants)
    _check_bed_header(bed, n_samples, n_snps)
    packed = np.fromfile(bed, dtype=np.uint8, offset=len(BED_MAGIC))
    packed = packed.reshape(n_snps, bytes_per_snp(n_samples))
    return Genotypes(packed, samples, variants, str(bed))


def _check_unique_snps(bim: Path, variants: pd.DataFrame) -> None:
    """SNP IDs name the rows of a .P and match SNPs between filesets, so each named SNP must be
    unique (a missing ID, '.', is allowed: such SNPs are matched by position)."""
    ids = variants["snp"]
    duplicated = ids.duplicated(keep=False) & ids.ne(".")
    if duplicated.any():
        lines = (np.flatnonzero(duplicated.to_numpy())[:2] + 1).tolist()
        raise InputError(
            f"{bim}: SNP ID {ids[duplicated].iloc[0]!r} appears more than once (lines "
            f"{lines[0]} and {lines[1]}); every SNP needs its own ID. Remove the duplicates "
            "(`plink2 --bfile PREFIX --rm-dup exclude-all --make-bed --out NEW`) or rename them "
            "(`plink2 --bfile PREFIX --set-all-var-ids '@:#:$r:$a' --make-bed --out NEW`)."
        )


def _read_table(path: Path, columns: list[str], kind: str) -> pd.DataFrame:
    if not path.is_file():
        raise InputError(f"{path}: file not found.")
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
    expected = len(BED_MAGIC) + n_snps * bytes_per_snp(n_samples)
    actual = bed.stat().st_size
    if actual != expected:
        raise InputError(
            f"{bed}: {actual} bytes, but {n_snps} SNPs x {n_samples} samples from the .bim/.fam "
            f"need {expected}; the file is truncated or does not belong to these .bim/.fam files. "
            "Copy it again or regenerate the fileset with plink2."
        )


def write_bed(prefix: str | os.PathLike, genotypes: Genotypes) -> None:
    """Write ``genotypes`` as ``PREFIX.bed/.bim/.fam`` (SNP-major, column-5 allele counted)."""
    paths = fileset_paths(prefix)
    paths[0].parent.mkdir(parents=True, exist_ok=True)
    write_bed_parts(*paths, genotypes)


def write_bed_parts(bed: Path, bim: Path, fam: Path, genotypes: Genotypes) -> None:
    """Write the three files of a fileset to explicit paths (used with ``atomic_outputs``)."""
    with open(bed, "wb") as handle:
        handle.write(BED_MAGIC)
        handle.write(np.ascontiguousarray(genotypes.packed).tobytes())
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
    pd.DataFrame(
        {
            "fid": samples["fid"],
            "iid": samples["iid"],
            "father": samples.get("father", "0"),
            "mother": samples.get("mother", "0"),
            "sex": samples.get("sex", "0"),
            "phenotype": samples.get("phenotype", "-9"),
        }
    ).to_csv(fam, sep=" ", header=False, index=False)
