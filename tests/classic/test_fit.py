"""The classic method: kernels against hand-written maths, the exact block steps, convergence to
the optimum from its starts, modes, determinism, engines, and the command line."""

from __future__ import annotations

import itertools
import math
import re
import subprocess
import sys

import numba
import numpy as np
import pytest
import torch
from scipy.optimize import minimize

from neuradmix.classic import fit, starts
from neuradmix.cli import main
from neuradmix.compute import bounds, kernels
from neuradmix.compute.engines import log_likelihood
from neuradmix.compute.numba_engine import NumbaEngine
from neuradmix.compute.torch_engine import TorchEngine, bounded_qp
from neuradmix.data import (
    MISSING,
    known_populations,
    make_genotypes,
    read_bed,
    read_p,
    read_q,
    write_bed,
    write_p,
)
from neuradmix.data.timing import read_timing
from neuradmix.errors import InputError
from neuradmix.simulation.psd import simulate_psd
from neuradmix.stats.frequencies import allele_frequencies


@pytest.fixture(scope="module")
def cohort():
    return simulate_psd(240, 2500, 3, fst=0.15, alpha=0.5, missing_rate=0.02, seed=11)


def _score_and_curvature(calls, q, f):
    """Gradient and Hessian of the log-likelihood in each f_j and each q_i, written out."""
    g = calls.astype(float)
    observed = calls <= 2
    a = np.where(observed, g, 0.0)
    b = np.where(observed, 2.0 - g, 0.0)
    p = q @ f.T
    s = a / p - b / (1 - p)
    w = a / p**2 + b / (1 - p) ** 2
    grad_f = s.T @ q  # M x K
    hess_f = -np.einsum("ij,ik,il->jkl", w, q, q)
    grad_q = s @ f  # N x K
    hess_q = -np.einsum("ij,jk,jl->ikl", w, f, f)
    return grad_f, hess_f, grad_q, hess_q


def _qp_optimum(grad, hess, lo, hi, equality):
    """The small QP solved by a general-purpose solver (the reference)."""
    k = grad.shape[0]
    result = minimize(
        lambda d: -(grad @ d) + 0.5 * d @ hess @ d,
        np.zeros(k),
        jac=lambda d: -grad + hess @ d,
        method="SLSQP",
        bounds=list(zip(lo, hi, strict=True)),
        constraints=[{"type": "eq", "fun": np.sum}] if equality else [],
        options={"ftol": 1e-14, "maxiter": 500},
    )
    return result.x


def test_frequency_pass_is_the_exact_constrained_newton_step():
    rng = np.random.default_rng(0)
    calls = rng.integers(0, 3, size=(30, 12)).astype(np.uint8)
    calls[3, 4] = MISSING
    q = rng.dirichlet(np.ones(3), size=30)
    f = rng.uniform(0.02, 0.98, size=(12, 3))
    f[0] = [0.99999, 0.5, 0.3]  # a coordinate at its upper bound stays a bound case
    genotypes = make_genotypes(calls)
    engine = NumbaEngine(genotypes)
    f_new, ll = engine.frequencies(q, f)
    assert ll == pytest.approx(log_likelihood(calls, q, f), rel=1e-12)
    grad_f, hess_f, _, _ = _score_and_curvature(calls, q, f)
    for j in range(12):
        step = _qp_optimum(grad_f[j], -hess_f[j], bounds.F_MIN - f[j], bounds.F_MAX - f[j], False)
        np.testing.assert_allclose(f_new[j], f[j] + step, atol=2e-6)


def test_the_log_likelihood_is_exact_for_surprising_calls():
    """The frequency pass sums a SNP's terms as logarithms of products of its calls'
    likelihoods (exponents set aside, mantissas multiplied 256 calls at a time): against each
    term's own logarithm, summed exactly, with calls as unlikely as the bounds allow (a 2 where
    p = 1e-5 has likelihood 1e-10) and a cohort size that leaves a partial group."""
    rng = np.random.default_rng(9)
    n, m = 1003, 40
    calls = rng.integers(0, 3, size=(n, m)).astype(np.uint8)
    calls[rng.random(calls.shape) < 0.02] = MISSING
    q = bounds.project_q(rng.dirichlet(np.full(3, 0.05), size=n))
    f = rng.choice([bounds.F_MIN, bounds.F_MAX, 0.3], size=(m, 3))
    f[:, 2] = rng.uniform(bounds.F_MIN, bounds.F_MAX, size=m)
    p = np.clip(q @ f.T, bounds.PROBABILITY_FLOOR, 1 - bounds.PROBABILITY_FLOOR)
    g = calls.astype(float)
    terms = np.where(calls < 3, g * np.log(p) + (2 - g) * np.log1p(-p), 0.0)
    assert terms.min() < -20  # some calls are as surprising as the bounds allow
    _, ll = NumbaEngine(make_genotypes(calls)).frequencies(q, f, 0)
    assert ll == pytest.approx(math.fsum(terms.ravel()), rel=1e-13)


