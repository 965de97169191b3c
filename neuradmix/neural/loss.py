"""The reconstruction loss of Equation 2 (binary cross-entropy of genotype/2 against Q F).

Over N x M genotypes with a small K, a dense formulation is memory-bound: converting genotypes to
float, masking missing calls and taking logarithms as separate operations costs many passes. So the
loss and its analytic gradients are computed together, reading each genotype once:

* ``fused`` (CPU): the numba kernel in :mod:`neuradmix.neural.loss_kernels`;
* ``torch`` (CUDA, MPS, or CPU for testing): the same maths in SNP blocks with torch operations.

Both plug into autograd through :class:`BinomialReconstructionLoss`, so Q's gradient flows back
into the encoder and F's into the decoder weights. The value and gradients are sums over observed
calls; missing calls contribute nothing.
"""

from __future__ import annotations

import numpy as np
import torch

from ..data import MISSING
from .loss_kernels import bce_and_gradients

EPS = 1e-6
_TORCH_BLOCK = 16384


def _torch_bce_and_gradients(calls, rows, q, f_t, want_loss):
    """Same contract as :func:`kernels.bce_and_gradients`, with torch tensors on any device."""
    grad_q = torch.zeros_like(q)
    grad_f_t = torch.zeros_like(f_t)
    # MPS has no float64; elsewhere the sums are accumulated in double precision.
    total_dtype = torch.float32 if q.device.type == "mps" else torch.float64
    loss = torch.zeros((), dtype=total_dtype, device=q.device)
    observed = torch.zeros((), dtype=total_dtype, device=q.device)
    batch = calls.index_select(0, rows)
    for start in range(0, f_t.shape[1], _TORCH_BLOCK):
        stop = min(start + _TORCH_BLOCK, f_t.shape[1])
        genotypes = batch[:, start:stop]
        mask = genotypes != MISSING
        target = genotypes.to(q.dtype) * 0.5
        prob = (q @ f_t[:, start:stop]).clamp(EPS, 1.0 - EPS)
        slope = torch.where(mask, (prob - target) / (prob * (1.0 - prob)), 0.0)
        grad_q += slope @ f_t[:, start:stop].T
        grad_f_t[:, start:stop] = q.T @ slope
        if want_loss:
            bce = -(target * torch.log(prob) + (1.0 - target) * torch.log1p(-prob))
            loss += torch.where(mask, bce, 0.0).sum(dtype=total_dtype)
            observed += mask.sum()
    return loss, observed, grad_q, grad_f_t


class BinomialReconstructionLoss(torch.autograd.Function):
    """Sum over the batch's observed calls of BCE(genotype / 2, Q F); backend chosen by inputs."""

    @staticmethod
    def forward(ctx, q, f_t, calls, rows, want_loss):
        if isinstance(calls, np.ndarray):
            loss, _, grad_q, grad_f_t = bce_and_gradients(
                calls, rows, q.detach().numpy(), f_t.detach().numpy(), EPS, want_loss
            )
            grad_q = torch.from_numpy(grad_q).to(q.dtype)
            grad_f_t = torch.from_numpy(grad_f_t).to(f_t.dtype)
            value = torch.tensor(loss, dtype=torch.float64)
        else:
            value, _, grad_q, grad_f_t = _torch_bce_and_gradients(
                calls, rows, q.detach(), f_t.detach(), want_loss
            )
        ctx.save_for_backward(grad_q, grad_f_t)
        return value

    @staticmethod
    def backward(ctx, grad_output):
        grad_q, grad_f_t = ctx.saved_tensors
        scale = grad_output.to(grad_q.dtype)
        return grad_q * scale, grad_f_t * scale, None, None, None


def reconstruction_loss(q, f_t, calls, rows, want_loss=True) -> torch.Tensor:
    """Summed BCE of the batch ``rows`` of ``calls`` (numpy: fused CPU kernel; tensor: torch)."""
    return BinomialReconstructionLoss.apply(q, f_t, calls, rows, want_loss)
