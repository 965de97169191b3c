"""The classic method's commands from files to files: ``em``, ``project``, ``polish``, ``cv`` and
``baseline``. The CLI parses arguments and calls one function here."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from .. import layout
from ..data import (
    atomic_outputs,
    known_populations,
    read_bed,
    read_labels,
    read_p,
    read_q,
    write_matrix,
    write_p,
    write_q,
)
from ..data.checks import check_fittable
from ..data.outputs import check_name, check_out_dir, expected_output_bytes
from ..data.resume import digest, kept_if_stopped
from ..data.timing import Timing, write_timing
from ..errors import InputError
from ..runtime import device_description, process_seconds, set_threads, threads_in_use
from .defaults import DEFAULT_ACCELERATION, DEFAULT_BOOTSTRAP_ITER


def _read(bed: str, threads: int | None, assigning: bool = False):
    """The fileset, refused if it cannot be fitted (see :mod:`neuradmix.data.checks`)."""
    set_threads(threads)
    genotypes = read_bed(bed)
    check_fittable(genotypes, assigning=assigning)
    return genotypes


def check_outputs(out: str, name: str) -> None:
    """``--out`` (a directory, created when missing) and ``--name`` (a plain stem), checked
    before any input is read."""
    check_out_dir(out)
    check_name(name)


def _write_fit(out: str, name: str, k: int, q, p=None, timing: dict | None = None, se=None) -> Path:
    """``OUT/NAME.K.Q`` (``.P``, ``.Q_se``) with the timing sidecar, all or nothing; ``timing``
    holds command, tool, fit_seconds and device. Returns the path of the .Q."""
    q_path = Path(layout.q_file(out, name, k))
    with atomic_outputs() as staged:
        write_q(staged(q_path), q)
        if p is not None:
            write_p(staged(layout.p_file(out, name, k)), p)
        if se is not None:
            write_matrix(staged(layout.q_se_file(out, name, k)), se)
        if timing is not None:
            record = Timing(
                ks=str(k),
                process_seconds=process_seconds(),
                threads=threads_in_use(),
                **timing,
            )
            write_timing(staged(layout.timing(out, name, k)), record)
    return q_path


def _device_name(device) -> str:
    return device_description("cpu" if device in (None, "", "auto") else device)


def fit_files(
    bed: str,
    out: str,
    name: str,
    ks_for: Callable[[int | None], list[int]],
    *,
    labels: str | None = None,
    init_q: str | None = None,
    init_p: str | None = None,
    threads: int | None = None,
    bootstrap: int = 0,
    bootstrap_block: float = 5.0,
    bootstrap_iter: int = DEFAULT_BOOTSTRAP_ITER,
    progress=None,
    checkpoint: str | None = None,
    resume: str | None = None,
    checkpoint_every: int = 10,
    checkpoint_minutes: float = 5.0,
    **options,
) -> int:
    """``neuradmix em``: fit every K by block relaxation and write ``OUT/NAME.K.Q/.P`` (and
    ``NAME.K.Q_se`` with ``bootstrap`` replicates); labelled samples make the fit supervised.
    Every input and option is checked before the first fit starts.

    ``checkpoint`` saves a resume checkpoint there every ``checkpoint_every`` iterations or
    ``checkpoint_minutes`` minutes and when the run is stopped, and continues from it when it
    exists; ``resume`` continues from that checkpoint, which must exist
    (:mod:`neuradmix.classic.resume`). A finished run deletes its checkpoint."""
    from . import fit

    check_outputs(out, name)
    genotypes = _read(bed, threads)
    label_values = read_labels(labels, genotypes.sample_ids) if labels else None
    # Supervised: K defaults to the number of populations in the label file.
    ks = ks_for(len(known_populations(label_values)) if label_values is not None else None)
    if (init_q or init_p) and len(ks) > 1:
        raise InputError("--init-q/--init-p fit one K; use --k instead of a K range.")
    check_out_dir(
        out, expected_bytes=expected_output_bytes(genotypes.n_samples, genotypes.n_snps, ks)
    )
    start_q = read_q(init_q, genotypes.n_samples) if init_q else None
    start_p = read_p(init_p, genotypes.n_snps) if init_p else None
    for k in ks:
        fit.check_k(genotypes, k)
        for given, what in ((start_q, init_q), (start_p, init_p)):
            if given is not None and given.shape[1] != k:
                raise InputError(f"{what}: {given.shape[1]} columns, but --k is {k}.")
    if bootstrap:
        from .bootstrap import snp_blocks

        if bootstrap < 2:
            raise InputError(f"--bootstrap {bootstrap}: at least 2 replicates are needed.")
        if int(snp_blocks(genotypes.variants, bootstrap_block).max()) < 1:
            raise InputError(
                f"{bed}: all SNPs fall in one bootstrap block of {bootstrap_block} cM; use a "
                "shorter --bootstrap-block."
            )
    log = progress or (lambda *args: None)
    # One acceleration for the fit, its checkpoint's identity and the bootstrap's replicates.
    options = {**options, "acceleration": options.get("acceleration") or DEFAULT_ACCELERATION}
    saved = None
    if checkpoint or resume:
        from .resume import FitCheckpoint

        settings = {
            "k": ks,
            **{key: options.get(key) for key in ("seed", "seeds", "init", "tol")},
            "acceleration": options["acceleration"],
            "labels": digest(*label_values) if label_values is not None else None,
            "init_q": digest(start_q) if start_q is not None else None,
            "init_p": digest(start_p) if start_p is not None else None,
            "bootstrap": [bootstrap, bootstrap_block, bootstrap_iter] if bootstrap else None,
        }
        saved = FitCheckpoint(
            checkpoint,
            resume,
            genotypes,
            settings,
            every=checkpoint_every,
            minutes=checkpoint_minutes,
        )
    with kept_if_stopped(saved):  # a stopped run keeps its last iteration
        _fit_each_k(
            genotypes,
            out,
            name,
            ks,
            label_values,
            start_q,
            start_p,
            saved,
            log,
            bootstrap,
            bootstrap_block,
            bootstrap_iter,
            options,
        )
    return 0


def _fit_each_k(
    genotypes,
    out,
    name,
    ks,
    label_values,
    start_q,
    start_p,
    saved,
    log,
    bootstrap,
    bootstrap_block,
    bootstrap_iter,
    options,
) -> None:
    """The fits of :func:`fit_files`, K after K, each written when done."""
    from . import fit

    for k in ks:
        if saved is not None and k in saved.done and Path(layout.q_file(out, name, k)).exists():
            print(f"K={k}: finished before {saved.source} was saved; its outputs are kept")
            continue
        resume_state = saved.resume_for(k) if saved is not None else None
        if resume_state is not None:
            print(
                f"K={k}: resuming at iteration {resume_state.iterations} (log-likelihood "
                f"{resume_state.ll:.6f}) from {saved.source}"
            )
        extra = {
            "progress": log,
            "resume": resume_state,
            "saver": saved.saver(k) if saved is not None else None,
        }
        started = time.perf_counter()
        if label_values is not None:
            result = fit.fit_supervised(
                genotypes, label_values, k=k, init_p=start_p, **extra, **options
            )
        else:
            result = fit.fit(genotypes, k, init_q=start_q, init_p=start_p, **extra, **options)
        for seed, ll in result.starts if len(result.starts) > 1 else ():
            print(f"K={k}: start seed {seed}: log-likelihood {ll:.6f} on the start's SNPs")
        fit_seconds = time.perf_counter() - started
        se = None
        if bootstrap:
            from .bootstrap import bootstrap_se

            fixed = None
            if label_values is not None:
                fixed = np.array([bool(x) for x in label_values], dtype=bool)
            boot = bootstrap_se(
                genotypes,
                result.q,
                result.p,
                replicates=bootstrap,
                block_cm=bootstrap_block,
                iterations=bootstrap_iter,
                seed=options.get("seed", 42),
                device=options.get("device"),
                fixed_rows=fixed,
                acceleration=options["acceleration"],
                progress=log,
            )
            se = boot.se
            print(
                f"K={k}: {boot.replicates} bootstrap replicates over {boot.blocks} blocks in "
                f"{boot.seconds:.2f} s"
            )
        timing = {
            "command": "em",
            "tool": "em",
            "fit_seconds": fit_seconds,
            "device": _device_name(options.get("device")),
        }
        _write_fit(out, name, k, result.q, result.p, timing, se)
        print(
            f"K={k}: {result.stop_rule} after {result.iterations} iterations "
            f"({result.passes} passes over the genotypes, {fit_seconds:.2f} s)"
            f"{_saddles_left(result)}"
        )
        print(f"Loglikelihood: {result.log_likelihood:.6f}\t({result.stop_rule})")
        if saved is not None:
            saved.finished(k)


def project_files(
    bed: str, p_path: str, out: str, name: str, tool: str, *, threads, seed, device, **options
) -> int:
    """Q of new samples with F fixed to a ``.P`` (ADMIXTURE ``-P``), written to OUT/NAME.K.Q;
    ``options`` (tolerance, iterations, acceleration, engine) reach our projection (block
    relaxation of Q)."""
    import os

    from . import tools

    check_outputs(out, name)
    genotypes = _read(bed, threads, assigning=True)
    p = read_p(p_path, genotypes.n_snps)
    started = time.perf_counter()
    result = tools.project_baseline(
        bed,
        p,
        tool,
        threads=threads or os.cpu_count() or 1,
        seed=seed,
        device=device,
        genotypes=genotypes,
        **options,
    )
    timing = {
        "command": "project",
        "tool": result.tool,
        "fit_seconds": result.wall_seconds
        if result.tool != "em"
        else time.perf_counter() - started,
        "device": _device_name(device),
    }
    q_path = _write_fit(out, name, p.shape[1], result.q, timing=timing)
    print(f"Projected {genotypes.n_samples} samples with {result.tool} -> {q_path}")
    print(f"Loglikelihood: {result.log_likelihood:.6f}")
    return 0


def polish_files(
    bed: str, q_path: str, p_path: str, out: str, name: str, *, threads, progress=None, **options
) -> int:
    """Continue a fit (e.g. the neural one) by block relaxation to the optimum; writes
    OUT/NAME.K.Q/.P."""
    from ..compute.engines import log_likelihood
    from . import fit

    check_outputs(out, name)
    genotypes = _read(bed, threads)
    q = read_q(q_path, genotypes.n_samples)
    p = read_p(p_path, genotypes.n_snps)
    if q.shape[1] != p.shape[1]:
        raise InputError(
            f"{q_path} has {q.shape[1]} columns but {p_path} has {p.shape[1]}; give the .Q and "
            ".P of the same fit."
        )
    before = log_likelihood(genotypes, q, p)
    started = time.perf_counter()
    result = fit.polish(genotypes, q, p, progress=progress, **options)
    timing = {
        "command": "polish",
        "tool": "em",
        "fit_seconds": time.perf_counter() - started,
        "device": _device_name(options.get("device")),
    }
    q_path = _write_fit(out, name, q.shape[1], result.q, result.p, timing)
    print(
        f"Polish: {result.iterations} iterations ({result.passes} passes) in "
        f"{result.seconds:.2f} s; log-likelihood {before:.6f} -> {result.log_likelihood:.6f}; "
        f"{result.stop_rule}{_saddles_left(result)}"
    )
    print(f"Wrote {q_path} and {Path(layout.p_file(out, name, q.shape[1]))}")
    print(f"Loglikelihood: {result.log_likelihood:.6f}\t({result.stop_rule})")
    return 0


def cv_files(
    bed: str,
    ks: list[int],
    fold_fit_for: Callable,
    *,
    folds: int,
    seed: int,
    threads: int | None,
    out: str | None = None,
    name: str = "cv",
    checkpoint: str | None = None,
    resume: str | None = None,
    settings: dict | None = None,
) -> int:
    """Cross-validation error per K, printed as ADMIXTURE does; with ``out``, also the table
    ``OUT/NAME.cv.tsv``.

    ``fold_fit_for(genotypes, k)`` returns the fold fit (:mod:`neuradmix.classic.cv`). With
    ``checkpoint``/``resume``, the folds done are saved after each one and a resumed run skips
    them (:class:`neuradmix.classic.resume.CvCheckpoint`; ``settings`` are the options that
    change the errors)."""
    from dataclasses import asdict

    from .cv import CVResult, cross_validate, format_cv, write_cv_table

    if out:
        check_outputs(out, name)
    genotypes = _read(bed, threads)
    results = []
    from .fit import check_k

    for k in ks:
        check_k(genotypes, k)
    saved = None
    if checkpoint or resume:
        from .resume import CvCheckpoint

        saved = CvCheckpoint(
            checkpoint,
            resume,
            genotypes,
            {"k": ks, "folds": folds, "seed": seed, **(settings or {})},
        )
        results = [CVResult(**r) for r in saved.results]
        for result in results:
            print(format_cv(result))
        if saved.source is not None:
            print(f"resuming from {saved.source}: {len(results)} K done", file=sys.stderr)
    for k in ks[len(results) :]:
        result = cross_validate(
            genotypes,
            k,
            fold_fit_for(genotypes, k),
            folds=folds,
            seed=seed,
            done=saved.folds_done(k) if saved is not None else None,
            on_fold=(lambda fold, t, c, k=k: saved.fold_done(k, fold, t, c)) if saved else None,
        )
        print(format_cv(result))
        sys.stdout.flush()
        results.append(result)
        if saved is not None:
            saved.k_done(asdict(result))
    if out:
        write_cv_table(layout.cv_file(out, name), results)
    if saved is not None:
        saved.complete()
    return 0


def baseline_files(
    bed: str,
    k: int,
    tool: str,
    out: str,
    name: str,
    *,
    threads,
    seed,
    device,
    checkpoint: str | None = None,
    resume: str | None = None,
    checkpoint_every: int = 10,
    checkpoint_minutes: float = 5.0,
):
    """Fit K with a baseline tool; writes OUT/NAME.K.Q/.P and OUT/NAME.K.baseline.tsv. With
    ``checkpoint``/``resume``, our block relaxation saves and resumes as ``em`` does
    (:mod:`neuradmix.classic.resume`); the external tools cannot, and start afresh."""
    import os

    from ..data.plink import read_fam, require_fileset
    from . import tools
    from .fit import check_k_for

    check_outputs(out, name)
    _, _, fam = require_fileset(bed)
    check_k_for(len(read_fam(fam)), k)
    set_threads(threads)
    n_threads = threads or os.cpu_count() or 1
    if (checkpoint or resume) and tools.resolve_tool(tool) == "em":
        result = _baseline_fit_resumable(
            bed, k, seed, device, checkpoint, resume, checkpoint_every, checkpoint_minutes
        )
    else:
        if checkpoint or resume:
            print(f"{tool}: an external tool cannot resume; --checkpoint/--resume are ignored")
        result = tools.run_baseline(bed, k, tool, threads=n_threads, seed=seed, device=device)
    shape = (result.q.shape[0], result.p.shape[0] if result.p is not None else 0)
    timing = Timing(
        command="baseline",
        tool=result.tool,
        ks=str(k),
        fit_seconds=result.wall_seconds,
        process_seconds=0.0,  # set when written
        threads=n_threads,
        device=_device_name(device if result.tool == "em" else "cpu"),
    )
    q_path = tools.write_baseline(out, name, result, shape, n_threads, seed, timing)
    print(f"{result.tool}: K={k} in {result.wall_seconds:.2f} s -> {q_path}")
    print(f"Loglikelihood: {result.log_likelihood:.6f}")
    return 0


def _baseline_fit_resumable(bed, k, seed, device, checkpoint, resume, every, minutes):
    """``baseline --tool em`` with a resume checkpoint."""
    from . import tools
    from .fit import check_k
    from .resume import FitCheckpoint

    genotypes = read_bed(bed)
    check_k(genotypes, k)
    saved = FitCheckpoint(
        checkpoint,
        resume,
        genotypes,
        {"k": [k], "seed": seed},
        command="baseline",
        every=every,
        minutes=minutes,
    )
    state = saved.resume_for(k)
    if state is not None:
        print(f"K={k}: resuming at iteration {state.iterations} from {saved.source}")
    with kept_if_stopped(saved):
        result = tools.run_block_relaxation(
            genotypes, k, seed=seed, device=device, saver=saved.saver(k), resume=state
        )
    return result


def _saddles_left(result) -> str:
    """The summary's note of the saddle points a fit stopped beside and left, if any."""
    if not result.saddles:
        return ""
    points = "point" if result.saddles == 1 else "points"
    return f"; left {result.saddles} saddle {points} it had stopped beside"