def test_ancestry_pass_is_the_exact_newton_step_on_the_simplex():
    rng = np.random.default_rng(1)
    calls = rng.integers(0, 3, size=(8, 200)).astype(np.uint8)
    calls[2, :50] = MISSING
    q = rng.dirichlet(np.ones(3), size=8)
    q[0] = [bounds.Q_MIN, bounds.Q_MIN, 1 - 2 * bounds.Q_MIN]  # starts on the boundary
    f = rng.uniform(0.05, 0.95, size=(200, 3))
    q_new = NumbaEngine(make_genotypes(calls)).ancestry(q, f, None)
    _, _, grad_q, hess_q = _score_and_curvature(calls, q, f)
    for i in range(8):
        step = _qp_optimum(grad_q[i], -hess_q[i], bounds.Q_MIN - q[i], 1.0 - q[i], True)
        np.testing.assert_allclose(q_new[i], q[i] + step, atol=2e-6)
        assert q_new[i].sum() == pytest.approx(1.0) and q_new[i].min() >= bounds.Q_MIN


def test_passes_give_the_same_sums_for_any_thread_count():
    """The ancestry pass balances its blocks of samples over the threads and the frequency pass
    splits its SNPs into fixed groups: neither may change a bit of the result. 210 samples put
    samples 104-107 at the end of a block (the vector loop's remainder) with two threads and in
    the middle of one with one thread."""
    rng = np.random.default_rng(8)
    calls = rng.integers(0, 3, size=(210, 500)).astype(np.uint8)
    calls[rng.random(calls.shape) < 0.05] = MISSING
    q = rng.dirichlet(np.ones(4), size=210)
    f = rng.uniform(0.01, 0.99, size=(500, 4))
    engine = NumbaEngine(make_genotypes(calls))
    before = numba.get_num_threads()
    results = []
    try:
        for threads in (1, min(2, numba.config.NUMBA_NUM_THREADS)):
            numba.set_num_threads(threads)
            results.append((*engine.ancestry_model(q, f), *engine.frequencies(q, f, 1)))
    finally:
        numba.set_num_threads(before)
    for one, two in zip(*results, strict=True):
        np.testing.assert_array_equal(one, two)


def test_ancestry_pass_on_chosen_rows_and_with_an_entropy_term():
    """``rows`` steps only those samples (exactly as a full pass would, holdout included) and
    keeps the others; ``entropy`` adds ``c_i H(q_i)`` to each sample's objective, on both
    engines."""
    rng = np.random.default_rng(4)
    calls = rng.integers(0, 3, size=(9, 300)).astype(np.uint8)
    calls[5, :40] = MISSING
    q = rng.dirichlet(np.ones(3), size=9)
    f = rng.uniform(0.05, 0.95, size=(300, 3))
    genotypes = make_genotypes(calls)
    rows = np.array([7, 1, 5])
    for options in ({}, {"holdout": (3, 4, 2)}):
        numba_engine = NumbaEngine(genotypes, **options)
        full = numba_engine.ancestry(q, f, None)
        some = numba_engine.ancestry(q, f, None, rows=rows)
        np.testing.assert_allclose(some[rows], full[rows], atol=1e-12)
        others = np.setdiff1d(np.arange(9), rows)
        np.testing.assert_array_equal(some[others], q[others])
    weight = np.linspace(0.0, 40.0, 9)
    _, _, grad_q, hess_q = _score_and_curvature(calls, q, f)
    grad_q = grad_q - weight[:, None] * (np.log(q) + 1.0)
    for engine in (NumbaEngine(genotypes), TorchEngine(genotypes, device="cpu")):
        q_new = engine.ancestry(q, f, None, entropy=weight)
        for i in range(9):
            curvature = -hess_q[i] + np.diag(weight[i] / q[i])
            step = _qp_optimum(grad_q[i], curvature, bounds.Q_MIN - q[i], 1.0 - q[i], True)
            np.testing.assert_allclose(q_new[i], q[i] + step, atol=1e-5)


def test_batched_qp_of_the_torch_engine_matches_the_reference():
    rng = np.random.default_rng(2)
    k = 4
    grads, hessians, los, his = [], [], [], []
    for _ in range(40):
        a = rng.normal(size=(k, k))
        hessians.append(a @ a.T + 0.1 * np.eye(k))
        grads.append(rng.normal(size=k) * 5)
        x = rng.dirichlet(np.ones(k))
        los.append(bounds.Q_MIN - x)
        his.append(1.0 - x)
    d = bounded_qp(
        torch.tensor(np.array(hessians)),
        torch.tensor(np.array(grads)),
        torch.tensor(np.array(los)),
        torch.tensor(np.array(his)),
        equality=True,
    ).numpy()
    for t in range(40):
        reference = _qp_optimum(grads[t], hessians[t], los[t], his[t], True)
        np.testing.assert_allclose(d[t], reference, atol=1e-6)


