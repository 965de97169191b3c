"""Memory (MB) and run time (minutes) a workflow job asks its scheduler for, from its input.

The Snakefile imports this module while it parses the rules, so it is pure Python and imports
nothing heavy; Snakemake calls the rules' resource functions once a job's input exists (again
before the job starts), with ``attempt`` counting its tries.

What a job of the package holds: the interpreter with numpy and numba (and torch for the
network); the genotypes 2-bit packed as the ``.bed`` stores them (N x M / 4 bytes); per sample,
the genotype PCA's float64 blocks of 2,048 SNPs; per SNP, the ``.bim`` table and the allele
frequencies; and, per K held, Q (N x K) and F (M x K) with the optimiser's copies and the
network's hidden layer of 4 K^2 units, which grow as K^2. The constants were fitted to the peak
RSS and wall time (``/usr/bin/time -v``, 2 threads) of ``neuradmix train`` and ``neuradmix em``
on simulated cohorts (:data:`MEASURED`) and rounded up. A request is the estimate times
:data:`HEADROOM`, doubled on every retry, so that a job killed for memory or time comes back
with twice as much.

plink2 streams its input, so a plink2 job asks for twice its input's size, between 1 and 8 GB.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass

MB = 2**20
BED_HEADER_BYTES = 3  # the .bed magic number and mode byte

# Peak RSS of the interpreter with the package, numpy and numba; with torch too (measured 205
# and 401 MB on 100 x 2,000).
FLOOR_MB = {"numpy": 250, "torch": 500}
BYTES_PER_SAMPLE = 24_000  # measured 19,100 (em) and 20,600 (train): PCA blocks, N x 2,048 x 8
BYTES_PER_SNP = 1_000  # measured 420 (train) and 840 (em): the .bim table, frequencies
FLOAT64_COPIES_PER_K2 = 4  # measured 2.6: train at K=8 less K=4 on 1,000 x 40,000
HEADROOM = 1.5

# Seconds per genotype call and K^2 (the iterations to convergence grow with K too), measured
# on 2 threads: the network 1.7e-8 (K=4) and 3.4e-8 (K=8); EM 4.0e-8 and 5.5e-8 (K=4), and more
# than 1.5e-7 at K=8 on a cohort of 4 populations (stopped unconverged after 380 s).
SECONDS_PER_CALL_AND_K2 = {"neural": 4.0e-8, "classic": 1.5e-7}
RUNTIME_MARGIN = 3.0
RUNTIME_FLOOR_MIN = 10

PLINK2_MEMORY_MB = (1000, 8000)  # what a plink2 job asks for: 2 x its input, within these
PLINK2_MB_PER_MINUTE = 50  # a generous stream rate for the run time of a plink2 job (not measured)

# The measurements (2 threads): command, N, M, K, peak RSS (MB), wall time (s) with start-up.
MEASURED: tuple[tuple[str, int, int, int, float, float], ...] = (
    ("train", 100, 2_000, 4, 403.8, 5.8),
    ("train", 500, 20_000, 4, 419.6, 10.2),
    ("train", 1_000, 40_000, 4, 439.8, 15.5),
    ("train", 2_000, 20_000, 4, 451.4, 14.1),
    ("train", 1_000, 40_000, 8, 479.3, 91.5),
    ("em", 100, 2_000, 4, 208.1, 3.4),
    ("em", 500, 20_000, 4, 230.4, 8.8),
    ("em", 1_000, 40_000, 4, 257.0, 12.3),
    ("em", 2_000, 20_000, 4, 259.1, 16.2),
    ("em", 1_000, 40_000, 8, 284.7, 380.0),  # stopped at 380 s, unconverged
)
# Also measured on 1,000 x 40,000: train with heads K=2..5, 461 MB and 23 s; infer at K=4, 403 MB
# and 5 s.


@dataclass(frozen=True)
class Fileset:
    """Size of a PLINK fileset as a job reads it."""

    n_samples: int
    n_snps: int

    @property
    def calls(self) -> int:
        return self.n_samples * self.n_snps

    @property
    def packed_bytes(self) -> int:
        return (self.n_samples + 3) // 4 * self.n_snps


def count_lines(path: str | os.PathLike) -> int:
    """Lines of a text file (a last line without its newline counts), read in 1 MB chunks."""
    lines, last = 0, b"\n"
    with open(path, "rb") as handle:
        while chunk := handle.read(MB):
            lines += chunk.count(b"\n")
            last = chunk[-1:]
    return lines + (last != b"\n")


def fileset_size(bed: str | os.PathLike, fam: str | os.PathLike) -> Fileset:
    """N from the ``.fam``'s lines, M from the ``.bed``'s size (one row of ceil(N / 4) bytes per
    SNP). A missing file raises FileNotFoundError naming it, which Snakemake takes for "not
    made yet" and evaluates again once it is."""
    bed_bytes = os.path.getsize(bed)
    n_samples = count_lines(fam)
    row = (n_samples + 3) // 4
    return Fileset(n_samples, (bed_bytes - BED_HEADER_BYTES) // row if row else 0)


def _retry_factor(attempt: int) -> int:
    return 2 ** max(0, int(attempt) - 1)


@dataclass(frozen=True)
class Job:
    """A job of the package: the filesets it reads, the K values whose Q and F it holds at once,
    whether it loads torch (the network), the N x M uint8 matrices it decodes
    (``unpacked_copies``: cross-validation, the evaluation, external tools holding one byte per
    call), anything else it loads (``extra_bytes``, a model file) and how many fits of every K
    its run time is worth (``passes``)."""

    filesets: tuple[Fileset, ...]
    ks: tuple[int, ...]
    torch: bool = False
    unpacked_copies: int = 0
    extra_bytes: int = 0
    passes: float = 1.0

    def memory_mb(self, attempt: int = 1) -> int:
        """The estimate times :data:`HEADROOM`, doubled on every retry."""
        squares = sum(k * k for k in self.ks)
        held = self.extra_bytes + sum(
            f.packed_bytes
            + BYTES_PER_SAMPLE * f.n_samples
            + BYTES_PER_SNP * f.n_snps
            + self.unpacked_copies * f.calls
            + 8 * FLOAT64_COPIES_PER_K2 * (f.n_samples + f.n_snps) * squares
            for f in self.filesets
        )
        floor = FLOOR_MB["torch" if self.torch else "numpy"]
        return math.ceil(HEADROOM * (floor + held / MB)) * _retry_factor(attempt)

    def runtime_min(self, attempt: int = 1) -> int:
        """Measured seconds per genotype call and K^2 times :data:`RUNTIME_MARGIN`, at least
        :data:`RUNTIME_FLOOR_MIN`, doubled on every retry."""
        rate = SECONDS_PER_CALL_AND_K2["neural" if self.torch else "classic"]
        squares = sum(k * k for k in self.ks)
        seconds = rate * sum(f.calls for f in self.filesets) * squares * self.passes
        minutes = math.ceil(RUNTIME_MARGIN * seconds / 60)
        return max(RUNTIME_FLOOR_MIN, minutes) * _retry_factor(attempt)


def plink2_memory_mb(input_bytes: int, attempt: int = 1) -> int:
    low, high = PLINK2_MEMORY_MB
    return min(max(low, math.ceil(2 * input_bytes / MB)), high) * _retry_factor(attempt)


def plink2_runtime_min(input_bytes: int, attempt: int = 1) -> int:
    minutes = math.ceil(input_bytes / MB / PLINK2_MB_PER_MINUTE)
    return max(RUNTIME_FLOOR_MIN, minutes) * _retry_factor(attempt)


def requested(override: int | None, estimate: Callable[..., int]) -> int | Callable[..., int]:
    """A value the config sets, used as it is; else the estimate (a function Snakemake calls
    with the job's wildcards, input and attempt)."""
    return estimate if override is None else override
