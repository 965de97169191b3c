"""The workflow through a real scheduler: a one-node SLURM cluster (Debian slurm-wlm and munge,
started here in a temporary folder) runs the tiny cohort through profiles/slurm to the report.

The cluster is what the issue describes: two partitions (cpu, gpu), one GRES GPU on the gpu
partition and no accounting (no slurmdbd), so the status of jobs comes from squeue. The machine
has no GPU: slurmd is given /dev/null as the GPU's device file, and the jobs of the cuda run,
which Slurm gives that GPU, compute on the CPU (see ``_shims``).

Root is needed to run slurmd; ``make test`` installs slurm-wlm and munge (``make slurm``) where
it runs as root on Debian/Ubuntu. Without root the test is skipped; as root, a missing SLURM
fails it rather than skipping it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
import yaml
from test_workflow import write_tiny_cohort

from neuradmix.data import read_q

ROOT = Path(__file__).resolve().parents[2]
SNAKEFILE = ROOT / "Snakefile"
PROFILE = ROOT / "profiles" / "slurm" / "config.yaml"
BIN = Path(sys.executable).parent
DAEMONS = ("munged", "slurmctld", "slurmd")
CLIENTS = ("sbatch", "srun", "squeue", "sinfo", "scontrol")


def _missing() -> list[str]:
    missing = [tool for tool in DAEMONS + CLIENTS if shutil.which(tool) is None]
    try:
        import snakemake_executor_plugin_slurm  # noqa: F401
    except ImportError:
        missing.append("snakemake-executor-plugin-slurm (pip install -e '.[dev]')")
    if shutil.which("snakemake", path=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}") is None:
        missing.append("snakemake (pip install -e '.[dev]')")
    if shutil.which("plink2") is None:
        missing.append("plink2 (make plink2)")
    return missing


pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        os.geteuid() != 0,
        reason="starts a one-node SLURM cluster, and slurmd runs as root only"
        + ("" if not _missing() else f" (also missing: {', '.join(_missing())})"),
    ),
]


# ---------------------------------------------------------------------------------------------
# The cluster
# ---------------------------------------------------------------------------------------------


@dataclass
class Cluster:
    directory: Path
    conf: Path
    ctld_log: Path

    def env(self, **extra) -> dict[str, str]:
        return dict(os.environ, SLURM_CONF=str(self.conf), **extra)

    def run(self, *command: str) -> str:
        result = subprocess.run(command, capture_output=True, text=True, env=self.env(), timeout=30)
        assert result.returncode == 0, f"{command}: {result.stdout}{result.stderr}"
        return result.stdout

    def job(self, jobid: str) -> dict[str, str]:
        """``scontrol show job`` as a dict (Slurm keeps a finished job for MinJobAge)."""
        fields = {}
        for token in self.run("scontrol", "show", "job", "-o", jobid).split():
            key, _, value = token.partition("=")
            fields[key] = value
        return fields


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _real_memory() -> int:
    """The machine's memory (MB) as slurmd sees it (``slurmd -C``)."""
    found = re.search(r"RealMemory=(\d+)", subprocess.check_output(["slurmd", "-C"], text=True))
    return int(found.group(1))


def _alive(pidfile: Path) -> bool:
    try:
        os.kill(int(pidfile.read_text().split()[0]), 0)
    except (OSError, ValueError, IndexError):
        return False
    return True


def _slurm_conf(directory: Path) -> str:
    memory = _real_memory()
    node = f"NodeName=localhost NodeAddr=127.0.0.1 CPUs=2 RealMemory={memory} Gres=gpu:1"
    return textwrap.dedent(f"""\
        # A one-node cluster for tests/workflow/test_slurm.py: two partitions, one GPU on gpu,
        # no accounting (no slurmdbd: sacct has nothing to report, squeue does the status).
        ClusterName=neuradmixtest
        SlurmctldHost=localhost(127.0.0.1)
        SlurmctldPort={_free_port()}
        SlurmdPort={_free_port()}
        SlurmUser=root
        SlurmdUser=root
        AuthType=auth/munge
        CredType=cred/munge
        AuthInfo=socket={directory}/munge/munge.socket
        StateSaveLocation={directory}/state
        SlurmdSpoolDir={directory}/spool
        SlurmctldPidFile={directory}/slurmctld.pid
        SlurmdPidFile={directory}/slurmd.pid
        SlurmctldLogFile={directory}/log/slurmctld.log
        SlurmdLogFile={directory}/log/slurmd.log
        ProctrackType=proctrack/linuxproc
        TaskPlugin=task/none
        SelectType=select/cons_tres
        SelectTypeParameters=CR_Core_Memory
        SchedulerType=sched/builtin
        MpiDefault=none
        ReturnToService=2
        # the node as configured here, whatever the machine reports
        SlurmdParameters=config_overrides
        # finished jobs stay visible to squeue/scontrol this long (the plugin needs at least
        # 3 x slurm-init-seconds-before-status-checks to trust squeue)
        MinJobAge=3600
        GresTypes=gpu
        AccountingStorageType=accounting_storage/none
        MailProg=/bin/true
        JobAcctGatherType=jobacct_gather/none
        JobCompType=jobcomp/none
        {node}
        PartitionName=cpu Nodes=localhost Default=YES MaxTime=INFINITE State=UP
        PartitionName=gpu Nodes=localhost MaxTime=INFINITE State=UP
        """)  # fmt: skip


