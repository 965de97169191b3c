"""Admixed descendants of phased founders, with their exact ancestry (PyAdmix-style simulation).

The model
---------
Each simulated descendant is the product of ``generations`` generations of random mating in a
large population founded by the labelled founders: its ``2**generations`` ancestors at the founding
generation are drawn independently (with replacement) from the founders, the population of each
drawn from the descendant's *source mixture* ``w``. Every meiosis places crossovers along each
chromosome as a Poisson process in genetic distance (one per Morgan on average, no interference)
and starts on a random parental haplotype.

* An *admixed* descendant of ancestry ``A`` has ``w ~ Dirichlet(alpha)`` over all populations,
  with the largest component moved onto ``A``; ``alpha`` below 1 gives fewer sources each.
* A *single-ancestry* descendant of ``A`` has ``w`` = all ``A``: it recombines founders of ``A``
  only, so it is pure ``A`` by construction.

The truth Q of a descendant is the fraction of its genetic length (in cM, over all chromosomes,
averaged over both haplotypes) inherited from each founder population. Its label is its dominant
ancestry (largest truth-Q component, ties to the first name in sorted order), which for a
single-ancestry descendant is its population.

How it is computed
------------------
Rather than building all ``2**generations`` ancestors, each descendant haplotype is traced
backwards: a *lineage* is the set of genetic intervals of the haplotype still to be explained. One
generation back, each lineage is split by its parent's crossovers into the part inherited from the
parent's first haplotype and the part from the second; empty parts are dropped. All lineages of
all descendants are processed together with numpy sorting and searching on integer genetic
coordinates, so work grows with the number of segments, not with SNPs or ancestors. After the last
generation each lineage is a founder haplotype; the founder of every pedigree slot is drawn once
and shared by all chromosomes. Genotypes are then painted segment by segment (numba).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numba
import numpy as np
import pandas as pd

from .. import layout
from ..data import (
    MISSING,
    Genotypes,
    atomic_outputs,
    read_labels,
    write_bed_parts,
    write_labels,
    write_q,
)
from ..data.vcf import VcfData, read_vcf, write_vcf
from ..errors import InputError

UNITS_PER_CM = 1_000_000  # genetic coordinates are integers in micro-centimorgans
UNITS_PER_MORGAN = 100 * UNITS_PER_CM
MAX_GENERATIONS = 60  # pedigree paths are stored as bits of an int64


# --------------------------------------------------------------------------------------------
# Genetic maps
# --------------------------------------------------------------------------------------------


@dataclass
class GeneticMap:
    """Piecewise-linear map from base pairs to centimorgans, per chromosome.

    ``rate_cm_per_mb`` is set for a uniform map (no file); otherwise ``positions`` maps a
    normalised chromosome name to ``(bp, cm)`` arrays sorted by ``bp``.
    """

    positions: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    rate_cm_per_mb: float | None = None
    source: str = "<uniform>"

    @classmethod
    def uniform(cls, rate_cm_per_mb: float = 1.0) -> GeneticMap:
        if not rate_cm_per_mb > 0:
            raise InputError(
                f"--cm-per-mb {rate_cm_per_mb}: a uniform recombination rate must be positive."
            )
        return cls(rate_cm_per_mb=float(rate_cm_per_mb), source=f"<{rate_cm_per_mb} cM/Mb>")

    def centimorgans(self, chrom: str, bp: np.ndarray, what: str = "the VCF") -> np.ndarray:
        """Genetic positions of base-pair positions ``bp`` on ``chrom`` (all must be covered)."""
        bp = np.asarray(bp, dtype=np.float64)
        if self.rate_cm_per_mb is not None:
            return bp * self.rate_cm_per_mb / 1e6
        key = _chrom_key(chrom)
        if key not in self.positions:
            raise InputError(
                f"{self.source}: the genetic map has no entries for chromosome {chrom}, which "
                f"{what} contains; use a map that covers every chromosome (or --cm-per-mb for a "
                "uniform rate)."
            )
        map_bp, map_cm = self.positions[key]
        if bp.min() < map_bp[0] or bp.max() > map_bp[-1]:
            raise InputError(
                f"{self.source}: the genetic map covers chromosome {chrom} from {int(map_bp[0])} "
                f"to {int(map_bp[-1])} bp, but {what} has SNPs from {int(bp.min())} to "
                f"{int(bp.max())} bp; use a map for the whole chromosome (or --cm-per-mb for a "
                "uniform rate)."
            )
        return np.interp(bp, map_bp, map_cm)


def _chrom_key(chrom) -> str:
    name = str(chrom)
    return name[3:] if name.lower().startswith("chr") else name


def read_genetic_map(path: str | os.PathLike) -> GeneticMap:
    """Read a genetic map in PLINK ``.map`` layout or HapMap layout.

    * PLINK (no header line): ``chrom  id  cM  bp`` per line, as in Beagle's ``plink.chrN.map``.
    * HapMap (first line is a header): ``chrom  bp  rate(cM/Mb)  cM`` per line.

    Columns are whitespace-separated. Within each chromosome positions must increase and cM must
    not decrease.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: genetic map file not found.")
    try:
        table = pd.read_csv(path, sep=r"\s+", header=None, dtype=str, comment="#")
    except pd.errors.EmptyDataError:
        raise InputError(f"{path}: the genetic map file is empty.") from None
    except pd.errors.ParserError as exc:
        raise InputError(
            f"{path}: not a whitespace-separated table ({exc}); expected 'chrom id cM bp' "
            "(PLINK .map) or a header line then 'chrom bp rate cM' (HapMap)."
        ) from None
    if table.shape[1] != 4:
        raise InputError(
            f"{path}: {table.shape[1]} columns, but a genetic map needs 4: 'chrom id cM bp' "
            "(PLINK .map, no header) or 'chrom bp rate cM' (HapMap, with a header line)."
        )
    has_header = pd.to_numeric(table.iloc[0, 1:], errors="coerce").isna().all()
    if has_header:
        table = table.iloc[1:]
        chrom, bp, cm = table[0], table[1], table[3]
    else:
        chrom, bp, cm = table[0], table[3], table[2]
    bp = pd.to_numeric(bp, errors="coerce").to_numpy(dtype=np.float64)
    cm = pd.to_numeric(cm, errors="coerce").to_numpy(dtype=np.float64)
    if len(bp) == 0 or np.isnan(bp).any() or np.isnan(cm).any():
        raise InputError(
            f"{path}: base-pair or cM column holds a non-number; expected 'chrom id cM bp' "
            "(PLINK .map, no header) or a header line then 'chrom bp rate cM' (HapMap)."
        )
    positions: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    keys = np.array([_chrom_key(c) for c in chrom])
    for key in pd.unique(keys):
        rows = keys == key
        map_bp, map_cm = bp[rows], cm[rows]
        if (np.diff(map_bp) <= 0).any() or (np.diff(map_cm) < 0).any():
            raise InputError(
                f"{path}: on chromosome {key} the positions must increase and the cM values must "
                "not decrease; sort the map by position."
            )
        positions[str(key)] = (map_bp, map_cm)
    return GeneticMap(positions=positions, source=str(path))


