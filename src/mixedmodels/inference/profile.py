"""Likelihood profiles of a linear or generalized linear mixed model (lme4's ``profile.merMod``) and their exact roots.

For a parameter ψ (an sd, a correlation, σ, or a fixed effect β_j) the profile is

    ζ(ψ) = sign(ψ − ψ̂) √(d̃(ψ) − d(θ̂_ML)),    d̃(ψ) = min over the other parameters of the ML deviance,

and the level-(1−α) profile interval is {ψ : |ζ(ψ)| ≤ z_{1−α/2}}. As lme4 does, a REML fit is
refitted by ML first. The two kinds of parameter are profiled differently:

* sd / cor / σ: the ML deviance with β profiled out,
  d(θ, σ) = log|L_θ|² + n log(2πσ²) + r²_θ / σ² (− Σ log wᵢ), θ = chol(D R D) / σ,
  is minimised over the other sd/cor/σ by BOBYQA with bounds sd ≥ 0, −1 ≤ cor ≤ 1;
* β_j: fixing β_j is fitting y − x_j β_j on X without column j; the cross-products of that model
  are a linear map of A's [X y] blocks (no pass over the data), so each point costs one
  optimisation of the profiled ML deviance over θ.
* GLMM (glmer fits): every sd/cor and every β_j is profiled on the stage-2 deviance d(θ, β)
  (Laplace, or AGQ for nAGQ > 1) of ``fit.problem``, minimised over all the other sd/cor and β by
  BOBYQA, θ = chol(D R D) (σ = 1 is not a parameter).

Points are placed outwards from ψ̂ with steps of about ``ZETA_STEP`` in ζ; interval bounds are the
exact roots of |ζ| = z (Brent's method between bracketing points), not lme4's spline
interpolation. A bound at the edge of the parameter space (sd = 0, cor = ±1) is that edge when
|ζ| stays below z there.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math

import nlopt
import numpy as np
import pandas as pd
from scipy import optimize, stats

from .._threads import blas_threads_for
from ..objective import DevianceProblem
from ..optimize import optimize_theta
from .lrt import refit_ml
from .parameters import is_linear, sdcor_names, sdcor_of_theta, theta_of_sdcor

__all__ = ["Profile", "profile"]

ZETA_STEP = 0.3  # target spacing of profile points in ζ
MAX_POINTS = 60  # per side


class _VarparObjective:
    """ML deviance at (sd/cor..., σ) with β profiled out (see the module docstring)."""

    def __init__(self, problem: DevianceProblem):
        self.problem = problem
        self.layout = problem.layout
        self.n = problem.n

    def __call__(self, values: np.ndarray) -> float:
        sigma = values[-1]
        if not sigma > 0:
            return np.inf
        theta = theta_of_sdcor(self.layout, values)
        factor = None if theta is None else self.problem.factor(theta)
        if factor is None or not factor.pwrss > 0:
            return np.inf
        return float(factor.logdet_L + self.n * math.log(2 * math.pi * sigma**2) + factor.pwrss / sigma**2
                     - self.problem.cross.sum_log_weights)


def _minimise_bounded(f, x0, lower, upper, step):
    """BOBYQA with tight tolerances; returns (x, f(x)), the best point seen if nlopt stops on round-off
    (x0 and +inf when f is infinite everywhere it looked, e.g. a correlation of ±1 that a structure
    such as ar1 only approaches)."""
    best = [np.inf, None]

    def objective(x, grad):
        value = f(x)
        if value < best[0]:
            best[0], best[1] = value, x.copy()
        return min(value, 1e300)

    opt = nlopt.opt(nlopt.LN_BOBYQA, len(x0))
    opt.set_min_objective(objective)
    opt.set_lower_bounds(lower)
    opt.set_upper_bounds(upper)
    opt.set_xtol_rel(1e-10)
    opt.set_ftol_abs(1e-11)
    opt.set_maxeval(20_000)
    opt.set_initial_step(np.maximum(np.minimum(step, (upper - lower) / 4), 1e-8))
    try:
        opt.optimize(np.clip(x0, lower, upper))
    except nlopt.RoundoffLimited:
        pass  # BOBYQA's trust region shrank below round-off: the best point is the answer
    return (np.clip(x0, lower, upper), np.inf) if best[1] is None else (best[1], float(best[0]))


def _shifted_cross_products(cross, j: int, beta_j: float):
    """Cross-products of the model y − x_j β_j ~ X_{−j} from those of y ~ X (W = [X y] → W M)."""
    p = cross.Bw.shape[0] - 1
    keep = [i for i in range(p) if i != j]
    M = np.zeros((p + 1, p))
    M[keep, np.arange(p - 1)] = 1.0
    M[p, p - 1] = 1.0
    M[j, p - 1] = -beta_j
    q_r = cross.C.shape[0] - (p + 1)
    C = np.empty((q_r + p,) * 2)
    C[:q_r, :q_r] = cross.C[:q_r, :q_r]
    C[:q_r, q_r:] = cross.C[:q_r, q_r:] @ M
    C[q_r:, :q_r] = C[:q_r, q_r:].T
    C[q_r:, q_r:] = M.T @ cross.C[q_r:, q_r:] @ M
    Bw = np.tensordot(M.T, cross.Bw, axes=1)
    return dataclasses.replace(cross, Bw=Bw, C=C)


class _Parameter:
    """One profiled parameter: ζ at any value, with warm starts from the nearest evaluated point."""

    def __init__(self, name, estimate, lower, upper, scale, deviance_at, start, dev_min):
        self.name, self.estimate, self.lower, self.upper, self.scale = name, estimate, lower, upper, scale
        self._deviance_at = deviance_at  # (value, start of the others) -> (deviance, others)
        self.dev_min = dev_min
        self.points = {estimate: (0.0, start)}

    def zeta(self, x: float) -> float:
        if x in self.points:
            return self.points[x][0]
        nearest = min(self.points, key=lambda v: abs(v - x))
        deviance, others = self._deviance_at(x, self.points[nearest][1])
        excess = deviance - self.dev_min
        z = math.copysign(math.sqrt(max(excess, 0.0)), x - self.estimate) if np.isfinite(excess) else \
            math.copysign(np.inf, x - self.estimate)
        self.points[x] = (z, others)
        return z

    def walk(self, direction: int, cutoff: float) -> None:
        """Evaluate points outwards until |ζ| ≥ cutoff or the edge of the parameter space."""
        edge = self.upper if direction > 0 else self.lower
        x, z = self.estimate, 0.0
        step = self.scale
        for _ in range(MAX_POINTS):
            if abs(z) >= cutoff or x == edge:
                return
            x_new = x + direction * step
            if (x_new - edge) * direction >= 0:
                x_new = edge
            z_new = self.zeta(x_new)
            growth = abs(z_new) - abs(z)
            # secant step for the next ΔZ ≈ ZETA_STEP, at most ×4 the last step
            step = abs(x_new - x) * (min(4.0, ZETA_STEP / growth) if growth > 0 else 4.0)
            x, z = x_new, z_new

    def bound(self, direction: int, z_target: float) -> float:
        """The value where ζ = ±z_target on one side (exact root), or the edge when never reached."""
        self.walk(direction, z_target)
        side = sorted((x for x in self.points if (x - self.estimate) * direction >= 0), key=lambda v: abs(v - self.estimate))
        inside = self.estimate
        for x in side:
            if abs(self.points[x][0]) >= z_target:
                lo, hi = sorted((inside, x))
                tol = 1e-10 * max(abs(self.estimate), self.scale)
                return optimize.brentq(lambda v: abs(self.zeta(v)) - z_target, lo, hi, xtol=tol, rtol=1e-12)
            inside = x
        if side and side[-1] in (self.lower, self.upper):
            return side[-1]
        return math.nan


class Profile:
    """Profiles of every parameter of a fit (from :func:`profile` or ``fit.profile()``).

    Attributes
    ----------
    fit_ml : LmerFit           the ML fit that was profiled
    data : DataFrame           the evaluated points: columns ``parameter``, ``value``, ``zeta``
    """

    def __init__(self, fit_ml, parameters: dict[str, _Parameter]):
        self.fit_ml = fit_ml
        self._parameters = parameters

    @property
    def names(self) -> list[str]:
        return list(self._parameters)

    @property
    def data(self) -> pd.DataFrame:
        rows = [(name, x, z) for name, par in self._parameters.items() for x, (z, _) in sorted(par.points.items())]
        return pd.DataFrame(rows, columns=["parameter", "value", "zeta"])

    def zeta(self, name: str, value: float) -> float:
        """ζ of parameter ``name`` at ``value`` (evaluated on demand)."""
        return self._parameters[name].zeta(float(value))

    def deviance(self, name: str, value: float) -> float:
        """The profiled ML deviance d̃ at ``value`` of ``name``: d(θ̂_ML) + ζ²."""
        return self._parameters[name].dev_min + self.zeta(name, value) ** 2

    def confint(self, level: float = 0.95) -> pd.DataFrame:
        """Profile intervals: the exact roots of ζ = ±z_{(1+level)/2}, lme4's ``confint(profile)``."""
        z = stats.norm.ppf((1 + level) / 2)
        rows = {name: [par.bound(-1, z), par.bound(+1, z)] for name, par in self._parameters.items()}
        return pd.DataFrame.from_dict(rows, orient="index", columns=interval_columns(level))

    def plot(self, level: float = 0.95, ncols: int = 3):
        """ζ against each parameter, one panel each (lme4's ``xyplot(profile(fit))``).

        Dashed lines mark ζ = ±z_{(1+level)/2}; the interval is where the curve lies between
        them. Returns the matplotlib Figure (never calls ``show``).
        """
        import matplotlib.pyplot as plt

        z = stats.norm.ppf((1 + level) / 2)
        names = self.names
        ncols = min(ncols, len(names))
        nrows = math.ceil(len(names) / ncols)
        fig, axes = plt.subplots(nrows, ncols, figsize=(3.2 * ncols, 2.8 * nrows), squeeze=False)
        data = self.data
        for ax, name in zip(axes.ravel(), names):
            part = data[(data.parameter == name) & np.isfinite(data.zeta)]
            ax.plot(part.value, part.zeta, "-o", markersize=3)
            for level_line in (-z, z):
                ax.axhline(level_line, color="grey", linestyle="--", linewidth=0.8)
            ax.set_title(name, fontsize=9)
            ax.set_ylabel("ζ")
        for ax in axes.ravel()[len(names):]:
            ax.set_visible(False)
        fig.tight_layout()
        return fig


