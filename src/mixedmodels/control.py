"""Every tolerance and optimiser setting of a fit in one place (lme4's ``lmerControl``).

    fit = mm.lmer(formula, data, control=mm.LmerControl(maxeval=500, check_conv=False))

The defaults are lme4's (``nloptwrap`` BOBYQA, ``checkConv``, ``isSingular``, ``chkRank.X``)
plus the post-optimisation steps of :mod:`mixedmodels.optimize`.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["LmerControl", "DEFAULT_CONTROL"]


@dataclass(frozen=True)
class LmerControl:
    """Optimiser settings and tolerances.

    Attributes
    ----------
    ftol_abs, xtol_abs, maxeval : float, float, int
        BOBYQA's stopping rules (lme4's ``nloptwrap`` defaults 1e-8, 1e-8, 1e5).
    ftol_rel : float
        BOBYQA also stops when the criterion changes by less than this share of its value (a few
        units in its last place: lme4's absolute 1e-8 is below the resolution of the criterion of
        10⁸ rows, ≈ 2.8e8 spaced 6e-8 apart; below |f| = 1e7 the absolute tolerance decides).
    polish_ftol_abs, polish_xtol_abs, polish_step : float
        A second BOBYQA run from θ̂ with these when lme4's checks fail at BOBYQA's first stop.
    zero_tol, zero_ftol : float
        θ components within ``zero_tol`` of a 0 bound are set to 0 when the criterion rises by
        at most ``zero_ftol`` (MixedModels.jl).
    singular_tol : float
        A fit is singular when a diagonal element of some T_k is below this (lme4 ``isSingular``).
    check_conv : bool
        Finite-difference gradient and Hessian at θ̂ and lme4's ``checkConv`` messages (then the
        Newton refinements of :mod:`mixedmodels.optimize`).
    gradient_tol : float
        lme4's ``check.conv.grad`` tolerance on the scaled gradient.
    hessian_tol : float
        A Hessian eigenvalue below −``hessian_tol`` × the largest |eigenvalue| is "degenerate".
    refine_delta : float
        Step of the fourth-order gradient of the final Newton refinement.
    rank_tol : float
        R's ``qr(X, tol)`` for aliased columns of X (lme4 ``chkRank.X``).
    refit_initial_step : float
        BOBYQA's first step for refits that start at a nearby θ̂ (bootstrap, power, profiles).
    use_gradient : bool
        Minimise by scoring with the analytic gradient where the model has one (crossed scalar
        terms, :mod:`mixedmodels.gradient`), BOBYQA as the fallback near a bound; False: BOBYQA always.
    scoring_ftol : float
        The scoring iterations stop when the criterion falls by at most this share of its value.
    scoring_halvings : int
        Step halvings tried before the scoring path hands over to BOBYQA.
    gradient_hessian_delta : float
        Step of the forward differences of the analytic gradient that give the Hessian.
    """

    ftol_abs: float = 1e-8
    xtol_abs: float = 1e-8
    maxeval: int = 100_000
    ftol_rel: float = 1e-15
    polish_ftol_abs: float = 1e-12
    polish_xtol_abs: float = 1e-10
    polish_step: float = 1e-2
    zero_tol: float = 1e-3
    zero_ftol: float = 1e-6
    singular_tol: float = 1e-4
    check_conv: bool = True
    gradient_tol: float = 2e-3
    hessian_tol: float = 1e-6
    refine_delta: float = 1e-3
    rank_tol: float = 1e-7
    refit_initial_step: float = 0.05
    use_gradient: bool = True
    scoring_ftol: float = 1e-10
    scoring_halvings: int = 30
    gradient_hessian_delta: float = 1e-5

    def __post_init__(self):
        for name in ("ftol_abs", "xtol_abs", "ftol_rel", "polish_ftol_abs", "polish_xtol_abs", "polish_step",
                     "zero_tol", "zero_ftol", "singular_tol", "gradient_tol", "hessian_tol", "refine_delta",
                     "rank_tol", "refit_initial_step", "scoring_ftol", "gradient_hessian_delta"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and value >= 0):
                raise ValueError(f"LmerControl.{name} must be a non-negative number, not {value!r}")
        if not isinstance(self.use_gradient, bool):
            raise ValueError(f"LmerControl.use_gradient must be True or False, not {self.use_gradient!r}")
        if not (isinstance(self.scoring_halvings, int) and self.scoring_halvings > 0):
            raise ValueError(f"LmerControl.scoring_halvings must be a positive integer, not {self.scoring_halvings!r}")
        if not (isinstance(self.maxeval, int) and self.maxeval > 0):
            raise ValueError(f"LmerControl.maxeval must be a positive integer, not {self.maxeval!r}")


DEFAULT_CONTROL = LmerControl()
