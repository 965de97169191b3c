"""A small VCF reader and writer for biallelic, diploid genotype data.

Reading is vectorised: the genotype columns of a block of lines are joined into one byte buffer and
decoded with numpy, so no Python code runs per genotype. The common layout (``FORMAT`` is just
``GT`` and every call is three characters such as ``0|1``) is decoded without splitting lines at
all; other layouts (``GT:AD:...``) go through a slower but still per-line path.

Plain text and gzip/BGZF-compressed files (``.vcf.gz`` from ``bgzip``) are read transparently; files
whose name ends in ``.gz`` are written as BGZF, so ``tabix`` and ``bcftools`` accept them.

Alleles are kept in VCF orientation: a haplotype value is 1 for the ALT allele, 0 for REF and
:data:`neuradmix.data.MISSING` for ``.``. :func:`read_vcf_genotypes` turns this into a
:class:`neuradmix.data.Genotypes` that counts ALT copies with ALT as the ``.bim`` column-5 allele,
which is what ``plink2 --vcf ... --make-bed`` produces.

:func:`check_vcf` is the pre-flight scan the workflow runs before ``plink2`` converts a cohort: it
refuses what PLINK would silently mangle (haploid and polyploid calls) and counts what the
conversion drops.
"""

from __future__ import annotations

import gzip
import os
import re
import struct
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import InputError
from .genotypes import MISSING, Genotypes
from .outputs import atomic_outputs

_LINES_PER_BLOCK = 4096
_FIXED_COLUMNS = 9  # CHROM POS ID REF ALT QUAL FILTER INFO FORMAT

# Byte value -> allele code; anything not listed is invalid in a biallelic diploid call.
_ALLELE_CODE = np.full(256, 255, dtype=np.uint8)
_ALLELE_CODE[ord("0")] = 0
_ALLELE_CODE[ord("1")] = 1
_ALLELE_CODE[ord(".")] = MISSING

_PHASE_HINT = (
    "phase the cohort first (e.g. with SHAPEIT5 or Beagle), or use a VCF that was already phased"
)
_MULTIALLELIC_HINT = (
    "split or drop them first, e.g. `bcftools view -m2 -M2 IN.vcf.gz -Oz -o OUT.vcf.gz` "
    "(drop) or `bcftools norm -m- IN.vcf.gz -Oz -o OUT.vcf.gz` (split)"
)


@dataclass
class VcfData:
    """Haplotypes of a VCF, SNP-major.

    ``haplotypes`` is a uint8 matrix (SNPs x 2*samples): columns ``2i`` and ``2i+1`` are the first
    and second allele of sample ``i`` (for phased data the first and second haplotype), 1 for ALT,
    0 for REF, :data:`MISSING` for ``.``. ``variants`` has columns ``chrom``, ``pos``, ``snp``,
    ``ref``, ``alt``. ``phased`` is True when every call used ``|``.
    """

    haplotypes: np.ndarray
    samples: list[str]
    variants: pd.DataFrame
    phased: bool
    source: str = field(default="<memory>")

    @property
    def n_samples(self) -> int:
        return len(self.samples)

    @property
    def n_snps(self) -> int:
        return self.haplotypes.shape[0]

    def dosage(self) -> np.ndarray:
        """ALT copies per sample (samples x SNPs, uint8), MISSING where either allele is missing."""
        first = self.haplotypes[:, 0::2]
        second = self.haplotypes[:, 1::2]
        counts = first + second
        counts[(first == MISSING) | (second == MISSING)] = MISSING
        return np.ascontiguousarray(counts.T)


# --------------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------------


def open_vcf(path: Path, text: bool = False):
    """Open a plain or gzip/BGZF-compressed VCF (bytes, or text with ``text``)."""
    with open(path, "rb") as probe:
        magic = probe.read(2)
    mode = "rt" if text else "rb"
    if magic == b"\x1f\x8b":
        return gzip.open(path, mode)
    return open(path, mode)