def _stop(pidfile: Path) -> None:
    """End the daemon whose pid ``pidfile`` holds (only ours: the pid files are in our folder)."""
    try:
        pid = int(pidfile.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return
    for sig, wait in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.2)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    missing = _missing()
    if missing:
        pytest.fail(
            f"running as root, but missing: {', '.join(missing)}. 'make test' installs slurm-wlm, "
            "munge and plink2 with apt-get (make slurm plink2) and the plugin with the dev extra."
        )
    directory = tmp_path_factory.mktemp("slurm")
    for sub in ("munge", "state", "spool", "log"):
        (directory / sub).mkdir(mode=0o700)
    key = directory / "munge" / "munge.key"
    key.write_bytes(os.urandom(1024))
    key.chmod(0o400)
    conf = directory / "slurm.conf"
    conf.write_text(_slurm_conf(directory))
    # A GPU that is not there: slurmd drops a GPU without a device file, so /dev/null stands in.
    (directory / "gres.conf").write_text("NodeName=localhost Name=gpu File=/dev/null\n")
    cluster = Cluster(directory, conf, directory / "log" / "slurmctld.log")
    env = cluster.env()
    munge = directory / "munge"
    started = []
    try:
        for name, command in (
            (
                "munged.pid",
                ["munged", "--force", f"--key-file={key}", f"--socket={munge}/munge.socket",
                 f"--pid-file={munge}/munged.pid", f"--log-file={munge}/munged.log",
                 f"--seed-file={munge}/munged.seed"],
            ),
            ("slurmctld.pid", ["slurmctld", "-c", "-f", str(conf)]),
            ("slurmd.pid", ["slurmd", "-f", str(conf), "-N", "localhost"]),
        ):  # fmt: skip
            pidfile = munge / name if name == "munged.pid" else directory / name
            started.append(pidfile)
            subprocess.run(command, check=True, env=env, capture_output=True, timeout=30)
            deadline = time.monotonic() + 20
            while not pidfile.exists() and time.monotonic() < deadline:
                time.sleep(0.1)
        deadline = time.monotonic() + 60
        state = ""
        while time.monotonic() < deadline:
            result = subprocess.run(
                ["sinfo", "-h", "-N", "-o", "%t"], capture_output=True, text=True, env=env
            )
            state = result.stdout.strip()
            if result.returncode == 0 and state.startswith("idle"):
                break
            if not all(_alive(pidfile) for pidfile in started):
                break
            time.sleep(0.5)
        if not state.startswith("idle"):
            logs = "".join(p.read_text()[-2000:] for p in (directory / "log").glob("*.log"))
            pytest.fail(f"the SLURM node did not come up (state {state!r}):\n{logs}")
        yield cluster
    finally:
        # Jobs left by a failed or timed-out run first, then the daemons, each by its pid file.
        if _alive(directory / "slurmctld.pid"):
            subprocess.run(
                ["scancel", "--full", "--user", str(os.getuid())],
                env=env, capture_output=True, timeout=30,
            )  # fmt: skip
        for pidfile in reversed(started):
            _stop(pidfile)


# ---------------------------------------------------------------------------------------------
# The run
# ---------------------------------------------------------------------------------------------


def _filled_profile(directory: Path) -> Path:
    """profiles/slurm with its placeholders set for this cluster, and what a cluster without
    accounting needs (as the profile's comments say); conda is left out (the test machine has
    the tools on PATH, and no network)."""
    profile = yaml.safe_load(PROFILE.read_text())
    placeholders = {
        ("default-resources", "slurm_account"): "neuradmixtest",  # not checked without slurmdbd
        ("config", "partitions", "cpu"): "cpu",
        ("config", "partitions", "gpu"): "gpu",
    }
    for path, value in placeholders.items():
        parent = profile
        for key in path[:-1]:
            parent = parent[key]
        assert str(parent[path[-1]]).startswith("YOUR_"), f"{path} is no longer a placeholder"
        parent[path[-1]] = value
    assert profile["executor"] == "slurm"
    profile.pop("software-deployment-method")
    profile.update(
        {
            "slurm-status-command": "squeue",  # no slurmdbd
            "slurm-init-seconds-before-status-checks": 2,  # seconds-long jobs
            "slurm-keep-successful-logs": True,  # the evidence below
        }
    )
    directory.mkdir(parents=True)
    (directory / "config.yaml").write_text(yaml.safe_dump(profile, sort_keys=False))
    return directory


