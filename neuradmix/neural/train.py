"""Training Neural ADMIXTURE on the ADMIXTURE likelihood, through the network.

The model (:mod:`neuradmix.neural.model`): Q = encoder(x), one softmax head per K, and a decoder
whose weights are F. The loss is the paper's Equation 2 with the ADMIXTURE likelihood
(Equation 3: ``L_N`` with lambda = 0 is half of ADMIXTURE's negative log-likelihood), missing
calls skipped, plus ``lambda`` times the entropy of Q (this package's lambda, see
``TrainConfig.entropy``) and, for labelled samples, ``eta`` times the cross-entropy of Q against
the labels (Equation 5). The output Q is the encoder's forward pass and P the decoder's F.

One epoch:

1. the forward pass gives every head's Q for every sample;
2. one pass over the genotypes (streamed from the 2-bit packed bytes, a block of SNPs at a time)
   gives the log-likelihood at (Q, F) and the decoder's update: one exact Newton step of every
   SNP's F given Q (the problem is separable per SNP, so this is the closed-form step of the
   quadratic model on [0, 1]^K, not a gradient step);
3. a second pass gives, per sample, the gradient and Hessian of its log-likelihood in q_i at
   (Q, new F): the second-order Taylor model of the loss in the encoder's output;
4. the encoder's weights take ``encoder_steps`` L-BFGS steps on that model composed with the
   network (the gradient reaches the weights by back-propagation through the softmax head; at
   the epoch's start it is exactly the gradient of the loss), plus the exact entropy and
   cross-entropy terms. An epoch whose objective falls below the previous one is undone and its
   encoder step repeated with the model's curvature doubled (a trust region), so the objective
   at the start of every epoch never decreases.

Training runs in two stages on every sample: first on the common SNPs of the PCA start (at most
``start_snps``), then on all SNPs, with F for every SNP starting from least squares given the
encoder's Q. Each stage stops when every head's objective rose by less than the stage's
tolerance (relative to that head's) in ``patience`` consecutive epochs, or after ``epochs``.
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from ..classic.starts import start_snps
from ..compute import ENGINE_CHOICES
from ..compute.engines import make_engine
from ..data import Genotypes
from ..data.packed import observed_per_sample
from ..errors import InputError
from ..runtime import select_device, set_threads
from ..stats.pca import GenotypePCA, axes_above_noise, extend_to_all_snps, fit_pca
from .config import FIRST_EPOCH_F_STEPS, TrainConfig
from .init import Start, fit_encoder_to, frequencies_for_all_snps, initial_state
from .model import DTYPE, NeuralAdmixture, axes_to_fit, encode, head_extras
from .optim import minimise


@dataclass
class TrainResult:
    model: NeuralAdmixture
    pca: GenotypePCA  # the encoder's first layer (principal axes over all SNPs)
    config: TrainConfig
    q: dict[int, np.ndarray]  # the encoder's forward pass on the training samples
    p: dict[int, np.ndarray]  # the decoders' F
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
    if config.engine not in ENGINE_CHOICES:
        raise InputError(f"--engine {config.engine!r}: choose {', '.join(ENGINE_CHOICES)}.")
    for name, value, smallest in (
        ("--epochs", config.epochs, 0),
        ("--patience", config.patience, 1),
        ("--encoder-steps", config.encoder_steps, 1),
        ("--hidden", config.hidden or 1, 1),
        ("--extra-coordinates", config.extra_coordinates or 0, 0),
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


# ------------------------------------------------------------------------------------------
# The encoder's objective in an epoch
# ------------------------------------------------------------------------------------------


@dataclass
class LocalModel:
    """The second-order model of the loss in one head's Q around ``q0`` (from a pass over the
    genotypes), with the terms of the objective that are exact in Q."""

    q0: torch.Tensor  # N x K
    gradient: torch.Tensor  # N x K: d log-likelihood / d q_i
    curvature: torch.Tensor  # N x K x K: minus the Hessian
    scale: float  # 1 / (mean observed calls per sample): the loss per genotype call
    entropy: torch.Tensor | None = None  # N: lambda x observed calls of sample i
    labels: torch.Tensor | None = None  # N: column of a labelled sample's population, else -1
    eta: float = 0.0

    def loss(self, logits: torch.Tensor, damping: float = 1.0) -> torch.Tensor:
        """What the encoder minimises: minus [the Taylor model of the log-likelihood + lambda x
        entropy] per genotype call, plus eta x the labelled samples' cross-entropy. ``damping``
        multiplies the curvature (a trust region)."""
        q = torch.softmax(logits, dim=1)
        step = q - self.q0
        gain = (self.gradient * step).sum() - 0.5 * damping * torch.einsum(
            "ni,nij,nj->", step, self.curvature, step
        )
        if self.entropy is not None:
            log_q = torch.log_softmax(logits, dim=1)
            gain = gain - (self.entropy * (q * log_q).sum(dim=1)).sum()
        loss = -gain * self.scale
        if self.labels is not None and self.eta > 0:
            known = self.labels >= 0
            if bool(known.any()):
                log_q = torch.log_softmax(logits[known], dim=1)
                loss = loss - self.eta * log_q.gather(1, self.labels[known, None]).sum()
        return loss

    def loss_and_gradient(self, logits: torch.Tensor, damping: float = 1.0):
        """:meth:`loss` and its gradient in the logits, written out (as the network's
        back-propagation uses them)."""
        log_q = torch.log_softmax(logits, dim=1)
        q = torch.exp(log_q)
        step = q - self.q0
        bent = torch.einsum("nij,nj->ni", self.curvature, step)
        gain = (self.gradient * step).sum() - 0.5 * damping * (step * bent).sum()
        d_gain = self.gradient - damping * bent  # d gain / d q
        if self.entropy is not None:
            gain = gain - (self.entropy * (q * log_q).sum(dim=1)).sum()
            d_gain = d_gain - self.entropy[:, None] * (log_q + 1.0)
        d_q = -self.scale * d_gain
        d_logits = q * (d_q - (q * d_q).sum(dim=1, keepdim=True))  # through the softmax
        loss = -gain * self.scale
        if self.labels is not None and self.eta > 0:
            known = torch.nonzero(self.labels >= 0).squeeze(1)
            if known.numel():
                chosen = self.labels[known]
                loss = loss - self.eta * log_q[known, chosen].sum()
                d_logits[known] += self.eta * q[known]
                d_logits[known, chosen] -= self.eta
        return float(loss), d_logits


def encoder_step(head, inputs, model: LocalModel, steps: int, damping: float) -> None:
    """L-BFGS steps of one head's weights on its local model."""

    def value_and_gradient():
        return head.backpropagate(inputs, lambda logits: model.loss_and_gradient(logits, damping))

    minimise(list(head.parameters()), value_and_gradient, steps)