def read_vcf(path: str | os.PathLike, require_phased: bool = True) -> VcfData:
    """Read the genotypes (``GT``) of a biallelic, diploid VCF.

    Raises :class:`InputError` naming the file and line for multi-allelic sites, calls that are not
    diploid, alleles other than 0, 1 and ``.``, and (when ``require_phased``) unphased calls.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: VCF file not found.")
    samples: list[str] | None = None
    chunks: list[np.ndarray] = []
    fixed_rows: list[list[bytes]] = []
    all_phased = True
    try:
        with open_vcf(path) as handle:
            line_number = 0
            block: list[tuple[int, bytes]] = []
            for raw in handle:
                line_number += 1
                if raw.startswith(b"##"):
                    continue
                if raw.startswith(b"#"):
                    samples = _parse_header(path, raw)
                    continue
                if samples is None:
                    raise InputError(
                        f"{path}: line {line_number} holds data before the '#CHROM' header line; "
                        "this is not a VCF file."
                    )
                if raw.strip() == b"":
                    continue
                block.append((line_number, raw))
                if len(block) == _LINES_PER_BLOCK:
                    haps, fixed, phased = _parse_block(path, block, len(samples), require_phased)
                    chunks.append(haps)
                    fixed_rows.extend(fixed)
                    all_phased &= phased
                    block = []
            if block:
                haps, fixed, phased = _parse_block(path, block, len(samples), require_phased)
                chunks.append(haps)
                fixed_rows.extend(fixed)
                all_phased &= phased
    except (OSError, EOFError, zlib.error) as exc:
        raise InputError(
            f"{path}: cannot be read as a plain or gzip/bgzip-compressed VCF ({exc}); check that "
            "the file is complete."
        ) from None
    if samples is None:
        raise InputError(f"{path}: no '#CHROM' header line found; this is not a VCF file.")
    if not samples:
        raise InputError(f"{path}: the VCF has no sample columns, so there are no genotypes.")
    if not fixed_rows:
        raise InputError(f"{path}: the VCF has no variant lines.")
    haplotypes = np.concatenate(chunks, axis=0)
    variants = _variant_table(path, fixed_rows)
    return VcfData(haplotypes, samples, variants, all_phased, str(path))


def read_vcf_genotypes(path: str | os.PathLike) -> Genotypes:
    """Read a (phased or unphased) biallelic VCF as unphased ALT-allele dosages.

    The counted (``.bim`` column-5) allele is ALT, the other REF, matching ``plink2 --vcf IN
    --make-bed``. Variant IDs of ``.`` become ``CHROM:POS:REF:ALT``.
    """
    data = read_vcf(path, require_phased=False)
    return vcf_to_genotypes(data)


def vcf_to_genotypes(data: VcfData, cm: np.ndarray | None = None) -> Genotypes:
    """Dosage view of :class:`VcfData` (optionally with genetic positions for the ``.bim``)."""
    variants = data.variants
    samples = pd.DataFrame({"fid": data.samples, "iid": data.samples})
    table = pd.DataFrame(
        {
            "chrom": variants["chrom"].astype(str),
            "snp": variants["snp"].astype(str),
            "cm": np.zeros(len(variants)) if cm is None else np.asarray(cm, dtype=float),
            "pos": variants["pos"].astype(np.int64),
            "a1": variants["alt"].astype(str),
            "a2": variants["ref"].astype(str),
        }
    )
    return Genotypes.from_calls(data.dosage(), samples, table, data.source)


def _parse_header(path: Path, raw: bytes) -> list[str]:
    columns = raw.rstrip(b"\r\n").decode().lstrip("#").split("\t")
    if len(columns) < 8 or columns[0] != "CHROM":
        raise InputError(
            f"{path}: malformed '#CHROM' header line; VCF columns must be tab-separated."
        )
    samples = columns[_FIXED_COLUMNS:]
    _refuse_duplicate_samples(path, samples)
    return samples


def _refuse_duplicate_samples(path: Path, samples: list[str]) -> None:
    if len(samples) != len(set(samples)):
        seen: set[str] = set()
        duplicate = next(s for s in samples if s in seen or seen.add(s))
        raise InputError(
            f"{path}: sample '{duplicate}' appears more than once in the header; sample IDs must "
            "be unique (rename with `bcftools reheader -s`)."
        )


def vcf_sample_ids(path: str | os.PathLike) -> list[str]:
    """Sample IDs from a VCF header (reads only the header)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: VCF file not found.")
    try:
        with open_vcf(path) as handle:
            for raw in handle:
                if raw.startswith(b"#CHROM"):
                    return _parse_header(path, raw)
                if not raw.startswith(b"#"):
                    break
    except (EOFError, zlib.error, OSError) as exc:
        raise InputError(
            f"{path}: cannot be read ({type(exc).__name__}: {exc}); the file is truncated, "
            "damaged or not a (bgzip-compressed) VCF."
        ) from None
    raise InputError(
        f"{path}: no '#CHROM' header line; this is not a VCF file (give a .vcf or .vcf.gz)."
    )