def _shims(directory: Path, cluster: Cluster) -> Path:
    """Two commands ahead of the real ones on the jobs' PATH.

    ``srun``: snakemake-executor-plugin-slurm-jobstep (0.6.1) removes every SLURM_* variable,
    SLURM_CONF included, before it runs the job with srun; this cluster's slurm.conf is not at
    the default path, so srun gets it back here.

    ``python`` (what the rules run: ``python -m neuradmix ...``): records the SLURM job, its
    partition and its GPUs for each command, and, in a job step that Slurm gave a GPU to, turns
    ``--device cuda`` into ``--device cpu`` (this machine has no CUDA, and neuradmix refuses
    cuda there). A cuda command in a step without a GPU is passed on as it is, and fails.
    """
    directory.mkdir(parents=True)
    record = directory / "commands.jsonl"
    srun = directory / "srun"
    srun.write_text(f'#!/bin/sh\nSLURM_CONF="{cluster.conf}" exec {shutil.which("srun")} "$@"\n')
    python = directory / "python"
    python.write_text(
        textwrap.dedent(f"""\
            #!{sys.executable}
            import json, os, sys
            args = sys.argv[1:]
            names = ("SLURM_JOB_ID", "SLURM_JOB_PARTITION", "SLURM_STEP_GPUS",
                     "CUDA_VISIBLE_DEVICES")
            entry = {{name: os.environ.get(name) for name in names}}
            entry["argv"] = list(args)
            if "--device" in args and os.environ.get("SLURM_STEP_GPUS"):
                at = args.index("--device") + 1
                if args[at].startswith("cuda"):
                    args[at] = "cpu"
            with open({str(record)!r}, "a") as handle:
                handle.write(json.dumps(entry) + "\\n")
            os.execv(sys.executable, [sys.executable, *args])
            """)
    )  # fmt: skip
    for shim in (srun, python):
        shim.chmod(0o755)
    return directory


def _snakemake_polling_every_2s(path: Path) -> Path:
    """snakemake, with the SLURM plugin asking squeue every 2 s. The plugin waits 10 s longer
    after each check that finds no finished job (up to 3 min), which suits hour-long jobs; these
    take seconds, and the longer waits would triple the test's time. Nothing else changes."""
    path.write_text(
        textwrap.dedent("""\
            import sys

            from snakemake_executor_plugin_slurm import Executor

            Executor.next_seconds_between_status_checks = property(
                lambda self: 2, lambda self, value: None
            )

            from snakemake.cli import main

            sys.exit(main())
            """)
    )  # fmt: skip
    return path


def _config(data: Path) -> dict:
    """The tiny cohort, with as few jobs as the report needs: one neural run, on cuda."""
    return {
        "cohorts": {"tiny": {"bed": str(data / "tiny.bed"), "labels": str(data / "tiny.pops.tsv")}},
        "downsample": {"method": "none"},
        "neural": {
            "epochs": 5,
            "runs": {"gpu": {"mode": "unsupervised", "k": 3, "device": "cuda"}},
        },
        "baseline": {"tool": "em"},
        "cv": {"enabled": False},
    }  # fmt: skip


@dataclass
class Run:
    workdir: Path
    output: str
    commands: list[dict]
    submitted: dict[str, list[str]]  # rule -> SLURM job ids
    seconds: float