def interval_columns(level: float) -> list[str]:
    """R's column names of an interval at ``level``: ``2.5 %``, ``97.5 %``."""
    alpha = (1 - level) / 2
    return [f"{100 * a:.3g} %" for a in (alpha, 1 - alpha)]


def _sd_partners(layout) -> dict[int, list[int]]:
    """For each correlation's index in the sd/cor vector, the indices of its sds."""
    return {layout.offsets[k] + i: [layout.offsets[k] + j for j in sds]
            for k, s in enumerate(layout.structures) for i, sds in s.sd_partners().items()}


def _bounded_parameters(names, objective, estimate, lower, upper, scale, partners, dev_min,
                        threads=contextlib.nullcontext) -> dict[str, _Parameter]:
    """One :class:`_Parameter` per element of a parameter vector whose deviance ``objective(values)``
    is minimised over the other elements by BOBYQA within [lower, upper].

    Besides the warm start, every point is also optimised from the estimate and, for a
    correlation, from each of its sds at 0 (``partners``): there the correlation has no effect,
    and that branch (lower than the warm start's local minimum, e.g. Orthodont) bounds the
    profile of the correlation from above. Each point's optimisations run inside ``threads()``
    (e.g. one BLAS thread for small problems)."""
    out = {}
    for i, name in enumerate(names):
        free = np.arange(len(estimate)) != i
        starts = [estimate]
        for sd in partners.get(i, []):
            zeroed = estimate.copy()
            zeroed[sd] = 0.0
            starts.append(zeroed)

        def deviance_at(x, start, i=i, free=free, starts=starts):
            def f(others):
                values = np.empty(len(estimate))
                values[free], values[i] = others, x
                return objective(values)

            if not free.any():
                return f(np.empty(0)), start
            with threads():
                candidates = [_minimise_bounded(f, s, lower[free], upper[free], scale[free])
                              for s in [start] + [s[free] for s in starts]]
            others, value = min(candidates, key=lambda c: c[1])
            return value, others

        out[name] = _Parameter(name, float(estimate[i]), float(lower[i]), float(upper[i]), float(scale[i]),
                               deviance_at, estimate[free], dev_min)
    return out