# --------------------------------------------------------------------------------------------
# Founders
# --------------------------------------------------------------------------------------------


@dataclass
class FounderPanel:
    """Phased founders with population labels and genetic positions.

    ``haplotypes`` is haplotype-major (2*founders x SNPs): rows ``2i`` and ``2i+1`` are founder
    ``i``'s haplotypes. ``variants`` has ``chrom``, ``pos``, ``snp``, ``ref``, ``alt``, ``cm``.
    """

    haplotypes: np.ndarray
    samples: list[str]
    populations: np.ndarray  # population name of each founder
    variants: pd.DataFrame
    source: str = "<memory>"

    @property
    def n_founders(self) -> int:
        return len(self.samples)

    @property
    def population_names(self) -> list[str]:
        return sorted(set(self.populations.tolist()))

    def restrict(self, names: list[str], labels_file: str = "the label file") -> FounderPanel:
        """Keep only founders of the populations ``names`` (the simulation's sources).

        Useful when a population is itself admixed: as a source it would get a truth-Q column
        that no clustering can separate from the populations it descends from.
        """
        unknown = sorted(set(names) - set(self.population_names))
        if unknown:
            raise InputError(
                f"{labels_file}: no founders of population(s) {', '.join(unknown)}; the "
                f"populations are {', '.join(self.population_names)}."
            )
        return self.subset(np.flatnonzero(np.isin(self.populations, list(names))))

    def subset(self, index) -> FounderPanel:
        index = np.asarray(index)
        rows = np.stack([2 * index, 2 * index + 1], axis=1).ravel()
        return FounderPanel(
            np.ascontiguousarray(self.haplotypes[rows]),
            [self.samples[i] for i in index],
            self.populations[index],
            self.variants,
            self.source,
        )