def _qp_by_enumeration(grad, hess, lo, hi):
    """The simplex QP solved exactly: every choice of coordinates held at a bound, the KKT
    system on the rest, the best feasible point."""
    k = grad.shape[0]
    best, best_value = None, -np.inf
    for held in itertools.product((0, -1, 1), repeat=k):
        free = [c for c in range(k) if held[c] == 0]
        if not free:
            continue
        d = np.where(np.array(held) == -1, lo, np.where(np.array(held) == 1, hi, 0.0))
        system = np.zeros((len(free) + 1, len(free) + 1))
        system[:-1, :-1] = hess[np.ix_(free, free)]
        system[:-1, -1] = system[-1, :-1] = 1.0
        rhs = np.append(grad[free] - hess[free] @ d, -d.sum())
        d[free] = np.linalg.solve(system, rhs)[:-1]
        if np.all(d >= lo - 1e-12) and np.all(d <= hi + 1e-12):
            value = grad @ d - 0.5 * d @ hess @ d
            if value > best_value:
                best, best_value = d, value
    return best


def test_both_qp_solvers_release_a_bound_under_extreme_curvature():
    """A sample's Newton problem from a fit (one call with p = 1 - 1e-5 adds curvature 5e9
    along nearly (1, 1, 1)): the optimum moves q_1 off its bound. A solver that waits for a
    zero step before releasing a bound sees rounding noise instead and stops at q_1 = 1e-5."""
    grad = np.array([-124132.09055412177, -124168.90869533787, -124168.29127924361])
    hess = np.array(
        [
            [5.563683272523681e09, 5.563678143590104e09, 5.563697938386466e09],
            [5.563678143590104e09, 5.563675455077046e09, 5.563694177258523e09],
            [5.563697938386466e09, 5.563694177258523e09, 5.563714952055661e09],
        ]
    )
    q = np.array([bounds.Q_MIN, 9.207658526523650e-01, 1 - bounds.Q_MIN - 9.207658526523650e-01])
    lo, hi = bounds.Q_MIN - q, 1.0 - q
    reference = _qp_by_enumeration(grad, hess, lo, hi)
    assert reference[0] > 0.01
    stats = np.array([*grad, hess[0, 0], hess[1, 0], hess[1, 1], *hess[2]])[:, None]
    q_new = np.empty((1, 3))
    kernels.ancestry_newton(q[:, None].copy(), stats, bounds.Q_MIN, np.zeros(0, bool), q_new)
    np.testing.assert_allclose(q_new[0] - q, reference, atol=1e-6)
    d = bounded_qp(*(torch.tensor(x)[None] for x in (hess, grad, lo, hi)), equality=True)
    np.testing.assert_allclose(d.numpy()[0], reference, atol=1e-6)


def test_numba_and_torch_engines_agree(cohort):
    """The same passes on both engines. The numba passes sum per-call terms in single precision
    (heavy calls in double); their Newton steps agree with the double-precision torch engine to
    1e-7 (F) and 1e-5 (Q)."""
    genotypes = cohort.genotypes
    rng = np.random.default_rng(3)
    q = bounds.project_q(cohort.q + rng.normal(0, 0.02, cohort.q.shape))
    f = np.clip(cohort.p + rng.normal(0, 0.02, cohort.p.shape), bounds.F_MIN, bounds.F_MAX)
    weights = rng.integers(0, 3, size=genotypes.n_snps).astype(float)
    for options in ({}, {"weights": weights}, {"holdout": (5, 3, 1)}):
        numba_engine = NumbaEngine(genotypes, **options)
        torch_engine = TorchEngine(genotypes, device="cpu", **options)
        f_a, ll_a = numba_engine.frequencies(q, f, 2)
        f_b, ll_b = torch_engine.frequencies(q, f, 2)
        assert ll_a == pytest.approx(ll_b, rel=1e-12)
        np.testing.assert_allclose(f_a, f_b, atol=1e-7)
        np.testing.assert_allclose(
            numba_engine.ancestry(q, f_a, None), torch_engine.ancestry(q, f_a, None), atol=1e-5
        )
    full = [fit.fit(genotypes, 3, seed=1, engine=name, tol=1e-10) for name in ("numba", "torch")]
    assert full[0].log_likelihood == pytest.approx(full[1].log_likelihood, rel=1e-9)


