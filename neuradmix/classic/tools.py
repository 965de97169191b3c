"""Baselines: the external ADMIXTURE-style tools (the ``admixture`` binary, ``fastmixture2``,
``fastmixture``, ADAMIXTURE) and the package's own block relaxation (tool ``em``), behind one
interface.

Every runner returns a :class:`BaselineResult` in the package's own form (Q as N x K in ``.fam``
order, P as M x K in ``.bim`` order, frequencies of the column-5 allele, which is what admixture
and fastmixture count; ADAMIXTURE counts the other allele in cohorts where the column-5 allele is
the more frequent overall, and its ``.P`` is converted on the way in and out) together with the
wall time of the run. The external tools are run in a private temporary directory holding
symbolic links to the fileset, because ``admixture`` writes its outputs into the working
directory; their outputs are read back and validated, never trusted blindly.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import layout
from ..compute.engines import log_likelihood
from ..data import (
    Genotypes,
    atomic_outputs,
    read_bed,
    read_p,
    read_q,
    require_fileset,
    write_p,
    write_q,
)
from ..data.matrices import as_written
from ..data.timing import write_timing
from ..errors import InputError
from ..runtime import process_seconds
from . import fit as block_relaxation
from .defaults import BASELINE_TOOLS, PROJECTION_TOOLS

TOOLS = BASELINE_TOOLS
INSTALL_HINTS = {
    "admixture": "install ADMIXTURE (`conda install -c bioconda admixture`) and put it on PATH",
    "fastmixture2": "install fastmixture2 (`pip install fastmixture2`)",
    "fastmixture": "install fastmixture (`pip install fastmixture`)",
    "adamixture": "install ADAMIXTURE (`pip install adamixture`)",
    "adamixture-project": "install ADAMIXTURE (`pip install adamixture`)",
}
# Order in which `auto` looks for an external tool before falling back to our block relaxation.
AUTO_ORDER = ("admixture", "fastmixture2", "adamixture", "fastmixture")
_LOGLIK = {
    "admixture": re.compile(r"^Loglikelihood:\s*(-?[0-9.eE+-]+)", re.MULTILINE),
    "fastmixture": re.compile(r"Final log-likelihood:\s*(-?[0-9.eE+-]+)"),
    "fastmixture2": re.compile(r"Final log-likelihood:\s*(-?[0-9.eE+-]+)"),
    # Printed with one decimal.
    "adamixture": re.compile(r"Final log-likelihood:\s*(-?[0-9.eE+-]+)"),
}


@dataclass
class BaselineResult:
    tool: str
    k: int
    q: np.ndarray
    p: np.ndarray | None
    wall_seconds: float
    log_likelihood: float
    tool_log_likelihood: float | None
    command: list[str]


def find_executable(tool: str) -> str | None:
    """Path of ``tool`` on PATH, or beside the running Python (a virtualenv's ``bin``)."""
    found = shutil.which(tool)
    if found:
        return found
    beside = Path(sys.executable).parent / tool
    return str(beside) if beside.is_file() and os.access(beside, os.X_OK) else None


def resolve_tool(tool: str) -> str:
    """``auto``: the real ``admixture`` when installed, else ``fastmixture2``, else
    ``adamixture``, else ``fastmixture``, else the package's own block relaxation (``em``)."""
    if tool not in TOOLS:
        raise InputError(f"--tool {tool!r}: choose one of {', '.join(TOOLS)}.")
    if tool != "auto":
        return tool
    for candidate in AUTO_ORDER:
        if find_executable(candidate):
            return candidate
    return "em"


def _require(tool: str) -> str:
    path = find_executable(tool)
    if path is None:
        raise InputError(f"{tool} not found on PATH; {INSTALL_HINTS[tool]}, or use --tool em.")
    return path


def _link_fileset(bed: str | os.PathLike, workdir: Path, name: str) -> Path:
    for source in require_fileset(bed):
        (workdir / (name + source.suffix)).symlink_to(source.resolve())
    return workdir / name


def _run(command: list[str], workdir: Path, tool: str, source) -> tuple[str, float]:
    start = time.perf_counter()
    completed = subprocess.run(command, cwd=workdir, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - start
    output = completed.stdout + completed.stderr
    if completed.returncode != 0:
        tail = " | ".join(line for line in output.strip().splitlines()[-3:])
        raise InputError(
            f"{source}: {tool} failed (exit {completed.returncode}): {tail or 'no output'}; "
            "check the fileset (ADMIXTURE needs integer chromosome codes) and the options."
        )
    return output, seconds


def _parse_loglik(tool: str, output: str) -> float | None:
    matches = _LOGLIK[tool].findall(output)
    return float(matches[-1]) if matches else None


def _read_outputs(q_path: Path, p_path: Path | None, n: int, m: int, tool: str):
    for path in (q_path, p_path):
        if path is not None and not path.is_file():
            raise InputError(f"{tool} finished but did not write {path.name}; see its output.")
    q = read_q(q_path, n)
    p = read_p(p_path, m) if p_path is not None else None
    return q, p


def run_admixture(
    bed: str | os.PathLike,
    k: int,
    *,
    threads: int = 1,
    seed: int = 42,
    projection_p: np.ndarray | None = None,
    genotypes: Genotypes | None = None,
) -> BaselineResult:
    """Run the ``admixture`` binary (``-P`` projection when ``projection_p`` is given)."""
    executable = _require("admixture")
    genotypes = genotypes if genotypes is not None else read_bed(bed)
    n, m = genotypes.n_samples, genotypes.n_snps
    with tempfile.TemporaryDirectory(prefix="neuradmix-admixture-") as tmp:
        workdir = Path(tmp)
        name = "data"
        _link_fileset(bed, workdir, name)
        command = [executable, f"-j{max(1, threads)}", f"--seed={seed}"]
        if projection_p is not None:
            write_p(workdir / f"{name}.{k}.P.in", projection_p)
            command.append("-P")
        command += [f"{name}.bed", str(k)]
        output, seconds = _run(command, workdir, "admixture", bed)
        q, p = _read_outputs(
            workdir / f"{name}.{k}.Q",
            None if projection_p is not None else workdir / f"{name}.{k}.P",
            n,
            m,
            "admixture",
        )
    p = projection_p if projection_p is not None else p
    return _result(
        "admixture", k, q, p, seconds, _parse_loglik("admixture", output), command, genotypes
    )


def run_fastmixture(
    bed: str | os.PathLike,
    k: int,
    *,
    threads: int = 1,
    seed: int = 42,
    genotypes: Genotypes | None = None,
) -> BaselineResult:
    """Run ``fastmixture`` (its default settings) and read its ``.Q``/``.P``."""
    flags = ("--bfile", "--K", "--threads", "--seed", "--out")
    return _run_fastmixture_tool("fastmixture", flags, bed, k, threads, seed, genotypes)


def run_fastmixture2(
    bed: str | os.PathLike,
    k: int,
    *,
    threads: int = 1,
    seed: int = 42,
    genotypes: Genotypes | None = None,
) -> BaselineResult:
    """Run ``fastmixture2`` (its default settings) and read its ``.Q``/``.P``.

    fastmixture2 refuses monomorphic SNPs; filter them first (``plink2 --maf 1e-6``)."""
    flags = ("-b", "-k", "-t", "-s", "-o")
    return _run_fastmixture_tool("fastmixture2", flags, bed, k, threads, seed, genotypes)


def _run_fastmixture_tool(name, flags, bed, k, threads, seed, genotypes) -> BaselineResult:
    """fastmixture and fastmixture2 share their outputs (``OUT.K{k}.s{seed}.Q/.P/.log``) and
    differ in their flag names: ``flags`` are those of the fileset, K, threads, seed and out."""
    executable = _require(name)
    genotypes = genotypes if genotypes is not None else read_bed(bed)
    n, m = genotypes.n_samples, genotypes.n_snps
    with tempfile.TemporaryDirectory(prefix=f"neuradmix-{name}-") as tmp:
        workdir = Path(tmp)
        prefix = _link_fileset(bed, workdir, "data")
        values = (prefix, k, max(1, threads), seed, workdir / "run")
        command = [executable]
        for flag, value in zip(flags, values, strict=True):
            command += [flag, str(value)]
        output, seconds = _run(command, workdir, name, bed)
        stem = f"run.K{k}.s{seed}"
        log = workdir / f"{stem}.log"
        text = output + (log.read_text() if log.is_file() else "")
        q, p = _read_outputs(workdir / f"{stem}.Q", workdir / f"{stem}.P", n, m, name)
    return _result(name, k, q, p, seconds, _parse_loglik(name, text), command, genotypes)


def run_adamixture(
    bed: str | os.PathLike,
    k: int,
    *,
    threads: int = 1,
    seed: int = 42,
    projection_p: np.ndarray | None = None,
    genotypes: Genotypes | None = None,
) -> BaselineResult:
    """Run ADAMIXTURE (``adamixture``, its default settings) and read its ``.Q``/``.P``; with
    ``projection_p``, ``adamixture-project`` (its ALS projection, not the likelihood's optimum)
    for Q given that P.

    Every chromosome is kept (``--chrom_mode all``: its default keeps autosomes 1-22 only, which
    would drop rows). Which allele its ``.P`` counts depends on the cohort
    (:func:`adamixture_counts_other_allele`); such a ``.P`` is read as 1 - P, and a
    projection's P is handed over as 1 - P."""
    tool = "adamixture" if projection_p is None else "adamixture-project"
    executable = _require(tool)
    genotypes = genotypes if genotypes is not None else read_bed(bed)
    flip = adamixture_counts_other_allele(genotypes)
    n, m = genotypes.n_samples, genotypes.n_snps
    with tempfile.TemporaryDirectory(prefix="neuradmix-adamixture-") as tmp:
        workdir = Path(tmp)
        prefix = _link_fileset(bed, workdir, "data")
        out = workdir / "out"
        command = [executable, "--data_path", f"{prefix}.bed", "--save_dir", str(out)]
        if projection_p is not None:
            write_p(workdir / "reference.P", 1.0 - projection_p if flip else projection_p)
            command += ["--p_path", str(workdir / "reference.P")]
        else:
            command += ["-k", str(k)]
        command += ["--name", "run", "-t", str(max(1, threads)), "-s", str(seed)]
        command += ["--chrom_mode", "all"]
        output, seconds = _run(command, workdir, tool, bed)
        q, p = _read_outputs(
            out / f"run.{k}.Q",
            None if projection_p is not None else out / f"run.{k}.P",
            n,
            m,
            tool,
        )
    if projection_p is not None:
        return _result("adamixture", k, q, projection_p, seconds, None, command, genotypes)
    loglik = _parse_loglik("adamixture", output)
    return _result("adamixture", k, q, 1.0 - p if flip else p, seconds, loglik, command, genotypes)


def adamixture_counts_other_allele(genotypes: Genotypes) -> bool:
    """ADAMIXTURE counts the allele of the ``.bim``'s column 5, as we do, unless that allele's
    frequency over all observed calls of the cohort is 0.5 or more: then it counts the other
    allele at every SNP (it flips its whole genotype matrix on reading)."""
    from ..stats.frequencies import allele_frequencies

    freq, observed = allele_frequencies(genotypes)
    return float((2.0 * freq * observed).sum()) >= float(observed.sum())


def run_block_relaxation(
    genotypes: Genotypes, k: int, *, seed: int = 42, device: str | None = "cpu", **options
) -> BaselineResult:
    """The baseline tool ``em``: our block relaxation (:func:`neuradmix.classic.fit.fit`)."""
    start = time.perf_counter()
    fit = block_relaxation.fit(genotypes, k, seed=seed, device=device, **options)
    seconds = time.perf_counter() - start
    return _result(
        "em", k, fit.q, fit.p, seconds, fit.log_likelihood, ["neuradmix", "em"], genotypes
    )


def _result(tool, k, q, p, seconds, tool_loglik, command, genotypes) -> BaselineResult:
    # Scored on the values as they are written (P bounded to [1e-5, 1 - 1e-5], 6 decimals), the
    # same way for every tool.
    q_written, p_written = as_written(q, p)
    loglik = log_likelihood(genotypes, q_written, p_written) if p is not None else np.nan
    return BaselineResult(tool, k, q, p, seconds, float(loglik), tool_loglik, command)


def run_baseline(
    bed: str | os.PathLike,
    k: int,
    tool: str = "auto",
    *,
    threads: int = 1,
    seed: int = 42,
    device: str | None = "cpu",
) -> BaselineResult:
    tool = resolve_tool(tool)
    genotypes = read_bed(bed)
    block_relaxation.check_k(genotypes, k)
    if tool == "admixture":
        return run_admixture(bed, k, threads=threads, seed=seed, genotypes=genotypes)
    if tool == "fastmixture2":
        return run_fastmixture2(bed, k, threads=threads, seed=seed, genotypes=genotypes)
    if tool == "fastmixture":
        return run_fastmixture(bed, k, threads=threads, seed=seed, genotypes=genotypes)
    if tool == "adamixture":
        return run_adamixture(bed, k, threads=threads, seed=seed, genotypes=genotypes)
    return run_block_relaxation(genotypes, k, seed=seed, device=device)


def project_baseline(
    bed: str | os.PathLike,
    p: np.ndarray,
    tool: str = "em",
    *,
    threads: int = 1,
    seed: int = 42,
    device: str | None = "cpu",
    genotypes: Genotypes | None = None,
    **options,
) -> BaselineResult:
    """Q of new samples for a fixed ``.P``: ``admixture -P`` (tool ``admixture``, or ``auto``
    when it is installed), ``adamixture-project`` (tool ``adamixture``) or our projection (block
    relaxation of Q), which takes ``options`` (``tol``, ``max_iter``, ``acceleration``,
    ``engine``) of :func:`neuradmix.classic.fit.fit`."""
    if tool not in PROJECTION_TOOLS:
        choices = ", ".join(PROJECTION_TOOLS)
        raise InputError(f"--tool {tool!r}: projection runs with {choices}.")
    if tool == "auto":
        tool = "admixture" if find_executable("admixture") else "em"
    genotypes = genotypes if genotypes is not None else read_bed(bed)
    k = p.shape[1]
    if tool == "admixture":
        return run_admixture(
            bed, k, threads=threads, seed=seed, projection_p=p, genotypes=genotypes
        )
    if tool == "adamixture":
        return run_adamixture(
            bed, k, threads=threads, seed=seed, projection_p=p, genotypes=genotypes
        )
    start = time.perf_counter()
    fit = block_relaxation.project(genotypes, p, seed=seed, device=device, **options)
    return _result(
        "em",
        k,
        fit.q,
        p,
        time.perf_counter() - start,
        fit.log_likelihood,
        ["neuradmix", "project"],
        genotypes,
    )


SUMMARY_COLUMNS = (
    "tool",
    "k",
    "n_samples",
    "n_snps",
    "threads",
    "seed",
    "wall_seconds",
    "log_likelihood",
    "tool_log_likelihood",
)


def summary_row(result: BaselineResult, genotypes_shape, threads: int, seed: int) -> str:
    def fmt(value):
        if value is None or (isinstance(value, float) and not np.isfinite(value)):
            return "NA"
        return f"{value:.6f}" if isinstance(value, float) else str(value)

    values = (
        result.tool,
        result.k,
        genotypes_shape[0],
        genotypes_shape[1],
        threads,
        seed,
        float(result.wall_seconds),
        float(result.log_likelihood),
        result.tool_log_likelihood,
    )
    return "\t".join(fmt(v) for v in values)


def write_baseline(
    out_dir, name: str, result: BaselineResult, shape, threads: int, seed: int, timing=None
):
    """``DIR/NAME.K.Q``, ``DIR/NAME.K.P``, ``DIR/NAME.K.baseline.tsv`` (one header, one row) and,
    with ``timing``, ``DIR/NAME.K.timing.tsv``; all or nothing. Returns the path of the .Q."""
    k = result.k
    q_path = Path(layout.q_file(out_dir, name, k))
    with atomic_outputs() as staged:
        if timing is not None:
            timing.process_seconds = process_seconds()
            write_timing(staged(layout.timing(out_dir, name, k)), timing)
        write_q(staged(q_path), result.q)
        if result.p is not None:
            write_p(staged(layout.p_file(out_dir, name, k)), result.p)
        summary = staged(layout.baseline_summary(out_dir, name, k))
        summary.write_text(
            "\t".join(SUMMARY_COLUMNS) + "\n" + summary_row(result, shape, threads, seed) + "\n"
        )
    return q_path
