"""Hyperparameters of the neural training, kept free of heavy imports so the CLI can show them
without loading torch."""

from __future__ import annotations

from dataclasses import dataclass, field

INITS = ("pckmeans+als", "pckmeans")
ENGINES = ("auto", "numba", "torch")


@dataclass
class TrainConfig:
    """Hyperparameters. The defaults fit to the maximum-likelihood optimum (within about 1e-6
    relative) at every cohort size; none usually needs changing."""

    ks: list[int]
    # Most epochs of each stage (the common-SNP stage, then all SNPs); a cap, not a schedule:
    # training stops when the objective stops rising.
    epochs: int = 200
    # An epoch counts as progress when the objective rises by more than tolerance x |objective|;
    # training stops after `patience` epochs without progress. 1e-6 leaves the fit within about
    # 1e-7 (relative) of the optimum.
    tolerance: float = 1e-6
    patience: int = 2
    # lambda: weight of the entropy of each sample's Q, per observed genotype call. 0 is the
    # ADMIXTURE likelihood itself; larger values give softer Q (see config/README.md).
    entropy: float = 0.0
    # eta of Equation 5: weight of the labelled samples' cross-entropy in the encoder's loss.
    supervised_weight: float = 1.0
    learning_rate: float = 3e-3  # Adam, encoder
    encoder_steps: int = 20  # optimiser steps per epoch (more when minibatches need them)
    batch_size: int = 4096  # encoder minibatch; cohorts up to this size train full-batch
    warm_start_steps: int = 100
    weight_decay: float = 1e-4  # on W1, the first layer (the paper's Frobenius penalty)
    hidden: int = 512
    n_components: int = 32  # principal axes fed to the encoder
    start_snps: int = 10_000  # common SNPs of the PCA and of the first training stage
    refine_steps: int = 8  # most Newton steps of the refinement at the end and at inference
    epoch_refine_steps: int = 2  # Newton steps of the refinement in each training epoch
    # The decoder's Newton step is over-relaxed by this factor from a stage's third epoch on
    # (until an epoch lowers the objective), as the classic engine does.
    relaxation: float = 1.3
    init: str = "pckmeans+als"
    seed: int = 42
    device: str = "auto"
    threads: int | None = None
    engine: str = "auto"  # passes over the genotypes: numba (CPU), torch (CUDA), auto
    extra: dict = field(default_factory=dict)
