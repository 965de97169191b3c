"""Shared pieces of the in-process ablations (``saddles.py``, ``starts.py``): the seed list and
the cohorts named on the command line, each read once with the numba kernels loaded before any
timed fit."""

from __future__ import annotations

from collections.abc import Iterator

from neuradmix.classic import fit
from neuradmix.data import Genotypes, read_bed


def seeds_of(text: str) -> list[int]:
    """'1-8' or '1,2,3'."""
    if "-" in text:
        first, last = (int(x) for x in text.split("-"))
        return list(range(first, last + 1))
    return [int(x) for x in text.split(",")]


def cohort_fits(specs: list[str]) -> Iterator[tuple[str, Genotypes, int]]:
    """(name, genotypes, K) for each ``NAME=PREFIX:K[,K]``, the kernels compiled or loaded first."""
    for spec in specs:
        name, rest = spec.split("=", 1)
        prefix, ks = rest.rsplit(":", 1)
        genotypes = read_bed(f"{prefix}.bed")
        fit.fit(genotypes, 2, seed=1, max_iter=2)  # compile or load the kernels first
        for k in (int(x) for x in ks.split(",")):
            yield name, genotypes, k
