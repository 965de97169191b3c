"""Bad inputs and faults a user meets: each gets one line naming the file or setting and the fix,
a non-zero exit and no partial output; inputs that are right to accept get one warning."""

from __future__ import annotations

import errno
import gzip
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from neuradmix.classic import fit as classic
from neuradmix.cli import main
from neuradmix.data import MISSING, atomic_outputs, make_genotypes, read_bed, write_bed
from neuradmix.data.outputs import check_out_dir
from neuradmix.errors import InputError
from neuradmix.simulation.psd import simulate_psd


@pytest.fixture(scope="module")
def cohort():
    return simulate_psd(60, 400, 2, fst=0.2, missing_rate=0.01, seed=3)


def _fileset(folder: Path, name: str, calls, snp_ids=None) -> Path:
    genotypes = make_genotypes(calls, snp_ids=snp_ids)
    write_bed(folder / name, genotypes)
    return folder / f"{name}.bed"


def _one_line_error(capsys, arguments, *fragments):
    assert main([str(a) for a in arguments]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1, err
    for fragment in fragments:
        assert fragment in err, err
    return err


# ------------------------------------------------------------------------------------------
# Inputs
# ------------------------------------------------------------------------------------------


def test_a_truncated_gzip_vcf_is_refused_in_one_line(tmp_path, capsys):
    records = "".join(f"1\t{100 + i}\t.\tA\tG\t.\tPASS\t.\tGT\t0|1\t1|1\n" for i in range(3000))
    text = (
        "##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\ts1\ts2\n"
        + records
    )
    whole = gzip.compress(text.encode())
    vcf = tmp_path / "cut.vcf.gz"
    vcf.write_bytes(whole[: len(whole) // 2])
    _one_line_error(capsys, ["check-vcf", vcf, "--out", tmp_path / "o"], "cut.vcf.gz", "truncated")
    assert not (tmp_path / "o").exists()


def test_vcf_sample_names_with_spaces_are_refused(tmp_path, capsys):
    vcf = tmp_path / "spaced.vcf"
    vcf.write_text(
        "##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tanne m\tb\n"
        "1\t100\t.\tA\tG\t.\tPASS\t.\tGT\t0|1\t1|1\n"
    )
    _one_line_error(capsys, ["check-vcf", vcf, "--out", tmp_path / "o"], "'anne m'", "reheader")


def test_a_duplicated_snp_id_is_refused_by_every_reader(tmp_path, capsys, cohort):
    ids = [f"rs{j}" for j in range(400)]
    ids[7] = "rs3"
    bed = _fileset(tmp_path, "dup", cohort.genotypes.calls, snp_ids=ids)
    _one_line_error(
        capsys,
        ["em", bed, "--k", 2, "--out", tmp_path / "o"],
        "dup.bim",
        "'rs3' appears more than once (lines 4 and 8)",
        "--rm-dup",
    )
    assert not (tmp_path / "o").exists()


def test_a_sample_without_calls_or_a_monomorphic_cohort_is_refused(tmp_path, capsys, cohort):
    calls = cohort.genotypes.calls.copy()
    calls[5] = MISSING
    bed = _fileset(tmp_path, "empty", calls)
    for command in (["em", "--k", 2], ["train", "--k", 2]):
        _one_line_error(
            capsys,
            [command[0], bed, *command[1:], "--out", tmp_path / "o"],
            "1 sample(s) have no observed genotype (ind6)",
            "--remove",
        )
    flat = np.where(cohort.genotypes.calls < 3, 0, MISSING).astype(np.uint8)
    bed = _fileset(tmp_path, "flat", flat)
    _one_line_error(capsys, ["em", bed, "--k", 2, "--out", tmp_path / "o"], "monomorphic")
    assert not (tmp_path / "o").exists()


def test_snps_without_calls_are_accepted_with_a_warning_and_change_nothing(cohort, capsys):
    from neuradmix.data.checks import check_fittable

    calls = cohort.genotypes.calls
    padded = np.concatenate([calls, np.full((calls.shape[0], 3), MISSING, np.uint8)], axis=1)
    with_empty = make_genotypes(padded)
    check_fittable(with_empty)
    err = capsys.readouterr().err
    assert "warning: 3 SNP(s) have no observed call (snp401, snp402, snp403)" in err
    assert len(err.strip().splitlines()) == 1
    plain = classic.fit(make_genotypes(calls), 2, seed=1, tol=1e-10)
    padded_fit = classic.fit(with_empty, 2, seed=1, tol=1e-10)
    np.testing.assert_allclose(padded_fit.q, plain.q, atol=1e-6)
    assert padded_fit.log_likelihood == pytest.approx(plain.log_likelihood, rel=1e-10)


def test_labels_naming_samples_not_in_the_fam_are_reported(tmp_path, capsys, cohort):
    from neuradmix.data import read_labels

    table = tmp_path / "labels.tsv"
    ids = cohort.genotypes.sample_ids
    table.write_text(
        "sample\tpopulation\n"
        + "".join(f"{i}\t{x}\n" for i, x in zip(ids, cohort.labels, strict=True))
        + "ghost1\tpop1\nghost2\tpop2\n"
    )
    labels = read_labels(table, ids)
    assert list(labels) == list(cohort.labels)
    err = capsys.readouterr().err
    assert "labels.tsv: warning: 2 sample(s) named here are not in the genotype data" in err
    assert "(ghost1, ghost2)" in err and "sample" not in err.split("(")[1]


# ------------------------------------------------------------------------------------------
# Outputs
# ------------------------------------------------------------------------------------------


def test_an_unwritable_output_directory_is_refused_before_work(tmp_path, monkeypatch):
    monkeypatch.setattr("os.access", lambda path, mode: False)
    with pytest.raises(InputError, match="not writable"):
        check_out_dir(tmp_path / "out")
    monkeypatch.undo()
    with pytest.raises(InputError, match="MiB free on its file system, but the outputs need"):
        check_out_dir(tmp_path / "out", expected_bytes=1 << 62)


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EROFS])
def test_a_full_or_read_only_disk_while_writing_leaves_nothing(tmp_path, code):
    with pytest.raises(InputError, match="cannot write the outputs") as caught:
        with atomic_outputs() as staged:
            staged(tmp_path / "run.2.Q").write_text("0.5 0.5\n")
            raise OSError(code, "simulated", str(staged(tmp_path / "run.2.P")))
    assert str(tmp_path) in str(caught.value)
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------------------------------
# Interruptions
# ------------------------------------------------------------------------------------------


def test_sigterm_is_handled_like_ctrl_c(tmp_path):
    """A scheduler's time limit sends SIGTERM: one line, exit 143 (128 + 15), no outputs."""
    big = simulate_psd(400, 4000, 3, seed=1)
    write_bed(tmp_path / "big", big.genotypes)
    process = subprocess.Popen(
        [sys.executable, "-m", "neuradmix", "em", str(tmp_path / "big.bed"), "--k", "3",
         "--bootstrap", "200", "--bootstrap-block", "0.1", "--out", str(tmp_path / "o"),
         "--threads", "1"],
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    # Wait for the fit's first progress line: by then the command runs and handles signals.
    first = process.stderr.readline()
    assert first, "the run ended before it could be interrupted"
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 143, first + err
    assert err.strip().splitlines()[-1] == "neuradmix: terminated (SIGTERM)"
    assert not (tmp_path / "o").exists() or not any((tmp_path / "o").iterdir())


def test_a_real_fit_reads_back_what_it_wrote(tmp_path, cohort):
    """The checks do not get in the way of a normal run."""
    write_bed(tmp_path / "ok", cohort.genotypes)
    assert main(["em", str(tmp_path / "ok.bed"), "--k", "2", "--out", str(tmp_path / "o"),
                 "--quiet"]) == 0  # fmt: skip
    assert read_bed(tmp_path / "ok.bed").n_samples == 60
    assert (tmp_path / "o" / "ok.2.Q").is_file()
