"""Maximum likelihood for the ADMIXTURE model: block relaxation with exact Newton steps.

Model
-----
Genotype ``g_ij ~ Binomial(2, p_ij)`` with ``p_ij = sum_k q_ik f_jk`` (Equation 1 of the paper);
missing calls are skipped. As in ADMIXTURE, ``f`` lies in ``[F_MIN, F_MAX] = [1e-5, 1 - 1e-5]``
and every row of ``Q`` on the simplex with ``q >= Q_MIN = 1e-5``.

Updates (Alexander, Novembre & Lange 2009)
------------------------------------------
The log-likelihood is concave in F for fixed Q and in Q for fixed F, and both blocks split into
small independent problems: one of size K per SNP, one per sample. One iteration is two passes
over the packed genotypes by a compute engine (:mod:`neuradmix.compute`):

1. for every SNP, the Newton step of ``f_j`` on its box (the exact solution of the K-dimensional
   quadratic model with the bounds, by an active-set method), with the log-likelihood at the
   start of the iteration computed in the same pass;
2. for every sample, the Newton step of ``q_i`` on the simplex, at the new F.

Quadratic convergence inside each block makes this converge in tens of iterations where EM
needs hundreds of passes. When the Newton point of a block would lower the likelihood (far from
the optimum), the iteration falls back to a damped step, so the log-likelihood at the start of
every iteration never decreases.

Acceleration
------------
Near the optimum the coupling of Q and F makes block relaxation converge linearly, and on the
likelihood ridges of real cohorts (K above the number of distinct ancestries, components that
differ little) very slowly. The default extrapolates the iteration map ``G`` (Zhou, Alexander &
Lange 2011, Stat Comput 21:261): the last two secant pairs ``(G(x) - x, G(G(x)) - G(x))`` give the
map's Jacobian on their span, and the step goes to the fixed point of that linear map, but for a
direction the map expands (leaving a saddle point), along which it goes forward instead of back to
the saddle (:meth:`_Secants.extrapolate`). The point is kept only when its log-likelihood is at
least that of ``G(x)``; otherwise ``G(x)`` is taken, so the monotone guarantee stands.
``acceleration="sor"`` over-relaxes each block step by 1.3 instead, and ``"none"`` runs the plain
map (the measurements that chose the default are in ``benchmarks/classic_suite.py``).

Stopping rule
-------------
ADMIXTURE stops when one iteration gains less than a tolerance; on a ridge every gain is small
long before the optimum. Here the fit stops when both the last gain and the gain still to come
are below ``tol * |loglik|``, the latter predicted from the rate at which the gains shrink
(:func:`_remaining_gain`), so the reported fit is within about ``tol`` (relative) of the maximum
the iteration reaches; with ``tol = 1e-9`` about a tenth of a unit on 100 million genotypes. A
fit also stops when no step from its point rises any more, and at ``max_iter``; the result says
which rule ended it (``stopped_by``).

On a ridge the iteration can also converge towards a saddle point along its stable directions, with
gains that shrink as at a maximum. After signs that the map does not contract everywhere
(quasi-Newton jumps that fell short, secants that expand a direction; neither occurs on
well-separated cohorts, which pay nothing), a stop by the tolerance is checked with two plain steps:
when the map expands a direction of their span, a line search along it leaves the saddle and the
iteration goes on (``saddles`` counts them; :func:`_saddle_escape`).

Starts
------
The default start is PCK-Means (the paper's Algorithm 1, as the network starts): K-Means on the
leading axes of a randomised SVD of the standardised genotypes of a subset of common SNPs (minor
allele frequency >= 5%: rare variants dominate the leading axes of small cohorts with noise),
each cluster's samples given that component, refined by this same iteration on the subset.
``init="svd"`` first moves the clusters by alternating least squares on the low-rank
reconstruction (the approach of SCOPE and fastmixture). On cohorts fitted with K above their
sources the start decides which of several nearby optima the fit ends in; ``defaults.DEFAULT_INIT``
says how the default was chosen. F for all SNPs then starts from least squares given that Q, with
a few Newton steps per SNP in the first pass. ``seeds`` starts compete on the subset; the best
one is refined on all SNPs.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from ..compute.bounds import Q_MIN, project_f, project_q
from ..compute.engines import make_engine
from ..data import Genotypes, is_unknown, known_populations, make_genotypes
from ..errors import InputError
from .defaults import (
    ACCELERATIONS,
    DEFAULT_ACCELERATION,
    DEFAULT_INIT,
    DEFAULT_MAX_ITER,
    DEFAULT_TOL,
    STARTS,
)
from .starts import (
    START_SNPS,
    frequencies_given_q,
    pckmeans_q,
    random_start,
    start_snps,
    svd_start,
)

# The subset refinement stops at this relative tolerance (the full-data passes finish the job).
SUBSET_TOL = 1e-7
# Newton steps per SNP in the first pass over all SNPs (F given the start's Q, solved in cache).
# A given F (a polish, --init-p) is already a fit's and takes one, like every later pass: polishing
# the network's fit of a 1,600 x 100,000 coalescent cohort then took 3.75 s instead of 4.4-4.7 s,
# with the same 22 passes and optimum (ridge, PSD, 105-sample cohorts: the same iterations, up
# to 12% faster, but for one of four ridge K=4 starts, which went on to another optimum).
F_START_STEPS = 6
# Over-relaxation of the block steps after the first RELAX_AFTER iterations (measured on a
# 2,000 x 100,000 coalescent cohort: 1.3 after 2 took 22 passes, the plain iteration 26).
RELAXATION = 1.3
RELAX_AFTER = 2
# The quasi-Newton acceleration (the default of ACCELERATIONS) extrapolates from the last
# SECANTS secant pairs.
SECANTS = 2
# Along a direction the secants say the map expands (leaving a saddle), the quasi-Newton jump
# goes forward by at most this many of its secant steps (1 / (l - 1) for the eigenvalue l; 16 is
# l = 1.06, the growth measured beside a saddle of the ridge cohort at K=4).
SADDLE_FREE_STEP = 16.0
SADDLE_FREE = True  # False: every jump to the fixed point (the ablation in benchmarks/)
# Secant steps' Gram eigenvalues below this fraction of the largest are cut (singular values of
# the steps below 1e-6 of the largest): see _secant_coordinates.
RITZ_CUT = 1e-12
# The stopping rule's estimate of the convergence rate is capped here (gains that do not
# shrink at all would predict an infinite remaining gain and never stop).
MAX_RATE = 0.999
# A stop on a likelihood ridge can lie beside a saddle point of the likelihood, which the iteration
# approaches along its stable directions while the gains shrink as at a maximum (see
# _saddle_escape). After signs that the map is not a contraction there (quasi-Newton jumps that fell
# short, secants that expand a direction; on the coalescent, PSD and 105-sample cohorts of the suite
# there are none) the stop is checked by SADDLE_STEPS plain steps: a secant eigenvalue above 1 +
# SADDLE_MARGIN marks a direction the map expands, and a line search along it (steps of
# SADDLE_FIRST_STEP to SADDLE_LONGEST_STEP times the last plain step, doubling) leaves the saddle. A
# fit leaves at most MAX_SADDLES of them.
SADDLE_STEPS = 2
SADDLE_MARGIN = 0.01
SADDLE_FIRST_STEP = 4.0
SADDLE_LONGEST_STEP = 2.0**16
MAX_SADDLES = 4
# Which rule ended an iteration: the gain (last and still to come) fell below the tolerance,
# no step from the point rose any more, or the iteration limit was reached.
STOP_RULES = {
    "tolerance": "converged: the last gain and the gain still to come are below --tol",
    "no-ascent": "converged: no step rises any more",
    "max-iter": "stopped at --max-iter",
}

Progress = Callable[[str, int, float, float], None]
# Called after every accepted iteration with a function that returns the state there (for a
# resume checkpoint, see :mod:`neuradmix.classic.resume`).
Saver = Callable[[Callable[[], "IterationState"]], None]


@dataclass
class FitResult:
    """A fit: ``q`` (N x K), ``p`` (M x K, ``.P`` orientation) and how it got there."""

    q: np.ndarray
    p: np.ndarray
    log_likelihood: float
    iterations: int
    passes: int
    seconds: float
    stopped_by: str  # a key of STOP_RULES
    trace: list[float] = field(default_factory=list)
    starts: list[tuple[int, float]] = field(default_factory=list)  # (seed, subset log-lik)
    start_passes: float = 0.0  # passes over the start's SNP subset, in whole-cohort passes
    saddles: int = 0  # saddle points the fit stopped beside and left (see _saddle_escape)

    @property
    def k(self) -> int:
        return self.q.shape[1]

    @property
    def converged(self) -> bool:
        return self.stopped_by != "max-iter"

    @property
    def stop_rule(self) -> str:
        """What ended the fit, in words."""
        return STOP_RULES[self.stopped_by]


# ------------------------------------------------------------------------------------------
# The iteration
# ------------------------------------------------------------------------------------------


class _Iteration:
    """The block-relaxation map on (Q, F) on one compute engine, with fixed rows or a fixed F."""

    def __init__(
        self,
        engine,
        fixed_rows: np.ndarray | None,
        fixed_q,
        fix_f: bool,
        f_steps: int = 1,
        first_f_steps: int = 1,
        relaxation: float = RELAXATION,
        relax_after: int = RELAX_AFTER,
    ):
        self.engine = engine
        self.fixed_rows = fixed_rows
        self.fixed_q = fixed_q
        self.fix_f = fix_f
        self.f_steps = f_steps
        # Newton steps per SNP in the first pass: F that starts far from its optimum given Q
        # (the Q-weighted frequencies after a start on a SNP subset) converges in cache.
        self.first_f_steps = first_f_steps
        self.relaxation = relaxation
        self.relax_after = relax_after
        self.steps_taken = 0

    def step(self, q, f):
        """One iteration from (q, f): returns the new (q, f) and the log-likelihood at (q, f)."""
        if self.fix_f:
            ll = self.engine.log_likelihood(q, f)
            f_new = f
        else:
            steps, self.first_f_steps = max(self.first_f_steps, self.f_steps), self.f_steps
            f_new, ll = self.engine.frequencies(q, f, steps)
        q_new = self.engine.ancestry(q, f_new, self.fixed_rows)
        self.steps_taken += 1
        if self.relaxation != 1.0 and self.steps_taken > self.relax_after:
            # Over-relaxed block steps (block SOR): past the first iterations the coupling of
            # Q and F makes the plain iteration converge linearly, and stepping a little beyond
            # each block's Newton point shortens it; the monotone safeguard of _iterate rejects
            # any step that lowers the likelihood.
            if not self.fix_f:
                f_new = project_f(f + self.relaxation * (f_new - f))
            q_new = project_q(q + self.relaxation * (q_new - q))
            if self.fixed_rows is not None:
                q_new[self.fixed_rows] = self.fixed_q
        return q_new, f_new, ll

    def constrain(self, q, f, reference_f):
        q = project_q(q)
        if self.fixed_rows is not None:
            q[self.fixed_rows] = self.fixed_q
        return q, (reference_f if self.fix_f else project_f(f))


@dataclass
class _Point:
    """An accepted point ``x = (q, f)`` of the iteration, its log-likelihood and its image
    ``G(x)`` under the block-relaxation map."""

    q: np.ndarray
    f: np.ndarray
    ll: float
    image_q: np.ndarray
    image_f: np.ndarray


@dataclass
class IterationState:
    """Everything :func:`_iterate` needs to continue exactly where it was after an accepted
    iteration (what a resume checkpoint holds): the point and its image, the trace of
    log-likelihoods, the secant pairs of the quasi-Newton step and how many block steps were
    taken (the over-relaxation starts after ``RELAX_AFTER``), how many signs of a saddle the
    quasi-Newton steps met (failed jumps, expanding secants) and how many saddles were left (which
    decide a saddle check at the stop, see :func:`_saddle_escape`). ``starts`` and ``start_passes``
    carry the fit's record of its starts; ``whole`` says the start's subset was every SNP."""

    q: np.ndarray
    f: np.ndarray
    ll: float
    image_q: np.ndarray
    image_f: np.ndarray
    trace: list[float]
    iterations: int
    secants_u: list[np.ndarray]
    secants_v: list[np.ndarray]
    steps_taken: int
    starts: list[tuple[int, float]] = field(default_factory=list)
    start_passes: float = 0.0
    whole: bool = False
    saddle_signs: int = 0
    saddles: int = 0


class _Secants:
    """The quasi-Newton extrapolation of Zhou, Alexander & Lange (2011) for a fixed-point map
    ``G``: from the last ``size`` secant pairs ``u = G(x) - x``, ``v = G(G(x)) - G(x)`` it takes
    ``M ~ V (U'U)^-1 U'`` as the map's Jacobian on their span and jumps to the fixed point of the
    linearised map, ``x + (I - M)^-1 u = x + u + V (U'U - U'V)^-1 U'u``.

    ``last_jump_failed`` records whether the last jump fell short of the plain step: jumps fail in
    runs (on a likelihood ridge, about half of them), so after a failure the next jump is scored
    by a log-likelihood pass alone before the map is evaluated there (see :func:`_advance`)."""

    def __init__(self, size: int):
        self.size = size
        self.u: list[np.ndarray] = []
        self.v: list[np.ndarray] = []
        self.last_jump_failed = False
        self.saddle_signs = 0  # jumps that fell short and expanding secants (see _iterate)

    def clear(self) -> None:
        self.u.clear()
        self.v.clear()

    def record(self, u: np.ndarray, v: np.ndarray) -> None:
        self.u = [*self.u[-(self.size - 1) :], u] if self.size > 1 else [u]
        self.v = [*self.v[-(self.size - 1) :], v] if self.size > 1 else [v]

    def extrapolate(self, x: np.ndarray, u: np.ndarray) -> np.ndarray | None:
        """The jump from ``x`` whose map step is ``u`` (its pair recorded last).

        With ``C`` the map's Jacobian on the span of the secants (:func:`_secant_coordinates`)
        and ``a`` the coordinates of ``u`` there, the jump is ``x + u + V (I - C)^-1 a``. Along a
        direction the map expands (a real eigenvalue ``l > 1`` of ``C``: the point is leaving a
        saddle), ``1 / (1 - l) < 0`` would jump back onto the saddle; there the jump goes on
        forward by ``1 / (l - 1)``, at most ``SADDLE_FREE_STEP`` (as saddle-free Newton steps use
        the absolute curvature), and the monotone safeguard of :func:`_advance` decides."""
        big_u, big_v = np.array(self.u), np.array(self.v)
        try:
            jacobian, coordinates = _secant_coordinates(big_u, big_v, u[None, :])
            coordinates = coordinates[:, 0]
            values, vectors = np.linalg.eig(jacobian)
            if SADDLE_FREE and np.all(values.imag == 0.0) and np.any(values.real > 1.0):
                self.saddle_signs += 1
                values, vectors = values.real, vectors.real
                gains = np.where(
                    values > 1.0,
                    np.minimum(1.0 / (values - 1.0), SADDLE_FREE_STEP),
                    1 / (1 - values),
                )
                coefficients = vectors @ (gains * np.linalg.solve(vectors, coordinates))
            else:
                coefficients = np.linalg.solve(np.eye(len(values)) - jacobian, coordinates)
        except np.linalg.LinAlgError:
            self.clear()
            return None
        if not np.all(np.isfinite(coefficients)):
            self.clear()
            return None
        return x + u + coefficients @ big_v


def _remaining_gain(gains: list[float]) -> float:
    """The log-likelihood still to be gained if the iteration goes on as it has: with gains
    falling geometrically by a rate ``r`` (the linear convergence of block relaxation), what is
    left after a gain ``g`` is ``g r / (1 - r)``. The rate is the largest ratio of consecutive
    gains among the last three, so a ridge (gains that shrink slowly) keeps the fit going where
    a rule on the last gain alone would stop it."""
    if len(gains) < 3:
        return math.inf
    recent = gains[-4:]
    ratios = [b / a for a, b in zip(recent[:-1], recent[1:], strict=True) if a > 0 and b >= 0]
    if not ratios:
        return 0.0
    rate = min(max(ratios), MAX_RATE)
    return gains[-1] * rate / (1.0 - rate)


@dataclass
class _Run:
    """What :func:`_iterate` ends with: the point, the trace of accepted log-likelihoods, the
    iterations, the rule that stopped it (:data:`STOP_RULES`) and the saddles it left."""

    q: np.ndarray
    f: np.ndarray
    trace: list[float]
    iterations: int
    stop: str
    saddles: int


def _iterate(
    iteration: _Iteration,
    q,
    f,
    *,
    tol: float,
    max_iter: int,
    progress: Progress | None,
    stage: str,
    acceleration: str = DEFAULT_ACCELERATION,
    rough: bool = False,
    resume: IterationState | None = None,
    saver: Saver | None = None,
) -> _Run:
    """Iterate to convergence.

    ``resume`` continues from a saved state (the same iterates as if never stopped);
    ``saver(make_state)`` is called after every accepted iteration with a function that
    returns the state at that point (cheap: it shares the arrays).

    The loop keeps an accepted point ``x`` with its log-likelihood and the map's image
    ``x1 = G(x)``. Evaluating ``G(x1)`` yields the log-likelihood of ``x1``: when it is lower than
    that of ``x`` (a Newton point overshot, far from the optimum) ``x1`` is moved half way back
    towards ``x`` and evaluated again. With ``acceleration="quasi-newton"`` the two images give a
    secant pair, and the quasi-Newton point ``xa`` (:class:`_Secants`) is accepted when its
    log-likelihood (from ``G(xa)``; after a failed jump, from a log-likelihood pass first) is at
    least that of ``x1``; otherwise ``x1`` is. The accepted log-likelihood never decreases.

    The iteration stops when both the last gain and the gain still to come
    (:func:`_remaining_gain`) are below ``tol * |loglik|`` (``rough``: the last gain alone, for a
    start that the full data will refine), when no step from ``x`` rises any more, or after
    ``max_iter`` iterations. When quasi-Newton jumps fell short or secants expanded a direction on
    the way, a stop by the tolerance is first checked for a saddle point beside it
    (:func:`_saddle_escape`); the iteration goes on from the point that leaves it.
    """
    if acceleration not in ACCELERATIONS:
        raise InputError(f"--acceleration {acceleration!r}: choose {', '.join(ACCELERATIONS)}.")
    if acceleration != "sor":
        iteration.relaxation = 1.0
    secants = _Secants(SECANTS) if acceleration == "quasi-newton" else None
    tick = time.perf_counter()
    saddles = 0
    if resume is None:
        x1_q, x1_f, ll = iteration.step(q, f)
        _check_finite(ll)
        point = _Point(q, f, ll, x1_q, x1_f)
        trace = [ll]
        first = 1
    else:
        point = _Point(resume.q, resume.f, resume.ll, resume.image_q, resume.image_f)
        trace = list(resume.trace)
        first = resume.iterations + 1
        iteration.first_f_steps = iteration.f_steps  # the first step was taken before the save
        iteration.steps_taken = resume.steps_taken
        saddles = resume.saddles
        if secants is not None:
            secants.u, secants.v = list(resume.secants_u), list(resume.secants_v)
            secants.saddle_signs = resume.saddle_signs
    gains: list[float] = [b - a for a, b in zip(trace[:-1], trace[1:], strict=True)]
    if progress is not None:
        progress(stage, first - 1, point.ll, time.perf_counter() - tick)
    stop = "max-iter"
    iterations = first - 1

    def accept(new: _Point, started: float) -> None:
        gains.append(new.ll - trace[-1])
        trace.append(new.ll)
        if progress is not None:
            progress(stage, iterations, new.ll, time.perf_counter() - started)

    while iterations < max_iter:
        iterations += 1
        tick = time.perf_counter()
        point, rose = _advance(iteration, point, secants)
        if not rose:  # no ascent from x even with small steps: x is the optimum here
            stop = "no-ascent"
            break
        accept(point, tick)
        threshold = tol * abs(point.ll)
        if gains[-1] < threshold and (rough or _remaining_gain(gains) < threshold):
            checked = (
                not rough
                and not iteration.fix_f
                and secants is not None
                and secants.saddle_signs > 0
                and saddles < MAX_SADDLES
            )
            if not checked:
                stop = "tolerance"
                break
            tick = time.perf_counter()
            points, escaped = _saddle_escape(iteration, point)
            for new in points:  # (the check's time is on its first line)
                iterations += 1
                accept(new, tick)
                tick = time.perf_counter()
                point = new
            if not escaped:
                stop = "tolerance"
                break
            saddles += 1
            secants.clear()
            secants.saddle_signs = 0
        if saver is not None:  # (a state that continues; the one that stops is not saved)
            saver(_state_maker(point, trace, iterations, secants, iteration, saddles))
    return _Run(point.q, point.f, trace, iterations, stop, saddles)


def _saddle_escape(iteration: _Iteration, point: _Point) -> tuple[list[_Point], bool]:
    """Check a stop for a saddle point of the likelihood beside it, and leave it.

    On a likelihood ridge the iteration can converge towards a saddle along its stable
    directions: the gains shrink as they would at a maximum until the one direction the map
    expands has grown, which takes tens of iterations (on a 1,000 x 15,000 cohort at K=4, stops
    3 units of log-likelihood below the maximum the iteration reached with a tighter tol).
    ``SADDLE_STEPS`` plain steps from ``point`` give secant pairs ``(u, G'u)`` of the map; the
    largest eigenvalue of the map on their span (a Ritz value, as in Arnoldi's method) above
    ``1 + SADDLE_MARGIN`` marks such a direction. The log-likelihood along it is then searched
    with steps that double while it rises (log-likelihood passes only).

    Returns the accepted points (the plain steps, then the escape point, each with its image)
    and whether a saddle was left; the log-likelihoods never decrease along them."""
    accepted: list[_Point] = []
    image = _flat(point.image_q, point.image_f)
    steps = [image - _flat(point.q, point.f)]  # (flat vectors of (Q, F): few are kept at once)
    current = point
    for _ in range(SADDLE_STEPS):
        image_q, image_f, ll = iteration.step(current.image_q, current.image_f)
        if not _rises(ll, current.ll):
            return accepted, False
        current = _Point(current.image_q, current.image_f, ll, image_q, image_f)
        accepted.append(current)
        x, image = image, _flat(image_q, image_f)
        steps.append(image - x)
    del image
    steps = np.array(steps)
    direction = _expanding_direction(steps[:-1], steps[1:])
    if direction is None:
        return accepted, False
    if direction @ steps[-1] < 0:
        direction = -direction
    direction *= np.linalg.norm(steps[-1]) / np.linalg.norm(direction)
    del steps

    def along(t: float) -> tuple[np.ndarray, np.ndarray]:
        moved = _unflat(x + t * direction, point.q.shape, point.f.shape)
        return iteration.constrain(*moved, current.f)

    best_ll, best_t, t = current.ll, 0.0, SADDLE_FIRST_STEP
    while t <= SADDLE_LONGEST_STEP:
        ll_t = iteration.engine.log_likelihood(*along(t))
        if not (math.isfinite(ll_t) and ll_t > best_ll):
            break
        best_ll, best_t, t = ll_t, t, 2.0 * t
    if best_t == 0.0:
        return accepted, False
    q_e, f_e = along(best_t)
    image_q, image_f, ll = iteration.step(q_e, f_e)
    if not (math.isfinite(ll) and ll > current.ll):
        return accepted, False
    accepted.append(_Point(q_e, f_e, ll, image_q, image_f))
    return accepted, True


def _expanding_direction(u: np.ndarray, v: np.ndarray) -> np.ndarray | None:
    """From secant pairs (rows of ``u`` and ``v = G'u``): the direction in the span of ``u``
    that the map stretches most, when its Ritz value is real and above ``1 + SADDLE_MARGIN``."""
    try:
        (ritz,) = _secant_coordinates(u, v)
        values, vectors = np.linalg.eig(ritz)
    except np.linalg.LinAlgError:
        return None
    largest = int(np.argmax(values.real))
    value = values[largest]
    if not np.isfinite(value) or value.imag != 0.0 or value.real <= 1.0 + SADDLE_MARGIN:
        return None
    return vectors[:, largest].real @ u


def _secant_coordinates(u: np.ndarray, *targets: np.ndarray) -> list[np.ndarray]:
    """Least-squares coordinates, as columns, of the rows of each of ``targets`` in the span of
    the secant steps (rows of ``u``), through one pseudo-inverse of the steps' Gram matrix. With
    the steps' images ``v = G'u`` as targets this is ``C`` with ``v' ~ u' C``: the map's Jacobian
    on the span, whose eigenvalues are its Ritz values (as in Arnoldi's method). Directions of
    the Gram matrix below ``RITZ_CUT`` of its largest eigenvalue are cut, so steps that are
    (nearly) parallel span one direction, whose Ritz value is ``u.v / u.u``."""
    inverse = np.linalg.pinv(u @ u.T, rcond=RITZ_CUT, hermitian=True)
    return [inverse @ (u @ rows.T) for rows in targets]


def _state_maker(
    point: _Point, trace, iterations: int, secants, iteration: _Iteration, saddles: int
):
    """A function returning the state after this iteration; the lists are copied now (the
    secants are cleared in place later), the arrays are never changed in place."""
    trace = list(trace)
    u = list(secants.u) if secants is not None else []
    v = list(secants.v) if secants is not None else []
    steps_taken = iteration.steps_taken
    saddle_signs = secants.saddle_signs if secants is not None else 0

    def make() -> IterationState:
        return IterationState(
            point.q,
            point.f,
            point.ll,
            point.image_q,
            point.image_f,
            trace=trace,
            iterations=iterations,
            secants_u=u,
            secants_v=v,
            steps_taken=steps_taken,
            saddle_signs=saddle_signs,
            saddles=saddles,
        )

    return make


def _advance(iteration: _Iteration, point: _Point, secants: _Secants | None):
    """One accepted step from ``point``; (new point, False) when no step rises."""
    q, f, ll = point.q, point.f, point.ll
    x1_q, x1_f = point.image_q, point.image_f
    x2_q, x2_f, ll1 = iteration.step(x1_q, x1_f)
    _check_finite(ll1)
    damping = 0
    while ll1 < ll and damping < 8:
        x1_q, x1_f = iteration.constrain(0.5 * (q + x1_q), 0.5 * (f + x1_f), f)
        x2_q, x2_f, ll1 = iteration.step(x1_q, x1_f)
        damping += 1
    if ll1 < ll:
        return point, False
    plain = _Point(x1_q, x1_f, ll1, x2_q, x2_f)
    if secants is None:
        return plain, True
    if damping:  # far from the optimum the map is not near-linear: forget old secants
        secants.clear()
        return plain, True
    x, x1, x2 = _flat(q, f), _flat(x1_q, x1_f), _flat(x2_q, x2_f)
    secants.record(x1 - x, x2 - x1)
    target = secants.extrapolate(x, x1 - x)
    if target is None:
        return plain, True
    xa_q, xa_f = iteration.constrain(*_unflat(target, q.shape, f.shape), f)
    if secants.last_jump_failed and not _rises(iteration.engine.log_likelihood(xa_q, xa_f), ll1):
        # After a failed jump the next one is likely to fail too: a log-likelihood pass (about
        # a quarter of the cost of the map's two passes) decides before the map is evaluated.
        # The iterates are those of evaluating the map first; only the cost of a failure falls.
        secants.clear()
        return plain, True
    xa1_q, xa1_f, lla = iteration.step(xa_q, xa_f)
    if _rises(lla, ll1):
        secants.last_jump_failed = False
        return _Point(xa_q, xa_f, lla, xa1_q, xa1_f), True
    secants.last_jump_failed = True
    secants.saddle_signs += 1
    # The jump fell short of the plain step: keep the plain one (its image is known).
    secants.clear()
    return plain, True


def _rises(ll: float, reference: float) -> bool:
    """A jump is kept when its log-likelihood is finite and at least that of the plain step."""
    return math.isfinite(ll) and ll >= reference


def _flat(q: np.ndarray, f: np.ndarray) -> np.ndarray:
    return np.concatenate([q.ravel(), f.ravel()])


def _unflat(x: np.ndarray, q_shape, f_shape) -> tuple[np.ndarray, np.ndarray]:
    size = q_shape[0] * q_shape[1]
    return x[:size].reshape(q_shape), np.ascontiguousarray(x[size:].reshape(f_shape))


def _check_finite(ll: float) -> None:
    if not math.isfinite(ll):
        raise InputError(
            "the log-likelihood is not finite; check that the genotypes hold only 0, 1, 2 "
            "or missing calls and that the starting .Q/.P values are valid."
        )


# ------------------------------------------------------------------------------------------
# Fits
# ------------------------------------------------------------------------------------------


def check_k_for(n_samples: int, k: int) -> None:
    """K must be at least 1 and below the number of samples."""
    if k < 1:
        raise InputError(f"--k {k}: the number of ancestral populations must be at least 1.")
    if k >= n_samples and n_samples > 1:
        raise InputError(
            f"--k {k}: as many ancestral populations as the {n_samples} samples or more; each "
            "sample would be its own population. Lower K below the number of samples."
        )


def check_k(genotypes: Genotypes, k: int) -> None:
    """:func:`check_k_for` on a cohort that has samples and SNPs."""
    if genotypes.n_samples < 1 or genotypes.n_snps < 1:
        raise InputError("the genotype matrix is empty; the .bed needs samples and SNPs.")
    check_k_for(genotypes.n_samples, k)


def _as_genotypes(genotypes) -> Genotypes:
    if isinstance(genotypes, Genotypes):
        return genotypes
    return make_genotypes(np.asarray(genotypes))


def fit(
    genotypes: Genotypes | np.ndarray,
    k: int,
    *,
    seed: int = 42,
    seeds: int = 1,
    tol: float = DEFAULT_TOL,
    max_iter: int = DEFAULT_MAX_ITER,
    init: str = DEFAULT_INIT,
    init_q: np.ndarray | None = None,
    init_p: np.ndarray | None = None,
    fixed_rows: np.ndarray | None = None,
    fix_p: bool = False,
    device: str | None = "cpu",
    engine: str = "auto",
    start_snps_limit: int = START_SNPS,
    progress: Progress | None = None,
    weights: np.ndarray | None = None,
    holdout: tuple[int, int, int] | None = None,
    acceleration: str | None = None,
    resume: IterationState | None = None,
    saver: Saver | None = None,
) -> FitResult:
    """Maximise the ADMIXTURE log-likelihood.

    ``init`` is ``pckmeans`` (default: the PCK-Means clusters of a randomised SVD of a SNP
    subset), ``svd`` (those clusters refined by ALS on the low-rank reconstruction) or ``random``
    (Q ~ Dirichlet(1)); ``init_q``/``init_p`` override the start. Without a given Q, ``seeds``
    starts (seeds ``seed``, ``seed + 1``, ...) are refined on a subset of at most
    ``start_snps_limit`` SNPs and the best continues on all SNPs; ``starts`` of the result lists
    each start's subset log-likelihood. ``fixed_rows`` (bool, N) keeps those rows of ``init_q``
    (supervised mode); ``fix_p`` keeps ``init_p`` and fits only Q (projection). ``weights`` (per
    SNP) and ``holdout`` ((seed, folds, fold): calls of that fold are treated as missing) serve
    the bootstrap and cross-validation.

    ``saver`` is called after every iteration on all SNPs (see :data:`Saver`; the starts on a
    SNP subset are not saved, a resumed fit repeats them only if it stopped during them), and
    ``resume`` continues from such a state with the same arguments: the iterates, the stopping
    and the result are those of the fit that was never stopped.
    """
    genotypes = _as_genotypes(genotypes)
    check_k(genotypes, k)
    started = time.perf_counter()
    n, m = genotypes.n_samples, genotypes.n_snps
    if init not in STARTS:
        raise InputError(f"--init {init!r}: choose {', '.join(STARTS)}.")
    if seeds < 1:
        raise InputError(f"--seeds {seeds}: at least one start is needed.")
    if init_q is not None and np.shape(init_q) != (n, k):
        raise InputError(f"the starting Q has shape {np.shape(init_q)}, expected {n} x {k}.")
    if init_p is not None and np.shape(init_p) != (m, k):
        raise InputError(f"the starting P has shape {np.shape(init_p)}, expected {m} x {k}.")
    if fix_p and init_p is None:
        raise InputError("projection needs the .P to hold fixed.")
    if acceleration is None:
        # Samples of a projection are independent problems, each solved by Newton steps: a
        # secant of the whole Q couples them and took 38 passes where over-relaxation took 28
        # (2,000 x 100,000 coalescent cohort).
        acceleration = "sor" if fix_p else DEFAULT_ACCELERATION
    options = {"weights": weights, "holdout": holdout}
    full = make_engine(genotypes, device, engine, **options)
    fixed_q = None
    if fixed_rows is not None:
        fixed_rows = np.asarray(fixed_rows, dtype=np.bool_)
        if not fixed_rows.any():
            fixed_rows = None
    starts: list[tuple[int, float]] = []
    start_passes = 0.0

    if init_q is not None:
        q = project_q(np.asarray(init_q, dtype=np.float64))
    elif init_p is not None:
        q = np.full((n, k), 1.0 / k)
    else:
        q = None
    if fixed_rows is not None:
        fixed_q = np.asarray(init_q, dtype=np.float64)[fixed_rows]

    whole = False  # the start's subset is every SNP: the start is the fit
    if resume is not None:
        starts, start_passes, whole = list(resume.starts), resume.start_passes, resume.whole
    elif q is None:
        # Starts, each refined on the SNP subset; the best one goes on.
        snps = start_snps(genotypes, start_snps_limit)
        subset = genotypes if len(snps) == m else genotypes.select_snps(snps)
        engine_subset = (
            full
            if len(snps) == m
            else make_engine(subset, device, engine, **_subset_options(options, snps))
        )
        best = None
        for s in range(seeds):
            start_seed = seed + s
            if init == "random":
                q0 = random_start(n, k, start_seed)
            elif init == "pckmeans":
                q0 = pckmeans_q(subset, k, start_seed)
            else:
                q0 = svd_start(subset, k, start_seed)
            f0 = frequencies_given_q(subset, q0)
            iteration = _Iteration(engine_subset, None, None, False)
            tolerance = tol if len(snps) == m else max(tol, SUBSET_TOL)
            # A start on every SNP is the fit: saved when it is the only one.
            whole = len(snps) == m and seeds == 1
            run = _iterate(
                iteration,
                q0,
                f0,
                tol=tolerance,
                max_iter=max_iter,
                progress=progress,
                stage=f"start {start_seed}" if seeds > 1 else "start",
                acceleration=acceleration,
                rough=len(snps) < m,
                saver=_saving(saver, [], 0.0, whole=True) if whole else None,
            )
            starts.append((start_seed, run.trace[-1]))
            if best is None or run.trace[-1] > best.trace[-1]:
                best = run
        start_passes = engine_subset.passes * len(snps) / m if engine_subset is not full else 0.0
        q = best.q
        if len(snps) == m:
            # The subset was the whole cohort: the start is the fit.
            return _result(best, full, started, starts)
    if resume is not None:
        f = None  # the state holds the point
    elif init_p is not None:
        f = np.asarray(init_p, dtype=np.float64)
        f = f if fix_p else project_f(f)
    else:
        f = frequencies_given_q(genotypes, q)
    if fixed_rows is not None and resume is None:
        q[fixed_rows] = fixed_q
    first_f_steps = F_START_STEPS if init_p is None else 1
    iteration = _Iteration(full, fixed_rows, fixed_q, fix_p, first_f_steps=first_f_steps)
    run = _iterate(
        iteration,
        q,
        None if f is None else np.ascontiguousarray(f),
        tol=tol,
        max_iter=max_iter,
        progress=progress,
        stage="start" if whole else "fit" if not fix_p else "projection",
        acceleration=acceleration,
        resume=resume,
        saver=_saving(saver, starts, start_passes, whole),
    )
    if whole:  # a resumed fit whose start was the fit: reported as that start would be
        return _result(run, full, started, [(seed, run.trace[-1])])
    return _result(run, full, started, starts, start_passes)


def _result(run: _Run, full, started: float, starts, start_passes: float = 0.0) -> FitResult:
    """The fit that ``run`` ended with on the whole-cohort engine ``full``."""
    return FitResult(
        q=np.asarray(run.q),
        p=np.asarray(run.f),
        log_likelihood=run.trace[-1],
        iterations=run.iterations,
        passes=round(full.passes),
        seconds=time.perf_counter() - started,
        stopped_by=run.stop,
        trace=run.trace,
        starts=starts,
        start_passes=start_passes,
        saddles=run.saddles,
    )


def _saving(saver: Saver | None, starts, start_passes: float, whole: bool) -> Saver | None:
    """``saver`` with the fit's record of its starts added to every state it saves."""
    if saver is None:
        return None

    def save(make: Callable[[], IterationState]) -> None:
        def made() -> IterationState:
            state = make()
            state.starts, state.start_passes, state.whole = list(starts), start_passes, whole
            return state

        saver(made)

    return save


def _subset_options(options: dict, snps: np.ndarray) -> dict:
    weights = options.get("weights")
    return {
        "weights": None if weights is None else np.asarray(weights)[snps],
        "holdout": options.get("holdout"),
    }


def fit_supervised(
    genotypes: Genotypes, labels: np.ndarray, k: int | None = None, **options
) -> FitResult:
    """ADMIXTURE ``--supervised``: samples with a label keep Q fixed to the one-hot of their
    label; unlabelled samples and F are fitted.

    Components are the distinct labels in sorted order (:func:`neuradmix.data.known_populations`);
    ``k`` defaults to their number and may be larger (the extra components are free).
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
    if options.get("init_q") is not None:
        raise InputError("supervised mode builds its own starting Q; drop --init-q.")
    n = len(labels)
    seed = options.pop("seed", 42)
    q0 = project_q(np.full((n, k), 1.0 / k))
    index = {name: c for c, name in enumerate(names)}
    for i in np.flatnonzero(known):
        q0[i] = Q_MIN
        q0[i, index[str(labels[i])]] = 1.0 - (k - 1) * Q_MIN
    # F starts from least squares given this Q (in fit): the labelled centroids, which the
    # unlabelled samples' first steps start from.
    return fit(genotypes, k, seed=seed, init_q=q0, fixed_rows=known, **options)


def project(genotypes: Genotypes | np.ndarray, p: np.ndarray, **options) -> FitResult:
    """ADMIXTURE ``-P``: F fixed to ``p`` (M x K, from a ``.P``), only Q fitted."""
    genotypes = _as_genotypes(genotypes)
    p = np.asarray(p, dtype=np.float64)
    if p.ndim != 2 or p.shape[0] != genotypes.n_snps:
        raise InputError(
            f"the .P has {p.shape[0]} rows but the genotypes have {genotypes.n_snps} SNPs; "
            "project with the .P of a fit on the same SNPs in the same order."
        )
    k = p.shape[1]
    q0 = np.full((genotypes.n_samples, k), 1.0 / k)
    return fit(genotypes, k, init_p=p, fix_p=True, init_q=q0, **options)


def polish(
    genotypes: Genotypes | np.ndarray,
    q: np.ndarray,
    p: np.ndarray,
    *,
    tol: float = DEFAULT_TOL,
    max_iter: int = DEFAULT_MAX_ITER,
    device: str | None = "cpu",
    engine: str = "auto",
    progress: Progress | None = None,
    acceleration: str | None = None,
) -> FitResult:
    """Continue a fit (e.g. the neural one) to the optimum of the ADMIXTURE likelihood."""
    genotypes = _as_genotypes(genotypes)
    q = np.asarray(q, dtype=np.float64)
    p = np.asarray(p, dtype=np.float64)
    n, m = genotypes.n_samples, genotypes.n_snps
    if q.shape[0] != n or p.shape[0] != m or q.shape[1] != p.shape[1]:
        raise InputError(
            f"Q is {q.shape[0]} x {q.shape[1]} and P is {p.shape[0]} x {p.shape[1]}, but the "
            f"genotypes are {n} samples x {m} SNPs; polish the .Q/.P written for this fileset."
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
        acceleration=acceleration,
    )
