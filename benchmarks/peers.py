"""Shared pieces of the side-by-side benchmarks: run a command as its own process and measure it
the way ``/usr/bin/time -v`` does, find the peer tools, and score any tool's ``.Q``/``.P`` with
our log-likelihood kernel on the values its files hold.

Every time here is a whole process (interpreter start-up, reading the genotypes, fitting and
writing), measured from the parent: wall seconds from ``time.perf_counter`` around the child,
peak resident memory from the child's ``rusage`` (``ru_maxrss``, as ``/usr/bin/time`` reports
"Maximum resident set size").
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from neuradmix.compute.engines import log_likelihood
from neuradmix.data import read_bed, read_p, read_q
from neuradmix.data.matrices import as_written

HERE = Path(__file__).resolve().parent


@dataclass
class Run:
    command: list[str]
    wall_seconds: float
    peak_rss_mib: float
    cpu_seconds: float
    returncode: int
    stdout: str
    stderr: str


# Runs one command and reports its wall time and os.wait4 resource usage as JSON. It is its own
# small process because Linux keeps a process's peak-RSS mark across fork and exec: a command
# started straight from a benchmark that holds a cohort in memory would report that size.
_LAUNCHER = """
import json, os, subprocess, sys, time
command = json.loads(sys.argv[1])
out, err = open(sys.argv[2], "w"), open(sys.argv[3], "w")
started = time.perf_counter()
child = subprocess.Popen(command, stdout=out, stderr=err)
_, status, usage = os.wait4(child.pid, 0)
print(json.dumps([time.perf_counter() - started, usage.ru_maxrss / 1024.0,
                  usage.ru_utime + usage.ru_stime, os.waitstatus_to_exitcode(status)]))
"""


def measure(command: list[str], env: dict | None = None) -> Run:
    """Run ``command`` to the end: wall time, peak RSS and CPU time of that process alone."""
    with tempfile.TemporaryDirectory() as tmp:
        out, err = Path(tmp) / "out", Path(tmp) / "err"
        launched = subprocess.run(
            [sys.executable, "-c", _LAUNCHER, json.dumps(command), str(out), str(err)],
            capture_output=True,
            text=True,
            env={**os.environ, **(env or {})},
            check=True,
        )
        wall, rss, cpu, code = json.loads(launched.stdout)
        run = Run(command, wall, rss, cpu, code, out.read_text(), err.read_text())
    if run.returncode != 0:
        raise RuntimeError(
            f"{' '.join(command)} exited with {run.returncode}:\n"
            f"{run.stderr[-3000:] or run.stdout[-3000:]}"
        )
    return run


def tool(name: str) -> str:
    """A console script: beside this interpreter (the project's venv) first, then on PATH."""
    beside = Path(sys.executable).with_name(name)
    if beside.is_file():
        return str(beside)
    found = shutil.which(name)
    if not found:
        raise SystemExit(f"{name} not found; install it (`pip install {name}`) into the venv.")
    return found


def neuradmix(*args: str) -> list[str]:
    return [tool("neuradmix"), *map(str, args)]


def fastmixture2(prefix, k: int, threads: int, seed: int, out) -> list[str]:
    """fastmixture2 2.0 as its README runs it (``-b PREFIX -k K -t T -s SEED -o OUT``)."""
    return [tool("fastmixture2"), "-b", str(prefix), "-k", str(k), "-t", str(threads), "-s",
            str(seed), "-o", str(out)]  # fmt: skip


def fastmixture2_outputs(out, k: int, seed: int) -> tuple[Path, Path]:
    stem = Path(f"{out}.K{k}.s{seed}")
    return stem.with_name(stem.name + ".Q"), stem.with_name(stem.name + ".P")


def polymorphic(genotypes) -> np.ndarray:
    """Indices of the SNPs with more than one observed genotype value (fastmixture2 drops the
    others before fitting, so both tools are scored on these)."""
    calls = genotypes.calls
    observed = calls < 3
    high = np.where(observed, calls, 0).max(axis=0)
    low = np.where(observed, calls, 2).min(axis=0)
    return np.flatnonzero(high > low)


def polymorphic_fileset(prefix, work: Path):
    """The cohort, its polymorphic SNPs, the genotypes of those, and a fileset of them for
    fastmixture2 (which refuses monomorphic SNPs; the cohort's own fileset when it has none)."""
    from neuradmix.data import write_bed

    genotypes = load(prefix)
    keep = polymorphic(genotypes)
    kept = genotypes.select_snps(keep)
    if len(keep) == genotypes.n_snps:
        return genotypes, keep, kept, Path(prefix)
    fileset = Path(work) / f"{Path(prefix).name}.polymorphic"
    write_bed(fileset, kept)
    return genotypes, keep, kept, fileset


def score(genotypes, q_path, p_path) -> float:
    """Log-likelihood of a tool's written ``.Q``/``.P`` on ``genotypes`` (P bounded and both
    rounded as written, Q rows renormalised): one kernel for every tool."""
    q = read_q(q_path, genotypes.n_samples)
    p = read_p(p_path, genotypes.n_snps)
    q, p = as_written(q, p)
    return float(log_likelihood(genotypes, q, p))


def load(prefix):
    return read_bed(f"{prefix}.bed")


def median(values) -> float:
    return float(statistics.median(values))


def table(header: list[str], rows: list[list]) -> str:
    """A Markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(x) for x in row) + " |" for row in rows]
    return "\n".join(lines)


def machine() -> str:
    """One line on the hardware the numbers come from."""
    from neuradmix.runtime import device_description

    return (
        f"{device_description('cpu')}, {os.cpu_count()} cores visible; "
        f"Python {sys.version.split()[0]}"
    )
