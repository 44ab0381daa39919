"""A fitted GLMM and what lme4 reports about it (``glmerMod``).

:class:`GlmerFit` extends :class:`mixedmodels.results.LmerFit` (same random-effects surface:
theta, varcorr, ranef, ranef_condvar, coef, predict) with what differs for a GLMM: σ = 1 and no
residual variance; Var(β̂) = 2 H⁻¹ restricted to β, H the finite-difference Hessian of the
stage-2 deviance over (θ, β) (lme4's default ``use.hessian = TRUE``); z tests; fitted values on
the response scale; deviance, Pearson and response residuals; and, for Poisson, the
overdispersion ratio Σ (Pearson residual)² / residual df. Families with a scale (Gamma, inverse
Gaussian) have lme4's σ̂ and a residual row in VarCorr; ``dispersion`` is NB θ̂, nbinom1 φ̂ or σ̂².
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd
from scipy import special

from ..covariance import relative_effects
from ..inference.varpar import require_linear_fit
from ..results import LmerFit, _is_population_level
from ..summary import _wrapped_title, data_lines, fit_body_lines, ml_criterion_lines
from .families import Family
from .pirls import PirlsResult

__all__ = ["GlmerFit"]


@dataclass(frozen=True, eq=False)
class GlmerFit(LmerFit):
    """The result of :func:`mixedmodels.glmer` (see the module docstring).

    Extra attributes: ``family`` (Family), ``n_agq``, ``y`` (response; binomial: proportion),
    ``prior_weights`` (binomial: trials × weights), ``trials``, ``state`` (the PIRLS state at the
    optimum: η, μ, deviance residuals).
    """

    family: Family = None
    n_agq: int = 1
    n_dispersion: int = 0
    y: np.ndarray = None
    prior_weights: np.ndarray = None
    trials: np.ndarray = None
    state: PirlsResult = None

    # ------------------------------------------------------------------ parameters
    def _relative_conditional_covariances(self) -> list[np.ndarray]:
        """From the PIRLS system at the mode (the IRLS weights at û, lme4's ``condVar``)."""
        return self.state.problem.conditional_covariances(self.theta, self.state.factor)

    @property
    def theta(self) -> np.ndarray:
        """θ̂ (the optimiser's parameters are [θ, β, extra], or [θ, extra] for nAGQ = 0)."""
        return self.optimum.theta[:self.problem.layout.n_theta].copy()

    @property
    def npar(self) -> int:
        """β, θ and the estimated dispersion parameters (σ of Gamma/inverse Gaussian, NB θ, nbinom1 φ)."""
        return len(self.solution.beta) + self.problem.layout.n_theta + self.n_dispersion

    @property
    def dispersion(self) -> float:
        """The family's dispersion: NB θ̂, nbinom1 φ̂; σ̂² for Gamma and inverse Gaussian (lme4's
        ``sigma(fit)^2``); 1 for binomial and Poisson."""
        own = self.family.dispersion
        return float(own) if own is not None else self.sigma**2

    @property
    def deviance_residual_sum(self) -> float:
        """Σ squared deviance residuals, lme4's ``deviance()`` of a glmer fit (73.47 for cbpp)."""
        return float(self.state.dev_resid.sum())

    @property
    def saturated_minus_two_loglik(self) -> float:
        """−2 log-likelihood of the saturated model, S (the offset between lme4's AGQ criterion and ours)."""
        return self.problem.saturated

    @property
    def varcorr(self) -> pd.DataFrame:
        """``as.data.frame(VarCorr(fit))``: variances σ̂²ΛΛᵀ, with the residual row only for families
        with a scale (Gamma, inverse Gaussian: lme4's σ̂; otherwise σ = 1 is not a parameter)."""
        table = super().varcorr
        if self.family.has_scale:
            return table
        return table[table["grp"] != "Residual"].reset_index(drop=True)

    # ------------------------------------------------------------------ fitted values, residuals
    def fitted(self) -> pd.Series:
        """Fitted means μ̂ = g⁻¹(η̂) on the response scale (lme4's ``fitted``)."""
        return pd.Series(self.state.mu, index=self.design.rows, name="fitted")

    def predict(self, newdata=None, re_form=None, allow_new_levels: bool = False, type: str = "link", *,
                se_fit: bool = False, interval: str = "none", level: float = 0.95):
        """η (``type="link"``) or μ (``type="response"``), conditional on the random effects or not (``re_form``).

        With ``se_fit=True`` or ``interval="confidence"`` a DataFrame (fit, se_fit[, lwr, upr]): on the
        response scale by the delta method, the interval's ends mapped through g⁻¹ (see
        :func:`mixedmodels.postfit.prediction.predict_interval`).
        """
        if type not in ("link", "response"):
            raise ValueError(f"type must be 'link' or 'response', not {type!r}")
        if se_fit or interval != "none":
            from ..postfit.prediction import predict_interval

            return predict_interval(self, newdata, re_form=re_form, allow_new_levels=allow_new_levels,
                                    interval=interval, level=level, type=type)
        if newdata is None and not _is_population_level(re_form):
            eta = pd.Series(self.state.eta, index=self.design.rows, name="predicted")
        else:
            eta = super().predict(newdata, re_form, allow_new_levels)
        return eta if type == "link" else pd.Series(self.family.link.inverse(eta.to_numpy()), index=eta.index,
                                                    name="predicted")

    def residuals(self, type: str = "deviance") -> pd.Series:
        """Residuals: ``"deviance"`` sign(y − μ)√dᵢ, ``"pearson"`` (y − μ)√w/√V(μ), ``"response"`` y − μ."""
        mu, y = self.state.mu, self.y
        if type == "deviance":
            raw = np.sign(y - mu) * np.sqrt(np.maximum(self.state.dev_resid, 0.0))
        elif type == "pearson":
            raw = (y - mu) * np.sqrt(self.prior_weights) / np.sqrt(self.family.variance(mu))
        elif type == "response":
            raw = y - mu
        else:
            raise ValueError(f"type must be 'deviance', 'pearson' or 'response', not {type!r}")
        return pd.Series(raw, index=self.design.rows, name="residuals")

    @property
    def overdispersion(self) -> float:
        """Pearson χ² / residual df; well above 1 suggests overdispersion (Poisson, binomial with trials)."""
        return float(np.sum(self.residuals("pearson").to_numpy() ** 2) / self.df_resid)

    # ------------------------------------------------------------------ inference
    def coef_table(self, ddf: str | None = None) -> pd.DataFrame:
        """Estimate, Std. Error, z value and Pr(>|z|) (Wald z tests, as lme4 for glmer)."""
        if ddf is not None:
            require_linear_fit(self, "t tests")
        beta = self.solution.beta
        se = np.sqrt(np.diag(self.solution.vcov_beta))
        z = beta / se
        return pd.DataFrame({"Estimate": beta, "Std. Error": se, "z value": z,
                             "Pr(>|z|)": 2 * special.ndtr(-np.abs(z))}, index=self.design.fixed.column_names)

    # ------------------------------------------------------------------ simulation
    def refit(self, y) -> "GlmerFit":
        """The same model fitted to a new response ``y`` (lme4's ``refit(fit, newresp)``; see
        :func:`mixedmodels.glmm.fit.refit`)."""
        from .fit import refit

        return refit(self, y)

    def simulate(self, nsim: int = 1, seed=None, use_re: bool = True) -> pd.DataFrame:
        """Responses drawn from the fitted model: new b* = Λu*, u* ~ N(0, I) (or b̂ when ``use_re=False``),
        then y* ~ family(g⁻¹(Xβ̂ + offset + Zb*)); binomial responses are proportions of the trials."""
        if int(nsim) != nsim or nsim < 1:
            raise ValueError(f"nsim must be a positive integer, not {nsim!r}")
        rng = np.random.default_rng(seed)
        nsim = int(nsim)
        design = self.design
        eta = design.X @ self.solution.beta + (0.0 if design.offset is None else design.offset)
        eta = np.repeat(eta[:, None], nsim, axis=1)
        for term, T, b_hat in zip(design.terms, self.problem.layout.templates(self.theta), self.solution.b):
            if use_re:
                b = relative_effects([rng.standard_normal((nsim, term.n_levels, T.shape[0]))], [T])[0]
                eta += np.einsum("ij,sij->is", term.z, b[:, term.codes, :])
            else:
                eta += np.einsum("ij,ij->i", term.z, b_hat[term.codes])[:, None]
        Y = self.family.simulate(self.family.link.inverse(eta), self.trials, rng, self.sigma)
        return pd.DataFrame(Y, index=design.rows, columns=[f"sim_{i + 1}" for i in range(nsim)])

    # ------------------------------------------------------------------ printing
    def tidy(self, conf_level: float = 0.95, ddf: str | None = None) -> pd.DataFrame:
        """One row per parameter, as ``broom.mixed::tidy``: Wald z tests (no ``ddf`` for a GLMM)."""
        return super().tidy(conf_level=conf_level, ddf=ddf)

    def to_dict(self, ddf: str | None = None) -> dict:
        """The fit in plain JSON types (see :func:`mixedmodels.export.to_dict`), Wald z tests."""
        return super().to_dict(ddf=ddf)

    def to_json(self, ddf: str | None = None, indent: int | None = 2) -> str:
        """:meth:`to_dict` as a JSON string."""
        return super().to_json(ddf=ddf, indent=indent)

    def summary(self, ddf: str | None = None) -> str:
        """The summary text laid out as lme4's ``summary(glmer(...))``; a Poisson fit adds the
        overdispersion ratio as a last line."""
        if ddf is not None:
            require_linear_fit(self, "t tests")
        method = ("Laplace Approximation" if self.n_agq <= 1
                  else f"Adaptive Gauss-Hermite Quadrature, nAGQ = {self.n_agq}")
        lines = _wrapped_title(f"Generalized linear mixed model fit by maximum likelihood ({method})", "glmerMod")
        lines.append(f" Family: {self.family}")
        lines += data_lines(self) + ml_criterion_lines(self)
        lines += fit_body_lines(self, self.coef_table(), self.residuals("pearson").to_numpy())
        if self.messages:
            lines += ["optimizer (bobyqa) convergence code: 0 (OK)"] + self.messages
        if self.family.estimates_dispersion == "joint":
            lines.append("")
            lines.append(f"Dispersion parameter for {self.family.name} family (): {self.dispersion:.3g}")
        if self.family.reports_overdispersion:
            lines.append("")
            lines.append(f"Overdispersion: Pearson chi2 / df.resid = {self.overdispersion:.4g} (chi2 = "
                         f"{self.overdispersion * self.df_resid:.5g}, df = {self.df_resid})")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        from html import escape

        return f"<pre>{escape(self.summary())}</pre>"

    def __repr__(self) -> str:
        return self.summary()

    @cached_property
    def _fitted(self) -> np.ndarray:
        return self.state.eta
