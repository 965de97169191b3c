"""Stratified train/validation split of a cohort (the paper's 80/20 split, per population)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..data import (
    UNKNOWN,
    atomic_outputs,
    fileset_paths,
    is_unknown,
    plink_prefix,
    read_bed,
    read_labels,
    write_bed_parts,
    write_labels,
)
from ..errors import InputError


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
    labels = np.asarray([UNKNOWN if is_unknown(x) else str(x) for x in labels])
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
            write_bed_parts(*(staged(path) for path in fileset_paths(out_dir / name)), part)
            write_labels(staged(out_dir / f"{name}.labels"), part.sample_ids, labels[index])
    return int(train_index.size), int(val_index.size)
