"""Build the bundled example cohort in resources/example/ (deterministic; no downloads).

    python resources/make_example.py [--out resources/example]

A coalescent simulation (msprime) of one 20 Mb human-like chromosome under the stdpopsim HomSap
demographic model ``AmericanAdmixture_4B18`` (Browning et al. 2018): African, European and East
Asian populations from an out-of-Africa history, and an American population formed 12 generations
ago by admixture of the three (1/6, 1/3, 1/2), with 75 diploid samples from each.
Recombination follows a genetic map made here: a piecewise-constant rate with log-normal variation
between 10 kb blocks and short hotspots, scaled to 1.2 cM/Mb on average. Only biallelic SNPs with
minor allele frequency >= 5% are kept. See resources/README.md for the resulting sizes.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

import msprime
import numpy as np
import pandas as pd
import stdpopsim

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from neuradmix.data.vcf import write_vcf  # noqa: E402

MODEL = "AmericanAdmixture_4B18"
POPULATIONS = ["AFR", "EUR", "ASIA", "ADMIX"]
SAMPLES_PER_POPULATION = 75
CHROMOSOME = "1"
LENGTH_BP = 20_000_000
MEAN_RATE_CM_PER_MB = 1.2
MIN_MAF = 0.05
MAP_SEED, ANCESTRY_SEED, MUTATION_SEED = 20240501, 20240502, 20240503


def genetic_map(rng: np.random.Generator) -> msprime.RateMap:
    """A realistic-looking recombination map: block-to-block variation plus hotspots."""
    block = 10_000
    edges = np.arange(0, LENGTH_BP + block, block)
    rates = rng.lognormal(mean=0.0, sigma=0.8, size=len(edges) - 1)
    # A recombination-cold stretch, as around centromeres and in gene deserts.
    cold = (edges[:-1] >= 8_000_000) & (edges[:-1] < 9_500_000)
    rates[cold] *= 0.05
    # Hotspots: 2 kb windows about every 100 kb carrying ~40x the local rate.
    n_hot = LENGTH_BP // 100_000
    hot_starts = np.sort(rng.choice(np.arange(1, LENGTH_BP // 2_000 - 1), n_hot, replace=False))
    hot_starts = hot_starts * 2_000
    position = np.unique(np.concatenate([edges, hot_starts, hot_starts + 2_000]))
    rate = rates[np.minimum(position[:-1] // block, len(rates) - 1)]
    is_hot = np.isin(position[:-1], hot_starts)
    rate = np.where(is_hot, rate * 40.0, rate)
    widths = np.diff(position)
    rate *= MEAN_RATE_CM_PER_MB * 1e-8 * LENGTH_BP / float((rate * widths).sum())
    return msprime.RateMap(position=position, rate=rate)


def simulate_cohort():
    species = stdpopsim.get_species("HomSap")
    model = species.get_demographic_model(MODEL)
    rate_map = genetic_map(np.random.default_rng(MAP_SEED))
    ts = msprime.sim_ancestry(
        samples={name: SAMPLES_PER_POPULATION for name in POPULATIONS},
        demography=model.model,
        recombination_rate=rate_map,
        ploidy=2,
        random_seed=ANCESTRY_SEED,
    )
    ts = msprime.sim_mutations(ts, rate=model.mutation_rate, random_seed=MUTATION_SEED)
    return ts, rate_map, model


def biallelic_common_snps(ts):
    """SNP-major haplotypes (0 = REF/ancestral, 1 = ALT) and a variant table."""
    keep_rows, rows = [], []
    for variant in ts.variants():
        alleles = variant.alleles
        if len(alleles) != 2 or any(a is None or len(a) != 1 for a in alleles):
            continue  # multi-allelic (recurrent mutation) sites are dropped
        alt_frequency = variant.genotypes.mean()
        if min(alt_frequency, 1 - alt_frequency) < MIN_MAF:
            continue
        keep_rows.append(variant.genotypes.astype(np.uint8))
        rows.append((int(variant.site.position) + 1, alleles[0], alleles[1]))
    haplotypes = np.stack(keep_rows)
    positions, ref, alt = (list(column) for column in zip(*rows, strict=True))
    if len(set(positions)) != len(positions):
        raise RuntimeError("duplicate SNP positions; discrete-genome mutations should prevent it")
    variants = pd.DataFrame(
        {
            "chrom": CHROMOSOME,
            "pos": positions,
            "snp": [f"{CHROMOSOME}:{p}" for p in positions],
            "ref": ref,
            "alt": alt,
        }
    )
    return haplotypes, variants


def sample_names(ts) -> tuple[list[str], list[str]]:
    names, populations, counters = [], [], {}
    for individual in ts.individuals():
        node = ts.node(individual.nodes[0])
        population = ts.population(node.population).metadata["name"]
        counters[population] = counters.get(population, 0) + 1
        names.append(f"{population}_{counters[population]:03d}")
        populations.append(population)
    return names, populations


def write_map(path: Path, rate_map: msprime.RateMap) -> None:
    """PLINK .map layout (chrom, id, cM, bp) at every rate change; bp is 1-based like VCF POS."""
    breakpoints = rate_map.position
    centimorgans = rate_map.get_cumulative_mass(breakpoints) * 100
    table = pd.DataFrame(
        {
            "chrom": CHROMOSOME,
            "id": ".",
            "cm": np.round(centimorgans, 6),
            "bp": breakpoints.astype(np.int64) + 1,
        }
    )
    table.to_csv(path, sep="\t", header=False, index=False, float_format="%.6f")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(Path(__file__).resolve().parent / "example"))
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    ts, rate_map, model = simulate_cohort()
    haplotypes, variants = biallelic_common_snps(ts)
    names, populations = sample_names(ts)
    write_vcf(
        out / "example.vcf.gz",
        haplotypes,
        names,
        variants,
        source=f"neuradmix resources/make_example.py (msprime, stdpopsim HomSap/{model.id})",
        contig_lengths={CHROMOSOME: LENGTH_BP},
    )
    pd.DataFrame({"sample": names, "population": populations}).to_csv(
        out / "example.pops.tsv", sep="\t", header=False, index=False
    )
    write_map(out / "example.map", rate_map)

    total_cm = rate_map.total_mass * 100
    print(
        f"{len(names)} samples ({', '.join(POPULATIONS)}; {SAMPLES_PER_POPULATION} each), "
        f"{ts.num_sites} sites simulated, {len(variants)} biallelic SNPs with MAF >= {MIN_MAF} "
        f"kept, chromosome {CHROMOSOME}: {LENGTH_BP / 1e6:.0f} Mb, {total_cm:.2f} cM"
    )
    for name in ("example.vcf.gz", "example.pops.tsv", "example.map"):
        digest = hashlib.sha256((out / name).read_bytes()).hexdigest()
        print(f"{digest}  {name}  ({(out / name).stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
