"""``em``, ``project``, ``polish``, ``cv`` and ``baseline``: the classic ADMIXTURE engine."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from ..errors import InputError, atomic_outputs
from ..hyperparameters import BASELINE_TOOLS, DEFAULT_MAX_ITER, DEFAULT_TOL
from ..io import read_bed, read_labels, read_p, read_q, write_p, write_q
from .common import add_threads_seed_device, requested_ks, run_name


def _add_k_range(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--k", type=int, help="number of ancestral populations")
    parser.add_argument("--min-k", type=int, help="smallest K of a range (with --max-k)")
    parser.add_argument("--max-k", type=int, help="largest K of a range (with --min-k)")


def _add_convergence(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--tol",
        type=float,
        default=DEFAULT_TOL,
        help=(
            "stop when the log-likelihood rises by less than TOL x |log-likelihood| between "
            f"iterations (ADMIXTURE's rule, made relative; default: {DEFAULT_TOL:g})"
        ),
    )
    parser.add_argument(
        "--max-iter",
        type=int,
        default=DEFAULT_MAX_ITER,
        help=f"most accelerated iterations, 3 EM passes each (default: {DEFAULT_MAX_ITER})",
    )
    parser.add_argument(
        "--engine",
        default="auto",
        choices=("auto", "numba", "torch"),
        help="numba: fused CPU kernel; torch: blocked tensors (used on cuda); default: auto",
    )


def _device(args) -> str:
    return "cpu" if args.device == "auto" and args.engine == "numba" else args.device


def _prepare(args):
    from ..kernels import set_threads

    set_threads(args.threads)
    return read_bed(args.bed)


def register(subparsers) -> None:
    fit = subparsers.add_parser(
        "em",
        help="fit the ADMIXTURE model by accelerated EM (classic baseline)",
        description=(
            "Maximise the ADMIXTURE log-likelihood by EM with SQUAREM acceleration and write "
            "DIR/NAME.K.Q and DIR/NAME.K.P; prints the final 'Loglikelihood:' per K. With "
            "--labels, labelled samples keep Q fixed to their population (ADMIXTURE "
            "--supervised; components in sorted label order)."
        ),
    )
    fit.add_argument("bed", help="PLINK .bed (with .bim/.fam beside it)")
    _add_k_range(fit)
    fit.add_argument("--out", required=True, metavar="DIR", help="output directory")
    fit.add_argument("--name", help="output name (default: the .bed file's stem)")
    fit.add_argument(
        "--init", default="random", choices=("random", "pckmeans"), help="starting point"
    )
    fit.add_argument("--init-q", metavar="FILE.Q", help="starting Q (single K only)")
    fit.add_argument("--init-p", metavar="FILE.P", help="starting P (single K only)")
    fit.add_argument(
        "--labels", metavar="FILE", help="population labels: supervised mode (.pop or SAMPLE LABEL)"
    )
    _add_convergence(fit)
    add_threads_seed_device(fit)
    fit.set_defaults(func=_run_em)

    proj = subparsers.add_parser(
        "project",
        help="ancestry of new samples with allele frequencies fixed from a .P (ADMIXTURE -P)",
        description=(
            "Fit only Q for the samples of NEW.bed with F fixed to REF.K.P (same SNPs in the "
            "same order as NEW.bim) and write DIR/NAME.K.Q."
        ),
    )
    proj.add_argument("bed", help="PLINK .bed of the new samples")
    proj.add_argument("--p", required=True, metavar="REF.K.P", help="the reference .P")
    proj.add_argument("--out", required=True, metavar="DIR", help="output directory")
    proj.add_argument("--name", help="output name (default: the .bed file's stem)")
    proj.add_argument(
        "--tool",
        default="em",
        choices=("em", "admixture", "auto"),
        help="em: our projection; admixture: admixture -P; auto: admixture if installed",
    )
    _add_convergence(proj)
    add_threads_seed_device(proj)
    proj.set_defaults(func=_run_project)

    pol = subparsers.add_parser(
        "polish",
        help="continue a fit (e.g. the neural one) with EM to the ADMIXTURE optimum",
        description=(
            "Start EM from X.Q/X.P and run it to convergence; writes DIR/NAME.K.Q and "
            "DIR/NAME.K.P and reports iterations, EM passes, seconds and log-likelihoods."
        ),
    )
    pol.add_argument("bed", help="PLINK .bed the fit was made on")
    pol.add_argument("--q", required=True, metavar="X.Q")
    pol.add_argument("--p", required=True, metavar="X.P")
    pol.add_argument("--out", required=True, metavar="DIR", help="output directory")
    pol.add_argument("--name", help="output name (default: the .bed file's stem)")
    _add_convergence(pol)
    add_threads_seed_device(pol)
    pol.set_defaults(func=_run_polish)

    cv = subparsers.add_parser(
        "cv",
        help="ADMIXTURE-style cross-validation error for each K",
        description=(
            "Hold out each of --folds random folds of the observed genotype entries, fit "
            "without them and score them by binomial deviance; prints 'CV error (K=k): x' per K "
            "(ADMIXTURE's format)."
        ),
    )
    cv.add_argument("bed", help="PLINK .bed")
    _add_k_range(cv)
    cv.add_argument("--folds", type=int, default=5, help="number of folds (default: 5)")
    cv.add_argument(
        "--method", default="em", choices=("em", "neural"), help="model fitted per fold"
    )
    cv.add_argument("--epochs", type=int, help="training epochs for --method neural")
    cv.add_argument("--out", metavar="FILE.tsv", help="also write k, cv_error, per-fold errors")
    _add_convergence(cv)
    add_threads_seed_device(cv)
    cv.set_defaults(func=_run_cv)

    base = subparsers.add_parser(
        "baseline",
        help="run a classic baseline: admixture, fastmixture or our EM",
        description=(
            "Fit K with an external tool (admixture when on PATH, fastmixture) or our EM; writes "
            "DIR/NAME.K.Q, DIR/NAME.K.P and DIR/NAME.K.baseline.tsv (tool, wall seconds, "
            "log-likelihood). --tool auto picks admixture, then fastmixture, then em."
        ),
    )
    base.add_argument("bed", help="PLINK .bed")
    base.add_argument("--k", type=int, required=True, help="number of ancestral populations")
    base.add_argument("--tool", default="auto", choices=BASELINE_TOOLS)
    base.add_argument("--out", required=True, metavar="DIR", help="output directory")
    base.add_argument("--name", help="output name (default: the .bed file's stem)")
    add_threads_seed_device(base)
    base.set_defaults(func=_run_baseline)


def _write_fit(out: str, name: str, k: int, q, p=None) -> Path:
    stem = Path(out) / f"{name}.{k}"
    with atomic_outputs() as staged:
        write_q(staged(f"{stem}.Q"), q)
        if p is not None:
            write_p(staged(f"{stem}.P"), p)
    return stem


def _run_em(args) -> int:
    from .. import em

    genotypes = _prepare(args)
    labels = read_labels(args.labels, genotypes.sample_ids) if args.labels else None
    # Supervised: K defaults to the number of populations in the label file.
    ks = requested_ks(args, len(em.supervised_components(labels)) if labels is not None else None)
    if (args.init_q or args.init_p) and len(ks) > 1:
        raise InputError("--init-q/--init-p fit one K; use --k instead of a K range.")
    name = run_name(args.bed, args.name)
    init_q = read_q(args.init_q, genotypes.n_samples) if args.init_q else None
    init_p = read_p(args.init_p, genotypes.n_snps) if args.init_p else None
    for k in ks:
        for given, what in ((init_q, args.init_q), (init_p, args.init_p)):
            if given is not None and given.shape[1] != k:
                raise InputError(f"{what}: {given.shape[1]} columns, but --k is {k}.")
        options = dict(
            seed=args.seed,
            tol=args.tol,
            max_iter=args.max_iter,
            init=args.init,
            init_p=init_p,
            device=_device(args),
            engine=args.engine,
        )
        if labels is not None:
            result = em.fit_supervised(genotypes, labels, k=k, **options)
        else:
            result = em.fit(genotypes, k, init_q=init_q, **options)
        _write_fit(args.out, name, k, result.q, result.p)
        status = "converged" if result.converged else "stopped at --max-iter"
        print(
            f"K={k}: {status} after {result.iterations} iterations "
            f"({result.em_passes} EM passes, {result.seconds:.2f} s)"
        )
        print(f"Loglikelihood: {result.log_likelihood:.6f}")
    return 0


def _run_project(args) -> int:
    from .. import baselines

    genotypes = _prepare(args)
    p = read_p(args.p, genotypes.n_snps)
    result = baselines.project_baseline(
        args.bed,
        p,
        args.tool,
        threads=args.threads or os.cpu_count() or 1,
        seed=args.seed,
        device=args.device,
        genotypes=genotypes,
    )
    name = run_name(args.bed, args.name)
    stem = _write_fit(args.out, name, p.shape[1], result.q)
    print(f"Projected {genotypes.n_samples} samples with {result.tool} -> {stem}.Q")
    print(f"Loglikelihood: {result.log_likelihood:.6f}")
    return 0


def _run_polish(args) -> int:
    from .. import em
    from ..kernels import log_likelihood

    genotypes = _prepare(args)
    q = read_q(args.q, genotypes.n_samples)
    p = read_p(args.p, genotypes.n_snps)
    if q.shape[1] != p.shape[1]:
        raise InputError(
            f"{args.q} has {q.shape[1]} columns but {args.p} has {p.shape[1]}; give the .Q and "
            ".P of the same fit."
        )
    before = log_likelihood(genotypes.calls, q, p)
    result = em.polish(
        genotypes,
        q,
        p,
        tol=args.tol,
        max_iter=args.max_iter,
        device=_device(args),
        engine=args.engine,
    )
    stem = _write_fit(args.out, run_name(args.bed, args.name), q.shape[1], result.q, result.p)
    print(
        f"Polish: {result.iterations} iterations ({result.em_passes} EM passes) in "
        f"{result.seconds:.2f} s; log-likelihood {before:.6f} -> {result.log_likelihood:.6f}"
    )
    print(f"Wrote {stem}.Q and {stem}.P")
    print(f"Loglikelihood: {result.log_likelihood:.6f}")
    return 0


def _run_cv(args) -> int:
    from .. import em

    ks = requested_ks(args)
    genotypes = _prepare(args)
    rows = []
    for k in ks:
        result = em.cross_validate(
            genotypes,
            k,
            folds=args.folds,
            seed=args.seed,
            method=args.method,
            tol=args.tol,
            max_iter=args.max_iter,
            device=args.device if args.method == "neural" else _device(args),
            epochs=args.epochs,
        )
        print(em.format_cv(result))
        sys.stdout.flush()
        rows.append(result)
    if args.out:
        with atomic_outputs() as staged:
            with open(staged(args.out), "w") as handle:
                folds = "\t".join(f"fold{f + 1}" for f in range(args.folds))
                handle.write(f"k\tcv_error\t{folds}\n")
                for result in rows:
                    per_fold = "\t".join(f"{e:.6f}" for e in result.fold_errors)
                    handle.write(f"{result.k}\t{result.error:.6f}\t{per_fold}\n")
    return 0


def _run_baseline(args) -> int:
    from .. import baselines
    from ..kernels import set_threads

    set_threads(args.threads)
    threads = args.threads or os.cpu_count() or 1
    result = baselines.run_baseline(
        args.bed, args.k, args.tool, threads=threads, seed=args.seed, device=args.device
    )
    shape = (result.q.shape[0], result.p.shape[0] if result.p is not None else 0)
    stem = baselines.write_baseline(
        args.out, run_name(args.bed, args.name), result, shape, threads, args.seed
    )
    print(f"{result.tool}: K={args.k} in {result.wall_seconds:.2f} s -> {stem}.Q")
    print(f"Loglikelihood: {result.log_likelihood:.6f}")
    return 0