def _sdcor_bounds(layout, estimate: np.ndarray, n_other: int, sd_scale: float):
    """Bounds and step scales of (sd/cor..., then ``n_other`` parameters): sd ≥ 0, −1 ≤ cor ≤ 1."""
    is_cor = np.r_[~layout.diagonal_mask(), np.zeros(n_other, bool)]
    lower = np.where(is_cor, -1.0, 0.0)
    upper = np.where(is_cor, 1.0, np.inf)
    scale = np.where(is_cor, 0.05, 0.05 * np.maximum(estimate, sd_scale))
    return lower, upper, scale


def _varpar_parameters(fit_ml) -> dict[str, _Parameter]:
    """sd/cor/σ parameters of a linear mixed model, β profiled out (:class:`_VarparObjective`)."""
    layout = fit_ml.problem.layout
    estimate = sdcor_of_theta(layout, fit_ml.theta, fit_ml.sigma)
    estimate = np.where(np.isnan(estimate), 0.0, estimate)  # a correlation with a zero sd: any value
    lower, upper, scale = _sdcor_bounds(layout, estimate, 1, 0.5 * fit_ml.sigma)
    lower[-1] = 1e-10 * fit_ml.sigma
    return _bounded_parameters(sdcor_names(fit_ml), _VarparObjective(fit_ml.problem), estimate, lower, upper, scale,
                               _sd_partners(layout), fit_ml.objective)


