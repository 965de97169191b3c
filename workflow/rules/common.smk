"""Config validation beyond the schema, and the helpers every rule file uses.

File formats are read with the package's own functions (neuradmix.data), so the config checks
count samples and populations exactly as the jobs will.
"""

import os
import re
import shlex
import shutil
from pathlib import Path

from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

from neuradmix.data import (
    known_populations,
    pfile_paths,
    plink_prefix,
    read_fam_ids,
    read_labels,
    read_psam_ids,
    require_fileset,
    require_pfileset,
)
from neuradmix.data.vcf import vcf_sample_ids
from neuradmix.errors import InputError
from neuradmix.steps import resources as jobsize

validate(config, schema="../schemas/config.schema.yaml")

SIM_SUFFIX = "_sim"
PARTITIONS = ["train", "val"]
COHORTS = config["cohorts"]
RUNS = config["neural"]["runs"]
BASELINE = config["baseline"]["tool"]
VAL_FRACTION = config["split"]["validation_fraction"]
SEED = config["seed"]


def config_error(message):
    raise WorkflowError(f"Invalid config: {message}")


INPUT_KEYS = ("vcf", "bed", "pgen")


def input_kind(entry):
    """Which of INPUT_KEYS a cohort gives its genotypes as."""
    return next(key for key in INPUT_KEYS if key in entry)


def _sample_ids(cohort, entry):
    """Sample IDs of a cohort's input; also checks that every input file exists."""
    given = [key for key in INPUT_KEYS if key in entry]
    if len(given) != 1:
        config_error(
            f"cohorts.{cohort}: give exactly one of 'vcf', 'bed' or 'pgen' "
            f"({', '.join(given) if given else 'none'} given)."
        )
    try:
        if "vcf" in entry:
            path = Path(entry["vcf"])
            if not path.is_file():
                config_error(
                    f"cohorts.{cohort}.vcf: file {path} not found (paths are relative to the "
                    "directory snakemake runs in)."
                )
            return vcf_sample_ids(path)
        if "pgen" in entry:
            require_pfileset(entry["pgen"])
            return read_psam_ids(entry["pgen"])
        require_fileset(entry["bed"])
        return read_fam_ids(entry["bed"])
    except InputError as error:
        config_error(f"cohorts.{cohort}.{given[0]}: {error}")


def _label_populations(cohort, entry, sample_ids):
    """Distinct known population labels of a cohort (empty without a label file), read as the
    jobs read them."""
    if "labels" not in entry:
        return set()
    path = Path(entry["labels"])
    if not path.is_file():
        config_error(f"cohorts.{cohort}.labels: file {path} not found.")
    try:
        return set(known_populations(read_labels(path, sample_ids)))
    except InputError as error:
        config_error(f"cohorts.{cohort}.labels: {error}")


def quoted(paths):
    """One path or a list of them, quoted for a shell line (paths may hold spaces)."""
    return shlex.join([paths] if isinstance(paths, str) else [str(p) for p in paths])


def run_ks(run):
    spec = RUNS[run]
    if spec["mode"] == "multihead":
        return list(range(spec["min_k"], spec["max_k"] + 1))
    return [spec["k"]]


def run_setting(run, key):
    return RUNS[run].get(key, config["neural"][key])


def pretrained_source(run):
    return RUNS[run].get("pretrained_from", BASELINE)


