"""Memory and run time a workflow job asks for, from the size of its input."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest

import neuradmix.steps.resources as jobsize
from neuradmix.data import make_genotypes, write_bed
from neuradmix.steps.resources import Fileset, Job, fileset_size, requested


def fileset(n_samples: int, n_snps: int) -> Fileset:
    return Fileset(n_samples, n_snps)


def test_the_module_imports_nothing_heavy():
    """The Snakefile imports it at parse time: standard library only."""
    tree = ast.parse(Path(jobsize.__file__).read_text())
    modules = {
        alias.name.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    } | {node.module.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert modules <= {"__future__", "math", "os", "collections", "dataclasses"}


def test_fileset_size_reads_n_from_the_fam_and_m_from_the_bed(tmp_path):
    calls = np.random.default_rng(0).integers(0, 3, size=(37, 101), dtype=np.uint8)
    write_bed(tmp_path / "c", make_genotypes(calls))
    size = fileset_size(tmp_path / "c.bed", tmp_path / "c.fam")
    assert (size.n_samples, size.n_snps) == (37, 101)
    assert size.packed_bytes == (tmp_path / "c.bed").stat().st_size - 3


def test_fileset_size_of_a_missing_file_names_it(tmp_path):
    with pytest.raises(FileNotFoundError) as error:
        fileset_size(tmp_path / "x.bed", tmp_path / "x.fam")
    assert str(error.value.filename) == str(tmp_path / "x.bed")


def test_count_lines_counts_a_last_line_without_newline(tmp_path):
    path = tmp_path / "f"
    path.write_bytes(b"a\nb\nc")
    assert jobsize.count_lines(path) == 3
    path.write_bytes(b"a\nb\n")
    assert jobsize.count_lines(path) == 2
    path.write_bytes(b"")
    assert jobsize.count_lines(path) == 0


@pytest.mark.parametrize("torch", [False, True])
def test_memory_grows_with_the_cohort_and_k(torch):
    sizes = [(240, 5_000), (1_000, 50_000), (10_000, 200_000), (100_000, 500_000)]
    memory = [Job((fileset(n, m),), (3,), torch=torch).memory_mb() for n, m in sizes]
    assert memory == sorted(memory) and len(set(memory)) == len(memory)
    small, big = fileset(1_000, 50_000), fileset(10_000, 200_000)
    assert Job((big,), (3,)).memory_mb() < Job((big,), (2, 3, 4, 5)).memory_mb()
    assert Job((small,), (3,)).memory_mb() < Job((small,), (3,), unpacked_copies=1).memory_mb()


def test_tiny_cohorts_ask_for_the_floor_and_no_more_than_a_laptop_has():
    """The cohort sbatch refused at 32 GB (240 x 5,000) asks for the interpreter and a little."""
    tiny = Job((fileset(240, 5_000),), (2, 3, 4, 5), torch=True)
    assert jobsize.HEADROOM * jobsize.FLOOR_MB["torch"] <= tiny.memory_mb() < 2_000
    classic = Job((fileset(240, 5_000),), (3,))
    assert jobsize.HEADROOM * jobsize.FLOOR_MB["numpy"] <= classic.memory_mb() < 1_000
    assert tiny.runtime_min() == classic.runtime_min() == jobsize.RUNTIME_FLOOR_MIN


def test_a_biobank_asks_for_more_than_its_packed_genotypes():
    n, m = 500_000, 600_000
    job = Job((fileset(n, m),), (8,), torch=True)
    assert job.memory_mb() * jobsize.MB > n * m / 4
    assert job.runtime_min() > 60 * 24  # a day or more on the measured rate


def test_run_time_is_proportional_to_calls_and_k_squared_above_the_floor():
    big = fileset(100_000, 500_000)
    one = Job((big,), (4,)).runtime_min()
    assert Job((big,), (8,)).runtime_min() == pytest.approx(4 * one, rel=0.01)
    assert Job((fileset(200_000, 500_000),), (4,)).runtime_min() == pytest.approx(2 * one, rel=0.01)
    assert Job((big,), (4,), passes=3).runtime_min() == pytest.approx(3 * one, rel=0.01)
    assert one > jobsize.RUNTIME_FLOOR_MIN


@pytest.mark.parametrize("attempt", [1, 2, 3])
def test_every_retry_doubles_memory_and_run_time(attempt):
    job = Job((fileset(2_000, 100_000),), (4,), torch=True)
    assert job.memory_mb(attempt) == job.memory_mb() * 2 ** (attempt - 1)
    assert job.runtime_min(attempt) == job.runtime_min() * 2 ** (attempt - 1)
    assert jobsize.plink2_memory_mb(10, attempt) == 1000 * 2 ** (attempt - 1)


def test_plink2_asks_for_twice_its_input_within_bounds():
    low, high = jobsize.PLINK2_MEMORY_MB
    assert jobsize.plink2_memory_mb(0) == low
    assert jobsize.plink2_memory_mb(1_500 * jobsize.MB) == 3_000
    assert jobsize.plink2_memory_mb(100 * 2**30) == high
    assert jobsize.plink2_runtime_min(10) == jobsize.RUNTIME_FLOOR_MIN
    assert jobsize.plink2_runtime_min(100 * 2**30) > jobsize.RUNTIME_FLOOR_MIN


def test_a_value_the_config_sets_wins_over_the_estimate():
    def estimate(wildcards, input, attempt):
        return 1

    assert requested(64_000, estimate) == 64_000
    assert requested(None, estimate) is estimate


def test_the_measurements_lie_under_the_requests():
    """Every measured peak (MB) and wall time (s) is below what the job would have asked for."""
    assert jobsize.MEASURED
    for command, n, m, k, peak_mb, wall_s in jobsize.MEASURED:
        job = Job((fileset(n, m),), (k,), torch=command == "train")
        assert peak_mb < job.memory_mb(), command
        assert wall_s < 60 * job.runtime_min(), command
