"""Training Neural ADMIXTURE.

The network (:mod:`neuradmix.neural.model`) is an encoder from a sample's principal coordinates
to Q_enc, a refinement layer (:mod:`neuradmix.neural.refine`) that takes Q_enc to the exact
optimum of the sample's likelihood given the decoder, and the decoder F. The objective is the
paper's Equation 2 with lambda = 0, i.e. the ADMIXTURE log-likelihood (Equation 3 shows they are
the same problem), plus ``lambda`` times the entropy of Q (this package's lambda; see
``TrainConfig.entropy``) and, for labelled samples, ``eta`` times the cross-entropy of Q_enc
against the labels (Equation 5).

One epoch, over the whole cohort:

1. the encoder gives Q_enc for every sample (a forward pass on the N x d inputs);
2. the refinement takes one Newton step of every sample's Q from Q_enc given F: Q_ref (one pass
   over the packed genotypes);
3. the decoder takes one exact Newton step of every SNP's F given Q_ref, and the same pass
   gives the log-likelihood at (Q_ref, F), the epoch's objective;
4. the encoder takes Adam steps towards Q_ref (the KL divergence from Q_ref, weighted by each
   sample's observed calls; full batch up to ``batch_size`` samples, minibatches beyond), with a
   learning rate halved whenever that loss stops falling.

Training runs in two stages, both on the whole cohort of samples: first on the common SNPs the
PCA uses (at most ``start_snps``), then on all SNPs, with F for every SNP starting from least
squares given the first stage's Q. Each stage stops when every head's objective rose by less
than ``tolerance`` (relative to that head's) in ``patience`` consecutive epochs, or after
``epochs`` epochs. The
result is the refined Q (Newton steps to convergence from the final encoder's Q) and F.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from ..classic import fit as classic
from ..classic.kernels import observed_per_sample
from ..data import Genotypes
from ..errors import InputError
from ..runtime import select_device, set_threads
from ..stats.metrics import entropy_of
from ..stats.pca import GenotypePCA, fit_pca
from .config import ENGINES, INITS, TrainConfig
from .init import (
    Start,
    initial_state,
    kl_to_targets,
    parameters_of_encoder,
    warm_start_encoder,
)
from .model import NeuralAdmixture, encode
from .optim import Adam
from .refine import refine


@dataclass
class TrainResult:
    model: NeuralAdmixture
    pca: GenotypePCA
    config: TrainConfig
    q: dict[int, np.ndarray]
    p: dict[int, np.ndarray]
    log_likelihood: dict[int, float]
    history: pd.DataFrame
    populations: list[str] | None
    snps: pd.DataFrame
    seconds: float
    epochs_run: int  # epochs of both stages
    converged: bool
    device: str = "cpu"


def check_inputs(genotypes: Genotypes, config: TrainConfig, labels, init_p) -> None:
    """Every argument and input, before any work."""
    n, m = genotypes.n_samples, genotypes.n_snps
    if n < 3 or m < 2:
        raise InputError(
            f"{genotypes.source}: {n} samples x {m} SNPs; training needs at least 3 samples and "
            "2 SNPs."
        )
    if not config.ks or min(config.ks) < 2:
        raise InputError("K must be at least 2 (--k, or --min-k/--max-k).")
    if max(config.ks) >= n:
        raise InputError(
            f"--k {max(config.ks)}: as many ancestral populations as the {n} samples or more; "
            "each sample would be its own population. Lower K below the number of samples."
        )
    if init_p is not None and len(config.ks) != 1:
        raise InputError("--init-p gives one decoder: use it with a single --k.")
    if labels is not None and len(labels) != n:
        raise InputError(f"labels: {len(labels)} entries for {n} samples.")
    if config.init not in INITS:
        raise InputError(f"--init {config.init!r}: choose {' or '.join(INITS)}.")
    if config.engine not in ENGINES:
        raise InputError(f"--engine {config.engine!r}: choose {', '.join(ENGINES)}.")
    for name, value, smallest in (
        ("--epochs", config.epochs, 0),
        ("--patience", config.patience, 1),
        ("--encoder-steps", config.encoder_steps, 1),
        ("--batch-size", config.batch_size, 2),
        ("--hidden", config.hidden, 1),
        ("--pcs", config.n_components, 1),
        ("--refine-steps", config.refine_steps, 1),
    ):
        if value < smallest:
            raise InputError(f"{name} {value}: must be at least {smallest}.")
    for name, value in (
        ("--lambda", config.entropy),
        ("--eta", config.supervised_weight),
        ("--tol", config.tolerance),
    ):
        if not (value >= 0 and math.isfinite(value)):
            raise InputError(f"{name} {value}: must be a non-negative number.")
    if not (config.learning_rate > 0 and math.isfinite(config.learning_rate)):
        raise InputError(f"--lr {config.learning_rate}: must be a positive number.")


# ------------------------------------------------------------------------------------------
# Schedules
# ------------------------------------------------------------------------------------------


class StoppingRule:
    """Stop after ``patience`` consecutive epochs whose objective (to maximise) rose by less
    than ``tolerance`` x |objective| over the previous epoch's."""

    def __init__(self, tolerance: float, patience: int):
        self.tolerance = tolerance
        self.patience = patience
        self.previous = -math.inf
        self.stale = 0

    def update(self, objective: float) -> bool:
        """Record an epoch's objective; True when training should stop."""
        if objective - self.previous > self.tolerance * abs(objective):
            self.stale = 0
        else:
            self.stale += 1
        self.previous = objective
        return self.stale >= self.patience