# ------------------------------------------------------------------------------------------
# The state of a training run
# ------------------------------------------------------------------------------------------


@dataclass
class _Head:
    k: int
    f: np.ndarray  # the decoder's F on the stage's SNPs
    frozen: bool
    objective: float = -math.inf  # at the start of the current epoch
    log_likelihood: float = -math.inf  # its log-likelihood part
    model: LocalModel | None = None  # the local model the last encoder step used
    saved: tuple | None = None  # (encoder weights, F, objective) before that step
    damping: float = 1.0
    converged: bool = False


@dataclass
class TrainState:
    """Everything training needs to continue exactly after an epoch (what a resume checkpoint
    holds): the stage and the epochs done, the network's weights, every head's decoder F,
    objective, trust region, stopping rule, and the step it may have to undo (the weights and F
    before it and the local model it used)."""

    stage: str  # a key of STAGES
    stage_epoch: int  # epochs done in this stage
    epochs: int  # epochs done in all stages
    history: list[dict]
    weights: dict[str, np.ndarray]  # the network's state_dict
    heads: list[dict]  # per head: f, objective, ... (see _Trainer.snapshot)


STAGES = ("common SNPs", "all SNPs")


class _Trainer:
    def __init__(self, model, coordinates, config: TrainConfig, start: Start, device, progress):
        self.model = model
        self.coordinates = coordinates
        self.inputs = (coordinates - model.input_mean) / model.input_scale  # what heads read
        self.config = config
        self.device = device
        self.progress = progress
        frozen = start.frozen_f is not None
        self.heads = [_Head(k, f, frozen) for k, f in zip(config.ks, start.f, strict=True)]
        self.labels = (
            None
            if start.label_index is None
            else torch.from_numpy(start.label_index).to(self.inputs.device)
        )
        self.history: list[dict] = []
        self.epochs = 0
        self.saver = None  # called with a function returning the TrainState after each epoch
        self.resume: TrainState | None = None  # continue this stage from here

    def run_stage(
        self, stage: str, engine, genotypes: Genotypes, tolerance: float, first_f_steps: int = 1
    ) -> bool:
        """Epochs on ``genotypes`` until every head has converged; True when they did."""
        config = self.config
        observed = observed_per_sample(genotypes.packed, genotypes.n_samples).astype(np.float64)
        scale = 1.0 / max(float(observed.mean()), 1.0)
        entropy = (
            torch.as_tensor(config.entropy * observed, dtype=DTYPE, device=self.inputs.device)
            if config.entropy > 0
            else None
        )
        n_calls = max(observed.sum(), 1.0)
        rules = [StoppingRule(tolerance, config.patience) for _ in self.heads]
        for head in self.heads:
            head.objective, head.saved, head.model, head.converged = -math.inf, None, None, False
            head.damping = 1.0
        first = 0
        if self.resume is not None and self.resume.stage == stage:
            first = self._restore_state(self.resume, rules, scale, entropy)
            self.resume = None
        for stage_epoch in range(first, config.epochs):
            tick = time.perf_counter()
            q_all = encode(self.model, self.coordinates)
            row = {"epoch": self.epochs + 1, "stage": stage, "train_loss": 0.0, "objective": 0.0}
            total = 0.0
            for h, head in enumerate(self.heads):
                if head.converged:  # no more passes for a head that has stopped rising
                    row[f"log_likelihood_k{head.k}"] = head.log_likelihood
                    total += head.objective
                    continue
                q = q_all[h]
                if head.frozen:
                    f_new, ll = head.f, engine.log_likelihood(q, head.f)
                else:
                    steps = first_f_steps if stage_epoch == 0 else 1
                    f_new, ll = engine.frequencies(q, head.f, steps)
                objective = ll + self._penalties(q, h, entropy, scale)
                row[f"log_likelihood_k{head.k}"] = ll
                total += objective
                if objective < head.objective and head.saved is not None:
                    # The encoder's step overshot its local model: undo it (and the F step
                    # taken with it) and try again with a tighter trust region.
                    self._restore(h, head)
                    head.damping *= 2.0
                    encoder_step(
                        self.model.heads[h],
                        self.inputs,
                        head.model,
                        config.encoder_steps,
                        head.damping,
                    )
                    continue
                head.converged = rules[h].update(objective)
                head.objective, head.log_likelihood = objective, ll
                head.f = f_new
                if head.converged:
                    continue
                gradient, curvature = engine.ancestry_model(q, head.f)
                head.model = LocalModel(
                    q0=torch.as_tensor(q, dtype=DTYPE, device=self.inputs.device),
                    gradient=torch.as_tensor(gradient, dtype=DTYPE, device=self.inputs.device),
                    curvature=torch.as_tensor(curvature, dtype=DTYPE, device=self.inputs.device),
                    scale=scale,
                    entropy=entropy,
                    labels=self.labels if h == 0 else None,
                    eta=config.supervised_weight,
                )
                head.saved = (
                    copy.deepcopy(self.model.heads[h].state_dict()),
                    head.f,
                    head.objective,
                )
                encoder_step(
                    self.model.heads[h],
                    self.inputs,
                    head.model,
                    config.encoder_steps,
                    head.damping,
                )
                head.damping = max(1.0, head.damping / 2.0)
            self.epochs += 1
            row["train_loss"] = -total / n_calls
            row["objective"] = total
            row["seconds"] = time.perf_counter() - tick
            self.history.append(row)
            if self.progress is not None:
                for head in self.heads:
                    label = stage if len(self.heads) == 1 else f"{stage} K={head.k}"
                    ll = row[f"log_likelihood_k{head.k}"]
                    self.progress(label, self.epochs, ll, row["seconds"])
            if all(head.converged for head in self.heads):
                return True
            if self.saver is not None:  # (a state that continues)
                state = self.snapshot(stage, stage_epoch + 1, rules)
                self.saver(lambda state=state: state)
        return False

    def snapshot(self, stage: str, stage_epoch: int, rules) -> TrainState:
        """The state after this epoch, copied (the weights change in place later)."""
        heads = []
        for head, rule in zip(self.heads, rules, strict=True):
            heads.append(
                {
                    "f": head.f,
                    "objective": head.objective,
                    "log_likelihood": head.log_likelihood,
                    "damping": head.damping,
                    "converged": head.converged,
                    "previous": rule.previous,
                    "stale": rule.stale,
                    "model": None
                    if head.model is None
                    else {
                        "q0": head.model.q0.cpu().numpy(),
                        "gradient": head.model.gradient.cpu().numpy(),
                        "curvature": head.model.curvature.cpu().numpy(),
                    },
                    "saved": None
                    if head.saved is None
                    else {
                        "weights": {k: v.cpu().numpy().copy() for k, v in head.saved[0].items()},
                        "f": head.saved[1],
                        "objective": head.saved[2],
                    },
                }
            )
        weights = {k: v.detach().cpu().numpy().copy() for k, v in self.model.state_dict().items()}
        return TrainState(stage, stage_epoch, self.epochs, list(self.history), weights, heads)

    def _restore_state(self, state: TrainState, rules, scale: float, entropy) -> int:
        """Put the trainer where ``state`` was; returns the epochs done in the stage."""
        device = self.inputs.device
        self.model.load_state_dict({k: torch.from_numpy(v) for k, v in state.weights.items()})
        self.epochs, self.history = state.epochs, list(state.history)
        for h, (head, rule, saved) in enumerate(zip(self.heads, rules, state.heads, strict=True)):
            head.f = saved["f"]
            head.objective, head.log_likelihood = saved["objective"], saved["log_likelihood"]
            head.damping, head.converged = saved["damping"], saved["converged"]
            rule.previous, rule.stale = saved["previous"], saved["stale"]
            if saved["model"] is not None:
                head.model = LocalModel(
                    **{
                        name: torch.as_tensor(saved["model"][name], dtype=DTYPE, device=device)
                        for name in ("q0", "gradient", "curvature")
                    },
                    scale=scale,
                    entropy=entropy,
                    labels=self.labels if h == 0 else None,
                    eta=self.config.supervised_weight,
                )
            if saved["saved"] is not None:
                weights = {
                    k: torch.as_tensor(v, device=device)
                    for k, v in saved["saved"]["weights"].items()
                }
                head.saved = (weights, saved["saved"]["f"], saved["saved"]["objective"])
        return state.stage_epoch

    def _penalties(self, q: np.ndarray, h: int, entropy, scale: float) -> float:
        """The objective's terms beside the log-likelihood, in its units: lambda x entropy, and
        minus eta x the labelled samples' cross-entropy (per genotype call, see LocalModel)."""
        total = 0.0
        if entropy is not None:
            total += float(entropy.cpu().numpy() @ _entropy(q))
        if self.labels is not None and h == 0 and self.config.supervised_weight > 0:
            labels = self.labels.cpu().numpy()
            known = np.flatnonzero(labels >= 0)
            chosen = np.maximum(q[known, labels[known]], 1e-300)
            total += self.config.supervised_weight * float(np.log(chosen).sum()) / scale
        return total

    def _restore(self, h: int, head: _Head) -> None:
        weights, f, objective = head.saved
        self.model.heads[h].load_state_dict(weights)
        head.f, head.objective = f, objective


