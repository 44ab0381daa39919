"""The text of ``summary(lmer(...))``, laid out and rounded as lme4 prints it.

The pieces follow lme4's ``print.summary.merMod``: the header and fit criterion
(``.prt.methTit``, ``.prt.aictab``), scaled residuals, the random-effects table
(``.prt.VC`` with 4 significant digits, correlations to 2 decimals), the number of observations and
groups, the fixed-effects table (``printCoefmat``), the correlation of fixed effects and the
optimiser and singular-fit messages.
"""

from __future__ import annotations

import math
import textwrap
from collections import Counter

import numpy as np
import pandas as pd

from .rformat import (SIGNIF_LEGEND, abbreviate, cat_fill, deparse, format_numbers, format_pvalues, format_table,
                      quantiles, stars)

__all__ = ["coefficient_table_text", "random_effects_text", "summary_text"]

DIGITS = 4


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def random_effects_text(varcorr: pd.DataFrame, one_correlation: dict[str, str] | None = None) -> str:
    """lme4's ``.prt.VC``: Groups, Name, Variance, Std.Dev. and the lower triangle of Corr.

    ``one_correlation`` maps a group to the keyword of its structure when one correlation
    describes the term (``ar1``, ``hetar1``, ``cs``, ``homcs``): glmmTMB prints it once, as ``0.96 (ar1)``.
    The table's rows are read once into Python lists (a handful of rows: boolean masks on the
    frame for every cell took longer than the rest of the summary).
    """
    one_correlation = one_correlation or {}
    rows = list(zip(varcorr["grp"], varcorr["var1"], varcorr["var2"], varcorr["vcov"], varcorr["sdcor"]))
    variances = [row for row in rows if _missing(row[2])]
    n_corr = max(Counter(row[0] for row in rows if not _missing(row[2])).values(), default=0)
    variance_text = format_numbers([row[3] for row in variances], DIGITS)
    sd_text = format_numbers([row[4] for row in variances], DIGITS)
    per_group = Counter(row[0] for row in variances)  # in order of first appearance
    groups = list(per_group)
    width = max(per_group.values(), default=1) - 1
    header = ["Groups", "Name", "Variance", "Std.Dev."] + (["Corr"] + [""] * (width - 1) if width > 0 and n_corr else [])
    lines, i = [], 0
    for group in groups:
        names = ["" if _missing(row[1]) else row[1] for row in variances if row[0] == group]
        corr = [(var1, var2, sdcor) for g, var1, var2, _, sdcor in rows if g == group and not _missing(var2)]
        # format(round(C, 2), nsmall = 2) of the group's whole matrix: one width, diagonal 1.00 included
        cell_width = max([4] + [len(f"{v:.2f}") for _, _, v in corr])
        for j, name in enumerate(names):
            cells = [group if j == 0 else "", name, variance_text[i], sd_text[i]]
            if width > 0 and n_corr and group in one_correlation:
                first = [v for var1, var2, v in corr if var1 == names[0] and var2 == names[1]] if j == 0 else []
                label = f"{float(first[0]):.2f} ({one_correlation[group]})" if first else ""
                cells += [label] + [""] * (width - 1)
            elif width > 0 and n_corr:
                for k in range(width):
                    value = [v for var1, var2, v in corr if var1 == names[k] and var2 == name] if k < j else []
                    cells.append(f"{float(value[0]):.2f}".rjust(cell_width) if value else "")
            lines.append(cells)
            i += 1
    return format_table(header, lines)


def coefficient_table_text(table: pd.DataFrame, digits: int = DIGITS, signif_stars: bool = True) -> str:
    """R's ``printCoefmat``: Estimate, Std. Error (and df) share one rounding, the statistic is
    rounded to ``digits − 1`` decimals, p-values go through ``format.pval``, with stars."""
    p_column = next((c for c in table.columns if c.startswith("Pr(")), None)
    statistic = [c for c in table.columns if c.endswith(" value")]
    coef_columns = [c for c in table.columns if c != p_column and c not in statistic]
    coef = table[coef_columns].to_numpy(dtype=float)
    nonzero = np.abs(coef[np.isfinite(coef) & (coef != 0)])
    acs = math.floor(math.log10(nonzero.min())) + 1 if nonzero.size else 0
    coef_text = np.array(format_numbers(np.round(coef, max(1, digits - acs)).ravel(), digits)).reshape(coef.shape)
    text = {c: list(coef_text[:, i]) for i, c in enumerate(coef_columns)}
    for c in statistic:
        text[c] = format_numbers(np.round(table[c].to_numpy(dtype=float), max(1, min(5, digits - 1))), digits)
    header = list(table.columns)
    if p_column is not None:
        p_values = table[p_column].to_numpy(dtype=float)
        text[p_column] = format_pvalues(p_values)
        if signif_stars and np.nanmin(p_values) < 0.1:
            header.append("")
            text[""] = [stars(p).ljust(3) for p in p_values]
    rows = [list(r) for r in zip(*(text[c] for c in header))]
    return format_table(header, rows, row_names=list(table.index), right=True)


def correlation_text(vcov: pd.DataFrame) -> str:
    """lme4's 'Correlation of Fixed Effects' block (lower triangle, 3 decimals)."""
    sd = np.sqrt(np.diag(vcov.to_numpy()))
    corr = vcov.to_numpy() / np.outer(sd, sd)
    names = list(vcov.index)
    row_names = [abbreviate(n, 11) for n in names[1:]]
    col_names = [abbreviate(n, 6) for n in names[:-1]]
    # format(round(x, 3), nsmall = 3) pads every entry of the matrix to one width
    text = np.array(format_numbers(np.round(corr, 3).ravel(), DIGITS, nsmall=3)).reshape(corr.shape)
    cells = [[(text[i, j] if j < i else "") for j in range(len(names) - 1)] for i in range(1, len(names))]
    return format_table(col_names, cells, row_names=row_names)


