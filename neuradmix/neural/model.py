"""The Neural ADMIXTURE network: encoder, one softmax head per K, one decoder F per head.

Only the ``nn.Module`` lives here; the training loop is :mod:`neuradmix.neural.train` and the
refinement of Q given F :mod:`neuradmix.neural.refine`.

Encoder input. The paper feeds the batch-normalised genotypes straight into a 512-wide layer, which
costs N x M x 512 multiply-adds per pass and dominates training. Here the genotypes are first
projected onto their leading principal axes, computed once on common SNPs and stored with the
model so that new samples are projected the same way; the batch-normalised projection then goes
through the paper's 512-wide ReLU layer and the heads.

Decoder. Decoder h maps Q_h to Q_h F_h (the expected genotype / 2); its weight F_h (SNPs x K, the
``.P`` orientation) is kept in double precision as a buffer, because training updates it by exact
Newton steps per SNP rather than by gradient steps (see :mod:`neuradmix.neural.train`).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn


class NeuralAdmixture(nn.Module):
    def __init__(self, n_inputs: int, n_snps: int, ks: list[int], hidden: int = 512) -> None:
        super().__init__()
        self.ks = [int(k) for k in ks]
        # The inputs are fixed (the samples' PCA coordinates), so the normalisation uses the
        # cohort's statistics, set once by set_input_statistics and never updated (momentum 0).
        self.input_norm = nn.BatchNorm1d(n_inputs, momentum=0.0)
        self.hidden = nn.Linear(n_inputs, hidden)
        self.activation = nn.ReLU()
        self.heads = nn.ModuleList(nn.Linear(hidden, k) for k in self.ks)
        for h, k in enumerate(self.ks):
            self.register_buffer(f"decoder_{h}", torch.full((n_snps, k), 0.5, dtype=torch.float64))

    @property
    def first_layer_weight(self) -> torch.Tensor:
        """W1 of the paper's Equation 2 (the first non-linear layer)."""
        return self.hidden.weight

    @torch.no_grad()
    def set_input_statistics(self, inputs: torch.Tensor) -> None:
        self.input_norm.running_mean.copy_(inputs.mean(dim=0))
        self.input_norm.running_var.copy_(inputs.var(dim=0, unbiased=False).clamp_min(1e-12))

    def logits(self, inputs: torch.Tensor) -> list[torch.Tensor]:
        # Eval-mode normalisation always: the cohort's statistics, whatever the batch.
        normalised = nn.functional.batch_norm(
            inputs,
            self.input_norm.running_mean,
            self.input_norm.running_var,
            self.input_norm.weight,
            self.input_norm.bias,
            training=False,
            eps=self.input_norm.eps,
        )
        shared = self.activation(self.hidden(normalised))
        return [head(shared) for head in self.heads]

    def forward(self, inputs: torch.Tensor) -> list[torch.Tensor]:
        """The encoder's ancestry proportions (one B x K tensor per head, rows on the simplex)."""
        return [torch.softmax(logit, dim=1) for logit in self.logits(inputs)]

    def frequencies(self, head: int) -> np.ndarray:
        """F of a head (SNPs x K, float64)."""
        return getattr(self, f"decoder_{head}").detach().cpu().numpy()

    @torch.no_grad()
    def set_frequencies(self, head: int, f: np.ndarray) -> None:
        getattr(self, f"decoder_{head}").copy_(torch.from_numpy(np.asarray(f, dtype=np.float64)))

    def reconstruct(self, q: torch.Tensor, head: int) -> torch.Tensor:
        """Decoder output Q F (B x M): the expected genotype / 2."""
        return q.to(torch.float64) @ getattr(self, f"decoder_{head}").T


@torch.no_grad()
def encode(model: NeuralAdmixture, inputs: torch.Tensor, batch: int = 65536) -> list[np.ndarray]:
    """The encoder's Q of every sample for every head (float64, rows summing to 1)."""
    model.eval()
    parts: list[list[np.ndarray]] = [[] for _ in model.ks]
    for start in range(0, inputs.shape[0], batch):
        for h, q in enumerate(model(inputs[start : start + batch])):
            parts[h].append(q.cpu().double().numpy())
    result = []
    for h in range(len(model.ks)):
        q = np.concatenate(parts[h]) if parts[h] else np.zeros((0, model.ks[h]))
        result.append(q / q.sum(axis=1, keepdims=True))
    return result
