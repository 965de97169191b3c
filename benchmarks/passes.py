"""Time of one pass over the genotypes, in process (not run in CI): the frequency pass that only
scores the log-likelihood, the one that also takes a Newton step of every SNP's F, and the
ancestry pass (every sample's gradient and Hessian in q). Every fit is a sequence of these: a
block-relaxation step of ``neuradmix em`` is one frequency pass with a Newton step and one
ancestry pass, and so is an epoch of ``neuradmix train`` beside its encoder's steps.

    python benchmarks/passes.py --bed benchmarks/data/coalescent/coalescent.bed --k 4 8 \\
        --threads 2 [--q FIT.4.Q --p FIT.4.P]

Q and F are the given fit's (one K), else Q ~ Dirichlet(1) and the least-squares F given it.
Each figure is the fastest of ``--repeats`` calls after one that is not counted (it loads or
compiles the kernels); reading the genotypes is not timed. Prints Markdown.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from neuradmix.classic.starts import frequencies_given_q
from neuradmix.compute.bounds import project_f
from neuradmix.compute.numba_engine import NumbaEngine
from neuradmix.data import read_bed, read_p, read_q
from neuradmix.runtime import set_threads


def fastest(repeats: int, call, *args) -> float:
    call(*args)
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        call(*args)
        times.append(time.perf_counter() - started)
    return min(times)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bed", required=True)
    parser.add_argument("--k", type=int, nargs="+", default=[4])
    parser.add_argument("--q", help="a fit's .Q (with --p; --k is then its columns)")
    parser.add_argument("--p", help="a fit's .P")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    set_threads(args.threads)
    genotypes = read_bed(args.bed)
    engine = NumbaEngine(genotypes)
    n, m = genotypes.n_samples, genotypes.n_snps
    print(f"{args.bed}: {n} samples x {m} SNPs, {args.threads} threads, fastest of {args.repeats}")
    print()
    print("| K | log-likelihood pass s | with F's Newton step s | ancestry pass s | ns per call |")
    print("|---|---|---|---|---|")
    rng = np.random.default_rng(args.seed)
    for k in [0] if args.q and args.p else args.k:
        if args.q and args.p:
            q, f = read_q(args.q, n), read_p(args.p, m)
        else:
            q = rng.dirichlet(np.ones(k), size=n)
            f = project_f(frequencies_given_q(genotypes, q))
        scoring = fastest(args.repeats, engine.frequencies, q, f, 0)
        newton = fastest(args.repeats, engine.frequencies, q, f, 1)
        ancestry = fastest(args.repeats, engine.ancestry_model, q, f)
        per_call = (newton + ancestry) / (n * m) * 1e9
        print(f"| {q.shape[1]} | {scoring:.3f} | {newton:.3f} | {ancestry:.3f} | {per_call:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
