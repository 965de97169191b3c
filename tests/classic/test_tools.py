"""Baseline runners: argument and file handling with a stub ``admixture``, real fastmixture,
fastmixture2 and ADAMIXTURE."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import numpy as np
import pytest

from neuradmix.classic import fit
from neuradmix.classic import tools as baselines
from neuradmix.cli import main
from neuradmix.data import make_genotypes, read_bed, read_p, read_q, write_bed, write_p
from neuradmix.data.timing import read_timing
from neuradmix.errors import InputError
from neuradmix.simulation.psd import simulate_psd

# A stand-in for the ADMIXTURE binary: records its arguments and working directory, checks the
# fileset and (with -P) the .P.in it was given, and writes PREFIX.K.Q/.P into the working
# directory the way the real program does.
STUB = """#!/bin/sh
echo "$@" > "$STUB_LOG"
pwd >> "$STUB_LOG"
for last; do :; done
K="$last"
for arg; do case "$arg" in *.bed) BED="$arg";; esac; done
PREFIX="${BED%.bed}"
[ -f "$PREFIX.bim" ] && [ -f "$PREFIX.fam" ] || { echo "Error: missing .bim/.fam"; exit 1; }
[ -n "$STUB_FAIL" ] && { echo "Error: stub asked to fail"; exit 3; }
N=$(wc -l < "$PREFIX.fam")
M=$(wc -l < "$PREFIX.bim")
case " $* " in *" -P "*) [ -f "$PREFIX.$K.P.in" ] || { echo "no P.in"; exit 4; };; esac
rows() {
  awk -v n="$1" -v k="$K" -v v="$2" \
    'BEGIN{for(i=0;i<n;i++){s="";for(c=0;c<k;c++)s=s sprintf("%s%.6f",(c?" ":""),v);print s}}'
}
rows "$N" "$(awk -v k="$K" 'BEGIN{print 1/k}')" > "$PREFIX.$K.Q"
rows "$M" 0.5 > "$PREFIX.$K.P"
echo "Loglikelihood: -1234.5"
"""


@pytest.fixture(scope="module")
def cohort_files(tmp_path_factory):
    planted = simulate_psd(120, 1500, 3, fst=0.2, seed=21)
    calls = planted.genotypes.calls
    # fastmixture refuses monomorphic SNPs ("Please perform MAF filtering!").
    polymorphic = np.flatnonzero(calls.min(axis=0) < calls.max(axis=0))
    genotypes = planted.genotypes.select_snps(polymorphic)
    prefix = tmp_path_factory.mktemp("baseline") / "cohort"
    write_bed(prefix, genotypes)
    return prefix, genotypes


@pytest.fixture()
def stub_admixture(tmp_path, monkeypatch):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    script = bindir / "admixture"
    script.write_text(STUB)
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    log = tmp_path / "stub.log"
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("STUB_LOG", str(log))
    return log


def test_admixture_runs_in_a_private_directory(cohort_files, stub_admixture, tmp_path, monkeypatch):
    prefix, genotypes = cohort_files
    monkeypatch.chdir(tmp_path)
    result = baselines.run_baseline(str(prefix) + ".bed", 3, "admixture", threads=2, seed=7)
    args, workdir = stub_admixture.read_text().splitlines()
    assert args.split() == ["-j2", "--seed=7", "data.bed", "3"]
    assert Path(workdir) != tmp_path and not Path(workdir).exists()
    assert result.tool == "admixture" and result.tool_log_likelihood == -1234.5
    assert result.q.shape == (120, 3) and result.p.shape == (genotypes.n_snps, 3)
    assert result.wall_seconds > 0
    assert sorted(os.listdir(tmp_path)) == ["bin", "stub.log"]  # nothing dropped in the CWD

    out = tmp_path / "out"
    assert main(["baseline", str(prefix) + ".bed", "--k", "3", "--tool", "admixture",
                 "--out", str(out), "--name", "ref", "--threads", "1"]) == 0  # fmt: skip
    assert sorted(os.listdir(out)) == [
        "ref.3.P",
        "ref.3.Q",
        "ref.3.baseline.tsv",
        "ref.3.timing.tsv",
    ]
    header, row = (out / "ref.3.baseline.tsv").read_text().splitlines()
    record = dict(zip(header.split("\t"), row.split("\t"), strict=True))
    assert record["tool"] == "admixture" and record["k"] == "3" and record["threads"] == "1"
    assert float(record["wall_seconds"]) > 0 and float(record["tool_log_likelihood"]) == -1234.5


def test_admixture_projection_gets_the_p_file(cohort_files, stub_admixture, tmp_path):
    prefix, genotypes = cohort_files
    p = np.full((genotypes.n_snps, 3), 0.3)
    result = baselines.project_baseline(str(prefix) + ".bed", p, "auto")
    assert result.tool == "admixture"
    assert "-P" in stub_admixture.read_text().split()
    np.testing.assert_array_equal(result.p, p)
    ref = tmp_path / "ref.3.P"
    write_p(ref, p)
    assert main(["project", str(prefix) + ".bed", "--p", str(ref), "--tool", "admixture",
                 "--out", str(tmp_path / "proj")]) == 0  # fmt: skip
    assert read_q(tmp_path / "proj" / "cohort.3.Q", 120).shape == (120, 3)


def test_failing_tool_gives_one_clear_error_and_no_outputs(
    cohort_files, stub_admixture, tmp_path, monkeypatch, capsys
):
    prefix, _ = cohort_files
    monkeypatch.setenv("STUB_FAIL", "1")
    out = tmp_path / "out"
    code = main(["baseline", str(prefix) + ".bed", "--k", "3", "--tool", "admixture",
                 "--out", str(out)])  # fmt: skip
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "admixture failed (exit 3)" in err
    assert "stub asked to fail" in err and str(prefix) in err
    assert not out.exists() or not any(out.iterdir())


def test_missing_tool_names_what_to_install(cohort_files, tmp_path, monkeypatch):
    prefix, _ = cohort_files
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(InputError, match="bioconda admixture|-c bioconda admixture"):
        baselines.run_baseline(str(prefix) + ".bed", 3, "admixture")
    assert baselines.resolve_tool("auto") in ("fastmixture2", "adamixture", "fastmixture", "em")
    with pytest.raises(InputError, match="choose one of"):
        baselines.resolve_tool("structure")


def test_missing_adamixture_names_what_to_install(cohort_files, monkeypatch, capsys, tmp_path):
    prefix, genotypes = cohort_files
    # Not on PATH and not beside the interpreter (where a virtualenv's pip puts it).
    monkeypatch.setattr(baselines, "find_executable", lambda tool: None)
    with pytest.raises(InputError, match=r"^adamixture not found .*pip install adamixture"):
        baselines.run_baseline(str(prefix) + ".bed", 3, "adamixture")
    p = np.full((genotypes.n_snps, 3), 0.3)
    with pytest.raises(InputError, match=r"^adamixture-project not found .*pip install adamixture"):
        baselines.project_baseline(str(prefix) + ".bed", p, "adamixture")
    out = tmp_path / "out"
    code = main(["baseline", str(prefix) + ".bed", "--k", "3", "--tool", "adamixture",
                 "--out", str(out)])  # fmt: skip
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "--tool em" in err
    assert not out.exists() or not any(out.iterdir())


def test_auto_prefers_admixture(stub_admixture):
    assert baselines.resolve_tool("auto") == "admixture"


@pytest.mark.skipif(
    baselines.find_executable("fastmixture") is None, reason="fastmixture not installed"
)
def test_real_fastmixture_matches_our_em(cohort_files, tmp_path, aligned):
    prefix, genotypes = cohort_files
    out = tmp_path / "fm"
    assert main(["baseline", str(prefix) + ".bed", "--k", "3", "--tool", "fastmixture",
                 "--out", str(out), "--threads", "1", "--seed", "3"]) == 0  # fmt: skip
    q = read_q(out / "cohort.3.Q", 120)
    p = read_p(out / "cohort.3.P", genotypes.n_snps)
    ours = fit.fit(read_bed(str(prefix) + ".bed"), 3, seed=3)
    # Same model, same allele counted: matched Q and P columns agree closely.
    assert np.abs(aligned(q, ours.q) - ours.q).max() < 0.02
    assert np.corrcoef(aligned(p, ours.p).ravel(), ours.p.ravel())[0, 1] > 0.999
    header, row = (out / "cohort.3.baseline.tsv").read_text().splitlines()
    record = dict(zip(header.split("\t"), row.split("\t"), strict=True))
    assert record["tool"] == "fastmixture"
    assert float(record["log_likelihood"]) == pytest.approx(ours.log_likelihood, rel=1e-5)


@pytest.mark.skipif(
    baselines.find_executable("fastmixture2") is None, reason="fastmixture2 not installed"
)
def test_real_fastmixture2_reaches_our_optimum(cohort_files, tmp_path, aligned):
    """fastmixture2 (a baseline and the peer) and our engine fit the same likelihood: the same
    optimum, the same counted allele."""
    prefix, genotypes = cohort_files
    out = tmp_path / "fm2"
    assert main(["baseline", str(prefix) + ".bed", "--k", "3", "--tool", "fastmixture2",
                 "--out", str(out), "--threads", "1", "--seed", "3"]) == 0  # fmt: skip
    q = read_q(out / "cohort.3.Q", 120)
    ours = fit.fit(read_bed(str(prefix) + ".bed"), 3, seed=3)
    assert np.abs(aligned(q, ours.q) - ours.q).max() < 1e-3
    header, row = (out / "cohort.3.baseline.tsv").read_text().splitlines()
    record = dict(zip(header.split("\t"), row.split("\t"), strict=True))
    assert record["tool"] == "fastmixture2"
    # Its own report and our scoring of its files agree (6 decimals written), and so do the fits.
    assert float(record["tool_log_likelihood"]) == pytest.approx(
        float(record["log_likelihood"]), rel=1e-7
    )
    assert ours.log_likelihood == pytest.approx(float(record["tool_log_likelihood"]), rel=1e-8)
    assert read_timing(out / "cohort.3.timing.tsv").tool == "fastmixture2"


def test_auto_prefers_fastmixture2_to_our_engine(monkeypatch):
    present = {"fastmixture": "/usr/bin/fastmixture"}
    monkeypatch.setattr(baselines, "find_executable", lambda tool: present.get(tool))
    assert baselines.resolve_tool("auto") == "fastmixture"
    present["adamixture"] = "/usr/bin/adamixture"
    assert baselines.resolve_tool("auto") == "adamixture"
    present["fastmixture2"] = "/usr/bin/fastmixture2"
    assert baselines.resolve_tool("auto") == "fastmixture2"
    present["admixture"] = "/usr/bin/admixture"
    assert baselines.resolve_tool("auto") == "admixture"
    present.clear()
    assert baselines.resolve_tool("auto") == "em"


@pytest.mark.skipif(
    baselines.find_executable("adamixture") is None,
    reason="ADAMIXTURE not installed (pip install adamixture)",
)
@pytest.mark.parametrize("swapped", [False, True], ids=["counted-allele-common", "counted-rare"])
def test_real_adamixture_reaches_our_optimum(cohort_files, tmp_path, aligned, swapped):
    """ADAMIXTURE fits the same likelihood; it counts the other allele in a cohort where the
    counted one is the more frequent overall (this one; swapped, the counted allele is the rarer
    one), which the runner converts: its files, scored by our likelihood, sit at our optimum."""
    prefix, genotypes = cohort_files
    if swapped:
        calls = genotypes.calls
        genotypes = make_genotypes(np.where(calls < 3, 2 - calls, calls).astype(np.uint8))
        prefix = tmp_path / "cohort"
        write_bed(prefix, genotypes)
    assert baselines.adamixture_counts_other_allele(genotypes) is not swapped
    out = tmp_path / "adam"
    assert main(["baseline", str(prefix) + ".bed", "--k", "3", "--tool", "adamixture",
                 "--out", str(out), "--threads", "1", "--seed", "3"]) == 0  # fmt: skip
    assert sorted(os.listdir(out)) == [
        "cohort.3.P",
        "cohort.3.Q",
        "cohort.3.baseline.tsv",
        "cohort.3.timing.tsv",
    ]
    q = read_q(out / "cohort.3.Q", 120)
    p = read_p(out / "cohort.3.P", genotypes.n_snps)
    ours = fit.fit(read_bed(str(prefix) + ".bed"), 3, seed=3)
    assert np.abs(aligned(q, ours.q) - ours.q).max() < 1e-2
    assert np.corrcoef(aligned(p, ours.p).ravel(), ours.p.ravel())[0, 1] > 0.999
    header, row = (out / "cohort.3.baseline.tsv").read_text().splitlines()
    record = dict(zip(header.split("\t"), row.split("\t"), strict=True))
    assert record["tool"] == "adamixture"
    # Our scoring of its files (the other allele's P would score about 3.5 times lower).
    gap = (ours.log_likelihood - float(record["log_likelihood"])) / abs(ours.log_likelihood)
    assert abs(gap) < 1e-6
    # Its own report (one decimal) agrees with our scoring of its files.
    assert float(record["tool_log_likelihood"]) == pytest.approx(
        float(record["log_likelihood"]), abs=0.2
    )
    assert read_timing(out / "cohort.3.timing.tsv").tool == "adamixture"

    # adamixture-project (ALS, given its P back in its own orientation) lands near our
    # projection EM, which is the optimum for that P.
    projected = baselines.project_baseline(str(prefix) + ".bed", p, "adamixture", seed=3)
    assert projected.tool == "adamixture" and projected.q.shape == (120, 3)
    optimum = baselines.project_baseline(str(prefix) + ".bed", p, "em", seed=3)
    gap = (optimum.log_likelihood - projected.log_likelihood) / abs(optimum.log_likelihood)
    assert -1e-8 < gap < 1e-3


def test_em_baseline_writes_the_same_files(cohort_files, tmp_path):
    prefix, genotypes = cohort_files
    out = tmp_path / "em"
    assert main(["baseline", str(prefix) + ".bed", "--k", "2", "--tool", "em",
                 "--out", str(out)]) == 0  # fmt: skip
    assert sorted(os.listdir(out)) == [
        "cohort.2.P",
        "cohort.2.Q",
        "cohort.2.baseline.tsv",
        "cohort.2.timing.tsv",
    ]
    assert read_p(out / "cohort.2.P", genotypes.n_snps).shape == (genotypes.n_snps, 2)
