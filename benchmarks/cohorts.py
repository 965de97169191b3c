"""Simulated benchmark cohorts with a known truth Q, written as PLINK 1 binary filesets.

    python benchmarks/cohorts.py COHORT [--out DIR] [--jobs 2] [--verify] [overrides]

COHORT is one of the presets below; every preset parameter can be overridden on the command line
(``--samples-per-pop 100 --snps 20000 ...``, see ``--help``). Nothing is downloaded: the
demographies are stdpopsim's HomSap catalogue models, one of them extended here with msprime's
``Demography`` API (:func:`american_admixture_sas_nat`), simulated with msprime.

Presets
-------
``coalescent``
    The main benchmark: ``PapuansOutOfAfrica_10J19`` (YRI, CEU, CHB, Papuan), 400 unadmixed
    individuals per population plus 400 admixed "mosaics" (2,000 individuals), 100,000 SNPs with
    MAF >= 1% over ten 15 Mb chromosomes, 0.5% missing calls.
``small``
    A 1000 Genomes-like subset: ``AshkSub_7G19`` (YRI, CHB, CEU, ME, WAJ; WAJ is itself a mix of
    Middle-Eastern and European ancestry, so the structure partly overlaps), 21 unadmixed
    individuals per population (105), 8,450 SNPs, 0.2% missing calls. SNPs are ascertained in a
    larger panel of 100 individuals per population and the 105 are a subsample of that panel, so
    some SNPs are monomorphic in the cohort and are kept, as in real data.
``small-1kg``
    A small cohort shaped like a 1000 Genomes subset of the five super-populations, 21
    individuals each (105): ``AmericanAdmixture_4B18_SAS_NAT``, i.e. stdpopsim's
    ``AmericanAdmixture_4B18`` (AFR, EUR, ASIA renamed EAS, ADMIX renamed AMR) plus a
    South-Asian-like SAS split from EUR and an unsampled Native-American-like NAT split from EAS
    that supplies AMR's Asian share, so AMR is an admixed group (about 1/2 NAT, 1/3 EUR, 1/6 AFR,
    12 generations ago). 8,450 SNPs ascertained in 100 per population as for ``small``, 0.2%
    missing calls.
``tiny-coalescent``
    A fast cohort for unit tests: ``OutOfAfrica_3G09`` (YRI, CEU, CHB), 40 per population plus 40
    mosaics, 3,000 SNPs with MAF >= 5%, 1% missing calls.

How a cohort is built
---------------------
1. Each chromosome is simulated separately with msprime (ancestry under the model's demography,
   uniform recombination at ``--cm-per-mb``, then mutations under msprime's default JC69 model
   at the model's mutation rate), from seeds derived from ``--seed``. Chromosomes run in
   ``--jobs`` worker processes; the result does not depend on the number of workers.
2. Per population the simulation draws ``--panel-per-pop`` individuals (the ascertainment panel;
   the cohort's unadmixed individuals are its first ``--samples-per-pop``) and, if mosaics are
   asked for, ``--founders-per-pop`` further individuals that serve only as mosaic founders and
   are never in the cohort.
   For a model with an admixed population (AMR of ``small-1kg``), a census taken right after
   the admixture pulse records every lineage's population at that time; each admixed
   individual's truth Q is the fraction of its genome (both haplotypes, all chromosomes) whose
   census ancestor lies in each source population (``tskit`` ``link_ancestors``).
3. Mosaics are made with :func:`neuradmix.simulation.descendants.simulate` from the founders:
   admixed descendants after ``--generations`` generations with Dirichlet(``--alpha``) source
   mixtures, ``ceil(mosaics / K)`` per dominant ancestry, of which the first ``--mosaics`` are
   kept.
4. SNPs: sites biallelic among all simulated haplotypes whose minor allele frequency, counted in
   the ascertainment panel plus the mosaics, is at least ``--maf``. If more pass than ``--snps``
   they are thinned evenly (every ``n/snps``-th SNP in genome order) to exactly ``--snps``.
5. ``--missing`` of all genotype calls (rounded to a whole number) are set missing, uniformly at
   random without replacement.

Outputs (``OUT/NAME.*``)
------------------------
``.bed/.bim/.fam``
    SNP-major PLINK 1 fileset. Column 5 of the ``.bim`` is the derived (ALT) allele, the one whose
    copies are counted; column 6 the ancestral (REF) allele (for the rare site whose ancestral
    allele was lost, the allele listed first by tskit). Column 3 holds the genetic position in cM
    and SNP IDs are ``CHROM:POS`` (1-based positions).
``.truth.Q`` and ``.truth.Q.columns``
    Exact ancestry, rows in ``.fam`` order, columns in sorted population order (one name per
    line in ``.columns``): one-hot for unadmixed individuals, the simulator's truth Q (fraction
    of genetic length inherited from each population) for mosaics, and for individuals of an
    admixed population the traced fractions from the census (a source population that is not
    sampled counts for the column the model assigns it, e.g. NAT for AMR). Values have six
    decimals and every row sums to exactly 1.
``.labels``
    ``SAMPLE<TAB>POPULATION``; a mosaic is labelled with its dominant ancestry, as
    ``neuradmix simulate`` does, so the label set stays the K populations; an individual of an
    admixed population with that population.
``.pop``
    The same labels in ADMIXTURE's ``.pop`` layout with ``-`` for mosaics and admixed
    populations, for supervised runs in which only unadmixed individuals should be fixed.
``.json``
    Summary: sizes, model, populations, seeds, SNP counts, missing rate, monomorphic SNPs, tool
    versions and the run time.

Rerunning with the same parameters gives byte-identical files, except for the run time fields of
the ``.json`` (``runtime_seconds``).
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import math
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import msprime
import numpy as np
import pandas as pd
import stdpopsim
import tskit

import neuradmix
from neuradmix.data import MISSING, Genotypes, write_bed, write_q
from neuradmix.simulation.descendants import FounderPanel, simulate

MIXED_LABEL = "-"  # ADMIXTURE's unknown label, used for mosaics in the .pop file
SITES_PER_CHUNK = 8192


@dataclass(frozen=True)
class CohortConfig:
    """Every parameter of a cohort; the presets below and the command line fill it."""

    model: str  # stdpopsim HomSap model ID or one of EXTENDED_MODELS
    populations: tuple[str, ...]
    samples_per_pop: int  # cohort individuals per population
    panel_per_pop: int  # ascertainment panel per population (its first samples_per_pop are kept)
    founders_per_pop: int  # extra individuals per population used only as mosaic founders
    mosaics: int  # admixed individuals in the cohort
    generations: int  # generations of admixture of the mosaics
    alpha: float  # Dirichlet concentration of the mosaics' source mixtures
    maf: float  # minimum minor allele frequency in the panel plus the mosaics
    snps: int  # SNPs kept (thinned evenly to this number)
    missing: float  # fraction of genotype calls set missing
    chromosomes: int
    chromosome_mb: float  # length of each chromosome in Mb
    cm_per_mb: float  # uniform recombination rate
    seed: int


OVERRIDE_HELP = {
    "model": "stdpopsim HomSap demographic model ID, or one extended here",
    "populations": "populations of the model to sample",
    "samples_per_pop": "cohort individuals per population",
    "panel_per_pop": "ascertainment panel per population (the cohort is its first part)",
    "founders_per_pop": "extra individuals per population used only as mosaic founders",
    "mosaics": "admixed individuals in the cohort (0: none)",
    "generations": "generations of admixture of the mosaics",
    "alpha": "Dirichlet concentration of the mosaics' source mixtures",
    "maf": "minimum minor allele frequency in the panel plus the mosaics",
    "snps": "SNPs kept (evenly thinned to this number)",
    "missing": "fraction of genotype calls set missing",
    "chromosomes": "number of simulated chromosomes",
    "chromosome_mb": "length of each chromosome in Mb",
    "cm_per_mb": "uniform recombination rate in cM/Mb",
    "seed": "master random seed",
}

PRESETS: dict[str, CohortConfig] = {
    "coalescent": CohortConfig(
        model="PapuansOutOfAfrica_10J19",
        populations=("YRI", "CEU", "CHB", "Papuan"),
        samples_per_pop=400,
        panel_per_pop=400,
        founders_per_pop=100,
        mosaics=400,
        generations=8,
        alpha=1.0,
        maf=0.01,
        snps=100_000,
        missing=0.005,
        chromosomes=10,
        chromosome_mb=15.0,
        cm_per_mb=1.2,
        seed=20_240_401,
    ),
    "small": CohortConfig(
        model="AshkSub_7G19",
        populations=("YRI", "CHB", "CEU", "ME", "WAJ"),
        samples_per_pop=21,
        panel_per_pop=100,
        founders_per_pop=0,
        mosaics=0,
        generations=8,
        alpha=1.0,
        # MAF >= 5% in the 500-individual panel leaves no SNP monomorphic in a 105-individual
        # subsample of the same populations; 0.5% gives the few percent seen in real subsets.
        maf=0.005,
        snps=8_450,
        missing=0.002,
        chromosomes=6,
        chromosome_mb=10.0,
        cm_per_mb=1.2,
        seed=20_240_402,
    ),
    "small-1kg": CohortConfig(
        model="AmericanAdmixture_4B18_SAS_NAT",
        populations=("AFR", "EUR", "EAS", "SAS", "AMR"),
        samples_per_pop=21,
        panel_per_pop=100,
        founders_per_pop=0,
        mosaics=0,
        generations=8,
        alpha=1.0,
        maf=0.005,  # as for "small": a few percent of the SNPs end up monomorphic in the 105
        snps=8_450,
        missing=0.002,
        chromosomes=6,
        chromosome_mb=10.0,
        cm_per_mb=1.2,
        seed=20_240_404,
    ),
    "ridge": CohortConfig(
        # Three sources (AFR, EUR, ASIA of AmericanAdmixture_4B18, the catalogue's current name
        # of the Browning et al. model) plus admixed mosaics; fitted at K = 4 and 5, one and two
        # above the sources, where the likelihood has ridges as real cohorts do. The dense SNPs
        # are LD-thinned afterwards (plink2 --indep-pairwise, see the module docstring).
        model="AmericanAdmixture_4B18",
        populations=("AFR", "EUR", "ASIA"),
        samples_per_pop=250,
        panel_per_pop=250,
        founders_per_pop=60,
        mosaics=250,
        generations=8,
        alpha=1.0,
        maf=0.01,
        snps=60_000,
        missing=0.005,
        chromosomes=10,
        chromosome_mb=20.0,
        cm_per_mb=1.2,
        seed=20_240_405,
    ),
    "tiny-coalescent": CohortConfig(
        model="OutOfAfrica_3G09",
        populations=("YRI", "CEU", "CHB"),
        samples_per_pop=40,
        panel_per_pop=40,
        founders_per_pop=20,
        mosaics=40,
        generations=8,
        alpha=1.0,
        maf=0.05,
        snps=3_000,
        missing=0.01,
        chromosomes=10,
        chromosome_mb=5.0,
        cm_per_mb=1.2,
        seed=20_240_403,
    ),
}


# --------------------------------------------------------------------------------------------
# Demographic models
# --------------------------------------------------------------------------------------------


@dataclass
class Model:
    """A demography to simulate: a stdpopsim HomSap catalogue model, possibly extended here."""

    id: str
    base: str  # the stdpopsim HomSap model it starts from (itself when not extended)
    demography: msprime.Demography
    mutation_rate: float
    generation_time: float  # years
    # Sampled populations formed by an admixture pulse whose truth Q is traced: the census taken
    # right after the pulse, and the truth Q column each population at the census counts for.
    admixed: tuple[str, ...] = ()
    census_time: float | None = None
    truth_columns: dict[str, str] = dataclasses.field(default_factory=dict)
    extension: str = ""  # what was added to the base model


def american_admixture_sas_nat() -> Model:
    """``AmericanAdmixture_4B18`` extended to five 1000 Genomes-like super-populations.

    The base (Browning et al. 2018, PLoS Genet 14:e1007385, on the out-of-Africa model of Gravel
    et al. 2011, PNAS 108:11983; 25-year generations, mutation rate 2.36e-8) has AFR, EUR, ASIA
    and ADMIX, ADMIX founded 12 generations ago from 1/6 AFR, 1/3 EUR and 1/2 ASIA. Here ASIA and
    ADMIX are renamed EAS and AMR; a South-Asian-like SAS splits from EUR; a Native-American-like
    NAT (not sampled) splits from EAS and replaces EAS as AMR's Asian source, with the pulse's
    time and proportions unchanged; and a census right after the pulse lets each AMR
    individual's ancestry be traced. Parameters marked "own choice" were set so that Hudson's
    F_ST on ascertained SNPs is close to 1000 Genomes values: SAS ~0.03 from EUR and ~0.1 from
    EAS, AMR ~0.04-0.1 from the others.
    """
    base = stdpopsim.get_species("HomSap").get_demographic_model("AmericanAdmixture_4B18")
    demography = copy.deepcopy(base.model)
    for old, new in (("ASIA", "EAS"), ("ADMIX", "AMR")):
        population = demography[old]
        population.name = new
        population.extra_metadata = {**population.extra_metadata, "id": new}
    # EUR and EAS become ancestral populations of the splits below but are sampled at time 0.
    demography["EUR"].initially_active = True
    demography["EAS"].initially_active = True

    # SAS: split from EUR 640 generations (16 kya) ago, own choice; it must postdate the base
    # model's EUR-EAS split (920 generations, 23 kya), so a split 25-35 kya ago is not possible
    # on this base. Founded by 3,000 and growing exponentially to 30,000, own choice (the base
    # model's EUR grows from 1,032 to 34,039). Gene flow with EUR (1e-4 per generation) and EAS
    # (5e-5), own choice of the order of the base model's EUR-EAS rate (3.11e-5), places SAS
    # between EUR and EAS as in 1000 Genomes.
    t_sas, n_sas_founders, n_sas = 640, 3_000, 30_000
    demography.add_population(
        name="SAS",
        description="South-Asian-like population (added to AmericanAdmixture_4B18)",
        initial_size=n_sas,
        growth_rate=math.log(n_sas / n_sas_founders) / t_sas,
    )
    demography.set_symmetric_migration_rate(["SAS", "EUR"], 1e-4)
    demography.set_symmetric_migration_rate(["SAS", "EAS"], 5e-5)
    demography.add_population_split(time=t_sas, derived=["SAS"], ancestral="EUR")

    # NAT: split from EAS 700 generations (17.5 kya) ago, own choice, after the 23 kya upper
    # bound for the divergence of Native Americans' ancestors from East Asians (Raghavan et al.
    # 2015, Science 349:aab3884). A strong founder bottleneck, 1,500 growing to 5,000, and no
    # gene flow (own choice) make it the most drifted group, as Native Americans are.
    t_nat, n_nat_founders, n_nat = 700, 1_500, 5_000
    demography.add_population(
        name="NAT",
        description="Native-American-like source of AMR (added; not sampled)",
        initial_size=n_nat,
        growth_rate=math.log(n_nat / n_nat_founders) / t_nat,
    )
    demography.add_population_split(time=t_nat, derived=["NAT"], ancestral="EAS")

    # The base model founds ADMIX with three mass migrations at 12 generations (1/6 to AFR, 2/5
    # of the rest to EUR, the rest to ASIA); replace them by one admixture from AFR, EUR and NAT
    # with the same time and proportions (Browning et al. 2018).
    pulse = [
        e
        for e in demography.events
        if isinstance(e, msprime.MassMigration) and demography[e.source].name == "AMR"
    ]
    if len(pulse) != 3 or len({e.time for e in pulse}) != 1:
        raise RuntimeError("AmericanAdmixture_4B18 no longer has the expected admixture pulse")
    demography.events = [e for e in demography.events if e not in pulse]
    t_admix = pulse[0].time
    demography.add_admixture(
        time=t_admix,
        derived="AMR",
        ancestral=["AFR", "EUR", "NAT"],
        proportions=[1 / 6, 1 / 3, 1 / 2],
    )
    # Events at the same time run in the order added, so the census follows the pulse.
    demography.add_census(time=t_admix)
    demography.sort_events()
    return Model(
        id="AmericanAdmixture_4B18_SAS_NAT",
        base=base.id,
        demography=demography,
        mutation_rate=base.mutation_rate,
        generation_time=base.generation_time,
        admixed=("AMR",),
        census_time=t_admix,
        truth_columns={"AFR": "AFR", "EUR": "EUR", "NAT": "AMR"},
        extension=(
            "ASIA -> EAS, ADMIX -> AMR; SAS split from EUR at 640 gen (3,000 -> 30,000, "
            "m=1e-4 with EUR, 5e-5 with EAS); NAT (unsampled) split from EAS at 700 gen "
            "(1,500 -> 5,000); AMR = admixture of AFR 1/6, EUR 1/3, NAT 1/2 at 12 gen; "
            "census at 12 gen traces AMR ancestry (NAT counts as AMR)"
        ),
    )


EXTENDED_MODELS = {"AmericanAdmixture_4B18_SAS_NAT": american_admixture_sas_nat}


def get_model(model_id: str) -> Model:
    if model_id in EXTENDED_MODELS:
        return EXTENDED_MODELS[model_id]()
    model = stdpopsim.get_species("HomSap").get_demographic_model(model_id)
    return Model(
        id=model_id,
        base=model_id,
        demography=model.model,
        mutation_rate=model.mutation_rate,
        generation_time=model.generation_time,
    )


# --------------------------------------------------------------------------------------------
# Coalescent simulation, one chromosome at a time
# --------------------------------------------------------------------------------------------


@dataclass
class ChromosomeSites:
    """Candidate SNPs of one chromosome, with bit-packed haplotypes (1 = ALT).

    Haplotype columns: the panel's haplotypes population by population (two per individual),
    then the founders' haplotypes in the same order.
    """

    positions: np.ndarray  # 1-based
    ref: np.ndarray
    alt: np.ndarray
    packed: np.ndarray  # sites x ceil(haplotypes / 8), np.packbits along each site
    panel_alt: np.ndarray  # ALT copies in the panel, per site
    inherited: np.ndarray  # panel individuals x truth Q columns: sequence length inherited
    n_sites: int  # all sites msprime placed
    n_biallelic: int


def chromosome_seeds(seed: int, n: int) -> list[tuple[int, int]]:
    """(ancestry, mutation) seeds of each chromosome, derived from the cohort seed."""
    states = np.random.SeedSequence([seed, 1]).generate_state(2 * n, dtype=np.uint32)
    return [(int(states[2 * i]) + 1, int(states[2 * i + 1]) + 1) for i in range(n)]


def simulate_chromosome(config: CohortConfig, seeds: tuple[int, int]) -> ChromosomeSites:
    model = get_model(config.model)
    per_pop = config.panel_per_pop + config.founders_per_pop
    ancestry = msprime.sim_ancestry(
        samples=[msprime.SampleSet(per_pop, population=name) for name in config.populations],
        demography=model.demography,
        sequence_length=round(config.chromosome_mb * 1e6),
        recombination_rate=config.cm_per_mb * 1e-8,
        ploidy=2,
        random_seed=seeds[0],
    )
    ts = msprime.sim_mutations(ancestry, rate=model.mutation_rate, random_seed=seeds[1])
    check_sample_order(ts, config)

    # msprime's samples run population by population, each its panel first, then its founders.
    n_pops = len(config.populations)
    node = np.arange(ts.num_samples).reshape(n_pops, 2 * per_pop)
    layout = np.concatenate(
        [node[:, : 2 * config.panel_per_pop].ravel(), node[:, 2 * config.panel_per_pop :].ravel()]
    )
    n_panel_hap = 2 * config.panel_per_pop * n_pops
    n_founder_hap = ts.num_samples - n_panel_hap
    n_mosaic_hap = 2 * config.mosaics
    # A site can reach the MAF only if each allele has enough copies in the panel plus (at most)
    # every mosaic haplotype, and mosaics can carry an allele only if some founder carries it.
    min_count = math.ceil(config.maf * (n_panel_hap + n_mosaic_hap) - 1e-9)

    positions, refs, alts, panel_alt, chunks = [], [], [], [], []
    buffer = np.empty((SITES_PER_CHUNK, ts.num_samples), dtype=bool)
    filled = n_biallelic = 0
    for variant in ts.variants(copy=False):
        genotypes = variant.genotypes
        if variant.num_alleles == 2:
            ref_allele, alt_allele = 0, 1
        else:  # several mutations at the site: keep it if exactly two alleles are observed
            observed = np.flatnonzero(np.bincount(genotypes, minlength=variant.num_alleles))
            if len(observed) != 2:
                continue
            ref_allele, alt_allele = int(observed[0]), int(observed[1])
        n_biallelic += 1
        is_alt = (genotypes == alt_allele)[layout]
        alt_panel = int(np.count_nonzero(is_alt[:n_panel_hap]))
        alt_founders = int(np.count_nonzero(is_alt[n_panel_hap:]))
        max_alt = alt_panel + (n_mosaic_hap if alt_founders else 0)
        max_ref = n_panel_hap - alt_panel + (n_mosaic_hap if alt_founders < n_founder_hap else 0)
        if min(max_alt, max_ref) < min_count:
            continue
        buffer[filled] = is_alt
        filled += 1
        positions.append(int(variant.site.position) + 1)
        refs.append(variant.alleles[ref_allele])
        alts.append(variant.alleles[alt_allele])
        panel_alt.append(alt_panel)
        if filled == SITES_PER_CHUNK:
            chunks.append(np.packbits(buffer, axis=1))
            filled = 0
    chunks.append(np.packbits(buffer[:filled], axis=1))
    return ChromosomeSites(
        positions=np.array(positions, dtype=np.int64),
        ref=np.array(refs, dtype=object),
        alt=np.array(alts, dtype=object),
        packed=np.concatenate(chunks),
        panel_alt=np.array(panel_alt, dtype=np.int64),
        inherited=inherited_lengths(ts, config, model),
        n_sites=ts.num_sites,
        n_biallelic=n_biallelic,
    )


def unpack(chromosome: ChromosomeSites, rows, columns: slice, n_haplotypes: int) -> np.ndarray:
    """Haplotypes (0/1, uint8) of some sites of a chromosome: sites x haplotype columns."""
    bits = np.unpackbits(chromosome.packed[rows], axis=1, count=n_haplotypes)
    return bits[:, columns]


def inherited_lengths(ts: tskit.TreeSequence, config: CohortConfig, model: Model) -> np.ndarray:
    """Sequence length each panel individual inherits from each truth Q column (both haplotypes).

    Rows follow the panel (population by population), columns the sorted populations. An
    individual of an unadmixed population inherits everything from its own population; one of an
    admixed population is traced to the census nodes taken right after its admixture pulse, each
    segment counting for the truth Q column of its census ancestor's population.
    """
    names = sorted(config.populations)
    per_pop = config.panel_per_pop + config.founders_per_pop
    lengths = np.zeros((len(config.populations) * config.panel_per_pop, len(names)))
    pop_names = [pop.metadata["name"] for pop in ts.populations()]
    column_of = np.full(ts.num_populations, -1)
    for source, column in model.truth_columns.items():
        if column in names:
            column_of[pop_names.index(source)] = names.index(column)
    census = np.flatnonzero(ts.nodes_flags & msprime.NODE_IS_CEN_EVENT).astype(np.int32)
    for p, name in enumerate(config.populations):
        first_row = p * config.panel_per_pop
        rows = slice(first_row, first_row + config.panel_per_pop)
        if name not in model.admixed:
            lengths[rows, names.index(name)] = 2 * ts.sequence_length
            continue
        first_node = 2 * per_pop * p  # sample nodes run population by population, panel first
        samples = np.arange(first_node, first_node + 2 * config.panel_per_pop, dtype=np.int32)
        edges = ts.link_ancestors(samples, census)
        columns = column_of[ts.nodes_population[edges.parent]]
        if not np.isin(edges.child, samples).all() or (columns < 0).any():
            raise RuntimeError(f"{name}: census ancestors outside the model's source populations")
        np.add.at(
            lengths,
            (first_row + (edges.child - first_node) // 2, columns),
            edges.right - edges.left,
        )
        if not np.allclose(lengths[rows].sum(axis=1), 2 * ts.sequence_length):
            raise RuntimeError(f"{name}: census ancestors do not cover the whole sequence")
    return lengths


def check_sample_order(ts: tskit.TreeSequence, config: CohortConfig) -> None:
    """Sample nodes must run population by population, two per individual, as asked."""
    per_pop = 2 * (config.panel_per_pop + config.founders_per_pop)
    names = [pop.metadata["name"] for pop in ts.populations()]
    samples = ts.samples()
    nodes = ts.tables.nodes
    expected_pop = np.repeat([names.index(name) for name in config.populations], per_pop)
    if (
        not np.array_equal(samples, np.arange(len(samples)))
        or not np.array_equal(nodes.population[samples], expected_pop)
        or not np.array_equal(nodes.individual[samples], np.arange(len(samples)) // 2)
    ):
        raise RuntimeError("unexpected msprime sample order; the haplotype layout would be wrong")


def mosaic_seed(seed: int) -> int:
    return int(np.random.SeedSequence([seed, 2]).generate_state(1)[0])


def _simulate_chromosome(job):
    return simulate_chromosome(*job)


# --------------------------------------------------------------------------------------------
# Cohort assembly
# --------------------------------------------------------------------------------------------


def build_cohort(config: CohortConfig, jobs: int, log) -> dict:
    """Simulate the cohort; return the calls (SNP-major), tables and summary numbers."""
    started = time.perf_counter()
    timings: dict[str, float] = {}
    if config.samples_per_pop > config.panel_per_pop:
        raise SystemExit("--samples-per-pop must not exceed --panel-per-pop")
    if config.mosaics and config.founders_per_pop < 1:
        raise SystemExit("mosaics need --founders-per-pop of at least 1")
    names = sorted(config.populations)
    model = get_model(config.model)
    admixed = [name for name in config.populations if name in model.admixed]
    if admixed and config.mosaics:
        raise SystemExit(f"mosaic founders would come from admixed {', '.join(admixed)}")
    if admixed and not set(model.truth_columns.values()) <= set(names):
        raise SystemExit(
            f"{', '.join(admixed)} need the truth Q columns "
            f"{', '.join(sorted(set(model.truth_columns.values())))} among the populations"
        )

    seeds = chromosome_seeds(config.seed, config.chromosomes)
    work = [(config, s) for s in seeds]
    if jobs > 1:
        with ProcessPoolExecutor(max_workers=min(jobs, config.chromosomes)) as pool:
            chromosomes = list(pool.map(_simulate_chromosome, work))
    else:
        chromosomes = [_simulate_chromosome(job) for job in work]
    timings["msprime"] = time.perf_counter() - started
    sizes = [len(c.positions) for c in chromosomes]
    offsets = np.r_[0, np.cumsum(sizes)]
    n_candidates = int(offsets[-1])
    n_sites = sum(c.n_sites for c in chromosomes)
    n_biallelic = sum(c.n_biallelic for c in chromosomes)
    log(
        f"msprime: {n_sites:,} sites, {n_biallelic:,} biallelic, "
        f"{n_candidates:,} candidate SNPs ({timings['msprime']:.1f} s)"
    )

    variants = pd.DataFrame(
        {
            "chrom": np.repeat([str(i + 1) for i in range(config.chromosomes)], sizes),
            "pos": np.concatenate([c.positions for c in chromosomes]),
            "ref": np.concatenate([c.ref for c in chromosomes]),
            "alt": np.concatenate([c.alt for c in chromosomes]),
        }
    )
    variants["snp"] = variants["chrom"] + ":" + variants["pos"].astype(str)
    variants["cm"] = np.round(variants["pos"].to_numpy() * config.cm_per_mb / 1e6, 6)
    n_pops = len(config.populations)
    n_panel = config.panel_per_pop * n_pops
    n_haplotypes = 2 * (n_panel + config.founders_per_pop * n_pops)
    alt_count = np.concatenate([c.panel_alt for c in chromosomes])

    # Mosaics from the extra founders.
    truth_mosaic = np.zeros((0, len(names)))
    mosaic_ids: list[str] = []
    mosaic_labels: list[str] = []
    mosaic_haplotypes = np.zeros((0, n_candidates), dtype=np.uint8)
    if config.mosaics:
        step = time.perf_counter()
        founders = np.empty((n_haplotypes - 2 * n_panel, n_candidates), dtype=np.uint8)
        for c, offset in zip(chromosomes, offsets, strict=False):
            for start in range(0, len(c.positions), 4 * SITES_PER_CHUNK):
                rows = slice(start, min(start + 4 * SITES_PER_CHUNK, len(c.positions)))
                block = unpack(c, rows, slice(2 * n_panel, None), n_haplotypes)
                founders[:, offset + rows.start : offset + rows.stop] = block.T
        founder_pops = np.repeat(list(config.populations), config.founders_per_pop)
        founder_ids = [
            f"founder_{name}_{i + 1:04d}"
            for name in config.populations
            for i in range(config.founders_per_pop)
        ]
        founder_panel = FounderPanel(
            founders,
            founder_ids,
            np.asarray(founder_pops, dtype=object),
            variants[["chrom", "pos", "snp", "ref", "alt", "cm"]],
            source="msprime founders",
        )
        per_ancestry = math.ceil(config.mosaics / len(names))
        sim = simulate(
            founder_panel,
            n_admixed_per_ancestry=per_ancestry,
            generations=config.generations,
            alpha=config.alpha,
            seed=mosaic_seed(config.seed),
            populations=names,
        )
        del founders, founder_panel
        truth_mosaic = sim.truth_q[: config.mosaics]
        mosaic_ids = [f"MOSAIC_{i + 1:04d}" for i in range(config.mosaics)]
        mosaic_labels = [str(x) for x in sim.labels[: config.mosaics]]
        mosaic_haplotypes = sim.haplotypes[: 2 * config.mosaics]
        del sim
        alt_count += mosaic_haplotypes.sum(axis=0, dtype=np.int64)
        timings["mosaics"] = time.perf_counter() - step
        log(
            f"mosaics: {config.mosaics} from {config.founders_per_pop * n_pops} founders "
            f"({timings['mosaics']:.1f} s)"
        )

    # MAF filter in the ascertainment panel plus the mosaics, then even thinning.
    n_ascertain = n_panel + config.mosaics
    minor = np.minimum(alt_count, 2 * n_ascertain - alt_count)
    min_count = math.ceil(config.maf * 2 * n_ascertain - 1e-9)
    passing = np.flatnonzero(minor >= min_count)
    if len(passing) > config.snps:
        chosen = passing[(np.arange(config.snps, dtype=np.int64) * len(passing)) // config.snps]
    else:
        chosen = passing
        log(f"warning: only {len(passing):,} SNPs pass the MAF filter (wanted {config.snps:,})")

    # Cohort: the first samples_per_pop panel individuals of each population, then the mosaics.
    panel_calls = []
    for i, c in enumerate(chromosomes):
        rows = chosen[(chosen >= offsets[i]) & (chosen < offsets[i + 1])] - offsets[i]
        haps = unpack(c, rows, slice(0, 2 * n_panel), n_haplotypes)
        panel_calls.append(haps[:, 0::2] + haps[:, 1::2])
    panel_cols = np.concatenate(
        [p * config.panel_per_pop + np.arange(config.samples_per_pop) for p in range(n_pops)]
    )
    inherited = sum(c.inherited for c in chromosomes)[panel_cols]
    del chromosomes
    picked = mosaic_haplotypes[:, chosen]
    calls = np.concatenate(
        [np.concatenate(panel_calls)[:, panel_cols], (picked[0::2] + picked[1::2]).T], axis=1
    )
    del mosaic_haplotypes, picked, panel_calls
    variants = variants.iloc[chosen].reset_index(drop=True)

    sampled_pops = np.repeat(list(config.populations), config.samples_per_pop)
    counters: dict[str, int] = {}
    sampled_ids = []
    for name in sampled_pops:
        counters[name] = counters.get(name, 0) + 1
        sampled_ids.append(f"{name}_{counters[name]:04d}")
    # .fam order: sampled individuals grouped by population in sorted order, then the mosaics.
    order = np.argsort(sampled_pops, kind="stable")
    n_sampled = len(sampled_pops)
    calls = np.concatenate([calls[:, order], calls[:, n_sampled:]], axis=1)
    sampled_pops = sampled_pops[order]
    sampled_ids = [sampled_ids[i] for i in order]

    # Truth Q: one-hot for unadmixed populations (all inherited from their own), traced fractions
    # for admixed ones.
    inherited = inherited[order]
    truth = np.concatenate([inherited / inherited.sum(axis=1, keepdims=True), truth_mosaic])
    mixed = np.concatenate([np.isin(sampled_pops, admixed), np.ones(len(mosaic_ids), bool)])

    # Missing calls, uniformly at random without replacement.
    n_calls = calls.size
    n_missing = int(round(config.missing * n_calls))
    rng = np.random.default_rng(np.random.SeedSequence([config.seed, 3]))
    np.put(calls, rng.choice(n_calls, size=n_missing, replace=False), MISSING)

    observed = calls != MISSING
    has_ref = ((calls < 2) & observed).any(axis=1)
    has_alt = ((calls > 0) & observed).any(axis=1)
    monomorphic = int(np.count_nonzero(~(has_ref & has_alt)))
    timings["total"] = time.perf_counter() - started
    return {
        "calls": calls,  # SNPs x samples
        "variants": variants,
        "sample_ids": sampled_ids + mosaic_ids,
        "labels": [str(x) for x in sampled_pops] + mosaic_labels,
        "sampled": n_sampled,  # individuals sampled from the model; the rest are mosaics
        "mixed": mixed,  # admixed population or mosaic ('-' in the .pop file)
        "admixed_populations": admixed,
        "model": model,
        "truth": truth,
        "names": names,
        "stats": {
            "msprime_sites": n_sites,
            "biallelic_sites": n_biallelic,
            "snps_passing_maf": int(len(passing)),
            "ascertainment_individuals": int(n_ascertain),
            "missing_calls": n_missing,
            "monomorphic_snps": monomorphic,
        },
        "timings": timings,
    }


# --------------------------------------------------------------------------------------------
# Output
# --------------------------------------------------------------------------------------------


def rounded_q(q: np.ndarray, digits: int = 6) -> np.ndarray:
    """Round rows to ``digits`` decimals so each still sums to exactly 1 (fix the largest entry)."""
    scale = 10**digits
    units = np.round(q * scale).astype(np.int64)
    largest = units.argmax(axis=1)
    units[np.arange(len(units)), largest] += scale - units.sum(axis=1)
    return units / scale


def write_cohort(out: Path, name: str, config: CohortConfig, cohort: dict) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    prefix = out / name
    calls, variants = cohort["calls"], cohort["variants"]
    ids = cohort["sample_ids"]
    genotypes = Genotypes.from_calls(
        calls.T,  # samples x SNPs
        pd.DataFrame({"fid": ids, "iid": ids}),
        pd.DataFrame(
            {
                "chrom": variants["chrom"],
                "snp": variants["snp"],
                "cm": variants["cm"].map(lambda x: f"{x:.6f}"),
                "pos": variants["pos"],
                "a1": variants["alt"],
                "a2": variants["ref"],
            }
        ),
    )
    write_bed(prefix, genotypes)
    write_q(f"{prefix}.truth.Q", rounded_q(cohort["truth"]))
    Path(f"{prefix}.truth.Q.columns").write_text("".join(f"{n}\n" for n in cohort["names"]))
    labels = cohort["labels"]
    Path(f"{prefix}.labels").write_text(
        "".join(f"{s}\t{lab}\n" for s, lab in zip(ids, labels, strict=True))
    )
    mixed = cohort["mixed"]
    Path(f"{prefix}.pop").write_text(
        "".join(f"{MIXED_LABEL if m else lab}\n" for lab, m in zip(labels, mixed, strict=True))
    )

    stats = cohort["stats"]
    model = cohort["model"]
    n_snps, n_samples = calls.shape
    n_sampled = cohort["sampled"]
    mosaic_q = cohort["truth"][n_sampled:]

    def mean_q(rows: np.ndarray) -> dict[str, float]:
        return dict(zip(cohort["names"], np.round(rows.mean(axis=0), 4).tolist(), strict=True))

    admixed = {}
    for pop in cohort["admixed_populations"]:
        q = cohort["truth"][:n_sampled][np.asarray(labels[:n_sampled]) == pop]
        admixed[pop] = {
            "n": len(q),
            "truth": (
                f"traced: fraction of the genome whose ancestor at the census "
                f"{model.census_time:g} generations ago lies in each source population "
                "(msprime census, tskit link_ancestors)"
            ),
            "source_population_to_truth_column": model.truth_columns,
            "mean_truth_q": mean_q(q),
            "min_truth_q": dict(zip(cohort["names"], q.min(axis=0).round(4).tolist(), strict=True)),
            "max_truth_q": dict(zip(cohort["names"], q.max(axis=0).round(4).tolist(), strict=True)),
            "label": "population name in .labels, '-' in .pop",
        }
    unadmixed_pops = [p for p in cohort["names"] if p not in admixed]
    summary = {
        "cohort": name,
        "description": __doc__.splitlines()[0],
        "n_samples": n_samples,
        "n_snps": n_snps,
        "n_unadmixed": int(np.count_nonzero(~mixed[:n_sampled])),
        "n_admixed_sampled": int(np.count_nonzero(mixed[:n_sampled])),
        "n_mosaics": n_samples - n_sampled,
        "populations": cohort["names"],
        "unadmixed_per_population": {p: config.samples_per_pop for p in unadmixed_pops},
        "admixed_populations": admixed,
        "model": {
            "species": "HomSap",
            "demographic_model": config.model,
            "base_model": model.base,
            "extension": model.extension or None,
            "sampled_populations": list(config.populations),
            "mutation_rate": model.mutation_rate,
            "generation_time_years": model.generation_time,
            "mutation_model": "JC69 (msprime default)",
            "recombination_cm_per_mb": config.cm_per_mb,
            "chromosomes": config.chromosomes,
            "chromosome_mb": config.chromosome_mb,
            "genome_mb": config.chromosomes * config.chromosome_mb,
        },
        "mosaics": {
            "n": n_samples - n_sampled,
            "simulator": "neuradmix.simulation.descendants.simulate (PyAdmix-style pedigree)",
            "founders_per_population": config.founders_per_pop,
            "founders_in_cohort": 0,
            "generations": config.generations,
            "dirichlet_alpha": config.alpha,
            "mean_truth_q": mean_q(mosaic_q) if len(mosaic_q) else None,
            "label": "dominant ancestry in .labels, '-' in .pop",
        },
        "snp_filter": {
            "biallelic": "exactly two alleles among all simulated haplotypes",
            "maf_min": config.maf,
            "maf_counted_in": (
                f"{config.panel_per_pop} per population (ascertainment panel) + mosaics = "
                f"{stats['ascertainment_individuals']} individuals"
            ),
            "msprime_sites": stats["msprime_sites"],
            "biallelic_sites": stats["biallelic_sites"],
            "snps_passing_maf": stats["snps_passing_maf"],
            "thinned_to": n_snps,
            "counted_allele": "ALT (derived), .bim column 5",
        },
        "missing": {
            "rate_target": config.missing,
            "missing_calls": stats["missing_calls"],
            "rate": round(stats["missing_calls"] / calls.size, 8),
        },
        "monomorphic_snps": stats["monomorphic_snps"],
        "seeds": {
            "cohort": config.seed,
            "chromosomes_ancestry_mutation": chromosome_seeds(config.seed, config.chromosomes),
            "mosaics": mosaic_seed(config.seed),
            "missing": f"SeedSequence([{config.seed}, 3])",
        },
        "config": dataclasses.asdict(config),
        "versions": {
            "python": sys.version.split()[0],
            "msprime": msprime.__version__,
            "stdpopsim": stdpopsim.__version__,
            "tskit": tskit.__version__,
            "numpy": np.__version__,
            "neuradmix": neuradmix.__version__,
        },
        "runtime_seconds": {k: round(v, 2) for k, v in cohort["timings"].items()},
    }
    Path(f"{prefix}.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def verify_with_plink2(prefix: Path, calls: np.ndarray) -> None:
    """Read the fileset back with plink2 --freq; its ALT_FREQS must match the counted allele."""
    plink2 = shutil.which("plink2")
    if plink2 is None:
        raise SystemExit("--verify needs plink2 on PATH")
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [plink2, "--bfile", str(prefix), "--freq", "--out", f"{tmp}/check", "--threads", "1"],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        freq = pd.read_csv(f"{tmp}/check.afreq", sep="\t")
    observed = calls != MISSING
    ours = np.where(observed, calls, 0).sum(axis=1) / (2 * observed.sum(axis=1))
    bim = pd.read_csv(f"{prefix}.bim", sep="\t", header=None, dtype=str)
    if not (freq["ALT"].to_numpy() == bim[4].to_numpy()).all():
        raise SystemExit("plink2's ALT allele differs from .bim column 5")
    error = np.abs(freq["ALT_FREQS"].to_numpy() - ours).max()
    if error > 1e-4:
        raise SystemExit(f"plink2 ALT_FREQS differ from the counted allele by up to {error}")
    print(f"verify: plink2 reads {prefix}.bed; ALT_FREQS match (max diff {error:.1e})")


def parse_args(argv=None) -> tuple[argparse.Namespace, CohortConfig]:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        epilog="Presets: "
        + "; ".join(f"{k}: {v.model}, {'/'.join(v.populations)}" for k, v in PRESETS.items()),
    )
    parser.add_argument("cohort", choices=sorted(PRESETS), help="preset to build")
    parser.add_argument("--out", type=Path, default=None, help="output folder (default: data/NAME)")
    parser.add_argument("--name", help="file name prefix (default: the preset name)")
    parser.add_argument("--jobs", type=int, default=2, help="chromosomes simulated in parallel")
    parser.add_argument(
        "--verify", action="store_true", help="read the result back with plink2 --freq"
    )
    overrides = parser.add_argument_group("preset overrides")
    for field in dataclasses.fields(CohortConfig):
        flag = "--" + field.name.replace("_", "-")
        if field.name == "populations":
            overrides.add_argument(flag, nargs="+", metavar="POP", help=OVERRIDE_HELP[field.name])
        else:
            kind = {"int": int, "float": float, "str": str}[str(field.type)]
            overrides.add_argument(flag, type=kind, help=OVERRIDE_HELP[field.name])
    args = parser.parse_args(argv)
    changes = {
        f.name: getattr(args, f.name)
        for f in dataclasses.fields(CohortConfig)
        if getattr(args, f.name) is not None
    }
    if "populations" in changes:
        changes["populations"] = tuple(changes["populations"])
    return args, dataclasses.replace(PRESETS[args.cohort], **changes)


def main(argv=None) -> None:
    args, config = parse_args(argv)
    name = args.name or args.cohort
    out = args.out if args.out is not None else Path("data") / name

    def log(message: str) -> None:
        print(f"[{name}] {message}", flush=True)

    cohort = build_cohort(config, args.jobs, log)
    summary = write_cohort(out, name, config, cohort)
    log(
        f"{summary['n_samples']:,} samples ({summary['n_unadmixed']:,} unadmixed, "
        f"{summary['n_admixed_sampled']:,} admixed, "
        f"{summary['n_mosaics']:,} mosaics) x {summary['n_snps']:,} SNPs "
        f"(of {summary['snp_filter']['snps_passing_maf']:,} passing MAF >= {config.maf}), "
        f"{summary['missing']['rate']:.4%} missing, "
        f"{summary['monomorphic_snps']:,} monomorphic; "
        f"{cohort['timings']['total']:.1f} s -> {out / name}.*"
    )
    if args.verify:
        verify_with_plink2(out / name, cohort["calls"])


if __name__ == "__main__":
    main()