def load_founders(
    vcf: str | os.PathLike,
    labels: str | os.PathLike,
    genetic_map: str | os.PathLike | None = None,
    cm_per_mb: float = 1.0,
) -> FounderPanel:
    """Read phased founders, their population labels and genetic positions (see module docs)."""
    data = read_vcf(vcf, require_phased=True)
    return founders_from_vcf(data, labels, genetic_map, cm_per_mb)


def load_panel(
    vcf: str | os.PathLike,
    labels: str | os.PathLike,
    genetic_map: str | os.PathLike | None = None,
    cm_per_mb: float = 1.0,
    populations: list[str] | None = None,
) -> FounderPanel:
    """:func:`load_founders`, restricted to the source ``populations`` when given."""
    panel = load_founders(vcf, labels, genetic_map, cm_per_mb)
    if populations:
        panel = panel.restrict(populations, str(labels))
    return panel


def read_sample_list(path: str | os.PathLike) -> list[str]:
    """Sample IDs: one per line (first column), a plink2 ``--keep`` file (a ``#FID IID`` or
    ``#IID`` header names the columns), or the IIDs of a PLINK ``.fam``."""
    file = Path(path)
    if not file.is_file():
        raise InputError(f"{file}: sample list not found.")
    rows = [line.split() for line in file.read_text().splitlines() if line.strip()]
    column = 1 if file.suffix == ".fam" else 0
    if rows and rows[0][0].startswith("#"):
        header = [name.lstrip("#") for name in rows[0]]
        if "IID" not in header:
            raise InputError(f"{file}: a header line must name an IID column (#FID IID).")
        column, rows = header.index("IID"), rows[1:]
    if not rows or any(len(row) <= column for row in rows):
        raise InputError(
            f"{file}: expected one sample ID per line (or a PLINK .fam with the IID in column 2)."
        )
    return [row[column] for row in rows]


def validation_founders(
    panel: FounderPanel, val_samples: list[str], path: str | os.PathLike, restricted: bool
) -> list[str]:
    """Check the validation founders listed in ``path`` against the panel; with ``restricted``
    sources, founders of the populations left out are dropped instead of refused."""
    if restricted:
        # Validation founders of populations left out as sources are simply not used.
        val_samples = [s for s in val_samples if s in set(panel.samples)] or val_samples
    unknown = sorted(set(val_samples) - set(panel.samples))
    if unknown:
        raise InputError(
            f"{path}: {len(unknown)} sample(s) are not founders in {panel.source} "
            f"(e.g. {unknown[0]}); list only VCF sample IDs."
        )
    return val_samples


def founders_from_vcf(
    data: VcfData,
    labels: str | os.PathLike,
    genetic_map: str | os.PathLike | GeneticMap | None = None,
    cm_per_mb: float = 1.0,
) -> FounderPanel:
    if not data.phased:
        raise InputError(f"{data.source}: genotypes are unphased; simulation needs phased data.")
    population = read_labels(labels, data.samples)
    unlabelled = [s for s, p in zip(data.samples, population, strict=True) if p == ""]
    if unlabelled:
        shown = ", ".join(unlabelled[:5]) + (" ..." if len(unlabelled) > 5 else "")
        raise InputError(
            f"{labels}: no population for {len(unlabelled)} of the {data.n_samples} VCF samples "
            f"({shown}); add a 'SAMPLE POPULATION' line for each, or drop them from the VCF "
            "(`bcftools view -S KEEP.txt`)."
        )
    if isinstance(genetic_map, GeneticMap):
        gmap = genetic_map
    elif genetic_map is not None:
        gmap = read_genetic_map(genetic_map)
    else:
        gmap = GeneticMap.uniform(cm_per_mb)
    variants = data.variants.copy()
    cm = np.empty(len(variants))
    for chrom, rows in _chromosome_blocks(variants, data.source):
        positions = variants["pos"].to_numpy()[rows]
        cm[rows] = gmap.centimorgans(chrom, positions, what=f"the VCF {data.source}")
    variants["cm"] = cm
    return FounderPanel(
        np.ascontiguousarray(data.haplotypes.T),
        list(data.samples),
        np.asarray(population, dtype=object),
        variants,
        data.source,
    )


