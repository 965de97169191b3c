"""Target cohorts: bring their SNPs into a model's SNP set, order and counted allele."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from ..data import (
    MISSING,
    Genotypes,
    atomic_outputs,
    fileset_paths,
    read_bed,
    read_bim,
    write_bed_parts,
)
from ..errors import InputError


def match_snps(target: Genotypes, reference_bim: str | os.PathLike) -> Genotypes:
    """``target`` restricted and ordered to the SNPs of ``reference_bim``.

    SNPs are matched on chromosome and position with the same pair of alleles; a SNP whose
    alleles are swapped has its counts flipped so that the column-5 allele of the reference is
    counted. SNPs absent from the target become missing calls; if fewer than half are present
    the target is refused, because a forward pass on mostly missing input means little.
    """
    reference_bim = Path(reference_bim)
    reference = read_bim(reference_bim)
    ref_keys = reference["chrom"] + ":" + reference["pos"].astype(str)
    variants = target.variants
    tgt_keys = variants["chrom"].astype(str) + ":" + variants["pos"].astype(str)
    lookup = pd.Series(np.arange(len(tgt_keys)), index=tgt_keys)
    lookup = lookup[~lookup.index.duplicated(keep=False)]
    calls = np.full((target.n_samples, len(reference)), MISSING, dtype=np.uint8)
    target_calls = target.calls
    found = 0
    for column, (key, a1, a2) in enumerate(
        zip(ref_keys, reference["a1"], reference["a2"], strict=True)
    ):
        source = lookup.get(key)
        if source is None:
            continue
        t_a1, t_a2 = variants["a1"].iat[source], variants["a2"].iat[source]
        values = target_calls[:, source]
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
    return Genotypes.from_calls(calls, target.samples, variants_out, target.source)


def write_matched(
    bed: str | os.PathLike, reference_bim: str | os.PathLike, out_prefix: str | os.PathLike
) -> Genotypes:
    matched = match_snps(read_bed(bed), reference_bim)
    with atomic_outputs() as staged:
        write_bed_parts(*(staged(p) for p in fileset_paths(out_prefix)), matched)
    return matched
