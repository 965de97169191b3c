"""The neural method's commands from files to files: ``train`` (optionally polished by the
classic block relaxation), ``infer``, ``recover-p``, and the fold fit of neural cross-validation.

The CLI parses arguments and calls one function here; every function reads its inputs, checks
them, computes, and writes its outputs all or nothing.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from .. import layout
from ..data import atomic_outputs, read_bed, read_labels, read_p, read_q, write_p, write_q
from ..data.checks import check_fittable
from ..data.outputs import check_name, check_out_dir, expected_output_bytes
from ..data.resume import kept_if_stopped
from ..data.timing import Timing, write_timing
from ..errors import InputError
from ..runtime import (
    ProgressLog,
    device_description,
    process_seconds,
    set_threads,
    threads_in_use,
)
from .config import TrainConfig


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@dataclass
class TrainRequest:
    """A ``neuradmix train`` invocation, already parsed."""

    bed: str
    out: str
    name: str
    config: TrainConfig
    labels: str | None = None
    init_p: str | None = None
    polish: bool = False
    progress: bool = True
    checkpoint: str | None = None  # a resume checkpoint (neuradmix.neural.resume)
    resume: str | None = None
    checkpoint_every: int = 10
    checkpoint_minutes: float = 5.0


def default_k(labels, init_p) -> int | None:
    """K a run takes without --k: the number of labelled populations, or the columns of --init-p."""
    if labels is not None:
        return len({x for x in labels if x})
    return init_p.shape[1] if init_p is not None else None


def train_files(request: TrainRequest, ks_for) -> int:
    """Read the fileset, train, optionally polish, write ``OUT/NAME.K.Q/.P``, the model and the
    loss table. ``ks_for(default)`` turns the K options into the list of K (it needs the default
    taken from the labels or the ``.P``)."""
    from ..classic.fit import check_k_for
    from ..data.plink import read_fam, require_fileset
    from .train import check_inputs, train

    # Arguments first: nothing is read or fitted before they pass.
    check_out_dir(request.out)
    check_name(request.name)
    _, _, fam = require_fileset(request.bed)
    n_samples = len(read_fam(fam))
    for k in ks_for(None) if not (request.labels or request.init_p) else []:
        check_k_for(n_samples, k)
    set_threads(request.config.threads)
    genotypes = read_bed(request.bed)
    check_fittable(genotypes)
    labels = read_labels(request.labels, genotypes.sample_ids) if request.labels else None
    init_p = read_p(request.init_p, genotypes.n_snps) if request.init_p else None
    ks = ks_for(default_k(labels, init_p))
    if init_p is not None and ks != [init_p.shape[1]]:
        raise InputError(f"{request.init_p}: has {init_p.shape[1]} columns but --k is {ks[0]}.")
    config = replace(request.config, ks=ks)
    check_inputs(genotypes, config, labels, init_p)
    check_out_dir(
        request.out,
        expected_bytes=expected_output_bytes(genotypes.n_samples, genotypes.n_snps, ks),
    )
    saved = None
    if request.checkpoint or request.resume:
        from .resume import TrainCheckpoint, train_settings

        saved = TrainCheckpoint(
            request.checkpoint,
            request.resume,
            genotypes,
            {**train_settings(config, labels, init_p), "polish": request.polish},
            every=request.checkpoint_every,
            minutes=request.checkpoint_minutes,
        )
    mode = "supervised" if labels is not None else "pretrained" if init_p is not None else None
    _log(
        f"neuradmix train: {genotypes.n_samples} samples x {genotypes.n_snps} SNPs, "
        f"K={','.join(map(str, ks))}, {mode or 'unsupervised'}"
    )
    if saved is not None and saved.state is not None:
        _log(
            f"resuming at epoch {saved.state.epochs} ({saved.state.stage}, epoch "
            f"{saved.state.stage_epoch} of the stage) from {saved.source}"
        )
    started = time.perf_counter()
    progress = ProgressLog() if request.progress else None
    with kept_if_stopped(saved):  # a stopped run keeps its last epoch
        result = train(
            genotypes,
            config,
            labels=labels,
            init_p=init_p,
            progress=progress,
            saver=saved.saver if saved is not None else None,
            resume=saved.state if saved is not None else None,
        )
        if progress is not None:
            progress.done()
        written = _finish(request, genotypes, config, ks, result, progress, started)
    return written


def _finish(request: TrainRequest, genotypes, config, ks, result, progress, started) -> int:
    """Polish when asked and write the outputs of :func:`train_files`."""
    from .checkpoint import save_model

    status = "converged" if result.converged else "stopped at --epochs"
    _log(f"trained in {result.seconds:.1f} s: {status} after {result.epochs_run} epochs")
    q, p = dict(result.q), dict(result.p)
    lls = dict(result.log_likelihood)
    for k in ks:
        _log(f"K={k}: the network's forward pass has log-likelihood {lls[k]:.3f}")
    if request.polish:
        q, p, lls = _polish(genotypes, q, p, lls, config.device, progress)
    fit_seconds = time.perf_counter() - started
    out = Path(request.out)
    name = request.name
    with atomic_outputs() as staged:
        write_timing(
            staged(layout.timing(out, name)),
            Timing(
                command="train",
                tool="neural+polish" if request.polish else "neural",
                ks=",".join(map(str, ks)),
                fit_seconds=fit_seconds,
                process_seconds=process_seconds(),
                threads=threads_in_use(),
                device=device_description(result.device),
            ),
        )
        for k in ks:
            write_q(staged(layout.q_file(out, name, k)), q[k])
            write_p(staged(layout.p_file(out, name, k)), p[k])
            if result.populations is not None:
                staged_columns = staged(layout.q_columns(layout.q_file(out, name, k)))
                staged_columns.write_text("\n".join(result.populations) + "\n")
        save_model(staged(layout.model_file(out, name)), result)
        result.history.to_csv(staged(layout.loss_file(out, name)), sep="\t", index=False)
    for k in ks:
        print(f"K={k}\tLoglikelihood: {lls[k]:.6f}")
    k_part = _k_part(ks)
    _log(
        f"wrote {layout.q_file(out, name, k_part)}/.P, {Path(layout.model_file(out, name)).name}, "
        f"{Path(layout.loss_file(out, name)).name}"
    )
    return 0


def _polish(genotypes, q: dict, p: dict, lls: dict, device, progress):
    """Continue each head's fit with the classic block relaxation to ADMIXTURE's optimum (the
    written .Q/.P are then the block relaxation's, started from the network's). The log line
    says "the classic method (block relaxation)", which the workflow's logs are read for."""
    from ..classic.fit import polish

    for k in list(q):
        polished = polish(genotypes, q[k], p[k], device=device, progress=progress)
        if progress is not None:
            progress.done()
        _log(
            f"polish K={k}: the classic method (block relaxation) continued from the network's "
            f"Q/P for {polished.iterations} iterations in {polished.seconds:.1f} s, log-likelihood "
            f"{lls[k]:.3f} -> {polished.log_likelihood:.3f}; the .Q/.P written are the polished "
            "ones"
        )
        q[k], p[k], lls[k] = polished.q, polished.p, polished.log_likelihood
    return q, p, lls


