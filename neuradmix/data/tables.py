"""Tab-separated result tables with a header line (metrics, loss logs, evaluations, timings)."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from ..errors import InputError


def read_result_table(
    path: str | os.PathLike, what: str, needed: list[str], writer: str
) -> pd.DataFrame:
    """Read ``path``; it must exist, have a header with the ``needed`` columns and a row.

    ``writer`` names what makes the file (e.g. "`neuradmix train`"), so the error says how to
    remake it.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: {what} not found; it is written by {writer}.")
    try:
        table = pd.read_csv(path, sep="\t", na_values=["NA"])
    except (pd.errors.EmptyDataError, pd.errors.ParserError):
        table = pd.DataFrame()
    missing = [c for c in needed if c not in table.columns]
    if table.empty or missing:
        raise InputError(
            f"{path}: expected a tab-separated {what} with a header and at least one row "
            f"(columns {' '.join(needed)}); rerun {writer}."
        )
    return table