SAMPLE_COUNTS = {}
POPULATIONS = {}
for _cohort, _entry in COHORTS.items():
    _ids = _sample_ids(_cohort, _entry)
    SAMPLE_COUNTS[_cohort] = len(_ids)
    POPULATIONS[_cohort] = _label_populations(_cohort, _entry, _ids)
    for _target, _path in _entry.get("targets", {}).items():
        if _path.endswith((".vcf", ".vcf.gz")):
            if not Path(_path).is_file():
                config_error(
                    f"cohorts.{_cohort}.targets.{_target}: file {_path} not found."
                )
        else:
            try:
                require_fileset(_path)
            except InputError as error:
                config_error(
                    f"cohorts.{_cohort}.targets.{_target}: {error} Give a VCF (.vcf or "
                    ".vcf.gz) or a PLINK .bed with .bim/.fam beside it."
                )
    if _entry.get("simulate"):
        if not _entry.get("phased"):
            config_error(
                f"cohorts.{_cohort}: simulate: true needs phased founders; set phased: true "
                "(and give a phased VCF) or simulate: false."
            )
        if "vcf" not in _entry:
            config_error(
                f"cohorts.{_cohort}: simulate: true needs a phased 'vcf' input."
            )
        if "labels" not in _entry:
            config_error(
                f"cohorts.{_cohort}: simulate: true needs 'labels' (the founders' populations)."
            )
        if "genetic_map" in _entry and not Path(_entry["genetic_map"]).is_file():
            config_error(
                f"cohorts.{_cohort}.genetic_map: file {_entry['genetic_map']} not found."
            )
        if _cohort + SIM_SUFFIX in COHORTS:
            config_error(
                f"cohorts: '{_cohort}{SIM_SUFFIX}' is reserved for the simulated version of "
                f"'{_cohort}'; rename that cohort."
            )

for _run, _spec in RUNS.items():
    _mode = _spec["mode"]
    if _mode == "multihead":
        if "min_k" not in _spec or "max_k" not in _spec or "k" in _spec:
            config_error(
                f"neural.runs.{_run}: a multihead run takes min_k and max_k (not k)."
            )
        if _spec["min_k"] > _spec["max_k"]:
            config_error(f"neural.runs.{_run}: min_k ({_spec['min_k']}) exceeds max_k.")
    elif _mode == "supervised":
        if "min_k" in _spec or "max_k" in _spec:
            config_error(
                f"neural.runs.{_run}: a supervised run takes k, not min_k/max_k."
            )
        for _cohort, _pops in POPULATIONS.items():
            if not _pops:
                config_error(
                    f"neural.runs.{_run} is supervised but cohort '{_cohort}' has no labels; "
                    "add cohorts.{_cohort}.labels or remove the run."
                )
            if "k" not in _spec:
                _spec["k"] = len(_pops)
            elif _spec["k"] != len(_pops):
                config_error(
                    f"neural.runs.{_run}: supervised k={_spec['k']} but cohort '{_cohort}' has "
                    f"{len(_pops)} labelled populations; drop k (it is taken from the labels)."
                )
    else:
        if "k" not in _spec or "min_k" in _spec or "max_k" in _spec:
            config_error(
                f"neural.runs.{_run}: a {_mode} run takes k (not min_k/max_k)."
            )

_SOURCES = config["simulate"]["populations"]
for _cohort, _entry in COHORTS.items():
    if _entry.get("simulate") and _SOURCES:
        _unknown = sorted(set(_SOURCES) - POPULATIONS[_cohort])
        if _unknown:
            config_error(
                f"simulate.populations: {', '.join(_unknown)} not among the labels of cohort "
                f"'{_cohort}' ({', '.join(sorted(POPULATIONS[_cohort]))})."
            )
        for _run, _spec in RUNS.items():
            if _spec["mode"] == "supervised" and _spec["k"] != len(_SOURCES):
                config_error(
                    f"neural.runs.{_run} is supervised with k={_spec['k']}, but the simulated "
                    f"cohort '{_cohort}{SIM_SUFFIX}' descends from {len(_SOURCES)} populations "
                    "(simulate.populations); a run has one K for every cohort, so drop "
                    "simulate.populations or the supervised run."
                )

ALL_KS = sorted({k for run in RUNS for k in run_ks(run)})
CV_KS = (
    list(range(config["cv"]["min_k"], config["cv"]["max_k"] + 1))
    if config["cv"]["enabled"]
    else []
)
if config["cv"]["min_k"] > config["cv"]["max_k"]:
    config_error("cv.min_k exceeds cv.max_k.")

