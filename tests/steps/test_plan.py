"""neuradmix.steps.plan: the workflow's plan from a validated config, and its checks (one line
naming the config key), without Snakemake."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from plan_config import full_config

from neuradmix.cli import main
from neuradmix.errors import InputError
from neuradmix.steps.plan import CohortFacts, Plan, config_error_line, read_cohort
from neuradmix.steps.split import partition_sizes, stratified_split

ROOT = Path(__file__).resolve().parents[2]


THREE = {"c": CohortFacts(40, frozenset({"A", "B", "C"}), 32)}


def test_the_plan_of_a_config():
    config = full_config()
    given = copy.deepcopy(config)
    plan = Plan.from_config(config, THREE)
    assert plan.run_ks("multihead") == [2, 3, 4, 5]
    assert plan.run_ks("supervised") == [3]  # the labelled populations
    assert plan.all_ks == [2, 3, 4, 5]
    assert plan.cv_ks == [2, 3, 4]
    assert plan.baseline_tools == ["em"]
    assert plan.main_k == 3
    assert plan.all_cohorts == ["c", "c_sim"]
    assert plan.truth_k("c_sim") == 3
    assert [m[:2] for m in plan.evaluated_models()][-1] == ("baseline", "em")
    assert plan.align_reference() == "neural_single"
    # single and polished share λ = 0, so the runs of k=3 are no λ sweep.
    assert plan.lambda_runs == []
    assert plan.partition_prefix("c_sim", "val") == "results/c_sim/prepare/sim.val"
    assert plan.train_options("c", "multihead") == "--min-k 2 --max-k 5"
    assert plan.train_options("c", "pretrained") == (
        "--k 3 --init-p results/c/baseline/em/train.3.P"
    )
    assert config == given  # the plan never writes into the config


def test_runs_that_differ_only_in_lambda_form_the_sweep():
    runs = {
        "a": {"mode": "unsupervised", "k": 3, "lambda": 0.1},
        "b": {"mode": "unsupervised", "k": 3},
        "c": {"mode": "unsupervised", "k": 3, "lambda": 0.01},
        "m": {"mode": "multihead", "min_k": 2, "max_k": 4},
    }
    plan = Plan.from_config(full_config(**runs), THREE)
    assert plan.lambda_runs == ["b", "c", "a"]
    assert plan.plots_inputs("c")["lambda_run"] == {
        "0.0": "results/c/neural/b",
        "0.01": "results/c/neural/c",
        "0.1": "results/c/neural/a",
    }
    only_multihead = full_config(m={"mode": "multihead", "min_k": 2, "max_k": 6})
    assert Plan.from_config(only_multihead, THREE).main_k == 4


@pytest.mark.parametrize(
    ("change", "facts", "message"),
    [
        (
            lambda c: c["neural"]["runs"]["supervised"].update(k=4),
            THREE,
            "neural.runs.supervised: supervised k=4 but cohort 'c' has 3 labelled populations; "
            "drop k",
        ),
        (
            lambda c: None,
            {"c": CohortFacts(40, frozenset(), 32)},
            "neural.runs.supervised is supervised but cohort 'c' has no labels; add "
            "cohorts.c.labels or remove the run.",
        ),
        (
            lambda c: c["neural"]["runs"]["multihead"].update(min_k=6),
            THREE,
            "neural.runs.multihead: min_k (6) exceeds max_k (5).",
        ),
        (lambda c: c["cv"].update(min_k=5), THREE, "cv.min_k (5) exceeds cv.max_k (4)."),
        (
            lambda c: c["simulate"].update(populations=["A", "Z"]),
            THREE,
            "simulate.populations: Z not among the labels of cohort 'c' (A, B, C).",
        ),
        (
            lambda c: c["cohorts"].update({"c_sim": {"bed": "x"}}),
            THREE,
            "cohorts: 'c_sim' is reserved for the simulated version of 'c'",
        ),
        (
            lambda c: (
                c["partitions"].update(cpu="cpuq"),
                c["neural"]["runs"]["single"].update(device="cuda:1"),
            ),
            THREE,
            "neural.runs.single runs on cuda:1 but partitions.gpu is not set",
        ),
        (
            lambda c: None,
            {"c": CohortFacts(40, frozenset({"A", "B", "C"}), 5)},
            "K=5 (neural.runs / cv.max_k) is out of range for cohort 'c': it has 40 samples, 5 "
            "of them for training after the split",
        ),
    ],
)
def test_a_config_mistake_is_one_line_naming_the_key(change, facts, message):
    config = full_config()
    change(config)
    with pytest.raises(InputError) as error:
        Plan.from_config(config, facts)
    assert message in str(error.value)
    assert "\n" not in str(error.value)


def _write_cohort(directory: Path, populations: list[str]) -> dict:
    ids = [f"s{i}" for i in range(len(populations))]
    for ext in ("bed", "bim"):
        (directory / f"c.{ext}").write_text("")
    (directory / "c.fam").write_text("".join(f"{i} {i} 0 0 0 -9\n" for i in ids))
    pd.DataFrame({"s": ids, "p": populations}).to_csv(
        directory / "c.pops", sep="\t", header=False, index=False
    )
    return {"bed": str(directory / "c.bed"), "labels": str(directory / "c.pops")}


def test_the_training_size_is_the_splits_own_arithmetic(tmp_path):
    # Five populations of two: each gives one sample to validation, leaving 5 for training
    # (10 - round(0.2 * 10) = 8 would be wrong).
    entry = _write_cohort(tmp_path, [p for p in "ABCDE" for _ in range(2)])
    facts = read_cohort("c", entry, 0.2)
    assert (facts.n_samples, facts.n_train, facts.populations) == (10, 5, frozenset("ABCDE"))
    config = full_config(single={"mode": "unsupervised", "k": 4})
    config["cohorts"] = {"c": entry}
    config["cv"]["enabled"] = False
    config["cv"]["max_k"] = 4
    Plan.from_config(config)  # K=4 < 5
    config["neural"]["runs"]["single"]["k"] = 5
    with pytest.raises(InputError, match="K=5 .* 5 of them for training"):
        Plan.from_config(config)


@pytest.mark.parametrize("seed", range(5))
def test_partition_sizes_match_the_split(seed):
    rng = np.random.default_rng(seed)
    labels = rng.choice(["A", "B", "C", "-", ""], size=rng.integers(1, 60)).tolist()
    train, val = stratified_split(labels, 0.3, seed)
    assert partition_sizes(labels, 0.3) == (train.size, val.size)


def test_a_missing_input_file_names_its_key(tmp_path):
    entry = _write_cohort(tmp_path, ["A", "B"])
    with pytest.raises(InputError, match=r"^cohorts.c.vcf: file nowhere.vcf.gz not found"):
        read_cohort("c", {"vcf": "nowhere.vcf.gz"}, 0.2)
    with pytest.raises(InputError, match=r"^cohorts.c.labels: file gone.tsv not found"):
        read_cohort("c", {**entry, "labels": "gone.tsv"}, 0.2)
    with pytest.raises(InputError, match=r"^cohorts.c.targets.t: file t.vcf not found"):
        read_cohort("c", {**entry, "targets": {"t": "t.vcf"}}, 0.2)


def test_a_schema_error_is_one_line_with_the_fix():
    jsonschema = pytest.importorskip("jsonschema")
    schema = yaml.safe_load((ROOT / "workflow" / "schemas" / "config.schema.yaml").read_text())
    validator = jsonschema.Draft202012Validator(schema)

    def error_of(config):
        return config_error_line(jsonschema.exceptions.best_match(validator.iter_errors(config)))

    config = full_config()
    config["neural"]["runs"]["multihead"]["k"] = 3
    assert error_of(config) == (
        "Invalid config: neural.runs.multihead: a multihead run takes min_k and max_k (not k)"
    )
    config = full_config()
    config["cohorts"]["c"]["bed"] = "c.bed"
    assert error_of(config) == (
        "Invalid config: cohorts.c: give exactly one of 'vcf', 'bed' or 'pgen'"
    )
    config = full_config()
    config["downsample"]["every"] = 3
    assert "downsample: the uniform method needs exactly one of" in error_of(config)
    config = full_config()
    config["epochs"] = 3
    assert error_of(config).startswith(
        "Invalid config: Additional properties are not allowed ('epochs' was unexpected)"
    )
    assert validator.is_valid(full_config())


def test_plots_and_report_read_their_manifest(tmp_path, capsys):
    """The jobs take what the plan decided from the manifest: here, where the files are (none
    exist, so each command stops at the first file the manifest names)."""
    plan = Plan.from_config(full_config(), THREE)
    (tmp_path / "figures.json").write_text("[]")
    expected = {"plots": "results/c/prepare/train", "report": "results/c/prepare/raw"}
    for job, command in (("plots", ["plots"]), ("report", ["report", "--cohort", "c"])):
        manifest = tmp_path / f"{job}.json"
        manifest.write_text(plan.job_inputs_json("c", job))
        figures = ["--figures", str(tmp_path)] if job == "report" else []
        code = main([*command, *figures, "--inputs", str(manifest), "--out", str(tmp_path)])
        assert code == 2
        assert expected[job] in capsys.readouterr().err
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"runs": {}}))
    assert main(["plots", "--inputs", str(bad), "--out", str(tmp_path)]) == 2
    assert "unknown key(s) runs" in capsys.readouterr().err


def test_metrics_align_and_pong_read_their_manifest(tmp_path, capsys):
    """The metrics table, align and pong take their many files from the plan's manifest, in the
    order the flags gave them (align: one .Q per run and K, the truth last; pong: the truth
    first); here none exists, so each command stops at the first file the manifest names."""
    plan = Plan.from_config(full_config(), THREE)
    align = json.loads(plan.job_inputs_json("c_sim", "align/val"))
    assert align["reference"] == "neural_single"
    assert align["q"]["neural_multihead"] == [
        f"results/c_sim/neural/multihead/val.{k}.Q" for k in (2, 3, 4, 5)
    ]
    assert list(align["q"])[-1] == "truth"
    pong = json.loads(plan.job_inputs_json("c_sim", "pong/train"))
    assert list(pong["q"])[:2] == ["truth", "neural_single_K3"]
    metrics = json.loads(plan.job_inputs_json("c", "metrics_table"))
    assert metrics["mode"]["multihead"] == "multihead"
    assert metrics["reference_baseline"] == "em"
    fam = tmp_path / "x.fam"
    fam.write_text("".join(f"s{i} s{i} 0 0 0 -9\n" for i in range(8)))
    commands = {
        "metrics_table": (["metrics-table", "--cohort", "c"], "results/c/evaluate/neural/single"),
        "align/val": (["align", "--fam", str(fam)], "results/c/neural/single/val.3.Q"),
        "pong/train": (["pong", "--fam", str(fam)], "results/c/aligned/train/neural_single.3.Q"),
    }
    for job, (command, first) in commands.items():
        manifest = tmp_path / f"{job.replace('/', '.')}.json"
        manifest.write_text(plan.job_inputs_json("c", job))
        code = main([*command, "--inputs", str(manifest), "--out", str(tmp_path / "out")])
        assert code == 2
        assert first in capsys.readouterr().err
    assert main(["align", "--out", str(tmp_path / "out")]) == 2
    assert "--q is required (on the command line or in --inputs)" in capsys.readouterr().err
