"""L-BFGS (Nocedal 1980) with a backtracking Armijo line search, for the encoder's weights.

The encoder's objective in an epoch is a smooth function of a few thousand weights evaluated on
every sample at once (the second-order model of the log-likelihood, see
:mod:`neuradmix.neural.train`), where a quasi-Newton method takes far fewer steps than a
first-order one. Written out rather than taken from ``torch.optim``: constructing a ``torch.optim``
optimiser imports torch's compiler stack, which costs more start-up time (1.3 s) than a small
training run spends in the optimiser.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

# Armijo's sufficient-decrease constant and the most halvings of a step.
_ARMIJO = 1e-4
_HALVINGS = 30


def _flat(tensors) -> torch.Tensor:
    return torch.cat([t.reshape(-1) for t in tensors])


def by_autograd(params: list[torch.Tensor], objective: Callable[[], torch.Tensor]):
    """``value_and_gradient`` for :func:`minimise` from a scalar tensor built from ``params``."""

    def value_and_gradient() -> tuple[float, list[torch.Tensor]]:
        value = objective()
        return float(value.detach()), list(torch.autograd.grad(value, params))

    return value_and_gradient


def minimise(
    params: list[torch.Tensor],
    value_and_gradient: Callable[[], tuple[float, list[torch.Tensor]]],
    iterations: int,
    memory: int = 20,
) -> float:
    """Minimise a function of ``params`` with at most ``iterations`` L-BFGS steps;
    ``value_and_gradient()`` returns its value at the current ``params`` and the gradient, one
    tensor per parameter. ``params`` are left at the best point found. Returns the final value.
    Deterministic: no randomness, and every step lowers the objective."""

    def evaluate(point: torch.Tensor) -> tuple[float, torch.Tensor]:
        _put(params, point)
        value, grads = value_and_gradient()
        return value, _flat(grads)

    x = _flat([p.detach() for p in params]).clone()
    value, grad = evaluate(x)
    steps: list[torch.Tensor] = []
    changes: list[torch.Tensor] = []
    curvatures: list[float] = []
    for _ in range(iterations):
        direction = _two_loop(grad, steps, changes, curvatures)
        slope = float(grad @ direction)
        if not slope < 0:  # not a descent direction: restart from the gradient
            steps, changes, curvatures = [], [], []
            direction = -grad / max(float(grad.abs().max()), 1e-300)
            slope = float(grad @ direction)
            if not slope < 0:
                break
        length = 1.0
        for _ in range(_HALVINGS):
            candidate = x + length * direction
            new_value, new_grad = evaluate(candidate)
            if new_value <= value + _ARMIJO * length * slope:
                break
            length *= 0.5
        else:
            break  # no decrease along this direction: x is as good as this search gets
        step, change = candidate - x, new_grad - grad
        curvature = float(step @ change)
        if curvature > 1e-300:
            steps.append(step)
            changes.append(change)
            curvatures.append(curvature)
            if len(steps) > memory:
                steps.pop(0), changes.pop(0), curvatures.pop(0)
        improved = value - new_value
        x, value, grad = candidate, new_value, new_grad
        if improved <= 1e-15 * max(abs(value), 1e-300):
            break
    _put(params, x)
    return value


def _two_loop(grad, steps, changes, curvatures) -> torch.Tensor:
    """The L-BFGS direction -H grad from the stored pairs (two-loop recursion)."""
    q = grad.clone()
    alphas = []
    for s, y, sy in zip(reversed(steps), reversed(changes), reversed(curvatures), strict=True):
        alpha = float(s @ q) / sy
        alphas.append(alpha)
        q -= alpha * y
    if steps:
        q *= curvatures[-1] / float(changes[-1] @ changes[-1])
    else:
        q /= max(float(grad.abs().max()), 1e-300)  # a first step of unit length
    for (s, y, sy), alpha in zip(
        zip(steps, changes, curvatures, strict=True), reversed(alphas), strict=True
    ):
        beta = float(y @ q) / sy
        q += (alpha - beta) * s
    return -q


@torch.no_grad()
def _put(params: list[torch.Tensor], point: torch.Tensor) -> None:
    offset = 0
    for p in params:
        size = p.numel()
        p.copy_(point[offset : offset + size].view_as(p))
        offset += size