def test_torch_engine_streams_a_cohort_kept_on_the_host(cohort):
    """A cohort too large for the device stays in host memory and each pass copies one block of
    SNPs at a time: the passes are those of the resident copy, block boundaries included."""
    genotypes = cohort.genotypes
    q, f = cohort.q, np.clip(cohort.p, bounds.F_MIN, bounds.F_MAX)
    resident = TorchEngine(genotypes, device="cpu", resident=True)
    streamed = TorchEngine(genotypes, device="cpu", resident=False)
    assert resident.resident and not streamed.resident
    streamed.block = resident.block = 7  # many blocks, the last one partial
    f_a, ll_a = resident.frequencies(q, f, 1)
    f_b, ll_b = streamed.frequencies(q, f, 1)
    assert ll_a == ll_b
    np.testing.assert_array_equal(f_a, f_b)
    np.testing.assert_array_equal(resident.ancestry(q, f, None), streamed.ancestry(q, f, None))
    assert TorchEngine(genotypes, device="cpu").resident  # the CPU's memory is the host's


def test_reaches_the_optimum_recovers_the_truth_and_never_goes_down(cohort, aligned):
    result = fit.fit(cohort.genotypes, 3, seed=3)
    assert result.converged
    assert np.all(np.diff(result.trace) >= 0)
    rmse_q = np.sqrt(np.mean((aligned(result.q, cohort.q) - cohort.q) ** 2))
    assert rmse_q < 0.03
    truth = log_likelihood(
        cohort.genotypes, cohort.q, np.clip(cohort.p, bounds.F_MIN, bounds.F_MAX)
    )
    assert result.log_likelihood > truth
    # The same optimum is reached from the planted truth with a tight tolerance.
    reference = fit.fit(cohort.genotypes, 3, init_q=cohort.q, tol=1e-12)
    assert result.log_likelihood == pytest.approx(reference.log_likelihood, rel=1e-8)
    np.testing.assert_allclose(result.q.sum(axis=1), 1.0, atol=1e-12)
    assert result.q.min() >= bounds.Q_MIN * (1 - 1e-9)
    assert result.p.min() >= bounds.F_MIN and result.p.max() <= bounds.F_MAX


@pytest.fixture(scope="module")
def ridge():
    """K=5 on a cohort of three populations: the two extra components sit on a likelihood
    ridge, where block relaxation gains a little less each iteration for a long time."""
    return simulate_psd(100, 2000, 3, fst=0.05, alpha=0.5, missing_rate=0.01, seed=1).genotypes


@pytest.mark.parametrize("acceleration", fit.ACCELERATIONS)
def test_on_a_ridge_the_fit_ends_at_the_optimum_not_where_gains_get_small(ridge, acceleration):
    """The old rule (stop at the first gain below tol x |loglik|) ends 1.4e-9 (quasi-Newton) to
    2.3e-8 below the optimum on this ridge, short of the tolerance; the rule on the gain still
    to come ends within about tol of it (1.3e-10 to 9.8e-10), with every acceleration, and the
    log-likelihood never goes down."""
    tol = 1e-9
    optimum = fit.fit(ridge, 5, seed=1, tol=1e-15, max_iter=5000).log_likelihood
    result = fit.fit(ridge, 5, seed=1, tol=tol, acceleration=acceleration)
    assert result.stopped_by == "tolerance" and np.all(np.diff(result.trace) >= 0)
    trace = result.trace
    gains = np.diff(trace)
    old_stop = 1 + next(t for t, gain in enumerate(gains) if gain < tol * abs(trace[t + 1]))
    assert (optimum - trace[old_stop]) / abs(optimum) > tol
    assert (optimum - result.log_likelihood) / abs(optimum) < 1.5 * tol


def test_quasi_newton_takes_fewer_passes_on_a_ridge(ridge):
    passes = {a: fit.fit(ridge, 5, seed=1, acceleration=a).passes for a in fit.ACCELERATIONS}
    assert passes["quasi-newton"] < 0.6 * min(passes["sor"], passes["none"])


class _SecantsThatAlwaysMapTheJump(fit._Secants):
    """The extrapolation without the log-likelihood check after a failed jump."""

    @property
    def last_jump_failed(self) -> bool:
        return False

    @last_jump_failed.setter
    def last_jump_failed(self, failed: bool) -> None:
        pass


def test_after_a_failed_jump_the_next_is_checked_cheaply_with_the_same_iterates(ridge, monkeypatch):
    """On a ridge many jumps fall short of the plain step; scoring the one after a failure by a
    log-likelihood pass before evaluating the map there saves passes and changes no iterate."""
    checked = fit.fit(ridge, 5, seed=2)  # (a seed whose fit has runs of failed jumps: 155 / 166)
    monkeypatch.setattr(fit, "_Secants", _SecantsThatAlwaysMapTheJump)
    mapped = fit.fit(ridge, 5, seed=2)
    assert checked.trace == mapped.trace
    np.testing.assert_array_equal(checked.q, mapped.q)
    assert checked.passes < mapped.passes