def _parse_block(path: Path, block, n_samples: int, require_phased: bool):
    """Decode a block of data lines into haplotypes (lines x 2*n_samples)."""
    fixed: list[list[bytes]] = []
    formats: list[bytes] = []
    genotype_parts: list[bytes] = []
    expected_length = 4 * n_samples - 1
    simple = True
    for line_number, raw in block:
        columns = raw.rstrip(b"\r\n").split(b"\t", _FIXED_COLUMNS)
        if len(columns) < _FIXED_COLUMNS + 1:
            raise InputError(
                f"{path}: line {line_number} has {len(columns)} tab-separated columns, but the "
                f"header announces {_FIXED_COLUMNS + n_samples}; the file is truncated or not "
                "tab-separated."
            )
        if b"," in columns[4]:
            raise InputError(
                f"{path}: line {line_number} ({columns[0].decode()}:{columns[1].decode()}) is a "
                f"multi-allelic site (ALT={columns[4].decode()}); only biallelic sites are "
                f"supported: {_MULTIALLELIC_HINT}."
            )
        fixed.append(columns[:5])
        formats.append(columns[8])
        part = columns[_FIXED_COLUMNS]
        if columns[8] != b"GT" or len(part) != expected_length:
            simple = False
        genotype_parts.append(part)

    if simple:
        buffer = np.frombuffer(b"\t".join(genotype_parts) + b"\t", dtype=np.uint8)
        calls = buffer.reshape(len(block), 4 * n_samples)
        if not (calls[:, 3::4] == ord("\t")).all():
            simple = False
    if not simple:
        calls = np.empty((len(block), 4 * n_samples), dtype=np.uint8)
        for row, (line_number, _) in enumerate(block):
            calls[row] = _general_calls(
                path, line_number, formats[row], genotype_parts[row], n_samples, fixed[row]
            )

    first = _ALLELE_CODE[calls[:, 0::4]]
    separator = calls[:, 1::4]
    second = _ALLELE_CODE[calls[:, 2::4]]
    bad = (first == 255) | (second == 255) | ((separator != ord("|")) & (separator != ord("/")))
    if bad.any():
        row, sample = np.argwhere(bad)[0]
        call = calls[row, 4 * sample : 4 * sample + 3].tobytes().decode(errors="replace")
        raise InputError(
            f"{path}: line {block[row][0]}, sample {sample + 1}: genotype '{call}' is not a "
            "biallelic diploid call (expected 0|0, 0|1, 1|0, 1|1, 0/1 ... or .|.)."
        )
    unphased = separator == ord("/")
    if require_phased and unphased.any():
        row, sample = np.argwhere(unphased)[0]
        raise InputError(
            f"{path}: line {block[row][0]} ({fixed[row][0].decode()}:{fixed[row][1].decode()}), "
            f"sample {sample + 1} has an unphased genotype ('/'); simulation needs phased "
            f"haplotypes: {_PHASE_HINT}."
        )
    haplotypes = np.empty((len(block), 2 * n_samples), dtype=np.uint8)
    haplotypes[:, 0::2] = first
    haplotypes[:, 1::2] = second
    return haplotypes, fixed, not unphased.any()


def _general_calls(path, line_number, format_field, part, n_samples, fixed) -> np.ndarray:
    """Genotype calls of one line with an arbitrary FORMAT, as 4-byte cells like b'0|1\\t'."""
    keys = format_field.split(b":")
    if keys[0] != b"GT":
        raise InputError(
            f"{path}: line {line_number}: FORMAT '{format_field.decode()}' does not start with GT; "
            "the VCF must carry genotype calls."
        )
    fields = part.split(b"\t")
    if len(fields) != n_samples:
        raise InputError(
            f"{path}: line {line_number} has {len(fields)} sample columns, but the header names "
            f"{n_samples} samples; the file is truncated or malformed."
        )
    calls = [f.split(b":", 1)[0] for f in fields]
    lengths = np.fromiter((len(c) for c in calls), dtype=np.int64, count=n_samples)
    if (lengths != 3).any():
        sample = int(np.flatnonzero(lengths != 3)[0])
        call = calls[sample].decode(errors="replace")
        ploidy = "haploid" if lengths[sample] == 1 else "not diploid"
        raise InputError(
            f"{path}: line {line_number} ({fixed[0].decode()}:{fixed[1].decode()}), sample "
            f"{sample + 1}: genotype '{call}' is {ploidy}; only diploid calls such as 0|1 are "
            "supported (drop haploid regions such as male chrX/chrY, e.g. with "
            "`bcftools view -t ^X,Y,MT`)."
        )
    return np.frombuffer(b"\t".join(calls) + b"\t", dtype=np.uint8)


