"""`neuradmix em` against fastmixture2 2.0.4 and ADAMIXTURE 1.8.8 on a suite of cohorts, side by
side in one run, with the ablation of its acceleration (not run in CI).

    python benchmarks/cohorts.py coalescent --out benchmarks/data/coalescent
    python benchmarks/cohorts.py small-1kg --out benchmarks/data/small-1kg
    python benchmarks/cohorts.py ridge --out benchmarks/data/ridge-dense
    plink2 --bfile benchmarks/data/ridge-dense/ridge --indep-pairwise 50 5 0.1 \\
        --out benchmarks/data/ridge-dense/prune
    plink2 --bfile benchmarks/data/ridge-dense/ridge \\
        --extract benchmarks/data/ridge-dense/prune.prune.in --make-bed \\
        --out benchmarks/data/ridge/ridge
    python benchmarks/cohorts.py ridge --seed 2 --name ridge2 --out benchmarks/data/ridge2-dense
    plink2 --bfile benchmarks/data/ridge2-dense/ridge2 --indep-pairwise 50 5 0.1 \\
        --out benchmarks/data/ridge2-dense/prune
    plink2 --bfile benchmarks/data/ridge2-dense/ridge2 \\
        --extract benchmarks/data/ridge2-dense/prune.prune.in --make-bed \\
        --out benchmarks/data/ridge2/ridge2
    python benchmarks/classic_suite.py \\
        --cohort coalescent=benchmarks/data/coalescent/coalescent:4 \\
        --cohort ridge=benchmarks/data/ridge/ridge:4,5 \\
        --cohort ridge2=benchmarks/data/ridge2/ridge2:4,5 \\
        --cohort small-1kg=benchmarks/data/small-1kg/small-1kg:5 \\
        --psd 1000x50000:5 --seeds 1,2,3 --threads 2 --out suite.md

Cohorts: ``coalescent`` (2,000 x 100,000, K=4 = its sources); ``ridge`` (three sources of
stdpopsim's AmericanAdmixture_4B18 plus admixed mosaics, 1,000 x ~15,600 after plink2
``--indep-pairwise``, fitted at K=4 and 5, one and two above the sources: the likelihood has the
ridges and nearby modes that real genotypes have); ``ridge2`` (the same preset drawn with
``--seed 2``: other modes; at K=5 single fits of every tool end up to 3e-6 apart);
``small-1kg`` (105 x 8,450 with monomorphic SNPs); a PSD cohort (``--psd NxM:K``, Dirichlet(0.5)
Q, F_ST 0.1, 0.5% missing calls, drawn here).

For every cohort, K and seed each tool runs once as its own process (the order rotates between
seeds), with the same thread count and seed: times are whole processes (interpreter start-up,
reading the .bed, fitting and writing .Q/.P). Every tool's written .Q/.P is scored by one
kernel (our log-likelihood with P bounded to [1e-5, 1 - 1e-5] as written) on the polymorphic
SNPs (fastmixture2 refuses monomorphic ones and gets a fileset without them). "below best" is
the relative gap to the best log-likelihood any run reached on that cohort and K.

The ablation runs ``em --acceleration sor`` and ``--acceleration none`` with the first seed:
the same fit without the quasi-Newton extrapolation. What em does about saddle points (forward
jumps, the check at the stop) has its own ablation, ``benchmarks/saddles.py``; an em fit that left
a saddle says so in the detail column.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import peers  # noqa: E402

from neuradmix.classic.tools import adamixture_counts_other_allele  # noqa: E402
from neuradmix.data import write_bed  # noqa: E402
from neuradmix.simulation.psd import simulate_psd  # noqa: E402

TOOLS = ("neuradmix em", "fastmixture2", "adamixture")
ABLATION = ("sor", "none")


def _em(prefix, k, threads, seed, out, acceleration="quasi-newton"):
    return peers.neuradmix("em", f"{prefix}.bed", "--k", k, "--threads", threads, "--seed", seed,
                           "--out", out, "--name", "fit", "--quiet",
                           "--acceleration", acceleration)  # fmt: skip


def _adamixture(prefix, k, threads, seed, out):
    return [peers.tool("adamixture"), "-k", str(k), "--data_path", f"{prefix}.bed", "--save_dir",
            str(out), "--name", "fit", "-t", str(threads), "-s", str(seed),
            "--chrom_mode", "all"]  # fmt: skip


def _passes(stdout: str) -> str:
    for line in stdout.splitlines():
        if "passes over the genotypes" in line:
            return line.split("(")[1].split(" passes")[0]
    return ""


def _stop_rule(stdout: str) -> str:
    for line in stdout.splitlines():
        if line.startswith("Loglikelihood:") and "(" in line:
            rule = line.split("(", 1)[1].rstrip(")")
            return {"to come": "tolerance", "no step": "no ascent"}.get(
                next((key for key in ("to come", "no step") if key in rule), ""), rule
            )
    return ""


class Cohort:
    """A cohort's fileset, its polymorphic SNPs and a fileset of those for fastmixture2."""

    def __init__(self, name: str, prefix: Path, ks: list[int], work: Path):
        self.name, self.prefix, self.ks = name, prefix, ks
        self.genotypes, self.keep, self.kept, self.polymorphic_prefix = peers.polymorphic_fileset(
            prefix, work
        )

    def score(self, q_path: Path, p_path: Path, flip: bool = False) -> float:
        """Log-likelihood on the polymorphic SNPs; ``flip``: the .P counts the other allele
        (ADAMIXTURE's, in some cohorts)."""
        p = np.loadtxt(p_path, ndmin=2)
        if p.shape[0] == self.genotypes.n_snps and len(self.keep) != p.shape[0]:
            p = p[self.keep]
        kept_p = q_path.with_name(q_path.name + ".kept.P")
        np.savetxt(kept_p, 1.0 - p if flip else p, fmt="%.6f")
        return peers.score(self.kept, q_path, kept_p)


