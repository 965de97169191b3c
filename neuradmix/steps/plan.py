"""The workflow's plan: what a validated config asks for, worked out once.

:meth:`Plan.from_config` takes the config as the schema (``workflow/schemas/config.schema.yaml``)
validated it, with its defaults filled in, checks what the schema cannot (files that must exist,
K values against the labels and the training partition, what the simulation needs), and answers
the workflow's questions: the cohorts of each kind, the K values of each run and model, the CV K
values, the baseline tools, the main K of the figures, the runs of a λ sweep, and every file a
job waits for (through :mod:`neuradmix.layout`). A failed check raises
:class:`~neuradmix.errors.InputError` with one line naming the config key and the fix.

File formats are read with the package's own functions (:mod:`neuradmix.data`), so the checks
count samples and populations exactly as the jobs will, and the training-partition size is the
split's own arithmetic (:func:`neuradmix.steps.split.partition_sizes`).
"""

from __future__ import annotations

import json
import os
import shlex
from dataclasses import dataclass, field
from pathlib import Path

from .. import layout
from ..data import (
    atomic_outputs,
    known_populations,
    pfile_paths,
    plink_prefix,
    read_fam_ids,
    read_labels,
    read_psam_ids,
    require_fileset,
    require_pfileset,
)
from ..data.vcf import vcf_sample_ids
from ..errors import InputError
from . import resources as jobsize
from .pong import pong_run_id
from .split import partition_sizes

SIM_SUFFIX = "_sim"
INPUT_KEYS = ("vcf", "bed", "pgen")
PARTITIONS = list(layout.PARTITIONS)
VCF_SUFFIXES = (".vcf", ".vcf.gz")

# How plink2 imports a VCF or a PLINK 2 fileset: biallelic ACGT SNPs only, every SNP named
# chr:pos:ref:alt, and SNPs whose name is then duplicated dropped, so that every later --extract
# selects exactly the SNPs it lists. The .bed it writes counts the ALT allele (column 5).
PLINK2_IMPORT = (
    "--max-alleles 2 --snps-only just-acgt --allow-extra-chr --set-all-var-ids '@:#:$r:$a'"
    " --new-id-max-allele-len 1000 --rm-dup exclude-all"
)

# Rules whose jobs plink2 runs (memory and run time from the size of their input).
PLINK2_RULES = frozenset(
    {
        "vcf_to_bed",
        "pgen_to_bed",
        "qc",
        "snp_list",
        "downsample",
        "partition",
        "target_vcf_to_bed",
        "founders",
    }
)
# Rules whose jobs' memory and run time the plan estimates from their input (Plan.job_size).
ESTIMATED_RULES = frozenset(
    {"train_neural", "infer", "infer_target", "baseline", "project", "cv", "evaluate"}
)


def _error(message: str):
    raise InputError(message)


def input_kind(entry: dict) -> str:
    """Which of :data:`INPUT_KEYS` a cohort gives its genotypes as (the schema allows one)."""
    return next(key for key in INPUT_KEYS if key in entry)


@dataclass(frozen=True)
class CohortFacts:
    """What the config checks read from a cohort's input files."""

    n_samples: int
    populations: frozenset[str] = frozenset()
    n_train: int = 0  # samples the stratified split leaves for training


