"""The VCF pre-flight check the workflow runs before plink2 converts a cohort."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from neuradmix.cli import main
from neuradmix.data.vcf import check_vcf
from neuradmix.errors import InputError

HEADER = (
    "##fileformat=VCFv4.2\n"
    '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">\n'
    "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\ts1\ts2\ts3\n"
)


def write_vcf_text(path: Path, records: list[str], compress: bool = False) -> Path:
    text = HEADER + "".join(r + "\n" for r in records)
    if compress:
        with gzip.open(path, "wt") as handle:
            handle.write(text)
    else:
        path.write_text(text)
    return path


# ---------------------------------------------------------------------------------------------
# check_vcf
# ---------------------------------------------------------------------------------------------


def test_check_vcf_counts_sites_and_phase(tmp_path):
    vcf = write_vcf_text(
        tmp_path / "ok.vcf.gz",
        [
            "1\t100\t.\tA\tG\t.\tPASS\t.\tGT\t0|1\t1|1\t0|0",
            "1\t200\t.\tA\tG,T\t.\tPASS\t.\tGT\t0|2\t1|1\t0|0",
            "1\t300\t.\tAT\tG\t.\tPASS\t.\tGT:DP\t0|1:3\t1|1:4\t0|0:5",
            "1\t400\t.\tC\tT\t.\tPASS\t.\tGT:DP\t.|.:0\t1|0:4\t0|0:5",
        ],
        compress=True,
    )
    summary = check_vcf(vcf, require_phased=True)
    assert (summary.n_samples, summary.n_sites) == (3, 4)
    assert (summary.n_biallelic_snps, summary.n_multiallelic, summary.n_other) == (2, 1, 1)
    assert summary.phased


@pytest.mark.parametrize(
    ("call", "sample"),
    [("0", "s2"), ("1:7", "s2"), ("0/1/1", "s2")],
)
def test_check_vcf_rejects_non_diploid_calls(tmp_path, call, sample):
    fmt = "GT:DP" if ":" in call else "GT"
    other = "0/1:3" if ":" in call else "0/1"
    vcf = write_vcf_text(
        tmp_path / "bad.vcf",
        [
            f"1\t100\t.\tA\tG\t.\tPASS\t.\t{fmt}\t{other}\t{other}\t{other}",
            f"1\t200\t.\tA\tG\t.\tPASS\t.\t{fmt}\t{other}\t{call}\t{other}",
        ],
    )
    with pytest.raises(InputError, match=rf"bad.vcf: line 5 .*sample {sample}.*non-diploid"):
        check_vcf(vcf)


def test_check_vcf_unphased_only_fails_when_phase_is_required(tmp_path):
    vcf = write_vcf_text(
        tmp_path / "unphased.vcf", ["1\t100\t.\tA\tG\t.\tPASS\t.\tGT\t0|1\t0/1\t./."]
    )
    assert not check_vcf(vcf).phased
    with pytest.raises(InputError, match="unphased genotype"):
        check_vcf(vcf, require_phased=True)


def test_check_vcf_cli_error_is_one_line_and_exit_2(tmp_path, capsys):
    vcf = write_vcf_text(tmp_path / "bad.vcf", ["1\t100\t.\tA\tG\t.\tPASS\t.\tGT\t0|1\t1\t0|0"])
    out = tmp_path / "checked"
    assert main(["check-vcf", str(vcf), "--out", str(out), "--name", "bad"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "bad.vcf" in err and "non-diploid" in err
    assert not out.exists()


def test_check_vcf_cli_writes_out_dir_name_vcf_check(tmp_path):
    vcf = write_vcf_text(tmp_path / "good.vcf", ["1\t100\t.\tA\tG\t.\tPASS\t.\tGT\t0|1\t1|1\t0|0"])
    assert main(["check-vcf", str(vcf), "--out", str(tmp_path / "checked")]) == 0
    summary = (tmp_path / "checked" / "good.vcf_check.tsv").read_text()
    assert "n_biallelic_snps\t1\n" in summary


def test_check_vcf_refuses_a_vcf_without_snps(tmp_path):
    vcf = write_vcf_text(
        tmp_path / "indels.vcf", ["1\t100\t.\tAT\tG\t.\tPASS\t.\tGT\t0|1\t1|1\t0|0"]
    )
    with pytest.raises(InputError, match="none of the 1 records is a biallelic SNP"):
        check_vcf(vcf)
