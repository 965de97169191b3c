import gzip
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from neuradmix.data import MISSING, read_bed, write_bed
from neuradmix.data.vcf import read_vcf, read_vcf_genotypes, write_vcf
from neuradmix.errors import InputError

EXAMPLE = Path(__file__).resolve().parents[2] / "resources" / "example"

HEADER = "##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tS1\tS2\n"


def _write(path: Path, body: str) -> Path:
    path.write_text(HEADER + body)
    return path


def test_round_trip_bgzf_and_plain(tmp_path):
    rng = np.random.default_rng(3)
    haplotypes = rng.integers(0, 2, size=(300, 8), dtype=np.uint8)
    haplotypes[5, 2] = MISSING
    variants = pd.DataFrame(
        {"chrom": "2", "pos": np.arange(300) * 7 + 1, "snp": ".", "ref": "A", "alt": "T"}
    )
    samples = ["a", "b", "c", "d"]
    for name in ("x.vcf.gz", "x.vcf"):
        write_vcf(tmp_path / name, haplotypes, samples, variants)
        data = read_vcf(tmp_path / name, require_phased=False)
        np.testing.assert_array_equal(data.haplotypes, haplotypes)
        assert data.samples == samples and data.phased
        assert data.variants["snp"][0] == "2:1:A:T"
    with gzip.open(tmp_path / "x.vcf.gz", "rb") as handle:  # BGZF is valid multi-member gzip
        assert handle.read().decode().startswith("##fileformat=VCFv4.2")


def test_general_format_fields_and_dosage(tmp_path):
    path = _write(
        tmp_path / "f.vcf",
        "1\t10\trs1\tA\tG\t.\tPASS\t.\tGT:DP\t0|1:5\t1|1:7\n"
        "1\t20\trs2\tC\tT\t.\tPASS\t.\tGT\t.|.\t1|0\n",
    )
    genotypes = read_vcf_genotypes(path)
    np.testing.assert_array_equal(genotypes.calls, [[1, MISSING], [2, 1]])
    assert list(genotypes.variants["a1"]) == ["G", "T"]  # ALT is the counted allele
    assert list(genotypes.variants["snp"]) == ["rs1", "rs2"]


def test_dosage_matches_bed_round_trip(tmp_path):
    genotypes = read_vcf_genotypes(EXAMPLE / "example.vcf.gz")
    assert genotypes.n_samples == 300 and genotypes.n_snps > 20_000
    small = genotypes.select_snps(np.arange(0, genotypes.n_snps, 500))
    write_bed(tmp_path / "ex", small)
    np.testing.assert_array_equal(read_bed(tmp_path / "ex").calls, small.calls)


def test_unphased_genotype_is_rejected_when_phase_required(tmp_path):
    path = _write(tmp_path / "u.vcf", "1\t10\t.\tA\tG\t.\t.\t.\tGT\t0|1\t0/1\n")
    with pytest.raises(InputError, match=r"u\.vcf.*line 3.*unphased"):
        read_vcf(path, require_phased=True)
    assert not read_vcf(path, require_phased=False).phased


def test_multiallelic_site_is_rejected(tmp_path):
    path = _write(tmp_path / "m.vcf", "1\t10\t.\tA\tG,T\t.\t.\t.\tGT\t0|1\t2|0\n")
    with pytest.raises(InputError, match=r"m\.vcf.*multi-allelic.*bcftools"):
        read_vcf(path)


@pytest.mark.parametrize(
    ("call", "word"), [("0", "haploid"), ("0|1|1", "not diploid"), ("0|2", "biallelic")]
)
def test_non_diploid_and_bad_alleles_are_rejected(tmp_path, call, word):
    path = _write(tmp_path / "p.vcf", f"1\t10\t.\tA\tG\t.\t.\t.\tGT\t0|1\t{call}\n")
    with pytest.raises(InputError, match=rf"p\.vcf.*{word}"):
        read_vcf(path)


def test_missing_file_and_no_header(tmp_path):
    with pytest.raises(InputError, match="not found"):
        read_vcf(tmp_path / "absent.vcf")
    path = tmp_path / "h.vcf"
    path.write_text("1\t10\t.\tA\tG\t.\t.\t.\tGT\t0|1\n")
    with pytest.raises(InputError, match=r"h\.vcf.*header"):
        read_vcf(path)