def _variant_table(path: Path, fixed_rows: list[list[bytes]]) -> pd.DataFrame:
    chrom, pos, ids, ref, alt = (
        np.array([row[i].decode() for row in fixed_rows], dtype=object) for i in range(5)
    )
    positions = pd.to_numeric(pd.Series(pos), errors="coerce")
    variants = pd.DataFrame({"chrom": chrom, "pos": positions, "snp": ids, "ref": ref, "alt": alt})
    if variants["pos"].isna().any():
        first = int(np.flatnonzero(variants["pos"].isna().to_numpy())[0]) + 1
        raise InputError(
            f"{path}: the POS of variant {first} is not an integer; the file is malformed."
        )
    variants["pos"] = variants["pos"].astype(np.int64)
    unnamed = variants["snp"] == "."
    if unnamed.any():
        variants.loc[unnamed, "snp"] = (
            variants["chrom"]
            + ":"
            + variants["pos"].astype(str)
            + ":"
            + variants["ref"]
            + ":"
            + variants["alt"]
        )[unnamed]
    return variants


# --------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------


class BgzfWriter:
    """Write the BGZF flavour of gzip (independent blocks, as ``bgzip`` does), deterministically.

    Blocks are compressed on ``threads`` threads (zlib releases the GIL) and written in order, so
    the output does not depend on the number of threads.
    """

    _BLOCK_INPUT = 0xFF00  # uncompressed bytes per block; keeps every block under 64 KiB
    _EOF = bytes.fromhex("1f8b08040000000000ff0600424302001b0003000000000000000000")

    def __init__(self, handle, level: int = 6, threads: int | None = None):
        self._handle = handle
        self._level = level
        self._pending = bytearray()
        self._threads = max(1, threads or os.cpu_count() or 1)
        self._pool = ThreadPoolExecutor(self._threads) if self._threads > 1 else None

    def write(self, data: bytes) -> None:
        if self._pending:
            data = bytes(self._pending) + data
        view = memoryview(data)
        n_full = len(view) // self._BLOCK_INPUT
        blocks = [view[i * self._BLOCK_INPUT : (i + 1) * self._BLOCK_INPUT] for i in range(n_full)]
        compressed = self._pool.map(self._block, blocks) if self._pool else map(self._block, blocks)
        for block in compressed:
            self._handle.write(block)
        self._pending = bytearray(view[n_full * self._BLOCK_INPUT :])

    def close(self) -> None:
        if self._pending:
            self._handle.write(self._block(bytes(self._pending)))
            self._pending.clear()
        self._handle.write(self._EOF)
        if self._pool:
            self._pool.shutdown()

    def _block(self, data) -> bytes:
        compressor = zlib.compressobj(self._level, zlib.DEFLATED, -15)
        payload = compressor.compress(data) + compressor.flush()
        header = struct.pack(
            "<4BI2BH2BHH", 0x1F, 0x8B, 8, 4, 0, 0, 0xFF, 6, ord("B"), ord("C"), 2,
            len(payload) + 25,
        )  # fmt: skip
        trailer = struct.pack("<II", zlib.crc32(data) & 0xFFFFFFFF, len(data))
        return header + payload + trailer


