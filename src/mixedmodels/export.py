"""A fitted model as data: broom.mixed's ``tidy`` table and a plain-JSON dictionary.

``tidy`` gives one row per parameter, named as broom.mixed names them: fixed effects by their
column of X; variance parameters per grouping factor as ``sd__<coef>`` and
``cor__<coef1>.<coef2>`` (the lower triangle of the term's correlation matrix, column by column,
as ``as.data.frame(VarCorr(fit))``), and the residual standard deviation as ``sd__Observation``
in group ``Residual``. Fixed effects carry Wald intervals β̂ ± z_{1−α/2}·SE(β̂), or
β̂ ± t_{df, 1−α/2}·SE(β̂) when a denominator-df method is requested; variance parameters carry
the estimate only (broom.mixed's ``conf.method = "Wald"`` leaves them NA too).

``to_dict`` holds only JSON types (str, int, float, bool, None, list, dict); NaN becomes None.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd

from ._distributions import norm_quantile, t_quantile

__all__ = ["tidy", "to_dict", "to_json", "records"]

TIDY_COLUMNS = ["effect", "group", "term", "estimate", "std_error", "statistic", "df", "p_value",
                "conf_low", "conf_high"]


def _fixed_rows(fit, conf_level: float, ddf: str | None) -> list[dict]:
    table = fit.coef_table(ddf=ddf)
    estimate = table["Estimate"].to_numpy(dtype=float)
    se = table["Std. Error"].to_numpy(dtype=float)
    statistic = estimate / se
    df = table["df"].to_numpy(dtype=float) if "df" in table else np.full(len(table), np.nan)
    p_column = next((c for c in table.columns if c.startswith("Pr(")), None)
    p = table[p_column].to_numpy(dtype=float) if p_column else np.full(len(table), np.nan)
    tail = 0.5 + conf_level / 2
    half = (norm_quantile(tail) if ddf is None else t_quantile(tail, df)) * se
    return [dict(effect="fixed", group=None, term=str(name), estimate=estimate[i], std_error=se[i],
                 statistic=statistic[i], df=df[i], p_value=p[i], conf_low=estimate[i] - half[i],
                 conf_high=estimate[i] + half[i])
            for i, name in enumerate(table.index)]


def _ran_pars_rows(fit) -> list[dict]:
    varcorr = fit.varcorr
    rows = []
    for group in dict.fromkeys(varcorr["grp"]):
        block = varcorr[varcorr["grp"] == group]
        sds = block[block["var2"].isna()]
        cors = block[block["var2"].notna()]
        for var1, sd in zip(sds["var1"], sds["sdcor"]):
            name = "Observation" if group == "Residual" else var1
            rows.append(dict(effect="ran_pars", group=group, term=f"sd__{name}", estimate=float(sd)))
            for var2, corr in zip(cors.loc[cors["var1"] == var1, "var2"], cors.loc[cors["var1"] == var1, "sdcor"]):
                rows.append(dict(effect="ran_pars", group=group, term=f"cor__{var1}.{var2}", estimate=float(corr)))
    return rows


def tidy(fit, conf_level: float = 0.95, ddf: str | None = None) -> pd.DataFrame:
    """One row per parameter, as R's ``broom.mixed::tidy(fit, conf.int = TRUE)``.

    Parameters
    ----------
    fit : LmerFit or GlmerFit
        A GLMM has Wald z tests (df NaN), no residual row, and no ``ddf``.
    conf_level : float
        Coverage of the fixed-effect intervals, in (0, 1).
    ddf : {"satterthwaite", "kenward-roger"}, optional
        Denominator degrees of freedom for df, p-values and t-based intervals, from
        ``fit.coef_table(ddf=ddf)``. Without it df and p_value are NaN and intervals use the
        normal quantile (lme4's ``confint(method = "Wald")``).

    Returns
    -------
    DataFrame
        Columns effect, group, term, estimate, std_error, statistic, df, p_value, conf_low,
        conf_high; fixed effects first, then variance parameters by group, residual last.
    """
    if not 0 < conf_level < 1:
        raise ValueError(f"conf_level must lie in (0, 1), not {conf_level!r}")
    rows = _fixed_rows(fit, conf_level, ddf) + _ran_pars_rows(fit)
    return pd.DataFrame(rows, columns=TIDY_COLUMNS)


def _plain(value):
    """A JSON-ready copy of ``value``: numpy scalars to Python, NaN/inf to None."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_plain(v) for v in value]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    return str(value)


def records(frame: pd.DataFrame) -> list[dict]:
    """The rows of ``frame`` as JSON-ready dictionaries (NaN → None)."""
    return [_plain(row) for row in frame.to_dict(orient="records")]


def to_dict(fit, ddf: str | None = None) -> dict:
    """Everything a pipeline needs from a fit, in plain JSON types.

    Keys: formula, data, family and link (None for lmer fits), reml, nobs, ngroups, objective, loglik, aic, bic, npar, sigma, theta
    ({name: value}, lme4 order), fixef, coef_table (records of :func:`tidy`'s fixed rows:
    term, estimate, std_error, statistic, df, p_value, conf_low, conf_high), varcorr (records of
    ``as.data.frame(VarCorr(fit))``: group, var1, var2, vcov, sdcor), icc (None with a residual
    structure, :mod:`mixedmodels.residual`), ranef
    ({group: records with "level" and one key per coefficient}), singular, converged, messages.
    """
    fixed = tidy(fit, ddf=ddf)
    fixed = fixed[fixed["effect"] == "fixed"].drop(columns=["effect", "group"])
    varcorr = fit.varcorr.rename(columns={"grp": "group"})
    ranef = {}
    for group, modes in fit.ranef.items():
        frame = modes.copy()
        frame.insert(0, "level", [str(level) for level in modes.index])
        ranef[group] = records(frame)
    family = getattr(fit, "family", None)  # GLMM fits (GlmerFit) carry their family and link
    out = dict(
        formula=fit.formula, data=fit.data_name,
        family=None if family is None else family.name, link=None if family is None else family.link_name,
        reml=fit.reml, nobs=fit.nobs, ngroups=fit.ngroups,
        objective=fit.objective, loglik=fit.loglik, aic=fit.aic, bic=fit.bic, npar=fit.npar, sigma=fit.sigma,
        theta=dict(zip(fit.theta_names, fit.theta)), fixef=fit.fixef.to_dict(), coef_table=records(fixed),
        ddf=ddf, varcorr=records(varcorr), icc=None if getattr(fit, "residual_parameters", None) is not None else fit.icc().to_dict(), ranef=ranef, singular=fit.is_singular,
        converged=fit.converged, messages=list(fit.messages),
    )
    return _plain(out)


def to_json(fit, ddf: str | None = None, indent: int | None = 2) -> str:
    """:func:`to_dict` as a JSON string (strict JSON: no NaN)."""
    return json.dumps(to_dict(fit, ddf=ddf), indent=indent, allow_nan=False)
