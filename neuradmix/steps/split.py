"""Stratified train/validation split of a cohort (the paper's 80/20 split, per population).

Only the choice of samples is made here, from the ``.fam`` and the labels: :func:`write_split`
writes ``train.keep``/``val.keep`` (for ``plink2 --keep``) and the label file of each partition,
and plink2 writes the two filesets, so the genotypes never pass through Python.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..data import (
    UNKNOWN,
    atomic_outputs,
    fileset_paths,
    is_unknown,
    read_fam,
    read_labels,
    write_labels,
)
from ..errors import InputError

PARTITIONS = ("train", "val")


def stratified_split(
    labels: Sequence[str], validation_fraction: float = 0.2, seed: int = 42
) -> tuple[np.ndarray, np.ndarray]:
    """Indices (sorted) of the training and validation samples.

    Each population (samples of unknown population form one more stratum) gives
    ``round(fraction * size)`` samples to validation, clamped so that a population of two or
    more keeps at least one sample on each side; a singleton stays in training. The draw depends
    only on ``labels``, ``validation_fraction`` and ``seed``.
    """
    check_fraction(validation_fraction)
    labels = np.asarray([UNKNOWN if is_unknown(x) else str(x) for x in labels])
    rng = np.random.default_rng(seed)
    validation: list[np.ndarray] = []
    for population in sorted(set(labels.tolist())):
        members = np.flatnonzero(labels == population)
        n_val = validation_count(members.size, validation_fraction)
        validation.append(rng.permutation(members)[:n_val])
    val_index = np.sort(np.concatenate(validation)) if validation else np.array([], dtype=int)
    train_index = np.setdiff1d(np.arange(labels.size), val_index)
    return train_index, val_index


def validation_count(size: int, validation_fraction: float) -> int:
    """How many of a population of ``size`` samples go to validation: ``round(fraction * size)``,
    at least one and at most ``size - 1`` (none from a singleton)."""
    if size < 2:
        return 0
    return min(max(int(round(validation_fraction * size)), 1), size - 1)


def partition_sizes(labels: Sequence[str], validation_fraction: float) -> tuple[int, int]:
    """(training, validation) sizes :func:`stratified_split` gives ``labels``, without drawing."""
    strata = Counter(UNKNOWN if is_unknown(x) else str(x) for x in labels)
    n_val = sum(validation_count(size, validation_fraction) for size in strata.values())
    return sum(strata.values()) - n_val, n_val


def check_fraction(validation_fraction: float) -> None:
    if not 0.0 < validation_fraction < 1.0:
        raise InputError(
            f"--validation-fraction {validation_fraction}: must lie strictly between 0 and 1."
        )


def write_split(
    bed: str | os.PathLike,
    out_dir: str | os.PathLike,
    labels_path: str | os.PathLike | None = None,
    validation_fraction: float = 0.2,
    seed: int = 42,
    min_samples: int = 2,
) -> tuple[int, int]:
    """Write ``OUT/{train,val}.keep`` (``#FID IID`` for ``plink2 --keep``) and
    ``OUT/{train,val}.labels``, reading only the fileset's ``.fam`` (and the labels).

    The label files have two tab-separated columns (sample, population; ``-`` when unknown), in
    ``.fam`` order, which is the order ``plink2 --keep --make-bed`` keeps. Returns the partition
    sizes.
    """
    check_fraction(validation_fraction)
    if min_samples < 1:
        raise InputError(f"--min-samples must be at least 1, got {min_samples}.")
    fam = fileset_paths(bed)[2]
    samples = read_fam(fam)
    ids = samples["iid"].tolist()
    if labels_path is not None:
        labels = read_labels(labels_path, ids)
    else:
        labels = np.array([""] * len(ids), dtype=object)
    train_index, val_index = stratified_split(labels, validation_fraction, seed)
    for name, index in (("training", train_index), ("validation", val_index)):
        if index.size < min_samples:
            raise InputError(
                f"{fam}: only {len(ids)} samples, leaving {index.size} for the {name} partition "
                f"(at least {min_samples} needed); add samples or change "
                "split.validation_fraction."
            )
    out_dir = Path(out_dir)
    with atomic_outputs() as staged:
        for name, index in zip(PARTITIONS, (train_index, val_index), strict=True):
            keep = samples.iloc[index][["fid", "iid"]].rename(columns={"fid": "#FID", "iid": "IID"})
            keep.to_csv(staged(out_dir / f"{name}.keep"), sep="\t", index=False)
            write_labels(staged(out_dir / f"{name}.labels"), [ids[i] for i in index], labels[index])
    return int(train_index.size), int(val_index.size)
