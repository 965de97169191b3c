"""EM speed against fastmixture on a planted PSD cohort (not run in CI).

    python benchmarks/em_speed.py                       # N=2000, M=100,000, K=5, our EM only
    python benchmarks/em_speed.py --with-fastmixture    # also fastmixture 1.3 (about 11 min)
    python benchmarks/em_speed.py --n 1000 --m 20000 --with-fastmixture --with-neural

Both tools get the same thread count and the same PLINK fileset. Reports wall time, iterations
and the final log-likelihood of each (scored by the same kernel on the matrices each tool
returns), one JSON object per line on stdout; ``--out FILE`` also writes them to a TSV.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from neuradmix.classic import em
from neuradmix.classic import tools as baselines
from neuradmix.classic.likelihood import log_likelihood
from neuradmix.data import write_bed
from neuradmix.runtime import set_threads
from neuradmix.simulation.psd import simulate_psd


def _pass_seconds(genotypes, k: int, repeats: int = 3) -> float:
    """Wall time of one fused EM pass (best of ``repeats``, after a warm-up)."""
    engine = em._NumbaEngine(genotypes.calls, k)
    import torch

    rng = np.random.default_rng(0)
    q = torch.from_numpy(rng.dirichlet(np.ones(k), size=genotypes.n_samples))
    ft = torch.from_numpy(rng.uniform(0.1, 0.9, size=(k, genotypes.n_snps)))
    engine.em_pass(q, ft, True)
    best = np.inf
    for _ in range(repeats):
        start = time.perf_counter()
        engine.em_pass(q, ft, True)
        best = min(best, time.perf_counter() - start)
    return best


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--m", type=int, default=100_000)
    parser.add_argument("--k", type=int, default=5)
    parser.add_argument("--fst", type=float, default=0.1)
    parser.add_argument("--alpha", type=float, default=0.5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--seed", type=int, default=1, help="cohort and fit seed (1: the cohort of train_speed.py)"
    )
    parser.add_argument("--tol", type=float, default=em.DEFAULT_TOL)
    parser.add_argument("--with-fastmixture", action="store_true")
    parser.add_argument("--with-neural", action="store_true", help="neural train + polish")
    parser.add_argument("--neural-epochs", type=int, default=None)
    parser.add_argument("--out", help="TSV of the results")
    args = parser.parse_args(argv)
    set_threads(args.threads)

    cohort = simulate_psd(args.n, args.m, args.k, fst=args.fst, alpha=args.alpha, seed=args.seed)
    genotypes = cohort.genotypes
    polymorphic = np.flatnonzero(genotypes.calls.min(axis=0) < genotypes.calls.max(axis=0))
    genotypes = genotypes.select_snps(polymorphic)  # fastmixture refuses monomorphic SNPs
    calls = genotypes.calls
    rows = []

    def report(row):
        row = {"n": genotypes.n_samples, "m": genotypes.n_snps, "k": args.k,
               "threads": args.threads, **row}  # fmt: skip
        rows.append(row)
        print(json.dumps(row), flush=True)

    report({"method": "truth", "log_likelihood": log_likelihood(calls, cohort.q, cohort.p)})
    report({"method": "one_em_pass", "wall_seconds": _pass_seconds(genotypes, args.k)})

    timeline = []  # (seconds since start, log-likelihood) at the start of every iteration
    start = time.perf_counter()
    fit = em.fit(
        genotypes,
        args.k,
        seed=args.seed,
        tol=args.tol,
        progress=lambda _, loglik: timeline.append((time.perf_counter() - start, loglik)),
    )
    final = fit.log_likelihood
    near_final = next((t for t, ll in timeline if ll >= final - 1e-5 * abs(final)), None)
    report({"method": "em", "wall_seconds": fit.seconds, "iterations": fit.iterations,
            "em_passes": fit.em_passes, "log_likelihood": final,
            "seconds_to_within_1e-5_of_final": near_final})  # fmt: skip

    if args.with_neural:
        from neuradmix.neural.config import TrainConfig
        from neuradmix.neural.train import train

        options = {"ks": [args.k], "seed": args.seed, "device": "cpu"}
        if args.neural_epochs:
            options["epochs"] = args.neural_epochs
        start = time.perf_counter()
        neural = train(genotypes, TrainConfig(**options), labels=None, init_p=None, progress=False)
        trained = time.perf_counter() - start
        polished = em.polish(genotypes, neural.q[args.k], neural.p[args.k], tol=args.tol)
        report({"method": "neural+polish", "wall_seconds": trained + polished.seconds,
                "train_seconds": trained, "polish_seconds": polished.seconds,
                "iterations": polished.iterations, "em_passes": polished.em_passes,
                "neural_log_likelihood": log_likelihood(calls, neural.q[args.k],
                                                        neural.p[args.k]),
                "log_likelihood": polished.log_likelihood})  # fmt: skip

    if args.with_fastmixture:
        with tempfile.TemporaryDirectory() as tmp:
            write_bed(Path(tmp) / "cohort", genotypes)
            result = baselines.run_fastmixture(
                Path(tmp) / "cohort.bed",
                args.k,
                threads=args.threads,
                seed=args.seed,
                genotypes=genotypes,
            )
        exact = log_likelihood(calls, result.q, result.p)
        report({"method": "fastmixture", "wall_seconds": result.wall_seconds,
                "log_likelihood": exact,
                "reported_log_likelihood": result.tool_log_likelihood})  # fmt: skip
        relative = (fit.log_likelihood - exact) / abs(exact)
        # When our EM first came within 1e-5 (relative) of fastmixture's final log-likelihood.
        reached = next((t for t, ll in timeline if ll >= exact - 1e-5 * abs(exact)), None)
        report({"method": "em_vs_fastmixture", "relative_loglik_gain": relative,
                "time_ratio": fit.seconds / result.wall_seconds,
                "em_seconds_to_within_1e-5": reached})  # fmt: skip

    if args.out:
        columns = sorted({key for row in rows for key in row})
        with open(args.out, "w") as handle:
            handle.write("\t".join(columns) + "\n")
            for row in rows:
                handle.write("\t".join(str(row.get(c, "NA")) for c in columns) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
