from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from neuradmix.cli import main
from neuradmix.data import read_bed, read_q
from neuradmix.data.vcf import read_vcf, write_vcf
from neuradmix.errors import InputError
from neuradmix.simulation.descendants import (
    UNITS_PER_MORGAN,
    FounderPanel,
    _trace_lineages,
    load_founders,
    read_genetic_map,
    simulate,
    split_founders,
)

POPULATIONS = ["AAA", "BBB", "CCC"]


def _panel(n_per_pop=4, n_snps=300, private=False, seed=0) -> FounderPanel:
    """Founders whose alleles reveal their origin.

    By default every allele of a founder of population ``i`` is ``i % 2`` on chromosome "1"
    and random on chromosome "2". With ``private`` SNP ``j`` carries ALT only on founder
    haplotype ``j``, so any ALT in a descendant names the founder haplotype it came from.
    """
    rng = np.random.default_rng(seed)
    n_founders = n_per_pop * len(POPULATIONS)
    populations = np.repeat(POPULATIONS, n_per_pop).astype(object)
    if private:
        n_snps = 2 * n_founders
        haplotypes = np.eye(n_snps, dtype=np.uint8)
    else:
        haplotypes = rng.integers(0, 2, size=(2 * n_founders, n_snps), dtype=np.uint8)
        code = np.repeat(np.arange(len(POPULATIONS)) % 2, 2 * n_per_pop)
        haplotypes[:, : n_snps // 2] = code[:, None]
    half = n_snps // 2
    variants = pd.DataFrame(
        {
            "chrom": ["1"] * half + ["2"] * (n_snps - half),
            "pos": np.r_[np.arange(half), np.arange(n_snps - half)] * 10_000 + 1,
            "snp": [f"s{j}" for j in range(n_snps)],
            "ref": "A",
            "alt": "C",
        }
    )
    variants["cm"] = (variants["pos"] - 1) / 1e6 * 40.0  # 40 cM/Mb: plenty of crossovers
    samples = [f"F{i:02d}" for i in range(n_founders)]
    return FounderPanel(haplotypes, samples, populations, variants)


def _write_inputs(tmp_path: Path, panel: FounderPanel):
    vcf = tmp_path / "founders.vcf.gz"
    write_vcf(vcf, panel.haplotypes, panel.samples, panel.variants, haplotype_major=True)
    labels = tmp_path / "pops.tsv"
    labels.write_text(
        "".join(f"{s}\t{p}\n" for s, p in zip(panel.samples, panel.populations, strict=True))
    )
    genetic_map = tmp_path / "genetic.map"
    ends = ((1, 0.0), (3_000_001, 120.0))  # 40 cM/Mb on both chromosomes
    genetic_map.write_text("".join(f"{c}\t.\t{cm}\t{bp}\n" for c in ("1", "2") for bp, cm in ends))
    return vcf, labels, genetic_map


# ---------------------------------------------------------------------------- recombination


def test_one_meiosis_has_poisson_crossovers_per_morgan():
    morgans = 2.0
    hi = int(morgans * UNITS_PER_MORGAN)
    hap, path, start, end = _trace_lineages(20_000, 0, hi, 1, np.random.default_rng(1))
    pieces = np.bincount(hap, minlength=20_000)
    crossovers = pieces - 1
    assert crossovers.mean() == pytest.approx(morgans, abs=0.05)
    assert crossovers.var() == pytest.approx(morgans, abs=0.1)  # Poisson: variance = mean
    # Pieces tile each haplotype: sorted, contiguous, from lo to hi, alternating parental sides.
    order = np.lexsort((start, hap))
    hap, path, start, end = hap[order], path[order], start[order], end[order]
    same = hap[1:] == hap[:-1]
    assert (start[1:][same] == end[:-1][same]).all()
    assert (path[1:][same] != path[:-1][same]).all()
    assert (start[np.r_[True, ~same]] == 0).all() and (end[np.r_[~same, True]] == hi).all()


def test_junctions_accumulate_one_per_morgan_per_generation():
    morgans, generations = 1.5, 6
    hi = int(morgans * UNITS_PER_MORGAN)
    hap, *_ = _trace_lineages(4_000, 0, hi, generations, np.random.default_rng(2))
    junctions = np.bincount(hap, minlength=4_000) - 1
    assert junctions.mean() == pytest.approx(morgans * generations, rel=0.05)


# ---------------------------------------------------------------------------- truth Q


def test_truth_q_sums_to_one_and_matches_segments_and_genotypes():
    panel = _panel()
    sim = simulate(panel, n_admixed_per_ancestry=15, generations=5, seed=3)
    assert sim.truth_q.shape == (45, 3)
    np.testing.assert_allclose(sim.truth_q.sum(axis=1), 1.0, atol=1e-12)
    assert sim.populations == POPULATIONS and (sim.truth_q < 1 - 1e-9).sum() > 20

    segments = sim.segments.assign(length=sim.segments["end_cm"] - sim.segments["start_cm"])
    by_pop = segments.pivot_table("length", "sample", "population", aggfunc="sum", fill_value=0)
    by_pop = by_pop.reindex(index=sim.sample_ids, columns=POPULATIONS, fill_value=0)
    expected = by_pop.to_numpy() / by_pop.to_numpy().sum(axis=1, keepdims=True)
    np.testing.assert_allclose(sim.truth_q, expected, atol=1e-6)
    np.testing.assert_array_equal(sim.labels, np.array(POPULATIONS)[sim.truth_q.argmax(axis=1)])

    # On chromosome 1 the allele is the population code, so the genotypes follow the segments.
    chrom1 = np.flatnonzero(panel.variants["chrom"] == "1")
    positions = panel.variants["pos"].to_numpy()[chrom1]
    index = {s: i for i, s in enumerate(sim.sample_ids)}
    for row in segments[segments["chrom"] == "1"].itertuples():
        inside = chrom1[(positions >= row.start_bp) & (positions <= row.end_bp)]
        alleles = sim.haplotypes[2 * index[row.sample] + row.haplotype, inside]
        assert (alleles == POPULATIONS.index(row.population) % 2).all()


def test_single_ancestry_descendants_are_pure():
    panel = _panel()
    sim = simulate(panel, n_admixed_per_ancestry=0, n_single_per_ancestry=6, seed=5)
    assert list(sim.kinds) == ["single"] * 18
    np.testing.assert_array_equal(sim.truth_q, np.repeat(np.eye(3), 6, axis=0))
    np.testing.assert_array_equal(sim.labels, np.repeat(POPULATIONS, 6))
    founder_pop = np.repeat(panel.populations, 2)[sim.founder_haplotypes_used]
    assert set(founder_pop) == set(POPULATIONS)
    chrom1 = (panel.variants["chrom"] == "1").to_numpy()
    code = np.repeat(np.arange(3) % 2, 12)  # 6 descendants x 2 haplotypes per population
    assert (sim.haplotypes[:, chrom1] == code[:, None]).all()


def test_same_seed_same_result_and_other_seed_differs():
    panel = _panel()
    first = simulate(panel, n_admixed_per_ancestry=5, n_single_per_ancestry=2, seed=11)
    again = simulate(panel, n_admixed_per_ancestry=5, n_single_per_ancestry=2, seed=11)
    other = simulate(panel, n_admixed_per_ancestry=5, n_single_per_ancestry=2, seed=12)
    np.testing.assert_array_equal(first.haplotypes, again.haplotypes)
    np.testing.assert_array_equal(first.truth_q, again.truth_q)
    pd.testing.assert_frame_equal(first.segments, again.segments)
    assert not np.array_equal(first.haplotypes, other.haplotypes)


def test_split_founders_never_share_a_haplotype():
    panel = _panel(n_per_pop=5, private=True)
    train_panel, val_panel = split_founders(panel, val_fraction=0.4, seed=1)
    assert not set(train_panel.samples) & set(val_panel.samples)
    assert sorted(train_panel.samples + val_panel.samples) == panel.samples
    assert all((val_panel.populations == p).sum() == 2 for p in POPULATIONS)
    columns = panel.population_names
    train = simulate(train_panel, n_admixed_per_ancestry=20, seed=2, populations=columns)
    val = simulate(val_panel, n_admixed_per_ancestry=20, seed=3, populations=columns)
    # SNP j is private to panel haplotype j: the ALT alleles name the contributing founders.
    founder_of_snp = np.repeat(panel.samples, 2)
    train_reached = set(founder_of_snp[train.haplotypes.any(axis=0)])
    val_reached = set(founder_of_snp[val.haplotypes.any(axis=0)])
    assert train_reached and val_reached
    assert train_reached <= set(train_panel.samples)
    assert val_reached <= set(val_panel.samples)


def test_split_needs_founders_on_both_sides():
    panel = _panel(n_per_pop=4)
    keep = np.r_[0, 4:12]  # population AAA keeps a single founder
    with pytest.raises(InputError, match="population AAA"):
        split_founders(panel.subset(keep), val_fraction=0.5)


# ---------------------------------------------------------------------------- genetic maps


def test_plink_and_hapmap_maps_agree(tmp_path):
    plink = tmp_path / "g.map"
    plink.write_text("chr1 . 0.0 1000\nchr1 . 1.0 2000\nchr1 . 4.0 3000\n")
    hapmap = tmp_path / "g.txt"
    hapmap.write_text(
        "Chromosome Position(bp) Rate(cM/Mb) Map(cM)\n1 1000 1000 0\n1 2000 3000 1\n1 3000 0 4\n"
    )
    for path in (plink, hapmap):
        cm = read_genetic_map(path).centimorgans("1", np.array([1000, 1500, 2500, 3000]))
        np.testing.assert_allclose(cm, [0.0, 0.5, 2.5, 4.0])


# ---------------------------------------------------------------------------- errors


def test_label_file_missing_samples(tmp_path):
    vcf, labels, genetic_map = _write_inputs(tmp_path, _panel())
    labels.write_text("".join(labels.read_text().splitlines(keepends=True)[:-2]))
    with pytest.raises(InputError, match=r"pops\.tsv: no population for 2 .*F10, F11"):
        load_founders(vcf, labels, genetic_map)


def test_map_not_covering_chromosome(tmp_path):
    vcf, labels, genetic_map = _write_inputs(tmp_path, _panel())
    genetic_map.write_text("1\t.\t0.0\t1\n1\t.\t10.0\t500000\n2\t.\t0.0\t1\n2\t.\t90\t3000000\n")
    with pytest.raises(InputError, match=r"genetic\.map: .*covers chromosome 1 from 1 to 500000"):
        load_founders(vcf, labels, genetic_map)
    genetic_map.write_text("1\t.\t0.0\t1\n1\t.\t90\t3000000\n")
    with pytest.raises(InputError, match=r"genetic\.map: .*no entries for chromosome 2"):
        load_founders(vcf, labels, genetic_map)


def test_unphased_and_multiallelic_founders(tmp_path):
    vcf, labels, genetic_map = _write_inputs(tmp_path, _panel())
    data = read_vcf(vcf)
    text = vcf.with_suffix("").with_suffix(".vcf")
    write_vcf(text, data.haplotypes, data.samples, data.variants)
    lines = text.read_text().splitlines(keepends=True)
    header = sum(line.startswith("#") for line in lines)
    unphased = lines[:]
    unphased[header + 3] = unphased[header + 3].replace("|", "/", 1)
    (tmp_path / "unphased.vcf").write_text("".join(unphased))
    with pytest.raises(InputError, match=r"unphased\.vcf: line .* unphased"):
        load_founders(tmp_path / "unphased.vcf", labels, genetic_map)
    multi = lines[:]
    multi[header] = multi[header].replace("\tA\tC\t", "\tA\tC,G\t", 1)
    (tmp_path / "multi.vcf").write_text("".join(multi))
    with pytest.raises(InputError, match=r"multi\.vcf: line .* multi-allelic"):
        load_founders(tmp_path / "multi.vcf", labels, genetic_map)


# ---------------------------------------------------------------------------- CLI


def _out(prefix: Path) -> list[str]:
    """--out DIR --name NAME for the files PREFIX.*."""
    return ["--out", str(prefix.parent), "--name", prefix.name]


def test_cli_simulate_end_to_end(tmp_path, capsys):
    vcf, labels, genetic_map = _write_inputs(tmp_path, _panel())
    prefix = tmp_path / "out" / "sim"
    args = ["simulate", "--vcf", str(vcf), "--labels", str(labels), "--map", str(genetic_map)]
    args += ["--n-per-ancestry", "4", "--n-single-per-ancestry", "2", "--generations", "3"]
    assert main([*args, "--seed", "7", *_out(prefix), "--bed", "--segments"]) == 0
    # Progress on stderr while it works: plain lines with the seconds elapsed, stage by stage.
    progress = capsys.readouterr().err.splitlines()
    assert len(progress) >= 5 and "\r" not in "".join(progress)
    assert progress[0].endswith(f"reading phased founders from {vcf}")
    assert any("chromosome" in line and "traced" in line for line in progress)
    q = read_q(f"{prefix}.truth.Q")
    assert q.shape == (18, 3)
    assert Path(f"{prefix}.truth.Q.columns").read_text().split() == POPULATIONS
    table = pd.read_csv(f"{prefix}.labels", sep="\t", header=None, names=["sample", "label"])
    assert table["label"].tolist() == [POPULATIONS[i] for i in q.argmax(axis=1)]
    bed = read_bed(prefix)
    data = read_vcf(f"{prefix}.vcf.gz")
    assert data.phased and data.samples == table["sample"].tolist() == bed.sample_ids.tolist()
    np.testing.assert_array_equal(bed.calls, data.dosage())
    np.testing.assert_allclose(bed.variants["cm"].to_numpy()[:3], [0.0, 0.4, 0.8])  # the map
    segments = pd.read_csv(f"{prefix}.segments.tsv", sep="\t")
    assert set(segments["population"]) <= set(POPULATIONS)

    # Same inputs and seed: identical files.
    again = tmp_path / "again" / "sim"
    assert main([*args, "--seed", "7", *_out(again)]) == 0
    assert Path(f"{again}.vcf.gz").read_bytes() == Path(f"{prefix}.vcf.gz").read_bytes()


def test_cli_bad_input_leaves_no_outputs(tmp_path, capsys):
    vcf, labels, genetic_map = _write_inputs(tmp_path, _panel())
    genetic_map.write_text("1\t.\t0.0\t1\n1\t.\t1.0\t1000\n")
    prefix = tmp_path / "out" / "sim"
    code = main(
        ["simulate", "--vcf", str(vcf), "--labels", str(labels), "--map", str(genetic_map)]
        + [*_out(prefix), "--bed"]
    )
    assert code == 2
    # One error line, after the progress lines of the work done so far.
    errors = [line for line in capsys.readouterr().err.splitlines() if "error" in line]
    assert len(errors) == 1 and errors[0].startswith("neuradmix simulate: error:")
    assert "genetic.map" in errors[0]
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_cli_simulate_split(tmp_path):
    vcf, labels, genetic_map = _write_inputs(tmp_path, _panel(n_per_pop=5))
    prefix = tmp_path / "split"
    args = ["simulate-split", "--vcf", str(vcf), "--labels", str(labels), "--cm-per-mb", "30"]
    args += ["--n-per-ancestry", "3", "--n-val-per-ancestry", "2", "--val-fraction", "0.4"]
    assert main([*args, *_out(prefix), "--no-vcf", "--bed"]) == 0
    founders = pd.read_csv(f"{prefix}.founders.tsv", sep="\t")
    assert founders.groupby(["population", "partition"]).size().tolist() == [3, 2] * 3
    train, val = read_bed(f"{prefix}.train"), read_bed(f"{prefix}.val")
    assert train.n_samples == 9 and val.n_samples == 6
    assert all(s.startswith("val_") for s in val.sample_ids)
    assert read_q(f"{prefix}.val.truth.Q").shape == (6, 3)
    assert not Path(f"{prefix}.train.vcf.gz").exists()


def test_cli_populations_restricts_the_sources(tmp_path, capsys):
    vcf, labels, genetic_map = _write_inputs(tmp_path, _panel())
    prefix = tmp_path / "out" / "sim"
    args = ["simulate", "--vcf", str(vcf), "--labels", str(labels), "--map", str(genetic_map)]
    args += ["--n-per-ancestry", "3", "--generations", "3", *_out(prefix)]
    sources = ",".join(POPULATIONS[:2])
    assert main([*args, "--populations", sources]) == 0
    assert Path(f"{prefix}.truth.Q.columns").read_text().split() == POPULATIONS[:2]
    assert read_q(f"{prefix}.truth.Q").shape == (6, 2)
    assert main([*args, "--populations", "nowhere," + POPULATIONS[0]]) == 2
    assert "no founders of population(s) nowhere" in capsys.readouterr().err