def export_snps(model_path: str, out: str) -> int:
    """Write the model's SNP IDs, one per line (for ``plink2 --extract``)."""
    from .checkpoint import load_model

    loaded = load_model(model_path)
    with atomic_outputs() as staged:
        staged(out).write_text("\n".join(loaded.snps["snp"].astype(str)) + "\n")
    return 0


def infer_files(
    bed: str,
    model_path: str,
    out: str,
    name: str,
    device: str,
    threads: int | None,
    refine_steps: int = 0,
) -> int:
    """``OUT/NAME.K.Q`` for every head of the model: the forward pass, or with ``refine_steps``
    > 0 the forward pass refined by that many Newton steps given the head's F."""
    from .checkpoint import load_model
    from .inference import infer

    check_out_dir(out)
    check_name(name)
    loaded = load_model(model_path)
    set_threads(threads)
    data = read_bed(bed)
    result = infer(loaded, data, device=device, model_path=model_path, refine_steps=refine_steps)
    out_dir = Path(out)
    with atomic_outputs() as staged:
        for k in loaded.ks:
            write_q(staged(layout.q_file(out_dir, name, k)), result.q[k])
        write_timing(
            staged(layout.timing(out_dir, name)),
            Timing(
                command="infer",
                tool="neural+refine" if refine_steps > 0 else "neural",
                ks=",".join(map(str, loaded.ks)),
                fit_seconds=result.seconds,
                process_seconds=process_seconds(),
                threads=threads_in_use(),
                device=device_description(result.device),
            ),
        )
    how = (
        f"the forward pass refined by {result.refine_steps} Newton steps given F"
        if refine_steps > 0
        else "the forward pass"
    )
    note = " (SNPs reordered to the model's order)" if result.reordered else ""
    _log(
        f"assigned {data.n_samples} samples in {result.seconds:.2f} s by {how}{note}; wrote "
        f"{layout.q_file(out_dir, name, _k_part(loaded.ks))}"
    )
    return 0


def recover_p_files(bed: str, q_path: str, out: str, name: str, threads: int | None) -> int:
    """The paper's recovery of F for every SNP: the Q-weighted mean genotype, written to
    ``OUT/NAME.K.P``."""
    from ..stats.frequencies import allele_frequencies, weighted_allele_frequencies

    check_out_dir(out)
    check_name(name)
    set_threads(threads)
    genotypes = read_bed(bed)
    q = read_q(q_path, genotypes.n_samples)
    overall, _ = allele_frequencies(genotypes.calls)
    p = weighted_allele_frequencies(genotypes.calls, q, fallback=overall)
    path = Path(layout.p_file(out, name, p.shape[1]))
    with atomic_outputs() as staged:
        write_p(staged(path), p)
    _log(f"wrote {path}: {p.shape[0]} SNPs x {p.shape[1]} clusters")
    return 0


def neural_fold_fit(seed: int, device: str | None, epochs: int | None, progress=None):
    """Fold fit for :func:`neuradmix.classic.cv.cross_validate`: a network trained from scratch
    on each masked copy."""
    from ..classic.cv import masked_genotypes
    from .train import train

    def fit_fold(genotypes, k: int, holdout):
        options = {"ks": [k], "seed": seed, "device": device or "auto"}
        if epochs is not None:
            options["epochs"] = epochs
        masked = masked_genotypes(genotypes, holdout)
        result = train(masked, TrainConfig(**options), progress=progress)
        return np.asarray(result.q[k], dtype=np.float64), np.asarray(result.p[k], dtype=np.float64)

    return fit_fold


def _k_part(ks) -> str:
    """The K of a file name in a log line: ``3``, or ``{2,3,4}`` for several."""
    return str(ks[0]) if len(ks) == 1 else "{" + ",".join(map(str, ks)) + "}"
