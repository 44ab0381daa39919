"""The Laplace (and AGQ) deviance of a GLMM and lme4's two-stage optimisation (``glmer``).

For (θ, β), with û the PIRLS conditional modes (:mod:`.pirls`) and L_θ the factor of
ΛᵀZᵀWZΛ + I at û, the Laplace approximation to −2 log-likelihood is (lme4's ``Laplace``)

    d(θ, β) = Σᵢ −2 log p(yᵢ | μᵢ(û)) + ‖û‖² + log|L_θ|²
            = Σᵢ dᵢ(û) + S + ‖û‖² + log|L_θ|²,     S = Σᵢ −2 log p(yᵢ | μᵢ = yᵢ) (saturated model).

The data term is the family's (``family.data_term``: lme4's ``aic()``; for Gamma and inverse
Gaussian with the dispersion Σdᵢ/n). A family whose dispersion φ is estimated (nbinom1's φ,
glmer_nb's θ) adds log φ as the last parameter of both stages.

Stage 1 (lme4 ``nAGQ = 0``) minimises over θ alone, β being updated with u inside PIRLS;
stage 2 minimises d(θ, β) over (θ, β) jointly by BOBYQA, from the stage-1 values. For
nAGQ > 1 stage 2 uses the AGQ criterion of :mod:`.agq` instead (plus S).
"""

from __future__ import annotations

import copy
import math

import numpy as np

from ..covariance import ThetaLayout
from .agq import agq_deviance
from .families import Family
from .pirls import PirlsResult, PirlsSystem

__all__ = ["GlmmProblem"]


