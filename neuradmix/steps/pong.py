"""Input files for pong (Behr et al. 2016), which aligns and draws many ``.Q`` files at once.

``pong -m NAME.filemap -i NAME.ind2pop`` reads:

* the *filemap*: one line per ``.Q`` file, three tab-separated columns: a run ID (a letter, then
  letters, digits, ``_`` or ``-``), the K of that file, and its path relative to the filemap's own
  directory. pong needs a ``.Q`` for every K between the smallest and the largest listed, and all
  of them must describe the same individuals;
* the *ind2pop* file: one population label per line, one line per individual in ``.Q`` row order
  (``.fam`` order).

Both are written here for one partition of a cohort, so the workflow's runs open in pong as they
are, without copying or renaming the ``.Q`` files.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from ..data import UNKNOWN, atomic_outputs, read_fam_ids, read_labels, read_matrix
from ..errors import InputError

_RUN_ID = re.compile(r"[A-Za-z][A-Za-z0-9_-]*")


def pong_run_id(method: str, model: str, k: int) -> str:
    """``neural_single_K3``: a pong run ID (pong needs a leading letter, no dots)."""
    return f"{method}_{model}_K{k}"


def missing_ks(ks) -> list[int]:
    """K values pong would need between the smallest and largest given (it wants every K)."""
    ks = sorted(set(ks))
    return sorted(set(range(ks[0], ks[-1] + 1)) - set(ks)) if ks else []


def write_pong_files(
    q_files: dict[str, str | os.PathLike],
    fam: str | os.PathLike,
    out_dir: str | os.PathLike,
    name: str,
    labels: str | os.PathLike | None = None,
) -> tuple[Path, Path | None, list[int]]:
    """Write ``OUT/NAME.filemap`` (and ``OUT/NAME.ind2pop`` when ``labels`` are given).

    ``q_files`` maps a run ID to a ``.Q`` of the samples of ``fam``. Every ``.Q`` is checked
    (rows, values on the simplex) before anything is written. Returns the two paths and the K
    values pong would miss between the smallest and largest K (pong refuses such gaps).
    """
    if not q_files:
        raise InputError("no .Q files given; pass --q RUN_ID=FILE.Q at least once.")
    sample_ids = read_fam_ids(fam)
    out_dir = Path(out_dir).resolve()
    rows = []
    for run_id, path in q_files.items():
        if not _RUN_ID.fullmatch(run_id):
            raise InputError(
                f"--q {run_id}=...: pong run IDs start with a letter and hold only letters, "
                "digits, '_' and '-'."
            )
        path = Path(path)
        q = read_matrix(path, ".Q")
        if q.shape[0] != len(sample_ids):
            raise InputError(
                f"{path}: {q.shape[0]} rows, but {fam} has {len(sample_ids)} samples; pong needs "
                "every .Q of a filemap to describe the same individuals."
            )
        relative = os.path.relpath(path.resolve(), out_dir)
        if any(c in relative for c in "\t\n#"):
            raise InputError(f"{path}: pong cannot read a path holding a tab, newline or '#'.")
        rows.append((run_id, q.shape[1], relative))
    population_lines = None
    if labels is not None:
        values = read_labels(labels, sample_ids)
        population_lines = [UNKNOWN if value == "" else str(value) for value in values]
        bad = next((label for label in population_lines if "#" in label), None)
        if bad is not None:
            raise InputError(
                f"{labels}: label {bad!r} holds '#', which pong reads as a comment; rename it."
            )
    filemap = out_dir / f"{name}.filemap"
    ind2pop = out_dir / f"{name}.ind2pop" if population_lines is not None else None
    with atomic_outputs() as staged:
        staged(filemap).write_text("".join(f"{r}\t{k}\t{p}\n" for r, k, p in rows))
        if ind2pop is not None:
            staged(ind2pop).write_text("\n".join(population_lines) + "\n")
    return filemap, ind2pop, missing_ks([k for _, k, _ in rows])
