"""Hyperparameters of the neural training, kept free of heavy imports so the CLI can show them
without loading torch."""

from __future__ import annotations

from dataclasses import dataclass, field

# The all-SNP stage's tolerance when the block relaxation polishes the fit afterwards: it takes the
# last, slow part of the climb in fewer passes than the network (measured on a 1,600 x 100,000
# coalescent cohort: training 9.6 s + polish 4.7 s, against 12.3 s + 5.5 s at 1e-6).
POLISH_TOLERANCE = 1e-5

# Newton steps per SNP in the first epoch on all SNPs, where F starts from least squares given
# the encoder's Q (the classic fit takes six, classic.fit.F_START_STEPS). Three took the same
# epochs (+-2), up to 12% less time and ended within 3.5e-6 (relative, either way) of six's
# log-likelihood on a 1,600 x 100,000 coalescent cohort (K=4: 6.7 s instead of 7.7 s), a
# 1,000 x 15,619 mosaic cohort (K=4, two seeds; K=5), a 105-sample cohort (K=5, three seeds)
# and a PSD cohort (K=5).
FIRST_EPOCH_F_STEPS = 3


@dataclass
class TrainConfig:
    """Hyperparameters. The defaults were chosen on a suite of cohorts (a 2,000 x 100,000
    coalescent cohort, a 105-sample five-population cohort with monomorphic SNPs, the bundled
    example); none usually needs changing."""

    ks: list[int]
    # Most epochs of each stage (the common-SNP stage, then all SNPs); a cap, not a schedule:
    # training stops when the objective stops rising.
    epochs: int = 200
    # An epoch counts as progress when a head's objective rises by more than tolerance x
    # |objective|; a head has converged after `patience` epochs without progress, a stage once
    # every head has. The common-SNP stage uses `stage_tolerance`: the all-SNP stage finishes.
    tolerance: float = 1e-6
    stage_tolerance: float = 1e-5
    patience: int = 2
    # lambda: weight of the entropy of each sample's Q, per observed genotype call. 0 is the
    # ADMIXTURE likelihood itself; larger values give softer Q (see config/README.md).
    entropy: float = 0.0
    # eta of Equation 5: weight of a labelled sample's cross-entropy against the labels, beside
    # its ADMIXTURE negative log-likelihood per genotype call.
    supervised_weight: float = 1.0
    # L-BFGS iterations on the encoder's weights per epoch (see neuradmix.neural.train).
    encoder_steps: int = 50
    # L-BFGS iterations fitting the encoder to the start's Q before the first epoch.
    warm_start_steps: int = 100
    hidden: int | None = None  # ReLU units of each head (None: 4 K^2, see model.head_width)
    # Principal coordinates each head reads beyond its K - 1; None: none up to the structure the
    # axes resolve, more above it (see model.head_extras).
    extra_coordinates: int | None = None
    start_snps: int = 10_000  # common SNPs of the PCA start and of the first training stage
    seed: int = 42
    device: str = "auto"
    threads: int | None = None
    engine: str = "auto"  # passes over the genotypes: numba (CPU), torch (CUDA), auto
    extra: dict = field(default_factory=dict)