@pytest.fixture(scope="module")
def slurm_run(cluster, tmp_path_factory):
    base = tmp_path_factory.mktemp("slurm_run")
    write_tiny_cohort(base / "data")
    workdir = base / "work"
    workdir.mkdir()
    config = workdir / "config.yaml"
    config.write_text(yaml.safe_dump(_config(base / "data"), sort_keys=False))
    profile = _filled_profile(base / "profile")
    shims = _shims(base / "shims", cluster)
    env = cluster.env(PATH=os.pathsep.join([str(shims), str(BIN), os.environ.get("PATH", "")]))
    command = [
        str(BIN / "python"), str(_snakemake_polling_every_2s(base / "polling_snakemake.py")),
        "-s", str(SNAKEFILE), "-d", str(workdir),
        "--profile", str(profile), "--configfile", str(config),
        "--max-threads", "1",  # two jobs side by side on the two CPUs
    ]  # fmt: skip
    start = time.monotonic()
    result = subprocess.run(
        command, capture_output=True, text=True, env=env, timeout=600, cwd=workdir
    )
    seconds = time.monotonic() - start
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    submitted: dict[str, list[str]] = {}
    for jobid, rule in re.findall(
        r"has been submitted with SLURM jobid (\d+) \(log: \S*/rule_(\w+?)/", output
    ):
        submitted.setdefault(jobid, []).append(rule)
    by_rule: dict[str, list[str]] = {}
    for jobid, rules in submitted.items():
        by_rule.setdefault(rules[0], []).append(jobid)
    commands = [json.loads(line) for line in (shims / "commands.jsonl").read_text().splitlines()]
    return Run(workdir, output, commands, by_rule, seconds)


def test_every_job_goes_through_sbatch_to_the_report(cluster, slurm_run):
    results = slurm_run.workdir / "results" / "tiny"
    assert (results / "report.html").is_file()
    n_train = len((results / "prepare" / "train.fam").read_text().splitlines())
    assert read_q(results / "neural" / "gpu" / "train.3.Q", n_train).shape == (n_train, 3)
    metrics = pd.read_csv(results / "metrics.tsv", sep="\t")
    assert {"neural", "baseline"} <= set(metrics["method"])

    # Every rule but `all` was submitted: the job ids come from sbatch (snakemake's log), and
    # slurmctld accepted each of them.
    rules = set(slurm_run.submitted)
    assert {"qc", "split", "partition", "train_neural", "infer", "baseline", "evaluate",
            "report"} <= rules, rules  # fmt: skip
    jobids = [jobid for ids in slurm_run.submitted.values() for jobid in ids]
    assert len(jobids) == len(set(jobids))
    log = cluster.ctld_log.read_text()
    for jobid in jobids:
        assert re.search(rf"_slurm_rpc_submit_batch_job: JobId={jobid}\b", log), jobid
        assert cluster.job(jobid)["JobState"] == "COMPLETED", cluster.job(jobid)
    # Each command of a rule ran inside one of those jobs (not on the submitting machine).
    assert slurm_run.commands
    assert {c["SLURM_JOB_ID"] for c in slurm_run.commands} <= set(jobids)
    # The slurm logs are there (kept with --slurm-keep-successful-logs), one per job.
    logs = list((slurm_run.workdir / ".snakemake" / "slurm_logs").rglob("*.log"))
    assert sorted(p.stem for p in logs) == sorted(jobids)


def test_cuda_jobs_land_on_the_gpu_partition_with_one_gpu(cluster, slurm_run):
    gpu_rules = {"train_neural", "infer"}
    for rule, jobids in slurm_run.submitted.items():
        for jobid in jobids:
            job = cluster.job(jobid)
            if rule in gpu_rules:
                assert job["Partition"] == "gpu", (rule, job)
                assert job.get("TresPerJob") == "gres:gpu:1", (rule, job)  # sbatch --gpus=1
            else:
                assert job["Partition"] == "cpu", (rule, job)
                assert "gpu" not in job.get("TresPerJob", "(null)"), (rule, job)
    # Inside the job step, Slurm handed the GPU to the neural commands (and only to them).
    by_command = {}
    for entry in slurm_run.commands:
        by_command.setdefault(entry["argv"][2], []).append(entry)
    for subcommand in ("train", "infer"):
        (entry,) = by_command[subcommand]
        assert entry["SLURM_JOB_PARTITION"] == "gpu"
        assert entry["SLURM_STEP_GPUS"] and entry["CUDA_VISIBLE_DEVICES"]
        assert entry["argv"][entry["argv"].index("--device") + 1] == "cuda"
    for entry in by_command["baseline"] + by_command["evaluate-model"]:
        assert entry["SLURM_JOB_PARTITION"] == "cpu" and not entry["SLURM_STEP_GPUS"]


def test_jobs_ask_for_the_memory_their_input_needs(cluster, slurm_run):
    """sbatch got each heavy job's estimated memory (the 32 GB that was refused is gone) and
    the single CPU of --max-threads 1."""
    for rule in ("train_neural", "baseline"):
        (jobid,) = slurm_run.submitted[rule]
        job = cluster.job(jobid)
        memory = int(re.match(r"(\d+)M", job["MinMemoryNode"]).group(1))
        assert 100 < memory < 4_000, job
        assert job["NumCPUs"] == "1", job
