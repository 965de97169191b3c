"""Training Neural ADMIXTURE: initialisation, the minibatch loop, early stopping, the results.

The objective per head is Equation 2 of the paper, ``sum_ij BCE(g_ij / 2, (Q F)_ij) + lambda
||W1||^2`` (summed over heads, Equation 4), plus ``eta`` times the cross-entropy of Q against the
labels of labelled samples in supervised and semi-supervised runs (Equation 5). Each minibatch
estimates it scaled by ``1 / (observed calls)`` so that learning rates do not depend on cohort size.
"""

from __future__ import annotations

import copy
import math
import sys
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from torch import nn
from tqdm.auto import tqdm

from .devices import select_device
from .em_kernels import observed_per_sample
from .errors import InputError
from .hyperparameters import TrainConfig
from .init import label_centroids, least_squares_q, low_rank_als, pckmeans
from .io import Genotypes
from .kernels import set_threads
from .model import NeuralAdmixture
from .objective import reconstruction_loss
from .pca import GenotypePCA, fit_pca


@dataclass
class TrainResult:
    model: NeuralAdmixture
    pca: GenotypePCA
    config: TrainConfig
    q: dict[int, np.ndarray]
    p: dict[int, np.ndarray]
    history: pd.DataFrame
    populations: list[str] | None
    snps: pd.DataFrame
    seconds: float
    epochs_run: int
    best_epoch: int


def _check_inputs(genotypes: Genotypes, config: TrainConfig, labels, init_p) -> None:
    n, m = genotypes.calls.shape
    if n < 2 or m < 2:
        raise InputError(
            f"{genotypes.source}: {n} samples x {m} SNPs; training needs at least 2 of each."
        )
    if not config.ks or min(config.ks) < 2:
        raise InputError("K must be at least 2 (--k, or --min-k/--max-k).")
    if max(config.ks) > n:
        raise InputError(
            f"{genotypes.source}: K={max(config.ks)} is larger than the number of samples ({n}); "
            "choose K no larger than the number of samples."
        )
    if init_p is not None and len(config.ks) != 1:
        raise InputError("--init-p gives one decoder: use it with a single --k.")
    if labels is not None and len(labels) != n:
        raise InputError(f"labels: {len(labels)} entries for {n} samples.")


def _seed_everything(seed: int) -> np.random.Generator:
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)
    return np.random.default_rng(seed)


def _warm_start_encoder(model, inputs, targets, steps, seed) -> None:
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


def _soft_targets(q: np.ndarray, mask: np.ndarray | None = None, floor: float = 1e-4):
    """Soft cross-entropy targets from a Q (kept off exact 0/1 so logits stay finite)."""
    soft = (q + floor) / (1.0 + floor * q.shape[1])
    mask = np.ones(q.shape[0], dtype=bool) if mask is None else mask
    return torch.from_numpy(soft.astype(np.float32)), torch.from_numpy(mask)