for _cohort, _n in SAMPLE_COUNTS.items():
    # The training partition is what the models see; K must stay below its size.
    _n_train = _n - max(1, round(VAL_FRACTION * _n))
    _largest = max(ALL_KS + CV_KS)
    if _largest >= _n_train:
        config_error(
            f"K={_largest} (neural.runs / cv.max_k) is out of range for cohort '{_cohort}': "
            f"it has {_n} samples, about {_n_train} for training; K must be smaller than that."
        )

BASELINE_TOOLS = sorted({BASELINE} | {pretrained_source(r) for r in RUNS})
REAL_COHORTS = list(COHORTS)
VCF_COHORTS = [c for c in COHORTS if input_kind(COHORTS[c]) == "vcf"]
PGEN_COHORTS = [c for c in COHORTS if input_kind(COHORTS[c]) == "pgen"]
SIM_COHORTS = [c + SIM_SUFFIX for c in COHORTS if COHORTS[c].get("simulate")]
ALL_COHORTS = REAL_COHORTS + SIM_COHORTS


def _alternatives(names):
    return "|".join(re.escape(name) for name in names) if names else "(?!)"


wildcard_constraints:
    cohort=_alternatives(ALL_COHORTS),
    real=_alternatives(REAL_COHORTS),
    run=_alternatives(RUNS),
    tool=_alternatives(BASELINE_TOOLS),
    partition="train|val",
    method="neural|baseline",
    model=_alternatives(list(RUNS) + BASELINE_TOOLS),
    cv_method="em|neural",
    target=r"[A-Za-z0-9][A-Za-z0-9-]*",
    k=r"\d+",


def cohort_entry(cohort):
    """Config entry of a cohort; a simulated cohort inherits its founders' entry."""
    if cohort in COHORTS:
        return COHORTS[cohort]
    return COHORTS[cohort[: -len(SIM_SUFFIX)]]


def target_path(cohort, target):
    return COHORTS[cohort]["targets"][target]


def target_is_vcf(cohort, target):
    return target_path(cohort, target).endswith((".vcf", ".vcf.gz"))


def target_source(wildcards):
    """Fileset of a target as given, or as converted from its VCF."""
    if target_is_vcf(wildcards.real, wildcards.target):
        return fileset(f"results/{wildcards.real}/targets/{wildcards.target}/raw")
    return fileset(str(plink_prefix(target_path(wildcards.real, wildcards.target))))


def target_outputs():
    """Timing sidecars of every target cohort's assignment under every neural run; each is
    written together with the run's {target}.{K}.Q files."""
    return [
        f"results/{cohort}/neural/{run}/targets/{target}.timing.tsv"
        for cohort, entry in COHORTS.items()
        for target in entry.get("targets", {})
        for run in RUNS
    ]


def has_labels(cohort):
    return "labels" in cohort_entry(cohort)


def is_simulated(cohort):
    return cohort in SIM_COHORTS


def fileset(prefix):
    """The three files of a PLINK fileset as a named input/output dict."""
    return {
        "bed": f"{prefix}.bed",
        "bim": f"{prefix}.bim",
        "fam": f"{prefix}.fam",
    }


def baseline_ks():
    """Every K the classic baseline must be fitted at: all neural K values."""
    return ALL_KS


def plink2_missing_message():
    return (
        "plink2 was not found on PATH. Install it (Debian/Ubuntu: `sudo apt-get install "
        "plink2`; conda: `conda install -c bioconda plink2`; or download it from "
        "https://www.cog-genomics.org/plink/2.0/), or run with `--sdm conda` to use "
        "envs/plink2.yaml."
    )


def check_plink2():
    from snakemake.settings.types import DeploymentMethod

    if DeploymentMethod.CONDA in workflow.deployment_settings.deployment_method:
        return
    if shutil.which("plink2") is None:
        raise WorkflowError(plink2_missing_message())


