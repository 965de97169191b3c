"""Where training starts: each head's Q and F, and the encoder's warm start.

Unsupervised heads start from PCK-Means (the paper's Algorithm 1) on the leading principal axes,
refined by alternating least squares on the low-rank reconstruction (``--init pckmeans+als``,
the default; both from :mod:`neuradmix.classic.starts`), with F the least-squares frequencies
given that Q. Supervised runs fix the labelled samples to their population, as ADMIXTURE
``--supervised`` does; pretrained runs take F from a ``.P`` and keep it. The encoder is then fitted
to the starting Q on the PCA inputs alone (no pass over the genotypes), so the first epoch begins
where the initialisation points.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from ..classic.fit import Q_MIN, frequencies_given_q, project_f, project_q
from ..classic.starts import least_squares_q, low_rank_als, pckmeans
from ..data import Genotypes, is_unknown, known_populations
from ..errors import InputError
from ..stats.pca import GenotypePCA
from .model import NeuralAdmixture
from .optim import Adam


@dataclass
class Start:
    """Per head: the starting Q (N x K) and F on the first stage's SNPs (M' x K); plus the
    supervised rows and the frozen F of a pretrained run."""

    q: list[np.ndarray]
    f: list[np.ndarray]
    fixed: np.ndarray | None = None  # bool N: labelled samples (supervised, head 0)
    fixed_q: np.ndarray | None = None  # their Q
    label_index: np.ndarray | None = None  # N, -1 unknown
    populations: list[str] | None = None
    frozen_f: np.ndarray | None = None  # M x K (pretrained, all SNPs)


def label_assignment(labels) -> tuple[np.ndarray, list[str]]:
    """Column of each sample's population (-1 unknown) and the population names (sorted)."""
    names = known_populations(labels)
    if len(names) < 2:
        raise InputError(
            "supervised training needs at least two populations among the labels; found "
            f"{len(names)}."
        )
    index = {name: column for column, name in enumerate(names)}
    assignment = np.array([-1 if is_unknown(x) else index[str(x)] for x in labels], dtype=np.int64)
    return assignment, names


def initial_state(
    stage_genotypes: Genotypes,
    snps: np.ndarray,
    pca: GenotypePCA,
    ks: list[int],
    labels,
    init_p: np.ndarray | None,
    init: str,
    seed: int,
) -> Start:
    """The start of every head on ``stage_genotypes`` (the cohort restricted to ``snps``, the
    PCA's SNPs)."""
    n = stage_genotypes.n_samples
    if init_p is not None:
        frozen = project_f(np.asarray(init_p, dtype=np.float64))
        q = project_q(least_squares_q(pca, frozen[snps]))
        return Start(q=[q], f=[frozen[snps]], frozen_f=frozen)
    if labels is not None:
        assignment, names = label_assignment(labels)
        k = len(names)
        if list(ks) != [k]:
            raise InputError(
                f"labels name {k} populations ({', '.join(names)}), so a supervised run has "
                f"K={k}; drop --k or set it to that."
            )
        known = assignment >= 0
        q = np.full((n, k), 1.0 / k)
        q[known] = Q_MIN
        q[known, assignment[known]] = 1.0 - (k - 1) * Q_MIN
        f = frequencies_given_q(stage_genotypes, q)
        return Start(
            q=[q],
            f=[f],
            fixed=known if known.any() else None,
            fixed_q=q[known].copy(),
            label_index=assignment,
            populations=names,
        )
    qs, fs = [], []
    for k in ks:
        frequencies, assignment = pckmeans(stage_genotypes, k, pca, seed=seed)
        if init == "pckmeans":
            q = project_q(np.eye(k)[assignment])
        else:
            q, _ = low_rank_als(pca, frequencies)
            q = project_q(q)
        qs.append(q)
        fs.append(frequencies_given_q(stage_genotypes, q))
    return Start(q=qs, f=fs)


def kl_to_targets(logits, targets, weights) -> torch.Tensor:
    """Weighted mean over samples of KL(target || softmax(logits)), the encoder's loss towards
    the refined Q (``targets``) of one head."""
    log_q = torch.log_softmax(logits, dim=1)
    safe = targets.clamp_min(1e-12)
    kl = (targets * (torch.log(safe) - log_q)).sum(dim=1)
    return (weights * kl).sum() / weights.sum().clamp_min(1e-12)


def warm_start_encoder(
    model: NeuralAdmixture,
    inputs,
    targets: list[np.ndarray],
    steps: int,
    learning_rate: float,
    batch_size: int,
    seed: int,
) -> None:
    """Fit the encoder to the starting Q on the PCA inputs (Adam; full batch up to
    ``batch_size`` samples, random minibatches beyond)."""
    if steps <= 0:
        return
    device = inputs.device
    target_tensors = [torch.from_numpy(t.astype(np.float32)).to(device) for t in targets]
    weights = torch.ones(inputs.shape[0], device=device)
    optimiser = Adam([{"params": [p for p in model.parameters() if p.requires_grad]}], lr=0.0)
    generator = torch.Generator().manual_seed(seed)
    n = inputs.shape[0]
    model.train()
    for step in range(steps):
        # Cosine decay from 10x the training rate down to it.
        optimiser.lr = learning_rate * (1.0 + 4.5 * (1.0 + math.cos(math.pi * step / steps)))
        if n <= batch_size:
            x, ts, w = inputs, target_tensors, weights
        else:
            rows = torch.randint(0, n, (batch_size,), generator=generator).to(device)
            x, ts, w = inputs[rows], [t[rows] for t in target_tensors], weights[rows]
        logits = model.logits(x)
        loss = sum(
            kl_to_targets(logit, target, w) for logit, target in zip(logits, ts, strict=True)
        )
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    model.eval()


def parameters_of_encoder(model: NeuralAdmixture):
    """(W1, the rest): W1 carries the weight decay."""
    first = [model.first_layer_weight]
    rest = [p for p in model.parameters() if p is not model.first_layer_weight]
    return first, rest
