"""A fitted linear mixed model and everything lme4 reports about it (lme4's ``mkMerMod``).

Notation (shared/DESIGN.md): y = Xβ + Zb + ε, b ~ N(0, σ²ΛΛᵀ), ε ~ N(0, σ²W⁻¹). At θ̂ the fit
holds β̂, σ̂, the conditional modes b̂ = Λû and their conditional covariances
σ̂² Λ (LLᵀ)⁻¹ Λᵀ (diagonal blocks, as lme4's ``ranef(condVar = TRUE)``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd

from .design import ModelDesign, to_pandas
from .design.random import grouping_factor
from .errors import DesignError
from .objective import DevianceProblem, PlsSolution
from .optimize import OptSummary
from .summary import summary_text

__all__ = ["LmerFit"]


def _is_population_level(re_form) -> bool:
    if re_form is None:
        return False
    if re_form is False:
        return True
    if isinstance(re_form, str):
        return re_form.replace(" ", "") in ("~0", "NA", "~1", "0")
    raise ValueError(f"re_form must be None, False or '~0', not {re_form!r}")


@dataclass(frozen=True, eq=False)
class LmerFit:
    """The result of :func:`mixedmodels.lmer`.

    Attributes
    ----------
    design : ModelDesign
        The data as the model saw them.
    problem : DevianceProblem
        The objective (``problem.deviance(theta)`` is public).
    optimum : OptSummary
        Optimiser summary and convergence checks.
    solution : PlsSolution
        β̂, û, b̂, σ̂ at θ̂.
    data_name : str
        Name shown in the summary ("Data: ...").
    """

    design: ModelDesign
    problem: DevianceProblem
    optimum: OptSummary
    solution: PlsSolution
    data_name: str = ""

    # ------------------------------------------------------------------ the model
    @property
    def formula(self) -> str:
        return self.design.formula.formula

    @property
    def reml(self) -> bool:
        return self.problem.reml

    @property
    def weights(self):
        return self.design.weights

    @property
    def nobs(self) -> int:
        return self.design.nobs

    @property
    def dropped_columns(self) -> list[str]:
        return self.design.fixed.dropped

    @property
    def group_names(self) -> list[str]:
        """Names of the terms as lme4 labels them in VarCorr ("Subject", "Subject.1")."""
        seen: dict[str, int] = {}
        out = []
        for term in self.design.terms:
            count = seen.get(term.name, 0)
            out.append(term.name if count == 0 else f"{term.name}.{count}")
            seen[term.name] = count + 1
        return out

    @property
    def ngroups(self) -> dict[str, int]:
        """Number of levels of each grouping factor (lme4 ``ngrps``)."""
        return {term.name: term.n_levels for term in self.design.terms}

    # ------------------------------------------------------------------ parameters
    @property
    def theta(self) -> np.ndarray:
        return self.optimum.theta.copy()

    @property
    def theta_names(self) -> list[str]:
        return self.problem.layout.names([t.name for t in self.design.terms], [t.column_names for t in self.design.terms])

    @property
    def fixef(self) -> pd.Series:
        return pd.Series(self.solution.beta, index=self.design.fixed.column_names, name="Estimate")

    @property
    def vcov(self) -> pd.DataFrame:
        names = self.design.fixed.column_names
        return pd.DataFrame(self.solution.vcov_beta, index=names, columns=names)

    @property
    def sigma(self) -> float:
        return self.solution.sigma

    @property
    def objective(self) -> float:
        """REML criterion (REML fits) or deviance (ML fits): −2 × (restricted) log-likelihood."""
        return self.optimum.objective

    @property
    def deviance(self) -> float:
        """−2 log-likelihood; for a REML fit the REML criterion, as lme4's ``REMLcrit``."""
        return self.objective

    @property
    def loglik(self) -> float:
        return -0.5 * self.objective

    @property
    def npar(self) -> int:
        return len(self.solution.beta) + self.problem.layout.n_theta + 1

    @property
    def aic(self) -> float:
        return self.objective + 2 * self.npar

    @property
    def bic(self) -> float:
        return self.objective + self.npar * math.log(self.nobs)

    @property
    def df_resid(self) -> int:
        return self.nobs - self.npar

    @property
    def is_singular(self) -> bool:
        return self.optimum.singular

    @property
    def converged(self) -> bool:
        return self.optimum.converged

    @property
    def messages(self) -> list[str]:
        """Optimiser, convergence and singular-fit messages, as lme4 prints them."""
        out = list(self.optimum.messages)
        if self.is_singular:
            out.append("boundary (singular) fit: see help('isSingular')")
        return out

    def covariance_matrices(self) -> list[np.ndarray]:
        """Σ_k = σ² T_k T_kᵀ for each term, in lme4 order."""
        return [self.sigma**2 * T @ T.T for T in self.problem.layout.templates(self.theta)]

    @cached_property
    def varcorr(self) -> pd.DataFrame:
        """Variance components as R's ``as.data.frame(VarCorr(fit))``: grp, var1, var2, vcov, sdcor."""
        rows = []
        for name, term, cov in zip(self.group_names, self.design.terms, self.covariance_matrices()):
            cols, sd = term.column_names, np.sqrt(np.diag(cov))
            rows += [(name, c, None, cov[i, i], sd[i]) for i, c in enumerate(cols)]
            for j in range(len(cols)):
                for i in range(j + 1, len(cols)):
                    corr = cov[i, j] / (sd[i] * sd[j]) if sd[i] * sd[j] > 0 else float("nan")
                    rows.append((name, cols[j], cols[i], cov[i, j], corr))
        rows.append(("Residual", None, None, self.sigma**2, self.sigma))
        return pd.DataFrame(rows, columns=["grp", "var1", "var2", "vcov", "sdcor"])

    # ------------------------------------------------------------------ random effects
    def _by_factor(self, per_term: list[np.ndarray]) -> dict[str, tuple[list[str], list[tuple[int, np.ndarray]]]]:
        grouped: dict[str, list[tuple[int, np.ndarray]]] = {}
        for k, (term, values) in enumerate(zip(self.design.terms, per_term)):
            grouped.setdefault(term.name, []).append((k, values))
        return grouped

    @cached_property
    def ranef(self) -> dict[str, pd.DataFrame]:
        """Conditional modes b̂ per grouping factor: one row per level, one column per coefficient."""
        out = {}
        for name, items in self._by_factor(self.solution.b).items():
            term = self.design.terms[items[0][0]]
            frames = [pd.DataFrame(b, index=term.levels, columns=self.design.terms[k].column_names)
                      for k, b in items]
            out[name] = pd.concat(frames, axis=1)
        return out

    @cached_property
    def ranef_condvar(self) -> dict[str, np.ndarray]:
        """Conditional covariance of b per level, shape (ℓ, p, p), block diagonal across terms as lme4."""
        per_term = [self.sigma**2 * v for v in self.problem.conditional_covariances(self.theta, self.solution.factor)]
        out = {}
        for name, items in self._by_factor(per_term).items():
            sizes = [v.shape[1] for _, v in items]
            total = sum(sizes)
            block = np.zeros((items[0][1].shape[0], total, total))
            start = 0
            for (_, v), s in zip(items, sizes):
                block[:, start:start + s, start:start + s] = v
                start += s
            out[name] = block
        return out

    @property
    def coef(self) -> dict[str, pd.DataFrame]:
        """β̂ + b̂ per level of each grouping factor (lme4 ``coef``)."""
        out = {}
        for name, modes in self.ranef.items():
            frame = pd.DataFrame({c: np.full(len(modes), v) for c, v in self.fixef.items()}, index=modes.index)
            for column in modes.columns:
                frame[column] = frame[column] + modes[column] if column in frame else modes[column]
            out[name] = frame
        return out

    # ------------------------------------------------------------------ predictions
    def _random_part(self, terms_data) -> np.ndarray:
        total = 0.0
        for (codes, z), b in zip(terms_data, self.solution.b):
            known = codes >= 0
            contribution = np.zeros(len(codes))
            contribution[known] = np.einsum("ij,ij->i", z[known], b[codes[known]])
            total = total + contribution
        return total

    @cached_property
    def _fitted(self) -> np.ndarray:
        eta = self.design.X @ self.solution.beta
        eta = eta + self._random_part([(t.codes, t.z) for t in self.design.terms])
        return eta if self.design.offset is None else eta + self.design.offset

    def fitted(self) -> pd.Series:
        """Fitted values Xβ̂ + Zb̂ (+ offset), indexed like the rows used."""
        return pd.Series(self._fitted, index=self.design.rows, name="fitted")

    def residuals(self, type: str = "response") -> pd.Series:
        """Residuals as lme4's ``residuals``: ``"response"`` y − ŷ, ``"pearson"`` (y − ŷ)√w and
        ``"scaled"`` (y − ŷ)√w / σ̂ (``residuals(fit, "pearson", scaled = TRUE)``, the summary's)."""
        raw = self.design.y - self._fitted
        if type in ("pearson", "scaled"):
            raw = raw * (1.0 if self.design.weights is None else np.sqrt(self.design.weights))
            raw = raw / self.sigma if type == "scaled" else raw
        elif type != "response":
            raise ValueError(f"type must be 'response', 'pearson' or 'scaled', not {type!r}")
        return pd.Series(raw, index=self.design.rows, name="residuals")

    def predict(self, newdata=None, re_form=None, allow_new_levels: bool = False) -> pd.Series:
        """Predictions on new data, with or without the random effects.

        Parameters
        ----------
        newdata : DataFrame, optional
            Rows to predict for; the fitted data when omitted.
        re_form : None, False or "~0"
            None: condition on all random effects (lme4's default); False / "~0": population level.
        allow_new_levels : bool
            Levels not seen in the fit predict at the population level (their b = 0) when True;
            otherwise they raise a :class:`DesignError`.
        """
        population = _is_population_level(re_form)
        if newdata is None:
            if not population:
                return self.fitted().rename("predicted")
            frame = self.design.frame
        else:
            frame = to_pandas(newdata)
        X = self.design.fixed.transform(frame)
        eta = X @ self.solution.beta
        if not population:
            terms_data = []
            for term in self.design.terms:
                codes, _ = grouping_factor(term.spec.group, frame, known_levels=term.levels)
                if (codes < 0).any() and not allow_new_levels:
                    raise DesignError(f"new levels of {term.name!r} in newdata; pass allow_new_levels=True "
                                      "to predict them at the population level")
                terms_data.append((codes, term.z_design.transform(frame)))
            eta = eta + self._random_part(terms_data)
        return pd.Series(eta, index=frame.index, name="predicted")

    # ------------------------------------------------------------------ summaries
    def icc(self) -> pd.Series:
        """Intra-class correlation of each term and the adjusted ICC of all together.

        For a random-intercept term ICC_k = τ_k² / (τ_k² + σ²). For a term with slopes the
        variance it adds to an observation is averaged over the data, v_k = mean_i z_iᵀ Σ_k z_i
        (Nakagawa, Johnson & Schielzeth 2017), and ICC_k = v_k / (v_k + σ²). ``adjusted`` is
        Σ v_k / (Σ v_k + σ²).
        """
        sigma2 = self._icc_residual_variance()
        values = self._random_variances()
        out = {name: v / (v + sigma2) for name, v in values.items()}
        total = sum(values.values())
        out["adjusted"] = total / (total + sigma2)
        return pd.Series(out, name="ICC")

    def _random_variances(self) -> dict[str, float]:
        """v_k = mean_i z_iᵀ Σ_k z_i, the variance each random term adds to an observation."""
        return {name: float(np.mean(np.einsum("ij,jk,ik->i", term.z, cov, term.z)))
                for name, term, cov in zip(self.group_names, self.design.terms, self.covariance_matrices())}

    def _icc_residual_variance(self) -> float:
        """The observation-level variance in the ICC's denominator: σ̂² (a GLMM's latent-scale analogue)."""
        return self.sigma**2

    def coef_table(self, ddf: str | None = None) -> pd.DataFrame:
        """Estimate, Std. Error and t value; with ``ddf`` also df and Pr(>|t|).

        ``ddf`` is ``"satterthwaite"`` or ``"kenward-roger"`` (see :mod:`mixedmodels.inference`).
        """
        se = np.sqrt(np.diag(self.solution.vcov_beta))
        table = pd.DataFrame({"Estimate": self.solution.beta, "Std. Error": se, "t value": self.solution.beta / se},
                             index=self.design.fixed.column_names)
        if ddf is None:
            return table
        from .inference import coef_table_ddf

        return coef_table_ddf(self, ddf)

    def confint(self, method: str = "profile", level: float = 0.95, parm=None, nsim: int = 500, seed=None,
                n_jobs: int = 1, progress: bool = False) -> pd.DataFrame:
        """Wald, profile or bootstrap intervals (see :func:`mixedmodels.inference.confint.confint`)."""
        from .inference.confint import confint

        return confint(self, method=method, level=level, parm=parm, nsim=nsim, seed=seed, n_jobs=n_jobs,
                       progress=progress)

    def profile(self, which=None, level: float = 0.99):
        """Likelihood profiles, lme4's ``profile`` (see :func:`mixedmodels.inference.profile.profile`)."""
        from .inference.profile import profile

        return profile(self, which=which, level=level)

    def simulate(self, nsim: int = 1, seed=None, use_re: bool = True) -> pd.DataFrame:
        """Responses simulated from the fit (see :func:`mixedmodels.simulate.simulate`)."""
        from .simulate import simulate

        return simulate(self, nsim=nsim, seed=seed, use_re=use_re)

    def plot_lines(self, x: str | None = None, ax=None, group: str | None = None):
        """Data with one fitted line per cluster and the population line (see :func:`mixedmodels.plots.plot_lines`)."""
        from .plots import plot_lines

        return plot_lines(self, x=x, ax=ax, group=group)

    def plot_ranef(self, level: float = 0.95):
        """Caterpillar plot of the conditional modes (see :func:`mixedmodels.plots.plot_ranef`)."""
        from .plots import plot_ranef

        return plot_ranef(self, level=level)

    def plot_diagnostics(self):
        """Residual and random-effect diagnostics (see :func:`mixedmodels.plots.plot_diagnostics`)."""
        from .plots import plot_diagnostics

        return plot_diagnostics(self)

    def tidy(self, conf_level: float = 0.95, ddf: str | None = None) -> pd.DataFrame:
        """One row per parameter, as ``broom.mixed::tidy`` (see :func:`mixedmodels.export.tidy`)."""
        from .export import tidy

        return tidy(self, conf_level=conf_level, ddf=ddf)

    def to_dict(self, ddf: str | None = None) -> dict:
        """The fit in plain JSON types (see :func:`mixedmodels.export.to_dict`)."""
        from .export import to_dict

        return to_dict(self, ddf=ddf)

    def to_json(self, ddf: str | None = None, indent: int | None = 2) -> str:
        """:meth:`to_dict` as a JSON string."""
        from .export import to_json

        return to_json(self, ddf=ddf, indent=indent)

    def summary(self, ddf: str | None = "satterthwaite") -> str:
        """The summary text, laid out as lme4's ``summary(lmer(...))``.

        By default the fixed-effects table has Satterthwaite df and p-values, as lmerTest prints
        it; ``ddf="kenward-roger"`` uses Kenward–Roger, and ``ddf=None`` gives lme4's own text
        (Estimate, Std. Error, t value only).
        """
        return summary_text(self, ddf=ddf)

    def __repr__(self) -> str:
        return self.summary(ddf=None)  # lme4's text: no derivatives needed just to print a fit

    def _repr_html_(self) -> str:
        from html import escape

        varcorr = self.varcorr.to_html(index=False, float_format=lambda v: f"{v:.4g}", na_rep="")
        fixed = self.coef_table().to_html(float_format=lambda v: f"{v:.4g}")
        criterion = (f"REML criterion {self.objective:.2f}" if self.reml
                     else f"AIC {self.aic:.1f} · BIC {self.bic:.1f} · logLik {self.loglik:.1f}")
        notes = "".join(f"<p style='color:#b00'>{escape(m)}</p>" for m in self.messages)
        groups = ", ".join(f"{escape(g)}: {n}" for g, n in self.ngroups.items())
        return (f"<div><strong>Linear mixed model fit by {'REML' if self.reml else 'ML'}</strong><br>"
                f"<code>{escape(self.formula)}</code><br>{criterion}; {self.nobs} obs; groups {groups}"
                f"<h4>Random effects</h4>{varcorr}<h4>Fixed effects</h4>{fixed}{notes}</div>")