def write_vcf(
    path: str | os.PathLike,
    haplotypes: np.ndarray,
    samples,
    variants: pd.DataFrame,
    *,
    haplotype_major: bool = False,
    source: str = "neuradmix",
    contig_lengths: dict[str, int] | None = None,
    compress: bool | None = None,
    threads: int | None = None,
) -> None:
    """Write phased, biallelic genotypes as a VCF.

    The file is BGZF-compressed when ``compress`` is True, or when it is None (the default) and
    ``path`` ends in ``.gz``; ``threads`` compress in parallel (default: all CPUs).

    ``haplotypes`` is SNPs x 2*samples (or 2*samples x SNPs with ``haplotype_major``), coded as in
    :class:`VcfData`. ``variants`` needs ``chrom``, ``pos``, ``snp``, ``ref``, ``alt``.
    """
    path = Path(path)
    samples = [str(s) for s in samples]
    n_haplotypes = haplotypes.shape[0] if haplotype_major else haplotypes.shape[1]
    n_snps = haplotypes.shape[1] if haplotype_major else haplotypes.shape[0]
    if n_haplotypes != 2 * len(samples) or n_snps != len(variants):
        raise ValueError("haplotype matrix does not match the samples and variants given")
    header = ["##fileformat=VCFv4.2", f"##source={source}"]
    chromosomes = pd.unique(variants["chrom"].astype(str))
    for chrom in chromosomes:
        length = (contig_lengths or {}).get(chrom)
        header.append(f"##contig=<ID={chrom}" + (f",length={length}>" if length else ">"))
    header.append('##FORMAT=<ID=GT,Number=1,Type=String,Description="Phased genotype">')
    header.append("\t".join(["#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO"]))
    header[-1] += "\tFORMAT\t" + "\t".join(samples)
    prefixes = (
        variants["chrom"].astype(str)
        + "\t"
        + variants["pos"].astype(np.int64).astype(str)
        + "\t"
        + variants["snp"].astype(str)
        + "\t"
        + variants["ref"].astype(str)
        + "\t"
        + variants["alt"].astype(str)
        + "\t.\tPASS\t.\tGT\t"
    ).tolist()
    digits = np.array([ord("0"), ord("1"), ord("."), ord(".")], dtype=np.uint8)

    with open(path, "wb") as raw:
        if compress is None:
            compress = path.name.endswith(".gz")
        out = BgzfWriter(raw, threads=threads) if compress else raw
        out.write(("\n".join(header) + "\n").encode())
        for start in range(0, n_snps, _LINES_PER_BLOCK):
            stop = min(start + _LINES_PER_BLOCK, n_snps)
            block = haplotypes[:, start:stop].T if haplotype_major else haplotypes[start:stop]
            cells = np.empty((stop - start, 4 * len(samples)), dtype=np.uint8)
            cells[:, 0::4] = digits[np.minimum(block[:, 0::2], 3)]
            cells[:, 1::4] = ord("|")
            cells[:, 2::4] = digits[np.minimum(block[:, 1::2], 3)]
            cells[:, 3::4] = ord("\t")
            cells[:, -1] = ord("\n")
            lines = [
                prefixes[start + row].encode() + cells[row].tobytes() for row in range(stop - start)
            ]
            out.write(b"".join(lines))
        if isinstance(out, BgzfWriter):
            out.close()


# --------------------------------------------------------------------------------------------
# Pre-flight check before plink2 converts a cohort
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
        fields = ["n_samples", "n_sites", "n_biallelic_snps", "n_multiallelic", "n_other"]
        values = [getattr(self, name) for name in fields]
        return pd.DataFrame(
            {"field": fields + ["phased"], "value": values + ["yes" if self.phased else "no"]}
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
    spaced = [name for name in samples if any(c.isspace() for c in name)]
    if spaced:
        raise InputError(
            f"{path}: sample name {spaced[0]!r} contains white space ({len(spaced)} such "
            "names); PLINK's .fam splits on white space, so rename them first, e.g. "
            "`bcftools reheader -s new_names.txt`."
        )
    try:
        counts = _scan_records(path, samples, require_phased)
    except (EOFError, zlib.error, OSError) as exc:
        raise InputError(
            f"{path}: cannot be read to its end ({type(exc).__name__}: {exc}); the file is "
            "truncated or damaged. Copy it again, or recompress it with bgzip."
        ) from None
    n_sites, n_snps, n_multi, n_other, phased = counts
    if n_sites == 0:
        raise InputError(f"{path}: the VCF has a header but no variant records.")
    if n_snps == 0:
        raise InputError(
            f"{path}: none of the {n_sites} records is a biallelic SNP, so nothing is left "
            "after keeping biallelic SNPs; check that this is the genotype VCF you meant."
        )
    return VcfSummary(len(samples), n_sites, n_snps, n_multi, n_other, phased)


def _scan_records(path: Path, samples: list[str], require_phased: bool):
    """(sites, biallelic SNPs, multi-allelic, other, phased) of a VCF's records, refusing
    what :func:`check_vcf` describes."""
    n_sites = n_snps = n_multi = n_other = 0
    phased = True
    with open_vcf(path, text=True) as handle:
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
    return n_sites, n_snps, n_multi, n_other, phased


def write_vcf_summary(summary: VcfSummary, out: str | os.PathLike) -> None:
    with atomic_outputs() as staged:
        summary.as_table().to_csv(staged(out), sep="\t", index=False)
