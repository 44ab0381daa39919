"""Minimise the profiled criterion over θ, then check the optimum as lme4 does.

The optimiser is BOBYQA (nlopt ``LN_BOBYQA``, lme4's default ``nloptwrap``) with lme4's
tolerances, started at T_k = I, with lower bound 0 on the diagonal of every T_k. Afterwards:

* θ components within ``zero_tol`` of their bound of 0 are set to 0 when that does not raise the
  objective by more than ``zero_ftol`` (MixedModels.jl ``fit!``): BOBYQA approaches a boundary
  optimum slowly and stops just above it;
* the fit is singular when some diagonal element of a T_k is below 1e-4 (lme4 ``isSingular``);
* gradient and Hessian are taken by finite differences at θ̂ (lme4 ``deriv12``), and lme4's
  ``checkConv`` messages are produced: a scaled gradient above 0.002, or a Hessian with negative
  eigenvalues at an interior optimum;
* one Newton step from those derivatives then moves θ̂ to the optimum within ~1e-8 (kept only if
  the criterion falls), so the result no longer depends on where BOBYQA happened to stop;
* one more step with the same Hessian and a fourth-order gradient then solves ∇f(θ) = 0 to
  ~1e-11, so that A summed in another order (a Dask reduction) gives θ̂ equal to 1e-10 (skipped
  with ``refine=False``: a GLMM, whose criterion is itself the result of PIRLS).

Where the criterion has an analytic gradient and an average-information matrix (crossed scalar
terms, :mod:`mixedmodels.gradient`), scoring iterations take BOBYQA's place, started at moment
estimates of the variances: a handful of evaluations instead of a hundred; the gradient is then
lme4's checked gradient, the Hessian its forward differences, and Newton steps with the exact
gradient replace both refinements (InstEval: 3 + 3 + 1 evaluations of criterion and gradient).
BOBYQA remains the fallback, from T_k = I: an optimum near a bound, failing checks, or a
non-finite criterion.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import nlopt
import numpy as np

from .control import DEFAULT_CONTROL, LmerControl

__all__ = ["OptSummary", "optimize_theta", "finite_difference_derivatives"]


@dataclass(frozen=True)
class OptSummary:
    """What happened in the optimisation (MixedModels.jl ``OptSummary``, lme4 ``@optinfo``).

    Attributes
    ----------
    theta : ndarray           θ̂
    objective : float         criterion at θ̂
    n_evaluations : int       objective evaluations used by BOBYQA
    return_code : str         nlopt's reason for stopping
    gradient, hessian         finite-difference derivatives at θ̂
    messages : list of str    convergence messages (lme4 ``checkConv``); empty when all is well
    singular : bool           some diagonal element of a T_k is ≈ 0
    """

    theta_initial: np.ndarray
    theta: np.ndarray
    lower: np.ndarray
    objective: float
    n_evaluations: int
    return_code: str
    gradient: np.ndarray
    hessian: np.ndarray
    singular: bool
    messages: list[str] = field(default_factory=list)
    optimizer: str = "LN_BOBYQA"

    @property
    def converged(self) -> bool:
        return not self.messages


_RETURN_CODES = {
    nlopt.SUCCESS: "SUCCESS", nlopt.STOPVAL_REACHED: "STOPVAL_REACHED", nlopt.FTOL_REACHED: "FTOL_REACHED",
    nlopt.XTOL_REACHED: "XTOL_REACHED", nlopt.MAXEVAL_REACHED: "MAXEVAL_REACHED",
    nlopt.MAXTIME_REACHED: "MAXTIME_REACHED",
}


def finite_difference_derivatives(f: Callable[[np.ndarray], float], x: np.ndarray, lower: np.ndarray,
                                  delta: float = 1e-4) -> tuple[np.ndarray, np.ndarray]:
    """Gradient and Hessian of f at x by central differences (forward where x − δ < lower).

    Notes
    -----
    lme4 ``deriv12``: step δ = 1e-4, f evaluated at x ± δ eᵢ and x ± δ eᵢ ± δ eⱼ.
    """
    x = np.asarray(x, float)
    k = len(x)
    shift = np.where(x - delta < lower, delta, 0.0)  # move the stencil inside the bounds
    centre = x + shift
    f0 = f(centre)
    grad, hess = np.empty(k), np.empty((k, k))
    steps = np.eye(k) * delta
    f_plus = np.array([f(centre + steps[i]) for i in range(k)])
    f_minus = np.array([f(centre - steps[i]) for i in range(k)])
    grad[:] = (f_plus - f_minus) / (2 * delta)
    hess[np.diag_indices(k)] = (f_plus - 2 * f0 + f_minus) / delta**2
    for i in range(k):
        for j in range(i):
            fpp = f(centre + steps[i] + steps[j])
            fmm = f(centre - steps[i] - steps[j])
            value = (fpp - f_plus[i] - f_plus[j] + 2 * f0 - f_minus[i] - f_minus[j] + fmm) / (2 * delta**2)
            hess[i, j] = hess[j, i] = value
    # correct the gradient back to x for the shifted components (first-order Taylor step)
    grad -= hess @ shift
    return grad, hess


def _check_convergence(grad: np.ndarray, hess: np.ndarray, theta: np.ndarray, lower: np.ndarray,
                       control: LmerControl) -> list[str]:
    """lme4 ``checkConv``: messages for a large scaled gradient or a degenerate Hessian."""
    messages = []
    on_bound = (lower == 0) & (theta < control.singular_tol)
    # at the bound only a negative gradient (the objective falls into the interior) is a problem
    g = np.where(on_bound & (grad > 0), 0.0, grad)
    interior = ~on_bound
    scaled = np.abs(g)
    if interior.all():
        try:  # lme4: solve(chol(H), g) with R's upper factor U = Lᵀ
            upper = np.linalg.cholesky(hess).T
            scaled = np.minimum(np.abs(np.linalg.solve(upper, g)), scaled)
        except np.linalg.LinAlgError:
            pass  # not positive definite: the unscaled gradient is checked
    if scaled.size and scaled.max() > control.gradient_tol:
        component = int(np.argmax(scaled)) + 1
        messages.append(f"Model failed to converge with max|grad| = {scaled.max():.6g} "
                        f"(tol = {control.gradient_tol}, component {component})")
    if interior.all() and hess.size:
        eigenvalues = np.linalg.eigvalsh(hess)
        if eigenvalues.min() < 0 and abs(eigenvalues.min()) > control.hessian_tol * abs(eigenvalues).max():
            messages.append(f"Model failed to converge: degenerate Hessian with "
                            f"{int(np.sum(eigenvalues < 0))} negative eigenvalues")
    return messages


def _bobyqa(objective, theta0, lower, ftol_abs, xtol_abs, ftol_rel, maxeval, initial_step):
    """One nlopt BOBYQA run; returns (θ, objective, return-code name).

    nlopt raises ``RoundoffLimited`` when rounding stops progress near the optimum, and the point
    is lost with the exception: the best point evaluated is kept here and returned instead.
    """
    best = [np.inf, np.array(theta0, dtype=float)]

    def tracked(x, grad):
        value = objective(x, grad)
        if value < best[0]:
            best[0], best[1] = value, np.array(x, dtype=float)
        return value

    opt = nlopt.opt(nlopt.LN_BOBYQA, len(theta0))
    opt.set_min_objective(tracked)
    opt.set_lower_bounds(lower)
    opt.set_ftol_abs(ftol_abs)
    opt.set_ftol_rel(ftol_rel)
    opt.set_xtol_abs(xtol_abs)
    opt.set_maxeval(maxeval)
    opt.set_initial_step(initial_step)
    try:
        theta = opt.optimize(np.array(theta0, dtype=float))
    except nlopt.RoundoffLimited:
        return best[1], float(best[0]), "ROUNDOFF_LIMITED"
    code = _RETURN_CODES.get(opt.last_optimize_result(), str(opt.last_optimize_result()))
    return theta, float(opt.last_optimum_value()), code


def _snap_to_boundary(deviance, theta, value, lower, zero_tol, zero_ftol):
    """Set components just above a 0 bound to 0 when the objective does not rise by > zero_ftol."""
    for i in np.flatnonzero((lower == 0) & (theta > 0) & (theta < zero_tol)):
        trial = theta.copy()
        trial[i] = 0.0
        trial_value = deviance(trial)
        if trial_value <= value + zero_ftol:
            theta, value = trial, trial_value
    return theta, value


def _newton_step(deviance, theta, value, grad, hess, lower, singular_tol):
    """One Newton step θ − H⁻¹g on the components off their bound, kept if the objective falls.

    BOBYQA stops where its trust region is small, which leaves θ̂ up to ~1e-4 from the optimum on
    flat criteria, and the stopping point depends on rounding (row order, how A was summed). The
    derivatives lme4's checks need are already at hand; one Newton step from them lands within
    ~1e-8 of the optimum, so refits of the same data agree far beyond the optimiser's tolerance.
    """
    free = ~((lower == 0) & (theta < singular_tol))
    if not free.any() or not np.all(np.isfinite(grad)) or not np.all(np.isfinite(hess)):
        return theta, value
    try:
        step = np.linalg.solve(hess[np.ix_(free, free)], grad[free])
        np.linalg.cholesky(hess[np.ix_(free, free)])  # only a descent step from a convex model
    except np.linalg.LinAlgError:
        return theta, value
    trial = theta.copy()
    trial[free] -= step
    trial = np.maximum(trial, lower)
    trial_value = deviance(trial)
    return (trial, trial_value) if trial_value <= value else (theta, value)


def _fourth_order_gradient(f: Callable[[np.ndarray], float], x: np.ndarray, free: np.ndarray,
                           delta: float) -> np.ndarray:
    """∂f/∂x_i on the free components by the five-point stencil (truncation error O(δ⁴)).

    g_i = [8(f(x + δe_i) − f(x − δe_i)) − (f(x + 2δe_i) − f(x − 2δe_i))] / (12δ)
    """
    grad = np.zeros(len(x))
    for i in np.flatnonzero(free):
        e = np.zeros(len(x))
        e[i] = delta
        grad[i] = (8.0 * (f(x + e) - f(x - e)) - (f(x + 2 * e) - f(x - 2 * e))) / (12.0 * delta)
    return grad


def _refine(deviance, theta, value, hess, lower, control: LmerControl):
    """One more Newton step θ − H⁻¹∇f(θ), with the Hessian at hand and a fourth-order gradient.

    The criterion carries rounding of ~1e-13 relative: a minimiser that compares values stops
    anywhere in a flat region of width ~1e-7 around the optimum, and two sums of the same A
    (other row order, other partitions) stop at different places. The gradient changes sign at
    one point; with a step δ = 1e-3 (components at least 2δ from their bound) its rounding moves
    that point by ~1e-12 and its truncation error is O(δ⁴), so after the Newton step from
    BOBYQA's point (within ~1e-8) this step leaves refits of the same data ~1e-11 apart. The
    step is kept unless the criterion rises by more than its rounding.
    """
    delta = control.refine_delta
    free = ~((lower == 0) & (theta < control.singular_tol)) & (theta - 2 * delta >= lower)
    if not free.any() or not np.all(np.isfinite(hess)):
        return theta, value
    H = hess[np.ix_(free, free)]
    try:
        np.linalg.cholesky(H)
    except np.linalg.LinAlgError:
        return theta, value
    trial = theta.copy()
    trial[free] -= np.linalg.solve(H, _fourth_order_gradient(deviance, theta, free, delta)[free])
    trial_value = deviance(trial)
    return (trial, trial_value) if trial_value <= value + 1e-12 * (1.0 + abs(value)) else (theta, value)


class _GradientFailed(Exception):
    """The scoring path met a point where the criterion is not finite: BOBYQA takes over."""


def _scoring(derivatives, theta0, lower, control: LmerControl, counter):
    """Scoring iterations θ ← θ − t I(θ)⁻¹∇d(θ) from θ₀; (θ, value, gradient, return code).

    ``derivatives`` gives the criterion, its gradient and a positive semi-definite approximation
    I(θ) of its Hessian (the average information); the step is halved (t = 1, ½, …) until θ stays
    within its bounds and the criterion falls. Stops when the criterion falls by at most
    ``control.scoring_ftol`` relative, or the decrease ½ ∇dᵀI⁻¹∇d the model predicts is below that
    ("SUCCESS"); "FAILURE" when no step decreases it or I(θ) is singular, "MAXEVAL_REACHED" after
    ``control.maxeval`` evaluations — then BOBYQA takes over. Raises
    :class:`_GradientFailed` at a point where the criterion is not finite.
    """
    def evaluate(x):
        counter[0] += 1
        value, grad, info = derivatives(x)
        if not np.isfinite(value) or grad is None or not np.all(np.isfinite(grad)):
            raise _GradientFailed
        return value, grad, info

    theta = np.array(theta0, dtype=float)
    value, grad, info = evaluate(theta)
    while counter[0] < control.maxeval:
        try:
            step = np.linalg.solve(info, grad)
        except np.linalg.LinAlgError:
            return theta, value, grad, "FAILURE"
        if 0.5 * float(grad @ step) <= control.scoring_ftol * abs(value) and np.all(theta - step >= lower):
            return theta, value, grad, "SUCCESS"  # the predicted decrease is below the tolerance
        for _ in range(control.scoring_halvings):
            trial = theta - step
            if np.all(trial >= lower):
                trial_value, trial_grad, trial_info = evaluate(trial)
                if trial_value <= value:
                    break
            step = step / 2.0
        else:
            return theta, value, grad, "FAILURE"
        decrease = value - trial_value
        theta, value, grad, info = trial, trial_value, trial_grad, trial_info
        if decrease <= control.scoring_ftol * abs(value):
            return theta, value, grad, "SUCCESS"
    return theta, value, grad, "MAXEVAL_REACHED"


def _gradient_hessian(value_and_gradient, theta, grad, delta):
    """Hessian by forward differences of the analytic gradient (k more evaluations), symmetrised."""
    k = len(theta)
    hess = np.empty((k, k))
    for i in range(k):
        step = np.zeros(k)
        step[i] = delta
        _, g_i, _ = value_and_gradient(theta + step)
        if g_i is None:
            return np.full((k, k), np.nan)
        hess[:, i] = (g_i - grad) / delta
    return (hess + hess.T) / 2.0


NEWTON_SETTLED = 1e-8
"""The scoring path's Newton polish stops where its next step would move no component of θ by more
than this: θ is then within ~1e-8 of ∇d = 0, far inside any tolerance on the parameters."""


def _newton_with_gradient(value_and_gradient, theta, value, grad, hess, lower, max_steps=3):
    """Newton steps θ − H⁻¹∇d(θ) with the analytic gradient, each kept only if the criterion
    does not rise by more than its rounding, until the next step would be below
    :data:`NEWTON_SETTLED`. With the Hessian from forward differences of step 1e-5 (right to
    ~1e-4 relative) one step from the end of scoring usually suffices (InstEval: a step of 1e-5,
    then |∇d| ≈ 5e-6 and a next step of 1e-10)."""
    try:
        np.linalg.cholesky(hess)
    except np.linalg.LinAlgError:
        return theta, value, grad
    for _ in range(max_steps):
        step = np.linalg.solve(hess, grad)
        if np.max(np.abs(step)) < NEWTON_SETTLED:
            break
        trial = np.maximum(theta - step, lower)
        trial_value, trial_grad, _ = value_and_gradient(trial)
        if trial_grad is None or not trial_value <= value + 1e-12 * (1.0 + abs(value)):
            break
        theta, value, grad = trial, trial_value, trial_grad
    return theta, value, grad


def _optimize_with_gradient(value_and_gradient, theta0, lower, check, control: LmerControl, counter):
    """The scoring path of :func:`optimize_theta` from θ₀: its OptSummary, or None to hand over to
    BOBYQA (near a bound, failed checks, or a non-finite criterion met)."""
    try:
        theta, value, grad, code = _scoring(value_and_gradient, theta0, lower, control, counter)
    except _GradientFailed:
        return None
    near_bound = np.any((lower == 0) & (theta < control.zero_tol))
    if code != "SUCCESS" or near_bound:
        return None
    k = len(theta)
    hess = np.full((k, k), np.nan)
    messages: list[str] = []
    if check and control.check_conv:
        hess = _gradient_hessian(value_and_gradient, theta, grad, control.gradient_hessian_delta)
        if not np.all(np.isfinite(hess)):
            return None
        theta, value, grad = _newton_with_gradient(value_and_gradient, theta, value, grad, hess, lower)
        messages = _check_convergence(grad, hess, theta, lower, control)
        if messages:
            return None
    return OptSummary(theta_initial=theta0, theta=theta, lower=lower, objective=float(value),
                      n_evaluations=counter[0], return_code=code, gradient=grad, hessian=hess,
                      singular=bool(np.any((lower == 0) & (theta < control.singular_tol))),
                      messages=messages, optimizer="scoring")


def optimize_theta(deviance: Callable[[np.ndarray], float], theta0: np.ndarray, lower: np.ndarray, *,
                   check: bool = True, initial_step: float | np.ndarray | None = None,
                   control: LmerControl | None = None, value_and_gradient=None,
                   scoring_start: np.ndarray | None = None, refine: bool = True) -> OptSummary:
    """Minimise ``deviance`` over θ ≥ lower with BOBYQA and check the optimum.

    Parameters
    ----------
    deviance : callable
        θ ↦ criterion (``DevianceProblem.deviance``).
    theta0, lower : ndarray
        Start (T_k = I) and lower bounds (0 on diagonals, -inf elsewhere).
    check : bool
        Compute finite-difference derivatives and convergence messages (skip for bootstrap refits;
        also off when ``control.check_conv`` is False).
    initial_step : float, optional
        BOBYQA's initial trust-region step for every component. Default: nlopt's own choice from
        T_k = I (0.75 on diagonals, 1 elsewhere, as lme4 gets); a refit that starts at a nearby
        optimum (bootstrap) converges in about a third fewer evaluations with 0.05. An array gives
        one step per component: nlopt's BOBYQA rescales each variable by its step, so steps of the
        size of each parameter's standard error make a badly scaled problem (a slope of SE 0.003
        beside an intercept of SE 0.2) a well scaled one.
    control : LmerControl, optional
        Tolerances and stopping rules (:class:`~mixedmodels.control.LmerControl`; lme4's defaults).
    value_and_gradient : callable, optional
        θ ↦ (criterion, analytic gradient, average information)
        (:class:`~mixedmodels.gradient.ScalarCrossedGradient`). Given, and ``control.use_gradient``,
        scoring iterations (:func:`_scoring`) replace BOBYQA (InstEval: 3 evaluations instead of
        107): lme4's checks then use the analytic gradient and a Hessian from its forward
        differences, and Newton steps with both finish. An optimum within ``control.zero_tol`` of a
        bound, failing checks, or a point where the criterion is not finite hand over to BOBYQA
        and the derivative-free checks below, from θ₀ as without a gradient (on the flat criterion
        near a bound, where BOBYQA stops depends on where it starts; this way it stops where lme4's
        does). ``n_evaluations`` then counts the evaluations of both.
    scoring_start : ndarray, optional
        Where the scoring iterations start (default θ₀), e.g. the moment estimates of
        :meth:`~mixedmodels.gradient.ScalarCrossedGradient.start`; BOBYQA still starts at θ₀.
        ``theta_initial`` of the result is where its optimiser started.
    refine : bool
        After the checks' Newton step, the fourth-order refinement (:func:`_refine`, 4k + 1
        evaluations), which makes refits of the same A in another summation order agree to
        ~1e-11. A criterion that is itself the result of an iteration (the GLMM's PIRLS) has
        no such use for it.
    """
    c = DEFAULT_CONTROL if control is None else control
    theta0 = np.asarray(theta0, float)
    lower = np.asarray(lower, float)
    counter = [0]
    if value_and_gradient is not None and c.use_gradient:
        start = theta0 if scoring_start is None else np.asarray(scoring_start, float)
        summary = _optimize_with_gradient(value_and_gradient, start, lower, check, c, counter)
        if summary is not None:
            return summary

    def objective(x, grad):
        counter[0] += 1
        value = deviance(x)
        return value if math.isfinite(value) else 1e300

    step = np.where(lower == 0, 0.75, 1.0) if initial_step is None else np.broadcast_to(
        np.asarray(initial_step, float), theta0.shape).copy()
    theta, value, code = _bobyqa(objective, theta0, lower, c.ftol_abs, c.xtol_abs, c.ftol_rel, c.maxeval, step)
    theta, value = _snap_to_boundary(deviance, theta, value, lower, c.zero_tol, c.zero_ftol)
    messages: list[str] = []
    grad = np.full(len(theta), np.nan)
    hess = np.full((len(theta),) * 2, np.nan)
    if check and c.check_conv:
        grad, hess = finite_difference_derivatives(deviance, theta, lower)
        messages = _check_convergence(grad, hess, theta, lower, c)
        if messages and code != "MAXEVAL_REACHED":
            # lme4's tolerances stop BOBYQA early on flat optima; polish from there with tight ones
            polished, polished_value, code = _bobyqa(objective, theta, lower, c.polish_ftol_abs, c.polish_xtol_abs,
                                                     c.ftol_rel, c.maxeval, np.full(len(theta), c.polish_step))
            if polished_value <= value:
                theta, value = _snap_to_boundary(deviance, polished, polished_value, lower, c.zero_tol, c.zero_ftol)
                grad, hess = finite_difference_derivatives(deviance, theta, lower)
                messages = _check_convergence(grad, hess, theta, lower, c)
        theta, value = _newton_step(deviance, theta, value, grad, hess, lower, c.singular_tol)
        if refine:
            theta, value = _refine(deviance, theta, value, hess, lower, c)
    singular = bool(np.any((lower == 0) & (theta < c.singular_tol)))
    if code == "MAXEVAL_REACHED":
        messages.insert(0, f"maximum number of function evaluations ({c.maxeval}) reached")
    return OptSummary(theta_initial=theta0, theta=theta, lower=lower, objective=float(value),
                      n_evaluations=counter[0], return_code=code, gradient=grad, hessian=hess,
                      singular=singular, messages=messages)