class LearningRateSchedule:
    """The encoder's learning rate: halved when its loss has not fallen by 1% (relative) for
    ``patience`` epochs, down to ``initial / 64``."""

    def __init__(self, initial: float, patience: int = 2, factor: float = 0.5, floor=1 / 64):
        self.rate = initial
        self.minimum = initial * floor
        self.patience = patience
        self.factor = factor
        self.best = math.inf
        self.stale = 0

    def update(self, loss: float) -> float:
        if loss < self.best * 0.99:
            self.best = loss
            self.stale = 0
        else:
            self.stale += 1
            if self.stale >= self.patience:
                self.rate = max(self.rate * self.factor, self.minimum)
                self.stale = 0
                self.best = loss
        return self.rate


# ------------------------------------------------------------------------------------------
# The state of a training run
# ------------------------------------------------------------------------------------------


@dataclass
class _Head:
    k: int
    f: np.ndarray  # SNPs of the stage x K
    q: np.ndarray  # refined Q of the last epoch
    frozen: bool = False


class _Trainer:
    def __init__(self, model, inputs, config: TrainConfig, start: Start, device, progress):
        self.model = model
        self.inputs = inputs
        self.config = config
        self.start = start
        self.device = device
        self.progress = progress
        self.frozen = start.frozen_f is not None
        self.heads = [
            _Head(k, f, q, self.frozen) for k, f, q in zip(config.ks, start.f, start.q, strict=True)
        ]
        first, rest = parameters_of_encoder(model)
        self.optimiser = Adam(
            [
                {"params": first, "weight_decay": config.weight_decay},
                {"params": rest, "weight_decay": 0.0},
            ],
            lr=config.learning_rate,
        )
        self.schedule = LearningRateSchedule(config.learning_rate)
        self.generator = torch.Generator().manual_seed(config.seed)
        self.history: list[dict] = []
        self.epochs = 0
        label_index = start.label_index
        self.labels = None if label_index is None else torch.from_numpy(label_index).to(device)

    # -- one stage --------------------------------------------------------------------------

    def run_stage(
        self, stage: str, engine, genotypes: Genotypes, epochs: int, first_f_steps: int = 1
    ) -> bool:
        """Epochs on ``genotypes`` until the stopping rule; True when it converged."""
        config = self.config
        observed = observed_per_sample(genotypes.packed, genotypes.n_samples).astype(np.float64)
        entropy = config.entropy * observed if config.entropy > 0 else None
        weights = torch.from_numpy((observed / max(observed.mean(), 1.0)).astype(np.float32))
        weights = weights.to(self.device)
        # One rule per head: a head still climbing keeps the stage going even when its rise is
        # small against the sum over heads (a large K converges more slowly than a small one).
        stopping = [StoppingRule(config.tolerance, config.patience) for _ in self.heads]
        previous = -math.inf
        n_calls = max(observed.sum(), 1.0)
        relax = config.relaxation != 1.0
        for stage_epoch in range(epochs):
            tick = time.perf_counter()
            q_enc = encode(self.model, self.inputs)
            objective, lls, head_objectives = 0.0, [], []
            for h, head in enumerate(self.heads):
                q = classic.project_q(q_enc[h])
                fixed = self.start.fixed if h == 0 else None
                if fixed is not None:
                    q[fixed] = self.start.fixed_q
                q_ref, _ = refine(
                    engine,
                    q,
                    head.f,
                    max_steps=config.epoch_refine_steps,
                    fixed=fixed,
                    fixed_q=self.start.fixed_q if fixed is not None else None,
                    entropy=entropy,
                    tol=0.0,
                )
                if head.frozen:
                    ll = engine.log_likelihood(q_ref, head.f)
                else:
                    steps = first_f_steps if stage_epoch == 0 else 1
                    f_newton, ll = engine.frequencies(q_ref, head.f, steps)
                    if relax and stage_epoch >= 2:
                        f_newton = classic.project_f(
                            head.f + config.relaxation * (f_newton - head.f)
                        )
                    head.f = f_newton
                head.q = q_ref
                lls.append(ll)
                if entropy is not None:
                    ll = ll + float(entropy @ entropy_of(q_ref))
                head_objectives.append(ll)
                objective += ll
            encoder_loss = self._fit_encoder(weights)
            self.epochs += 1
            row = {
                "epoch": self.epochs,
                "stage": stage,
                "train_loss": -objective / n_calls,
                "objective": objective,
                "encoder_loss": encoder_loss,
                "learning_rate": self.optimiser.lr,
                "seconds": time.perf_counter() - tick,
            }
            for k, ll in zip(config.ks, lls, strict=True):
                row[f"log_likelihood_k{k}"] = ll
            self.history.append(row)
            if self.progress is not None:
                for k, ll in zip(config.ks, lls, strict=True):
                    label = stage if len(config.ks) == 1 else f"{stage} K={k}"
                    self.progress(label, self.epochs, ll, row["seconds"])
            if objective < previous:
                relax = False  # an over-relaxed step overshot: plain steps from here on
            previous = objective
            done = [
                rule.update(value) for rule, value in zip(stopping, head_objectives, strict=True)
            ]
            if all(done):
                return True
        return False

    # -- the encoder ------------------------------------------------------------------------

    def _fit_encoder(self, weights: torch.Tensor) -> float:
        """Adam steps of the encoder towards every head's refined Q; returns the loss after."""
        config, model = self.config, self.model
        targets = [
            torch.from_numpy(head.q.astype(np.float32)).to(self.device) for head in self.heads
        ]
        n = self.inputs.shape[0]
        batch = min(n, config.batch_size)
        per_pass = math.ceil(n / batch)
        steps = max(config.encoder_steps, per_pass)
        self.optimiser.lr = self.schedule.rate
        model.train()
        order = None
        for step in range(steps):
            if batch == n:
                rows = None
            else:
                if step % per_pass == 0:
                    order = torch.randperm(n, generator=self.generator).to(self.device)
                rows = order[(step % per_pass) * batch : (step % per_pass + 1) * batch]
            loss = self._encoder_loss(rows, targets, weights)
            self.optimiser.zero_grad()
            loss.backward()
            self.optimiser.step()
        model.eval()
        with torch.no_grad():
            final = float(self._encoder_loss(None, targets, weights))
        self.schedule.update(final)
        return final

    def _encoder_loss(self, rows, targets, weights) -> torch.Tensor:
        inputs = self.inputs if rows is None else self.inputs[rows]
        w = weights if rows is None else weights[rows]
        logits = self.model.logits(inputs)
        loss = 0.0
        for logit, target in zip(logits, targets, strict=True):
            loss = loss + kl_to_targets(logit, target if rows is None else target[rows], w)
        if self.labels is not None and self.config.supervised_weight > 0:
            known = self.labels if rows is None else self.labels[rows]
            mask = known >= 0
            if bool(mask.any()):
                loss = loss + self.config.supervised_weight * torch.nn.functional.cross_entropy(
                    logits[0][mask], known[mask]
                )
        return loss