def _entropy(q: np.ndarray) -> np.ndarray:
    return -(q * np.log(np.maximum(q, 1e-300))).sum(axis=1)


# ------------------------------------------------------------------------------------------
# Training
# ------------------------------------------------------------------------------------------


def train(
    genotypes: Genotypes,
    config: TrainConfig,
    labels: np.ndarray | None = None,
    init_p: np.ndarray | None = None,
    progress=None,
    saver=None,
    resume: TrainState | None = None,
) -> TrainResult:
    """Fit a (multi-head) Neural ADMIXTURE model; see :class:`TrainConfig` for the knobs.

    ``labels`` (one per sample, ``""`` or ``-`` for unknown) makes the run supervised or
    semi-supervised: one head with one column per population, in sorted order, its decoder
    started at the labelled populations' centroids, and eta x the labelled samples'
    cross-entropy in the loss (Equation 5). ``init_p`` (M x K, a ``.P``) makes it pretrained: the
    decoder is that F and stays fixed; only the encoder is trained. ``progress(stage, epoch,
    log-likelihood, seconds)`` is called after every epoch.

    ``saver(make_state)`` is called after every epoch that training continues from, with a
    function returning the :class:`TrainState` there; ``resume`` (such a state, with the same
    data and arguments) continues from it: the principal axes and the start are recomputed
    (they are determined by the data and the seed), the weights and the rest are loaded, and
    the epochs that follow are those of the run that was never stopped.
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
    m = genotypes.n_snps
    ks = list(config.ks)

    # The encoder's first layer: principal axes found on the common SNPs, carried to all SNPs.
    # A head above the structure the axes resolve reads more of them (model.head_extras).
    snps = start_snps(genotypes, config.start_snps)
    subset_pca = fit_pca(
        genotypes, axes_to_fit(ks, config.extra_coordinates), seed=config.seed, snps=snps
    )
    extras = head_extras(ks, config.extra_coordinates, axes_above_noise(subset_pca))
    n_coordinates = max(k - 1 + extra for k, extra in zip(ks, extras, strict=True))
    layer = extend_to_all_snps(genotypes, subset_pca, n_coordinates)
    coordinates = torch.from_numpy(layer.scores.astype(np.float64)).to(device)
    subset = genotypes if len(snps) == m else genotypes.select_snps(snps)
    start = initial_state(subset, snps, subset_pca, ks, labels, init_p, config.seed)

    model = NeuralAdmixture(layer.n_components, m, ks, hidden=config.hidden, extras=extras).to(
        device
    )
    model.set_input_statistics(coordinates)
    if resume is None:  # (a resumed run loads the weights)
        fit_encoder_to(model, coordinates, start.q, config.warm_start_steps)

    engine_device = device.type if device.type == "cuda" else "cpu"
    trainer = _Trainer(model, coordinates, config, start, device, progress)
    trainer.saver, trainer.resume = saver, resume
    converged = config.epochs > 0
    in_stage_two = resume is not None and resume.stage == STAGES[1]
    if len(snps) < m and config.epochs > 0 and start.frozen_f is None and not in_stage_two:
        # Stage 1 on the common SNPs: the same epochs on a tenth or less of the genotypes.
        engine = make_engine(subset, engine_device, config.engine)
        trainer.run_stage(STAGES[0], engine, subset, config.stage_tolerance)
        del engine
    # Stage 2 on all SNPs: F for every SNP from least squares given the encoder's Q; the first
    # epoch takes a few Newton steps per SNP (as the block relaxation does after its start).
    engine = make_engine(genotypes, engine_device, config.engine)
    q_now = encode(model, coordinates)
    for h, head in enumerate(trainer.heads):
        if not in_stage_two:  # (a run resumed in this stage has its F)
            head.f = frequencies_for_all_snps(genotypes, q_now[h], start)
    if config.epochs > 0:
        converged = trainer.run_stage(
            STAGES[1], engine, genotypes, config.tolerance, first_f_steps=FIRST_EPOCH_F_STEPS
        )

    # The model's output: the forward pass on the training samples and the decoders' F.
    q_out = encode(model, coordinates)
    q, p, ll = {}, {}, {}
    for h, head in enumerate(trainer.heads):
        q[head.k] = q_out[h]
        p[head.k] = np.asarray(head.f, dtype=np.float64)
        ll[head.k] = engine.log_likelihood(q_out[h], head.f)
        model.set_frequencies(h, head.f)
    return TrainResult(
        model=model.cpu(),
        pca=layer,
        config=config,
        q=q,
        p=p,
        log_likelihood=ll,
        history=pd.DataFrame(trainer.history),
        populations=start.populations,
        snps=genotypes.variants,
        seconds=time.perf_counter() - started,
        epochs_run=trainer.epochs,
        converged=converged,
        device=str(device),
    )