def partition_prefix(cohort, partition):
    """PLINK prefix of a partition; its .labels (and .truth.Q when simulated) sit beside it."""
    if is_simulated(cohort):
        return f"results/{cohort}/prepare/sim.{partition}"
    return f"results/{cohort}/prepare/{partition}"


def partition_files(partition):
    """Input function: the fileset of ``partition`` of the wildcard cohort."""

    def files(wildcards):
        return fileset(partition_prefix(wildcards.cohort, partition))

    return files


# ---------------------------------------------------------------------------------------------
# Resources: threads per rule from config["resources"]; memory and run time from there too, or,
# for the rules below, estimated from each job's input (neuradmix.steps.resources) and doubled
# on every retry; SLURM partitions from config["partitions"] (set by profiles/slurm); a GPU only
# for runs with a cuda device.
# ---------------------------------------------------------------------------------------------

RESOURCES = config["resources"]
PARTITION_NAMES = config["partitions"]


def rule_settings(name):
    """threads, mem_mb and runtime of a rule: its own entry over resources.default."""
    return {**RESOURCES["default"], **RESOURCES.get(name, {})}


def rule_threads(name):
    return rule_settings(name)["threads"]


def run_device(run):
    return str(run_setting(run, "device"))


def uses_gpu(run):
    """A run whose device is cuda (or cuda:N) needs a GPU; cpu, mps and auto do not ask for one."""
    return run_device(run).startswith("cuda")


def _fileset_size(input, prefix=""):
    return jobsize.fileset_size(input[f"{prefix}bed"], input[f"{prefix}fam"])


def _neural_job(wildcards, input):
    """Training (the network, then the classic engine with --polish) or inference (a forward
    pass and a few Newton steps, with the model file loaded) of a run."""
    inference = "model" in input.keys()
    polish = RUNS[wildcards.run].get("polish", False)
    return jobsize.Job(
        (_fileset_size(input),),
        tuple(run_ks(wildcards.run)),
        torch=True,
        extra_bytes=os.path.getsize(input.model) if inference else 0,
        passes=0.1 if inference else (2 if polish else 1),
    )


def _classic_job(wildcards, input):
    """A baseline fit at one K, or the projection onto its .P (Q only, F fixed); an external
    tool (admixture, fastmixture, ...) holds one byte per call."""
    return jobsize.Job(
        (_fileset_size(input),),
        (int(wildcards.k),),
        unpacked_copies=int(wildcards.tool != "em"),
        passes=0.5 if "p" in input.keys() else 1,
    )


def _cv_job(wildcards, input):
    """Cross-validation: one K at a time on a copy of the decoded calls, once per fold."""
    return jobsize.Job(
        (_fileset_size(input),),
        (max(CV_KS),),
        torch=wildcards.cv_method == "neural",
        unpacked_copies=2,
        passes=config["cv"]["folds"] * sum(k * k for k in CV_KS) / max(CV_KS) ** 2,
    )


def _evaluate_job(wildcards, input):
    """Both partitions decoded, with the Q and P of every K of the model."""
    return jobsize.Job(
        tuple(_fileset_size(input, f"{part}_") for part in PARTITIONS),
        tuple(model_ks(wildcards.method, wildcards.model)),
        unpacked_copies=1,
        passes=0.1,
    )


ESTIMATED_JOBS = {
    "train_neural": _neural_job,
    "infer": _neural_job,
    "infer_target": _neural_job,
    "baseline": _classic_job,
    "project": _classic_job,
    "cv": _cv_job,
    "evaluate": _evaluate_job,
}
PLINK2_RULES = {
    "vcf_to_bed",
    "pgen_to_bed",
    "qc",
    "snp_list",
    "downsample",
    "partition",
    "target_vcf_to_bed",
    "founders",
}


def estimated_memory(name):
    """Snakemake resource function: mem_mb of a job of rule ``name`` from its input."""
    if name in PLINK2_RULES:
        return lambda wildcards, input, attempt: jobsize.plink2_memory_mb(
            input.size, attempt
        )
    return lambda wildcards, input, attempt: ESTIMATED_JOBS[name](
        wildcards, input
    ).memory_mb(attempt)


