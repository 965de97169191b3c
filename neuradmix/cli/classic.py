"""``em``, ``project``, ``polish``, ``cv`` and ``baseline``: the classic method (ADMIXTURE's block
relaxation, which ADMIXTURE and the ``em`` command call EM) and the baselines."""

from __future__ import annotations

import argparse

from ..classic.defaults import (
    ACCELERATIONS,
    BASELINE_TOOLS,
    BOOTSTRAP_TOL,
    DEFAULT_ACCELERATION,
    DEFAULT_BOOTSTRAP_ITER,
    DEFAULT_INIT,
    DEFAULT_MAX_ITER,
    DEFAULT_TOL,
    PROJECTION_TOOLS,
    STARTS,
)
from .common import (
    add_engine,
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


def _add_out_name(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, metavar="DIR", help="output directory")
    parser.add_argument("--name", help="output name (default: the .bed file's stem)")


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
    add_engine(parser)
    parser.add_argument(
        "--quiet", action="store_true", help="no progress lines on stderr (one per iteration)"
    )


def _device(args) -> str:
    return "cpu" if args.device == "auto" and args.engine == "numba" else args.device


def _progress(args):
    from ..runtime import ProgressLog

    return None if args.quiet else ProgressLog()


def register(subparsers) -> None:
    _register_em(subparsers)
    _register_project(subparsers)
    _register_polish(subparsers)
    _register_cv(subparsers)
    _register_baseline(subparsers)


def _register_em(subparsers) -> None:
    parser = subparsers.add_parser(
        "em",
        help="fit the ADMIXTURE model by maximum likelihood: ADMIXTURE's block relaxation (its "
        "EM), the classic method",
        description=(
            "Maximise the ADMIXTURE log-likelihood by block relaxation (the fit ADMIXTURE calls "
            "EM) with exact Newton steps from a PCK-Means start, and write DIR/NAME.K.Q and "
            "DIR/NAME.K.P; prints the final 'Loglikelihood:' per K and a progress line per "
            "iteration on stderr. With --labels, labelled samples keep Q fixed to their "
            "population (ADMIXTURE --supervised; components in sorted label order). --bootstrap B "
            "also writes DIR/NAME.K.Q_se, standard errors of Q from B block-bootstrap replicates "
            "(ADMIXTURE's -B)."
        ),
    )
    parser.add_argument("bed", help="PLINK .bed (with .bim/.fam beside it)")
    _add_k_range(parser)
    _add_out_name(parser)
    parser.add_argument(
        "--init",
        default=DEFAULT_INIT,
        choices=STARTS,
        help="start: K-Means clusters on the leading axes of a randomised SVD (pckmeans, "
        "default), those clusters refined by alternating least squares on the low-rank "
        "reconstruction (svd), or a random Q",
    )
    parser.add_argument(
        "--seeds",
        type=positive_int,
        default=1,
        help="starts (seeds SEED, SEED+1, ...) refined on a SNP subset; the best one is fitted "
        "on all SNPs and each start's log-likelihood is printed (default: 1)",
    )
    parser.add_argument(
        "--bootstrap",
        type=non_negative_int,
        default=0,
        metavar="B",
        help="also write NAME.K.Q_se: standard errors of Q from B block-bootstrap replicates",
    )
    parser.add_argument(
        "--bootstrap-block",
        type=positive_float,
        default=5.0,
        metavar="CM",
        help="bootstrap block length in cM of the .bim map (1 cM per Mb where a chromosome has "
        "no map; default: 5)",
    )
    parser.add_argument(
        "--bootstrap-iter",
        type=positive_int,
        default=DEFAULT_BOOTSTRAP_ITER,
        help="most iterations of each bootstrap replicate, refitted from the fit with its "
        f"acceleration until the gain (last and still to come) is below {BOOTSTRAP_TOL:g} of "
        f"the log-likelihood (default: {DEFAULT_BOOTSTRAP_ITER})",
    )
    parser.add_argument("--init-q", metavar="FILE.Q", help="starting Q (single K only)")
    parser.add_argument("--init-p", metavar="FILE.P", help="starting P (single K only)")
    parser.add_argument(
        "--labels", metavar="FILE", help="population labels: supervised mode (.pop or SAMPLE LABEL)"
    )
    _add_convergence(parser)
    add_threads_seed_device(parser)
    add_resume_options(parser)
    parser.set_defaults(func=_run_fit)


def _register_project(subparsers) -> None:
    parser = subparsers.add_parser(
        "project",
        help="ancestry of new samples with allele frequencies fixed from a .P (ADMIXTURE -P)",
        description=(
            "Fit only Q for the samples of NEW.bed with F fixed to REF.K.P (same SNPs in the "
            "same order as NEW.bim) and write DIR/NAME.K.Q."
        ),
    )
    parser.add_argument("bed", help="PLINK .bed of the new samples")
    parser.add_argument("--p", required=True, metavar="REF.K.P", help="the reference .P")
    _add_out_name(parser)
    parser.add_argument(
        "--tool",
        default="em",
        choices=PROJECTION_TOOLS,
        help=(
            "em: our projection (block relaxation of Q alone); admixture: admixture -P; "
            "adamixture: adamixture-project (ALS); auto: admixture if installed, else em"
        ),
    )
    _add_convergence(parser)
    add_threads_seed_device(parser)
    parser.set_defaults(func=_run_project)


def _register_polish(subparsers) -> None:
    parser = subparsers.add_parser(
        "polish",
        help="continue a fit (e.g. the neural one) by block relaxation (ADMIXTURE's EM) to the "
        "ADMIXTURE optimum",
        description=(
            "Start block relaxation (ADMIXTURE's EM) from X.Q/X.P and run it to convergence; "
            "writes DIR/NAME.K.Q and DIR/NAME.K.P and reports iterations, passes over the "
            "genotypes, seconds and log-likelihoods."
        ),
    )
    parser.add_argument("bed", help="PLINK .bed the fit was made on")
    parser.add_argument("--q", required=True, metavar="X.Q")
    parser.add_argument("--p", required=True, metavar="X.P")
    _add_out_name(parser)
    _add_convergence(parser)
    add_threads_seed_device(parser)
    parser.set_defaults(func=_run_polish)


def _register_cv(subparsers) -> None:
    parser = subparsers.add_parser(
        "cv",
        help="ADMIXTURE-style cross-validation error for each K",
        description=(
            "Hold out each of --folds random folds of the observed genotype entries, fit "
            "without them and score them by binomial deviance; prints 'CV error (K=k): x' per K "
            "(ADMIXTURE's format)."
        ),
    )
    parser.add_argument("bed", help="PLINK .bed")
    _add_k_range(parser)
    parser.add_argument(
        "--folds", type=at_least_two, default=5, help="number of folds (default: 5)"
    )
    parser.add_argument(
        "--method",
        default="em",
        choices=("em", "neural"),
        help="method fitted per fold: em (block relaxation) or neural (default: em)",
    )
    parser.add_argument(
        "--epochs", type=positive_int, help="most training epochs for --method neural"
    )
    parser.add_argument(
        "--out",
        metavar="DIR",
        help="also write DIR/NAME.cv.tsv: k, cv_error and the error of each fold",
    )
    parser.add_argument("--name", help="output name (default: the .bed file's stem)")
    _add_convergence(parser)
    add_threads_seed_device(parser)
    parser.add_argument(
        "--checkpoint",
        metavar="FILE",
        help="save the folds done to FILE (a resume checkpoint) after each fold; if FILE "
        "exists the run skips the folds it holds (refused when made for other data or "
        "options), so a re-submitted job carries on; deleted once the run finishes",
    )
    parser.add_argument(
        "--resume",
        metavar="FILE",
        help="continue from this checkpoint, which must exist and match the data and options",
    )
    parser.set_defaults(func=_run_cv)


def _register_baseline(subparsers) -> None:
    parser = subparsers.add_parser(
        "baseline",
        help="run a classic baseline: admixture, fastmixture2, adamixture, fastmixture or our "
        "block relaxation (em)",
        description=(
            "Fit K with an external tool (admixture, fastmixture2, adamixture (ADAMIXTURE) or "
            "fastmixture, where installed) or our block relaxation (em); writes DIR/NAME.K.Q, "
            "DIR/NAME.K.P and DIR/NAME.K.baseline.tsv (tool, wall seconds, log-likelihood). "
            "--tool auto picks admixture, then fastmixture2, then adamixture, then fastmixture, "
            "then em."
        ),
    )
    parser.add_argument("bed", help="PLINK .bed")
    parser.add_argument("--k", type=int, required=True, help="number of ancestral populations")
    parser.add_argument("--tool", default="auto", choices=BASELINE_TOOLS)
    _add_out_name(parser)
    add_threads_seed_device(parser)
    add_resume_options(parser)
    parser.set_defaults(func=_run_baseline)


def _convergence(args) -> dict:
    return {
        "tol": args.tol,
        "max_iter": args.max_iter,
        "acceleration": args.acceleration,
        "device": _device(args),
        "engine": args.engine,
    }


def _run_fit(args) -> int:
    from ..classic.run import fit_files

    return fit_files(
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
