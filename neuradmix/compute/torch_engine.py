"""The compute engine on torch tensors, for CUDA (and runnable on the CPU).

Same maths as :mod:`neuradmix.compute.kernels`: the packed genotypes are decoded block by block
of SNPs, so only a block of float intermediates exists beside them; the per-SNP and per-sample
Newton steps are the same exact small QPs, solved in batches by a vectorised primal active-set
method. Sums run in float64. torch is imported only here, so a fit on the CPU never loads it.

The packed genotypes (N x M / 4 bytes) are copied to the device once when they take at most
half of its free memory. A larger cohort stays in host memory and each pass copies one block of
SNPs' bytes at a time to the device: a GPU then trains any cohort the host can hold, at
the cost of moving N x M / 4 bytes over the bus per pass.
"""

from __future__ import annotations

import numpy as np
import torch

from ..data import Genotypes
from ..data.genotypes import CODE_TO_COUNT
from ..runtime import select_device
from .bounds import F_MAX, F_MIN, PROBABILITY_FLOOR, Q_MIN
from .engine import Engine
from .kernels import fold_mask

# Bytes of one float64 intermediate of a block of SNPs on the CPU (more on a GPU: TorchEngine).
_BLOCK_BYTES = 8_000_000


class TorchEngine(Engine):
    """The passes of :class:`neuradmix.compute.numba_engine.NumbaEngine` on a torch device."""

    def __init__(
        self,
        genotypes: Genotypes,
        device: str | None = "auto",
        weights: np.ndarray | None = None,
        holdout: tuple[int, int, int] | None = None,
        resident: bool | None = None,
    ):
        """``resident``: copy the packed genotypes to the device once (True) or keep them on the
        host and copy a block per pass (False); None decides by the device's free memory."""
        self.device = select_device(device, allow_mps=False)
        self.n = genotypes.n_samples
        self.m = genotypes.n_snps
        packed = torch.from_numpy(np.ascontiguousarray(genotypes.packed))
        free = torch.cuda.mem_get_info(self.device)[0] if self.device.type == "cuda" else None
        if resident is None:
            resident = free is None or packed.numel() <= free // 2
        self.resident = resident
        # Kept on the host, the bytes are not pinned: pinning copies them, which would double
        # the host memory of a cohort too large for the device.
        self.packed = packed.to(self.device) if resident else packed
        self.lut = torch.from_numpy(CODE_TO_COUNT.astype(np.int64)).to(self.device)
        self.shifts = torch.tensor([0, 2, 4, 6], dtype=torch.uint8, device=self.device)
        self.weights = (
            None
            if weights is None
            else torch.as_tensor(np.asarray(weights, dtype=np.float64), device=self.device)
        )
        self.holdout = holdout
        block_bytes = _BLOCK_BYTES
        if self.device.type == "cuda":
            # On a GPU, blocks of SNPs as large as a sixteenth of the free memory allows per
            # float64 intermediate, so that a pass over a large cohort launches few kernels.
            free, _ = torch.cuda.mem_get_info(self.device)
            block_bytes = max(block_bytes, free // 16)
        self.block = max(1, min(self.m, block_bytes // max(self.n * 8, 1)))
        self.passes = 0

    # -- decoding -------------------------------------------------------------------------

    def _counts(self, start: int, stop: int) -> torch.Tensor:
        """Counts of SNPs start..stop-1 as a (SNPs x N) float64 tensor, NaN where missing (or
        held out)."""
        rows = self.packed[start:stop]
        if not self.resident:
            rows = rows.to(self.device)
        codes = (rows.unsqueeze(-1) >> self.shifts) & 3
        counts = self.lut[codes.reshape(stop - start, -1)[:, : self.n].long()]
        values = counts.to(torch.float64)
        missing = counts == 3
        if self.holdout is not None and self.holdout[1] > 0:
            missing |= self._held_out(start, stop)
        return torch.where(missing, torch.nan, values)

    def _held_out(self, start: int, stop: int) -> torch.Tensor:
        seed, folds, fold = self.holdout
        mask = np.empty((stop - start, self.n), dtype=np.bool_)
        fold_mask(seed, folds, fold, start, mask)
        return torch.from_numpy(mask).to(self.device)

    def _snp_weights(self, start: int, stop: int):
        return None if self.weights is None else self.weights[start:stop]

    # -- the passes -----------------------------------------------------------------------

    def frequencies(self, q: np.ndarray, f: np.ndarray, steps: int = 1):
        qt = torch.as_tensor(q, dtype=torch.float64, device=self.device)  # N x K
        f_all = torch.as_tensor(f, dtype=torch.float64, device=self.device)  # M x K
        f_out = f_all.clone()
        ll = torch.zeros((), dtype=torch.float64, device=self.device)
        eps = PROBABILITY_FLOOR
        for start in range(0, self.m, self.block):
            stop = min(start + self.block, self.m)
            g = self._counts(start, stop)  # w x N
            observed = ~torch.isnan(g)
            g0 = torch.nan_to_num(g, nan=0.0)
            a = torch.where(observed, g0, 0.0)
            b = torch.where(observed, 2.0 - g0, 0.0)
            weight = self._snp_weights(start, stop)
            fj = f_all[start:stop].clone()
            for step in range(max(steps, 1)):
                p = (fj @ qt.T).clamp(eps, 1.0 - eps)
                if step == 0:
                    terms = a * torch.log(p) + b * torch.log1p(-p)
                    per_snp = terms.sum(dim=1)
                    ll += (per_snp * weight).sum() if weight is not None else per_snp.sum()
                if steps == 0:
                    break
                s = a / p - b / (1.0 - p)
                w = a / (p * p) + b / ((1.0 - p) * (1.0 - p))
                grad = s @ qt  # w x K
                hess = torch.einsum("ji,ik,il->jkl", w, qt, qt)
                d = bounded_qp(hess, grad, F_MIN - fj, F_MAX - fj, equality=False)
                fj = (fj + d).clamp(F_MIN, F_MAX)
            if steps > 0:
                if weight is not None:
                    fj = torch.where((weight == 0)[:, None], f_all[start:stop], fj)
                f_out[start:stop] = fj
        self.passes += 1
        return f_out.cpu().numpy(), float(ll)

    def ancestry_model(self, q, f):
        """As :meth:`Engine.ancestry_model`, on the device (tensors stay there)."""
        qt = torch.as_tensor(q, dtype=torch.float64, device=self.device)
        f_all = torch.as_tensor(f, dtype=torch.float64, device=self.device)
        grad, hess = self._ancestry_sums(qt, f_all)
        self.passes += 1
        return grad, hess

    def _ancestry_sums(self, qt, f_all):
        """Per-sample gradient and minus the Hessian of the log-likelihood in q at (Q, F)."""
        k = qt.shape[1]
        grad = torch.zeros((self.n, k), dtype=torch.float64, device=self.device)
        hess = torch.zeros((self.n, k, k), dtype=torch.float64, device=self.device)
        eps = PROBABILITY_FLOOR
        for start in range(0, self.m, self.block):
            stop = min(start + self.block, self.m)
            g = self._counts(start, stop)
            observed = ~torch.isnan(g)
            g0 = torch.nan_to_num(g, nan=0.0)
            weight = self._snp_weights(start, stop)
            scale = 1.0 if weight is None else weight[:, None]
            a = torch.where(observed, g0, 0.0) * scale
            b = torch.where(observed, 2.0 - g0, 0.0) * scale
            fj = f_all[start:stop]
            p = (fj @ qt.T).clamp(eps, 1.0 - eps)
            s = a / p - b / (1.0 - p)
            w = a / (p * p) + b / ((1.0 - p) * (1.0 - p))
            grad += s.T @ fj
            hess += torch.einsum("ji,jk,jl->ikl", w, fj, fj)
        return grad, hess

    def ancestry(
        self,
        q: np.ndarray,
        f: np.ndarray,
        fixed: np.ndarray | None,
        entropy: np.ndarray | None = None,
        rows: np.ndarray | None = None,
    ) -> np.ndarray:
        """As :meth:`Engine.ancestry`; ``rows`` keeps the other samples' Q (the pass itself
        covers every sample on the device)."""
        qt = torch.as_tensor(q, dtype=torch.float64, device=self.device)  # N x K
        f_all = torch.as_tensor(f, dtype=torch.float64, device=self.device)
        grad, hess = self._ancestry_sums(qt, f_all)
        if entropy is not None:
            weight = torch.as_tensor(entropy, dtype=torch.float64, device=self.device)[:, None]
            safe = qt.clamp_min(1e-300)
            grad -= weight * (torch.log(safe) + 1.0)
            hess += torch.diag_embed(weight / safe)
        d = bounded_qp(hess, grad, Q_MIN - qt, 1.0 - qt, equality=True)
        q_new = (qt + d).clamp_min(Q_MIN)
        q_new = q_new / q_new.sum(dim=1, keepdim=True)
        result = q_new.cpu().numpy()
        if fixed is not None and len(fixed) == self.n:
            result[fixed] = q[fixed]
        self.passes += 1
        if rows is not None:
            kept = np.array(q, dtype=np.float64, copy=True)
            kept[rows] = result[rows]
            return kept
        return result


def bounded_qp(hess, grad, lo, hi, equality: bool):
    """Batched primal active-set method: for each row b, maximise ``grad.d - d'Hd/2`` with
    ``lo <= d <= hi`` (and ``sum(d) = 0``), from the feasible ``d = 0``; the batched twin of
    ``kernels._bounded_qp``."""
    batch, k = grad.shape
    dtype, device = grad.dtype, grad.device
    ridge = 1e-12 * torch.diagonal(hess, dim1=1, dim2=2).sum(dim=1) / k + 1e-300
    hess = hess + ridge[:, None, None] * torch.eye(k, dtype=dtype, device=device)
    d = torch.zeros_like(grad)
    state = torch.zeros((batch, k), dtype=torch.int8, device=device)
    state[lo >= 0] = -1
    state[(hi <= 0) & (state == 0)] = 1
    done = torch.zeros(batch, dtype=torch.bool, device=device)
    # As in the numba kernel, a full step (or a zero one) marks the row stationary on its
    # working set; only then is a bound released.
    stationary = torch.zeros(batch, dtype=torch.bool, device=device)
    size = k + (1 if equality else 0)
    for _ in range(6 * k + 6):
        if bool(done.all()):
            break
        free = state == 0
        residual = grad - (hess @ d.unsqueeze(-1)).squeeze(-1)
        if bool(stationary.any()):
            # Release the bound with the most wrongly signed multiplier.
            nu = torch.zeros(batch, dtype=dtype, device=device)
            if equality:
                n_free = free.sum(dim=1).clamp_min(1).to(dtype)
                nu = torch.where(free, residual, 0.0).sum(dim=1) / n_free
            r = residual - nu[:, None]
            violation = torch.where(state == -1, r, torch.where(state == 1, -r, -torch.inf))
            worst_value, worst = violation.max(dim=1)
            release = stationary & (worst_value > 1e-12)
            done |= stationary & ~release
            rows = torch.nonzero(release).squeeze(-1)
            state[rows, worst[rows]] = 0
            stationary = torch.zeros_like(stationary)
            free = state == 0
        active = ~done
        if not bool(active.any()):
            break
        # KKT system on the free set; fixed coordinates get identity rows and a zero step.
        system = torch.zeros((batch, size, size), dtype=dtype, device=device)
        pair = free.unsqueeze(2) & free.unsqueeze(1)
        system[:, :k, :k] = torch.where(pair, hess, 0.0)
        system[:, :k, :k] += torch.diag_embed((~free).to(dtype))
        rhs = torch.zeros((batch, size), dtype=dtype, device=device)
        rhs[:, :k] = torch.where(free, residual, 0.0)
        if equality:
            system[:, :k, k] = free.to(dtype)
            system[:, k, :k] = free.to(dtype)
            no_free = ~free.any(dim=1)
            system[:, k, k] = torch.where(no_free, 1.0, 0.0)
        step = torch.linalg.solve(system, rhs.unsqueeze(-1)).squeeze(-1)[:, :k]
        step = torch.where(free, step, 0.0)
        moving = (step.abs() > 1e-15).any(dim=1) & active
        stationary = active & ~moving
        if not bool(moving.any()):
            continue
        # Ratio test for the moving problems.
        ratio_lo = torch.where(free & (step < 0), (lo - d) / torch.where(step < 0, step, -1.0), 2.0)
        ratio_hi = torch.where(free & (step > 0), (hi - d) / torch.where(step > 0, step, 1.0), 2.0)
        ratio = torch.minimum(ratio_lo, ratio_hi).clamp_min(0.0)
        alpha, blocking = ratio.min(dim=1)
        alpha = torch.where(moving, alpha.clamp_max(1.0), 0.0)
        d = d + alpha[:, None] * step
        blocked = moving & (alpha < 1.0)
        stationary |= moving & ~blocked
        rows = torch.nonzero(blocked).squeeze(-1)
        if rows.numel():
            cols = blocking[rows]
            at_lo = ratio_lo[rows, cols] <= ratio_hi[rows, cols]
            d[rows, cols] = torch.where(at_lo, lo[rows, cols], hi[rows, cols])
            state[rows, cols] = torch.where(at_lo, -1, 1).to(torch.int8)
    return d