def read_cohort(name: str, entry: dict, validation_fraction: float) -> CohortFacts:
    """Sample IDs and labels of a real cohort as the jobs will read them; checks that every file
    the entry names exists."""
    kind = input_kind(entry)
    try:
        if kind == "vcf":
            if not Path(entry["vcf"]).is_file():
                _error(
                    f"cohorts.{name}.vcf: file {entry['vcf']} not found (paths are relative to "
                    "the directory snakemake runs in)."
                )
            ids = vcf_sample_ids(entry["vcf"])
        elif kind == "pgen":
            require_pfileset(entry["pgen"])
            ids = read_psam_ids(entry["pgen"])
        else:
            require_fileset(entry["bed"])
            ids = read_fam_ids(entry["bed"])
    except InputError as error:
        if str(error).startswith(f"cohorts.{name}."):
            raise
        _error(f"cohorts.{name}.{kind}: {error}")
    labels = [""] * len(ids)
    if "labels" in entry:
        if not Path(entry["labels"]).is_file():
            _error(f"cohorts.{name}.labels: file {entry['labels']} not found.")
        try:
            labels = read_labels(entry["labels"], ids)
        except InputError as error:
            _error(f"cohorts.{name}.labels: {error}")
    for target, path in entry.get("targets", {}).items():
        if path.endswith(VCF_SUFFIXES):
            if not Path(path).is_file():
                _error(f"cohorts.{name}.targets.{target}: file {path} not found.")
        else:
            try:
                require_fileset(path)
            except InputError as error:
                _error(
                    f"cohorts.{name}.targets.{target}: {error} Give a VCF (.vcf or .vcf.gz) or "
                    "a PLINK .bed with .bim/.fam beside it."
                )
    if entry.get("simulate") and "genetic_map" in entry:
        if not Path(entry["genetic_map"]).is_file():
            _error(f"cohorts.{name}.genetic_map: file {entry['genetic_map']} not found.")
    return CohortFacts(
        n_samples=len(ids),
        populations=frozenset(known_populations(labels)),
        n_train=partition_sizes(labels, validation_fraction)[0],
    )


