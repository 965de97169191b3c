"""Adam (Kingma & Ba 2015) for the encoder, with L2 weight decay per parameter group.

Written out rather than taken from ``torch.optim``: constructing a ``torch.optim`` optimiser
imports torch's compiler stack, which costs more start-up time (1.3 s) than a whole small
training run spends in the optimiser.
"""

from __future__ import annotations

import torch


class Adam:
    """``groups``: dicts with ``params`` (tensors) and ``weight_decay``; one learning rate."""

    def __init__(self, groups: list[dict], lr: float, betas=(0.9, 0.999), eps: float = 1e-8):
        self.groups = [
            {"params": list(g["params"]), "weight_decay": float(g.get("weight_decay", 0.0))}
            for g in groups
        ]
        self.lr = lr
        self.beta1, self.beta2 = betas
        self.eps = eps
        self.steps = 0
        self.state = {
            id(p): (torch.zeros_like(p), torch.zeros_like(p))
            for g in self.groups
            for p in g["params"]
        }

    def zero_grad(self) -> None:
        for g in self.groups:
            for p in g["params"]:
                p.grad = None

    @torch.no_grad()
    def step(self) -> None:
        self.steps += 1
        correction1 = 1.0 - self.beta1**self.steps
        correction2 = 1.0 - self.beta2**self.steps
        for g in self.groups:
            for p in g["params"]:
                if p.grad is None:
                    continue
                grad = p.grad
                if g["weight_decay"]:
                    grad = grad.add(p, alpha=g["weight_decay"])
                m, v = self.state[id(p)]
                m.mul_(self.beta1).add_(grad, alpha=1.0 - self.beta1)
                v.mul_(self.beta2).addcmul_(grad, grad, value=1.0 - self.beta2)
                denominator = (v / correction2).sqrt_().add_(self.eps)
                p.addcdiv_(m, denominator, value=-self.lr / correction1)