def _zapsmall(values: np.ndarray, digits: int) -> np.ndarray:
    """R's (4.2) ``zapsmall``: round to ``digits − log10(max|x|)`` decimals (R rounds that to an integer)."""
    largest = np.max(np.abs(values))
    return np.round(values, max(0, math.floor(digits - math.log10(largest) + 0.5))) if largest > 0 else values


def _named_vector(names: list[str], texts: list[str]) -> list[str]:
    """R's print of a named vector: one common width, right-justified, a trailing space."""
    width = max(len(t) for t in list(names) + list(texts))
    return [" ".join(n.rjust(width) for n in names) + " ", " ".join(t.rjust(width) for t in texts) + " "]


def _wrapped_title(title: str, cls: str, width: int = 80) -> list[str]:
    """lme4's ``.prt.methTit``: wrap a long title (strwrap, indent 2), then ``cat(fill = TRUE)``
    of " [", class, "]" — which breaks the line before the class when it would overflow."""
    lines = [title]
    if len(title) + len(cls) + 3 > width:
        lines = textwrap.wrap(title, width - 2, subsequent_indent="  ", break_on_hyphens=False)
    last = lines[-1] + " ["
    if len(last) + len(cls) > width:
        return lines[:-1] + [last, cls + "]"]
    return lines[:-1] + [last + cls + "]"]


def data_lines(fit) -> list[str]:
    """Formula, Data and Weights lines, then a blank line (lme4's ``.prt.call``: the formula as R
    deparses it, wrapped at 80 columns)."""
    lines = cat_fill(["Formula:", *deparse(fit.formula)])
    if fit.data_name:
        lines.append(f"   Data: {fit.data_name}")
    if fit.weights is not None:
        lines.append("Weights: (prior weights)")
    return lines + [""]


def ml_criterion_lines(fit) -> list[str]:
    """lme4's AIC / BIC / logLik / deviance / df.resid table (``.prt.aictab``), then a blank line."""
    values = np.round([fit.aic, fit.bic, fit.loglik, fit.deviance], 1)
    texts = format_numbers(values, 7) + [str(int(fit.df_resid))]
    return _named_vector(["AIC", "BIC", "logLik", "deviance", "df.resid"], texts) + [""]


def fit_body_lines(fit, table: pd.DataFrame, scaled_residuals: np.ndarray | None) -> list[str]:
    """Scaled residuals, random effects, observations and groups, fixed effects (with the
    significance legend when p-values are shown) and their correlation, as lme4 prints them."""
    lines = []
    if scaled_residuals is not None:
        lines.append("Scaled residuals: ")
        q = _zapsmall(quantiles(scaled_residuals), DIGITS + 1)
        lines += _named_vector(["Min", "1Q", "Median", "3Q", "Max"], format_numbers(q, DIGITS)) + [""]
    lines.append("Random effects:")
    one_correlation = {t.name: s.keyword for t, s in zip(fit.spec.terms, fit.problem.layout.structures)
                       if s.keyword in ("ar1", "hetar1", "cs", "homcs")}
    lines.append(random_effects_text(fit.varcorr, one_correlation))
    groups = "; ".join(f"{g}, {n}" for g, n in fit.ngroups.items())
    lines.append(f"Number of obs: {fit.nobs}, groups:  {groups}")
    lines.append("")
    if table.empty:
        return lines + ["No fixed effect coefficients"]
    lines.append("Fixed effects:")
    lines.append(coefficient_table_text(table))
    p_column = next((c for c in table.columns if c.startswith("Pr(")), None)
    if p_column is not None and table[p_column].min() < 0.1:
        lines += ["---", SIGNIF_LEGEND]
    if 1 < len(table) <= 12:  # lme4 omits the correlation matrix for p > 12
        lines += ["", "Correlation of Fixed Effects:", correlation_text(fit.vcov)]
    return lines


def summary_text(fit, ddf: str | None = None) -> str:
    """The whole ``summary()`` text of a linear mixed model fit."""
    method = "REML" if fit.reml else "maximum likelihood "
    if ddf is None:
        lines = [f"Linear mixed model fit by {method} ['lmerMod']"]
    else:
        name = "Kenward-Roger" if ddf.lower().replace("_", "-") in ("kenward-roger", "kr") else "Satterthwaite"
        lines = _wrapped_title(f"Linear mixed model fit by {method}. t-tests use {name}'s method", "lmerModLmerTest")
    lines += data_lines(fit)
    if fit.reml:
        lines += [f"REML criterion at convergence: {round(fit.objective, 1):.7g}", ""]
    else:
        lines += ml_criterion_lines(fit)
    # data larger than memory: no quantiles of n residuals
    residuals = fit.residuals(type="scaled").to_numpy() if getattr(fit, "in_memory", True) else None
    lines += fit_body_lines(fit, fit.coef_table(ddf=ddf), residuals)
    if fit.dropped_columns:
        lines.append(f"fit warnings:\nfixed-effect model matrix is rank deficient so dropping "
                     f"{len(fit.dropped_columns)} columns / coefficients")
    if fit.messages:
        lines += ["optimizer (bobyqa) convergence code: 0 (OK)"] + fit.messages + [""]
    return "\n".join(lines)