def _glmm_parameters(fit) -> dict[str, _Parameter]:
    """sd/cor parameters, a jointly estimated dispersion φ (nbinom1, named ``dispersion``) and fixed
    effects of a GLMM: the Laplace (or AGQ) deviance d(θ, β[, log φ]) of ``fit.problem``
    minimised over all the other parameters (lme4's ``profile.merMod`` for glmer), with
    θ = chol(D R D) (σ = 1)."""
    problem, layout = fit.problem, fit.problem.layout
    k, p, n_extra = layout.n_theta, len(fit.solution.beta), problem.n_extra
    sdcor = sdcor_of_theta(layout, fit.theta, 1.0)[:-1]
    dispersion = np.exp(fit.optimum.theta[k + p:k + p + n_extra])
    estimate = np.r_[np.where(np.isnan(sdcor), 0.0, sdcor), dispersion, fit.solution.beta]
    lower, upper, scale = _sdcor_bounds(layout, estimate, n_extra + p, 0.5)
    b = k + n_extra  # the fixed effects come last, as lme4 orders its parameters
    lower[b:] = -np.inf
    scale[b:] = ZETA_STEP * np.sqrt(np.diag(fit.solution.vcov_beta))

    def objective(values):
        theta = theta_of_sdcor(layout, np.r_[values[:k], 1.0])
        if theta is None or np.any(values[k:b] <= 0):
            return np.inf
        return problem.deviance(np.r_[theta, values[b:], np.log(values[k:b])])

    names = sdcor_names(fit) + list(fit.spec.fixed.column_names)
    return _bounded_parameters(names, objective, estimate, lower, upper, scale, _sd_partners(layout), fit.objective,
                               threads=lambda: blas_threads_for(problem.joint.m))


