"""Genotype and ADMIXTURE file I/O: round trips, orientation, clear errors."""

import shutil
import subprocess

import numpy as np
import pytest

from neuradmix.compute.engines import log_likelihood
from neuradmix.data import (
    MISSING,
    atomic_outputs,
    make_genotypes,
    read_bed,
    read_fam_ids,
    read_labels,
    read_p,
    read_psam_ids,
    read_q,
    require_pfileset,
    write_bed,
    write_matrix,
    write_p,
    write_q,
)
from neuradmix.data.matrices import as_written
from neuradmix.errors import InputError
from neuradmix.simulation.psd import simulate_psd
from neuradmix.stats.frequencies import allele_frequencies


def test_bed_round_trip_keeps_counts_missing_and_metadata(tmp_path):
    rng = np.random.default_rng(0)
    calls = rng.integers(0, 4, size=(7, 13)).astype(np.uint8)  # 7 samples: a partial last byte
    genotypes = make_genotypes(calls, alleles=("T", "C"))
    write_bed(tmp_path / "x", genotypes)
    back = read_bed(tmp_path / "x.bed")
    assert back.calls.dtype == np.uint8
    np.testing.assert_array_equal(back.calls, calls)
    assert list(back.sample_ids) == list(genotypes.sample_ids)
    assert list(back.variants["a1"]) == ["T"] * 13
    assert back.variants["pos"].tolist() == genotypes.variants["pos"].tolist()


def test_bed_bit_layout_is_plinks(tmp_path):
    # One SNP, four samples: hom A1, missing, het, hom A2 -> codes 00, 01, 10, 11 -> byte 0xE4.
    genotypes = make_genotypes(np.array([[2], [MISSING], [1], [0]], dtype=np.uint8))
    write_bed(tmp_path / "x", genotypes)
    assert (tmp_path / "x.bed").read_bytes() == bytes([0x6C, 0x1B, 0x01, 0xE4])


@pytest.mark.skipif(shutil.which("plink2") is None, reason="plink2 not installed")
def test_counted_allele_is_plink2_alt_a1(tmp_path):
    cohort = simulate_psd(40, 30, 2, seed=1)
    write_bed(tmp_path / "x", cohort.genotypes)
    subprocess.run(
        ["plink2", "--bfile", str(tmp_path / "x"), "--freq", "--out", str(tmp_path / "x")],
        check=True,
        capture_output=True,
    )
    table = np.genfromtxt(
        tmp_path / "x.afreq", dtype=None, names=True, encoding=None, comments=None
    )
    ours, _ = allele_frequencies(read_bed(tmp_path / "x.bed").calls)
    np.testing.assert_allclose(table["ALT_FREQS"], ours, atol=1e-6)