def _chromosome_blocks(variants: pd.DataFrame, source: str):
    """``(chrom, slice)`` for each chromosome; each must be one sorted, contiguous block."""
    chrom = variants["chrom"].astype(str).to_numpy()
    positions = variants["pos"].to_numpy()
    starts = np.flatnonzero(np.r_[True, chrom[1:] != chrom[:-1]])
    stops = np.r_[starts[1:], len(chrom)]
    names = chrom[starts]
    if len(set(names)) != len(names):
        raise InputError(
            f"{source}: the variants of a chromosome are not contiguous; sort the VCF "
            "(`bcftools sort IN.vcf.gz -Oz -o SORTED.vcf.gz`)."
        )
    for name, start, stop in zip(names, starts, stops, strict=True):
        if (np.diff(positions[start:stop]) < 0).any():
            raise InputError(
                f"{source}: positions on chromosome {name} are not sorted; sort the VCF "
                "(`bcftools sort IN.vcf.gz -Oz -o SORTED.vcf.gz`)."
            )
        yield str(name), slice(int(start), int(stop))


def split_founders(
    panel: FounderPanel,
    val_fraction: float = 0.2,
    seed: int = 0,
    val_samples: list[str] | None = None,
) -> tuple[FounderPanel, FounderPanel]:
    """Disjoint train/validation founder sets, stratified by population.

    With ``val_samples`` the validation founders are exactly those IDs; otherwise each population
    sends ``round(val_fraction * n)`` founders (at least one, at most ``n - 1``) to validation.
    Every population must keep at least one founder on each side.
    """
    populations = panel.populations
    if val_samples is not None:
        wanted = set(val_samples)
        is_val = np.array([s in wanted for s in panel.samples])
    else:
        if not 0 < val_fraction < 1:
            raise InputError(f"--val-fraction {val_fraction}: must lie strictly between 0 and 1.")
        rng = np.random.default_rng(np.random.SeedSequence([seed, 0x5EED]))
        is_val = np.zeros(panel.n_founders, dtype=bool)
        for name in panel.population_names:
            members = np.flatnonzero(populations == name)
            n_val = min(max(int(round(val_fraction * len(members))), 1), len(members) - 1)
            if n_val > 0:
                is_val[rng.choice(members, size=n_val, replace=False)] = True
    for name in panel.population_names:
        members = populations == name
        if is_val[members].all() or not is_val[members].any():
            side = "validation" if not is_val[members].any() else "training"
            raise InputError(
                f"{panel.source}: population {name} has {int(members.sum())} founder(s) and would "
                f"have none in the {side} set; each population needs founders on both sides "
                "(add founders, or change --val-fraction / --val-samples)."
            )
    return panel.subset(np.flatnonzero(~is_val)), panel.subset(np.flatnonzero(is_val))


# --------------------------------------------------------------------------------------------
# Simulation
# --------------------------------------------------------------------------------------------


@dataclass
class Simulation:
    """Simulated descendants: haplotype-major haplotypes (2N x SNPs) and their exact ancestry."""

    haplotypes: np.ndarray
    sample_ids: list[str]
    populations: list[str]  # truth-Q column names, sorted
    truth_q: np.ndarray  # N x len(populations)
    labels: np.ndarray  # dominant ancestry of each descendant
    kinds: np.ndarray  # "admixed" or "single"
    segments: pd.DataFrame  # local ancestry per haplotype, runs of one population
    founder_haplotypes_used: np.ndarray  # sorted panel haplotype indices that contribute
    variants: pd.DataFrame

    def genotypes(self) -> Genotypes:
        """Unphased dosage of the ALT allele (the ``.bim`` column-5 allele), as ``plink2`` does."""
        first, second = self.haplotypes[0::2], self.haplotypes[1::2]
        calls = first + second
        calls[(first == MISSING) | (second == MISSING)] = MISSING
        samples = pd.DataFrame({"fid": self.sample_ids, "iid": self.sample_ids})
        variants = pd.DataFrame(
            {
                "chrom": self.variants["chrom"].astype(str),
                "snp": self.variants["snp"].astype(str),
                "cm": self.variants["cm"].astype(float),
                "pos": self.variants["pos"].astype(np.int64),
                "a1": self.variants["alt"].astype(str),
                "a2": self.variants["ref"].astype(str),
            }
        )
        return Genotypes.from_calls(calls, samples, variants)