class _SaddleToy:
    """A stand-in for the block-relaxation map with a saddle point: the log-likelihood
    ``-1000 - a^2 + b^2 - b^4`` of ``x = (a, b)`` (held as a 1 x 2 Q and an empty F), whose map
    halves ``a`` and takes a short gradient step in ``b``. The map contracts ``a`` and expands
    ``b`` by 1.06 at the saddle ``(0, 0)``; the maxima are at ``b = +-1/sqrt(2)`` (-999.75)."""

    fix_f = False
    relaxation = 1.0
    steps_taken = 0
    f_steps = first_f_steps = 1

    def __init__(self):
        self.engine = self

    def log_likelihood(self, q, f):
        a, b = q[0]
        return -1000.0 - a * a + b * b - b**4

    def step(self, q, f):
        a, b = q[0]
        return np.array([[0.5 * a, b + 0.03 * (2 * b - 4 * b**3)]]), f, self.log_likelihood(q, f)

    def constrain(self, q, f, reference_f):
        return q, f


def _iterate_toy(**options):
    start = np.array([[1.0, 1e-6]])
    return fit._iterate(
        _SaddleToy(),
        start,
        np.zeros((0, 1)),
        tol=1e-9,
        max_iter=1000,
        progress=None,
        stage="fit",
        **options,
    )


def test_a_stop_beside_a_saddle_is_checked_and_the_fit_leaves_it(monkeypatch):
    """Converging along the stable direction, the gains vanish beside the saddle long before the
    expanding direction shows; the check at the stop finds that direction and the fit goes on to
    the maximum, with a log-likelihood that never decreases. Without the check it stops there."""
    run = _iterate_toy()
    assert run.stop == "tolerance" and run.saddles == 1
    assert run.trace[-1] == pytest.approx(-999.75, abs=1e-6)
    assert abs(run.q[0, 1]) == pytest.approx(1 / math.sqrt(2), abs=1e-3)
    assert np.all(np.diff(run.trace) >= 0)
    monkeypatch.setattr(fit, "SADDLE_MARGIN", math.inf)
    unchecked = _iterate_toy()
    assert unchecked.saddles == 0 and unchecked.trace[-1] < -999.99


def test_a_fit_resumed_before_or_after_leaving_a_saddle_ends_as_the_unbroken_one():
    """A checkpoint keeps the saddle counts: resumed from any saved state, before the check or
    after the escape, the fit ends with the trace and the saddle count of the unbroken fit."""
    states = []
    whole = _iterate_toy(saver=lambda make: states.append(make()))
    assert whole.saddles == 1 and {state.saddles for state in states} == {0, 1}
    for state in states:
        resumed = _iterate_toy(resume=state)
        assert resumed.trace == whole.trace and resumed.saddles == 1


def test_the_expanding_direction_of_a_linear_map_from_two_secant_pairs():
    """Iterates of a linear map near its fixed point, mostly along a contracting direction with a
    trace of one that the map expands by 1.08: the Ritz vector of two secant pairs is the
    expanding direction; a map that contracts both gives none."""
    rng = np.random.default_rng(0)
    basis, _ = np.linalg.qr(rng.standard_normal((6, 6)))

    def secants(eigenvalues):
        jacobian = basis @ np.diag(eigenvalues) @ basis.T
        x = [basis @ np.array([1e-3, 1.0, 0, 0, 0, 0])]
        for _ in range(3):
            x.append(jacobian @ x[-1])
        steps = np.diff(np.array(x), axis=0)
        return steps[:-1], steps[1:]

    direction = fit._expanding_direction(*secants([1.08, 0.5, 0.2, 0.1, 0.1, 0.1]))
    cosine = abs(direction @ basis[:, 0]) / np.linalg.norm(direction)
    assert cosine > 0.999
    assert fit._expanding_direction(*secants([0.98, 0.5, 0.2, 0.1, 0.1, 0.1])) is None


def test_the_quasi_newton_jump_goes_forward_along_a_direction_the_map_expands():
    """ZAL jumps to the fixed point of the linearised map: for a map that contracts, the fixed
    point itself; beside a saddle that point is the saddle, so along the direction the map expands
    (by 1.06 here) the jump goes forward instead, and counts as a sign of a saddle."""
    rotation, _ = np.linalg.qr(np.random.default_rng(1).standard_normal((2, 2)))

    def jump(eigenvalues):
        jacobian = rotation @ np.diag(eigenvalues) @ rotation.T
        x = [rotation @ np.array([0.01, 1.0])]
        for _ in range(3):
            x.append(jacobian @ x[-1])
        secants = fit._Secants(2)
        secants.record(x[1] - x[0], x[2] - x[1])
        secants.record(x[2] - x[1], x[3] - x[2])
        target = secants.extrapolate(x[1], x[2] - x[1])
        return rotation.T @ x[1], rotation.T @ target, secants.saddle_signs

    start, target, signs = jump([0.9, 0.5])
    np.testing.assert_allclose(target, 0.0, atol=1e-9)
    assert signs == 0
    start, target, signs = jump([1.06, 0.5])
    assert target[0] > start[0] * 2 and abs(target[1]) < 1e-9
    assert signs == 1


