"""Which compute engine runs the passes, and the log-likelihood of a point on a cohort.

A new engine (another device or library) implements :class:`~neuradmix.compute.engine.Engine`
in a module of this layer and gets a name in :data:`~neuradmix.compute.ENGINE_CHOICES` and a
branch in :func:`make_engine`; the fits never name an engine class themselves.
"""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd

from ..data import Genotypes
from ..errors import InputError
from . import ENGINE_CHOICES
from .engine import Engine
from .numba_engine import NumbaEngine


def make_engine(
    genotypes: Genotypes, device: str | None = "cpu", engine: str = "auto", **options
) -> Engine:
    """The numba engine on the CPU; the torch engine on CUDA (or when asked for, on any device).
    ``options`` (``weights``, ``holdout``) go to the engine."""
    if engine not in ENGINE_CHOICES:
        raise InputError(f"--engine {engine!r}: choose auto, numba or torch.")
    wants_gpu = device not in (None, "", "cpu", "auto")
    if engine == "numba" and wants_gpu:
        raise InputError("--engine numba runs on the CPU only; use --engine torch for cuda.")
    if engine == "torch" or (wants_gpu or _cuda_auto(device)) and engine != "numba":
        from .torch_engine import TorchEngine  # torch is loaded only for the torch engine

        return TorchEngine(genotypes, device=device, **options)
    return NumbaEngine(genotypes, **options)


def _cuda_auto(device) -> bool:
    if device != "auto" or "torch" not in sys.modules:
        return False
    return bool(sys.modules["torch"].cuda.is_available())


def log_likelihood(source: Genotypes | np.ndarray, q: np.ndarray, p: np.ndarray) -> float:
    """ADMIXTURE log-likelihood ``sum_ij g log(p) + (2 - g) log(1 - p)`` over observed calls,
    ``p = (Q P^T)_ij`` (what ADMIXTURE prints as ``Loglikelihood:``).

    ``source`` is a :class:`neuradmix.data.Genotypes` or an N x M matrix of counts (packed
    first); ``q`` is N x K, ``p`` M x K (the ``.P`` orientation). One pass of the numba engine,
    the same that every fit reports."""
    if isinstance(source, Genotypes):
        genotypes = source
    else:  # only the counts matter: no sample or SNP table is made
        calls = np.asarray(source)
        genotypes = Genotypes.from_calls(calls, pd.DataFrame(index=range(len(calls))), None)
    q = np.asarray(q, dtype=np.float64)
    p = np.ascontiguousarray(p, dtype=np.float64)
    return NumbaEngine(genotypes).log_likelihood(q, p)
