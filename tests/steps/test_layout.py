"""neuradmix.layout: every path of results/ from one pattern, read back where a step needs it; the
rules, the plan, the steps and the figures follow a renamed pattern."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from plan_config import full_config

from neuradmix import layout
from neuradmix.data import write_bed, write_p, write_q
from neuradmix.report.figures import RunFiles
from neuradmix.simulation.descendants import output_paths
from neuradmix.simulation.psd import simulate_psd
from neuradmix.steps.evaluate import evaluate_model
from neuradmix.steps.plan import CohortFacts, Plan
from neuradmix.steps.tables import read_evaluation, read_timings

ROOT = Path(__file__).resolve().parents[2]


def test_paths_of_a_run_and_their_parse():
    run = layout.run_dir("c", "single")
    assert run == "results/c/neural/single"
    assert layout.q_file(run, "train", 3) == "results/c/neural/single/train.3.Q"
    assert layout.timing(run, "val") == "results/c/neural/single/val.timing.tsv"
    assert layout.timing(run, "val", 3) == "results/c/neural/single/val.3.timing.tsv"
    assert layout.parse_model_file(layout.timing(run, "train")) == ("neural", "single")
    evaluation = layout.evaluation("c", "baseline", "em")
    assert evaluation == "results/c/evaluate/baseline/em.tsv"
    assert layout.parse_evaluation(evaluation) == ("baseline", "em")
    # Steps read tables given from any folder, as long as method and model name them.
    assert layout.parse_evaluation("/tmp/x/neural/run-1.tsv") == ("neural", "run-1")
    assert layout.parse_evaluation("run.tsv") is None
    assert layout.parse_model_file("train.timing.tsv") is None


def test_patterns_take_snakemake_wildcards():
    assert layout.log("{cohort}", "evaluate", "{method}.{model}") == (
        "results/{cohort}/logs/evaluate/{method}.{model}.log"
    )
    assert layout.benchmark("{cohort}", "plots") == "results/{cohort}/benchmarks/plots/plots.tsv"
    assert layout.q_file(layout.baseline_dir("{cohort}", "{tool}"), "train", "{k}") == (
        "results/{cohort}/baseline/{tool}/train.{k}.Q"
    )


@pytest.fixture
def renamed(monkeypatch):
    """The .Q and .P files of a model as NAME.K{k}.Q and the evaluations under scores/."""
    monkeypatch.setitem(layout.PATTERNS, "q", "{directory}/{name}.K{k}.Q")
    monkeypatch.setitem(layout.PATTERNS, "p", "{directory}/{name}.K{k}.P")
    monkeypatch.setitem(layout.PATTERNS, "evaluation", "{cohort_dir}/scores/{method}/{model}.tsv")


def test_every_consumer_follows_a_renamed_pattern(renamed, tmp_path):
    # The plan: what the rules wait for and pass to align.
    facts = {"c": CohortFacts(40, frozenset({"A", "B", "C"}), 32)}
    plan = Plan.from_config(full_config(), facts)
    assert "results/c/baseline/em/train.K3.Q" in plan.model_files("c", "baseline", "em")
    assert ("baseline_em", 3, "results/c/baseline/em/val.K3.Q") in plan.q_files("c", "val")
    evaluations = plan.metrics_inputs("c")["evaluations"]
    assert "results/c/scores/neural/single.tsv" in evaluations
    assert "results/c/scores/baseline/em.tsv" in evaluations
    # The figures.
    run = RunFiles("neural/single", tmp_path)
    assert run.path("val", 3, "Q") == tmp_path / "val.K3.Q"
    assert run.path("train", 3, "P") == tmp_path / "train.K3.P"
    # The evaluation reads the renamed files (and only those exist).
    planted = simulate_psd(20, 100, 2, fst=0.2, seed=3)
    write_bed(tmp_path / "train", planted.genotypes)
    write_q(tmp_path / "train.K2.Q", planted.q)
    write_p(tmp_path / "train.K2.P", planted.p)
    table = evaluate_model(tmp_path, [2], {"train": tmp_path / "train"}, tmp_path / "ev.tsv")
    assert np.isfinite(table["log_likelihood"]).all()
    # The metrics table reads method and model back from the renamed evaluation path.
    evaluation = tmp_path / "scores" / "neural" / "single.tsv"
    evaluation.parent.mkdir(parents=True)
    evaluation.write_text((tmp_path / "ev.tsv").read_text())
    assert set(read_evaluation(evaluation)["model"]) == {"single"}


def test_read_timings_places_a_sidecar_by_its_folder(tmp_path):
    from neuradmix.data.timing import Timing, write_timing

    path = Path(layout.timing(tmp_path / "baseline" / "em", "val", 2))
    path.parent.mkdir(parents=True)
    write_timing(path, Timing("project", "em", "2", 1.0, 2.0, 1, "cpu"))
    assert set(read_timings([path])) == {("baseline", "em", "infer", 2)}


def test_the_workflow_spells_no_result_path():
    """Rules and the Snakefile take every results/ path from the layout, so a renamed pattern
    reaches them too."""
    spelled = re.compile(r"results/|\.timing\.tsv|\.loss\.tsv|\.cv\.tsv|\.[QP]\b\"|\.truth\.Q")
    files = [ROOT / "Snakefile", *sorted((ROOT / "workflow" / "rules").glob("*.smk"))]
    offending = [
        f"{path.name}:{number}: {line.strip()}"
        for path in files
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if spelled.search(line) and not line.lstrip().startswith("#")
    ]
    assert not offending, offending


@pytest.fixture
def renamed_outputs(monkeypatch):
    """Every file a command writes into a model's folder under another name."""
    renames = {
        "q": "{directory}/{name}.K{k}.Q",
        "p": "{directory}/{name}.K{k}.P",
        "q_se": "{directory}/{name}.K{k}.Q_stderr",
        "q_columns": "{q}.populations",
        "timing": "{directory}/{name}.clock.tsv",
        "timing_k": "{directory}/{name}.K{k}.clock.tsv",
        "baseline_summary": "{directory}/{name}.K{k}.tool.tsv",
        "model_pt": "{directory}/{name}.net.pt",
        "loss": "{directory}/{name}.epochs.tsv",
        "cv": "{directory}/{name}.cverr.tsv",
        "aligned_q": "{directory}/{run}.K{k}.Q",
        "truth": "{prefix}.true.Q",
        "labels": "{prefix}.pops",
    }
    for kind, pattern in renames.items():
        monkeypatch.setitem(layout.PATTERNS, kind, pattern)