class GlmmProblem:
    """The GLMM objective for one design.

    Parameters
    ----------
    family : Family
        With its dispersion known, except a family whose dispersion is estimated
        (``estimates_dispersion`` set and ``dispersion`` None: nbinom1's φ, glmer_nb's θ): then
        its log is the last parameter of both stages' objectives (``n_extra`` = 1).
    y : ndarray (n,)               response (binomial: proportion of successes)
    weights : ndarray (n,)         prior weights (binomial: trials × user weights)
    trials : ndarray (n,)          binomial trials (ones otherwise)
    offset : ndarray (n,)
    X : ndarray (n, p)
    codes, z, n_levels             random-effects terms in lme4 order
    n_agq : int
    structures : sequence, optional
        Each term's covariance structure (:mod:`mixedmodels.covariance`; unstructured by default).
    """

    def __init__(self, family: Family, y, weights, trials, offset, X, codes, z, n_levels, n_agq: int = 1,
                 structures=None):
        self.y, self.weights, self.trials, self.offset, self.X = y, weights, trials, offset, X
        self.layout = ThetaLayout(tuple(zk.shape[1] for zk in z), structures)
        self.n_agq = int(n_agq)
        self.joint = PirlsSystem(codes, z, n_levels, X, structures)
        self.u_only = PirlsSystem(codes, z, n_levels, None, structures, buffers=self.joint.buffers)
        self.n, self.p, self.n_theta = len(y), X.shape[1], self.layout.n_theta
        self.reml = False
        self._set_family(family)

    def _set_family(self, family: Family) -> None:
        self.family = family
        self.n_extra = int(family.estimates_dispersion is not None and family.dispersion is None)
        self.saturated = math.nan if self.n_extra else family.saturated(self.y, self.weights, self.trials)
        self._x_joint = None
        self._u = None
        self._saturated_part = (None, None)
        self._start_eta = (None, None)

    def with_family(self, family: Family) -> "GlmmProblem":
        """The same design with another family (shares the PIRLS structures; lme4's ``refit`` with a new
        family), warm-started at this problem's conditional modes."""
        other = copy.copy(self)
        x_joint, u = self._x_joint, self._u
        other._set_family(family)
        other._x_joint, other._u = x_joint, u
        return other

    def saturated_part(self, family: Family):
        """``family.saturated_deviance_part`` of the response, kept for the last family asked."""
        known, value = self._saturated_part
        if known != family:
            value = family.saturated_deviance_part(self.y, self.weights)
            self._saturated_part = (family, value)
        return value

    def start_eta(self, family: Family) -> np.ndarray:
        """PIRLS's first linear predictor g(μ₀) (``family.start_mu``, lme4's ``mustart``), kept for
        the last family asked: every PIRLS run without a usable warm start begins there."""
        known, value = self._start_eta
        if known != family:
            value = family.link.link(family.start_mu(self.y, self.weights))
            self._start_eta = (family, value)
        return value

    def with_response(self, y: np.ndarray) -> "GlmmProblem":
        """The same design and family with response ``y`` (same weights and trials; a parametric
        bootstrap replicate)."""
        other = copy.copy(self)
        other.y = y
        other._set_family(self.family)
        return other

    def family_at(self, extra) -> Family:
        """The family at the extra (dispersion) parameters: φ = exp(extra[0]) when estimated jointly."""
        return self.family.with_dispersion(math.exp(extra[0])) if self.n_extra else self.family

    def _saturated(self, family: Family) -> float:
        """S of ``family`` (a family at an estimated dispersion has its own)."""
        return self.saturated if not self.n_extra else family.saturated(self.y, self.weights, self.trials)

    def _criterion(self, family: Family, result: PirlsResult) -> float:
        data = family.data_term(self.y, result.mu, self.weights, result.dev_sum, self._saturated(family))
        return float(data + result.ussq + result.factor.logdet_L)

    # ------------------------------------------------------------------ stage 1
    def _run_joint(self, theta, family: Family, tol: float = 1e-10, keep: bool = True) -> PirlsResult | None:
        theta = np.asarray(theta, float)
        result = self.joint.run(family, self.y, self.weights, self.offset, theta, self.layout.templates(theta),
                                self._x_joint, self.start_eta(family), tol=tol,
                                saturated_part=self.saturated_part(family), keep=keep)
        if result is not None:
            self._x_joint = result.x
        return result

    def deviance_theta(self, params, tol: float = 1e-10) -> float:
        """Stage-1 objective at params = [θ, extra]: Laplace deviance with β from the joint PIRLS
        (lme4 nAGQ = 0), taken to a step of ``tol``."""
        params = np.asarray(params, float)
        family = self.family_at(params[self.n_theta:])
        result = self._run_joint(params[:self.n_theta], family, tol, keep=False)
        if result is None or not np.isfinite(result.dev_sum):
            return np.inf
        return self._criterion(family, result)

    def joint_modes(self, params) -> PirlsResult:
        """The joint PIRLS state (u and β) at params = [θ, extra]."""
        params = np.asarray(params, float)
        return self._run_joint(params[:self.n_theta], self.family_at(params[self.n_theta:]))

    # ------------------------------------------------------------------ stage 2
    def conditional_modes(self, theta, beta, extra=(), keep: bool = True) -> PirlsResult | None:
        """PIRLS for u at (θ, β[, extra]), warm-started from the previous modes, to a step of 1e-12.

        PIRLS returns the modes before a step below its tolerance, so the criterion carries an error
        of about tolerance × its gradient in u (summed over q modes): at 1e-10 that was 1.6e-9 on
        grouseticks' Poisson model, enough to move its finite-difference Hessian (step 1e-4) by 0.3
        and Var(β̂) by 2%; at 1e-12 it costs ~2% more PIRLS iterations."""
        family = self.family_at(extra)
        theta = np.asarray(theta, float)
        offset = self.offset + self.X @ beta
        result = self.u_only.run(family, self.y, self.weights, offset, theta, self.layout.templates(theta), self._u,
                                 self.start_eta(family), tol=1e-12, saturated_part=self.saturated_part(family),
                                 keep=keep)
        if result is not None:
            self._u = result.x
        return result

    def split(self, params):
        """(θ, β, extra) from the stage-2 parameters."""
        params = np.asarray(params, float)
        k, p = self.n_theta, self.p
        return params[:k], params[k:k + p], params[k + p:]

    def deviance(self, params) -> float:
        """Stage-2 objective at params = [θ, β, extra]: −2 log-likelihood by Laplace (nAGQ = 1) or AGQ."""
        theta, beta, extra = self.split(params)
        result = self.conditional_modes(theta, beta, extra, keep=False)
        if result is None or not np.isfinite(result.dev_sum):
            return np.inf
        family = self.family_at(extra)
        if self.n_agq <= 1:
            return self._criterion(family, result)
        term = self.u_only.terms[0]
        return self._saturated(family) + agq_deviance(family, self.y, self.weights, self.offset + self.X @ beta,
                                             term.codes, term.z[:, 0] * theta[0], result.x,
                                             np.sqrt(result.factor.P[:, 0, 0]), self.n_agq,
                                             self.saturated_part(family))
