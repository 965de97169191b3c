"""Coverage and cost of `neuradmix em --bootstrap` standard errors (not run in CI).

    python benchmarks/bootstrap_coverage.py                       # PSD cohort, 300 x 4,000, K=3
    python benchmarks/bootstrap_coverage.py --cohort benchmarks/data/coalescent/coalescent --k 4

Fits the cohort twice as separate processes, once plainly and once with ``--bootstrap B``, and
reports (a) the cost of the replicates as a multiple of the plain fit (whole processes:
start-up, reading, fitting, writing) and (b) how often the true Q lies within 2 standard errors
of the estimate: over all entries and over interior entries (truth and estimate above 0.01;
entries pinned at the bound have a one-sided error the symmetric interval does not describe).
The truth is the simulator's Q (``PREFIX.truth.Q`` for a cohort from ``cohorts.py``); fitted
columns are matched to it by the Hungarian method.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import peers  # noqa: E402

from neuradmix.data import read_matrix, write_bed  # noqa: E402
from neuradmix.simulation.psd import simulate_psd  # noqa: E402
from neuradmix.stats.metrics import match_columns  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cohort", help="PLINK prefix with PREFIX.truth.Q (default: simulate)")
    parser.add_argument("--k", type=int, default=3)
    parser.add_argument("--replicates", type=int, default=100)
    parser.add_argument("--block-cm", type=float, default=None, help="--bootstrap-block")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        if args.cohort:
            prefix = args.cohort
            truth = read_matrix(f"{prefix}.truth.Q", "truth Q")
            block = args.block_cm or 5.0
        else:
            # 4,000 SNPs 1 kb apart on one chromosome (4 cM at 1 cM/Mb): 200 blocks of 0.02 cM.
            cohort = simulate_psd(300, 4000, args.k, fst=0.1, alpha=0.3, seed=8)
            prefix = work / "psd"
            write_bed(prefix, cohort.genotypes)
            truth = cohort.q
            block = args.block_cm or 0.02
        common = ["--k", args.k, "--threads", args.threads, "--seed", args.seed, "--quiet"]
        plain = peers.measure(
            peers.neuradmix("em", f"{prefix}.bed", *common, "--out", work / "plain", "--name", "x")
        )
        boot = peers.measure(
            peers.neuradmix(
                "em",
                f"{prefix}.bed",
                *common,
                "--out",
                work / "boot",
                "--name",
                "x",
                "--bootstrap",
                args.replicates,
                "--bootstrap-block",
                block,
            )  # fmt: skip
        )
        q = np.loadtxt(work / "boot" / f"x.{args.k}.Q", ndmin=2)
        se = np.loadtxt(work / "boot" / f"x.{args.k}.Q_se", ndmin=2)
    truth_columns, fit_columns, _ = match_columns(truth, q)
    order = np.empty(args.k, dtype=int)
    order[truth_columns] = fit_columns
    q, se = q[:, order], se[:, order]
    covered = np.abs(q - truth) <= 2 * se
    interior = (truth > 0.01) & (q > 0.01)
    extra = boot.wall_seconds - plain.wall_seconds
    print(f"Machine: {peers.machine()}")
    print(
        peers.table(
            ["run", "wall s", "peak RSS MiB"],
            [
                ["em", f"{plain.wall_seconds:.2f}", f"{plain.peak_rss_mib:.0f}"],
                [
                    f"em --bootstrap {args.replicates}",
                    f"{boot.wall_seconds:.2f}",
                    f"{boot.peak_rss_mib:.0f}",
                ],
            ],
        )
    )
    print(
        f"\n- {args.replicates} replicates cost {extra:.2f} s = {extra / plain.wall_seconds:.2f}x "
        f"the plain fit's process\n"
        f"- true Q within 2 SE: {covered.mean():.1%} of all {covered.size} entries, "
        f"{covered[interior].mean():.1%} of {interior.sum()} interior ones\n"
        f"- median SE {np.median(se):.4f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
