"""The Neural ADMIXTURE network: encoder, one softmax head per K, one linear decoder per head.

Only the ``nn.Module`` lives here; data handling and the training loop are elsewhere.

Encoder input. The paper feeds the batch-normalised genotypes straight into a 512-wide layer, which
costs N x M x 512 multiply-adds per epoch and dominates training. Here the genotypes are first
projected onto their leading principal axes (computed once, stored in the model so new samples are
projected the same way); the batch-normalised projection then goes through the paper's
512-wide ReLU layer and the heads. The decoders keep the full SNP dimension: their weights are F.
"""

from __future__ import annotations

import torch
from torch import nn


class NeuralAdmixture(nn.Module):
    def __init__(
        self,
        n_inputs: int,
        n_snps: int,
        ks: list[int],
        hidden: int = 512,
        frozen_decoders: bool = False,
    ) -> None:
        super().__init__()
        self.ks = [int(k) for k in ks]
        self.input_norm = nn.BatchNorm1d(n_inputs)
        self.hidden = nn.Linear(n_inputs, hidden)
        self.activation = nn.ReLU()
        self.heads = nn.ModuleList(nn.Linear(hidden, k) for k in self.ks)
        # Decoder h is the bias-free linear map Q_h -> Q_h F_h; its weight, stored K x M, is F_h.
        self.decoders = nn.ParameterList(
            nn.Parameter(torch.full((k, n_snps), 0.5), requires_grad=not frozen_decoders)
            for k in self.ks
        )

    @property
    def first_layer_weight(self) -> torch.Tensor:
        """W1 of the paper's Equation 2 (the penalised non-linear layer)."""
        return self.hidden.weight

    def logits(self, inputs: torch.Tensor) -> list[torch.Tensor]:
        shared = self.activation(self.hidden(self.input_norm(inputs)))
        return [head(shared) for head in self.heads]

    def forward(self, inputs: torch.Tensor) -> list[torch.Tensor]:
        """Ancestry proportions Q (one B x K tensor per head, rows on the simplex)."""
        return [torch.softmax(logit, dim=1) for logit in self.logits(inputs)]

    def reconstruct(self, q: torch.Tensor, head: int) -> torch.Tensor:
        """Decoder output Q F for a batch (B x M): the expected genotype / 2."""
        return q @ self.decoders[head]

    @torch.no_grad()
    def project_decoders(self) -> None:
        """Keep every F in [0, 1] (projected gradient descent, as in the paper)."""
        for weight in self.decoders:
            weight.clamp_(0.0, 1.0)
