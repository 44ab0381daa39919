"""Fit a mixed model for repeated measures as R's ``mmrm`` does: ``mm.mmrm(formula, data)``.

Steps: parse the formula (:mod:`.formula`) → the model's arrays (:mod:`.data`) → the criterion by
visit pattern (:mod:`.criterion`) → minimise −log L(θ) from mmrm's starting values with L-BFGS-B and
the analytic gradient, then Newton steps with the exact Hessian until the gradient vanishes → W = H⁻¹ → covariance of β̂ and df (:mod:`.ddf`) → :class:`MmrmFit`.
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy.optimize import minimize

from .._threads import blas_threads_for
from ..errors import ConvergenceWarning, DesignError
from .criterion import MmrmCriterion
from .data import MmrmData, build_mmrm_data
from .ddf import Inference, empirical_terms, kenward_roger_vcov, resolve_methods
from .formula import parse_mmrm_formula
from .results import MmrmFit
from .spatial import SpatialCriterion

__all__ = ["mmrm", "build_criterion"]

_GRAD_TOL = 1e-6
"""Largest |∂f/∂θ| accepted as converged (f = −log L)."""


def build_criterion(data: MmrmData, reml: bool) -> MmrmCriterion:
    """The criterion of the model ``data`` describes: by visit pattern, or spatial (``sp_exp``, ``sp_gau``)."""
    cls = SpatialCriterion if data.formula.spatial else MmrmCriterion
    return cls(data, data.formula.structure, reml)


def _newton(criterion: MmrmCriterion, theta: np.ndarray, value: float, max_steps: int = 20):
    """Newton steps θ ← θ − t H⁻¹∇f (t halved until f does not increase) until they stop moving θ.

    Returns θ, f(θ), the exact Hessian H and the number of criterion evaluations. H is the one of the
    last step's starting point when that step moved θ by less than 10⁻⁷ (H changes by O(10⁻⁷) relative
    there).
    """
    evaluations = 0
    for _ in range(max_steps):
        state = criterion.state(theta)
        H = criterion.hessian(theta, state)
        g = criterion.gradient(theta, state)
        evaluations += 1
        if np.max(np.abs(g)) < 1e-12 * max(1.0, abs(value)):
            break
        try:
            step = np.linalg.solve(H, g)
        except np.linalg.LinAlgError:
            break
        if not np.all(np.isfinite(step)) or g @ step <= 0:  # not a descent direction: H not positive definite
            break
        t = 1.0
        while t > 1e-6:
            f_new = criterion.objective(theta - t * step)
            evaluations += 1
            if f_new <= value:
                break
            t /= 2
        if f_new > value:
            break
        theta, value = theta - t * step, f_new
        if np.max(np.abs(t * step)) < 1e-7:
            break
    return theta, value, H, evaluations


def _between_within(data) -> np.ndarray:
    """Per column of X: "intercept", "between" (constant within every subject) or "within" (mmrm's rule)."""
    out = []
    n_subjects = data.n_subjects
    for j, name in enumerate(data.fixed.column_names):
        if name == "(Intercept)":
            out.append("intercept")
            continue
        pairs = np.unique(np.column_stack([data.X[:, j], data.subject]), axis=0)
        out.append("within" if len(pairs) > n_subjects else "between")
    return np.array(out)


def mmrm(formula: str, data, reml: bool = True, method: str = "satterthwaite", weights=None,
         vcov: str | None = None) -> MmrmFit:
    """Fit a mixed model for repeated measures (R ``mmrm`` 0.3.18).

    Model: y_i = X_i β + ε_i with ε_i ~ N(0, Σ_i) independent between subjects, Σ_i the rows and
    columns of the visit covariance Σ(θ) for the visits subject i has (missing visits are absent
    rows), scaled by the prior weights: Σ_i = W_i^{-1/2} Σ[S_i, S_i] W_i^{-1/2}. With a spatial
    structure Σ_i is built from the distances d_jl between the coordinates of subject i's rows:
    (Σ_i)_jl = σ² ρ^{d_jl} (``sp_exp``) or σ² ρ^{d_jl²} (``sp_gau``), θ = (log σ², logit ρ). θ is
    estimated by REML (β integrated out) or ML; β̂ = (XᵀV̂⁻¹X)⁻¹XᵀV̂⁻¹y.

    Incomplete rows and subjects. As R's mmrm, a row with a missing value in any variable of the
    model is dropped, and a subject none of whose rows is complete is left out of the fit: the
    numbers are R's. The fit records them — ``fit.n_dropped`` (rows), ``fit.subjects_dropped``
    (subjects) — and ``fit.summary()`` names the subjects left out. An error is raised only when
    what remains cannot be fitted: no complete row at all, fewer observations than parameters, or
    no subject with two observations for a structure with correlation parameters.

    Parameters
    ----------
    formula : str
        mmrm's syntax: fixed effects plus one covariance term, e.g.
        ``"FEV1 ~ RACE + SEX + ARMCD * AVISIT + us(AVISIT | USUBJID)"``; ``us(AVISIT | ARMCD / USUBJID)``
        estimates one covariance per level of ARMCD. Structures: us, toep, toeph, ar1, ar1h, ad, adh,
        cs, csh (see :mod:`mixedmodels.mmrm.structures`), and the spatial sp_exp and sp_gau, which take
        one or more numeric coordinates in place of the visit factor: ``sp_exp(TIME | USUBJID)``,
        ``sp_exp(VISITN, VISITN2 | USUBJID)``, ``sp_exp(TIME | ARMCD / USUBJID)``. For a spatial
        structure ``fit.cov`` is mmrm's covariance estimate: Σ of two points at unit distance (rows "0"
        and "1"); ``fit.subject_cov(subject)`` gives a subject's own Σ_i.
    data : pandas or polars DataFrame
        One row per subject and visit; rows with a missing value in a variable of the model are
        dropped (above). The visit must be a factor: a Categorical (levels in its order) or strings
        (levels sorted, as R's ``factor()``); spatial coordinates must be numeric.
    reml : bool
        REML (default) or ML.
    method : {"satterthwaite", "kenward-roger", "kenward-roger-linear", "residual", "between-within"}
        Denominator degrees of freedom of the t and F tests.
    weights : array-like or column name, optional
        Positive prior weights: observation j of subject i has variance Σ_jj / w_ij.
    vcov : {None, "asymptotic", "empirical", "empirical-jackknife", "empirical-bias-reduced",
            "kenward-roger", "kenward-roger-linear"}
        Covariance of β̂; None takes mmrm's default for ``method`` (asymptotic; Kenward–Roger for
        Kenward–Roger df; empirical for residual df).

    Returns
    -------
    MmrmFit

    Raises
    ------
    FormulaError
        Malformed formula, no or several covariance terms, unknown column.
    DesignError
        Visit not a factor (or a spatial coordinate not numeric), the same visit (or the same
        coordinates) twice within a subject — the message names the subject and the visit —, a
        subject in two groups, a visit never observed, no complete row, too many parameters for the
        data (fewer observations than parameters, no subject with two visits), non-positive weights.
    ValueError
        Unknown ``method``/``vcov`` or a combination mmrm does not allow (Kenward–Roger with ML,
        Kenward–Roger df with another covariance).

    Warns
    -----
    ConvergenceWarning
        The gradient at the optimum is not small, or the Hessian is not positive definite.
    """
    method, vcov_method = resolve_methods(method, vcov, reml)
    parsed = parse_mmrm_formula(formula)
    data_ = build_mmrm_data(parsed, data, weights)
    criterion = build_criterion(data_, reml)
    start = criterion.start()
    if not np.isfinite(criterion.objective(start)):
        raise DesignError("the criterion is not finite at mmrm's starting values; check the data (constant response?)")
    with blas_threads_for(criterion.p + 1):
        result = minimize(criterion.value_and_gradient, start, jac=True, method="L-BFGS-B",
                          options=dict(maxiter=5000, ftol=1e-12, gtol=1e-7, maxcor=20))
        theta, value, H, n_newton = _newton(criterion, result.x, float(result.fun))
        return fit_at(criterion, theta, method, vcov_method, H=H, n_evaluations=int(result.nfev) + n_newton)


def fit_at(criterion: MmrmCriterion, theta: np.ndarray, method: str, vcov_method: str, H: np.ndarray | None = None,
           n_evaluations: int = 0) -> MmrmFit:
    """The fit at a given θ: β̂(θ), W = H(θ)⁻¹, the covariance of β̂ and the df terms.

    :func:`mmrm` calls it at the optimum; at another θ (R's estimate, say) it gives what mmrm reports
    there, which is how the tests check every formula apart from the optimiser.
    ``method`` and ``vcov_method`` as returned by :func:`~.ddf.resolve_methods`.
    """
    theta = np.asarray(theta, dtype=float)
    data_ = criterion.data
    state = criterion.state(theta)
    if state is None:
        raise ValueError("the covariance is not positive definite at this theta")
    H = criterion.hessian(theta, state) if H is None else H
    messages = []
    gradient = criterion.gradient(theta, state)
    converged = bool(np.max(np.abs(gradient)) < _GRAD_TOL * max(1.0, abs(state.value)))
    if not converged:
        messages.append(f"the gradient at the optimum is not small: max |gradient| = {np.max(np.abs(gradient)):.2g}")
    eig = np.linalg.eigvalsh(H)
    if eig[0] <= 0:
        converged = False
        messages.append("the Hessian of -log L is not positive definite: theta_vcov is not available")
        theta_vcov = np.full_like(H, np.nan)
    else:
        theta_vcov = np.linalg.inv(H)
    for message in messages:
        warnings.warn(message, ConvergenceWarning, stacklevel=3)
    C = state.C
    jac = P = emp = None
    vcov_matrix = C
    if vcov_method.startswith("kenward-roger"):
        if not np.all(np.isfinite(theta_vcov)):
            raise ValueError("Kenward-Roger needs the inverse Hessian, which is not available (see the warnings)")
        P = criterion.derivative_terms(state)
        WQ, WR = criterion.kenward_roger_sums(state, theta_vcov)
        vcov_matrix = kenward_roger_vcov(C, theta_vcov, P, WQ, None if vcov_method == "kenward-roger-linear" else WR)
    elif vcov_method.startswith("empirical"):
        vcov_matrix, Fs, Xts = empirical_terms(criterion.blocks, state, vcov_method)
        emp = (Fs, Xts)
    if method == "satterthwaite" and vcov_method == "asymptotic":
        P = criterion.derivative_terms(state)
        jac = C @ P @ C
    inference = Inference(method=method, vcov_method=vcov_method, beta=state.beta, C=C, vcov=vcov_matrix,
                          theta_vcov=theta_vcov, jac=jac, P=P, empirical=emp, nobs=data_.nobs,
                          n_subjects=data_.n_subjects,
                          between=_between_within(data_) if method == "between-within" else None)
    return MmrmFit(data_, criterion, state, inference, theta_vcov, converged, messages, n_evaluations=n_evaluations)
