"""The result of :func:`mixedmodels.mmrm`: estimates, tests, covariance, residuals and predictions.

Names follow the lmer fits where they mean the same thing (``fixef``, ``vcov``, ``coef_table()``,
``objective``, ``loglik``, ``aic``, ``bic``, ``nobs``, ``summary()``, ``tidy()``, ``to_json()``) and
R's ``mmrm`` for the rest. Information criteria are mmrm's: k = number of covariance parameters
n_θ (β is not counted), AIC = −2 log L + 2 n_θ, BIC = −2 log L + n_θ log(n_subjects).
"""

from __future__ import annotations

import json
import math
import types

import numpy as np
import pandas as pd
from scipy import stats

from ..summary import SIGNIF_LEGEND, coefficient_table_text
from ..rformat import format_numbers, format_table
from .criterion import CriterionState, MmrmCriterion
from .data import MmrmData, check_distinct_coordinates
from .ddf import R_NAMES, Inference

__all__ = ["MmrmFit"]

COEF_COLUMNS = ["Estimate", "Std. Error", "df", "t value", "Pr(>|t|)"]


def _left_out(subjects: list, shown: int = 10) -> str:
    """The summary's line on the subjects without a complete row (the first ``shown`` named)."""
    names = ", ".join(map(str, subjects[:shown])) + (f", ... ({len(subjects) - shown} more)" if len(subjects) > shown else "")
    have = "subject has" if len(subjects) == 1 else "subjects have"
    return f"({len(subjects)} {have} no complete row and {'is' if len(subjects) == 1 else 'are'} left out: {names})"


