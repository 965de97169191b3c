"""Aligned results as files: every ``.Q`` of one partition of a cohort (every run and K) with its
columns permuted to one labelling, plus the permutation table and the modes of each K.

``OUT/RUN.K.Q`` is the ``.Q`` of run RUN at K with column ``j`` holding cluster ``j`` at every K
(ADMIXTURE's format: space-separated, 6 decimals). ``OUT/permutations.tsv`` says, for each file,
which reference column each original column went to; ``OUT/modes.tsv`` groups the runs of each K
whose solutions agree. The maths (Clumppling's approach) is :mod:`neuradmix.stats.alignment`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path, PurePath

import numpy as np
import pandas as pd

from .. import layout
from ..data import atomic_outputs, read_fam_ids, read_matrix, read_q, write_q
from ..errors import InputError
from ..stats.alignment import DEFAULT_MODE_THRESHOLD, align_runs, find_modes, permute

PERMUTATIONS = "permutations.tsv"
MODES = "modes.tsv"
_RUN = re.compile(r"[A-Za-z][A-Za-z0-9_-]*")


def aligned_file(run: str, k: int) -> str:
    """Name of the aligned ``.Q`` of ``run`` at ``k`` inside the output folder."""
    return PurePath(layout.aligned_q(".", run, k)).as_posix()


def _join(values) -> str:
    return ",".join(str(int(v)) for v in values)


def align_q_files(
    q_files: Sequence[tuple[str, str | os.PathLike]],
    out_dir: str | os.PathLike,
    reference: str | None = None,
    fam: str | os.PathLike | None = None,
    threshold: float = DEFAULT_MODE_THRESHOLD,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Align ``q_files`` (``(run, path)`` pairs, one ``.Q`` per run and K, all of the same
    samples: those of ``fam`` when given) and write the aligned files, ``permutations.tsv`` and
    ``modes.tsv`` to ``out_dir``, all or nothing. ``reference`` (default: the first run) is the
    run whose clusters name the labels (:func:`~neuradmix.stats.alignment.align_runs`). Returns
    the two tables."""
    if not q_files:
        raise InputError("no .Q files given; pass --q RUN=FILE.Q at least once.")
    if not 0.0 <= threshold <= 1.0:
        raise InputError(f"--mode-threshold {threshold}: must lie between 0 and 1.")
    n_samples = len(read_fam_ids(fam)) if fam is not None else None
    qs, raw, sources = {}, {}, {}
    for run, path in q_files:
        if not _RUN.fullmatch(run):
            raise InputError(
                f"--q {run}=...: run names start with a letter and hold only letters, digits, "
                "'_' and '-' (they name the aligned files and pong's run IDs)."
            )
        q = read_q(path, n_samples)
        n_samples = q.shape[0]
        key = (run, q.shape[1])
        if key in qs:
            raise InputError(
                f"--q {run}={path}: run {run} already has a K={key[1]} file ({sources[key]}); "
                "give each run one .Q per K."
            )
        qs[key], raw[key], sources[key] = q, read_matrix(path, ".Q"), str(path)
    runs = list(dict.fromkeys(run for run, _ in qs))
    if reference is not None and reference not in runs:
        raise InputError(f"--reference {reference}: not one of the runs ({', '.join(runs)}).")
    alignments = align_runs(qs, reference)

    mode_of, mode_rows = {}, []
    for k in sorted({k for _, k in qs}):
        keys = [key for key in qs if key[1] == k]
        modes, similarity = find_modes([qs[key] for key in keys], threshold)
        mode_of.update(zip(keys, modes.tolist(), strict=True))
        for mode in sorted(set(modes.tolist())):
            members = np.flatnonzero(modes == mode)
            pairs = similarity[np.ix_(members, members)][np.triu_indices(members.size, 1)]
            mode_rows.append(
                {
                    "k": k,
                    "mode": mode,
                    "n_runs": members.size,
                    "runs": ",".join(keys[i][0] for i in members),
                    "mean_similarity": round(float(pairs.mean()), 6) if pairs.size else np.nan,
                    "min_similarity": round(float(pairs.min()), 6) if pairs.size else np.nan,
                }
            )
    table_rows = []
    for key in sorted(qs, key=lambda key: key[1]):  # by K, runs in the order given
        run, k = key
        alignment = alignments[key]
        aligned_to = alignment.aligned_to
        table_rows.append(
            {
                "run": run,
                "k": k,
                "file": aligned_file(run, k),
                "source": sources[key],
                "permutation": _join(alignment.permutation),
                "aligned_to": "" if aligned_to is None else aligned_file(*aligned_to),
                "similarity_to_reference": round(alignment.similarity, 6),
                "mode": mode_of[key],
            }
        )
    permutations = pd.DataFrame(table_rows)
    modes = pd.DataFrame(mode_rows)

    out_dir = Path(out_dir)
    with atomic_outputs() as staged:
        for key, alignment in alignments.items():
            write_q(staged(out_dir / aligned_file(*key)), permute(raw[key], alignment.permutation))
        permutations.to_csv(staged(out_dir / PERMUTATIONS), sep="\t", index=False)
        modes.to_csv(staged(out_dir / MODES), sep="\t", index=False, na_rep="NA")
    return permutations, modes
