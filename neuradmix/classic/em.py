"""The classic ADMIXTURE likelihood maximised by EM, accelerated with SQUAREM.

Model and updates
-----------------
Genotype g_ij ~ Binomial(2, p_ij) with p_ij = sum_k q_ik f_jk (Equation 1 of the paper); missing
calls are skipped. One EM pass (the FRAPPE/ADMIXTURE updates) splits each observed call into
ancestry-specific allele counts ``a_ijk = g q_ik f_jk / p_ij`` and
``b_ijk = (2 - g) q_ik (1 - f_jk) / (1 - p_ij)`` and sets ``f_jk <- sum_i a / sum_i (a + b)`` and
``q_ik <- sum_j (a + b) / (2 * observed calls of i)``. Both updates are exact maximisers of the EM
surrogate under the box constraints used by ADMIXTURE (``1e-5 <= f <= 1 - 1e-5``,
``q >= 1e-5`` on the simplex), so each pass never lowers the likelihood.

Acceleration
------------
SQUAREM (Varadhan & Roland, 2008, scheme S3) on the pair (Q, F): two EM passes give the step
``r`` and its change ``v``; the extrapolated point ``x0 - 2 a r + a^2 v`` (``a = -|r|/|v|``,
bounded) is projected back onto the constraints and followed by one stabilising EM pass. That
pass also yields the log-likelihood of the extrapolated point: when it is below that of the
first EM step, the extrapolation is discarded and the plain EM point is kept. The log-likelihood
at the start of every iteration therefore never decreases.

Stopping rule
-------------
ADMIXTURE's rule (stop when the log-likelihood rises by less than a tolerance between two
iterations), with the tolerance *relative*: stop when ``L_t - L_{t-1} < tol * |L_t|``. ADMIXTURE's
absolute ``1e-4`` means a different precision for every cohort size (EM's tail on 2e8 genotypes
would take thousands of passes to reach it); ``tol=1e-8`` (the default) is 2 log-likelihood units
per iteration on a 2,000 x 100,000 cohort, which leaves the fit within ~1e-7 relative of the
optimum. ``max_iter`` bounds the number of accelerated iterations (each is up to three EM
passes).

Engines
-------
``numba``: a fused CPU kernel that reads the uint8 genotypes once per pass (``em_kernels``);
``torch``: the same maths as dense tensor operations over blocks of SNPs, so only a block of
float intermediates exists beside the genotype matrix; used on CUDA, and runnable on CPU.
``auto`` picks torch on a CUDA device and numba otherwise.

Results are deterministic for a given input, seed and device (the numba kernel's sums do not
depend on the number of threads).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch

from ..data import Genotypes, is_unknown, known_populations, make_genotypes
from ..errors import InputError
from ..runtime import select_device
from . import em_kernels
from .defaults import DEFAULT_MAX_ITER, DEFAULT_TOL

F_MIN = 1e-5
F_MAX = 1.0 - 1e-5
Q_MIN = 1e-5
# Cohorts with 4 x WARM_START_MIN_SNPS SNPs or more are first fitted on a random tenth of their
# SNPs (at least WARM_START_MIN_SNPS), to a looser tolerance.
WARM_START_MIN_SNPS = 5_000
WARM_START_FRACTION = 10
WARM_START_TOL = 1e-6
# Largest SQUAREM step length, and the factor by which it grows when a step hits the bound.
_STEP_MAX = 1e4
_STEP_GROWTH = 4.0


@dataclass
class EMResult:
    """An EM fit: ``q`` (N x K), ``p`` (M x K, ``.P`` orientation) and how it got there."""

    q: np.ndarray
    p: np.ndarray
    log_likelihood: float
    iterations: int
    em_passes: int
    seconds: float
    converged: bool
    trace: list[float] = field(default_factory=list)

    @property
    def k(self) -> int:
        return self.q.shape[1]


# ------------------------------------------------------------------------------------------
# Engines: one EM pass each, same maths
# ------------------------------------------------------------------------------------------


class _NumbaEngine:
    def __init__(self, calls: np.ndarray, k: int):
        self.calls = np.ascontiguousarray(calls, dtype=np.uint8)
        self.bounds = em_kernels.group_bounds(self.calls.shape[1])
        n_groups = len(self.bounds) - 1
        self.c_groups = np.zeros((n_groups, self.calls.shape[0], k))
        self.ll_groups = np.zeros(n_groups)
        self.observed = torch.from_numpy(em_kernels.observed_per_sample(self.calls))
        self.device = torch.device("cpu")

    def em_pass(self, q: torch.Tensor, ft: torch.Tensor, update_f: bool):
        q_np = np.ascontiguousarray(q.numpy())
        ft_np = np.ascontiguousarray(ft.numpy())
        ft_new = np.empty_like(ft_np) if update_f else ft_np
        em_kernels.em_pass(
            self.calls,
            q_np,
            ft_np,
            self.bounds,
            em_kernels.CHUNK,
            update_f,
            F_MIN,
            F_MAX,
            ft_new,
            self.c_groups,
            self.ll_groups,
        )
        # Fixed-order sums over groups keep results independent of the thread count.
        c = self.c_groups.sum(axis=0)
        return torch.from_numpy(ft_new), torch.from_numpy(c), float(self.ll_groups.sum())


class _TorchEngine:
    def __init__(self, calls: np.ndarray, device: torch.device, block_snps: int | None = None):
        self.device = device
        self.calls = torch.from_numpy(np.ascontiguousarray(calls, dtype=np.uint8)).to(device)
        n, m = self.calls.shape
        # About 16 MB per float64 block intermediate.
        self.block = block_snps or max(64, min(m, 2_000_000 // max(n, 1)))
        observed = torch.zeros(n, dtype=torch.float64, device=device)
        for start in range(0, m, self.block):
            observed += (self.calls[:, start : start + self.block] <= 2).sum(dim=1)
        self.observed = observed

    def em_pass(self, q: torch.Tensor, ft: torch.Tensor, update_f: bool):
        n, m = self.calls.shape
        c = torch.zeros_like(q)
        ft_new = torch.empty_like(ft) if update_f else ft
        loglik = torch.zeros((), dtype=torch.float64, device=self.device)
        for start in range(0, m, self.block):
            stop = min(start + self.block, m)
            block = self.calls[:, start:stop]
            observed = block <= 2
            counts = block.to(torch.float64)
            ref = torch.where(observed, counts, 0.0)
            alt = torch.where(observed, 2.0 - counts, 0.0)
            f_block = ft[:, start:stop]
            p = (q @ f_block).clamp_(em_kernels.P_EPS, 1.0 - em_kernels.P_EPS)
            loglik += (ref * torch.log(p) + alt * torch.log1p(-p)).sum()
            r1 = ref / p
            r2 = alt / (1.0 - p)
            c += r1 @ f_block.T + r2 @ (1.0 - f_block).T
            if update_f:
                fa = f_block * (q.T @ r1)
                denom = fa + (1.0 - f_block) * (q.T @ r2)
                updated = torch.where(denom > 0, fa / denom.clamp_min(1e-300), f_block)
                ft_new[:, start:stop] = updated.clamp_(F_MIN, F_MAX)
        return ft_new, c, float(loglik)


def resolve_device(device: str | None) -> torch.device:
    """``auto`` -> cuda when available, else cpu; the EM needs float64, so never mps."""
    return select_device(device, allow_mps=False)


def _make_engine(calls: np.ndarray, k: int, device: str | None, engine: str):
    resolved = resolve_device(device)
    if engine not in ("auto", "numba", "torch"):
        raise InputError(f"--engine {engine!r}: choose auto, numba or torch.")
    if engine == "numba" and resolved.type != "cpu":
        raise InputError("--engine numba runs on the CPU only; use --engine torch for cuda.")
    if engine == "torch" or resolved.type == "cuda":
        return _TorchEngine(calls, resolved)
    return _NumbaEngine(calls, k)


# ------------------------------------------------------------------------------------------
# Constraints
# ------------------------------------------------------------------------------------------


def _simplex_with_floor(weights: torch.Tensor, floor: float) -> torch.Tensor:
    """Row-wise argmax of sum_k w_k log q_k over {q on the simplex, q_k >= floor}.

    The unconstrained answer is w / sum(w); entries that fall below the floor are pinned to it
    and the rest rescaled, repeating until no entry is below (at most K rounds).
    """
    weights = weights.clamp_min(0.0)
    k = weights.shape[1]
    pinned = torch.zeros_like(weights, dtype=torch.bool)
    q = weights
    for _ in range(k):
        free_weight = torch.where(pinned, 0.0, weights).sum(dim=1, keepdim=True)
        free_mass = 1.0 - floor * pinned.sum(dim=1, keepdim=True)
        uniform = free_mass / (~pinned).sum(dim=1, keepdim=True).clamp_min(1)
        scaled = torch.where(
            free_weight > 0, weights * free_mass / free_weight.clamp_min(1e-300), uniform
        )
        q = torch.where(pinned, floor, scaled)
        below = (q < floor) & ~pinned
        if not bool(below.any()):
            break
        pinned |= below
    return q


def _project_f(ft: torch.Tensor) -> torch.Tensor:
    return ft.clamp(F_MIN, F_MAX)


# ------------------------------------------------------------------------------------------
# The fit
# ------------------------------------------------------------------------------------------


class _Problem:
    """EM map on (Q, F^T) with optional fixed Q rows or fixed F."""

    def __init__(self, engine, fixed_rows, fixed_q, fix_f: bool):
        self.engine = engine
        self.fixed_rows = fixed_rows
        self.fixed_q = fixed_q
        self.fix_f = fix_f
        self.passes = 0

    def constrain(self, q: torch.Tensor, ft: torch.Tensor, reference_ft: torch.Tensor):
        q = _simplex_with_floor(q, Q_MIN)
        if self.fixed_rows is not None:
            q[self.fixed_rows] = self.fixed_q
        ft = reference_ft if self.fix_f else _project_f(ft)
        return q, ft

    def step(self, q: torch.Tensor, ft: torch.Tensor):
        """One EM pass; returns the new (q, ft) and the log-likelihood at the input."""
        self.passes += 1
        ft_new, c, loglik = self.engine.em_pass(q, ft, update_f=not self.fix_f)
        observed = self.engine.observed[:, None]
        weights = torch.where(observed > 0, q * c / (2.0 * observed.clamp_min(1)), q)
        q_new = _simplex_with_floor(weights, Q_MIN)
        if self.fixed_rows is not None:
            q_new[self.fixed_rows] = self.fixed_q
        return q_new, ft_new, loglik


def _squarem(problem: _Problem, q, ft, tol, max_iter, accelerate, progress):
    trace: list[float] = []
    step_max = 1.0
    converged = False
    iterations = 0
    for iterations in range(1, max_iter + 1):
        q1, f1, loglik0 = problem.step(q, ft)
        if not math.isfinite(loglik0):
            raise InputError(
                "the log-likelihood is not finite; check that the genotypes hold only 0, 1, 2 "
                "or missing calls and that the starting .Q/.P values are valid."
            )
        trace.append(loglik0)
        if progress is not None:
            progress(iterations, loglik0)
        if len(trace) > 1 and trace[-1] - trace[-2] < tol * abs(trace[-1]):
            converged = True
            break
        if not accelerate:
            q, ft = q1, f1
            continue
        q2, f2, loglik1 = problem.step(q1, f1)
        # Separate step lengths for Q and F (their EM rates differ), each bounded by step_max,
        # which grows whenever a step reaches it.
        step_q = _step_length(q1 - q, q2 - 2.0 * q1 + q, step_max)
        step_f = _step_length(f1 - ft, f2 - 2.0 * f1 + ft, step_max)
        if problem.fix_f:
            step_f = step_q
        if min(step_q, step_f) <= -step_max:
            step_max = min(step_max * _STEP_GROWTH, _STEP_MAX)
        if step_q == -1.0 and step_f == -1.0:
            q, ft = q2, f2
            continue
        q_x, f_x = problem.constrain(
            _extrapolate(q, q1, q2, step_q), _extrapolate(ft, f1, f2, step_f), ft
        )
        q3, f3, loglik_x = problem.step(q_x, f_x)
        if loglik_x >= loglik1:
            q, ft = q3, f3
        else:
            # The extrapolation overshot: keep the plain EM point (likelihood >= loglik1).
            q, ft = q2, f2
    if not converged:
        # Stopped by max_iter after a step: report the likelihood of the point returned.
        _, _, final = problem.engine.em_pass(q, ft, update_f=False)
        trace.append(final)
    return q, ft, trace, iterations, converged


def _step_length(r: torch.Tensor, v: torch.Tensor, step_max: float) -> float:
    """SQUAREM S3 step length -|r|/|v|, within [-step_max, -1]."""
    v_norm = float((v * v).sum())
    alpha = -math.sqrt(float((r * r).sum()) / v_norm) if v_norm > 0 else -1.0
    return min(-1.0, max(alpha, -step_max))


def _extrapolate(x0: torch.Tensor, x1: torch.Tensor, x2: torch.Tensor, alpha: float):
    """x0 - 2 alpha r + alpha^2 v with r = x1 - x0, v = x2 - 2 x1 + x0."""
    return x0 - 2.0 * alpha * (x1 - x0) + alpha * alpha * (x2 - 2.0 * x1 + x0)


def _initial_frequencies(engine, q: torch.Tensor, least_squares: bool = False) -> torch.Tensor:
    """A one-pass starting F for a given Q.

    Default: the ancestry-weighted allele frequencies sum_i q_ik g_ij / (2 sum_i q_ik [obs]),
    safe for any Q. ``least_squares``: the solution of E[g / 2] = Q F^T in the least-squares
    sense (missing calls replaced by the SNP's mean), which un-mixes F when Q is already good.
    """
    calls = engine.calls
    if isinstance(calls, np.ndarray):
        calls = torch.from_numpy(calls)
    n, m = calls.shape
    block = max(64, min(m, 2_000_000 // max(n, 1)))
    ft = torch.empty((q.shape[1], m), dtype=torch.float64, device=q.device)
    gram_inverse = torch.linalg.pinv(q.T @ q) if least_squares else None
    for start in range(0, m, block):
        chunk = calls[:, start : start + block].to(q.device)
        observed = (chunk <= 2).to(torch.float64)
        counts = torch.where(chunk <= 2, chunk.to(torch.float64), 0.0)
        if least_squares:
            mean = counts.sum(dim=0) / observed.sum(dim=0).clamp_min(1.0)
            filled = torch.where(chunk <= 2, counts, mean)
            ft[:, start : start + block] = gram_inverse @ (q.T @ filled) / 2.0
        else:
            weighted = (2.0 * (q.T @ observed)).clamp_min(1e-12)
            ft[:, start : start + block] = (q.T @ counts) / weighted
    return _project_f(ft)


def _warm_start(calls: np.ndarray, k: int, q0: np.ndarray, p0, seed: int, options: dict):
    """Fit a random subset of SNPs first (passes cost a fraction of a full one); its Q then
    starts the full fit, with F from least squares given that Q."""
    m = calls.shape[1]
    size = max(WARM_START_MIN_SNPS, m // WARM_START_FRACTION)
    rng = np.random.default_rng([seed, 1])
    subset = np.sort(rng.choice(m, size=size, replace=False))
    sub = fit(
        np.ascontiguousarray(calls[:, subset]),
        k,
        seed=seed,
        tol=WARM_START_TOL,
        init_q=q0,
        init_p=None if p0 is None else p0[subset],
        warm_start=False,
        **options,
    )
    return sub


def _validate(calls: np.ndarray, k: int) -> None:
    if calls.ndim != 2 or calls.shape[0] < 1 or calls.shape[1] < 1:
        raise InputError("the genotype matrix is empty; the .bed needs samples and SNPs.")
    if k < 1:
        raise InputError(f"--k {k}: the number of ancestral populations must be at least 1.")
    if k > calls.shape[0]:
        raise InputError(
            f"--k {k}: more ancestral populations than the {calls.shape[0]} samples; lower K."
        )


def fit(
    genotypes: Genotypes | np.ndarray,
    k: int,
    *,
    seed: int = 42,
    tol: float = DEFAULT_TOL,
    max_iter: int = DEFAULT_MAX_ITER,
    init: str = "random",
    init_q: np.ndarray | None = None,
    init_p: np.ndarray | None = None,
    fixed_rows: np.ndarray | None = None,
    fix_p: bool = False,
    device: str | None = "cpu",
    engine: str = "auto",
    accelerate: bool = True,
    warm_start: bool = True,
    progress: Callable[[int, float], None] | None = None,
) -> EMResult:
    """Maximise the ADMIXTURE log-likelihood by (SQUAREM-accelerated) EM.

    ``init`` is ``random`` (Q ~ Dirichlet(1), F the Q-weighted allele frequencies) or
    ``pckmeans`` (F from :func:`neuradmix.classic.starts.pckmeans_frequencies`);
    ``init_q``/``init_p`` override either part. ``fixed_rows`` (bool, N) keeps those rows of
    ``init_q`` fixed (supervised mode);
    ``fix_p`` keeps ``init_p`` fixed and fits only Q (projection mode). With ``warm_start``, a
    cohort of 20,000+ SNPs started without a given Q is first fitted on a random tenth of its
    SNPs (see :func:`_warm_start`); ``seconds`` includes that stage.
    """
    calls = genotypes.calls if isinstance(genotypes, Genotypes) else np.asarray(genotypes)
    _validate(calls, k)
    start_time = time.perf_counter()
    eng = _make_engine(calls, k, device, engine)
    dev = eng.device
    n, m = calls.shape
    rng = np.random.default_rng(seed)

    if init_q is not None:
        q0 = np.asarray(init_q, dtype=np.float64)
    elif init_p is not None or init == "pckmeans":
        q0 = np.full((n, k), 1.0 / k)
    elif init == "random":
        q0 = rng.dirichlet(np.ones(k), size=n)
    else:
        raise InputError(f"--init {init!r}: choose random or pckmeans.")
    if init_p is not None:
        p0 = np.asarray(init_p, dtype=np.float64)
    elif init == "pckmeans":
        p0 = _pckmeans_frequencies(genotypes, k, seed)
    else:
        p0 = None
    if q0.shape != (n, k):
        raise InputError(f"the starting Q has shape {q0.shape}, expected {n} x {k}.")
    if p0 is not None and p0.shape != (m, k):
        raise InputError(f"the starting P has shape {p0.shape}, expected {m} x {k}.")

    least_squares = False
    use_warm_start = (
        warm_start
        and init_q is None
        and fixed_rows is None
        and not fix_p
        and accelerate
        and m >= 4 * WARM_START_MIN_SNPS
    )
    if use_warm_start:
        sub = _warm_start(calls, k, q0, p0, seed, {"device": device, "engine": engine})
        q0, p0, least_squares = sub.q, None, True
    q = _simplex_with_floor(torch.as_tensor(q0, dtype=torch.float64, device=dev), Q_MIN)
    fixed_q = None
    fixed_index = None
    if fixed_rows is not None and np.any(fixed_rows):
        fixed_index = torch.as_tensor(np.flatnonzero(fixed_rows), device=dev)
        fixed_q = torch.as_tensor(q0[np.asarray(fixed_rows, dtype=bool)], device=dev)
        q[fixed_index] = fixed_q
    if p0 is None:
        ft = _initial_frequencies(eng, q, least_squares)
    else:
        ft = torch.as_tensor(np.ascontiguousarray(p0.T), dtype=torch.float64, device=dev)
        ft = (ft if fix_p else _project_f(ft)).contiguous()

    problem = _Problem(eng, fixed_index, fixed_q, fix_p)
    q, ft, trace, iterations, converged = _squarem(
        problem, q, ft, tol, max_iter, accelerate, progress
    )
    return EMResult(
        q=q.cpu().numpy().copy(),
        p=ft.T.cpu().numpy().copy(),
        log_likelihood=trace[-1],
        iterations=iterations,
        em_passes=problem.passes,
        seconds=time.perf_counter() - start_time,
        converged=converged,
        trace=trace,
    )


def _pckmeans_frequencies(genotypes, k: int, seed: int) -> np.ndarray:
    from .starts import pckmeans_frequencies

    if not isinstance(genotypes, Genotypes):
        genotypes = make_genotypes(genotypes)
    return np.asarray(pckmeans_frequencies(genotypes, k, seed), dtype=np.float64)


def fit_supervised(
    genotypes: Genotypes, labels: np.ndarray, k: int | None = None, **options
) -> EMResult:
    """ADMIXTURE ``--supervised``: samples with a label keep Q fixed to the one-hot of their
    label; unlabelled samples ("" in ``labels``) and F are fitted.

    Components are the distinct labels in sorted order
    (:func:`neuradmix.data.known_populations`); ``k`` defaults to their number and may
    be larger (the extra components are free).
    """
    labels = np.asarray(labels, dtype=object)
    known = np.array([not is_unknown(x) for x in labels], dtype=bool)
    names = known_populations(labels)
    if not names:
        raise InputError("the label file gives no sample a population; supervised mode needs some.")
    k = len(names) if k is None else k
    if k < len(names):
        raise InputError(
            f"--k {k} is smaller than the {len(names)} populations in the label file; "
            f"use --k {len(names)} or more."
        )
    n = len(labels)
    seed = options.pop("seed", 42)
    rng = np.random.default_rng(seed)
    q0 = rng.dirichlet(np.ones(k), size=n)
    index = {name: c for c, name in enumerate(names)}
    for i in np.flatnonzero(known):
        q0[i] = 0.0
        q0[i, index[str(labels[i])]] = 1.0
    if options.get("init_q") is not None:
        raise InputError("supervised mode builds its own starting Q; drop --init-q.")
    return fit(genotypes, k, seed=seed, init_q=q0, fixed_rows=known, **options)


def project(genotypes: Genotypes | np.ndarray, p: np.ndarray, **options) -> EMResult:
    """ADMIXTURE ``-P``: F fixed to ``p`` (M x K, from a ``.P``), only Q fitted."""
    calls = genotypes.calls if isinstance(genotypes, Genotypes) else np.asarray(genotypes)
    p = np.asarray(p, dtype=np.float64)
    if p.ndim != 2 or p.shape[0] != calls.shape[1]:
        raise InputError(
            f"the .P has {p.shape[0]} rows but the genotypes have {calls.shape[1]} SNPs; project "
            "with the .P of a fit on the same SNPs in the same order."
        )
    k = p.shape[1]
    return fit(
        genotypes, k, init_p=p, fix_p=True, init_q=np.full((calls.shape[0], k), 1.0 / k), **options
    )


def polish(
    genotypes: Genotypes | np.ndarray,
    q: np.ndarray,
    p: np.ndarray,
    *,
    tol: float = DEFAULT_TOL,
    max_iter: int = DEFAULT_MAX_ITER,
    device: str | None = "cpu",
    engine: str = "auto",
    progress: Callable[[int, float], None] | None = None,
) -> EMResult:
    """Continue a fit (e.g. the neural one) with accelerated EM until ADMIXTURE's convergence.

    Returns an :class:`EMResult` with ``q``, ``p``, ``log_likelihood``, ``iterations``,
    ``em_passes`` and ``seconds`` (wall time of the polish, including the engine set-up).

    How ``train --polish`` uses it::

        from neuradmix.classic.em import polish
        polished = polish(genotypes, result.q[k], result.p[k], device=config.device)
        # write polished.q / polished.p in place of the neural Q/P, and log
        # polished.iterations, polished.seconds and polished.log_likelihood.
    """
    calls = genotypes.calls if isinstance(genotypes, Genotypes) else np.asarray(genotypes)
    q = np.asarray(q, dtype=np.float64)
    p = np.asarray(p, dtype=np.float64)
    if q.shape[0] != calls.shape[0] or p.shape[0] != calls.shape[1] or q.shape[1] != p.shape[1]:
        raise InputError(
            f"Q is {q.shape[0]} x {q.shape[1]} and P is {p.shape[0]} x {p.shape[1]}, but the "
            f"genotypes are {calls.shape[0]} samples x {calls.shape[1]} SNPs; polish the .Q/.P "
            "written for this fileset."
        )
    return fit(
        genotypes,
        q.shape[1],
        init_q=q,
        init_p=p,
        tol=tol,
        max_iter=max_iter,
        device=device,
        engine=engine,
        progress=progress,
    )
