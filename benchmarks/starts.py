"""Ablation of `em`'s start: the same fits from each `--init` (not run in CI).

    python benchmarks/starts.py --cohort ridge=benchmarks/data/ridge/ridge:4,5 \\
        --cohort ridge2=benchmarks/data/ridge2/ridge2:4,5 \\
        --cohort small-1kg=benchmarks/data/small-1kg/small-1kg:5 --seeds 1-8 --threads 2

(the cohorts of ``benchmarks/classic_suite.py``, built by the recipe in its docstring).

Starts (:mod:`neuradmix.classic.starts`): ``pckmeans`` (the default: K-Means clusters on the
leading axes of a randomised SVD of a subset of common SNPs, as hard Q), ``svd`` (those clusters
refined by alternating least squares on the low-rank reconstruction; the default until the
measurement in ``neuradmix/classic/defaults.py``) and ``random`` (Q ~ Dirichlet(1)). Each is
refined on the SNP subset and then on all SNPs by the same iteration, so what differs is where the
fit starts and therefore which local optimum it ends in: on cohorts fitted with K above their
sources several optima lie within about 1e-6 of each other, and the start decides among them.

Times are in-process fitting seconds (after reading the .bed, numba kernels already compiled),
summed over the seeds, the start included; passes are over all SNPs, the start's passes on its
SNP subset counted in whole-cohort passes. "endpoints" counts the distinct log-likelihoods the
seeds ended at (to 0.01 units): 1 means every seed reached the same optimum.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

from neuradmix.classic import fit
from neuradmix.classic.defaults import STARTS
from neuradmix.runtime import set_threads

sys.path.insert(0, str(Path(__file__).resolve().parent))

from in_process import cohort_fits, seeds_of  # noqa: E402


def run(genotypes, k: int, seeds: list[int], init: str) -> dict:
    results, seconds = [], 0.0
    for seed in seeds:
        tick = time.perf_counter()
        results.append(fit.fit(genotypes, k, seed=seed, init=init))
        seconds += time.perf_counter() - tick
    lls = [r.log_likelihood for r in results]
    return {
        "seconds": seconds,
        "passes": statistics.median(r.passes + r.start_passes for r in results),
        "lls": lls,
        "endpoints": len({round(ll, 2) for ll in lls}),
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cohort", action="append", required=True, metavar="NAME=PREFIX:K[,K]")
    parser.add_argument("--seeds", default="1-8", help="'1-8' or '1,2,3'")
    parser.add_argument("--starts", default=",".join(STARTS), help="comma-separated --init values")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    set_threads(args.threads)
    seeds = seeds_of(args.seeds)
    columns = ("cohort", "K", "start", "seconds (sum)", "passes (median)", "best ll", "median ll")
    print("| " + " | ".join((*columns, "endpoints", "per seed")) + " |")
    print("|---" * (len(columns) + 2) + "|")
    for name, genotypes, k in cohort_fits(args.cohort):
        for init in args.starts.split(","):
            row = run(genotypes, k, seeds, init)
            print(
                f"| {name} | {k} | {init} | {row['seconds']:.2f} | "
                f"{row['passes']:.1f} | {max(row['lls']):.3f} | "
                f"{statistics.median(row['lls']):.3f} | {row['endpoints']} | "
                + " ".join(f"{ll:.2f}" for ll in row["lls"])
                + " |",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