def test_a_fit_without_signs_of_a_saddle_stops_without_the_check(cohort, monkeypatch):
    """The check costs two map evaluations; it runs only after a quasi-Newton jump fell short or
    a secant expanded a direction (on a well-separated cohort neither happens), so such a fit
    takes the passes it took before."""
    checked = fit.fit(cohort.genotypes, 3, seed=1)
    monkeypatch.setattr(fit, "_saddle_escape", lambda *args: pytest.fail("checked for a saddle"))
    assert fit.fit(cohort.genotypes, 3, seed=1).passes == checked.passes
    assert checked.saddles == 0


def test_a_far_start_still_climbs_monotonically(cohort):
    """From a random Q the Newton points overshoot at first; the accepted likelihood never drops
    and the fit still reaches the optimum."""
    far = fit.fit(cohort.genotypes, 3, init="random", seed=4)
    assert np.all(np.diff(far.trace) >= 0)
    reference = fit.fit(cohort.genotypes, 3, init_q=cohort.q, tol=1e-12)
    assert far.log_likelihood == pytest.approx(reference.log_likelihood, rel=1e-7)


def test_subset_start_then_all_snps(cohort):
    """A start refined on a SNP subset continues on all SNPs and reaches the same optimum."""
    subset = fit.fit(cohort.genotypes, 3, seed=3, start_snps_limit=500)
    assert subset.start_passes > 0 and subset.passes > 0
    common = fit.fit(cohort.genotypes, 3, seed=3, start_snps_limit=10_000)
    assert subset.start_passes < common.start_passes  # a start on fewer SNPs costs less
    assert subset.log_likelihood == pytest.approx(common.log_likelihood, rel=1e-8)


def test_a_fit_counts_its_accepted_iterations_whether_or_not_the_start_was_the_fit(cohort):
    """The summary's iteration count is the accepted iterations (the trace less its first
    point), also when the start's SNP subset is every SNP and the start is the fit (which
    counted its first point as an iteration)."""
    frequencies, _ = allele_frequencies(cohort.genotypes)
    few = cohort.genotypes.select_snps(np.flatnonzero((frequencies > 0) & (frequencies < 1))[:90])
    whole = fit.fit(few, 3, seed=3)  # fewer than 100 common SNPs: the start is on all of them
    subset = fit.fit(cohort.genotypes, 3, seed=3, start_snps_limit=500)
    assert whole.start_passes == 0 and subset.start_passes > 0
    for result in (whole, subset):
        assert result.iterations == len(result.trace) - 1 > 0


def test_the_start_uses_common_snps_only():
    """Rare variants dominate the leading axes of a small cohort with noise; the start leaves
    them out (and falls back to every polymorphic SNP when few are common)."""
    cohort = simulate_psd(80, 600, 2, fst=0.3, seed=5)
    frequency = cohort.genotypes.calls.mean(axis=0) / 2
    chosen = starts.start_snps(cohort.genotypes)
    minor = np.minimum(frequency, 1 - frequency)
    assert (minor[chosen] >= starts.START_MAF - 1e-9).all()
    assert set(np.flatnonzero(minor >= starts.START_MAF)) == set(chosen)
    assert len(starts.start_snps(cohort.genotypes, limit=50)) == 50


def test_several_starts_keep_the_best(cohort):
    result = fit.fit(cohort.genotypes, 3, seed=7, seeds=3, init="random")
    assert [seed for seed, _ in result.starts] == [7, 8, 9]
    singles = [fit.fit(cohort.genotypes, 3, seed=s, init="random") for s in (7, 8, 9)]
    assert result.log_likelihood >= max(r.log_likelihood for r in singles) - 1e-6 * abs(
        result.log_likelihood
    )


def test_same_seed_same_result_for_any_thread_count(cohort):
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = fit.fit(cohort.genotypes, 3, seed=5, max_iter=6, init="random")
        numba.set_num_threads(min(2, numba.config.NUMBA_NUM_THREADS))
        two = fit.fit(cohort.genotypes, 3, seed=5, max_iter=6, init="random")
    finally:
        numba.set_num_threads(before)
    np.testing.assert_array_equal(one.q, two.q)
    np.testing.assert_array_equal(one.p, two.p)
    other = fit.fit(cohort.genotypes, 3, seed=6, max_iter=6, init="random")
    assert not np.array_equal(one.q, other.q)


