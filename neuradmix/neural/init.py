"""Initialising the network: decoder frequencies and a warm start of the encoder.

Unsupervised runs start the decoders from PCK-Means (refined by low-rank ALS by default; both from
:mod:`neuradmix.classic.starts`), supervised runs from the labelled populations' allele
frequencies, pretrained runs from a given ``.P``. The encoder is then fitted on the cheap PCA inputs
to reproduce the starting Q, so training begins where the decoder initialisation points.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from ..classic.starts import least_squares_q, low_rank_als, pckmeans
from ..data import is_unknown, known_populations
from ..errors import InputError
from ..stats.frequencies import centroid_frequencies
from ..stats.pca import GenotypePCA
from .model import NeuralAdmixture


def label_centroids(
    calls: np.ndarray, labels: np.ndarray
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Supervised initialisation: allele frequencies of each labelled population.

    Returns (frequencies M x K, assignment with -1 for unknown, population names in column order:
    sorted).
    """
    names = known_populations(labels)
    if len(names) < 2:
        raise InputError(
            "supervised training needs at least two populations among the labels; found "
            f"{len(names)}."
        )
    index = {name: column for column, name in enumerate(names)}
    assignment = np.array([-1 if is_unknown(x) else index[str(x)] for x in labels], dtype=np.int64)
    return centroid_frequencies(calls, assignment, len(names)), assignment, names


def soft_targets(q: np.ndarray, mask: np.ndarray | None = None, floor: float = 1e-4):
    """Soft cross-entropy targets from a Q (kept off exact 0/1 so logits stay finite)."""
    soft = (q + floor) / (1.0 + floor * q.shape[1])
    mask = np.ones(q.shape[0], dtype=bool) if mask is None else mask
    return torch.from_numpy(soft.astype(np.float32)), torch.from_numpy(mask)


def initial_decoders(calls, pca: GenotypePCA, ks, labels, init_p, init: str, seed: int):
    """Starting frequencies (one M x K array per head), encoder targets, and, for supervised runs,
    the label index of every sample (-1 unknown) and the population names."""
    n_snps = calls.shape[1]
    if init_p is not None:
        frequencies = np.asarray(init_p, dtype=np.float64)
        if frequencies.shape != (n_snps, ks[0]):
            raise InputError(
                f"--init-p: expected {n_snps} rows x {ks[0]} columns, got "
                f"{frequencies.shape[0]} x {frequencies.shape[1]}."
            )
        return [frequencies], [soft_targets(least_squares_q(pca, frequencies))], None, None
    if labels is not None:
        frequencies, assignment, populations = label_centroids(calls, labels)
        if list(ks) != [len(populations)]:
            raise InputError(
                f"labels name {len(populations)} populations ({', '.join(populations)}), so a "
                f"supervised run has K={len(populations)}; drop --k or set it to that."
            )
        known = assignment >= 0
        target = soft_targets(np.eye(len(populations))[np.where(known, assignment, 0)], known)
        return [frequencies], [target], torch.from_numpy(assignment), populations
    frequencies, targets = [], []
    for k in ks:
        frequencies_k, assignment = pckmeans(calls, k, pca, seed=seed)
        if init == "pckmeans":
            start_q = np.eye(k)[assignment]
        else:
            start_q, frequencies_k = low_rank_als(pca, frequencies_k)
        frequencies.append(frequencies_k)
        targets.append(soft_targets(start_q))
    return frequencies, targets, None, None


def set_decoders(model: NeuralAdmixture, frequencies) -> None:
    with torch.no_grad():
        for weight, freq in zip(model.decoders, frequencies, strict=True):
            weight.copy_(torch.from_numpy(np.clip(freq, 0.0, 1.0).T.astype(np.float32)))


def warm_start_encoder(model, inputs, targets, steps, seed) -> None:
    """Fit the heads to the initial Q on the cheap PCA inputs (no pass over the genotypes).

    Starting the encoder where the decoder initialisation already points saves epochs over the
    full genotype matrix. ``targets`` holds, per head, ``None`` or a pair (soft target N x K, mask
    of the samples that have one).
    """
    if steps <= 0 or all(target is None for target in targets):
        return
    generator = torch.Generator().manual_seed(seed)
    optimiser = torch.optim.Adam(
        [p for n, p in model.named_parameters() if not n.startswith("decoders")], lr=1e-2
    )
    batch = min(256, inputs.shape[0])
    # About 150 passes over the samples, capped: small cohorts need far fewer steps.
    steps = min(steps, max(300, 150 * math.ceil(inputs.shape[0] / batch)))
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, T_max=steps, eta_min=1e-5)
    model.train()
    for _ in range(steps):
        rows = torch.randint(0, inputs.shape[0], (batch,), generator=generator)
        logits = model.logits(inputs[rows])
        loss = 0.0
        for logit, target in zip(logits, targets, strict=True):
            if target is None:
                continue
            soft, mask = target[0][rows], target[1][rows]
            if bool(mask.any()):
                loss = loss + nn.functional.cross_entropy(logit[mask], soft[mask])
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        schedule.step()
