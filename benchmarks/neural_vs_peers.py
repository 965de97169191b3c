"""Neural ADMIXTURE against fastmixture2 and ADAMIXTURE, side by side in one run (not run in CI):
training, inference on held-out samples, multi-head, seeds, and the ablations that show what the
network contributes.

    python benchmarks/cohorts.py coalescent --out benchmarks/data          # once, ~7 min
    python benchmarks/cohorts.py small-1kg --out benchmarks/data           # once, ~30 s
    python benchmarks/neural_vs_peers.py --cohort benchmarks/data/coalescent --k 4 \\
        --multihead 2 8 --seeds-cohort benchmarks/data/small-1kg:5 \\
        --seeds-cohort results/example/prepare/train:3 --out benchmarks/neural_vs_peers.md

Every tool runs as its own process with ``--threads`` threads; times are whole processes
(interpreter start-up, reading the genotypes, fitting, writing the files) as
``/usr/bin/time -v`` reports them, and for neuradmix also the in-process fit seconds of its
timing sidecar. Each tool's written .Q/.P are scored with one kernel on the SNPs fastmixture2
accepts (it drops monomorphic ones). ``--cohort`` is split 80/20 (seeded, like the workflow's
split) into training and held-out samples.

1. Training on the training samples, ``--repeats`` times in rotating order: ``neuradmix train``
   (the network's forward pass and decoder), ``neuradmix train --polish``, fastmixture2 and
   ADAMIXTURE; ``neuradmix em`` once as a further reference. The optimum is the best
   log-likelihood any of them reached; RMSE(Q) is against ``PREFIX.truth.Q``.
2. Held-out samples: ``neuradmix infer`` (one forward pass) against the projection optimum
   given the network's F (``neuradmix project``), fastmixture2 ``--projection`` and
   ``adamixture-project`` on the same F; then the same four on ``--tile`` copies of the held-out
   samples (20,000 at the default 50) for speed.
3. Multi-head (``--multihead LOW HIGH``): one ``neuradmix train --min-k LOW --max-k HIGH``
   against a single-K ``neuradmix train`` and fastmixture2 at every K; each head's gap to the
   best fit of its K.
4. Seeds (``--seeds-cohort PREFIX:K``, repeatable): ``neuradmix train`` with seeds 1..``--seeds``
   on all samples, each seed's gap to the best of those and of ``neuradmix em`` and fastmixture2.
5. Ablation (in one process, fit seconds): the trained network against the same training with
   the encoder's steps switched off (the encoder stays at its initialisation), on the training
   samples of ``--cohort``.

Prints Markdown; ``--out FILE`` also writes it there.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import peers  # noqa: E402

from neuradmix import layout  # noqa: E402
from neuradmix.classic.tools import adamixture_counts_other_allele  # noqa: E402
from neuradmix.data import read_q, write_bed, write_p, write_q  # noqa: E402
from neuradmix.data.timing import read_timing  # noqa: E402
from neuradmix.stats.metrics import rmse_q  # noqa: E402


def _k_args(ks):
    return ["--k", ks[0]] if len(ks) == 1 else ["--min-k", min(ks), "--max-k", max(ks)]


def _train(prefix, ks, threads, seed, out, *extra):
    return peers.neuradmix("train", f"{prefix}.bed", *_k_args(ks), "--threads", threads,
                           "--seed", seed, "--device", "cpu", "--out", out, "--name", "fit",
                           "--quiet", *extra)  # fmt: skip


def _em(prefix, k, threads, seed, out):
    return peers.neuradmix("em", f"{prefix}.bed", "--k", k, "--threads", threads, "--seed",
                           seed, "--out", out, "--name", "fit", "--quiet")  # fmt: skip


def _adamixture(prefix, k, threads, seed, out):
    return [peers.tool("adamixture"), "-k", str(k), "--data_path", f"{prefix}.bed",
            "--save_dir", str(out), "--name", "fit", "-t", str(threads), "-s", str(seed),
            "--chrom_mode", "all"]  # fmt: skip


def _ours(out, k):
    return Path(out) / f"fit.{k}.Q", Path(out) / f"fit.{k}.P"


def _fit_seconds(out, name="fit") -> float:
    return read_timing(layout.timing(Path(out), name)).fit_seconds


def _rmse(value) -> str:
    return "" if value is None else f"{value:.4f}"


def _adamixture_p(cohort, out: Path, k: int) -> Path:
    """ADAMIXTURE's .P in our orientation: it counts the other allele where the counted one is
    the more frequent overall (:func:`neuradmix.classic.tools.adamixture_counts_other_allele`)."""
    path = out / f"fit.{k}.P"
    if not adamixture_counts_other_allele(cohort.genotypes):
        return path
    flipped = out / f"fit.{k}.counted-allele.P"
    np.savetxt(flipped, 1.0 - np.loadtxt(path, ndmin=2), fmt="%.6f")
    return flipped


class Cohort:
    """A fileset, its polymorphic SNPs (and a fileset of those for fastmixture2), its truth."""

    def __init__(self, prefix, work: Path, truth=None):
        self.prefix = Path(prefix)
        work.mkdir(parents=True, exist_ok=True)
        self.work = work
        self.genotypes, self.keep, self.kept, self.fm2_prefix = peers.polymorphic_fileset(
            prefix, work
        )
        if truth is None and Path(f"{prefix}.truth.Q").is_file():
            truth = read_q(f"{prefix}.truth.Q", self.genotypes.n_samples)
        self.truth = truth

    @property
    def title(self) -> str:
        g = self.genotypes
        return (
            f"{self.prefix.name}: {g.n_samples} x {g.n_snps} SNPs ({self.kept.n_snps} polymorphic)"
        )

    def score(self, q_path, p_path) -> float:
        """Log-likelihood of written .Q/.P on the polymorphic SNPs (a .P of all SNPs is cut)."""
        p = np.loadtxt(p_path, ndmin=2)
        if p.shape[0] == self.genotypes.n_snps and len(self.keep) < p.shape[0]:
            cut = Path(p_path).with_suffix(".kept.P")
            np.savetxt(cut, p[self.keep], fmt="%.6f")
            p_path = cut
        return peers.score(self.kept, q_path, p_path)

    def rmse(self, q_path) -> float | None:
        q = read_q(q_path, self.genotypes.n_samples)
        if self.truth is None or q.shape != self.truth.shape:
            return None
        return rmse_q(q, self.truth)


def split(prefix, work: Path, seed: int = 0, fraction: float = 0.2):
    """Training and held-out filesets of ``prefix`` (a seeded random split), with truth Q."""
    genotypes = peers.load(prefix)
    n = genotypes.n_samples
    order = np.random.default_rng(seed).permutation(n)
    held = np.sort(order[: int(round(fraction * n))])
    train = np.sort(order[int(round(fraction * n)) :])
    truth_path = Path(f"{prefix}.truth.Q")
    truth = read_q(truth_path, n) if truth_path.is_file() else None
    out = {}
    for name, rows in (("train", train), ("held", held)):
        write_bed(work / name, genotypes.select_samples(rows))
        if truth is not None:
            np.savetxt(work / f"{name}.truth.Q", truth[rows], fmt="%.6f")
        out[name] = work / name
    return out["train"], out["held"]


def tile(prefix, copies: int, out: Path) -> Path:
    """``copies`` copies of a fileset's samples (IDs made unique): a large cohort of new samples
    for inference speed."""
    genotypes = peers.load(prefix)
    rows = np.tile(np.arange(genotypes.n_samples), copies)
    tiled = genotypes.select_samples(rows)
    ids = [f"{iid}_{c}" for c in range(copies) for iid in genotypes.sample_ids]
    tiled.samples = tiled.samples.assign(fid=ids, iid=ids)
    write_bed(out, tiled)
    return out


# ------------------------------------------------------------------------------------------
# 1. Training
# ------------------------------------------------------------------------------------------


def training(cohort: Cohort, k, threads, repeats, seed) -> tuple[str, dict]:
    work = cohort.work
    tools = {
        "neuradmix train": lambda: _train(cohort.prefix, [k], threads, seed, work / "neural"),
        "neuradmix train --polish": lambda: _train(
            cohort.prefix, [k], threads, seed, work / "polish", "--polish"
        ),
        "fastmixture2": lambda: peers.fastmixture2(
            cohort.fm2_prefix, k, threads, seed, work / "fm2"
        ),
        "ADAMIXTURE": lambda: _adamixture(cohort.prefix, k, threads, seed, work / "adam"),
    }
    names = list(tools)
    runs = {name: [] for name in names}
    fits = {name: [] for name in names}
    for repeat in range(repeats):
        order = names[repeat % len(names) :] + names[: repeat % len(names)]
        for name in order:
            run = peers.measure(tools[name]())
            runs[name].append(run)
            if name.startswith("neuradmix"):
                fits[name].append(_fit_seconds(work / ("polish" if "polish" in name else "neural")))
            print(f"  {name}: {run.wall_seconds:.2f} s, {run.peak_rss_mib:.0f} MiB", flush=True)
    runs["neuradmix em"] = [peers.measure(_em(cohort.prefix, k, threads, seed, work / "em"))]
    outputs = {
        "neuradmix train": _ours(work / "neural", k),
        "neuradmix train --polish": _ours(work / "polish", k),
        "fastmixture2": peers.fastmixture2_outputs(work / "fm2", k, seed),
        "ADAMIXTURE": (work / "adam" / f"fit.{k}.Q", _adamixture_p(cohort, work / "adam", k)),
        "neuradmix em": _ours(work / "em", k),
    }
    lls = {name: cohort.score(*paths) for name, paths in outputs.items()}
    rmses = {name: cohort.rmse(paths[0]) for name, paths in outputs.items()}
    optimum = max(lls.values())
    best = max(lls, key=lls.get)
    wall = {name: peers.median(r.wall_seconds for r in rs) for name, rs in runs.items()}
    rss = {name: max(r.peak_rss_mib for r in rs) for name, rs in runs.items()}
    header = ["tool", "wall s (median)", "walls", "fit s (in process)", "peak RSS MiB",
              "log-likelihood", "gap to optimum", "RMSE(Q)"]  # fmt: skip
    rows = []
    for name in outputs:
        walls = ", ".join(f"{r.wall_seconds:.2f}" for r in runs[name])
        fit = f"{peers.median(fits[name]):.2f}" if fits.get(name) else ""
        gap = (optimum - lls[name]) / abs(optimum)
        rows.append([name, f"{wall[name]:.2f}", walls, fit, f"{rss[name]:.0f}",
                     f"{lls[name]:,.3f}", f"{gap:.1e}", _rmse(rmses[name])])  # fmt: skip
    fm2 = wall["fastmixture2"]
    polished = (lls["neuradmix train --polish"] - lls["fastmixture2"]) / abs(lls["fastmixture2"])
    text = [
        f"### 1. Training: {cohort.title}, K={k}, {threads} threads, seed {seed}",
        "",
        peers.table(header, rows),
        "",
        f"- optimum: {best} ({optimum:,.3f}); gap = (optimum - LL) / |optimum|",
        f"- wall ratio, network alone / fastmixture2: **{wall['neuradmix train'] / fm2:.3f}**; "
        f"--polish / fastmixture2: **{wall['neuradmix train --polish'] / fm2:.3f}**; "
        f"network / ADAMIXTURE: {wall['neuradmix train'] / wall['ADAMIXTURE']:.3f}",
        f"- --polish log-likelihood relative to fastmixture2's: **{polished:+.2e}**",
    ]
    if rmses[best] is not None:
        text.append(
            f"- RMSE(Q) of the network's forward pass / RMSE(Q) of the optimum: "
            f"**{rmses['neuradmix train'] / rmses[best]:.3f}**"
        )
    return "\n".join(text), {"neural": work / "neural", "walls": wall}


# ------------------------------------------------------------------------------------------
# 2. Held-out samples
# ------------------------------------------------------------------------------------------


def held_out(held: Cohort, model_dir: Path, k, threads, seed, copies) -> str:
    work = held.work
    model = model_dir / "fit.model.pt"
    p = model_dir / f"fit.{k}.P"
    # adamixture-project takes P in its own orientation (see _adamixture_p).
    adamixture_p = p
    if adamixture_counts_other_allele(held.genotypes):
        adamixture_p = work / f"fit.{k}.other-allele.P"
        np.savetxt(adamixture_p, 1.0 - np.loadtxt(p, ndmin=2), fmt="%.6f")

    def commands(prefix, tag):
        return {
            "neuradmix infer (forward pass)": peers.neuradmix(
                "infer", f"{prefix}.bed", "--model", model, "--out", work / tag, "--name",
                "infer", "--threads", threads, "--device", "cpu"),
            "neuradmix project (projection optimum)": peers.neuradmix(
                "project", f"{prefix}.bed", "--p", p, "--out", work / tag, "--name", "project",
                "--threads", threads, "--quiet"),
            "fastmixture2 --projection": [
                peers.tool("fastmixture2"), "-b", str(prefix), "-k", str(k), "--projection",
                str(p), "-t", str(threads), "-s", str(seed), "-o", str(work / tag / "fm2")],
            "adamixture-project": [
                peers.tool("adamixture-project"), "--data_path", f"{prefix}.bed", "--p_path",
                str(adamixture_p), "--save_dir", str(work / tag), "--name", "adam", "-t",
                str(threads), "--chrom_mode", "all"],
        }  # fmt: skip

    def q_files(tag):
        return {
            "neuradmix infer (forward pass)": work / tag / f"infer.{k}.Q",
            "neuradmix project (projection optimum)": work / tag / f"project.{k}.Q",
            "fastmixture2 --projection": peers.fastmixture2_outputs(work / tag / "fm2", k, seed)[0],
            "adamixture-project": work / tag / f"adam.{k}.Q",
        }

    small = {name: peers.measure(cmd) for name, cmd in commands(held.prefix, "small").items()}
    files = q_files("small")
    optimum = read_q(files["neuradmix project (projection optimum)"], held.genotypes.n_samples)
    tiled = tile(held.prefix, copies, work / "tiled")
    n_tiled = held.genotypes.n_samples * copies
    big = {name: peers.measure(cmd) for name, cmd in commands(tiled, "big").items()}
    rows = []
    for name, path in files.items():
        q = read_q(path, held.genotypes.n_samples)
        rows.append([name, f"{rmse_q(q, optimum):.4f}", _rmse(held.rmse(path)),
                     f"{small[name].wall_seconds:.2f}", f"{big[name].wall_seconds:.2f}",
                     f"{big[name].peak_rss_mib:.0f}"])  # fmt: skip
    infer_big = big["neuradmix infer (forward pass)"].wall_seconds
    header = ["method", "RMSE to projection optimum", "RMSE(Q) to truth",
              f"wall s, {held.genotypes.n_samples} samples", f"wall s, {n_tiled:,} samples",
              "peak RSS MiB"]  # fmt: skip
    ratios = ", ".join(
        f"{name}: **{run.wall_seconds / infer_big:.1f}x**"
        for name, run in big.items()
        if not name.startswith("neuradmix infer")
    )
    return "\n".join(
        [
            f"### 2. Held-out samples: {held.title}, the K={k} model of section 1",
            "",
            peers.table(header, rows),
            "",
            f"- on {n_tiled:,} samples, each method's wall time / neuradmix infer's: {ratios}",
            "- every projection uses the network's F (its .P); the projection optimum is "
            "`neuradmix project` run to convergence",
        ]
    )


# ------------------------------------------------------------------------------------------
# 3. Multi-head
# ------------------------------------------------------------------------------------------


def multihead(cohort: Cohort, low, high, threads, seed) -> str:
    work = cohort.work
    ks = list(range(low, high + 1))
    multi = peers.measure(_train(cohort.prefix, ks, threads, seed, work / "multihead"))
    print(f"  multi-head K={low}..{high}: {multi.wall_seconds:.2f} s", flush=True)
    rows, single_total, fm2_total, worst = [], 0.0, 0.0, 0.0
    for k in ks:
        single = peers.measure(_train(cohort.prefix, [k], threads, seed, work / f"single{k}"))
        fm2 = peers.measure(peers.fastmixture2(cohort.fm2_prefix, k, threads, seed, work / "mfm2"))
        single_total += single.wall_seconds
        fm2_total += fm2.wall_seconds
        ll = {
            "head": cohort.score(*_ours(work / "multihead", k)),
            "single": cohort.score(*_ours(work / f"single{k}", k)),
            "fm2": cohort.score(*peers.fastmixture2_outputs(work / "mfm2", k, seed)),
        }
        optimum = max(ll.values())
        gap = {name: (optimum - value) / abs(optimum) for name, value in ll.items()}
        worst = max(worst, gap["head"])
        print(f"  K={k}: single {single.wall_seconds:.2f} s, fastmixture2 "
              f"{fm2.wall_seconds:.2f} s, head gap {gap['head']:.1e}", flush=True)  # fmt: skip
        rows.append([k, f"{gap['head']:.1e}", f"{gap['single']:.1e}", f"{gap['fm2']:.1e}",
                     f"{single.wall_seconds:.2f}", f"{fm2.wall_seconds:.2f}"])  # fmt: skip
    header = ["K", "multi-head head gap", "single-K neural gap", "fastmixture2 gap",
              "single-K neural s", "fastmixture2 s"]  # fmt: skip
    return "\n".join(
        [
            f"### 3. Multi-head K={low}..{high}: {cohort.title}, {threads} threads, seed {seed}",
            "",
            peers.table(header, rows),
            "",
            f"- one multi-head `neuradmix train`: **{multi.wall_seconds:.2f} s** (peak RSS "
            f"{multi.peak_rss_mib:.0f} MiB); single-K neural runs: {single_total:.2f} s in all "
            f"(ratio **{multi.wall_seconds / single_total:.3f}**); fastmixture2 once per K: "
            f"{fm2_total:.2f} s (ratio **{multi.wall_seconds / fm2_total:.3f}**)",
            f"- gaps are to the best fit of each K among the three; largest head gap: "
            f"**{worst:.1e}**",
        ]
    )


# ------------------------------------------------------------------------------------------
# 4. Seeds
# ------------------------------------------------------------------------------------------


def seeds(cohort: Cohort, k, threads, n_seeds) -> str:
    work = cohort.work
    neural, rmses, others = [], [], []
    for seed in range(1, n_seeds + 1):
        out = work / f"seed{seed}"
        run = peers.measure(_train(cohort.prefix, [k], threads, seed, out))
        neural.append(cohort.score(*_ours(out, k)))
        rmses.append(cohort.rmse(out / f"fit.{k}.Q"))
        peers.measure(_em(cohort.prefix, k, threads, seed, work / f"em{seed}"))
        peers.measure(peers.fastmixture2(cohort.fm2_prefix, k, threads, seed, work / "fm2"))
        em_ll = cohort.score(*_ours(work / f"em{seed}", k))
        fm2_ll = cohort.score(*peers.fastmixture2_outputs(work / "fm2", k, seed))
        others.append((em_ll, fm2_ll, cohort.rmse(work / f"em{seed}" / f"fit.{k}.Q")))
        print(f"  seed {seed}: neural {neural[-1]:,.3f} ({run.wall_seconds:.2f} s), em "
              f"{em_ll:,.3f}, fastmixture2 {fm2_ll:,.3f}", flush=True)  # fmt: skip
    optimum = max(neural + [max(a, b) for a, b, _ in others])
    rows = [
        [seed, f"{a:,.3f}", f"{(optimum - a) / abs(optimum):.1e}", _rmse(r), _rmse(o[2])]
        for seed, a, r, o in zip(range(1, n_seeds + 1), neural, rmses, others, strict=True)
    ]
    header = ["seed", "neural LL", "neural gap to optimum", "neural RMSE(Q)", "em RMSE(Q)"]
    return "\n".join(
        [
            f"### 4. Seeds: {cohort.title}, K={k}, {threads} threads",
            "",
            peers.table(header, rows),
            "",
            f"- optimum: the best of the neural, em and fastmixture2 fits of every seed "
            f"({optimum:,.3f}); largest neural gap "
            f"**{(optimum - min(neural)) / abs(optimum):.1e}**",
        ]
    )


# ------------------------------------------------------------------------------------------
# 5. Ablation
# ------------------------------------------------------------------------------------------


def ablation(cohort: Cohort, k, threads, seed, reference_ll) -> str:
    from neuradmix.neural import train as training
    from neuradmix.neural.config import TrainConfig

    config = TrainConfig(ks=[k], seed=seed, threads=threads, device="cpu")
    rows = []
    for name, patch in (("the network, trained", None), ("encoder left at its start", True)):
        original = training.encoder_step
        if patch:
            training.encoder_step = lambda *args, **kwargs: None
        try:
            started = time.perf_counter()
            result = training.train(cohort.genotypes, config)
            seconds = time.perf_counter() - started
        finally:
            training.encoder_step = original
        out = cohort.work / f"ablation{len(rows)}"
        out.mkdir(parents=True, exist_ok=True)
        write_q(out / f"fit.{k}.Q", result.q[k])
        write_p(out / f"fit.{k}.P", result.p[k])
        ll = cohort.score(*_ours(out, k))
        rmse = cohort.rmse(out / f"fit.{k}.Q")
        rows.append([name, f"{seconds:.2f}", result.epochs_run, f"{ll:,.3f}",
                     f"{(reference_ll - ll) / abs(reference_ll):.1e}", _rmse(rmse)])  # fmt: skip
    header = ["model", "fit s", "epochs", "log-likelihood", "gap to optimum", "RMSE(Q)"]
    return "\n".join(
        [
            f"### 5. Ablation: {cohort.title}, K={k}, {threads} threads (in one process)",
            "",
            peers.table(header, rows),
            "",
            "- gap to the optimum of section 1. Multi-head against separate runs: section 3; "
            "projection against the forward pass: section 2.",
        ]
    )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cohort", help="PLINK prefix of the main cohort (split 80/20)")
    parser.add_argument("--k", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--tile", type=int, default=50, help="copies of the held-out samples")
    parser.add_argument("--multihead", type=int, nargs=2, metavar=("LOW", "HIGH"))
    parser.add_argument("--seeds-cohort", action="append", default=[], metavar="PREFIX:K")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--work", help="keep the runs' files here (default: a temporary folder)")
    parser.add_argument("--out", help="also write the Markdown here")
    args = parser.parse_args(argv)
    if not args.cohort and not args.seeds_cohort:
        parser.error("give --cohort and/or --seeds-cohort")
    sections = [f"Machine: {peers.machine()}"]

    def done(text: str) -> None:
        sections.append(text)
        print(text + "\n", flush=True)
        if args.out:
            Path(args.out).write_text("\n\n".join(sections) + "\n")

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(args.work or tmp)
        if args.cohort:
            (root / "split").mkdir(parents=True, exist_ok=True)
            train_prefix, held_prefix = split(args.cohort, root / "split")
            cohort = Cohort(train_prefix, root / "train")
            print(f"training: {cohort.title}", flush=True)
            text, found = training(cohort, args.k, args.threads, args.repeats, args.seed)
            done(text)
            print("held-out samples", flush=True)
            held = Cohort(held_prefix, root / "held")
            done(held_out(held, found["neural"], args.k, args.threads, args.seed, args.tile))
            if args.multihead:
                print("multi-head", flush=True)
                done(multihead(cohort, *args.multihead, args.threads, args.seed))
            print("ablation", flush=True)
            best = max(
                cohort.score(*paths)
                for paths in (
                    _ours(root / "train" / "em", args.k),
                    peers.fastmixture2_outputs(root / "train" / "fm2", args.k, args.seed),
                )
            )
            done(ablation(cohort, args.k, args.threads, args.seed, best))
        for i, item in enumerate(args.seeds_cohort):
            prefix, _, k = item.rpartition(":")
            if not prefix or not k.isdigit():
                parser.error(f"--seeds-cohort {item}: give PREFIX:K")
            cohort = Cohort(prefix, root / f"seeds{i}")
            print(f"seeds: {prefix} K={k}", flush=True)
            done(seeds(cohort, int(k), args.threads, args.seeds))
    return 0


if __name__ == "__main__":
    sys.exit(main())