def test_fastmixture_p_gives_fastmixtures_log_likelihood(tmp_path):
    """The orientation proof: fastmixture's .P under our reader reproduces its own likelihood."""
    fastmixture = shutil.which("fastmixture")
    if fastmixture is None:
        pytest.skip("fastmixture not installed")
    cohort = simulate_psd(100, 3000, 2, missing_rate=0.01, seed=5)
    freq, _ = allele_frequencies(cohort.genotypes.calls)
    keep = np.flatnonzero((freq > 0.02) & (freq < 0.98))  # fastmixture insists on MAF filtering
    write_bed(tmp_path / "fm", cohort.genotypes.select_snps(keep))
    run = subprocess.run(
        [
            fastmixture,
            "--bfile",
            str(tmp_path / "fm"),
            "--K",
            "2",
            "--threads",
            "1",
            "--seed",
            "1",
            "--out",
            str(tmp_path / "out"),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    reported = float(run.stdout.split("Final log-likelihood:")[1].split()[0])
    genotypes = read_bed(tmp_path / "fm.bed")
    q = read_q(tmp_path / "out.K2.s1.Q", genotypes.n_samples)
    p = read_p(tmp_path / "out.K2.s1.P", genotypes.n_snps)
    ours = log_likelihood(genotypes.calls, q, p)
    assert ours == pytest.approx(reported, rel=1e-6, abs=0.5)
    # The other orientation would be far off: the test can tell the two apart.
    assert abs(log_likelihood(genotypes.calls, q, 1 - p) - reported) > 1000


def test_truncated_bed_is_named_with_a_fix(tmp_path):
    write_bed(tmp_path / "x", simulate_psd(10, 20, 2).genotypes)
    data = (tmp_path / "x.bed").read_bytes()
    (tmp_path / "x.bed").write_bytes(data[:-3])
    with pytest.raises(InputError, match=r"x\.bed.*truncated"):
        read_bed(tmp_path / "x.bed")


def test_missing_companion_and_bad_magic(tmp_path):
    write_bed(tmp_path / "x", simulate_psd(10, 20, 2).genotypes)
    (tmp_path / "x.fam").unlink()
    with pytest.raises(InputError, match=r"x\.fam: file not found"):
        read_bed(tmp_path / "x")
    write_bed(tmp_path / "y", simulate_psd(10, 20, 2).genotypes)
    raw = bytearray((tmp_path / "y.bed").read_bytes())
    raw[2] = 0
    (tmp_path / "y.bed").write_bytes(bytes(raw))
    with pytest.raises(InputError, match="SNP-major"):
        read_bed(tmp_path / "y.bed")


def test_q_and_p_files_round_trip_and_validate(tmp_path):
    q = np.array([[0.25, 0.75], [1.0, 0.0]])
    write_q(tmp_path / "a.2.Q", q)
    np.testing.assert_allclose(read_q(tmp_path / "a.2.Q", 2), q)
    with pytest.raises(InputError, match="3 samples"):
        read_q(tmp_path / "a.2.Q", 3)
    write_matrix(tmp_path / "bad.2.P", np.array([[0.1, 1.5]]))
    with pytest.raises(InputError, match=r"\[0, 1\]"):
        read_p(tmp_path / "bad.2.P")


def test_p_is_bounded_on_write_as_admixture_does(tmp_path):
    write_p(tmp_path / "a.3.P", np.array([[0.0, 0.5, 1.0], [1e-9, 0.25, 1 - 1e-9]]))
    assert (tmp_path / "a.3.P").read_text().splitlines() == [
        "0.000010 0.500000 0.999990",
        "0.000010 0.250000 0.999990",
    ]
    with pytest.raises(ValueError, match="finite and lie in"):
        write_p(tmp_path / "b.1.P", np.array([[np.nan]]))


def test_tools_are_scored_on_what_their_files_say(tmp_path):
    """``as_written`` gives exactly what reading the written .Q/.P back gives."""
    rng = np.random.default_rng(0)
    q = rng.dirichlet(np.ones(3), size=5)
    q[0] = [1.0, 0.0, 0.0]
    p = rng.uniform(0, 1, size=(7, 3))
    p[0] = [0.0, 1.0, 1e-9]
    write_q(tmp_path / "x.3.Q", q)
    write_p(tmp_path / "x.3.P", p)
    q_back = read_q(tmp_path / "x.3.Q")
    q_back /= q_back.sum(axis=1, keepdims=True)
    q_written, p_written = as_written(q, p)
    np.testing.assert_array_equal(p_written, read_p(tmp_path / "x.3.P"))
    np.testing.assert_allclose(q_written, q_back, rtol=0, atol=1e-15)
    assert p_written.min() == 1e-5 and p_written.max() == 1 - 1e-5


def test_duplicate_sample_ids_in_a_fam_are_refused(tmp_path):
    write_bed(tmp_path / "x", simulate_psd(4, 10, 2, seed=0).genotypes)
    fam = (tmp_path / "x.fam").read_text().splitlines()
    duplicate = fam[0].split()[1]
    fam[2] = " ".join(["other", duplicate, *fam[2].split()[2:]])  # same IID, another family
    (tmp_path / "x.fam").write_text("\n".join(fam) + "\n")
    with pytest.raises(
        InputError,
        match=rf"x\.fam: sample ID '{duplicate}' appears more than once "
        r"\(lines 1 and 3\)",
    ):
        read_bed(tmp_path / "x")
    with pytest.raises(InputError, match="must be unique"):
        read_fam_ids(tmp_path / "x.fam")


def test_psam_sample_ids_in_every_layout(tmp_path):
    layouts = {
        "fid": "#FID\tIID\tSEX\nf1\ta\t1\nf2\tb\tNA\n",
        "iid": "## written by a script\n#IID\tSEX\na\t2\nb\t1\n",
        "bare": "f1 a 0 0 1 -9\nf2 b 0 0 2 -9\n",  # no header: the .fam layout
    }
    for name, text in layouts.items():
        (tmp_path / f"{name}.psam").write_text(text)
        assert read_psam_ids(tmp_path / f"{name}.pgen") == ["a", "b"], name
    (tmp_path / "dup.psam").write_text("#IID\na\nb\na\n")
    with pytest.raises(InputError, match=r"dup\.psam: sample ID 'a' appears more than once"):
        read_psam_ids(tmp_path / "dup")
    with pytest.raises(InputError, match=r"fid\.pgen: file not found; .*\.pvar and \.psam"):
        require_pfileset(tmp_path / "fid.psam")


def test_labels_in_both_layouts_and_wrong_length(tmp_path):
    ids = ["a", "b", "c"]
    (tmp_path / "one.pop").write_text("EUR\n-\nAFR\n")
    assert list(read_labels(tmp_path / "one.pop", ids)) == ["EUR", "", "AFR"]
    (tmp_path / "two.tsv").write_text("c\tAFR\na\tEUR\n")
    assert list(read_labels(tmp_path / "two.tsv", ids)) == ["EUR", "", "AFR"]
    (tmp_path / "short.pop").write_text("EUR\nAFR\n")
    with pytest.raises(InputError, match=r"short\.pop: 2 labels.*3 samples"):
        read_labels(tmp_path / "short.pop", ids)


def test_atomic_outputs_leave_nothing_on_failure(tmp_path):
    with pytest.raises(RuntimeError), atomic_outputs() as staged:
        staged(tmp_path / "a.txt").write_text("partial")
        raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []
