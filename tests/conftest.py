"""Fixtures shared across the test layers (data, stats, classic, neural, simulation, steps,
report, workflow)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment

from neuradmix.data import write_bed, write_labels
from neuradmix.runtime import set_threads
from neuradmix.simulation.psd import simulate_psd

# Every command starts with set_threads (numpy's BLAS on one thread, see its docstring); tests that
# call the library directly run as the commands do, whichever test ran first. A product's
# rounding depends on how many BLAS threads split it, and on a likelihood ridge that moves the
# iterates.
set_threads(None)


def _aligned(estimate: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Columns of ``estimate`` reordered to best match ``reference`` (label switching)."""
    rows, cols = linear_sum_assignment(-(estimate.T @ reference))
    order = np.empty(reference.shape[1], dtype=int)
    order[cols] = rows
    return estimate[:, order]


@pytest.fixture(scope="session")
def aligned():
    """``aligned(estimate, reference)``: estimate's columns in the order matching reference."""
    return _aligned


@pytest.fixture(scope="session")
def psd_fileset(tmp_path_factory):
    """``psd_fileset(name, n, m, k, **options)``: a planted PSD cohort written as a PLINK fileset
    (with its labels beside it); returns ``(prefix, cohort)``."""

    def make(name: str, n_samples: int, n_snps: int, k: int, **options):
        cohort = simulate_psd(n_samples, n_snps, k, **options)
        prefix = tmp_path_factory.mktemp(name) / name
        write_bed(prefix, cohort.genotypes)
        write_labels(f"{prefix}.labels", cohort.genotypes.sample_ids, cohort.labels)
        return prefix, cohort

    return make


@pytest.fixture()
def stop_at_save(monkeypatch):
    """``stop_at_save(CheckpointClass, n)``: the n-th save of that class's checkpoint is
    followed by Ctrl-C, as if the job were stopped right after it; returns a function that
    lets later runs save normally."""

    def install(checkpoint_class, saves: int):
        real = checkpoint_class.write
        calls = []

        def write_then_stop(self):
            real(self)
            calls.append(1)
            if len(calls) == saves:
                raise KeyboardInterrupt

        monkeypatch.setattr(checkpoint_class, "write", write_then_stop)
        return lambda: monkeypatch.setattr(checkpoint_class, "write", real)

    return install