def simulate(
    panel: FounderPanel,
    n_admixed_per_ancestry: int = 400,
    n_single_per_ancestry: int = 0,
    generations: int = 8,
    alpha: float = 1.0,
    seed: int = 0,
    populations: list[str] | None = None,
    id_prefix: str = "",
    log: Callable[[str], None] | None = None,
) -> Simulation:
    """Simulate descendants of ``panel`` (see the module docstring for the model).

    ``populations`` fixes the truth-Q columns (default: the panel's populations, sorted); it must
    contain every panel population and may add more (their columns are then all zero). ``log``
    receives a progress line per stage and per chromosome.
    """
    log = log or (lambda message: None)
    if not 1 <= generations <= MAX_GENERATIONS:
        raise InputError(
            f"--generations {generations}: must be between 1 and {MAX_GENERATIONS} (1 gives "
            "children of two founders)."
        )
    if n_admixed_per_ancestry < 0 or n_single_per_ancestry < 0:
        raise InputError("descendant counts per ancestry must not be negative.")
    if n_admixed_per_ancestry + n_single_per_ancestry == 0:
        raise InputError(
            "nothing to simulate: set --n-per-ancestry and/or --n-single-per-ancestry above 0."
        )
    if not alpha > 0:
        raise InputError(f"--alpha {alpha}: the Dirichlet concentration must be positive.")
    present = panel.population_names
    columns = sorted(populations) if populations is not None else present
    if not set(present) <= set(columns):
        raise ValueError("populations must include every population of the founder panel")
    n_pops = len(columns)
    founder_pop = np.searchsorted(columns, panel.populations.astype(str))
    seeds = np.random.SeedSequence(seed).spawn(3)
    mixture_rng, meiosis_rng, founder_rng = (np.random.default_rng(s) for s in seeds)

    mixtures, kinds, focus = [], [], []
    present_index = np.searchsorted(columns, present)
    for p_index, name in zip(present_index, present, strict=True):
        if n_admixed_per_ancestry:
            w = np.zeros((n_admixed_per_ancestry, n_pops))
            w[:, present_index] = mixture_rng.dirichlet(
                np.full(len(present), alpha), size=n_admixed_per_ancestry
            )
            top = w.argmax(axis=1)
            rows = np.arange(n_admixed_per_ancestry)
            w[rows, top], w[rows, p_index] = w[rows, p_index], w[rows, top]
            mixtures.append(w)
            kinds += ["admixed"] * n_admixed_per_ancestry
            focus += [name] * n_admixed_per_ancestry
        if n_single_per_ancestry:
            w = np.zeros((n_single_per_ancestry, n_pops))
            w[:, p_index] = 1.0
            mixtures.append(w)
            kinds += ["single"] * n_single_per_ancestry
            focus += [name] * n_single_per_ancestry
    mixture = np.concatenate(mixtures, axis=0)
    n_desc = mixture.shape[0]
    sample_ids = _descendant_ids(id_prefix, kinds, focus)

    # 1. Trace every descendant haplotype back through the pedigree, chromosome by chromosome.
    variants = panel.variants
    cm = variants["cm"].to_numpy(dtype=np.float64)
    blocks = list(_chromosome_blocks(variants, panel.source))
    log(
        f"{n_desc} descendants of {panel.n_founders} founders, {generations} generations, "
        f"{len(variants)} SNPs on {len(blocks)} chromosome(s)"
    )
    per_chrom = []
    for number, (chrom, rows) in enumerate(blocks, start=1):
        units = np.round(cm[rows] * UNITS_PER_CM).astype(np.int64)
        lo, hi = int(units[0]), int(units[-1]) + 1  # half-open, so the last SNP is inside
        pieces = _trace_lineages(2 * n_desc, lo, hi, generations, meiosis_rng)
        per_chrom.append((chrom, rows, units, lo, hi, pieces))
        log(
            f"chromosome {chrom} ({number}/{len(blocks)}): {len(pieces[0])} inherited segments "
            "traced"
        )

    # 2. One founder per pedigree slot, shared by all chromosomes.
    slot_keys = np.concatenate([np.stack([p[0], p[1] >> 1], axis=1) for *_, p in per_chrom])
    slots, slot_inverse = np.unique(slot_keys, axis=0, return_inverse=True)
    slot_founder = _draw_founders(slots[:, 0] // 2, mixture, founder_pop, n_pops, founder_rng)

    # 3. Segments -> truth Q, local ancestry table and painted haplotypes.
    log("painting descendant genotypes from the founders' haplotypes")
    haplotypes = np.empty((2 * n_desc, len(variants)), dtype=np.uint8)
    lengths = np.zeros((n_desc, n_pops))
    total_length = 0
    tables, used = [], []
    offset = 0
    for chrom, rows, units, lo, hi, (hap, path, start, end) in per_chrom:
        founder = slot_founder[slot_inverse[offset : offset + len(hap)].ravel()]
        offset += len(hap)
        founder_hap = 2 * founder + (path & 1)
        order = np.lexsort((start, hap))
        hap, start, end, founder_hap = hap[order], start[order], end[order], founder_hap[order]
        hap, start, end, founder_hap = _merge_runs(hap, start, end, founder_hap)
        pop = founder_pop[founder_hap // 2]
        lengths += np.bincount(
            (hap // 2) * n_pops + pop,
            weights=(end - start).astype(np.float64),
            minlength=lengths.size,
        ).reshape(lengths.shape)
        total_length += hi - lo
        first = rows.start + np.searchsorted(units, start, side="left")
        last = rows.start + np.searchsorted(units, end, side="left")
        keep = last > first
        _paint(haplotypes, panel.haplotypes, hap[keep], founder_hap[keep], first[keep], last[keep])
        used.append(np.unique(founder_hap))
        positions = variants["pos"].to_numpy()[rows].astype(np.float64)
        tables.append(_ancestry_table(chrom, hap, start, end, pop, units, positions))

    log(f"painted {2 * n_desc} haplotypes x {len(variants)} SNPs")
    truth_q = lengths / (2.0 * total_length)
    labels = np.array([columns[i] for i in truth_q.argmax(axis=1)], dtype=object)
    segments = pd.concat(tables, ignore_index=True)
    segments.insert(0, "sample", np.asarray(sample_ids, dtype=object)[segments.pop("index")])
    segments["population"] = np.asarray(columns, dtype=object)[segments["population"]]
    return Simulation(
        haplotypes=haplotypes,
        sample_ids=sample_ids,
        populations=list(columns),
        truth_q=truth_q,
        labels=labels,
        kinds=np.asarray(kinds, dtype=object),
        segments=segments,
        founder_haplotypes_used=np.unique(np.concatenate(used)),
        variants=variants,
    )


def _descendant_ids(prefix: str, kinds: list[str], focus: list[str]) -> list[str]:
    counters: dict[tuple[str, str], int] = {}
    ids = []
    for kind, name in zip(kinds, focus, strict=True):
        number = counters.get((kind, name), 0) + 1
        counters[(kind, name)] = number
        ids.append(f"{prefix}{kind}_{name}_{number:04d}")
    return ids


def _trace_lineages(n_haplotypes: int, lo: int, hi: int, generations: int, rng):
    """Split every haplotype's interval ``[lo, hi)`` back through ``generations`` meioses.

    Returns ``(haplotype, path, start, end)`` arrays, one entry per final piece, where ``path``
    holds one bit per generation (the parental haplotype chosen at each meiosis, oldest last).
    """
    span = hi - lo + 1
    morgans = (hi - lo) / UNITS_PER_MORGAN
    lineage_hap = np.arange(n_haplotypes, dtype=np.int64)
    lineage_path = np.zeros(n_haplotypes, dtype=np.int64)
    interval_lineage = np.arange(n_haplotypes, dtype=np.int64)
    interval_start = np.full(n_haplotypes, lo, dtype=np.int64)
    interval_end = np.full(n_haplotypes, hi, dtype=np.int64)
    for _ in range(generations):
        n_lineages = len(lineage_hap)
        # Crossovers of each lineage's meiosis: Poisson count per Morgan, uniform positions.
        counts = rng.poisson(morgans, size=n_lineages)
        owner = np.repeat(np.arange(n_lineages, dtype=np.int64), counts)
        cross_key = np.sort(owner * span + rng.integers(0, hi - lo, size=owner.size))
        cross_before = np.r_[0, np.cumsum(counts)[:-1]]
        first_side = rng.integers(0, 2, size=n_lineages)

        start_key = interval_lineage * span + (interval_start - lo)
        end_key = interval_lineage * span + (interval_end - lo)
        containing = np.searchsorted(start_key, cross_key, side="right") - 1
        inside = (containing >= 0) & (cross_key < end_key[np.maximum(containing, 0)])
        inside &= cross_key > start_key[np.maximum(containing, 0)]
        piece_key = np.sort(np.concatenate([start_key, cross_key[inside]]))
        piece_interval = np.searchsorted(start_key, piece_key, side="right") - 1
        piece_end = np.minimum(
            np.r_[piece_key[1:], np.iinfo(np.int64).max], end_key[piece_interval]
        )
        piece_lineage = interval_lineage[piece_interval]
        switches = np.searchsorted(cross_key, piece_key, side="right") - cross_before[piece_lineage]
        side = (first_side[piece_lineage] + switches) & 1

        child = 2 * piece_lineage + side
        order = np.argsort(child, kind="stable")
        child, piece_key, piece_end = child[order], piece_key[order], piece_end[order]
        children, interval_lineage = np.unique(child, return_inverse=True)
        interval_lineage = interval_lineage.ravel().astype(np.int64)
        base = (child // 2) * span - lo
        interval_start, interval_end = piece_key - base, piece_end - base
        parent = children // 2
        lineage_hap = lineage_hap[parent]
        lineage_path = (lineage_path[parent] << 1) | (children & 1)
    return (
        lineage_hap[interval_lineage],
        lineage_path[interval_lineage],
        interval_start,
        interval_end,
    )


def _draw_founders(descendant, mixture, founder_pop, n_pops, rng) -> np.ndarray:
    """A founder for each pedigree slot: population from the descendant's mixture, then uniform."""
    cumulative = np.cumsum(mixture[descendant], axis=1)
    # Scaling the uniform draw by the row total keeps rounding from ever picking a population
    # whose weight is zero.
    draw = rng.random(len(descendant)) * cumulative[:, -1]
    pop = (draw[:, None] >= cumulative).sum(axis=1)
    members = np.argsort(founder_pop, kind="stable")
    count = np.bincount(founder_pop, minlength=n_pops)
    first = np.r_[0, np.cumsum(count)[:-1]]
    pick = np.floor(rng.random(len(descendant)) * count[pop]).astype(np.int64)
    return members[first[pop] + pick]


def _merge_runs(hap, start, end, label):
    """Merge consecutive pieces (sorted by haplotype, then start) that share ``label``."""
    new_run = np.r_[True, (hap[1:] != hap[:-1]) | (label[1:] != label[:-1])]
    heads = np.flatnonzero(new_run)
    tails = np.r_[heads[1:], len(hap)] - 1
    return hap[heads], start[heads], end[tails], label[heads]


def _ancestry_table(chrom, hap, start, end, pop, units, positions) -> pd.DataFrame:
    hap, start, end, pop = _merge_runs(hap, start, end, pop)
    start_cm, end_cm = start / UNITS_PER_CM, end / UNITS_PER_CM
    snp_cm = units / UNITS_PER_CM
    n_snps = np.searchsorted(units, end, side="left") - np.searchsorted(units, start, side="left")
    return pd.DataFrame(
        {
            "index": hap // 2,
            "haplotype": hap % 2,
            "chrom": chrom,
            "start_bp": np.round(np.interp(start_cm, snp_cm, positions)).astype(np.int64),
            "end_bp": np.round(np.interp(end_cm, snp_cm, positions)).astype(np.int64),
            "start_cm": np.round(start_cm, 6),
            "end_cm": np.round(end_cm, 6),
            "n_snps": n_snps,
            "population": pop,
        }
    )


@numba.njit(parallel=True, cache=True)
def _paint_kernel(out, founders, hap, founder_hap, first, last):
    for i in numba.prange(len(hap)):
        out[hap[i], first[i] : last[i]] = founders[founder_hap[i], first[i] : last[i]]


def _paint(out, founders, hap, founder_hap, first, last) -> None:
    _paint_kernel(
        out,
        founders,
        np.ascontiguousarray(hap, dtype=np.int64),
        np.ascontiguousarray(founder_hap, dtype=np.int64),
        np.ascontiguousarray(first, dtype=np.int64),
        np.ascontiguousarray(last, dtype=np.int64),
    )


# --------------------------------------------------------------------------------------------
# Output
# --------------------------------------------------------------------------------------------


def output_paths(prefix: str | os.PathLike, vcf: bool, bed: bool, segments: bool) -> list[Path]:
    """Every file :func:`write_simulation` writes for ``prefix``."""
    prefix = str(prefix)
    truth = layout.truth(prefix)
    paths = [truth, layout.q_columns(truth), layout.labels(prefix)]
    if vcf:
        paths.append(f"{prefix}.vcf.gz")
    if bed:
        paths += [f"{prefix}.bed", f"{prefix}.bim", f"{prefix}.fam"]
    if segments:
        paths.append(f"{prefix}.segments.tsv")
    return [Path(p) for p in paths]


def write_simulation(
    staged,
    prefix: str | os.PathLike,
    sim: Simulation,
    vcf: bool = True,
    bed: bool = False,
    segments: bool = False,
) -> None:
    """Write a simulation through ``staged`` (from :func:`neuradmix.data.atomic_outputs`)."""
    prefix = str(prefix)
    write_q(staged(layout.truth(prefix)), sim.truth_q)
    staged_columns = staged(layout.q_columns(layout.truth(prefix)))
    staged_columns.write_text("".join(f"{name}\n" for name in sim.populations))
    write_labels(staged(layout.labels(prefix)), sim.sample_ids, sim.labels)
    if vcf:
        write_vcf(
            staged(f"{prefix}.vcf.gz"),
            sim.haplotypes,
            sim.sample_ids,
            sim.variants,
            haplotype_major=True,
            source="neuradmix simulate",
            compress=True,
            threads=numba.get_num_threads(),
        )
    if bed:
        write_bed_parts(
            staged(f"{prefix}.bed"),
            staged(f"{prefix}.bim"),
            staged(f"{prefix}.fam"),
            sim.genotypes(),
        )
    if segments:
        sim.segments.to_csv(
            staged(f"{prefix}.segments.tsv"), sep="\t", index=False, float_format="%.6f"
        )


def simulate_to_files(
    panel: FounderPanel,
    prefix: str | os.PathLike,
    *,
    vcf: bool = True,
    bed: bool = False,
    segments: bool = False,
    **options,
) -> Simulation:
    """Simulate from ``panel`` and write all outputs for ``prefix`` (all or nothing)."""
    log = options.get("log") or (lambda message: None)
    sim = simulate(panel, **options)
    log(f"writing {prefix}.*")
    with atomic_outputs() as staged:
        write_simulation(staged, prefix, sim, vcf=vcf, bed=bed, segments=segments)
    return sim


def simulate_split_to_files(
    panel: FounderPanel,
    prefix: str | os.PathLike,
    *,
    val_fraction: float = 0.2,
    val_samples: list[str] | None = None,
    n_admixed_per_ancestry: int = 400,
    n_val_admixed_per_ancestry: int = 50,
    n_single_per_ancestry: int = 0,
    n_val_single_per_ancestry: int = 0,
    generations: int = 8,
    alpha: float = 1.0,
    seed: int = 0,
    vcf: bool = True,
    bed: bool = False,
    segments: bool = False,
    log: Callable[[str], None] | None = None,
) -> tuple[Simulation, Simulation, FounderPanel, FounderPanel]:
    """Split the founders into disjoint train/validation sets and simulate each side separately.

    Writes ``PREFIX.train.*`` and ``PREFIX.val.*`` (the same files as :func:`simulate_to_files`)
    and ``PREFIX.founders.tsv`` (sample, population, partition). Both sides share the truth-Q
    columns, and no founder haplotype can reach both sides.
    """
    log = log or (lambda message: None)
    train_panel, val_panel = split_founders(panel, val_fraction, seed, val_samples)
    train_seed, val_seed = np.random.SeedSequence([seed, 1]).generate_state(2)
    common = dict(generations=generations, alpha=alpha, populations=panel.population_names, log=log)
    log(f"training side: {train_panel.n_founders} founders")
    train = simulate(
        train_panel,
        n_admixed_per_ancestry=n_admixed_per_ancestry,
        n_single_per_ancestry=n_single_per_ancestry,
        seed=int(train_seed),
        id_prefix="train_",
        **common,
    )
    log(f"validation side: {val_panel.n_founders} founders")
    val = simulate(
        val_panel,
        n_admixed_per_ancestry=n_val_admixed_per_ancestry,
        n_single_per_ancestry=n_val_single_per_ancestry,
        seed=int(val_seed),
        id_prefix="val_",
        **common,
    )
    prefix = str(prefix)
    log(f"writing {prefix}.train.*, {prefix}.val.* and {prefix}.founders.tsv")
    with atomic_outputs() as staged:
        write_simulation(staged, f"{prefix}.train", train, vcf=vcf, bed=bed, segments=segments)
        write_simulation(staged, f"{prefix}.val", val, vcf=vcf, bed=bed, segments=segments)
        pd.DataFrame(
            {
                "sample": train_panel.samples + val_panel.samples,
                "population": np.r_[train_panel.populations, val_panel.populations],
                "partition": ["train"] * train_panel.n_founders + ["val"] * val_panel.n_founders,
            }
        ).to_csv(staged(f"{prefix}.founders.tsv"), sep="\t", index=False)
    return train, val, train_panel, val_panel
