"""`neuradmix train` (neural alone and with --polish) against fastmixture2 2.0, side by side in one
run (not run in CI).

    python benchmarks/cohorts.py coalescent --out benchmarks/data/coalescent   # once, ~10 min
    python benchmarks/cohorts.py small-1kg --out benchmarks/data/small-1kg      # once, ~1 min
    python benchmarks/neural_vs_fastmixture2.py \\
        --cohort benchmarks/data/coalescent/coalescent --k 4 --repeats 3 --multihead 2 6 \\
        --seeds-cohort benchmarks/data/small-1kg/small-1kg:5 \\
        --seeds-cohort results/example/prepare/train:3 --threads 2

Part 1 (one cohort, one K): each repeat runs, in rotating order and each as its own process with
the same thread count and seed, ``neuradmix train`` (PCA, initialisation and training),
``neuradmix train --polish`` (the same, then the classic engine to convergence) and
``fastmixture2``; ``neuradmix em`` runs once as the maximum-likelihood reference. Times are
whole processes (interpreter start-up, reading the .bed, fitting, writing .Q/.P) and, for
neuradmix, the in-process fit time from its timing sidecar; peak RSS is the process's
``ru_maxrss``. Every tool's written .Q/.P is scored with one kernel on the SNPs fastmixture2
accepts (it refuses monomorphic ones); the optimum is the best of all of them. RMSE(Q) against
``PREFIX.truth.Q`` where that file exists.

Part 2 (``--multihead LOW HIGH``): one multi-head ``neuradmix train --min-k LOW --max-k HIGH``
against fastmixture2 run once per K; each head's gap to its K's optimum (the better of
fastmixture2 and ``neuradmix em`` at that K).

Part 3 (``--seeds-cohort PREFIX:K``, repeatable): ``neuradmix train`` with seeds 1..``--seeds``
and ``neuradmix em`` with the same seeds; the spread of the neural log-likelihoods and each
seed's gap to the best fit found.

Prints Markdown tables; ``--out FILE`` also writes them there.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import peers  # noqa: E402

from neuradmix.data import read_q, write_bed  # noqa: E402
from neuradmix.data.timing import read_timing, timing_path  # noqa: E402
from neuradmix.stats.metrics import rmse_q  # noqa: E402


def _train(prefix, ks, threads, seed, out, *extra):
    k_args = ["--k", ks[0]] if len(ks) == 1 else ["--min-k", min(ks), "--max-k", max(ks)]
    return peers.neuradmix("train", f"{prefix}.bed", *k_args, "--threads", threads, "--seed",
                           seed, "--device", "cpu", "--out", out, "--name", "fit", "--quiet",
                           *extra)  # fmt: skip


def _em(prefix, k, threads, seed, out):
    return peers.neuradmix("em", f"{prefix}.bed", "--k", k, "--threads", threads, "--seed",
                           seed, "--out", out, "--name", "fit", "--quiet")  # fmt: skip


class Cohort:
    """A cohort, its polymorphic SNPs, a fileset of those for fastmixture2, and its truth Q."""

    def __init__(self, prefix, work: Path):
        self.prefix = Path(prefix)
        work.mkdir(parents=True, exist_ok=True)
        self.genotypes = peers.load(prefix)
        self.keep = peers.polymorphic(self.genotypes)
        self.kept = self.genotypes.select_snps(self.keep)
        self.fm2_prefix = self.prefix
        if len(self.keep) < self.genotypes.n_snps:
            self.fm2_prefix = work / f"{self.prefix.name}.polymorphic"
            write_bed(self.fm2_prefix, self.kept)
        truth = Path(f"{prefix}.truth.Q")
        self.truth = read_q(truth, self.genotypes.n_samples) if truth.is_file() else None
        self.work = work

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
            return None  # no truth, or another K than the truth's
        return rmse_q(q, self.truth)


def _ours(out, k):
    return out / f"fit.{k}.Q", out / f"fit.{k}.P"


def _fit_seconds(out) -> float:
    return read_timing(timing_path(out, "fit")).fit_seconds


def _fmt_rmse(value) -> str:
    return "" if value is None else f"{value:.4f}"


def speed(cohort: Cohort, k, threads, repeats, seed) -> str:
    work = cohort.work
    tools = {
        "neuradmix train": lambda: _train(cohort.prefix, [k], threads, seed, work / "neural"),
        "neuradmix train --polish": lambda: _train(
            cohort.prefix, [k], threads, seed, work / "polish", "--polish"
        ),
        "fastmixture2": lambda: peers.fastmixture2(
            cohort.fm2_prefix, k, threads, seed, work / "fm2"
        ),
    }
    names = list(tools)
    runs = {name: [] for name in names}
    fits = {name: [] for name in names}
    for repeat in range(repeats):
        order = names[repeat % 3 :] + names[: repeat % 3]
        for name in order:
            run = peers.measure(tools[name]())
            runs[name].append(run)
            if name.startswith("neuradmix"):
                out = work / ("polish" if "polish" in name else "neural")
                fits[name].append(_fit_seconds(out))
            print(f"  {name}: {run.wall_seconds:.2f} s, {run.peak_rss_mib:.0f} MiB", flush=True)
    em_run = peers.measure(_em(cohort.prefix, k, threads, seed, work / "em"))
    print(f"  neuradmix em: {em_run.wall_seconds:.2f} s", flush=True)
    outputs = {
        "neuradmix train": _ours(work / "neural", k),
        "neuradmix train --polish": _ours(work / "polish", k),
        "fastmixture2": peers.fastmixture2_outputs(work / "fm2", k, seed),
        "neuradmix em (reference)": _ours(work / "em", k),
    }
    runs["neuradmix em (reference)"] = [em_run]
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
                     f"{lls[name]:,.3f}", f"{gap:.1e}", _fmt_rmse(rmses[name])])  # fmt: skip
    matrix_mib = cohort.genotypes.n_samples * cohort.genotypes.n_snps / 2**20
    fm2 = wall["fastmixture2"]
    polished_vs_fm2 = (lls["neuradmix train --polish"] - lls["fastmixture2"]) / abs(
        lls["fastmixture2"]
    )
    text = [
        f"### {cohort.title}, K={k}, {threads} threads, seed {seed}",
        "",
        peers.table(header, rows),
        "",
        f"- optimum: {best} ({optimum:,.3f}); gap = (optimum - LL) / |optimum|",
        f"- wall ratio neuradmix train / fastmixture2: **{wall['neuradmix train'] / fm2:.3f}**; "
        f"train --polish / fastmixture2: **{wall['neuradmix train --polish'] / fm2:.3f}**",
        f"- train --polish relative to fastmixture2's log-likelihood: "
        f"**{polished_vs_fm2:+.2e}** (positive: higher)",
        f"- peak RSS of neuradmix train: {rss['neuradmix train']:.0f} MiB = "
        f"**{rss['neuradmix train'] / matrix_mib:.2f}x** the N x M uint8 genotype matrix "
        f"({matrix_mib:.0f} MiB)",
    ]
    if cohort.truth is not None:
        text.append(
            f"- RMSE(Q) of neuradmix train / RMSE(Q) of the optimum: "
            f"**{rmses['neuradmix train'] / rmses[best]:.3f}**"
        )
    return "\n".join(text)


def multihead(cohort: Cohort, low, high, threads, seed) -> str:
    work = cohort.work
    ks = list(range(low, high + 1))
    ours = peers.measure(_train(cohort.prefix, ks, threads, seed, work / "multihead"))
    print(f"  neuradmix train K={low}..{high}: {ours.wall_seconds:.2f} s", flush=True)
    rows, fm2_total, worst = [], 0.0, 0.0
    for k in ks:
        fm2 = peers.measure(
            peers.fastmixture2(cohort.fm2_prefix, k, threads, seed, work / "mh_fm2")
        )
        fm2_total += fm2.wall_seconds
        em = peers.measure(_em(cohort.prefix, k, threads, seed, work / "mh_em"))
        ll_fm2 = cohort.score(*peers.fastmixture2_outputs(work / "mh_fm2", k, seed))
        ll_em = cohort.score(*_ours(work / "mh_em", k))
        ll_ours = cohort.score(*_ours(work / "multihead", k))
        optimum = max(ll_fm2, ll_em, ll_ours)
        gap = (optimum - ll_ours) / abs(optimum)
        worst = max(worst, gap)
        rmse_ours = cohort.rmse(work / "multihead" / f"fit.{k}.Q")
        rmse_em = cohort.rmse(work / "mh_em" / f"fit.{k}.Q")
        print(f"  K={k}: fastmixture2 {fm2.wall_seconds:.2f} s, em {em.wall_seconds:.2f} s, "
              f"head gap {gap:.1e}", flush=True)  # fmt: skip
        rows.append([k, f"{ll_ours:,.3f}", f"{ll_fm2:,.3f}", f"{ll_em:,.3f}", f"{gap:.1e}",
                     _fmt_rmse(rmse_ours), _fmt_rmse(rmse_em),
                     f"{fm2.wall_seconds:.2f}"])  # fmt: skip
    header = ["K", "neural head LL", "fastmixture2 LL", "em LL", "head gap to optimum",
              "RMSE(Q) head", "RMSE(Q) em", "fastmixture2 s"]  # fmt: skip
    return "\n".join(
        [
            f"### Multi-head K={low}..{high} on {cohort.title}, {threads} threads, seed {seed}",
            "",
            peers.table(header, rows),
            "",
            f"- one multi-head neuradmix train (whole process): **{ours.wall_seconds:.2f} s**, "
            f"peak RSS {ours.peak_rss_mib:.0f} MiB; fastmixture2 once per K: "
            f"**{fm2_total:.2f} s** in all (ratio {ours.wall_seconds / fm2_total:.3f})",
            f"- largest head gap: **{worst:.1e}**",
        ]
    )


def seeds(cohort: Cohort, k, threads, n_seeds) -> str:
    work = cohort.work
    neural, em, rmses = [], [], []
    for seed in range(1, n_seeds + 1):
        out = work / f"seed{seed}"
        run = peers.measure(_train(cohort.prefix, [k], threads, seed, out))
        neural.append(cohort.score(*_ours(out, k)))
        rmses.append(cohort.rmse(out / f"fit.{k}.Q"))
        peers.measure(_em(cohort.prefix, k, threads, seed, work / f"em{seed}"))
        em.append(cohort.score(*_ours(work / f"em{seed}", k)))
        print(f"  seed {seed}: neural {neural[-1]:,.3f} ({run.wall_seconds:.2f} s)  "
              f"em {em[-1]:,.3f}", flush=True)  # fmt: skip
    optimum = max(neural + em)
    rows = [
        [seed, f"{a:,.3f}", f"{(optimum - a) / abs(optimum):.1e}", f"{b:,.3f}", _fmt_rmse(r)]
        for seed, a, b, r in zip(range(1, n_seeds + 1), neural, em, rmses, strict=True)
    ]
    spread = (max(neural) - min(neural)) / abs(optimum)
    em_rmse = cohort.rmse(work / f"em{int(np.argmax(em)) + 1}" / f"fit.{k}.Q")
    text = [
        f"### {cohort.title}, K={k}, {n_seeds} seeds, {threads} threads",
        "",
        peers.table(["seed", "neural LL", "neural gap", "em LL", "neural RMSE(Q)"], rows),
        "",
        f"- spread of the neural log-likelihood across seeds (relative): **{spread:.1e}**",
        f"- largest neural gap to the best fit found: "
        f"**{(optimum - min(neural)) / abs(optimum):.1e}**",
    ]
    if em_rmse is not None:
        text.append(f"- RMSE(Q) of the best em fit: {em_rmse:.4f}")
    return "\n".join(text)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cohort", help="PLINK prefix of the speed cohort")
    parser.add_argument("--k", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--multihead", type=int, nargs=2, metavar=("LOW", "HIGH"))
    parser.add_argument("--seeds-cohort", action="append", default=[], metavar="PREFIX:K")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", help="also write the Markdown here")
    args = parser.parse_args(argv)
    if not args.cohort and not args.seeds_cohort:
        parser.error("give --cohort and/or --seeds-cohort")
    sections = [f"Machine: {peers.machine()}"]
    with tempfile.TemporaryDirectory() as tmp:
        if args.cohort:
            cohort = Cohort(args.cohort, Path(tmp) / "main")
            print(f"speed: {args.cohort}", flush=True)
            sections.append(speed(cohort, args.k, args.threads, args.repeats, args.seed))
            if args.multihead:
                print(f"multi-head: {args.cohort}", flush=True)
                low, high = args.multihead
                sections.append(multihead(cohort, low, high, args.threads, args.seed))
        for i, item in enumerate(args.seeds_cohort):
            prefix, _, k = item.rpartition(":")
            if not prefix or not k.isdigit():
                parser.error(f"--seeds-cohort {item}: give PREFIX:K")
            cohort = Cohort(prefix, Path(tmp) / f"seeds{i}")
            print(f"seeds: {prefix} K={k}", flush=True)
            sections.append(seeds(cohort, int(k), args.threads, args.seeds))
    text = "\n\n".join(sections) + "\n"
    print(text)
    if args.out:
        Path(args.out).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
