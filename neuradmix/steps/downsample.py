"""Uniform SNP downsampling (evenly spaced SNPs), as the paper did for chromosome 1."""

from __future__ import annotations

import os

import numpy as np

from ..data import atomic_outputs, fileset_paths, plink_prefix, read_bed, write_bed_parts
from ..errors import InputError


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
        write_bed_parts(*(staged(p) for p in fileset_paths(out_prefix)), kept)
    return int(index.size)
