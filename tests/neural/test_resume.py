"""Resume checkpoints of ``train``: a run stopped after an epoch (in either stage) and resumed
takes the epochs the uninterrupted run takes and ends with its Q, P and log-likelihood; the
command resumes from its --checkpoint and refuses one made with other options."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from neuradmix.cli import main
from neuradmix.data import read_q, write_bed
from neuradmix.neural.config import TrainConfig
from neuradmix.neural.resume import TrainCheckpoint, train_settings
from neuradmix.neural.train import STAGES, train
from neuradmix.simulation.psd import simulate_psd


class Stop(KeyboardInterrupt):
    pass


@pytest.fixture(scope="module")
def cohort():
    return simulate_psd(120, 1500, 3, missing_rate=0.02, seed=11).genotypes


def _config(**options):
    return TrainConfig(ks=[2, 3], seed=3, device="cpu", threads=1, start_snps=400, **options)


@pytest.mark.parametrize("stop_at", [2, 9], ids=["common-SNP stage", "all-SNP stage"])
def test_a_stopped_training_resumes_where_the_uninterrupted_one_ends(cohort, tmp_path, stop_at):
    config = _config()
    full = train(cohort, config)
    settings = train_settings(config, None, None)
    path = tmp_path / "train.resume.npz"
    saving = TrainCheckpoint(path, None, cohort, settings, every=1, minutes=0)
    count = 0

    def saver(make):
        nonlocal count
        saving.saver(make)
        count += 1
        if count == stop_at:
            raise Stop()

    with pytest.raises(Stop):
        train(cohort, config, saver=saver)
    loaded = TrainCheckpoint(None, path, cohort, settings)
    state = loaded.state
    assert state is not None and state.epochs == stop_at
    stage_one = int((full.history["stage"] == STAGES[0]).sum())
    assert state.stage == (STAGES[0] if stop_at <= stage_one else STAGES[1])
    assert stage_one >= 3 and full.epochs_run > 10  # both stops fall where they should
    resumed = train(cohort, config, resume=state)
    assert resumed.epochs_run == full.epochs_run
    pd.testing.assert_frame_equal(
        resumed.history.drop(columns="seconds"), full.history.drop(columns="seconds")
    )
    for k in config.ks:
        np.testing.assert_allclose(resumed.q[k], full.q[k], atol=1e-9)
        np.testing.assert_allclose(resumed.p[k], full.p[k], atol=1e-9)
        assert resumed.log_likelihood[k] == pytest.approx(full.log_likelihood[k], rel=1e-12)
    # It continued: only the epochs after the stop were run again.
    assert len(resumed.history) - stop_at == full.epochs_run - stop_at


def test_cli_train_stopped_then_rerun_continues(cohort, tmp_path, stop_at_save, capsys):
    write_bed(tmp_path / "toy", cohort)
    bed = str(tmp_path / "toy.bed")
    out = tmp_path / "out"
    base = [
        "train",
        bed,
        "--k",
        "3",
        "--out",
        str(out),
        "--quiet",
        "--threads",
        "1",
        "--device",
        "cpu",
        "--seed",
        "5",
    ]
    assert main([*base, "--name", "plain"]) == 0
    checkpoint = tmp_path / "train.resume.npz"
    command = [*base, "--checkpoint", str(checkpoint), "--checkpoint-every", "2"]
    resume_saving = stop_at_save(TrainCheckpoint, 2)
    assert main(command) == 130
    resume_saving()
    assert checkpoint.exists() and not (out / "toy.3.Q").exists()
    capsys.readouterr()
    assert main(command) == 0
    assert "resuming at epoch 4" in capsys.readouterr().err
    np.testing.assert_allclose(read_q(out / "toy.3.Q"), read_q(out / "plain.3.Q"), atol=1e-6)
    plain = pd.read_csv(out / "plain.loss.tsv", sep="\t").drop(columns="seconds")
    again = pd.read_csv(out / "toy.loss.tsv", sep="\t").drop(columns="seconds")
    pd.testing.assert_frame_equal(again, plain)
    assert not checkpoint.exists()

    # Another option: refused in one line, the checkpoint kept.
    resume_saving = stop_at_save(TrainCheckpoint, 2)
    assert main(command) == 130
    resume_saving()
    capsys.readouterr()
    assert main([*command, "--lambda", "0.01"]) == 2
    error = capsys.readouterr().err
    assert len(error.strip().splitlines()) == 1
    assert "made for entropy=0.0" in error and "this run has entropy=0.01" in error
    assert checkpoint.exists()
