"""Hyperparameters of the neural training, kept free of heavy imports so the CLI can show them
without loading torch."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class TrainConfig:
    """Hyperparameters; the defaults are tuned for speed at ADMIXTURE-level accuracy."""

    ks: list[int]
    epochs: int = 60  # upper bound; early stopping usually ends sooner
    batch_size: int = 256
    learning_rate: float = 3e-4  # encoder
    decoder_learning_rate: float = 3e-4
    l2_penalty: float = 1e-2  # lambda of Equation 2, relative to the sum over all genotypes
    supervised_weight: float = 1.0  # eta of Equation 5
    hidden: int = 512
    n_components: int = 32  # principal axes fed to the encoder
    validation_fraction: float = 0.1
    patience: int = 4
    tolerance: float = 1e-5  # relative improvement of the monitored loss that counts
    # Loss that decides early stopping: "train" (ADMIXTURE-style convergence of the fit to the
    # cohort) or "validation" (held-out samples; stops earlier, as F starts to fit the training
    # samples' noise, at some cost in accuracy on the cohort itself).
    stop_on: str = "train"
    seed: int = 42
    device: str = "auto"
    threads: int | None = None
    # Loss implementation: "fused" (numba kernel, CPU), "torch" (any device; what CUDA uses), or
    # "auto" (fused on CPU, torch elsewhere).
    backend: str = "auto"
    warm_start_steps: int = 1500
    # "pckmeans+als": PCK-Means centroids refined by low-rank ALS (default); "pckmeans": the
    # paper's Algorithm 1 alone.
    init: str = "pckmeans+als"
    extra: dict = field(default_factory=dict)
