"""The Neural ADMIXTURE network: a shared encoder layer, one head per K whose softmax is Q, and one
decoder F per head.

Only the ``nn.Module`` lives here; the training loop is :mod:`neuradmix.neural.train`.

Encoder. The first layer is linear in the genotypes: a sample's standardised genotypes (all SNPs)
projected onto the cohort's leading principal axes (:func:`neuradmix.stats.pca.extend_to_all_
snps`; the axes are part of the model and a checkpoint carries them). These
coordinates are the bottleneck every head shares. Head ``h`` reads the leading ``K_h - 1`` of
them (more when ``K_h - 1`` exceeds the axes above the noise, :func:`head_extras`), normalised
by the training cohort's mean and spread, through one ReLU layer (of :func:`head_width` units)
to ``K_h`` logits, and its softmax is that head's Q. Up to the structure a head reads only as
many coordinates as its admixture simplex has dimensions: with more, the network fits the
training samples' noise along the further axes and assigns new samples worse (measured on a
2,000 x 100,000 coalescent cohort, K=4: held-out Q 0.008 from the projection optimum with 3
coordinates, 0.05 with 8).

Decoder. Decoder h maps Q_h to Q_h F_h (the expected genotype / 2); its weight F_h (SNPs x K, the
``.P`` orientation) is a double-precision buffer, updated by exact Newton steps per SNP given Q
rather than by gradient steps (see :mod:`neuradmix.neural.train`).

The encoder computes in double precision: its weights are a few thousand numbers, and Q near
the edge of the simplex (1e-5) needs more than single precision's seven digits.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

DTYPE = torch.float64
# Extra coordinates per dimension of a head's simplex above the structure (see head_extras).
# Chosen on a K=2..8 model of a 1,600 x 100,000 coalescent cohort (3 axes above the noise;
# largest head gap 1.9e-4 with 0, 1.2e-4 with 2, 7.9e-5 with 3 per dimension) and single K=4, 5
# models of a 1,000 x 15,619 cohort of three stdpopsim sources and their mosaics, two seeds
# (K=5: 2.6-2.8e-4 with 0, 0.9e-4 with 1, 0.7-1.1e-4 with 2, 5.8-5.9e-5 with 3).
EXTRA_ABOVE_STRUCTURE = 3


def head_inputs(k: int, n_coordinates: int, extra: int = 0) -> int:
    """Coordinates head K reads: the simplex's K - 1 dimensions and ``extra`` more, as many as
    there are (:func:`head_extras` chooses ``extra``)."""
    return max(1, min(k - 1 + extra, n_coordinates))


def head_extras(ks: list[int], extra: int | None, structure: int) -> list[int]:
    """Coordinates each head reads beyond its K - 1: ``extra`` for every head when given, else
    (``None``, the default) none for a head whose K - 1 axes lie within the ``structure``
    principal axes above the noise edge (:func:`neuradmix.stats.pca.axes_above_noise`), and
    ``EXTRA_ABOVE_STRUCTURE`` x (K - 1 - structure) for a head above it.

    Extra coordinates trade the fit of the training samples against the assignment of new ones.
    At a K above the structure the leading axes resolve, the maximum-likelihood Q also uses
    directions beyond the leading K - 1: on a 1,000 x 15,619 cohort of three stdpopsim sources
    and their mosaics (2 axes above the noise), K=5, the forward pass ends 2.8e-4 below the
    optimum with 0 extra, 1.6e-4 with 2, 6.5e-5 with 4 and 5.4e-5 with 8. Where the further axes
    are noise and K - 1 of them carry the structure, the network fits the training samples'
    noise along them: on the 2,000 x 100,000 coalescent cohort (3 axes above the noise), K=4,
    the held-out Q moves from 0.0077 (0 extra) to 0.011 (4) and 0.026 (8) away from the
    projection optimum, while the training fit barely changes (2.7e-5, 2.4e-5, 2.4e-5)."""
    if extra is not None:
        return [int(extra) for _ in ks]
    return [EXTRA_ABOVE_STRUCTURE * max(0, k - 1 - structure) for k in ks]


def axes_to_fit(ks: list[int], extra: int | None) -> int:
    """Principal axes the encoder's PCA fits: enough to count the structure up to the largest
    K - 1 and to feed the widest head :func:`head_extras` can give, which is its width when no
    axis rises above the noise (at least 2)."""
    widths = [k - 1 + e for k, e in zip(ks, head_extras(ks, extra, structure=0), strict=True)]
    return max(*widths, 2)


def head_width(k: int, hidden: int | None = None) -> int:
    """ReLU units of head K: ``hidden`` if given, else 4 K^2 (at least 32). The map from a
    sample's coordinates to its Q has a piece for every face of the K-simplex, so larger K need
    wider heads: fitted to the maximum-likelihood Q of a 1,600 x 100,000 coalescent cohort, a
    K=8 head of 64 units stays 9e-4 below the optimum, of 256 units 4e-5; at K=4, 64 units fit
    as well as 128 or 256."""
    return int(hidden) if hidden else max(32, 4 * k * k)


class _Head(nn.Module):
    def __init__(self, n_inputs: int, hidden: int, k: int) -> None:
        super().__init__()
        self.n_inputs = n_inputs
        self.hidden = nn.Linear(n_inputs, hidden, dtype=DTYPE)
        self.output = nn.Linear(hidden, k, dtype=DTYPE)

    def forward(self, coordinates: torch.Tensor) -> torch.Tensor:
        return self.output(torch.relu(self.hidden(coordinates[:, : self.n_inputs])))

    @torch.no_grad()
    def backpropagate(self, coordinates: torch.Tensor, logit_loss) -> tuple[float, list]:
        """A loss of the logits and its gradient in this head's weights, back-propagated by
        hand: the same numbers as autograd on :meth:`forward` at a fifth of the cost, which
        matters because L-BFGS evaluates it dozens of times per epoch. ``logit_loss(logits)``
        returns (loss, d loss / d logits); the gradients come in ``parameters()`` order."""
        x = coordinates[:, : self.n_inputs]
        before = torch.addmm(self.hidden.bias, x, self.hidden.weight.T)
        active = torch.relu(before)
        logits = torch.addmm(self.output.bias, active, self.output.weight.T)
        value, d_logits = logit_loss(logits)
        d_active = (d_logits @ self.output.weight) * (before > 0)
        return value, [d_active.T @ x, d_active.sum(dim=0), d_logits.T @ active, d_logits.sum(0)]


class NeuralAdmixture(nn.Module):
    def __init__(
        self,
        n_coordinates: int,
        n_snps: int,
        ks: list[int],
        hidden: int | None = None,
        extras: list[int] | None = None,
    ) -> None:
        super().__init__()
        self.ks = [int(k) for k in ks]
        self.n_coordinates = int(n_coordinates)
        # The coordinates' normalisation: the training cohort's, set once and kept.
        self.register_buffer("input_mean", torch.zeros(n_coordinates, dtype=DTYPE))
        self.register_buffer("input_scale", torch.ones(n_coordinates, dtype=DTYPE))
        extras = extras or [0] * len(self.ks)
        self.heads = nn.ModuleList(
            _Head(head_inputs(k, n_coordinates, extra), head_width(k, hidden), k)
            for k, extra in zip(self.ks, extras, strict=True)
        )
        for h, k in enumerate(self.ks):
            self.register_buffer(f"decoder_{h}", torch.full((n_snps, k), 0.5, dtype=DTYPE))

    @torch.no_grad()
    def set_input_statistics(self, coordinates: torch.Tensor) -> None:
        self.input_mean.copy_(coordinates.mean(dim=0))
        self.input_scale.copy_(coordinates.std(dim=0, unbiased=False).clamp_min(1e-12))

    def logits(self, coordinates: torch.Tensor) -> list[torch.Tensor]:
        normalised = (coordinates.to(DTYPE) - self.input_mean) / self.input_scale
        return [head(normalised) for head in self.heads]

    def forward(self, coordinates: torch.Tensor) -> list[torch.Tensor]:
        """Q of every head (one B x K tensor each, rows on the simplex) from the samples'
        principal coordinates."""
        return [torch.softmax(logit, dim=1) for logit in self.logits(coordinates)]

    def frequencies(self, head: int) -> np.ndarray:
        """F of a head (SNPs x K, float64)."""
        return getattr(self, f"decoder_{head}").detach().cpu().numpy()

    @torch.no_grad()
    def set_frequencies(self, head: int, f) -> None:
        target = getattr(self, f"decoder_{head}")
        target.copy_(torch.as_tensor(np.asarray(f, dtype=np.float64), device=target.device))

    def reconstruct(self, q: torch.Tensor, head: int) -> torch.Tensor:
        """Decoder output Q F (B x M): the expected genotype / 2."""
        return q.to(DTYPE) @ getattr(self, f"decoder_{head}").T


@torch.no_grad()
def encode(model: NeuralAdmixture, coordinates: torch.Tensor, batch: int = 65536) -> list:
    """The forward pass: Q of every sample for every head (float64 numpy, rows summing to 1)."""
    model.eval()
    parts: list[list[np.ndarray]] = [[] for _ in model.ks]
    for start in range(0, coordinates.shape[0], batch):
        for h, q in enumerate(model(coordinates[start : start + batch])):
            parts[h].append(q.cpu().numpy())
    return [
        np.concatenate(parts[h]) if parts[h] else np.zeros((0, k)) for h, k in enumerate(model.ks)
    ]
