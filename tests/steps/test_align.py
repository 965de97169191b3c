"""Aligned results as files: `neuradmix align` (steps/align.py)."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from neuradmix.cli import main
from neuradmix.data import read_q, write_q
from neuradmix.steps.align import align_q_files

N = 40


@pytest.fixture
def q_files(tmp_path):
    """main at K=2 and K=3; copy: main's K=3 with the columns permuted (a second seed that found
    the same solution); other: a genuinely different K=3 solution."""
    rng = np.random.default_rng(0)
    q3 = rng.dirichlet(np.full(3, 0.3), N)
    q2 = np.column_stack([q3[:, 0], q3[:, 1] + q3[:, 2]])
    matrices = {
        ("main", 2): q2,
        ("main", 3): q3[:, [2, 0, 1]],
        ("copy", 3): q3[:, [1, 0, 2]],
        ("other", 3): rng.dirichlet(np.full(3, 0.3), N),
    }
    files = []
    for (run, k), q in matrices.items():
        path = tmp_path / "in" / run / f"train.{k}.Q"
        path.parent.mkdir(parents=True, exist_ok=True)
        write_q(path, q)
        files.append((run, path))
    return files


def test_aligned_files_share_one_labelling_and_say_how(q_files, tmp_path):
    out = tmp_path / "aligned" / "train"
    permutations, modes = align_q_files(q_files, out)
    table = pd.read_csv(out / "permutations.tsv", sep="\t", keep_default_na=False)
    pd.testing.assert_frame_equal(table, permutations, check_dtype=False)
    assert table[["run", "k", "file"]].values.tolist() == [
        ["main", 2, "main.2.Q"], ["main", 3, "main.3.Q"], ["copy", 3, "copy.3.Q"],
        ["other", 3, "other.3.Q"],
    ]  # fmt: skip
    rows = table.set_index("file")
    # K=3 of main: cluster 0 of K=2 is its column 0; K=2's column 1 split into columns 1 and 2.
    main3 = read_q(out / "main.3.Q", N)
    np.testing.assert_allclose(main3[:, 0], read_q(out / "main.2.Q", N)[:, 0], atol=1e-6)
    assert rows.loc["main.3.Q", "aligned_to"] == "main.2.Q"
    assert rows.loc["main.2.Q", "aligned_to"] == "" and rows.loc["main.2.Q", "permutation"] == "0,1"
    # The permuted copy lands exactly on main's K=3, and the table says how it was permuted.
    np.testing.assert_allclose(read_q(out / "copy.3.Q", N), main3, atol=1e-6)
    original = read_q(q_files[2][1], N)
    permutation = [int(c) for c in rows.loc["copy.3.Q", "permutation"].split(",")]
    assert permutation != [0, 1, 2]
    np.testing.assert_allclose(original, read_q(out / "copy.3.Q", N)[:, permutation], atol=1e-6)
    assert rows.loc["copy.3.Q", "similarity_to_reference"] == pytest.approx(1.0, abs=1e-3)
    # Modes: main and its permuted copy share mode 1; the different solution is mode 2.
    assert rows.loc[["main.3.Q", "copy.3.Q", "other.3.Q"], "mode"].tolist() == [1, 1, 2]
    written = pd.read_csv(out / "modes.tsv", sep="\t")
    assert written[["k", "mode", "n_runs", "runs"]].values.tolist() == [
        [2, 1, 1, "main"], [3, 1, 2, "main,copy"], [3, 2, 1, "other"]
    ]  # fmt: skip
    assert written["mean_similarity"].iloc[1] > 0.99 and written["mean_similarity"].isna()[0]
    assert len(modes) == 3


def test_aligned_files_have_admixtures_format_and_the_inputs_values(q_files, tmp_path):
    out = tmp_path / "aligned"
    align_q_files(q_files, out)
    for run, path in q_files:
        source = path.read_text().splitlines()
        k = len(source[0].split())
        lines = (out / f"{run}.{k}.Q").read_text().splitlines()
        assert len(lines) == N
        assert all(re.fullmatch(rf"\d\.\d{{6}}( \d\.\d{{6}}){{{k - 1}}}", line) for line in lines)
        # The same numbers as the input, columns moved: no rounding on the way.
        assert sorted(" ".join(lines).split()) == sorted(" ".join(source).split())


def test_align_command_takes_one_file_per_run_and_k(q_files, tmp_path, capsys):
    out = tmp_path / "cli"
    args = ["align", "--out", str(out)] + [f"--q={run}={path}" for run, path in q_files]
    assert main([*args, "--reference", "copy", "--mode-threshold", "0.95"]) == 0
    assert "4 .Q files aligned" in capsys.readouterr().err
    table = pd.read_csv(out / "permutations.tsv", sep="\t", keep_default_na=False)
    # copy is the reference of K=3 (aligned across K to K=2, where main is the only run).
    assert table.set_index("file")["aligned_to"].to_dict() == {
        "main.2.Q": "", "copy.3.Q": "main.2.Q", "main.3.Q": "copy.3.Q", "other.3.Q": "copy.3.Q"
    }  # fmt: skip

    bad = tmp_path / "bad"
    duplicate = [*args[:3], f"--q=main={q_files[0][1]}", f"--q=main={q_files[0][1]}"]
    assert main([*duplicate[:1], "--out", str(bad), *duplicate[3:]]) == 2
    assert "already has a K=2 file" in capsys.readouterr().err
    assert main([*args[:1], "--out", str(bad), *args[3:], "--reference", "none"]) == 2
    assert "--reference none: not one of the runs" in capsys.readouterr().err
    assert main(["align", "--out", str(bad), f"--q=1run={q_files[0][1]}"]) == 2
    assert "start with a letter" in capsys.readouterr().err
    assert not bad.exists()