@dataclass
class Plan:
    """The plan of one validated config; :meth:`from_config` builds and checks it."""

    config: dict
    facts: dict[str, CohortFacts]
    supervised_k: int | None = None
    _ks: dict[str, list[int]] = field(default_factory=dict, repr=False)

    # -----------------------------------------------------------------------------------------
    # Building and checking
    # -----------------------------------------------------------------------------------------

    @classmethod
    def from_config(cls, config: dict, facts: dict[str, CohortFacts] | None = None) -> Plan:
        """The plan of ``config`` (validated by the schema, defaults filled in). ``facts``
        (cohort -> :class:`CohortFacts`) replaces reading the input files, for tests."""
        cohorts = config["cohorts"]
        fraction = config["split"]["validation_fraction"]
        for name, entry in cohorts.items():
            if entry.get("simulate") and name + SIM_SUFFIX in cohorts:
                _error(
                    f"cohorts: '{name}{SIM_SUFFIX}' is reserved for the simulated version of "
                    f"'{name}'; rename that cohort."
                )
        if facts is None:
            facts = {name: read_cohort(name, entry, fraction) for name, entry in cohorts.items()}
        plan = cls(config, dict(facts))
        plan._check_runs()
        plan._check_simulation()
        plan._check_ks()
        plan._check_partitions()
        return plan

    def _check_runs(self) -> None:
        for run, spec in self.runs.items():
            if spec["mode"] == "multihead" and spec["min_k"] > spec["max_k"]:
                _error(
                    f"neural.runs.{run}: min_k ({spec['min_k']}) exceeds max_k ({spec['max_k']})."
                )
            if spec["mode"] != "supervised":
                continue
            for cohort, facts in self.facts.items():
                if not facts.populations:
                    _error(
                        f"neural.runs.{run} is supervised but cohort '{cohort}' has no labels; "
                        f"add cohorts.{cohort}.labels or remove the run."
                    )
                k = spec.get("k", self.supervised_k or len(facts.populations))
                if k != len(facts.populations):
                    _error(
                        f"neural.runs.{run}: supervised k={k} but cohort '{cohort}' has "
                        f"{len(facts.populations)} labelled populations; drop k (it is taken "
                        "from the labels)."
                    )
                self.supervised_k = k
        self._ks = {run: self._run_ks(run) for run in self.runs}

    def _check_simulation(self) -> None:
        sources = self.config["simulate"]["populations"]
        for cohort in self.simulated_sources:
            if not sources:
                continue
            populations = self.facts[cohort].populations
            unknown = sorted(set(sources) - populations)
            if unknown:
                _error(
                    f"simulate.populations: {', '.join(unknown)} not among the labels of cohort "
                    f"'{cohort}' ({', '.join(sorted(populations))})."
                )
            for run, spec in self.runs.items():
                if spec["mode"] == "supervised" and self.run_ks(run)[0] != len(sources):
                    _error(
                        f"neural.runs.{run} is supervised with k={self.run_ks(run)[0]}, but the "
                        f"simulated cohort '{cohort}{SIM_SUFFIX}' descends from {len(sources)} "
                        "populations (simulate.populations); a run has one K for every cohort, "
                        "so drop simulate.populations or the supervised run."
                    )

    def _check_ks(self) -> None:
        cv = self.config["cv"]
        if cv["min_k"] > cv["max_k"]:
            _error(f"cv.min_k ({cv['min_k']}) exceeds cv.max_k ({cv['max_k']}).")
        largest = max(self.all_ks + self.cv_ks)
        for cohort, facts in self.facts.items():
            # The training partition is what the models see; K must stay below its size.
            if largest >= facts.n_train:
                _error(
                    f"K={largest} (neural.runs / cv.max_k) is out of range for cohort "
                    f"'{cohort}': it has {facts.n_samples} samples, {facts.n_train} of them for "
                    "training after the split; K must be smaller than that."
                )

    def _check_partitions(self) -> None:
        names = self.config["partitions"]
        if names["gpu"] is not None or names["cpu"] is None:
            return
        for run in self.runs:
            if self.uses_gpu(run):
                _error(
                    f"neural.runs.{run} runs on {self.run_device(run)} but partitions.gpu is not "
                    "set; set it (profiles/slurm/config.yaml, under config:) so its jobs reach a "
                    "GPU partition."
                )

    # -----------------------------------------------------------------------------------------
    # Cohorts
    # -----------------------------------------------------------------------------------------

    @property
    def cohorts(self) -> dict[str, dict]:
        return self.config["cohorts"]

    @property
    def real_cohorts(self) -> list[str]:
        return list(self.cohorts)

    def cohorts_of_kind(self, kind: str) -> list[str]:
        """Real cohorts given as ``kind`` (vcf, bed or pgen)."""
        return [c for c, entry in self.cohorts.items() if input_kind(entry) == kind]

    @property
    def simulated_sources(self) -> list[str]:
        """Real cohorts with simulate: true."""
        return [c for c, entry in self.cohorts.items() if entry.get("simulate")]

    @property
    def simulated_cohorts(self) -> list[str]:
        return [c + SIM_SUFFIX for c in self.simulated_sources]

    @property
    def all_cohorts(self) -> list[str]:
        return self.real_cohorts + self.simulated_cohorts

    def is_simulated(self, cohort: str) -> bool:
        return cohort in self.simulated_cohorts

    def entry(self, cohort: str) -> dict:
        """Config entry of a cohort; a simulated cohort inherits its founders' entry."""
        if cohort in self.cohorts:
            return self.cohorts[cohort]
        return self.cohorts[cohort.removesuffix(SIM_SUFFIX)]

    def has_labels(self, cohort: str) -> bool:
        return "labels" in self.entry(cohort)

    def truth_k(self, cohort: str) -> int:
        """K of a simulated cohort's truth .Q: its source populations (simulate.populations,
        else every labelled population of the founders)."""
        sources = self.config["simulate"]["populations"]
        return len(sources or self.facts[cohort.removesuffix(SIM_SUFFIX)].populations)

    def input_prefix(self, cohort: str) -> str:
        """PLINK prefix of a real cohort's genotypes as given (bed), or as plink2 converted them
        (vcf, pgen)."""
        entry = self.cohorts[cohort]
        if "bed" in entry:
            return str(plink_prefix(entry["bed"]))
        return layout.prepare_prefix(cohort, "raw")

    def pgen_files(self, cohort: str) -> dict[str, str]:
        paths = pfile_paths(self.cohorts[cohort]["pgen"])
        return dict(zip(("pgen", "pvar", "psam"), map(str, paths), strict=True))

    def partition_prefix(self, cohort: str, partition: str) -> str:
        """PLINK prefix of a partition; its .labels (and .truth.Q when simulated) sit beside it."""
        if self.is_simulated(cohort):
            return layout.simulated_prefix(cohort, partition)
        return layout.prepare_prefix(cohort, partition)

    @property
    def downsampled_stage(self) -> str:
        """The preparation stage that is split: ds, or qc when nothing is downsampled."""
        return "qc" if self.config["downsample"]["method"] == "none" else "ds"

    @property
    def snp_list_name(self) -> str:
        return "ds.prune.in" if self.config["downsample"]["method"] == "ld_prune" else "ds.snps"

    def target_path(self, cohort: str, target: str) -> str:
        return self.cohorts[cohort]["targets"][target]

    def target_source(self, cohort: str, target: str) -> str:
        """PLINK prefix of a target as given, or as converted from its VCF."""
        path = self.target_path(cohort, target)
        if path.endswith(VCF_SUFFIXES):
            return layout.target_prefix(cohort, target, "raw")
        return str(plink_prefix(path))

    def target_outputs(self) -> list[str]:
        """Timing sidecars of every target cohort's assignment under every neural run; each is
        written together with the run's {target}.{K}.Q files."""
        return [
            layout.target_timing(cohort, run, target)
            for cohort, entry in self.cohorts.items()
            for target in entry.get("targets", {})
            for run in self.runs
        ]

    def report_stages(self, cohort: str) -> list[tuple[str, str]]:
        """(stage, PLINK prefix) pairs of the report's cohort summary, in pipeline order."""
        if self.is_simulated(cohort):
            return [
                ("simulated training", self.partition_prefix(cohort, "train")),
                ("simulated validation", self.partition_prefix(cohort, "val")),
            ]
        stages = [("input", self.input_prefix(cohort))]
        stages.append(("after QC", layout.prepare_prefix(cohort, "qc")))
        if self.config["downsample"]["method"] != "none":
            stages.append(("after downsampling", layout.prepare_prefix(cohort, "ds")))
        stages += [
            ("training", layout.prepare_prefix(cohort, "train")),
            ("validation", layout.prepare_prefix(cohort, "val")),
        ]
        return stages

    # -----------------------------------------------------------------------------------------
    # Runs, models and K values
    # -----------------------------------------------------------------------------------------

    @property
    def runs(self) -> dict[str, dict]:
        return self.config["neural"]["runs"]

    @property
    def baseline(self) -> str:
        return self.config["baseline"]["tool"]

    def _run_ks(self, run: str) -> list[int]:
        spec = self.runs[run]
        if spec["mode"] == "multihead":
            return list(range(spec["min_k"], spec["max_k"] + 1))
        if spec["mode"] == "supervised":
            return [spec.get("k", self.supervised_k)]
        return [spec["k"]]

    def run_ks(self, run: str) -> list[int]:
        return list(self._ks[run])

    def run_setting(self, run: str, key: str):
        """A run's own epochs, lambda or device, else the neural section's."""
        return self.runs[run].get(key, self.config["neural"][key])

    def run_device(self, run: str) -> str:
        return str(self.run_setting(run, "device"))

    def uses_gpu(self, run: str) -> bool:
        """A run whose device is cuda (or cuda:N) needs a GPU; cpu, mps and auto do not."""
        return self.run_device(run).startswith("cuda")

    def pretrained_source(self, run: str) -> str:
        return self.runs[run].get("pretrained_from", self.baseline)

    @property
    def all_ks(self) -> list[int]:
        """Every K of a neural run; the baseline is fitted at each of them."""
        return sorted({k for run in self.runs for k in self.run_ks(run)})

    @property
    def cv_ks(self) -> list[int]:
        cv = self.config["cv"]
        return list(range(cv["min_k"], cv["max_k"] + 1)) if cv["enabled"] else []

    @property
    def baseline_tools(self) -> list[str]:
        """The baseline tool and every tool whose .P seeds a pretrained run."""
        return sorted({self.baseline} | {self.pretrained_source(r) for r in self.runs})

    def evaluated_models(self) -> list[tuple[str, str, list[int]]]:
        """(method, model, K values) of every model the metrics table covers, neural first."""
        models = [("neural", run, self.run_ks(run)) for run in self.runs]
        models.append(("baseline", self.baseline, self.all_ks))
        return models

    def model_ks(self, method: str, model: str) -> list[int]:
        return self.run_ks(model) if method == "neural" else self.all_ks

    def check_model(self, method: str, model: str) -> None:
        if method == "neural" and model not in self.runs:
            _error(f"{model} is not a neural run of the config.")
        if method == "baseline" and model != self.baseline:
            _error(f"{model} is not the configured baseline tool.")

    @property
    def main_k(self) -> int:
        """K of the barplots: that of the first single-K run, else the middle of all K."""
        for run, spec in self.runs.items():
            if spec["mode"] != "multihead":
                return self.run_ks(run)[0]
        return self.all_ks[len(self.all_ks) // 2]

    @property
    def lambda_runs(self) -> list[str]:
        """Runs that differ only in λ (same mode and K values), by λ: the largest such group
        holding the main K, or []."""
        groups: dict[tuple, list[str]] = {}
        for run, spec in self.runs.items():
            groups.setdefault((spec["mode"], tuple(self.run_ks(run))), []).append(run)
        best: list[str] = []
        for (_, ks), runs in groups.items():
            lambdas = {self.run_setting(run, "lambda") for run in runs}
            if self.main_k in ks and len(lambdas) == len(runs) > 1 and len(runs) > len(best):
                best = sorted(runs, key=lambda run: self.run_setting(run, "lambda"))
        return best

    def align_reference(self) -> str:
        """The run whose clusters name the labels: the first model with a result at the main K
        (the main run of the figures)."""
        return next(
            f"{method}_{model}"
            for method, model, ks in self.evaluated_models()
            if self.main_k in ks
        )

    # -----------------------------------------------------------------------------------------
    # The files a job waits for
    # -----------------------------------------------------------------------------------------

    def model_files(self, cohort: str, method: str, model: str) -> list[str]:
        """What a model's evaluation, plots and pong files wait for: the sidecars of a neural
        run's training and inference (its .Q/.P files sit beside them), or a baseline's .Q/.P
        per K."""
        directory = layout.model_dir(cohort, method, model)
        if method == "neural":
            return [layout.timing(directory, part) for part in PARTITIONS]
        ks = self.all_ks
        return [layout.q_file(directory, part, k) for part in PARTITIONS for k in ks] + [
            layout.p_file(directory, "train", k) for k in ks
        ]

    def model_timings(self, cohort: str, method: str, model: str) -> list[str]:
        directory = layout.model_dir(cohort, method, model)
        if method == "neural":
            return [layout.timing(directory, part) for part in PARTITIONS]
        return [layout.timing(directory, part, k) for part in PARTITIONS for k in self.all_ks]

    def all_model_files(self, cohort: str) -> list[str]:
        return [
            path
            for method, model, _ in self.evaluated_models()
            for path in self.model_files(cohort, method, model)
        ]

    def cv_tables(self, cohort: str) -> list[str]:
        if not self.cv_ks:
            return []
        return [layout.cv_table(cohort, method) for method in self.config["cv"]["methods"]]

    def q_files(self, cohort: str, partition: str) -> list[tuple[str, int, str]]:
        """(run ID, K, .Q) of every model and K of a partition: the files align reads."""
        return [
            (
                f"{method}_{model}",
                k,
                layout.q_file(layout.model_dir(cohort, method, model), partition, k),
            )
            for method, model, ks in self.evaluated_models()
            for k in ks
        ]

    def pong_q_files(self, cohort: str, partition: str) -> list[tuple[str, str]]:
        """(pong run ID, aligned .Q) of every model and K of a partition, as align writes them;
        a simulated cohort's truth first."""
        directory = layout.aligned_dir(cohort, partition)
        files = [
            (pong_run_id(method, model, k), layout.aligned_q(directory, f"{method}_{model}", k))
            for method, model, ks in self.evaluated_models()
            for k in ks
        ]
        if self.is_simulated(cohort):
            files.insert(0, ("truth", layout.aligned_q(directory, "truth", self.truth_k(cohort))))
        return files

    # -----------------------------------------------------------------------------------------
    # Inputs and options of the jobs (Snakemake input functions and params call these)
    # -----------------------------------------------------------------------------------------

    def train_inputs(self, cohort: str, run: str) -> dict[str, str]:
        """The training partition, with the labels of a supervised run or the baseline .P that
        seeds a pretrained run."""
        prefix = self.partition_prefix(cohort, "train")
        files = layout.fileset(prefix)
        spec = self.runs[run]
        if spec["mode"] == "supervised":
            files["labels"] = layout.labels(prefix)
        elif spec["mode"] == "pretrained":
            tool_dir = layout.baseline_dir(cohort, self.pretrained_source(run))
            files["init_p"] = layout.p_file(tool_dir, "train", spec["k"])
        return files

    def train_options(self, cohort: str, run: str) -> str:
        """K values (--k, or --min-k/--max-k), labels, the .P of a pretrained run, --polish."""
        ks = self.run_ks(run)
        spec = self.runs[run]
        if spec["mode"] == "multihead":
            options = [f"--min-k {ks[0]} --max-k {ks[-1]}"]
        else:
            options = [f"--k {ks[0]}"]
        inputs = self.train_inputs(cohort, run)
        options += [
            f"--{key.replace('_', '-')} {shlex.quote(inputs[key])}"
            for key in ("labels", "init_p")
            if key in inputs
        ]
        if spec.get("polish", False):
            options.append("--polish")
        return " ".join(options)

    def _partition_files(self, cohort: str, partition: str) -> dict[str, str]:
        """A partition's fileset, with its labels and simulated truth where the cohort has
        them, keyed bed, bim, fam, labels, truth."""
        prefix = self.partition_prefix(cohort, partition)
        files = layout.fileset(prefix)
        if self.has_labels(cohort):
            files["labels"] = layout.labels(prefix)
        if self.is_simulated(cohort):
            files["truth"] = layout.truth(prefix)
        return files

    def evaluate_inputs(self, cohort: str, method: str, model: str) -> dict:
        """A model's result files and both partitions' data, labels and truth."""
        self.check_model(method, model)
        files: dict = {"model": self.model_files(cohort, method, model)}
        for part in PARTITIONS:
            files.update(
                {f"{part}_{key}": path for key, path in self._partition_files(cohort, part).items()}
            )
        return files

    def evaluate_options(self, cohort: str) -> str:
        """--data, --labels and --truth-q PARTITION=FILE of both partitions."""
        options = {"bed": "--data", "labels": "--labels", "truth": "--truth-q"}
        return " ".join(
            f"{options[key]} {shlex.quote(f'{part}={path}')}"
            for part in PARTITIONS
            for key, path in self._partition_files(cohort, part).items()
            if key in options
        )

    def metrics_inputs(self, cohort: str) -> dict[str, list[str] | str]:
        """The evaluations, timing sidecars and CV tables the metrics table reads, and its
        manifest."""
        models = self.evaluated_models()
        return {
            "evaluations": [layout.evaluation(cohort, m, model) for m, model, _ in models],
            "timings": [
                path for m, model, _ in models for path in self.model_timings(cohort, m, model)
            ],
            "cv": self.cv_tables(cohort),
            "manifest": layout.job_inputs(cohort, "metrics_table"),
        }

    def align_inputs(self, cohort: str, partition: str) -> dict:
        """What align waits for: the partition's .fam, every model's files, the simulated truth
        and the manifest naming the .Q files."""
        files = self._partition_files(cohort, partition)
        return {
            "fam": files["fam"],
            "models": self.all_model_files(cohort),
            "truth": [files["truth"]] if "truth" in files else [],
            "manifest": layout.job_inputs(cohort, "align", partition),
        }

    # -----------------------------------------------------------------------------------------
    # Manifests: what the jobs with many named inputs (plots, report, metrics table, align,
    # pong) read, instead of dozens of flags
    # -----------------------------------------------------------------------------------------

    def metrics_table_inputs(self, cohort: str) -> dict:
        """The inputs of ``neuradmix metrics-table --inputs``: the evaluations, timing sidecars
        and CV tables, the mode of each run and the baseline of the speedups."""
        files = self.metrics_inputs(cohort)
        return {
            "evaluations": files["evaluations"],
            "timings": files["timings"],
            "cv": files["cv"],
            "mode": {run: spec["mode"] for run, spec in self.runs.items()},
            "reference_baseline": self.baseline,
        }

    def align_manifest(self, cohort: str, partition: str) -> dict:
        """The inputs of ``neuradmix align --inputs``: the .Q files of every model and K of the
        partition by run, then the simulated truth, and the reference run."""
        runs: dict[str, list[str]] = {}
        for run, _, path in self.q_files(cohort, partition):
            runs.setdefault(run, []).append(path)
        truth = self._partition_files(cohort, partition).get("truth")
        if truth is not None:
            runs["truth"] = [truth]
        return {"q": runs, "reference": self.align_reference()}

    def pong_manifest(self, cohort: str, partition: str) -> dict:
        """The inputs of ``neuradmix pong --inputs``: every aligned .Q of the partition by pong
        run ID (the truth first)."""
        return {"q": dict(self.pong_q_files(cohort, partition))}

    def plots_inputs(self, cohort: str) -> dict:
        """The inputs of ``neuradmix plots --inputs`` for a cohort, keyed by its options."""
        train = self.partition_prefix(cohort, "train")
        val = self.partition_prefix(cohort, "val")
        runs = {f"neural/{run}": layout.run_dir(cohort, run) for run in self.runs}
        runs[f"baseline/{self.baseline}"] = layout.baseline_dir(cohort, self.baseline)
        inputs = {
            "train_bed": train,
            "val_bed": layout.fileset(val)["fam"],
            "run": runs,
            "loss": {run: layout.loss_table(cohort, run) for run in self.runs},
            "lambda_run": {
                str(self.run_setting(run, "lambda")): layout.run_dir(cohort, run)
                for run in self.lambda_runs
            },
            "cv": self.cv_tables(cohort),
            "k": self.all_ks,
            "main_k": self.main_k,
        }
        if self.has_labels(cohort):
            inputs["train_labels"] = layout.labels(train)
            inputs["val_labels"] = layout.labels(val)
        if self.is_simulated(cohort):
            inputs["train_truth"] = layout.truth(train)
            inputs["val_truth"] = layout.truth(val)
        return inputs

    def report_inputs(self, cohort: str) -> dict:
        """The inputs of ``neuradmix report --inputs`` for a cohort: the filesets of its summary,
        the labels of each partition, its CV tables, the baseline of the headline and the
        config."""
        inputs = {
            "fileset": dict(self.report_stages(cohort)),
            "reference_baseline": self.baseline,
            "cv": self.cv_tables(cohort),
            "config": self.config,
        }
        if self.has_labels(cohort):
            inputs["labels"] = {
                part: f"{layout.labels(prefix)}:{prefix}"
                for part in PARTITIONS
                for prefix in [self.partition_prefix(cohort, part)]
            }
        return inputs

    def job_inputs_json(self, cohort: str, job: str) -> str:
        """The manifest of ``job`` for a cohort, as JSON text: plots, report or metrics_table,
        or align/PARTITION or pong/PARTITION (as :func:`neuradmix.layout.job_inputs` names
        them)."""
        job, _, partition = job.partition("/")
        if job in ("align", "pong"):
            manifest = {"align": self.align_manifest, "pong": self.pong_manifest}[job]
            inputs = manifest(cohort, partition)
        else:
            inputs = {
                "plots": self.plots_inputs,
                "report": self.report_inputs,
                "metrics_table": self.metrics_table_inputs,
            }[job](cohort)
        return json.dumps(inputs, indent=1, default=str) + "\n"

    # -----------------------------------------------------------------------------------------
    # Resources of the rules
    # -----------------------------------------------------------------------------------------

    def rule_settings(self, rule: str) -> dict:
        """threads, mem_mb and runtime of a rule: its own entry over resources.default."""
        resources = self.config["resources"]
        return {**resources["default"], **resources.get(rule, {})}

    def job_size(self, rule: str, wildcards, input) -> jobsize.Job:
        """Size of a heavy job from its wildcards and input (Snakemake's objects)."""

        def size(prefix=""):
            return jobsize.fileset_size(input[f"{prefix}bed"], input[f"{prefix}fam"])

        if rule in ("train_neural", "infer", "infer_target"):
            # Training (the network, then block relaxation with --polish) or inference (a
            # forward pass and a few Newton steps, with the model file loaded).
            inference = "model" in input.keys()
            polish = self.runs[wildcards.run].get("polish", False)
            return jobsize.Job(
                (size(),),
                tuple(self.run_ks(wildcards.run)),
                torch=True,
                extra_bytes=os.path.getsize(input["model"]) if inference else 0,
                passes=0.1 if inference else (2 if polish else 1),
            )
        if rule in ("baseline", "project"):
            # A fit at one K, or the projection onto its .P (Q only); an external tool holds
            # one byte per call.
            return jobsize.Job(
                (size(),),
                (int(wildcards.k),),
                unpacked_copies=int(wildcards.tool != "em"),
                passes=0.5 if "p" in input.keys() else 1,
            )
        if rule == "cv":
            # One K at a time on a copy of the decoded calls, once per fold.
            ks = self.cv_ks
            return jobsize.Job(
                (size(),),
                (max(ks),),
                torch=wildcards.cv_method == "neural",
                unpacked_copies=2,
                passes=self.config["cv"]["folds"] * sum(k * k for k in ks) / max(ks) ** 2,
            )
        if rule == "evaluate":
            # Both partitions decoded, with the Q and P of every K of the model.
            return jobsize.Job(
                tuple(size(f"{part}_") for part in PARTITIONS),
                tuple(self.model_ks(wildcards.method, wildcards.model)),
                unpacked_copies=1,
                passes=0.1,
            )
        raise KeyError(rule)

    def rule_resources(self, rule: str, per_run: bool = False) -> dict:
        """Snakemake resources of a rule: mem_mb and runtime from the config where its own entry
        (or, for a rule not estimated, resources.default) sets them, else estimated from each
        job's input and doubled on every retry; the SLURM partition; with ``per_run`` (a rule
        with a {run} wildcard) gpu=1 and the GPU partition for a run on cuda."""
        names = self.config["partitions"]
        if rule not in PLINK2_RULES and rule not in ESTIMATED_RULES:
            settings = self.rule_settings(rule)
            resources = {"mem_mb": settings["mem_mb"], "runtime": settings["runtime"]}
        else:

            def memory(wildcards, input, attempt):
                if rule in PLINK2_RULES:
                    return jobsize.plink2_memory_mb(input.size, attempt)
                return self.job_size(rule, wildcards, input).memory_mb(attempt)

            def runtime(wildcards, input, attempt):
                if rule in PLINK2_RULES:
                    return jobsize.plink2_runtime_min(input.size, attempt)
                return self.job_size(rule, wildcards, input).runtime_min(attempt)

            own = self.config["resources"].get(rule, {})
            resources = {
                "mem_mb": jobsize.requested(own.get("mem_mb"), memory),
                "runtime": jobsize.requested(own.get("runtime"), runtime),
            }
        if per_run:
            resources["gpu"] = lambda wildcards: int(self.uses_gpu(wildcards.run))
            resources["slurm_partition"] = lambda wildcards: (
                names["gpu"] if self.uses_gpu(wildcards.run) else names["cpu"]
            )
        elif names["cpu"] is not None:
            resources["slurm_partition"] = names["cpu"]
        return resources


def write_manifest(path: str | os.PathLike, text: str, log: str | os.PathLike) -> None:
    """Write a job's manifest (:meth:`Plan.job_inputs_json`), all or nothing, and one line to
    ``log``."""
    with atomic_outputs() as staged:
        staged(Path(path)).write_text(text)
    Path(log).parent.mkdir(parents=True, exist_ok=True)
    Path(log).write_text(f"wrote {path}\n")


def plink_memory(mem_mb) -> int | str:
    """plink2 --memory (MiB): most of the job's memory, leaving room for plink2's own overhead
    (in a dry run before the input exists, the memory is still to be determined)."""
    if not isinstance(mem_mb, int):
        return mem_mb
    return max(640, int(mem_mb * 0.8))  # plink2 refuses less than 640


def config_error_line(error) -> str:
    """One line for a schema error (a jsonschema ValidationError): the config key, what is wrong,
    and the fix where the schema states it (``errorMessage`` of the failing schema or of one
    that holds it, such as a ``oneOf``)."""
    found = error
    while found is not None and "errorMessage" not in _schema_of(found):
        found = found.parent
    if found is not None:
        where, message = found.absolute_path, _schema_of(found)["errorMessage"]
    else:
        where, message = error.absolute_path, error.message
        if error.validator == "additionalProperties":
            message += "; every key is explained in config/README.md"
    key = ".".join(str(part) for part in where)
    return f"Invalid config: {key + ': ' if key else ''}{message}".replace("\n", " ")


def _schema_of(error) -> dict:
    return error.schema if isinstance(error.schema, dict) else {}
