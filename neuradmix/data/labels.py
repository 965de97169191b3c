"""Population label files: ADMIXTURE's ``.pop`` or a two-column SAMPLE LABEL table.

:data:`UNKNOWN_LABELS` is the one list of spellings that mean "population unknown" for the whole
package and the workflow; such samples get the label ``""`` in memory and ``-`` on disk.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import InputError

UNKNOWN_LABELS = frozenset({"-", "", "NA", "nan", "?"})
UNKNOWN = "-"  # how an unknown label is written


def is_unknown(label) -> bool:
    return str(label) in UNKNOWN_LABELS


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
        present = set(sample_ids)
        known = sum(s in mapping for s in sample_ids)
        if known == 0:
            raise InputError(
                f"{path}: none of its sample IDs match the IIDs of the genotype data; the first "
                "column must hold the .fam IID."
            )
        # The first line may be a header (e.g. "sample population"), not a sample.
        absent = [name for name in list(mapping)[1:] if name not in present]
        if absent:
            shown = ", ".join(absent[:3]) + (
                f" and {len(absent) - 3} more" if len(absent) > 3 else ""
            )
            print(
                f"{path}: warning: {len(absent)} sample(s) named here are not in the genotype "
                f"data ({shown}); their labels are not used.",
                file=sys.stderr,
                flush=True,
            )
        labels = np.array([mapping.get(s, UNKNOWN) for s in sample_ids], dtype=object)
    return np.array(["" if is_unknown(x) else str(x) for x in labels], dtype=object)


def known_populations(labels) -> list[str]:
    """The distinct known labels, sorted (the component order of supervised fits)."""
    return sorted({str(x) for x in labels if not is_unknown(x)})


def write_labels(path: str | os.PathLike, sample_ids, labels) -> None:
    """Two tab-separated columns, sample and population (``-`` when unknown)."""
    pd.DataFrame(
        {
            "sample": list(sample_ids),
            "population": [UNKNOWN if is_unknown(x) else str(x) for x in labels],
        }
    ).to_csv(path, sep="\t", header=False, index=False)