def estimated_runtime(name):
    """Snakemake resource function: runtime (minutes) of a job of rule ``name`` from its input."""
    if name in PLINK2_RULES:
        return lambda wildcards, input, attempt: jobsize.plink2_runtime_min(
            input.size, attempt
        )
    return lambda wildcards, input, attempt: ESTIMATED_JOBS[name](
        wildcards, input
    ).runtime_min(attempt)


def rule_memory_and_runtime(name):
    """mem_mb and runtime of a rule: the config's values where its own entry sets them (or, for
    a rule not estimated, resources.default's); else estimated from each job's input."""
    if name not in ESTIMATED_JOBS and name not in PLINK2_RULES:
        settings = rule_settings(name)
        return {"mem_mb": settings["mem_mb"], "runtime": settings["runtime"]}
    own = RESOURCES.get(name, {})
    return {
        "mem_mb": jobsize.requested(own.get("mem_mb"), estimated_memory(name)),
        "runtime": jobsize.requested(own.get("runtime"), estimated_runtime(name)),
    }


def rule_resources(name, per_run=False):
    """The resources of a rule. ``per_run``: the rule has a {run} wildcard, and a run on cuda
    gets gpu=1 and the GPU partition while the others stay on the CPU partition."""
    resources = rule_memory_and_runtime(name)
    if per_run:
        resources["gpu"] = lambda wildcards: int(uses_gpu(wildcards.run))
        resources["slurm_partition"] = lambda wildcards: (
            PARTITION_NAMES["gpu"]
            if uses_gpu(wildcards.run)
            else PARTITION_NAMES["cpu"]
        )
    elif PARTITION_NAMES["cpu"] is not None:
        resources["slurm_partition"] = PARTITION_NAMES["cpu"]
    return resources


def plink_memory(wildcards, resources):
    """plink2 --memory (MiB): most of the job's memory, leaving room for plink2's own overhead
    (in a dry run before the input exists, the memory is still to be determined)."""
    if not isinstance(resources.mem_mb, int):
        return resources.mem_mb
    return max(640, int(resources.mem_mb * 0.8))  # plink2 refuses less than 640


for _run in RUNS:
    if (
        uses_gpu(_run)
        and PARTITION_NAMES["gpu"] is None
        and PARTITION_NAMES["cpu"] is not None
    ):
        config_error(
            f"neural.runs.{_run} runs on {run_device(_run)} but partitions.gpu is not set; set it "
            "(profiles/slurm/config.yaml, under config:) so its jobs reach a GPU partition."
        )


# ---------------------------------------------------------------------------------------------
# Input functions of prepare.smk
# ---------------------------------------------------------------------------------------------

DS = config["downsample"]
QC = config["qc"]
SIM = config["simulate"]


# How plink2 imports a VCF or a PLINK 2 fileset: biallelic ACGT SNPs only, every SNP named
# chr:pos:ref:alt, and SNPs whose name is then duplicated dropped, so that every later --extract
# selects exactly the SNPs it lists. The .bed it writes counts the ALT allele (column 5).
PLINK2_IMPORT = (
    "--max-alleles 2 --snps-only just-acgt --allow-extra-chr --set-all-var-ids '@:#:$r:$a'"
    " --new-id-max-allele-len 1000 --rm-dup exclude-all"
)


def input_prefix(cohort):
    """PLINK prefix of a real cohort's genotypes as given (bed), or as plink2 converted them
    (vcf, pgen)."""
    entry = COHORTS[cohort]
    if "bed" in entry:
        return str(plink_prefix(entry["bed"]))
    return f"results/{cohort}/prepare/raw"


def qc_input(wildcards):
    return fileset(input_prefix(wildcards.real))


def pgen_input(wildcards):
    """The .pgen, .pvar and .psam of a pgen cohort."""
    paths = pfile_paths(COHORTS[wildcards.real]["pgen"])
    return dict(zip(("pgen", "pvar", "psam"), map(str, paths)))