def _written(folder: Path) -> set[str]:
    return {path.name for path in folder.iterdir()}


def test_the_writers_name_their_files_through_the_layout(renamed_outputs, tmp_path):
    """The commands write what the layout names, and nothing else: a writer that spelled
    ``NAME.K.Q`` (or a timing, model, loss, CV or baseline file) itself would leave the old name
    here."""
    from neuradmix.cli import main

    planted = simulate_psd(40, 300, 2, fst=0.3, seed=5)
    write_bed(tmp_path / "data", planted.genotypes)
    bed = str(tmp_path / "data.bed")
    common = ["--threads", "1"]
    em, base, net, cv, aligned = (tmp_path / name for name in ("em", "b", "net", "cv", "al"))
    bootstrap = ["--bootstrap", "2", "--bootstrap-iter", "1", "--bootstrap-block", "0.001"]
    assert (
        main(["em", bed, "--k", "2", "--out", str(em), "--name", "train", *common, *bootstrap]) == 0
    )
    assert _written(em) == {"train.K2.Q", "train.K2.P", "train.K2.Q_stderr", "train.K2.clock.tsv"}
    p = str(em / "train.K2.P")
    assert main(["project", bed, "--p", p, "--out", str(em), "--name", "val", *common]) == 0
    assert main(["polish", bed, "--q", str(em / "train.K2.Q"), "--p", p, "--out", str(em),
                 "--name", "pol", "--quiet", *common]) == 0  # fmt: skip
    assert _written(em) - {
        "train.K2.Q",
        "train.K2.P",
        "train.K2.Q_stderr",
        "train.K2.clock.tsv",
    } == {"val.K2.Q", "val.K2.clock.tsv", "pol.K2.Q", "pol.K2.P", "pol.K2.clock.tsv"}
    assert main(["baseline", bed, "--k", "2", "--tool", "em", "--out", str(base), "--name", "train",
                 *common]) == 0  # fmt: skip
    assert _written(base) == {"train.K2.Q", "train.K2.P", "train.K2.clock.tsv", "train.K2.tool.tsv"}
    assert main(["cv", bed, "--k", "2", "--folds", "2", "--out", str(cv), "--name", "em", "--quiet",
                 *common]) == 0  # fmt: skip
    assert _written(cv) == {"em.cverr.tsv"}
    assert main(["train", bed, "--k", "2", "--epochs", "2", "--out", str(net), "--name", "train",
                 *common]) == 0  # fmt: skip
    model = net / "train.net.pt"
    assert (
        main(["infer", bed, "--model", str(model), "--out", str(net), "--name", "val", *common])
        == 0
    )
    assert main(["recover-p", bed, "--q", str(net / "val.K2.Q"), "--out", str(net), "--name", "all",
                 *common]) == 0  # fmt: skip
    assert _written(net) == {
        "train.K2.Q", "train.K2.P", "train.net.pt", "train.epochs.tsv", "train.clock.tsv",
        "val.K2.Q", "val.clock.tsv", "all.K2.P",
    }  # fmt: skip
    runs = [f"--q=a={em / 'train.K2.Q'}", f"--q=b={base / 'train.K2.Q'}"]
    assert main(["align", *runs, "--out", str(aligned)]) == 0
    assert _written(aligned) == {"a.K2.Q", "b.K2.Q", "permutations.tsv", "modes.tsv"}
    simulated = output_paths(tmp_path / "sim.train", vcf=False, bed=False, segments=False)
    assert {path.name for path in simulated} == {
        "sim.train.true.Q", "sim.train.true.Q.populations", "sim.train.pops"
    }  # fmt: skip
