"""How long `neuradmix simulate` takes for 2,000 descendants over 100,000 SNPs.

    python benchmarks/simulate_speed.py [--descendants-per-ancestry 400] [--snps 100000]

Founders are generated here (random phased haplotypes, five populations, one 150 Mb chromosome
at 1.2 cM/Mb), so nothing is read from disk. Times the simulation itself (lineage tracing,
founder draws, truth Q, segment table and genotype painting) after a small warm-up run that
compiles the numba kernel, then writing the descendants as BED and as bgzipped VCF.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from neuradmix.data import write_bed
from neuradmix.data.vcf import write_vcf
from neuradmix.simulation.descendants import FounderPanel, simulate


def synthetic_panel(n_founders: int, n_snps: int, n_pops: int, seed: int) -> FounderPanel:
    rng = np.random.default_rng(seed)
    positions = np.sort(rng.choice(np.arange(1, 150_000_000), n_snps, replace=False))
    variants = pd.DataFrame(
        {
            "chrom": "1",
            "pos": positions,
            "snp": [f"1:{p}" for p in positions],
            "ref": "A",
            "alt": "G",
            "cm": positions / 1e6 * 1.2,
        }
    )
    haplotypes = rng.integers(0, 2, size=(2 * n_founders, n_snps), dtype=np.uint8)
    populations = np.array([f"pop{i % n_pops + 1}" for i in range(n_founders)], dtype=object)
    return FounderPanel(haplotypes, [f"F{i}" for i in range(n_founders)], populations, variants)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--descendants-per-ancestry", type=int, default=400)
    parser.add_argument("--populations", type=int, default=5)
    parser.add_argument("--founders", type=int, default=500)
    parser.add_argument("--snps", type=int, default=100_000)
    parser.add_argument("--generations", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-vcf", action="store_true", help="do not time the VCF writer")
    args = parser.parse_args()

    panel = synthetic_panel(args.founders, args.snps, args.populations, seed=0)
    simulate(panel, n_admixed_per_ancestry=2, generations=args.generations, seed=0)  # compile
    times = []
    for repeat in range(args.repeats):
        start = time.perf_counter()
        sim = simulate(
            panel,
            n_admixed_per_ancestry=args.descendants_per_ancestry,
            generations=args.generations,
            seed=repeat + 1,
        )
        times.append(time.perf_counter() - start)
    n = len(sim.sample_ids)
    print(
        f"simulate: {n} descendants x {args.snps} SNPs, {args.generations} generations, "
        f"{len(sim.segments)} ancestry segments: best {min(times):.2f} s, "
        f"median {np.median(times):.2f} s over {args.repeats} runs"
    )
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        write_bed(Path(tmp) / "sim", sim.genotypes())
        print(f"write BED: {time.perf_counter() - start:.2f} s")
        if not args.skip_vcf:
            start = time.perf_counter()
            write_vcf(
                Path(tmp) / "sim.vcf.gz",
                sim.haplotypes,
                sim.sample_ids,
                sim.variants,
                haplotype_major=True,
            )
            size = (Path(tmp) / "sim.vcf.gz").stat().st_size / 1e6
            print(f"write bgzipped VCF: {time.perf_counter() - start:.2f} s ({size:.0f} MB)")


if __name__ == "__main__":
    main()