def split_labels(wildcards):
    entry = COHORTS[wildcards.real]
    return {"labels": entry["labels"]} if "labels" in entry else {}


def downsampled(wildcards):
    name = "qc" if DS["method"] == "none" else "ds"
    return fileset(f"results/{wildcards.real}/prepare/{name}")


SNP_LIST = "ds.prune.in" if DS["method"] == "ld_prune" else "ds.snps"


# ---------------------------------------------------------------------------------------------
# Input functions of neural.smk: one rule each for training, inference and target assignment,
# with the run as a wildcard. A run's .Q/.P files (one per K) are written together with its
# timing sidecar, which is the rule's output; consumers take the sidecar as input and find the
# files of each K beside it.
# ---------------------------------------------------------------------------------------------


def run_dir(cohort, run):
    return f"results/{cohort}/neural/{run}"


def train_inputs(wildcards):
    prefix = partition_prefix(wildcards.cohort, "train")
    files = fileset(prefix)
    spec = RUNS[wildcards.run]
    if spec["mode"] == "supervised":
        files["labels"] = f"{prefix}.labels"
    elif spec["mode"] == "pretrained":
        tool = pretrained_source(wildcards.run)
        files["init_p"] = (
            f"results/{wildcards.cohort}/baseline/{tool}/train.{spec['k']}.P"
        )
    return files


def train_options(wildcards, input):
    ks = run_ks(wildcards.run)
    if RUNS[wildcards.run]["mode"] == "multihead":
        options = f"--min-k {ks[0]} --max-k {ks[-1]}"
    else:
        options = f"--k {ks[0]}"
    if "labels" in input.keys():
        options += f" --labels {shlex.quote(input.labels)}"
    if "init_p" in input.keys():
        options += f" --init-p {shlex.quote(input.init_p)}"
    if RUNS[wildcards.run].get("polish", False):
        options += " --polish"
    return options


# ---------------------------------------------------------------------------------------------
# Input functions of evaluate.smk
# ---------------------------------------------------------------------------------------------


def evaluated_models():
    """(method, model, K values) of every model the metrics table covers."""
    models = [("neural", run, run_ks(run)) for run in RUNS]
    models.append(("baseline", BASELINE, baseline_ks()))
    return models


def model_ks(method, model):
    return run_ks(model) if method == "neural" else baseline_ks()


def model_files(cohort, method, model):
    """What a model's evaluation, plots and pong files wait for: the sidecars of a neural run's
    training and inference (its .Q/.P files sit beside them), or a baseline's .Q/.P per K.
    """
    base = f"results/{cohort}/{method}/{model}"
    if method == "neural":
        return [f"{base}/train.timing.tsv", f"{base}/val.timing.tsv"]
    return [f"{base}/{part}.{k}.Q" for part in PARTITIONS for k in baseline_ks()] + [
        f"{base}/train.{k}.P" for k in baseline_ks()
    ]


def model_timings(cohort, method, model):
    base = f"results/{cohort}/{method}/{model}"
    if method == "neural":
        return [f"{base}/train.timing.tsv", f"{base}/val.timing.tsv"]
    return [
        f"{base}/{part}.{k}.timing.tsv" for part in PARTITIONS for k in baseline_ks()
    ]


def evaluate_inputs(wildcards):
    """A model's result files and both partitions' data, labels and truth."""
    cohort = wildcards.cohort
    if wildcards.method == "neural" and wildcards.model not in RUNS:
        raise WorkflowError(f"{wildcards.model} is not a neural run of the config.")
    if wildcards.method == "baseline" and wildcards.model != BASELINE:
        raise WorkflowError(f"{wildcards.model} is not the configured baseline tool.")
    files = {"model": model_files(cohort, wildcards.method, wildcards.model)}
    for part in PARTITIONS:
        prefix = partition_prefix(cohort, part)
        files.update({f"{part}_{ext}": path for ext, path in fileset(prefix).items()})
        if has_labels(cohort):
            files[f"{part}_labels"] = f"{prefix}.labels"
        if is_simulated(cohort):
            files[f"{part}_truth"] = f"{prefix}.truth.Q"
    return files