def run_tool(cohort: Cohort, tool: str, k: int, seed: int, threads: int, work: Path, **em):
    out = work / f"{cohort.name}.K{k}.s{seed}.{tool.replace(' ', '_')}{em.get('acceleration', '')}"
    if tool == "neuradmix em":
        run = peers.measure(_em(cohort.prefix, k, threads, seed, out, **em))
        ll = cohort.score(out / f"fit.{k}.Q", out / f"fit.{k}.P")
        detail = f"{_passes(run.stdout)} passes, stopped by {_stop_rule(run.stdout)}"
        if "saddle point" in run.stdout:
            detail += ", " + run.stdout.split("; left ", 1)[1].split(" it had")[0] + " left"
    elif tool == "fastmixture2":
        run = peers.measure(peers.fastmixture2(cohort.polymorphic_prefix, k, threads, seed, out))
        ll = cohort.score(*peers.fastmixture2_outputs(out, k, seed))
        detail = ""
    else:
        run = peers.measure(_adamixture(cohort.polymorphic_prefix, k, threads, seed, out))
        flip = adamixture_counts_other_allele(cohort.kept)
        ll = cohort.score(out / f"fit.{k}.Q", out / f"fit.{k}.P", flip=flip)
        detail = "its time includes the PNG plot it always draws"
    print(f"  {cohort.name} K={k} seed {seed} {tool}{' ' + em.get('acceleration', '')}: "
          f"{run.wall_seconds:.2f} s, {ll:,.3f} {detail}", flush=True)  # fmt: skip
    return run.wall_seconds, ll, detail


