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

from .covariance import covariance_matrices, varcorr_table
from .design import to_pandas
from .design.spec import ModelSpec
from .errors import SINGULAR_MESSAGE
from .objective import DevianceProblem, PlsSolution
from .optimize import OptSummary
from .summary import summary_text

__all__ = ["LmerFit", "SINGULAR_MESSAGE", "require_independent_residuals"]



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

    The same class whatever the data source: everything but the row-wise results comes from the
    specification and A; the row-wise results (fitted values, residuals, simulation) come from
    ``rows``, lazily where the source is lazy (Parquet files, Dask).

    Attributes
    ----------
    spec : ModelSpec
        The model without rows (formula, templates, levels, rank).
    problem : DevianceProblem
        The objective (``problem.deviance(theta)`` is public).
    optimum : OptSummary
        Optimiser summary and convergence checks.
    solution : PlsSolution
        β̂, û, b̂, σ̂ at θ̂.
    data_name : str
        Name shown in the summary ("Data: ...").
    rows : row handle
        :class:`mixedmodels.sources.InMemoryRows` or the lazy rows of chunked data (None for a
        refit of simulated data that are not in memory).
    """

    spec: ModelSpec
    problem: DevianceProblem
    optimum: OptSummary
    solution: PlsSolution
    data_name: str = ""
    rows: object = None

    # ------------------------------------------------------------------ the model
    @property
    def design(self):
        """The rows as the model saw them (:class:`~mixedmodels.design.ModelDesign`), for data in memory.

        Raises
        ------
        RowsNotInMemory
            The fit was made from Parquet files or a Dask DataFrame (or is a refit of such data).
        """
        from .sources import RowsNotInMemory

        if self.rows is None or self.rows.lazy:
            raise RowsNotInMemory("the rows of this fit are not in memory (Parquet files or a Dask DataFrame); "
                                  "fitted(), residuals() and predict() give lazy Dask Series of them")
        return self.rows.design

    @property
    def in_memory(self) -> bool:
        """The rows of the fit are in memory (a pandas or polars frame)."""
        return self.rows is not None and not self.rows.lazy

    def _rows(self):
        from .sources import RowsNotInMemory

        if self.rows is None:
            raise RowsNotInMemory("this fit is a refit to simulated responses that were not kept in memory")
        return self.rows

    @property
    def formula(self) -> str:
        return self.spec.formula.formula

    @property
    def reml(self) -> bool:
        return self.problem.reml

    @property
    def weights(self):
        """The prior weights of the rows used (in memory), or the name of their column."""
        return self.design.weights if self.in_memory else self.spec.weights

    @property
    def nobs(self) -> int:
        return self.spec.nobs

    @property
    def dropped_columns(self) -> list[str]:
        return self.spec.fixed.dropped

    @property
    def group_names(self) -> list[str]:
        """Names of the terms as lme4 labels them in VarCorr ("Subject", "Subject.1")."""
        return self.spec.group_names

    @property
    def ngroups(self) -> dict[str, int]:
        """Number of levels of each grouping factor (lme4 ``ngrps``)."""
        return {term.name: term.n_levels for term in self.spec.terms}

    # ------------------------------------------------------------------ parameters
    @property
    def theta(self) -> np.ndarray:
        return self.optimum.theta.copy()

    @property
    def theta_names(self) -> list[str]:
        return self.problem.layout.names([t.name for t in self.spec.terms], [t.column_names for t in self.spec.terms])

    @property
    def fixef(self) -> pd.Series:
        return pd.Series(self.solution.beta, index=self.spec.fixed.column_names, name="Estimate")

    @property
    def vcov(self) -> pd.DataFrame:
        names = self.spec.fixed.column_names
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
        """Whether the estimate lies on the boundary of the parameter space (lme4's ``isSingular``).

        True when some diagonal element of a relative covariance factor T_k is below 1e-4 (θ at
        or next to its lower bound 0): a variance estimated as zero, or a correlation of ±1, or
        a covariance matrix of lower rank. The model is then more complex than the data support.
        The fit is valid (the criterion is at its constrained minimum), but consider a simpler
        random-effects structure (drop the term whose variance is zero, or use ``(x || g)``
        for uncorrelated effects); profile or bootstrap intervals for that variance include 0.
        """
        return self.optimum.singular

    @property
    def converged(self) -> bool:
        return self.optimum.converged

    @property
    def messages(self) -> list[str]:
        """Optimiser, convergence and singular-fit messages, as lme4 prints them."""
        out = list(self.optimum.messages)
        if self.is_singular:
            out.append(SINGULAR_MESSAGE)
        return out

    def covariance_matrices(self) -> list[np.ndarray]:
        """Σ_k = σ² T_k T_kᵀ for each term, in lme4 order."""
        return covariance_matrices(self.problem.layout.templates(self.theta), self.sigma)

    @cached_property
    def varcorr(self) -> pd.DataFrame:
        """Variance components as R's ``as.data.frame(VarCorr(fit))``: grp, var1, var2, vcov, sdcor."""
        return varcorr_table(self.group_names, [t.column_names for t in self.spec.terms], self.covariance_matrices(),
                             self.sigma, self.problem.layout.structures)

    # ------------------------------------------------------------------ random effects
    def _by_factor(self, per_term: list[np.ndarray]) -> dict[str, tuple[list[str], list[tuple[int, np.ndarray]]]]:
        grouped: dict[str, list[tuple[int, np.ndarray]]] = {}
        for k, (term, values) in enumerate(zip(self.spec.terms, per_term)):
            grouped.setdefault(term.name, []).append((k, values))
        return grouped

    @cached_property
    def ranef(self) -> dict[str, pd.DataFrame]:
        """Conditional modes b̂ per grouping factor: one row per level, one column per coefficient."""
        out = {}
        for name, items in self._by_factor(self.solution.b).items():
            term = self.spec.terms[items[0][0]]
            frames = [pd.DataFrame(b, index=term.levels, columns=self.spec.terms[k].column_names)
                      for k, b in items]
            out[name] = pd.concat(frames, axis=1)
        return out

    def _relative_conditional_covariances(self) -> list[np.ndarray]:
        """Λ(L_θL_θᵀ)⁻¹Λᵀ per term and level (σ = 1), from the fit's penalised least-squares problem."""
        return self.problem.conditional_covariances(self.theta, self.solution.factor)

    @cached_property
    def ranef_condvar(self) -> dict[str, np.ndarray]:
        """Conditional covariance of b per level, shape (ℓ, p, p), block diagonal across terms as lme4."""
        per_term = [self.sigma**2 * v for v in self._relative_conditional_covariances()]
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
    def fitted(self):
        """Fitted values Xβ̂ + Zb̂ (+ offset) of the rows used: a Series indexed like them (a lazy Dask
        Series for Parquet/Dask data)."""
        return self._rows().fitted(self)

    def residuals(self, type: str = "response"):
        """Residuals as lme4's ``residuals``: ``"response"`` y − ŷ, ``"pearson"`` (y − ŷ)√w and
        ``"scaled"`` (y − ŷ)√w / σ̂ (``residuals(fit, "pearson", scaled = TRUE)``, the summary's)."""
        if type not in ("response", "pearson", "scaled"):
            raise ValueError(f"type must be 'response', 'pearson' or 'scaled', not {type!r}")
        return self._rows().residuals(self, type)

    def _newdata_terms(self, frame: pd.DataFrame, allow_new_levels: bool) -> list[tuple[np.ndarray, np.ndarray]]:
        """(level codes, model columns) of each random-effects term for new rows; code −1 = unseen level."""
        return [(term.codes(frame, allow_new=allow_new_levels), term.z_design.transform(frame))
                for term in self.spec.terms]

    def _random_part(self, terms_data) -> np.ndarray:
        """Σ_k z_i b̂_k[level i] for rows given as (codes, z) per term; unseen levels (code −1) add 0."""
        total = 0.0
        for (codes, z), b in zip(terms_data, self.solution.b):
            known = codes >= 0
            contribution = np.zeros(len(codes))
            contribution[known] = np.einsum("ij,ij->i", z[known], b[codes[known]])
            total = total + contribution
        return total

    def predict(self, newdata=None, re_form=None, allow_new_levels: bool = False, *, se_fit: bool = False,
                interval: str = "none", level: float = 0.95):
        """Predictions on new data, with or without the random effects, optionally with uncertainty.

        Parameters
        ----------
        newdata : DataFrame, optional
            Rows to predict for (pandas, polars, or a Dask DataFrame: a lazy Dask Series); the
            fitted data when omitted.
        re_form : None, False or "~0"
            None: condition on all random effects (lme4's default); False / "~0": population level.
        allow_new_levels : bool
            Levels not seen in the fit predict at the population level (their b = 0) when True;
            otherwise they raise a :class:`DesignError` naming them.
        se_fit : bool
            Also return the standard error of each prediction.
        interval : {"none", "confidence", "prediction"}
            Normal-theory interval for the predicted mean or for a new observation.
        level : float
            Coverage of the interval.

        Returns
        -------
        Series ``predicted``, or, with ``se_fit`` or an interval, a DataFrame with columns ``fit``,
        ``se_fit`` and (with an interval) ``lwr``, ``upr``. Population-level standard errors are
        sqrt(x Var(β̂) xᵀ); conditional ones come from the joint conditional covariance of
        (β̂ − β, b̂ − b), σ̂² times the inverse of the penalised least-squares system at θ̂
        (Henderson's prediction-error covariance: the random effects' conditional variance,
        Var(β̂) and their covariance; not θ̂'s uncertainty). Intervals use the normal quantile;
        a prediction interval adds σ̂² (and, at the population level, the random effects'
        variance of a new group). Details: :mod:`mixedmodels.postfit.prediction`.
        """
        if se_fit or interval != "none":
            from .postfit.prediction import predict_interval

            return predict_interval(self, newdata, re_form=re_form, allow_new_levels=allow_new_levels,
                                    interval=interval, level=level)
        population = _is_population_level(re_form)
        b = None if population else self.solution.b
        if newdata is None:
            if not population:
                return self.fitted().rename("predicted")
            return self._rows().predict_fitted(self, b)
        from .largedata.sources import is_dask_frame

        if is_dask_frame(newdata):
            from .largedata.rows import lazy_linear_predictor

            return lazy_linear_predictor(self.spec, newdata, self.solution.beta, b, allow_new_levels)
        frame = to_pandas(newdata)
        eta = self.spec.linear_predictor(frame, self.solution.beta, b, allow_new_levels)
        return pd.Series(eta, index=frame.index, name="predicted")

    # ------------------------------------------------------------------ summaries
    def icc(self, tolerance: float | None = None) -> pd.Series:
        """Intra-class correlations per term, ``adjusted`` and ``conditional``, as performance's ``icc``.

        Per term σ²_k / (σ²_k + σ²_ε); ``adjusted`` = σ²_r / (σ²_r + σ²_ε); ``conditional`` =
        σ²_r / (σ²_f + σ²_r + σ²_ε), with σ²_k = mean_i z_iᵀ Σ_k z_i (random slopes averaged over
        the data, Johnson 2014), σ²_r their sum, σ²_f = var(Xβ̂) and σ²_ε = σ̂² (lmer) or the
        latent-scale variance of a GLMM. See :func:`mixedmodels.postfit.r2.icc` for the
        definitions and ``tolerance`` (singular fits).
        """
        from .postfit.r2 import icc

        return icc(self, tolerance=tolerance)

    def coef_table(self, ddf: str | None = None) -> pd.DataFrame:
        """Estimate, Std. Error and t value; with ``ddf`` also df and Pr(>|t|).

        ``ddf`` is ``"satterthwaite"`` or ``"kenward-roger"`` (see :mod:`mixedmodels.inference`).
        """
        se = np.sqrt(np.diag(self.solution.vcov_beta))
        table = pd.DataFrame({"Estimate": self.solution.beta, "Std. Error": se, "t value": self.solution.beta / se},
                             index=self.spec.fixed.column_names)
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

    def influence(self, group: str | None = None, n_jobs: int = 1, progress: bool = True):
        """Cook's distances and dfbetas by deleting each row or each level of ``group`` and refitting
        (lme4's ``influence``; see :func:`mixedmodels.postfit.influence.influence`)."""
        from .postfit.influence import influence

        return influence(self, group=group, n_jobs=n_jobs, progress=progress)

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

    def tidy(self, conf_level: float = 0.95, ddf: str | None = "satterthwaite") -> pd.DataFrame:
        """One row per parameter, as ``broom.mixed::tidy`` (see :func:`mixedmodels.export.tidy`).

        df, p-values and t intervals by Satterthwaite by default, as :meth:`summary`; ``ddf=None``
        gives lme4's Wald intervals without df and p.
        """
        from .export import tidy

        return tidy(self, conf_level=conf_level, ddf=ddf)

    def to_dict(self, ddf: str | None = "satterthwaite") -> dict:
        """The fit in plain JSON types (see :func:`mixedmodels.export.to_dict`); ``ddf`` as in :meth:`tidy`."""
        from .export import to_dict

        return to_dict(self, ddf=ddf)

    def to_json(self, ddf: str | None = "satterthwaite", indent: int | None = 2) -> str:
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


def require_independent_residuals(fit, what: str) -> None:
    """Raise DesignError when ``fit`` has a residual structure and ``what`` assumes independent residuals.

    A fit with a residual correlation or variance structure
    (:class:`~mixedmodels.residual.StructuredLmerFit`) says why through its ``_unavailable``;
    asked of the fit, so that the check does not import :mod:`mixedmodels.residual`.
    """
    unavailable = getattr(fit, "_unavailable", None)
    if unavailable is not None:
        unavailable(what)