def test_projection_reproduces_q_of_the_fit(cohort):
    fitted = fit.fit(cohort.genotypes, 3, seed=3, tol=1e-10)
    projected = fit.project(cohort.genotypes, fitted.p, tol=1e-10)
    np.testing.assert_array_equal(projected.p, fitted.p)
    assert np.abs(projected.q - fitted.q).max() < 1e-4


def test_projection_refuses_p_of_other_snps(cohort):
    with pytest.raises(InputError, match="SNPs"):
        fit.project(cohort.genotypes, np.full((10, 3), 0.5))


def test_k_must_be_below_the_number_of_samples():
    small = simulate_psd(5, 50, 2, seed=1)
    with pytest.raises(InputError, match="as many ancestral populations as the 5 samples"):
        fit.fit(small.genotypes, 5)


def test_supervised_rows_stay_fixed(cohort):
    labels = np.array(["", ""] * 120, dtype=object)
    labels[:90] = cohort.labels[:90]
    result = fit.fit_supervised(cohort.genotypes, labels, seed=2, tol=1e-7)
    names = known_populations(labels)
    assert result.q.shape == (240, len(names))
    for i in range(90):
        assert names[int(result.q[i].argmax())] == labels[i]
        assert result.q[i].max() == pytest.approx(1 - (len(names) - 1) * bounds.Q_MIN)
    assert np.all(result.q[90:].max(axis=1) < 1.0)
    with pytest.raises(InputError, match="smaller than"):
        fit.fit_supervised(cohort.genotypes, labels, k=1)


def test_polish_reaches_the_optimum_from_a_rough_start(cohort):
    optimum = fit.fit(cohort.genotypes, 3, seed=3, tol=1e-10)
    rough_q = 0.6 * cohort.q + 0.4 / 3
    polished = fit.polish(cohort.genotypes, rough_q, cohort.p)
    assert polished.converged and polished.iterations > 0 and polished.seconds > 0
    assert polished.log_likelihood == pytest.approx(optimum.log_likelihood, rel=1e-8)
    with pytest.raises(InputError, match="polish the .Q/.P"):
        fit.polish(cohort.genotypes, rough_q[:10], cohort.p)


