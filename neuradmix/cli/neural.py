"""``neuradmix train | infer | recover-p | evaluate``."""

from __future__ import annotations

from ..errors import InputError
from .common import add_threads_seed_device, requested_ks, run_name


def register(subparsers) -> None:
    _register_train(subparsers)
    _register_infer(subparsers)
    _register_recover(subparsers)
    _register_evaluate(subparsers)


def _register_train(subparsers) -> None:
    from ..neural.config import TrainConfig

    defaults = TrainConfig(ks=[2])
    parser = subparsers.add_parser(
        "train",
        help="train a Neural ADMIXTURE model and write .Q/.P files",
        description=(
            "Train Neural ADMIXTURE on a PLINK fileset. Writes OUT/NAME.K.Q and OUT/NAME.K.P "
            "(ADMIXTURE format) for every K, OUT/NAME.model.pt (for `neuradmix infer`) and "
            "OUT/NAME.loss.tsv (per-epoch losses)."
        ),
    )
    parser.add_argument("bed", help="PLINK .bed file (the .bim and .fam must sit beside it)")
    group = parser.add_argument_group("number of clusters (give --k, or --min-k and --max-k)")
    group.add_argument("--k", type=int, help="train one head with K clusters")
    group.add_argument("--min-k", type=int, help="smallest K of a multi-head model")
    group.add_argument("--max-k", type=int, help="largest K of a multi-head model")
    parser.add_argument("--out", required=True, help="output directory (created if missing)")
    parser.add_argument("--name", help="output file prefix (default: the BED file's stem)")
    parser.add_argument(
        "--labels",
        help="population labels for a supervised run: ADMIXTURE .pop (one per .fam line, '-' "
        "unknown) or two columns SAMPLE LABEL; unknown samples make it semi-supervised",
    )
    parser.add_argument(
        "--init-p",
        help="pretrained mode: start the decoder from this .P (e.g. ADMIXTURE's) and freeze it",
    )
    parser.add_argument(
        "--polish",
        action="store_true",
        help="continue the neural fit with accelerated EM to ADMIXTURE's optimum; the written "
        ".Q/.P are then the polished ones",
    )
    parser.add_argument(
        "--epochs", type=int, default=defaults.epochs, help="maximum epochs (default: %(default)s)"
    )
    parser.add_argument(
        "--batch-size", type=int, default=defaults.batch_size, help="default: %(default)s"
    )
    parser.add_argument(
        "--lr",
        type=float,
        default=defaults.learning_rate,
        help="encoder learning rate (Adam; default: %(default)s)",
    )
    parser.add_argument(
        "--decoder-lr",
        type=float,
        default=defaults.decoder_learning_rate,
        help="decoder (F) learning rate (default: %(default)s)",
    )
    parser.add_argument(
        "--lambda",
        dest="l2_penalty",
        type=float,
        default=defaults.l2_penalty,
        help="lambda of Equation 2: L2 penalty on the first encoder layer (default: %(default)s)",
    )
    parser.add_argument(
        "--eta",
        type=float,
        default=defaults.supervised_weight,
        help="weight of the supervised cross-entropy (Equation 5; default: %(default)s)",
    )
    parser.add_argument(
        "--hidden", type=int, default=defaults.hidden, help="hidden layer width (default: 512)"
    )
    parser.add_argument(
        "--pcs",
        type=int,
        default=defaults.n_components,
        help="principal axes fed to the encoder (default: %(default)s)",
    )
    parser.add_argument(
        "--init",
        choices=["pckmeans+als", "pckmeans"],
        default=defaults.init,
        help="unsupervised decoder initialisation: PCK-Means refined by low-rank ALS (default) "
        "or PCK-Means alone (the paper's Algorithm 1)",
    )
    parser.add_argument(
        "--validation-fraction",
        type=float,
        default=defaults.validation_fraction,
        help="samples held out to monitor loss and stop early (default: %(default)s)",
    )
    parser.add_argument(
        "--patience",
        type=int,
        default=defaults.patience,
        help="epochs without validation improvement before stopping (default: %(default)s)",
    )
    parser.add_argument(
        "--stop-on",
        choices=["train", "validation"],
        default=defaults.stop_on,
        help="loss that decides early stopping: the training loss (ADMIXTURE-style convergence, "
        "default) or the held-out validation loss",
    )
    parser.add_argument(
        "--backend",
        choices=["auto", "fused", "torch"],
        default="auto",
        help="loss implementation: fused CPU kernel, torch ops (GPU), or auto (default)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    add_threads_seed_device(parser)
    parser.set_defaults(func=_train)


def _train(args) -> int:
    from ..neural.config import TrainConfig
    from ..neural.run import TrainRequest, train_files

    config = TrainConfig(
        ks=[],
        epochs=args.epochs,
        batch_size=args.batch_size,
        learning_rate=args.lr,
        decoder_learning_rate=args.decoder_lr,
        l2_penalty=args.l2_penalty,
        supervised_weight=args.eta,
        hidden=args.hidden,
        n_components=args.pcs,
        init=args.init,
        validation_fraction=args.validation_fraction,
        patience=args.patience,
        stop_on=args.stop_on,
        seed=args.seed,
        device=args.device,
        threads=args.threads,
        backend=args.backend,
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
    )
    return train_files(request, lambda default: requested_ks(args, default))


def _register_infer(subparsers) -> None:
    parser = subparsers.add_parser(
        "infer",
        help="assign new samples with a trained model (one forward pass)",
        description=(
            "Write OUT/NAME.K.Q for every head of MODEL. The data must have the model's SNPs and "
            "allele coding; SNPs in another order are reordered."
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
    add_threads_seed_device(parser)
    parser.set_defaults(func=_infer)


def _infer(args) -> int:
    from ..neural.run import export_snps, infer_files

    if args.export_snps:
        return export_snps(args.model, args.export_snps)
    if not args.bed or not args.out:
        raise InputError("give the BED to assign and --out (or --export-snps FILE).")
    return infer_files(
        args.bed, args.model, args.out, run_name(args.bed, args.name), args.device, args.threads
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
    parser.add_argument("--threads", type=int, default=None, help="CPU threads (default: all)")
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
    parser.add_argument("--threads", type=int, default=None, help="CPU threads (default: all)")
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