def evaluate_options(wildcards, input):
    options = []
    for part in PARTITIONS:
        keys = {"--data": f"{part}_bed", "--labels": f"{part}_labels"}
        keys["--truth-q"] = f"{part}_truth"
        for option, key in keys.items():
            if key in input.keys():
                path = input[key]
                options.append(f"{option} {shlex.quote(f'{part}={path}')}")
    return " ".join(options)


def metrics_inputs(wildcards):
    cohort = wildcards.cohort
    inputs = {
        "evaluations": [
            f"results/{cohort}/evaluate/{method}/{model}.tsv"
            for method, model, _ in evaluated_models()
        ],
        "timings": [
            path
            for method, model, _ in evaluated_models()
            for path in model_timings(cohort, method, model)
        ],
    }
    if CV_KS:
        inputs["cv"] = [
            f"results/{cohort}/cv/{method}.cv.tsv" for method in config["cv"]["methods"]
        ]
    return inputs


# ---------------------------------------------------------------------------------------------
# align: every .Q of a partition (all models and K, and the simulated truth) aligned to one
# labelling; pong: one filemap (and ind2pop) per cohort and partition, over the aligned files
# ---------------------------------------------------------------------------------------------


def aligned_dir(cohort, partition):
    return f"results/{cohort}/aligned/{partition}"


def align_inputs(wildcards):
    cohort, part = wildcards.cohort, wildcards.partition
    prefix = partition_prefix(cohort, part)
    files = {
        "fam": f"{prefix}.fam",
        "models": [
            path
            for method, model, _ in evaluated_models()
            for path in model_files(cohort, method, model)
        ],
    }
    if is_simulated(cohort):
        files["truth"] = f"{prefix}.truth.Q"
    return files


def align_reference():
    """The run whose clusters name the labels: the main run of the figures (the first model, in
    the plots rule's order, with a result at MAIN_K of report_common.smk)."""
    return next(
        f"{method}_{model}" for method, model, ks in evaluated_models() if MAIN_K in ks
    )


def align_options(wildcards, input):
    """--q RUN=FILE for every model and K of the partition, then the simulated truth."""
    cohort, part = wildcards.cohort, wildcards.partition
    options = [
        f"--q {method}_{model}=results/{cohort}/{method}/{model}/{part}.{k}.Q"
        for method, model, ks in evaluated_models()
        for k in ks
    ]
    if "truth" in input.keys():
        options.append(f"--q {shlex.quote(f'truth={input.truth}')}")
    options.append(f"--reference {align_reference()}")
    return " ".join(options)


def pong_inputs(wildcards):
    cohort, part = wildcards.cohort, wildcards.partition
    prefix = partition_prefix(cohort, part)
    return {
        "fam": f"{prefix}.fam",
        "labels": f"{prefix}.labels",
        "aligned": f"{aligned_dir(cohort, part)}/permutations.tsv",
    }


def pong_options(wildcards, input):
    """--q RUN_ID=FILE for every aligned model and K of the partition (and the simulated
    truth, first)."""
    aligned = aligned_dir(wildcards.cohort, wildcards.partition)
    options = [
        f"--q {method}_{model}_K{k}={aligned}/{method}_{model}.{k}.Q"
        for method, model, ks in evaluated_models()
        for k in ks
    ]
    if is_simulated(wildcards.cohort):
        options.insert(0, f"--q truth={aligned}/truth.{truth_k(wildcards.cohort)}.Q")
    return " ".join(options)


def truth_k(cohort):
    """K of a simulated cohort's truth .Q: its source populations (simulate.populations, else
    every labelled population of the founders)."""
    return len(_SOURCES or POPULATIONS[cohort[: -len(SIM_SUFFIX)]])
