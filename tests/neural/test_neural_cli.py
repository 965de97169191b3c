"""`neuradmix train | infer | recover-p | evaluate` as a user runs them."""

import subprocess
import sys

import numpy as np
import pytest

from neuradmix.cli import main
from neuradmix.data import read_p, read_q, write_bed, write_labels, write_q
from neuradmix.data.timing import read_timing
from neuradmix.simulation.psd import simulate_psd


def run(*args, check=True):
    result = subprocess.run(
        [sys.executable, "-m", "neuradmix", *map(str, args)], capture_output=True, text=True
    )
    if check and result.returncode != 0:
        raise AssertionError(result.stderr)
    return result


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cli")
    cohort = simulate_psd(120, 1500, 3, missing_rate=0.02, seed=11)
    write_bed(folder / "toy", cohort.genotypes)
    write_q(folder / "toy.truth.Q", cohort.q)
    write_labels(folder / "toy.labels", cohort.genotypes.sample_ids, cohort.labels)
    return folder, cohort


def test_train_infer_recover_evaluate(data):
    folder, cohort = data
    out = folder / "run"
    result = run(
        "train",
        folder / "toy.bed",
        "--min-k",
        2,
        "--max-k",
        3,
        "--out",
        out,
        "--threads",
        1,
    )
    assert "K=3\tLoglikelihood:" in result.stdout
    # Without a terminal: one progress line per epoch (and head), no carriage returns.
    assert "\r" not in result.stderr
    assert len([line for line in result.stderr.splitlines() if "loglik" in line]) >= 10
    for name in ("toy.2.Q", "toy.2.P", "toy.3.Q", "toy.3.P", "toy.model.pt", "toy.loss.tsv"):
        assert (out / name).is_file(), name
    assert read_q(out / "toy.3.Q", 120).shape == (120, 3)
    assert read_p(out / "toy.3.P", 1500).shape == (1500, 3)
    assert (out / "toy.loss.tsv").read_text().startswith("epoch\tstage\ttrain_loss")
    timing = read_timing(out / "toy.timing.tsv")
    assert (timing.command, timing.tool, timing.k_values) == ("train", "neural", [2, 3])
    # The fit excludes the interpreter start-up and file reading that the process includes.
    assert 0 < timing.fit_seconds < timing.process_seconds

    run(
        "infer",
        folder / "toy.bed",
        "--model",
        out / "toy.model.pt",
        "--out",
        folder / "inf",
        "--name",
        "again",
    )
    np.testing.assert_allclose(
        read_q(folder / "inf" / "again.3.Q"), read_q(out / "toy.3.Q"), atol=2e-6
    )
    timing = read_timing(folder / "inf" / "again.timing.tsv")
    assert timing.command == "infer" and 0 < timing.fit_seconds < timing.process_seconds

    run("recover-p", folder / "toy.bed", "--q", out / "toy.3.Q", "--out", folder, "--name", "full")
    assert read_p(folder / "full.3.P", 1500).shape == (1500, 3)

    table = run(
        "evaluate",
        folder / "toy.bed",
        "--q",
        out / "toy.3.Q",
        "--p",
        out / "toy.3.P",
        "--labels",
        folder / "toy.labels",
        "--truth-q",
        folder / "toy.truth.Q",
    ).stdout
    header, row = table.strip().split("\n")
    values = dict(zip(header.split("\t"), row.split("\t"), strict=True))
    assert values["k"] == "3" and values["n_samples"] == "120"
    assert float(values["l_n_lambda0"]) == pytest.approx(-float(values["log_likelihood"]) / 2)
    assert 0 < float(values["rmse_q"]) < 0.1
    assert 0 < float(values["ami"]) <= 1


def test_bad_inputs_fail_with_one_line_and_no_outputs(data, tmp_path, capsys):
    """Each checked before any reading or training (in-process: the exit status is main's)."""
    folder, _ = data
    (tmp_path / "afile").write_text("x")
    (tmp_path / "short.pop").write_text("pop1\npop2\n")
    cases = [
        (["--k", 120], "--k 120: as many ancestral populations as the 120 samples"),
        (["--k", 3, "--out", tmp_path / "afile"], "is a file"),
        (["--k", 3, "--name", "a/b"], "plain file stem"),
        (["--labels", tmp_path / "short.pop"], "short.pop: 2 labels"),
        (["--min-k", 3, "--max-k", 2], "need 1 <= min-k <= max-k"),
    ]
    for options, message in cases:
        arguments = ["train", folder / "toy.bed", *options]
        if "--out" not in options:
            arguments += ["--out", tmp_path / "o"]
        assert main([str(a) for a in arguments]) == 2, options
        err = capsys.readouterr().err
        assert message in err and len(err.strip().splitlines()) == 1, (options, err)
        assert not (tmp_path / "o").exists()
    for option, value in (("--epochs", 0), ("--threads", 0), ("--lambda", -1), ("--tol", 0)):
        with pytest.raises(SystemExit) as stop:
            main(["train", str(folder / "toy.bed"), "--k", "2", "--out", str(tmp_path / "o"),
                  option, str(value)])  # fmt: skip
        assert stop.value.code == 2 and f"argument {option}:" in capsys.readouterr().err

    (tmp_path / "cut.bed").write_bytes((folder / "toy.bed").read_bytes()[:100])
    for ext in ("bim", "fam"):
        (tmp_path / f"cut.{ext}").write_bytes((folder / f"toy.{ext}").read_bytes())
    result = run("evaluate", tmp_path / "cut.bed", "--q", folder / "toy.truth.Q", check=False)
    assert result.returncode == 2 and "cut.bed" in result.stderr and "truncated" in result.stderr
