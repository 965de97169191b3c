"""``neuradmix train | infer | recover-p | evaluate``."""

from __future__ import annotations

from ..errors import InputError
from .common import (
    add_engine,
    add_resume_options,
    add_threads,
    add_threads_seed_device,
    non_negative_float,
    non_negative_int,
    positive_float,
    positive_int,
    requested_ks,
    run_name,
)


def register(subparsers) -> None:
    _register_train(subparsers)
    _register_infer(subparsers)
    _register_recover(subparsers)
    _register_evaluate(subparsers)


def _register_train(subparsers) -> None:
    from ..neural.config import POLISH_TOLERANCE, TrainConfig

    defaults = TrainConfig(ks=[2])
    parser = subparsers.add_parser(
        "train",
        help="train a Neural ADMIXTURE model and write .Q/.P files",
        description=(
            "Train Neural ADMIXTURE on a PLINK fileset until the log-likelihood stops rising "
            "(one line per epoch on stderr). Writes OUT/NAME.K.Q (the encoder's forward pass on "
            "these samples) and OUT/NAME.K.P (the decoder's weights F) in ADMIXTURE format for "
            "every K, OUT/NAME.model.pt (for `neuradmix infer`), OUT/NAME.loss.tsv (one row "
            "per epoch) and OUT/NAME.timing.tsv, and prints 'K=k Loglikelihood: x'."
        ),
    )
    parser.add_argument("bed", help="PLINK .bed file (the .bim and .fam must sit beside it)")
    group = parser.add_argument_group("number of clusters (give --k, or --min-k and --max-k)")
    group.add_argument("--k", type=int, help="train one head with K clusters")
    group.add_argument(
        "--min-k", type=int, help="smallest K of a multi-head model (one head per K)"
    )
    group.add_argument("--max-k", type=int, help="largest K of a multi-head model")
    parser.add_argument("--out", required=True, help="output directory (created if missing)")
    parser.add_argument("--name", help="output file prefix (default: the BED file's stem)")
    parser.add_argument(
        "--labels",
        help="population labels for a supervised run: ADMIXTURE .pop (one per .fam line, '-' "
        "unknown) or two columns SAMPLE LABEL; the decoder starts at the labelled "
        "populations' centroids and the labelled samples' cross-entropy (weight --eta) joins "
        "the loss; unknown samples make it semi-supervised",
    )
    parser.add_argument(
        "--init-p",
        help="pretrained mode: the decoder is this .P (e.g. ADMIXTURE's), kept fixed; only the "
        "encoder is trained",
    )
    parser.add_argument(
        "--polish",
        action="store_true",
        help="after training, continue from the network's Q/P with the classic block "
        "relaxation (`neuradmix em`'s fit) to ADMIXTURE's optimum; the written .Q/.P are then "
        "the block relaxation's, not the network's (the log and the timing file say "
        "'neural+polish')",
    )
    parser.add_argument(
        "--lambda",
        dest="entropy",
        type=non_negative_float,
        default=defaults.entropy,
        help="weight of the entropy of each sample's Q per observed genotype call: 0 fits the "
        "ADMIXTURE likelihood itself (hardest Q); 0.01 softens Q visibly, 0.1 strongly, 1 "
        "nearly to uniform (default: %(default)s)",
    )
    parser.add_argument(
        "--eta",
        type=non_negative_float,
        default=defaults.supervised_weight,
        help="weight of a labelled sample's cross-entropy against its label, beside its "
        "negative log-likelihood per genotype call (Equation 5; default: %(default)s)",
    )
    parser.add_argument(
        "--epochs",
        type=positive_int,
        default=defaults.epochs,
        help="most epochs of each training stage; training stops earlier once converged "
        "(default: %(default)s)",
    )
    parser.add_argument(
        "--tol",
        type=positive_float,
        default=None,
        help="an epoch is progress when the objective rises by more than TOL x |objective| "
        f"(default: {defaults.tolerance:g}; {POLISH_TOLERANCE:g} with --polish, whose block "
        "relaxation finishes the fit)",
    )
    parser.add_argument(
        "--patience",
        type=positive_int,
        default=defaults.patience,
        help="epochs without progress before stopping (default: %(default)s)",
    )
    parser.add_argument(
        "--encoder-steps",
        type=positive_int,
        default=defaults.encoder_steps,
        help="L-BFGS steps of the encoder's weights per epoch (default: %(default)s)",
    )
    parser.add_argument(
        "--hidden",
        type=positive_int,
        default=None,
        help="ReLU units of every head (default: 4 K^2 for the head of K, at least 32)",
    )
    parser.add_argument(
        "--extra-coordinates",
        type=int,
        default=None,
        metavar="E",
        help="principal coordinates each head reads beyond its K - 1 (default: none for a head "
        "whose K - 1 lies within the axes above the noise edge, 3 per dimension of the simplex "
        "beyond them otherwise). More fit the training samples closer to the "
        "maximum-likelihood optimum at a K above the structure the leading axes resolve, but "
        "can fit noise and assign new samples worse; see README, 'The network'",
    )
    add_engine(parser)
    parser.add_argument(
        "--quiet", action="store_true", help="no progress lines on stderr (one per epoch)"
    )
    add_threads_seed_device(parser)
    add_resume_options(parser, "epochs")
    parser.set_defaults(func=_train)


