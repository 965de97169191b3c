"""Timing sidecars: how long a fitting or inference command took, written beside its outputs.

Every ``train``, ``infer``, ``em``, ``project``, ``polish`` and ``baseline`` run writes one, so the
metrics table compares the fits themselves rather than process start-up (Python, numba and torch
imports take seconds, which would swamp the fits of small cohorts):

* ``fit_seconds``: the computation only, from after the inputs are read to before the outputs are
  written (for an external tool such as ``admixture``: that tool's wall time, its own reading
  included, since it cannot be split);
* ``process_seconds``: the whole command as a shell sees it, from interpreter start-up to the last
  output written.

A per-K command writes ``NAME.K.timing.tsv`` beside ``NAME.K.Q``; a command that covers several K
at once (a multi-head model) writes ``NAME.timing.tsv`` with all its K in ``ks``.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import pandas as pd

from ..errors import InputError


@dataclass
class Timing:
    command: str  # train, infer, em, project, polish, baseline
    tool: str  # neural, em, admixture, fastmixture, ...
    ks: str  # the K values covered, comma-separated ("3" or "2,3,4,5")
    fit_seconds: float
    process_seconds: float
    threads: int
    device: str  # e.g. "cpu (Intel Xeon ...)" or "cuda:0 (NVIDIA H100 ...)"

    @property
    def k_values(self) -> list[int]:
        return [int(k) for k in str(self.ks).split(",") if k]


TIMING_COLUMNS = [f.name for f in fields(Timing)]


def write_timing(path: str | os.PathLike, timing: Timing) -> None:
    """One header line and one row (write it through ``atomic_outputs``' ``staged``)."""
    pd.DataFrame([asdict(timing)], columns=TIMING_COLUMNS).to_csv(
        path, sep="\t", index=False, float_format="%.6f"
    )


def read_timing(path: str | os.PathLike) -> Timing:
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: timing file not found; rerun the command that fits this model.")
    try:
        table = pd.read_csv(path, sep="\t", dtype={"ks": str})
    except (pd.errors.EmptyDataError, pd.errors.ParserError):
        table = pd.DataFrame()
    missing = [c for c in TIMING_COLUMNS if c not in table.columns]
    if missing or len(table) != 1:
        raise InputError(
            f"{path}: not a timing file (expected the columns {' '.join(TIMING_COLUMNS)} and one "
            "row); rerun the command that fits this model."
        )
    row = table.iloc[0]
    return Timing(
        command=str(row["command"]),
        tool=str(row["tool"]),
        ks=str(row["ks"]),
        fit_seconds=float(row["fit_seconds"]),
        process_seconds=float(row["process_seconds"]),
        threads=int(row["threads"]),
        device=str(row["device"]),
    )
