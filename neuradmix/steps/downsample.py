"""Uniform SNP downsampling (evenly spaced SNPs), as the paper did for chromosome 1.

Only the choice is made here: :func:`write_uniform_snp_list` streams the ``.bim`` and writes the
IDs of the chosen SNPs, one per line; ``plink2 --extract LIST --make-bed`` then writes the
downsampled fileset, so the genotypes are never read into Python and a cohort larger than RAM
downsamples in the memory plink2 needs.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from ..data import atomic_outputs, fileset_paths
from ..errors import InputError

_CHUNK = 1 << 18  # .bim lines read at a time


def uniform_snp_indices(n_snps: int, every: int | None = None, target: int | None = None):
    """Evenly spaced SNP indices: every ``every``-th SNP, or ``target`` SNPs spread evenly.

    With a target of at least ``n_snps`` all SNPs are kept.
    """
    check_uniform_options(every, target)
    if every is not None:
        return np.arange(0, n_snps, every)
    if target >= n_snps:
        return np.arange(n_snps)
    # Centre each pick in its stretch so the first and last SNPs are not favoured.
    return np.floor((np.arange(target) + 0.5) * n_snps / target).astype(np.int64)


def check_uniform_options(every: int | None, target: int | None) -> None:
    if (every is None) == (target is None):
        raise InputError("give exactly one of --every and --target for uniform downsampling.")
    if every is not None and every < 1:
        raise InputError(f"--every must be a positive integer, got {every}.")
    if target is not None and target < 1:
        raise InputError(f"--target must be a positive integer, got {target}.")


def _bim_chunks(bim: Path):
    """The SNP-ID column of a ``.bim``, a chunk at a time (never the whole file in memory)."""
    try:
        reader = pd.read_csv(
            bim,
            sep=r"\s+",
            header=None,
            usecols=[1],
            dtype=str,
            chunksize=_CHUNK,
            engine="c",
        )
        for chunk in reader:
            yield chunk[1]
    except pd.errors.EmptyDataError:
        raise InputError(
            f"{bim}: the .bim file is empty; there are no SNPs to downsample."
        ) from None
    except (pd.errors.ParserError, ValueError) as exc:
        raise InputError(
            f"{bim}: not a .bim file ({exc}); regenerate the fileset with plink2 --make-bed."
        ) from None


def _check_ids(bim: Path) -> int:
    """Number of SNPs in ``bim``; refuses missing and duplicate IDs, which ``--extract`` cannot
    tell apart. Holds one 64-bit hash per SNP, not the IDs themselves."""
    hashes = []
    n_snps = 0
    for ids in _bim_chunks(bim):
        missing = ids.isna() | ids.eq(".")
        if missing.any():
            line = n_snps + int(np.flatnonzero(missing.to_numpy())[0]) + 1
            raise InputError(
                f"{bim}: SNP on line {line} has no ID ('.'); plink2 --extract selects SNPs by ID. "
                "Name them first: plink2 --bfile PREFIX --set-missing-var-ids '@:#:$r:$a' "
                "--make-bed --out NEW."
            )
        hashes.append(pd.util.hash_array(ids.to_numpy(dtype=object)))
        n_snps += len(ids)
    if n_snps == 0:
        raise InputError(f"{bim}: the .bim file is empty; there are no SNPs to downsample.")
    hashed = np.sort(np.concatenate(hashes))
    if (hashed[1:] == hashed[:-1]).any():
        raise InputError(
            f"{bim}: SNP IDs are not unique, so plink2 --extract would keep every copy; remove "
            "the duplicates first: plink2 --bfile PREFIX --rm-dup exclude-all --make-bed --out NEW."
        )
    return n_snps


def write_uniform_snp_list(
    bed: str | os.PathLike,
    out_dir: str | os.PathLike,
    name: str,
    every: int | None = None,
    target: int | None = None,
) -> tuple[Path, int, int]:
    """Write ``OUT/NAME.snps``: the IDs of evenly spaced SNPs of the fileset's ``.bim``.

    Returns ``(path, kept, total)``. The ``.bim`` is read twice, a chunk at a time: once to count
    its SNPs and check their IDs, once to pick the chosen ones.
    """
    check_uniform_options(every, target)
    bim = fileset_paths(bed)[1]
    if not bim.is_file():
        raise InputError(f"{bim}: file not found; give the PLINK fileset to downsample.")
    out = Path(out_dir) / f"{name}.snps"
    n_snps = _check_ids(bim)
    index = uniform_snp_indices(n_snps, every, target)
    kept = 0
    with atomic_outputs() as staged, open(staged(out), "w") as handle:
        start = 0
        for ids in _bim_chunks(bim):
            stop = start + len(ids)
            lo, hi = np.searchsorted(index, [start, stop])
            chosen = ids.to_numpy()[index[lo:hi] - start]
            if chosen.size:
                handle.write("\n".join(chosen) + "\n")
                kept += chosen.size
            start = stop
    return out, kept, n_snps