def _train(args) -> int:
    from ..neural.config import POLISH_TOLERANCE, TrainConfig
    from ..neural.run import TrainRequest, train_files

    if args.tol is not None:
        tolerance = args.tol
    else:
        tolerance = POLISH_TOLERANCE if args.polish else TrainConfig(ks=[]).tolerance
    config = TrainConfig(
        ks=[],
        epochs=args.epochs,
        tolerance=tolerance,
        patience=args.patience,
        entropy=args.entropy,
        supervised_weight=args.eta,
        encoder_steps=args.encoder_steps,
        hidden=args.hidden,
        extra_coordinates=args.extra_coordinates,
        seed=args.seed,
        device=args.device,
        threads=args.threads,
        engine=args.engine,
    )
    request = TrainRequest(
        bed=args.bed,
        out=args.out,
        name=run_name(args.bed, args.name),
        config=config,
        labels=args.labels,
        init_p=args.init_p,
        polish=args.polish,
        progress=not args.quiet,
        checkpoint=args.checkpoint,
        resume=args.resume,
        checkpoint_every=args.checkpoint_every,
        checkpoint_minutes=args.checkpoint_minutes,
    )
    return train_files(request, lambda default: requested_ks(args, default))


def _register_infer(subparsers) -> None:
    parser = subparsers.add_parser(
        "infer",
        help="assign new samples with a trained model (one forward pass)",
        description=(
            "Write OUT/NAME.K.Q for every head of MODEL: the encoder's forward pass on the new "
            "samples (one pass over their genotypes). --refine-steps N adds up to N Newton "
            "steps of each sample's Q given the model's F (ADMIXTURE's projection, a pass each) "
            "and the timing file then says 'neural+refine'. The data must have the model's "
            "SNPs and allele coding; SNPs in another order are reordered."
        ),
    )
    parser.add_argument("bed", nargs="?", help="PLINK .bed of the samples to assign")
    parser.add_argument("--model", required=True, help="NAME.model.pt from `neuradmix train`")
    parser.add_argument("--out", help="output directory")
    parser.add_argument("--name", help="output file prefix (default: the BED file's stem)")
    parser.add_argument(
        "--export-snps",
        metavar="FILE",
        help="write the model's SNP IDs (one per line, for plink2 --extract) and exit",
    )
    parser.add_argument(
        "--refine-steps",
        type=non_negative_int,
        default=0,
        help="Newton steps of each sample's Q given F after the forward pass (default: "
        "%(default)s, the forward pass alone)",
    )
    add_threads_seed_device(parser)
    parser.set_defaults(func=_infer)


def _infer(args) -> int:
    from ..neural.run import export_snps, infer_files

    if args.export_snps:
        return export_snps(args.model, args.export_snps)
    if not args.bed or not args.out:
        raise InputError("give the BED to assign and --out (or --export-snps FILE).")
    return infer_files(
        args.bed,
        args.model,
        args.out,
        run_name(args.bed, args.name),
        args.device,
        args.threads,
        args.refine_steps,
    )


def _register_recover(subparsers) -> None:
    parser = subparsers.add_parser(
        "recover-p",
        help="allele frequencies of every SNP from a Q (Q-weighted mean genotype)",
        description=(
            "After training on a downsampled SNP set, recover F for all SNPs of the full set as "
            "the Q-weighted mean of the genotypes (the paper's Datasets section). DATA must have "
            "the samples of Q, in .fam order."
        ),
    )
    parser.add_argument("bed", help="PLINK .bed with all SNPs (same samples as the .Q)")
    parser.add_argument("--q", required=True, help=".Q file of these samples")
    parser.add_argument(
        "--out", required=True, help="output directory: writes OUT/NAME.K.P (created if missing)"
    )
    parser.add_argument("--name", help="output file prefix (default: the BED file's stem)")
    add_threads(parser)
    parser.set_defaults(func=_recover)


def _recover(args) -> int:
    from ..neural.run import recover_p_files

    return recover_p_files(args.bed, args.q, args.out, run_name(args.bed, args.name), args.threads)


def _register_evaluate(subparsers) -> None:
    parser = subparsers.add_parser(
        "evaluate",
        help="metrics of a .Q (and .P): log-likelihood, L_N, AMI, Delta, RMSE",
        description=(
            "Print a header and one TSV row: k, n_samples, n_snps, log_likelihood (ADMIXTURE's), "
            "l_n_lambda0 (Equation 3: minus half of it), ami and delta (Equations 6-7, against "
            "--labels), rmse_q (against --truth-q after optimal cluster matching). NA where the "
            "inputs do not allow a metric."
        ),
    )
    parser.add_argument("bed", help="PLINK .bed the .Q/.P describe")
    parser.add_argument("--q", required=True, help=".Q file (rows in .fam order)")
    parser.add_argument("--p", help=".P file (rows in .bim order) for the log-likelihood")
    parser.add_argument("--labels", help="population labels (for AMI and Delta)")
    parser.add_argument("--truth-q", help="true Q of simulated data (for RMSE)")
    parser.add_argument("--no-header", action="store_true", help="print the row only")
    add_threads(parser)
    parser.set_defaults(func=_evaluate)


def _evaluate(args) -> int:
    from ..runtime import set_threads
    from ..steps.evaluate import METRIC_COLUMNS, evaluate_files, format_row

    set_threads(args.threads)
    values = evaluate_files(args.bed, args.q, args.p, args.labels, args.truth_q)
    if not args.no_header:
        print("\t".join(METRIC_COLUMNS))
    print(format_row(values))
    return 0
