"""Resume checkpoints of ``em``: a fit stopped part way and resumed ends where the fit that was
never stopped ends, a checkpoint for other data or options is refused, saving is atomic, and a
run over several K resumes at the unfinished K."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from neuradmix.classic import fit, starts
from neuradmix.classic.resume import FitCheckpoint
from neuradmix.cli import main
from neuradmix.data import read_q, write_bed
from neuradmix.data import resume as resume_io
from neuradmix.errors import InputError
from neuradmix.simulation.psd import simulate_psd


class Stop(KeyboardInterrupt):
    """Stands in for the kill: raised by the saver after a save."""


@pytest.fixture(scope="module")
def ridge():
    """K=5 on three populations: a slow ridge, so the fit takes tens of iterations."""
    return simulate_psd(100, 2000, 3, fst=0.05, alpha=0.5, missing_rate=0.01, seed=1).genotypes


@pytest.fixture(scope="module")
def fileset(tmp_path_factory, ridge):
    prefix = tmp_path_factory.mktemp("resume") / "ridge"
    write_bed(prefix, ridge)
    return f"{prefix}.bed"


def _stopped_after(genotypes, path, k: int, saves: int, **options):
    """Fit with a checkpoint saved every iteration and 'kill' it after ``saves`` saves."""
    settings = {"k": [k], "seed": 1}
    checkpoint = FitCheckpoint(path, None, genotypes, settings, every=1, minutes=0)
    real = checkpoint.saver(k)
    count = 0

    def saver(make):
        nonlocal count
        real(make)
        count += 1
        if count == saves:
            raise Stop()

    with pytest.raises(Stop):
        fit.fit(genotypes, k, seed=1, saver=saver, **options)
    return settings


@pytest.mark.parametrize(
    ("k", "start_snps_limit"), [(5, starts.START_SNPS), (4, 500)], ids=["whole", "subset"]
)
def test_a_stopped_fit_resumes_and_ends_where_the_uninterrupted_one_does(
    ridge, tmp_path, k, start_snps_limit
):
    """With the start on every SNP (the start is the fit) and on a subset (the fit continues on
    all SNPs): the same iterations, log-likelihood and Q, with fewer passes after the resume."""
    options = {"start_snps_limit": start_snps_limit}
    full = fit.fit(ridge, k, seed=1, **options)
    assert full.iterations > 20
    path = tmp_path / "em.resume.npz"
    settings = _stopped_after(ridge, path, k, 12, **options)
    state = FitCheckpoint(None, path, ridge, settings).resume_for(k)
    assert state is not None and state.iterations == 12
    assert state.ll == full.trace[state.iterations]
    resumed = fit.fit(ridge, k, seed=1, resume=state, **options)
    assert resumed.iterations == full.iterations
    assert resumed.log_likelihood == pytest.approx(full.log_likelihood, rel=1e-12, abs=0)
    np.testing.assert_allclose(resumed.q, full.q, atol=1e-9)
    assert resumed.trace == pytest.approx(full.trace, rel=1e-12)
    # It continued: it did not start from zero.
    assert resumed.passes < full.passes - 12


def test_cli_em_stopped_then_rerun_continues(fileset, tmp_path, stop_at_save, capsys):
    """The command stopped part way keeps its checkpoint; the same command again resumes from
    it, ends with the uninterrupted result and deletes the checkpoint."""
    out = tmp_path / "out"
    base = ["em", fileset, "--k", "5", "--seed", "1", "--out", str(out), "--quiet"]
    assert main([*base, "--name", "plain"]) == 0
    plain = capsys.readouterr().out
    checkpoint = tmp_path / "em.resume.npz"
    command = [*base, "--checkpoint", str(checkpoint), "--checkpoint-every", "3"]
    resume_saving = stop_at_save(FitCheckpoint, 2)
    assert main(command) == 130
    resume_saving()
    assert checkpoint.exists() and not (out / "ridge.5.Q").exists()
    capsys.readouterr()
    assert main(command) == 0
    printed = capsys.readouterr().out
    assert "K=5: resuming at iteration 6" in printed  # stopped at the second save (of 3)
    assert _loglik(printed) == _loglik(plain)
    np.testing.assert_allclose(read_q(out / "ridge.5.Q"), read_q(out / "plain.5.Q"), atol=1e-6)
    assert not checkpoint.exists()


def _loglik(printed: str) -> float:
    return float(next(x for x in printed.splitlines() if x.startswith("Loglik")).split()[1])


def test_sigterm_saves_and_a_resubmitted_job_continues(fileset, tmp_path):
    """A real kill: SIGTERM (as a scheduler sends it) once the first checkpoint is on disk; the
    process exits 143 with the checkpoint saved, and the re-submitted command resumes."""
    out = tmp_path / "out"
    checkpoint = tmp_path / "em.resume.npz"
    command = [
        sys.executable,
        "-m",
        "neuradmix",
        "em",
        fileset,
        "--k",
        "5",
        "--seed",
        "1",
        "--acceleration",
        "none",
        "--tol",
        "1e-13",
        "--out",
        str(out),
        "--quiet",
        "--checkpoint",
        str(checkpoint),
        "--checkpoint-every",
        "1",
        "--threads",
        "1",
    ]
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    job = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while not checkpoint.exists() and job.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    job.send_signal(signal.SIGTERM)
    _, stderr = job.communicate(timeout=120)
    if job.returncode == 0:
        pytest.skip("the fit finished before the signal arrived")
    assert job.returncode == 143, stderr.decode()
    _, meta = resume_io.load_checkpoint(checkpoint)
    assert meta["k"] == 5 and meta["iterations"] >= 1
    again = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    assert f"resuming at iteration {meta['iterations']}" in again.stdout
    assert (out / "ridge.5.Q").exists() and not checkpoint.exists()


def test_multi_k_resumes_at_the_unfinished_k(fileset, tmp_path, monkeypatch, capsys):
    out = tmp_path / "out"
    checkpoint = tmp_path / "em.resume.npz"
    command = [
        "em",
        fileset,
        "--min-k",
        "2",
        "--max-k",
        "4",
        "--out",
        str(out),
        "--quiet",
        "--checkpoint",
        str(checkpoint),
    ]
    real = FitCheckpoint.finished

    def finish_then_stop(self, k):
        real(self, k)
        if k == 3:
            raise KeyboardInterrupt

    monkeypatch.setattr(FitCheckpoint, "finished", finish_then_stop)
    assert main(command) == 130
    monkeypatch.setattr(FitCheckpoint, "finished", real)
    written = {k: (out / f"ridge.{k}.Q").stat().st_mtime_ns for k in (2, 3)}
    assert not (out / "ridge.4.Q").exists()
    capsys.readouterr()
    assert main(command) == 0
    printed = capsys.readouterr().out
    assert "K=2: finished before" in printed and "K=3: finished before" in printed
    assert "K=4: " in printed and (out / "ridge.4.Q").exists()
    assert {k: (out / f"ridge.{k}.Q").stat().st_mtime_ns for k in (2, 3)} == written


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (["--k", "4"], "made for k=5 on 100 x 2000 genotypes; this run has k=4"),
        (["--tol", "1e-6"], "made for tol=1e-09"),
        (["--acceleration", "sor"], "acceleration=quasi-newton"),
        (["--seed", "2"], "seed=1"),
        (["--init", "random"], "init=pckmeans"),
    ],
)
def test_a_checkpoint_for_other_settings_is_refused(
    fileset, tmp_path, saved_checkpoint, capsys, change, message
):
    checkpoint = saved_checkpoint
    values = {"--k": "5", "--seed": "1"}
    values.update(dict(zip(change[::2], change[1::2], strict=True)))
    command = ["em", fileset, "--out", str(tmp_path / "o"), "--resume", str(checkpoint)]
    command += [x for pair in values.items() for x in pair]
    capsys.readouterr()
    assert main(command) == 2
    error = capsys.readouterr().err
    assert len(error.strip().splitlines()) == 1
    assert message in error and str(checkpoint) in error and "drop --resume" in error
    assert checkpoint.exists()  # a refused checkpoint is left alone


def test_a_checkpoint_for_other_data_is_refused(tmp_path, saved_checkpoint, capsys):
    checkpoint = saved_checkpoint
    other = simulate_psd(100, 2000, 3, fst=0.05, alpha=0.5, missing_rate=0.01, seed=2).genotypes
    write_bed(tmp_path / "other", other)
    command = [
        "em",
        str(tmp_path / "other.bed"),
        "--k",
        "5",
        "--seed",
        "1",
        "--out",
        str(tmp_path / "o"),
        "--checkpoint",
        str(checkpoint),
    ]
    capsys.readouterr()
    assert main(command) == 2
    error = capsys.readouterr().err
    assert len(error.strip().splitlines()) == 1 and "other genotypes" in error


def test_resume_from_a_missing_file_is_an_error(fileset, tmp_path, capsys):
    missing = tmp_path / "none.npz"
    assert main(["em", fileset, "--k", "2", "--out", str(tmp_path), "--resume", str(missing)]) == 2
    error = capsys.readouterr().err
    assert "no such checkpoint" in error and "--checkpoint alone" in error


@pytest.fixture(scope="module")
def saved_checkpoint(fileset, tmp_path_factory):
    """A checkpoint of `em --k 5 --seed 1` stopped after its first save."""
    folder = tmp_path_factory.mktemp("saved")
    checkpoint = folder / "saved.npz"
    real = FitCheckpoint.write

    def write_then_stop(self):
        real(self)
        raise KeyboardInterrupt

    command = [
        "em",
        fileset,
        "--k",
        "5",
        "--seed",
        "1",
        "--out",
        str(folder / "o"),
        "--quiet",
        "--checkpoint",
        str(checkpoint),
        "--checkpoint-every",
        "2",
    ]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(FitCheckpoint, "write", write_then_stop)
        assert main(command) == 130
    return checkpoint


def test_a_crash_while_saving_leaves_the_previous_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "c.npz"
    resume_io.save_checkpoint(path, {"x": np.arange(3.0)}, {"command": "em", "n": 1})
    real_savez = np.savez

    def half_then_crash(stream, **entries):
        stream.write(b"PK\x03\x04 half a zip")
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", half_then_crash)
    with pytest.raises(OSError):
        resume_io.save_checkpoint(path, {"x": np.arange(5.0)}, {"command": "em", "n": 2})
    monkeypatch.setattr(np, "savez", real_savez)
    arrays, meta = resume_io.load_checkpoint(path)
    np.testing.assert_array_equal(arrays["x"], np.arange(3.0))
    assert meta["n"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["c.npz"]  # no temporary file left


def test_a_damaged_checkpoint_is_refused_in_one_line(tmp_path):
    path = tmp_path / "bad.npz"
    path.write_bytes(b"not a zip")
    with pytest.raises(InputError, match="not a neuradmix resume checkpoint"):
        resume_io.load_checkpoint(path)


def test_cv_resumes_at_the_folds_not_done(fileset, tmp_path, monkeypatch, capsys):
    from neuradmix.classic import cv
    from neuradmix.classic.resume import CvCheckpoint

    base = ["cv", fileset, "--min-k", "2", "--max-k", "3", "--folds", "2", "--quiet"]
    assert main([*base, "--out", str(tmp_path / "plain")]) == 0
    checkpoint = tmp_path / "cv.resume.npz"
    command = [*base, "--out", str(tmp_path / "out"), "--checkpoint", str(checkpoint)]
    real = CvCheckpoint.fold_done

    def done_then_stop(self, k, fold, total, count):
        real(self, k, fold, total, count)
        if (k, fold) == (3, 0):
            raise KeyboardInterrupt

    monkeypatch.setattr(CvCheckpoint, "fold_done", done_then_stop)
    assert main(command) == 130
    monkeypatch.setattr(CvCheckpoint, "fold_done", real)
    scored = []
    real_error = cv.heldout_error
    monkeypatch.setattr(cv, "heldout_error", lambda *a: scored.append(a[1]) or real_error(*a))
    capsys.readouterr()
    assert main(command) == 0
    assert scored == [(42, 2, 1)]  # only the last fold of K=3 was fitted again
    plain = (tmp_path / "plain" / "ridge.cv.tsv").read_text()
    assert (tmp_path / "out" / "ridge.cv.tsv").read_text() == plain
    assert not checkpoint.exists()