class MmrmFit:
    """A fitted mixed model for repeated measures (R ``mmrm``).

    Attributes
    ----------
    formula : str
    reml : bool
    method, vcov_method : str        df method and covariance of β̂ ("satterthwaite", "asymptotic", ...)
    structure : str                  covariance structure ("us", "toep", ...)
    theta : ndarray                  mmrm's covariance parameters (log-sd and transformed correlations)
    theta_vcov : ndarray             inverse Hessian of −log L in θ
    objective : float                −2 log L (REML or ML)
    loglik, aic, bic : float
    nobs, n_subjects, n_theta : int
    n_dropped : int                  rows dropped for missing values
    subjects_dropped : list          subjects none of whose rows is complete: left out of the fit (as in R)
    design : MmrmData                the model's arrays (``design.fixed``: X and R's column names)
    converged : bool
    messages : list of str
    """

    def __init__(self, data: MmrmData, criterion: MmrmCriterion, state: CriterionState, inference: Inference,
                 theta_vcov: np.ndarray, converged: bool, messages: list[str], n_evaluations: int):
        self.design = data
        self.criterion = criterion
        self._state = state
        self._inference = inference
        self.formula = data.formula.formula
        self.structure = criterion.structure.name
        self.reml = criterion.reml
        self.method, self.vcov_method = inference.method, inference.vcov_method
        self.theta = state.theta.copy()
        self.theta_vcov = theta_vcov
        self.objective = 2.0 * state.value
        self.loglik = -state.value
        self.n_theta = criterion.n_theta
        self.nobs = data.nobs
        self.n_subjects = data.n_subjects
        self.n_dropped = data.n_dropped
        self.subjects_dropped = list(data.subjects_dropped)
        self.aic = self.objective + 2 * self.n_theta
        self.bic = self.objective + self.n_theta * math.log(self.n_subjects)
        self.converged = converged
        self.messages = list(messages)
        self.n_evaluations = n_evaluations

    # -- estimates ---------------------------------------------------------------------------------
    @property
    def fixef(self) -> pd.Series:
        """β̂, named by X's columns."""
        return pd.Series(self._state.beta, index=self.design.fixed.column_names, name="Estimate")

    @property
    def vcov(self) -> pd.DataFrame:
        """Covariance of β̂: asymptotic, or the Kenward–Roger / empirical one the fit was asked for."""
        names = self.design.fixed.column_names
        return pd.DataFrame(self._inference.vcov, index=names, columns=names)

    @property
    def vcov_asymptotic(self) -> pd.DataFrame:
        """(XᵀV̂⁻¹X)⁻¹ whatever ``vcov`` was requested."""
        names = self.design.fixed.column_names
        return pd.DataFrame(self._inference.C, index=names, columns=names)

    @property
    def cov(self):
        """Estimated covariance of the visits: a DataFrame indexed by visit, or {group level: DataFrame}.

        For a spatial structure (``sp_exp``, ``sp_gau``) every subject has its own Σ_i; as mmrm's
        ``VarCorr``, ``cov`` is then Σ of two points at unit distance, indexed "0" and "1":
        [[σ², σ²ρ], [σ²ρ, σ²]]. :meth:`subject_cov` gives a subject's Σ_i.
        """
        levels = self.criterion.cov_labels
        frames = [pd.DataFrame(s, index=levels, columns=levels) for s in self._state.sigmas]
        if self.design.group_levels is None:
            return frames[0]
        return dict(zip(self.design.group_levels, frames))

    @property
    def cor(self):
        """The correlation matrix of :attr:`cov` (same layout; for a spatial structure [[1, ρ], [ρ, 1]])."""
        def correlation(frame):
            sd = np.sqrt(np.diag(frame.to_numpy()))
            return frame / np.outer(sd, sd)
        cov = self.cov
        return {g: correlation(c) for g, c in cov.items()} if isinstance(cov, dict) else correlation(cov)

    def subject_cov(self, subject) -> pd.DataFrame:
        """Σ_i of one subject of the fit, at the visits (or coordinates) of its rows used, prior weights left out.

        Indexed by visit level, or for a spatial structure by the rows' coordinates (a tuple when there
        are several). Raises KeyError for a subject that is not in the fit.
        """
        d = self.design
        labels = pd.Index(d.subject_labels)
        if subject not in labels:
            dropped = " (it has no complete row)" if subject in self.subjects_dropped else ""
            raise KeyError(f"subject {subject!r} is not in the fit{dropped}")
        i = labels.get_loc(subject)
        rows = np.flatnonzero(d.subject == i)
        group = 0 if d.group is None else int(d.group[i])
        if d.coordinates is None:
            where = np.sort(d.visit[rows])
            names = [d.visit_levels[v] for v in where]
        else:
            where = d.coordinates[rows][np.lexsort(d.coordinates[rows].T[::-1])]
            names = [tuple(p) if len(p) > 1 else p[0] for p in where.tolist()]
        sigma = self.criterion.subject_sigma(self._state, group, where)
        return pd.DataFrame(sigma, index=names, columns=names)

    # -- tests -------------------------------------------------------------------------------------
    def coef_table(self) -> pd.DataFrame:
        """Estimate, Std. Error, df, t value, Pr(>|t|) per coefficient (mmrm ``summary``)."""
        p = len(self._state.beta)
        rows = [self._inference.t_test(np.eye(p)[j]) for j in range(p)]
        return pd.DataFrame(rows, index=self.design.fixed.column_names, columns=COEF_COLUMNS)

    def t_test(self, contrast) -> dict:
        """t test of lᵀβ = 0 with the fit's df method: Estimate, Std. Error, df, t value, Pr(>|t|)."""
        return self._inference.t_test(self._contrast(contrast)[0])

    def f_test(self, contrast) -> dict:
        """F test of Lβ = 0 with the fit's df method (mmrm ``df_md``): NumDF, DenDF, F value, Pr(>F)."""
        return self._inference.f_test(self._contrast(contrast))

    def anova(self, type=3) -> pd.DataFrame:
        """F test of each fixed-effect term with the fit's df method, as ``car::Anova`` on an mmrm fit.

        ``type`` 2 or 3 (also "II", "III"); the hypothesis matrices are mmrm's
        (:func:`mixedmodels.mmrm.anova.mmrm_contrasts`), each F test is mmrm's ``df_md``.
        ``mm.anova(fit)`` calls it.

        Returns
        -------
        DataFrame indexed by term: NumDF, DenDF, F value, Pr(>F).
        """
        from .anova import mmrm_contrasts

        types = {2: 2, 3: 3, "2": 2, "3": 3, "II": 2, "III": 3}
        if type not in types:
            raise ValueError(f"type must be 2, 3, 'II' or 'III' (mmrm's Anova), not {type!r}")
        rows = {term: self._inference.f_test(L) for term, L in mmrm_contrasts(self, types[type]).items() if len(L)}
        return pd.DataFrame.from_dict(rows, orient="index", columns=["NumDF", "DenDF", "F value", "Pr(>F)"])

    def _contrast(self, contrast) -> np.ndarray:
        L = np.atleast_2d(np.asarray(contrast, dtype=float))
        p = len(self._state.beta)
        if L.ndim != 2 or L.shape[1] != p:
            raise ValueError(f"a contrast needs {p} columns (one per coefficient), got shape {np.shape(contrast)}")
        return L

    # -- fitted values, residuals, predictions --------------------------------------------------------
    @property
    def fitted(self) -> pd.Series:
        """Xβ̂ for the rows used, indexed by the data's row labels."""
        return pd.Series(self.design.X @ self._state.beta, index=self.design.rows, name="fitted")

    def residuals(self, type: str = "response") -> pd.Series:
        """Residuals of the rows used (mmrm ``residuals``).

        ``"response"``: y − Xβ̂; ``"pearson"``: (y − Xβ̂)/√diag(Σ_i) (Σ_i with the prior weights);
        ``"normalized"``: L_i⁻¹(y_i − X_iβ̂), Σ_i = L_i L_iᵀ, whitened within each subject in visit order;
        for a spatial structure, as in mmrm, in the order of the subject's rows in the data (sort the
        data by time to whiten in time order).
        """
        d = self.design
        raw = d.y - d.X @ self._state.beta
        if type == "response":
            out = raw
        elif type == "pearson":
            var = np.empty(len(raw))
            for b, block in enumerate(self.criterion.blocks):
                var[block.rows] = np.diag(self.criterion.block_sigma(self._state, b))[None, :]
            out = raw * np.sqrt(d.weights / var)
        elif type == "normalized":
            out = self.criterion.whiten(self._state, raw * np.sqrt(d.weights))
        else:
            raise ValueError(f"type must be 'response', 'pearson' or 'normalized', not {type!r}")
        return pd.Series(out, index=d.rows, name=type)

    def predict(self, newdata=None, conditional: bool = False) -> pd.Series:
        """Predictions for ``newdata`` (default: the data of the fit), one per row.

        ``conditional=False`` (mmrm's default): Xβ̂. ``conditional=True``: for each subject, rows with
        an observed response keep it, and rows without one get the conditional mean given the
        subject's observed visits, x_mβ̂ + Σ_mo Σ_oo⁻¹ (y_o − X_oβ̂) (mmrm ``predict(conditional = TRUE)``);
        for a spatial structure Σ is the subject's Σ_i at the coordinates of its rows in ``newdata``.
        Rows with a missing covariate get NaN.
        """
        from ..design import to_pandas, used_columns

        frame = self.design.frame if newdata is None else to_pandas(newdata)
        f = self.design.formula
        out = pd.Series(np.nan, index=frame.index, name="prediction")
        needed = used_columns(types.SimpleNamespace(formula=f.fixed), frame.columns)
        if conditional:
            needed += [c for c in (f.visit, *f.coordinates, f.subject, f.group) if c is not None]
        missing = [c for c in needed if c not in frame.columns]
        if missing:
            raise ValueError(f"newdata lacks the column(s) {missing}")
        usable = frame[needed].notna().all(axis=1).to_numpy() if needed else np.ones(len(frame), bool)
        X = self.design.fixed.transform(frame.loc[usable])
        mean = X @ self._state.beta
        out.loc[usable] = mean
        if not conditional:
            return out
        sub = frame.loc[usable]
        y = pd.to_numeric(sub[f.response], errors="coerce").to_numpy(dtype=float) if f.response in sub else \
            np.full(len(sub), np.nan)
        if f.spatial:
            where = sub[list(f.coordinates)].to_numpy(dtype=float)
            observed = ~np.isnan(y)
            codes, labels = pd.factorize(sub[f.subject].to_numpy()[observed])
            check_distinct_coordinates(where[observed], codes, labels, f.coordinates)
        else:
            where = pd.Index(self.design.visit_levels).get_indexer(sub[f.visit].astype(str))
            if (where < 0).any():
                raise ValueError(f"newdata has visit levels the fit has not seen: "
                                 f"{sorted(set(sub[f.visit].astype(str)[where < 0]))}")
        groups = None
        if f.group is not None:
            groups = pd.Index(self.design.group_levels).get_indexer(sub[f.group].astype(str))
            if (groups < 0).any():
                raise ValueError(f"newdata has {f.group} levels the fit has not seen: "
                                 f"{sorted(set(sub[f.group].astype(str)[groups < 0]))}")
        subjects = sub[f.subject].to_numpy()
        pred = mean.copy()
        for subject in pd.unique(subjects):
            idx = np.flatnonzero(subjects == subject)
            g = 0 if groups is None else groups[idx[0]]
            obs, mis = ~np.isnan(y[idx]), np.isnan(y[idx])
            pred[idx[obs]] = y[idx[obs]]
            if obs.any() and mis.any():
                Sigma = self.criterion.subject_sigma(self._state, g, where[idx])
                S_oo = Sigma[np.ix_(obs, obs)]
                S_mo = Sigma[np.ix_(mis, obs)]
                pred[idx[mis]] = mean[idx[mis]] + S_mo @ np.linalg.solve(S_oo, y[idx[obs]] - mean[idx[obs]])
        out.loc[usable] = pred
        return out

    # -- presentation ------------------------------------------------------------------------------
    def tidy(self, conf_level: float = 0.95) -> pd.DataFrame:
        """One row per coefficient: term, estimate, std_error, df, statistic, p_value, conf_low, conf_high
        (broom's ``tidy.mmrm`` with ``conf.int = TRUE``; intervals β̂ ± t_{df,1−α/2} SE)."""
        table = self.coef_table()
        half = stats.t.ppf(0.5 + conf_level / 2, table["df"]) * table["Std. Error"]
        return pd.DataFrame({
            "term": table.index, "estimate": table["Estimate"].to_numpy(), "std_error": table["Std. Error"].to_numpy(),
            "df": table["df"].to_numpy(), "statistic": table["t value"].to_numpy(), "p_value": table["Pr(>|t|)"].to_numpy(),
            "conf_low": (table["Estimate"] - half).to_numpy(), "conf_high": (table["Estimate"] + half).to_numpy()})

    def to_dict(self) -> dict:
        """The fit in plain JSON types: formula, structure, reml, method, vcov_method, nobs, n_subjects,
        n_dropped, subjects_dropped, objective, loglik, aic, bic, n_theta, theta, fixef, coef_table (records of :meth:`tidy`),
        cov ({group: {"visits": [...], "values": [[...]]}}, group "all" when not grouped), converged, messages."""
        from ..export import _plain, records

        cov = self.cov if isinstance(self.cov, dict) else {"all": self.cov}
        out = dict(formula=self.formula, structure=self.structure, reml=self.reml, method=self.method,
                   vcov_method=self.vcov_method, nobs=self.nobs, n_subjects=self.n_subjects, n_dropped=self.n_dropped,
                   subjects_dropped=self.subjects_dropped,
                   objective=self.objective, loglik=self.loglik, aic=self.aic, bic=self.bic, n_theta=self.n_theta,
                   theta=list(self.theta), fixef=self.fixef.to_dict(), coef_table=records(self.tidy()),
                   cov={g: {"visits": list(c.index), "values": c.to_numpy().tolist()} for g, c in cov.items()},
                   converged=self.converged, messages=self.messages)
        return _plain(out)

    def to_json(self, indent: int | None = 2) -> str:
        """:meth:`to_dict` as a JSON string (strict JSON: no NaN)."""
        return json.dumps(self.to_dict(), indent=indent, allow_nan=False)

    def summary(self) -> str:
        """The summary text, laid out as R's ``print(summary(mmrm(...)))``."""
        d, crit = self.design, self.criterion
        lines = ["mmrm fit", "",
                 f"Formula:     {self.formula}",
                 f"Data:        data (used {self.nobs} observations from {self.n_subjects} subjects with maximum "
                 f"{crit.m} timepoints)",
                 f"Covariance:  {crit.structure.label} ({crit.n_theta} variance parameters"
                 + (f" of {crit.n_groups} groups)" if d.group_levels is not None else ")"),
                 f"Method:      {R_NAMES[self.method]}",
                 f"Vcov Method: {R_NAMES[self.vcov_method]}",
                 f"Inference:   {'REML' if self.reml else 'ML'}", "",
                 "Model selection criteria:"]
        values = format_numbers(np.round([self.aic, self.bic, self.loglik, self.objective], 1), 5)
        lines += format_table(["AIC", "BIC", "logLik", "deviance"], [values], row_names=[""], right=True).splitlines()
        lines += ["", "Coefficients: ", coefficient_table_text(self.coef_table()), "---", SIGNIF_LEGEND, ""]
        cov = self.cov if isinstance(self.cov, dict) else {None: self.cov}
        lines.append("Covariance estimate:")
        for group, frame in cov.items():
            if group is not None:
                lines.append(f"{group}:")
            texts = np.array(format_numbers(np.round(frame.to_numpy().ravel(), 4), 7)).reshape(frame.shape)
            lines += format_table(list(frame.columns), [list(r) for r in texts], row_names=list(frame.index),
                                  right=True).splitlines()
            lines.append("")
        if self.n_dropped:
            lines.append(f"({self.n_dropped} rows with missing values were not used)")
        if self.subjects_dropped:
            lines.append(_left_out(self.subjects_dropped))
        return "\n".join(lines).rstrip() + "\n"

    def __repr__(self) -> str:
        return self.summary()