def train(
    genotypes: Genotypes,
    config: TrainConfig,
    labels: np.ndarray | None = None,
    init_p: np.ndarray | None = None,
    progress: bool = True,
    log=None,
    on_epoch=None,
) -> TrainResult:
    """Fit a (multi-head) Neural ADMIXTURE model; see :class:`TrainConfig` for the knobs.

    ``labels`` (one per sample, ``""`` for unknown) makes the run supervised or semi-supervised:
    one head with one column per population, in sorted order. ``init_p`` (M x K, a ``.P``) makes it
    pretrained: the decoder is set to it and frozen, only the encoder learns.
    """
    log = log or (lambda message: print(message, file=sys.stderr))
    started = time.perf_counter()
    _check_inputs(genotypes, config, labels, init_p)
    set_threads(config.threads)
    rng = _seed_everything(config.seed)
    device = select_device(config.device)
    calls = genotypes.calls
    n_samples, n_snps = calls.shape
    populations = None

    # Principal axes of the training genotypes: the encoder's input and PCK-Means' space.
    components = min(config.n_components, n_samples - 1, n_snps)
    pca = fit_pca(calls, components, seed=config.seed)
    inputs = torch.from_numpy(pca.scores)

    n_validation = int(round(config.validation_fraction * n_samples)) if n_samples >= 20 else 0
    order = rng.permutation(n_samples)
    validation_rows = np.sort(order[:n_validation])
    training_rows = np.sort(order[n_validation:])

    model = NeuralAdmixture(
        components, n_snps, config.ks, hidden=config.hidden, frozen_decoders=init_p is not None
    )
    targets: list[torch.Tensor | None] = []
    label_index = None
    if init_p is not None:
        frequencies = [np.asarray(init_p, dtype=np.float64)]
        if frequencies[0].shape != (n_snps, config.ks[0]):
            raise InputError(
                f"--init-p: expected {n_snps} rows x {config.ks[0]} columns, got "
                f"{frequencies[0].shape[0]} x {frequencies[0].shape[1]}."
            )
        targets.append(_soft_targets(least_squares_q(pca, frequencies[0])))
    elif labels is not None:
        frequencies_k, assignment, populations = label_centroids(calls, labels)
        if config.ks != [len(populations)]:
            raise InputError(
                f"labels name {len(populations)} populations ({', '.join(populations)}), so a "
                f"supervised run has K={len(populations)}; drop --k or set it to that."
            )
        frequencies = [frequencies_k]
        label_index = torch.from_numpy(assignment)
        known = assignment >= 0
        targets.append(
            _soft_targets(np.eye(len(populations))[np.where(known, assignment, 0)], known)
        )
    else:
        frequencies = []
        for k in config.ks:
            frequencies_k, assignment = pckmeans(calls, k, pca, seed=config.seed)
            if config.init == "pckmeans":
                start_q = np.eye(k)[assignment]
            else:
                start_q, frequencies_k = low_rank_als(pca, frequencies_k)
            frequencies.append(frequencies_k)
            targets.append(_soft_targets(start_q))
    with torch.no_grad():
        for weight, freq in zip(model.decoders, frequencies, strict=True):
            weight.copy_(torch.from_numpy(np.clip(freq, 0.0, 1.0).T.astype(np.float32)))
    _warm_start_encoder(model, inputs, targets, config.warm_start_steps, config.seed)
    model.to(device)

    # Genotypes: numpy for the fused CPU kernel, a device tensor for the torch path.
    fused = config.backend == "fused" or (config.backend == "auto" and device.type == "cpu")
    if fused and device.type != "cpu":
        raise InputError("the fused loss kernel runs on the CPU; use --device cpu with it.")
    loss_calls = calls if fused else torch.from_numpy(calls).to(device)
    observed = observed_per_sample(calls)
    inputs = inputs.to(device)
    if label_index is not None:
        label_index = label_index.to(device)
    penalty_scale = config.l2_penalty / max(observed[training_rows].sum(), 1.0)

    encoder_params = [p for n, p in model.named_parameters() if not n.startswith("decoders")]
    groups = [{"params": encoder_params, "lr": config.learning_rate}]
    if init_p is None:
        groups.append({"params": list(model.decoders), "lr": config.decoder_learning_rate})
    optimiser = torch.optim.Adam(groups)
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
        optimiser, factor=0.5, patience=1, threshold=config.tolerance
    )

    def row_tensor(rows):
        return rows if fused else torch.from_numpy(rows).to(device)

    def batch_objective(rows, want_loss):
        qs = model(inputs[torch.from_numpy(rows).to(device)])
        losses = [
            reconstruction_loss(q, f_t, loss_calls, row_tensor(rows), want_loss)
            for q, f_t in zip(qs, model.decoders, strict=True)
        ]
        scale = 1.0 / max(observed[rows].sum(), 1.0)
        total = sum(loss.to(torch.float32) for loss in losses) * scale
        total = total + penalty_scale * model.first_layer_weight.pow(2).sum()
        if label_index is not None:
            known = label_index[torch.from_numpy(rows).to(device)]
            mask = known >= 0
            if bool(mask.any()):
                log_q = torch.log(qs[0][mask].clamp_min(1e-12))
                total = total + config.supervised_weight * nn.functional.nll_loss(
                    log_q, known[mask]
                )
        return total, [float(loss.detach()) * scale for loss in losses]

    @torch.no_grad()
    def evaluate(rows):
        model.eval()
        values = np.zeros(len(config.ks))
        for start in range(0, len(rows), 4096):
            chunk = rows[start : start + 4096]
            qs = model(inputs[torch.from_numpy(chunk).to(device)])
            for h, (q, f_t) in enumerate(zip(qs, model.decoders, strict=True)):
                values[h] += float(reconstruction_loss(q, f_t, loss_calls, row_tensor(chunk)))
        return values / max(observed[rows].sum(), 1.0)

    history = []
    best = (math.inf, copy.deepcopy(model.state_dict()), 0)  # (loss, state to restore, epoch)
    stale = 0
    epoch_bar = tqdm(
        range(1, config.epochs + 1),
        desc="training",
        unit="epoch",
        disable=not progress,
        file=sys.stderr,
        dynamic_ncols=True,
    )
    # Small cohorts get smaller batches (at least 8 optimiser steps per epoch, batches of 16 or
    # more): an epoch costs one pass over the genotypes whatever the batch size.
    batch = max(1, min(config.batch_size, len(training_rows), max(16, len(training_rows) // 8)))
    epoch = 0
    use_validation = config.stop_on == "validation" and n_validation > 0
    for epoch in epoch_bar:
        tick = time.perf_counter()
        model.train()
        shuffled = training_rows[rng.permutation(len(training_rows))]
        train_sums = np.zeros(len(config.ks))
        n_batches = max(1, len(shuffled) // batch)
        for b in range(n_batches):
            # The last batch absorbs the remainder so BatchNorm never sees a batch of one.
            rows = np.sort(shuffled[b * batch : (b + 1) * batch if b < n_batches - 1 else None])
            total, per_head = batch_objective(rows, want_loss=True)
            optimiser.zero_grad(set_to_none=True)
            total.backward()
            optimiser.step()
            model.project_decoders()
            train_sums += np.array(per_head) * observed[rows].sum()
        train_loss = train_sums / max(observed[training_rows].sum(), 1.0)
        validation_loss = evaluate(validation_rows) if n_validation else train_loss
        monitored = float(validation_loss.sum() if use_validation else train_loss.sum())
        scheduler.step(monitored)
        seconds = time.perf_counter() - tick
        row = {
            "epoch": epoch,
            "train_loss": float(train_loss.sum()),
            "val_loss": float(validation_loss.sum()) if n_validation else float("nan"),
            "seconds": seconds,
            "learning_rate": optimiser.param_groups[0]["lr"],
        }
        if len(config.ks) > 1:
            for h, k in enumerate(config.ks):
                row[f"train_loss_k{k}"] = float(train_loss[h])
                if n_validation:
                    row[f"val_loss_k{k}"] = float(validation_loss[h])
        history.append(row)
        if on_epoch is not None:
            on_epoch(row, model, inputs)
        epoch_bar.set_postfix(loss=f"{row['train_loss']:.5f}", val=f"{row['val_loss']:.5f}")
        if monitored < best[0] * (1.0 - config.tolerance):
            best = (monitored, copy.deepcopy(model.state_dict()) if use_validation else None, epoch)
            stale = 0
        else:
            stale += 1
            if stale >= config.patience:
                log(f"early stop at epoch {epoch}: no improvement for {stale} epochs")
                break
    epoch_bar.close()
    if use_validation:
        # Classic early stopping: go back to the state that generalised best.
        model.load_state_dict(best[1])
    else:
        # Converged on the training loss: the last state, reached with the smallest learning rate,
        # is kept. The epoch minimum of a running training loss is within its noise and picking it
        # measured worse (RMSE(Q) 0.0093 at the minimum, 0.0085 at the end, 2000 x 100k).
        best = (best[0], None, epoch)
    model.eval()
    q = predict(model, inputs, config.ks)
    p = {
        k: model.decoders[h].detach().cpu().numpy().T.astype(np.float64)
        for h, k in enumerate(config.ks)
    }
    return TrainResult(
        model=model.cpu(),
        pca=pca,
        config=config,
        q=q,
        p=p,
        history=pd.DataFrame(history),
        populations=populations,
        snps=genotypes.variants,
        seconds=time.perf_counter() - started,
        epochs_run=epoch,
        best_epoch=best[2],
    )


@torch.no_grad()
def predict(model: NeuralAdmixture, inputs: torch.Tensor, ks: list[int]) -> dict[int, np.ndarray]:
    """Q of every sample for every head, in batches (one forward pass)."""
    model.eval()
    parts: list[list[np.ndarray]] = [[] for _ in ks]
    for start in range(0, inputs.shape[0], 4096):
        for h, q in enumerate(model(inputs[start : start + 4096])):
            parts[h].append(q.cpu().double().numpy())
    result = {}
    for h, k in enumerate(ks):
        q = np.concatenate(parts[h])
        result[k] = q / q.sum(axis=1, keepdims=True)
    return result
