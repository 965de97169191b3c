"""`neuradmix em` against fastmixture2 2.0, side by side in one run (not run in CI).

    python benchmarks/cohorts.py coalescent --out benchmarks/data/coalescent   # once, ~10 min
    python benchmarks/cohorts.py small-1kg --out benchmarks/data/small-1kg      # once, ~1 min
    python benchmarks/classic_vs_fastmixture2.py \\
        --cohort benchmarks/data/coalescent/coalescent --k 4 \\
        --small benchmarks/data/small-1kg/small-1kg --small-k 5 --threads 2 --repeats 3

Part 1 (speed and accuracy): each repeat runs both tools once, in alternating order, with the
same thread count and seed, each as its own process; times are whole processes (interpreter
start-up, reading the .bed, fitting and writing .Q/.P), peak RSS is the process's
``ru_maxrss``. Both tools' written .Q/.P are scored with one kernel (our log-likelihood, P
bounded to [1e-5, 1 - 1e-5] as written) on the SNPs fastmixture2 accepts: it refuses
monomorphic SNPs, so it gets a fileset without them, while we fit the cohort as given. The
memory floor is `neuradmix em` on a 40 x 200 cohort: interpreter, imports and compiled
kernels, which do not grow with the cohort.

Part 2 (robustness): ``--seeds`` fits of the small cohort with seeds 1, 2, ..., by both tools;
the relative spread of our log-likelihoods and the best of each tool.

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

from neuradmix.data import make_genotypes, write_bed  # noqa: E402


def _em(prefix, k, threads, seed, out):
    return peers.neuradmix("em", f"{prefix}.bed", "--k", k, "--threads", threads, "--seed",
                           seed, "--out", out, "--name", "fit", "--quiet")  # fmt: skip


def speed(prefix, k, threads, repeats, seed, work: Path):
    genotypes, keep, kept, fm2_prefix = peers.polymorphic_fileset(prefix, work)
    runs = {"neuradmix em": [], "fastmixture2": []}
    for repeat in range(repeats):
        order = ["neuradmix em", "fastmixture2"]
        if repeat % 2:
            order.reverse()
        for name in order:
            if name == "neuradmix em":
                command = _em(prefix, k, threads, seed, work / "em")
            else:
                command = peers.fastmixture2(fm2_prefix, k, threads, seed, work / "fm2")
            run = peers.measure(command)
            runs[name].append(run)
            print(f"  {name}: {run.wall_seconds:.2f} s, {run.peak_rss_mib:.0f} MiB", flush=True)
    ours_q, ours_p = work / "em" / f"fit.{k}.Q", work / "em" / f"fit.{k}.P"
    p_all = np.loadtxt(ours_p, ndmin=2)
    np.savetxt(work / "em" / "kept.P", p_all[keep], fmt="%.6f")
    ll_ours = peers.score(kept, ours_q, work / "em" / "kept.P")
    ll_fm2 = peers.score(kept, *peers.fastmixture2_outputs(work / "fm2", k, seed))
    # The floor: the same command on a cohort too small to matter.
    tiny = work / "tiny"
    rng = np.random.default_rng(0)
    write_bed(tiny, make_genotypes(rng.integers(0, 3, size=(40, 200)).astype(np.uint8)))
    floor = peers.measure(_em(tiny, 2, threads, seed, work / "tiny_out")).peak_rss_mib
    bed_mib = Path(f"{prefix}.bed").stat().st_size / 2**20
    wall = {name: peers.median(r.wall_seconds for r in rs) for name, rs in runs.items()}
    rss = {name: max(r.peak_rss_mib for r in rs) for name, rs in runs.items()}
    header = ["tool", "wall s (median)", "walls", "peak RSS MiB", "log-likelihood"]
    rows = []
    for name, ll in (("neuradmix em", ll_ours), ("fastmixture2", ll_fm2)):
        walls = ", ".join(f"{r.wall_seconds:.2f}" for r in runs[name])
        rows.append([name, f"{wall[name]:.2f}", walls, f"{rss[name]:.0f}", f"{ll:,.3f}"])
    text = [
        f"### {Path(prefix).name}: {genotypes.n_samples} x {genotypes.n_snps} SNPs "
        f"({kept.n_snps} polymorphic), K={k}, {threads} threads, seed {seed}",
        "",
        peers.table(header, rows),
        "",
        f"- wall ratio em / fastmixture2: **{wall['neuradmix em'] / wall['fastmixture2']:.3f}**",
        f"- log-likelihood, em relative to fastmixture2: "
        f"**{(ll_ours - ll_fm2) / abs(ll_fm2):+.2e}** (positive: em higher)",
        f"- .bed {bed_mib:.1f} MiB; em's peak RSS {rss['neuradmix em']:.0f} MiB, of which "
        f"{floor:.0f} MiB is the floor (em on a 40 x 200 cohort: interpreter, imports, "
        f"compiled kernels), so {rss['neuradmix em'] - floor:.0f} MiB "
        f"({(rss['neuradmix em'] - floor) / bed_mib:.2f}x the .bed) grows with the cohort",
    ]
    return "\n".join(text)


def seeds(prefix, k, threads, n_seeds, work: Path):
    genotypes, keep, kept, fm2_prefix = peers.polymorphic_fileset(prefix, work)
    ours, theirs = [], []
    for seed in range(1, n_seeds + 1):
        out = work / f"seed{seed}"
        peers.measure(_em(prefix, k, threads, seed, out))
        p_all = np.loadtxt(out / f"fit.{k}.P", ndmin=2)
        np.savetxt(out / "kept.P", p_all[keep], fmt="%.6f")
        ours.append(peers.score(kept, out / f"fit.{k}.Q", out / "kept.P"))
        peers.measure(peers.fastmixture2(fm2_prefix, k, threads, seed, work / f"fm2_{seed}"))
        theirs.append(peers.score(kept, *peers.fastmixture2_outputs(work / f"fm2_{seed}", k, seed)))
        print(f"  seed {seed}: em {ours[-1]:,.3f}  fastmixture2 {theirs[-1]:,.3f}", flush=True)
    rows = [
        [seed, f"{a:,.3f}", f"{b:,.3f}"]
        for seed, a, b in zip(range(1, n_seeds + 1), ours, theirs, strict=True)
    ]
    spread = (max(ours) - min(ours)) / abs(max(ours))
    text = [
        f"### {Path(prefix).name}: {genotypes.n_samples} x {genotypes.n_snps} SNPs "
        f"({kept.n_snps} polymorphic), K={k}, {n_seeds} seeds",
        "",
        peers.table(["seed", "neuradmix em", "fastmixture2"], rows),
        "",
        f"- spread of em across seeds (relative): **{spread:.1e}**",
        f"- best em relative to best fastmixture2: "
        f"**{(max(ours) - max(theirs)) / abs(max(theirs)):+.2e}**",
    ]
    return "\n".join(text)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cohort", help="PLINK prefix of the speed cohort")
    parser.add_argument("--k", type=int, default=4)
    parser.add_argument("--small", help="PLINK prefix of the small cohort (seed agreement)")
    parser.add_argument("--small-k", type=int, default=5)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", help="also write the Markdown here")
    args = parser.parse_args(argv)
    if not args.cohort and not args.small:
        parser.error("give --cohort and/or --small")
    sections = [f"Machine: {peers.machine()}"]
    with tempfile.TemporaryDirectory() as tmp:
        if args.cohort:
            print(f"speed: {args.cohort}", flush=True)
            sections.append(
                speed(args.cohort, args.k, args.threads, args.repeats, args.seed, Path(tmp))
            )
        if args.small:
            print(f"seeds: {args.small}", flush=True)
            sections.append(seeds(args.small, args.small_k, args.threads, args.seeds, Path(tmp)))
    text = "\n\n".join(sections) + "\n"
    print(text)
    if args.out:
        Path(args.out).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