def _beta_parameters(fit_ml) -> dict[str, _Parameter]:
    problem = fit_ml.problem
    se = np.sqrt(np.diag(fit_ml.solution.vcov_beta))
    lower_theta = problem.layout.lower_bounds()
    out = {}
    for j, name in enumerate(fit_ml.spec.fixed.column_names):
        def deviance_at(x, start, j=j):
            cross = _shifted_cross_products(problem.cross, j, x)
            shifted = DevianceProblem(cross, problem.layout.sizes, problem.term_levels, problem.p - 1, reml=False,
                                       structures=problem.layout.structures)
            optimum = optimize_theta(shifted.deviance, start, lower_theta, check=False)
            return optimum.objective, optimum.theta

        out[name] = _Parameter(name, float(fit_ml.solution.beta[j]), -np.inf, np.inf, float(ZETA_STEP * se[j]),
                               deviance_at, fit_ml.theta, fit_ml.objective)
    return out


def profile(fit, which=None, level: float = 0.99) -> Profile:
    """Profile the ML deviance over each parameter (lme4's ``profile(fit)``).

    Parameters
    ----------
    fit : LmerFit or GlmerFit
        A REML fit is refitted by ML first, as lme4 does.
    which : sequence of str, "theta_" or "beta_", optional
        Parameter names (``sd_(Intercept)|Subject``, ``sigma``, ``Days``, ...); all by default.
    level : float
        Points are placed until |ζ| ≥ z_{(1+level)/2} on both sides (lme4's ``alphamax`` = 1 − level).

    Returns
    -------
    Profile
    """
    from ..results import require_independent_residuals

    require_independent_residuals(fit, "profile()")
    if is_linear(fit):
        fit_ml = refit_ml(fit)
        parameters = {**_varpar_parameters(fit_ml), **_beta_parameters(fit_ml)}
    else:
        fit_ml = fit  # a GLMM is fitted by maximum likelihood
        parameters = _glmm_parameters(fit)
    names = select_parameters(list(parameters), len(fit_ml.solution.beta), which)
    if getattr(fit_ml, "family", None) is not None and fit_ml.family.has_scale \
            and any(name in sdcor_names(fit_ml) for name in names):
        raise ValueError(f"profiles of the variance parameters of a {fit_ml.family.label} GLMM are not available: "
                         "lme4's criterion for this family does not contain sigma, by which its sds are scaled; "
                         "profile the fixed effects (which='beta_') or use Wald intervals")
    cutoff = stats.norm.ppf((1 + level) / 2)
    chosen = {}
    for name in names:
        par = parameters[name]
        for direction in (-1, 1):
            par.walk(direction, cutoff)
        chosen[name] = par
    return Profile(fit_ml, chosen)


def select_parameters(names: list[str], n_beta: int, which) -> list[str]:
    """Resolve lme4's ``parm``/``which``: names, ``"theta_"`` (variance parameters) or ``"beta_"``."""
    if which is None:
        return names
    if isinstance(which, str):
        if which == "theta_":
            return names[:len(names) - n_beta]
        if which == "beta_":
            return names[len(names) - n_beta:]
        which = [which]
    unknown = [w for w in which if w not in names]
    if unknown:
        raise ValueError(f"unknown parameter(s) {unknown}; the parameters are {names}")
    return [n for n in names if n in which]
