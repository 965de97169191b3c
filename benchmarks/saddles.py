"""Ablation of what `em` does about saddle points: the same fits without either part, with
forward jumps only, and with forward jumps and the check at the stop (not run in CI).

    python benchmarks/saddles.py --cohort ridge=benchmarks/data/ridge/ridge:4,5 \\
        --cohort ridge2=benchmarks/data/ridge2/ridge2:4,5 --seeds 1-10 --threads 2

(the cohorts of ``benchmarks/classic_suite.py``, built by the recipe in its docstring).

Two parts (:mod:`neuradmix.classic.fit`): along a direction the secants say the map expands, the
quasi-Newton jump goes forward instead of back onto the saddle (``_Secants.extrapolate``); and
after such signs of a saddle, a stop by the tolerance is checked for one beside it
(``_saddle_escape``). Switching the check off here means a Ritz value threshold no secant
reaches; switching the forward jumps off makes every jump go to the linearised fixed point.
Saddles are met far more often from some starts than from others: ``--init svd`` shows the check
at work on the ridge cohorts, the default start there meets none.
Times are in-process fitting seconds (after reading the .bed, numba kernels already compiled),
summed over the seeds; passes are over all SNPs, with the start's passes on its SNP subset
counted in whole-cohort passes.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from pathlib import Path

from neuradmix.classic import fit
from neuradmix.classic.defaults import DEFAULT_INIT, STARTS
from neuradmix.runtime import set_threads

sys.path.insert(0, str(Path(__file__).resolve().parent))

from in_process import cohort_fits, seeds_of  # noqa: E402

ARMS = {"neither": (False, False), "forward jumps": (True, False), "both": (True, True)}


def run(genotypes, k: int, seeds: list[int], forward: bool, checked: bool, init: str) -> dict:
    margin, saddle_free = fit.SADDLE_MARGIN, fit.SADDLE_FREE
    fit.SADDLE_FREE = forward
    if not checked:
        fit.SADDLE_MARGIN = math.inf
    try:
        results, seconds = [], 0.0
        for seed in seeds:
            tick = time.perf_counter()
            results.append(fit.fit(genotypes, k, seed=seed, init=init))
            seconds += time.perf_counter() - tick
    finally:
        fit.SADDLE_MARGIN, fit.SADDLE_FREE = margin, saddle_free
    return {
        "seconds": seconds,
        "passes": statistics.median(r.passes + r.start_passes for r in results),
        "lls": [r.log_likelihood for r in results],
        "saddles": sum(r.saddles for r in results),
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cohort", action="append", required=True, metavar="NAME=PREFIX:K[,K]")
    parser.add_argument("--seeds", default="1-10", help="'1-10' or '1,2,3'")
    parser.add_argument("--init", default=DEFAULT_INIT, choices=STARTS, help="em's start")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    set_threads(args.threads)
    seeds = seeds_of(args.seeds)
    columns = ("cohort", "K", "arm", "seconds (sum)", "passes (median)", "best ll", "median ll")
    print("| " + " | ".join((*columns, "saddles left")) + " |")
    print("|---" * (len(columns) + 1) + "|")
    for name, genotypes, k in cohort_fits(args.cohort):
        for arm, (forward, checked) in ARMS.items():
            row = run(genotypes, k, seeds, forward, checked, args.init)
            print(
                f"| {name} | {k} | {arm} | {row['seconds']:.2f} | "
                f"{row['passes']:.1f} | {max(row['lls']):.3f} | "
                f"{statistics.median(row['lls']):.3f} | {row['saddles']} |",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