def suite(cohort: Cohort, k: int, seeds: list[int], threads: int, work: Path) -> str:
    results = {tool: [] for tool in TOOLS}
    for index, seed in enumerate(seeds):
        order = list(TOOLS[index % len(TOOLS) :] + TOOLS[: index % len(TOOLS)])
        for tool in order:
            results[tool].append((seed, *run_tool(cohort, tool, k, seed, threads, work)))
    ablation = {
        mode: run_tool(cohort, "neuradmix em", k, seeds[0], threads, work, acceleration=mode)
        for mode in ABLATION
    }
    best = max(ll for rows in results.values() for _, _, ll, _ in rows)
    best = max(best, *(ll for _, ll, _ in ablation.values()))

    def gap(ll):
        return f"{(best - ll) / abs(best):.1e}"

    rows = []
    for tool, runs in results.items():
        for seed, wall, ll, detail in runs:
            rows.append([tool, seed, f"{wall:.2f}", f"{ll:,.3f}", gap(ll), detail])
    for mode, (wall, ll, detail) in ablation.items():
        rows.append([f"em --acceleration {mode}", seeds[0], f"{wall:.2f}", f"{ll:,.3f}", gap(ll),
                     detail])  # fmt: skip
    median = {tool: peers.median(w for _, w, _, _ in runs) for tool, runs in results.items()}
    ours, fm2 = results["neuradmix em"], results["fastmixture2"]
    best_em, best_fm2 = max(ll for *_, ll, _ in ours), max(ll for *_, ll, _ in fm2)
    paired = [
        (a[2] - b[2]) / abs(b[2]) for a, b in zip(ours, fm2, strict=True)
    ]  # same seed, em relative to fastmixture2
    g = cohort.genotypes
    text = [
        f"### {cohort.name}: {g.n_samples} x {g.n_snps} SNPs ({cohort.kept.n_snps} polymorphic), "
        f"K={k}, {threads} threads, seeds {', '.join(map(str, seeds))}",
        "",
        peers.table(["tool", "seed", "wall s", "log-likelihood", "below best", "detail"], rows),
        "",
        f"- median wall: em {median['neuradmix em']:.2f} s, fastmixture2 "
        f"{median['fastmixture2']:.2f} s, ADAMIXTURE {median['adamixture']:.2f} s; "
        f"ratio em / fastmixture2 **{median['neuradmix em'] / median['fastmixture2']:.2f}**",
        f"- em relative to fastmixture2, same seed: "
        f"{', '.join(f'{x:+.1e}' for x in paired)}; best em relative to best fastmixture2 "
        f"**{(best_em - best_fm2) / abs(best_fm2):+.1e}**",
    ]
    return "\n".join(text)


def parse_cohort(text: str) -> tuple[str, Path, list[int]]:
    name, rest = text.split("=", 1)
    prefix, ks = rest.rsplit(":", 1)
    return name, Path(prefix), [int(k) for k in ks.split(",")]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cohort", action="append", default=[], metavar="NAME=PREFIX:K[,K]")
    parser.add_argument("--psd", metavar="NxM:K", help="also a PSD cohort drawn here")
    parser.add_argument("--seeds", default="1,2,3")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", help="also write the Markdown here")
    args = parser.parse_args(argv)
    seeds = [int(s) for s in args.seeds.split(",")]
    sections = [f"Machine: {peers.machine()}", ""]
    with tempfile.TemporaryDirectory(prefix="classic-suite-") as tmp:
        work = Path(tmp)
        cohorts = [parse_cohort(c) for c in args.cohort]
        if args.psd:
            shape, k = args.psd.split(":")
            n, m = (int(x) for x in shape.split("x"))
            drawn = simulate_psd(n, m, int(k), fst=0.1, alpha=0.5, missing_rate=0.005, seed=7)
            write_bed(work / "psd", drawn.genotypes)
            cohorts.append(("psd", work / "psd", [int(k)]))
        for name, prefix, ks in cohorts:
            cohort = Cohort(name, prefix, ks, work)
            for k in ks:
                sections += [suite(cohort, k, seeds, args.threads, work), ""]
                if args.out:
                    Path(args.out).write_text("\n".join(sections))
    print("\n".join(sections))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
