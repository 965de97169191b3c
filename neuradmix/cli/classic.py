"""``em``, ``project``, ``polish``, ``cv`` and ``baseline``: the classic ADMIXTURE engine."""

from __future__ import annotations

import argparse

from ..classic.defaults import (
    ACCELERATIONS,
    BASELINE_TOOLS,
    DEFAULT_ACCELERATION,
    DEFAULT_MAX_ITER,
    DEFAULT_TOL,
    PROJECTION_TOOLS,
)
from .common import (
    add_resume_options,
    add_threads_seed_device,
    at_least_two,
    non_negative_int,
    positive_float,
    positive_int,
    requested_ks,
    resume_options,
    run_name,
)


def _add_k_range(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--k", type=int, help="number of ancestral populations")
    parser.add_argument("--min-k", type=int, help="smallest K of a range (with --max-k)")
    parser.add_argument("--max-k", type=int, help="largest K of a range (with --min-k)")


def _add_convergence(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--tol",
        type=positive_float,
        default=DEFAULT_TOL,
        help=(
            "stop when both the last iteration's gain and the gain still to come (predicted "
            "from how fast the gains shrink) are below TOL x |log-likelihood|, so a slow ridge "
            f"does not end the fit early (default: {DEFAULT_TOL:g})"
        ),
    )
    parser.add_argument(
        "--acceleration",
        default=None,
        choices=ACCELERATIONS,
        help=(
            "quasi-newton: extrapolate the block-relaxation map from its last secants (Zhou, "
            "Alexander & Lange 2011); sor: over-relaxed block steps; none: plain block "
            f"relaxation (default: {DEFAULT_ACCELERATION} for a fit, sor for a projection)"
        ),
    )
    parser.add_argument(
        "--max-iter",
        type=positive_int,
        default=DEFAULT_MAX_ITER,
        help=f"most iterations, 2 to 4 passes over the genotypes each ({DEFAULT_MAX_ITER})",
    )
    parser.add_argument(
        "--engine",
        default="auto",
        choices=("auto", "numba", "torch"),
        help="numba: fused CPU kernels; torch: blocked tensors (used on cuda); default: auto",
    )
    parser.add_argument(
        "--quiet", action="store_true", help="no progress lines on stderr (one per iteration)"
    )


def _device(args) -> str:
    return "cpu" if args.device == "auto" and args.engine == "numba" else args.device


def _progress(args):
    from ..runtime import ProgressLog

    return None if args.quiet else ProgressLog()


def register(subparsers) -> None:
    fit = subparsers.add_parser(
        "em",
        help="fit the ADMIXTURE model by maximum likelihood (the classic engine)",
        description=(
            "Maximise the ADMIXTURE log-likelihood by block relaxation with exact Newton steps "
            "from an SVD/ALS start, and write DIR/NAME.K.Q and DIR/NAME.K.P; prints "
            "the final 'Loglikelihood:' per K and a progress line per iteration on stderr. With "
            "--labels, labelled samples keep Q fixed to their population (ADMIXTURE "
            "--supervised; components in sorted label order). --bootstrap B also writes "
            "DIR/NAME.K.Q_se, standard errors of Q from B block-bootstrap replicates (ADMIXTURE's "
            "-B)."
        ),
    )
    fit.add_argument("bed", help="PLINK .bed (with .bim/.fam beside it)")
    _add_k_range(fit)
    fit.add_argument("--out", required=True, metavar="DIR", help="output directory")
    fit.add_argument("--name", help="output name (default: the .bed file's stem)")
    fit.add_argument(
        "--init",
        default="svd",
        choices=("svd", "pckmeans", "random"),
        help="start: randomised SVD + PCK-Means + alternating least squares (svd, default), "
        "PCK-Means clusters alone, or a random Q",
    )
    fit.add_argument(
        "--seeds",
        type=positive_int,
        default=1,
        help="starts (seeds SEED, SEED+1, ...) refined on a SNP subset; the best one is fitted "
        "on all SNPs and each start's log-likelihood is printed (default: 1)",
    )
    fit.add_argument(
        "--bootstrap",
        type=non_negative_int,
        default=0,
        metavar="B",
        help="also write NAME.K.Q_se: standard errors of Q from B block-bootstrap replicates",
    )
    fit.add_argument(
        "--bootstrap-block",
        type=positive_float,
        default=5.0,
        metavar="CM",
        help="bootstrap block length in cM of the .bim map (1 cM per Mb where a chromosome has "
        "no map; default: 5)",
    )
    fit.add_argument(
        "--bootstrap-iter",
        type=positive_int,
        default=3,
        help="iterations of each warm-started bootstrap refit (default: 3)",
    )
    fit.add_argument("--init-q", metavar="FILE.Q", help="starting Q (single K only)")
    fit.add_argument("--init-p", metavar="FILE.P", help="starting P (single K only)")
    fit.add_argument(
        "--labels", metavar="FILE", help="population labels: supervised mode (.pop or SAMPLE LABEL)"
    )
    _add_convergence(fit)
    add_threads_seed_device(fit)
    add_resume_options(fit)
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
        choices=PROJECTION_TOOLS,
        help=(
            "em: our projection; admixture: admixture -P; adamixture: adamixture-project (ALS); "
            "auto: admixture if installed, else em"
        ),
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
    cv.add_argument("--folds", type=at_least_two, default=5, help="number of folds (default: 5)")
    cv.add_argument(
        "--method", default="em", choices=("em", "neural"), help="model fitted per fold"
    )
    cv.add_argument("--epochs", type=positive_int, help="most training epochs for --method neural")
    cv.add_argument(
        "--out",
        metavar="DIR",
        help="also write DIR/NAME.cv.tsv: k, cv_error and the error of each fold",
    )
    cv.add_argument("--name", help="output name (default: the .bed file's stem)")
    _add_convergence(cv)
    add_threads_seed_device(cv)
    cv.add_argument(
        "--checkpoint",
        metavar="FILE",
        help="save the folds done to FILE (a resume checkpoint) after each fold; if FILE "
        "exists the run skips the folds it holds (refused when made for other data or "
        "options), so a re-submitted job carries on; deleted once the run finishes",
    )
    cv.add_argument(
        "--resume",
        metavar="FILE",
        help="continue from this checkpoint, which must exist and match the data and options",
    )
    cv.set_defaults(func=_run_cv)

    base = subparsers.add_parser(
        "baseline",
        help="run a classic baseline: admixture, fastmixture2, adamixture, fastmixture or our EM",
        description=(
            "Fit K with an external tool (admixture, fastmixture2, adamixture (ADAMIXTURE) or "
            "fastmixture, where installed) or our EM; writes DIR/NAME.K.Q, DIR/NAME.K.P and "
            "DIR/NAME.K.baseline.tsv (tool, wall seconds, log-likelihood). --tool auto picks "
            "admixture, then fastmixture2, then adamixture, then fastmixture, then em."
        ),
    )
    base.add_argument("bed", help="PLINK .bed")
    base.add_argument("--k", type=int, required=True, help="number of ancestral populations")
    base.add_argument("--tool", default="auto", choices=BASELINE_TOOLS)
    base.add_argument("--out", required=True, metavar="DIR", help="output directory")
    base.add_argument("--name", help="output name (default: the .bed file's stem)")
    add_threads_seed_device(base)
    add_resume_options(base)
    base.set_defaults(func=_run_baseline)


def _convergence(args) -> dict:
    return {
        "tol": args.tol,
        "max_iter": args.max_iter,
        "acceleration": args.acceleration,
        "device": _device(args),
        "engine": args.engine,
    }


def _run_em(args) -> int:
    from ..classic.run import em_files

    return em_files(
        args.bed,
        args.out,
        run_name(args.bed, args.name),
        lambda default: requested_ks(args, default),
        labels=args.labels,
        init_q=args.init_q,
        init_p=args.init_p,
        threads=args.threads,
        bootstrap=args.bootstrap,
        bootstrap_block=args.bootstrap_block,
        bootstrap_iter=args.bootstrap_iter,
        progress=_progress(args),
        **resume_options(args),
        seed=args.seed,
        seeds=args.seeds,
        init=args.init,
        **_convergence(args),
    )


def _run_project(args) -> int:
    from ..classic.run import project_files

    return project_files(
        args.bed,
        args.p,
        args.out,
        run_name(args.bed, args.name),
        args.tool,
        threads=args.threads,
        seed=args.seed,
        **_convergence(args),
    )


def _run_polish(args) -> int:
    from ..classic.run import polish_files

    return polish_files(
        args.bed,
        args.q,
        args.p,
        args.out,
        run_name(args.bed, args.name),
        threads=args.threads,
        progress=_progress(args),
        **_convergence(args),
    )


def _run_cv(args) -> int:
    from ..classic.run import cv_files

    if args.method == "neural":
        from ..neural.run import neural_fold_fit

        def fold_fit_for(genotypes, k):
            return neural_fold_fit(args.seed, args.device, args.epochs)
    else:
        from ..classic.cv import classic_fold_fit

        def fold_fit_for(genotypes, k):
            return classic_fold_fit(
                genotypes,
                k,
                seed=args.seed,
                tol=args.tol,
                max_iter=args.max_iter,
                device=_device(args),
                progress=_progress(args),
            )

    return cv_files(
        args.bed,
        requested_ks(args),
        fold_fit_for,
        folds=args.folds,
        seed=args.seed,
        threads=args.threads,
        out=args.out,
        name=run_name(args.bed, args.name),
        checkpoint=args.checkpoint,
        resume=args.resume,
        settings={
            "method": args.method,
            "tol": args.tol,
            "max_iter": args.max_iter,
            "acceleration": args.acceleration,
            "epochs": args.epochs,
        },
    )


def _run_baseline(args) -> int:
    from ..classic.run import baseline_files

    return baseline_files(
        args.bed,
        args.k,
        args.tool,
        args.out,
        run_name(args.bed, args.name),
        threads=args.threads,
        seed=args.seed,
        device=args.device,
        **resume_options(args),
    )