def test_a_cpu_fit_loads_neither_torch_nor_the_decoded_matrix(tmp_path):
    cohort = simulate_psd(60, 400, 2, seed=2)
    write_bed(tmp_path / "x", cohort.genotypes)
    code = (
        "import sys; from neuradmix.data import read_bed; from neuradmix.classic import fit; "
        f"g = read_bed({str(tmp_path / 'x.bed')!r}); r = fit.fit(g, 2); "
        "assert 'torch' not in sys.modules, 'torch imported'; "
        "assert g._calls is None, 'the N x M matrix was decoded'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# ------------------------------------------------------------------------------------------
# Subcommands
# ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fileset(tmp_path_factory, cohort):
    prefix = tmp_path_factory.mktemp("em") / "toy"
    write_bed(prefix, cohort.genotypes)
    return prefix


def test_cli_em_project_polish(fileset, tmp_path, capsys):
    out = tmp_path / "fit"
    assert main(["em", str(fileset) + ".bed", "--k", "3", "--out", str(out), "--threads", "1"]) == 0
    captured = capsys.readouterr()
    found = re.search(r"^Loglikelihood: (-\d+\.\d+)\t\((.*)\)$", captured.out, re.MULTILINE)
    loglik = float(found.group(1))
    assert found.group(2).startswith("converged")  # the line says which rule stopped the fit
    # One progress line per iteration on stderr: stage, iteration, log-likelihood, seconds.
    lines = [line for line in captured.err.splitlines() if re.match(r"^(start|fit) +\d+ ", line)]
    assert len(lines) >= 3 and all(re.search(r"loglik -\d+\.\d+ .* s$", x) for x in lines)
    q = read_q(out / "toy.3.Q", 240)
    p = read_p(out / "toy.3.P", 2500)
    genotypes = read_bed(str(fileset) + ".bed")
    assert log_likelihood(genotypes, q, p) == pytest.approx(loglik, rel=1e-6)
    timing = read_timing(out / "toy.3.timing.tsv")
    assert (timing.command, timing.tool, timing.k_values) == ("em", "em", [3])
    assert 0 < timing.fit_seconds < timing.process_seconds and timing.threads == 1

    assert main(["project", str(fileset) + ".bed", "--p", str(out / "toy.3.P"),
                 "--out", str(tmp_path / "proj"), "--name", "val"]) == 0  # fmt: skip
    assert read_q(tmp_path / "proj" / "val.3.Q", 240).shape == (240, 3)

    assert main(["polish", str(fileset) + ".bed", "--q", str(out / "toy.3.Q"),
                 "--p", str(out / "toy.3.P"), "--out", str(tmp_path / "pol")]) == 0  # fmt: skip
    printed = capsys.readouterr().out
    assert re.search(r"Polish: \d+ iterations \(\d+ passes\) in [0-9.]+ s", printed)
    assert (tmp_path / "pol" / "toy.3.Q").is_file() and (tmp_path / "pol" / "toy.3.P").is_file()


def test_cli_seeds_report_each_start(fileset, tmp_path, capsys):
    args = ["em", str(fileset) + ".bed", "--k", "2", "--out", str(tmp_path), "--seeds", "3",
            "--init", "random", "--quiet"]  # fmt: skip
    assert main(args) == 0
    captured = capsys.readouterr()
    starts = re.findall(r"start seed (\d+): log-likelihood", captured.out)
    assert starts == ["42", "43", "44"]
    assert captured.err == ""  # --quiet: no progress lines


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        (["em", "{bed}", "--k", "2", "--out", "{file}"], "is a file"),
        (["em", "{bed}", "--k", "2", "--out", "{out}", "--name", "a/b"], "plain file stem"),
        (["em", "{bed}", "--k", "240", "--out", "{out}"], "240 samples"),
        (["em", "{bed}", "--k", "0", "--out", "{out}"], "at least 1"),
        (["em", "{bed}", "--k", "2", "--out", "{out}", "--bootstrap", "1"], "at least 2"),
        (["polish", "{bed}", "--q", "x.Q", "--p", "x.P", "--out", "{file}"], "is a file"),
        (["project", "{bed}", "--p", "x.P", "--out", "{file}"], "is a file"),
        (["cv", "{bed}", "--k", "240"], "240 samples"),
        (["baseline", "{bed}", "--k", "240", "--tool", "em", "--out", "{out}"], "240 samples"),
        (["baseline", "{bed}", "--k", "2", "--tool", "em", "--out", "{file}"], "is a file"),
    ],
)
def test_cli_checks_before_fitting(fileset, tmp_path, capsys, monkeypatch, command, expected):
    """Each bad argument ends in one line naming it, exit status 2, no outputs, and no fit."""

    def no_fit(*args, **kwargs):
        raise AssertionError("a fit started before the arguments were checked")

    from neuradmix.classic import tools

    monkeypatch.setattr(fit, "fit", no_fit)
    monkeypatch.setattr(tools, "run_baseline", no_fit)
    taken = tmp_path / "afile"
    taken.write_text("not a directory")
    values = {"bed": f"{fileset}.bed", "file": str(taken), "out": str(tmp_path / "o")}
    assert main([part.format(**values) for part in command]) == 2
    err = capsys.readouterr().err
    assert expected in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(
    "option",
    [
        ["--threads", "0"],
        ["--seeds", "0"],
        ["--tol", "-1"],
        ["--max-iter", "0"],
        ["--bootstrap-block", "0"],
        ["--bootstrap", "-2"],
    ],
)
def test_cli_refuses_non_positive_numbers(fileset, tmp_path, capsys, option):
    with pytest.raises(SystemExit) as stop:
        main(["em", f"{fileset}.bed", "--k", "2", "--out", str(tmp_path / "o"), *option])
    assert stop.value.code == 2
    assert f"argument {option[0]}: '{option[1]}' is not a" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_cli_cv_needs_two_folds(fileset, capsys):
    with pytest.raises(SystemExit):
        main(["cv", f"{fileset}.bed", "--k", "2", "--folds", "1"])
    assert "argument --folds: '1' is not an integer of at least 2" in capsys.readouterr().err


def test_cli_project_refuses_mismatched_p(fileset, tmp_path, capsys):
    bad = tmp_path / "ref.3.P"
    write_p(bad, np.full((100, 3), 0.5))
    out = tmp_path / "proj"
    assert main(["project", str(fileset) + ".bed", "--p", str(bad), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert str(bad) in err and "100 rows" in err and len(err.strip().splitlines()) == 1
    assert not out.exists() or not any(out.iterdir())


def test_cli_project_takes_the_convergence_options(fileset, tmp_path, capsys):
    """`project --max-iter/--acceleration` reach the projection EM (its help offers them)."""
    fit_dir = tmp_path / "fit"
    assert main(["em", str(fileset) + ".bed", "--k", "3", "--out", str(fit_dir), "--quiet"]) == 0
    lls = {}
    for label, extra in (("full", []), ("one", ["--max-iter", "1", "--acceleration", "none"])):
        capsys.readouterr()
        args = ["project", str(fileset) + ".bed", "--p", str(fit_dir / "toy.3.P"),
                "--out", str(tmp_path / label), "--quiet", *extra]  # fmt: skip
        assert main(args) == 0
        lls[label] = float(re.search(r"^Loglikelihood: (\S+)", capsys.readouterr().out, re.M)[1])
    assert lls["one"] < lls["full"] - 1.0