# ------------------------------------------------------------------------------------------
# Training
# ------------------------------------------------------------------------------------------


def train(
    genotypes: Genotypes,
    config: TrainConfig,
    labels: np.ndarray | None = None,
    init_p: np.ndarray | None = None,
    progress=None,
) -> TrainResult:
    """Fit a (multi-head) Neural ADMIXTURE model; see :class:`TrainConfig` for the knobs.

    ``labels`` (one per sample, ``""`` or ``-`` for unknown) makes the run supervised or
    semi-supervised: one head with one column per population, in sorted order, the labelled
    samples' Q fixed to their population. ``init_p`` (M x K, a ``.P``) makes it pretrained: the
    decoder is that F and stays fixed; only Q and the encoder are fitted. ``progress(stage,
    epoch, log-likelihood, seconds)`` is called after every epoch.
    """
    started = time.perf_counter()
    check_inputs(genotypes, config, labels, init_p)
    set_threads(config.threads)
    torch.manual_seed(config.seed)
    device = select_device(config.device)
    if device.type == "cuda":
        # The CPU kernels used here are deterministic already; setting this loads torch's
        # compiler stack (1.5 s), so only CUDA pays for it.
        torch.use_deterministic_algorithms(True, warn_only=True)
    n, m = genotypes.n_samples, genotypes.n_snps

    # Inputs: principal coordinates on the common SNPs (also the first stage's SNPs).
    snps = classic.start_snps(genotypes, config.start_snps)
    components = max(1, min(config.n_components, n - 1, len(snps)))
    pca = fit_pca(genotypes, components, seed=config.seed, power_iterations=4, snps=snps)
    inputs = torch.from_numpy(pca.scores.astype(np.float32)).to(device)
    subset = genotypes if len(snps) == m else genotypes.select_snps(snps)

    start = initial_state(subset, snps, pca, config.ks, labels, init_p, config.init, config.seed)
    model = NeuralAdmixture(components, m, config.ks, hidden=config.hidden).to(device)
    model.set_input_statistics(inputs)
    warm_start_encoder(
        model,
        inputs,
        start.q,
        config.warm_start_steps,
        config.learning_rate,
        config.batch_size,
        config.seed,
    )

    engine_device = device.type if device.type == "cuda" else "cpu"
    trainer = _Trainer(model, inputs, config, start, device, progress)
    converged = True
    if len(snps) < m and config.epochs > 0 and not trainer.frozen:
        # Stage 1 on the common SNPs: the same epochs, a tenth or less of the genotypes.
        engine = classic.make_engine(subset, engine_device, config.engine)
        trainer.run_stage("common SNPs", engine, subset, config.epochs)
        del engine
    # Stage 2 on all SNPs: F for every SNP from least squares given the refined Q; the first
    # epoch takes a few Newton steps per SNP (as the classic engine does after its start).
    engine = classic.make_engine(genotypes, engine_device, config.engine)
    for head in trainer.heads:
        if trainer.frozen:
            head.f = start.frozen_f
        elif len(snps) < m:
            head.f = classic.frequencies_given_q(genotypes, head.q)
    if config.epochs > 0:
        converged = trainer.run_stage(
            "all SNPs", engine, genotypes, config.epochs, first_f_steps=classic.F_START_STEPS
        )
    else:
        converged = False

    # The network's output: the refinement from the final encoder's Q, to convergence.
    observed = observed_per_sample(genotypes.packed, n).astype(np.float64)
    entropy = config.entropy * observed if config.entropy > 0 else None
    q_enc = encode(model, inputs)
    q_out, p_out, ll_out = {}, {}, {}
    for h, head in enumerate(trainer.heads):
        fixed = start.fixed if h == 0 else None
        q, _ = refine(
            engine,
            q_enc[h],
            head.f,
            max_steps=config.refine_steps,
            fixed=fixed,
            fixed_q=start.fixed_q if fixed is not None else None,
            entropy=entropy,
        )
        q_out[head.k] = q
        p_out[head.k] = np.asarray(head.f, dtype=np.float64)
        ll_out[head.k] = engine.log_likelihood(q, head.f)
        model.set_frequencies(h, head.f)
    return TrainResult(
        model=model.cpu(),
        pca=pca,
        config=config,
        q=q_out,
        p=p_out,
        log_likelihood=ll_out,
        history=pd.DataFrame(trainer.history),
        populations=start.populations,
        snps=genotypes.variants,
        seconds=time.perf_counter() - started,
        epochs_run=trainer.epochs,
        converged=converged,
        device=str(device),
    )
