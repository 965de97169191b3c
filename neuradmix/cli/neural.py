"""``neuradmix train | infer | recover-p | evaluate``."""

from __future__ import annotations

import sys
from pathlib import Path

from ..errors import InputError, atomic_outputs
from ..io import read_bed, read_labels, read_p, read_q, write_p, write_q
from .common import add_threads_seed_device, requested_ks, run_name


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def register(subparsers) -> None:
    _register_train(subparsers)
    _register_infer(subparsers)
    _register_recover(subparsers)
    _register_evaluate(subparsers)


def _register_train(subparsers) -> None:
    from ..hyperparameters import TrainConfig

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
    from ..infer import save_model
    from ..kernels import log_likelihood, set_threads
    from ..train import TrainConfig, train

    set_threads(args.threads)
    genotypes = read_bed(args.bed)
    labels = read_labels(args.labels, genotypes.sample_ids) if args.labels else None
    init_p = read_p(args.init_p, genotypes.n_snps) if args.init_p else None
    # Without --k, a supervised run takes K from its labels and a pretrained one from its .P.
    if labels is not None:
        default = len({x for x in labels if x})
    else:
        default = init_p.shape[1] if init_p is not None else None
    ks = requested_ks(args, default)
    if init_p is not None and ks != [init_p.shape[1]]:
        raise InputError(f"{args.init_p}: has {init_p.shape[1]} columns but --k is {ks[0]}.")
    config = TrainConfig(
        ks=ks,
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
    name = run_name(args.bed, args.name)
    out = Path(args.out)
    _log(
        f"neuradmix train: {genotypes.n_samples} samples x {genotypes.n_snps} SNPs, "
        f"K={','.join(map(str, ks))}, "
        + (
            "supervised"
            if labels is not None
            else "pretrained"
            if init_p is not None
            else "unsupervised"
        )
    )
    result = train(
        genotypes, config, labels=labels, init_p=init_p, progress=not args.quiet, log=_log
    )
    _log(
        f"trained in {result.seconds:.1f} s: {result.epochs_run} epochs, best at epoch "
        f"{result.best_epoch}"
    )
    q, p = dict(result.q), dict(result.p)
    if args.polish:
        from ..em import polish

        for k in ks:
            polished = polish(genotypes, q[k], p[k], device=args.device)
            _log(
                f"polish K={k}: {polished.iterations} EM iterations in {polished.seconds:.1f} s, "
                f"log-likelihood {log_likelihood(genotypes.calls, q[k], p[k]):.1f} -> "
                f"{polished.log_likelihood:.1f}"
            )
            q[k], p[k] = polished.q, polished.p
    with atomic_outputs() as staged:
        for k in ks:
            write_q(staged(out / f"{name}.{k}.Q"), q[k])
            write_p(staged(out / f"{name}.{k}.P"), p[k])
            if result.populations is not None:
                staged_columns = staged(out / f"{name}.{k}.Q.columns")
                staged_columns.write_text("\n".join(result.populations) + "\n")
        save_model(staged(out / f"{name}.model.pt"), result)
        result.history.to_csv(staged(out / f"{name}.loss.tsv"), sep="\t", index=False)
    for k in ks:
        print(f"K={k}\tLoglikelihood: {log_likelihood(genotypes.calls, q[k], p[k]):.6f}")
    _log(f"wrote {out}/{name}.{{{','.join(map(str, ks))}}}.Q/.P, {name}.model.pt, {name}.loss.tsv")
    return 0


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
    from ..infer import infer, load_model
    from ..kernels import set_threads

    loaded = load_model(args.model)
    if args.export_snps:
        with atomic_outputs() as staged:
            target = staged(args.export_snps)
            target.write_text("\n".join(loaded.snps["snp"].astype(str)) + "\n")
        return 0
    if not args.bed or not args.out:
        raise InputError("give the BED to assign and --out (or --export-snps FILE).")
    set_threads(args.threads)
    data = read_bed(args.bed)
    result = infer(loaded, data, device=args.device, model_path=args.model)
    name = run_name(args.bed, args.name)
    out = Path(args.out)
    with atomic_outputs() as staged:
        for k in loaded.ks:
            write_q(staged(out / f"{name}.{k}.Q"), result.q[k])
    note = " (SNPs reordered to the model's order)" if result.reordered else ""
    _log(
        f"assigned {data.n_samples} samples in {result.seconds:.2f} s{note}; wrote "
        f"{out}/{name}.{{{','.join(map(str, loaded.ks))}}}.Q"
    )
    return 0


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
    parser.add_argument("--out", required=True, help="output .P file")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads (default: all)")
    parser.set_defaults(func=_recover)


def _recover(args) -> int:
    from ..kernels import set_threads, weighted_allele_frequencies
    from ..pca import allele_frequencies

    set_threads(args.threads)
    genotypes = read_bed(args.bed)
    q = read_q(args.q, genotypes.n_samples)
    overall, _ = allele_frequencies(genotypes.calls)
    p = weighted_allele_frequencies(genotypes.calls, q, fallback=overall)
    with atomic_outputs() as staged:
        write_p(staged(args.out), p)
    _log(f"wrote {args.out}: {p.shape[0]} SNPs x {p.shape[1]} clusters")
    return 0


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
    from ..kernels import set_threads
    from ..metrics import METRIC_COLUMNS, evaluate, format_row

    set_threads(args.threads)
    genotypes = read_bed(args.bed)
    q = read_q(args.q, genotypes.n_samples)
    p = read_p(args.p, genotypes.n_snps) if args.p else None
    if p is not None and p.shape[1] != q.shape[1]:
        raise InputError(f"{args.p}: {p.shape[1]} clusters but {args.q} has {q.shape[1]}.")
    labels = read_labels(args.labels, genotypes.sample_ids) if args.labels else None
    truth = read_q(args.truth_q, genotypes.n_samples) if args.truth_q else None
    values = evaluate(genotypes.calls, q, p, labels, truth)
    if not args.no_header:
        print("\t".join(METRIC_COLUMNS))
    print(format_row(values))
    return 0
