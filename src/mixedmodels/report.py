"""A fitted model as one self-contained HTML page.

The page needs no network and no other file: the CSS is inline and every figure is a PNG
embedded as a ``data:image/png;base64`` URI. It shows the model (formula, data, method, fit
criteria), the singular-fit and convergence messages, the random-effects table
(lme4's ``VarCorr``), the fixed-effects table (Satterthwaite or Kenward-Roger df and p-values
for linear mixed models, Wald z tests for GLMMs), lmerTest's type III ANOVA and the intra-class
correlations (linear mixed models), R² and the scaled-residual diagnostics of :mod:`.postfit`, the
marginal means of the model's factors with their Tukey-adjusted pairwise comparisons (emmeans),
the plots of :mod:`mixedmodels.plots` (``fit.plot_lines``,
``fit.plot_ranef``, ``fit.plot_diagnostics``; one that does not apply to the model is replaced
by a note saying why) and lme4's summary text.
"""

from __future__ import annotations

import base64
import io
from html import escape
from pathlib import Path

import numpy as np
import pandas as pd

from .rformat import format_numbers
from .rformat import format_pvalues

__all__ = ["build_report", "write_report", "figure_data_uri"]

PLOTS = [("plot_lines", "Data and fitted lines per cluster"),
         ("plot_ranef", "Random effects: conditional modes with 95% prediction intervals"),
         ("plot_diagnostics", "Residual and random-effects diagnostics")]

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2em auto; max-width: 60em;
       color: #222; line-height: 1.4; padding: 0 1em; }
h1 { font-size: 1.5em; margin-bottom: 0.2em; } h2 { font-size: 1.2em; border-bottom: 1px solid #ccc; }
code, pre { font-family: ui-monospace, Menlo, Consolas, monospace; }
table { border-collapse: collapse; margin: 0.5em 0 1em; }
th, td { padding: 0.25em 0.8em; border-bottom: 1px solid #e4e4e4; text-align: right; }
th { background: #f4f4f4; } td.name, th.name { text-align: left; }
.warning { background: #fff4e5; border-left: 4px solid #e08a00; padding: 0.5em 1em; margin: 0.5em 0; }
.note { color: #666; font-size: 0.9em; }
figure { margin: 1em 0; } figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { color: #555; font-size: 0.9em; }
"""


def _numbers(values, digits: int = 4) -> list[str]:
    values = np.asarray(values, dtype=float)
    out = [""] * len(values)
    finite = np.isfinite(values)
    if finite.any():
        for i, text in zip(np.flatnonzero(finite), format_numbers(values[finite], digits)):
            out[i] = text.strip()
    return out


def _table(header: list[str], rows: list[list[str]], name_columns: int = 1, table_id: str = "") -> str:
    def cell(tag, i, text):
        cls = ' class="name"' if i < name_columns else ""
        return f"<{tag}{cls}>{escape(str(text))}</{tag}>"

    head = "".join(cell("th", i, h) for i, h in enumerate(header))
    body = "".join("<tr>" + "".join(cell("td", i, v) for i, v in enumerate(row)) + "</tr>" for row in rows)
    ident = f' id="{table_id}"' if table_id else ""
    return f"<table{ident}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _rows(table: pd.DataFrame) -> list[list[str]]:
    """Cells of a numeric table: row name, then 4 significant digits, p-values as R prints them."""
    columns = [[str(i) for i in table.index]]
    for name in table.columns:
        values = table[name].to_numpy(dtype=float)
        columns.append(format_pvalues(values) if name.startswith("Pr(") else _numbers(values))
    return [list(r) for r in zip(*columns)]


def _random_effects_table(fit) -> str:
    varcorr = fit.varcorr
    sds = varcorr[varcorr["var2"].isna()]
    cors = varcorr[varcorr["var2"].notna()]
    variance, sd = _numbers(sds["vcov"]), _numbers(sds["sdcor"])
    rows, previous = [], None
    for i, (group, var1) in enumerate(zip(sds["grp"], sds["var1"])):
        corr = cors[(cors["grp"] == group) & (cors["var2"] == var1)]
        corr_text = ", ".join(f"{w}: {v:.2f}" for v, w in zip(corr["sdcor"], corr["var1"]))
        name = "" if var1 is None or pd.isna(var1) else var1
        rows.append(["" if group == previous else group, name, variance[i], sd[i], corr_text])
        previous = group
    return _table(["Groups", "Name", "Variance", "Std.Dev.", "Corr"], rows, name_columns=2,
                  table_id="random-effects")


def _fixed_effects(fit, ddf: str | None) -> tuple[str, str]:
    """The fixed-effects table and a note saying which df method (if any) was used."""
    if getattr(fit, "family", None) is not None:  # GLMM: lme4's Wald z tests, no ddf
        table, note = fit.coef_table(), "Wald z tests, as lme4's glmer."
    elif ddf is None:
        try:
            table, note = fit.coef_table(ddf="satterthwaite"), "df and p-values: Satterthwaite."
        except ValueError as error:  # Satterthwaite does not apply to this fit
            table = fit.coef_table()
            note = f"df and p-values not available ({' '.join(str(error).split())})."
    else:
        table = fit.coef_table(ddf=ddf)
        note = f"df and p-values: {ddf.replace('-', ' ').title()}."
    return _table(["Term", *table.columns], _rows(table), table_id="fixed-effects"), note


def _anova_section(fit, ddf: str | None) -> str:
    """lmerTest's type III ANOVA table of the fixed-effect terms, when :mod:`.inference` has it."""
    from .inference import anova

    if getattr(fit, "family", None) is not None:  # lmerTest's F tests are for linear mixed models only
        return ""
    try:
        table = anova(fit, ddf=ddf or "satterthwaite")
    except ValueError as error:  # the F tests do not apply to this fit: say why
        return f'<p class="note">ANOVA not available ({escape(" ".join(str(error).split()))}).</p>'
    if table.empty:
        return ""
    method = (ddf or "satterthwaite").replace("-", " ").title()
    return (f"<h2>Type III ANOVA of the fixed effects</h2>{_table(['Term', *table.columns], _rows(table), table_id='anova')}"
            f'<p class="note">F tests with {escape(method)} denominator df (lmerTest).</p>')


def _emmeans_section(fit, ddf: str | None, max_levels: int = 12, max_factors: int = 4) -> str:
    """Marginal means of each factor with a main effect (up to 4, of at most 12 levels) and their pairwise
    comparisons, Tukey-adjusted (:mod:`mixedmodels.postfit`)."""
    from .postfit.emmeans import emmeans, reference_grid

    try:
        grid = reference_grid(fit)
    except ValueError as error:
        return f'<h2>Marginal means</h2><p class="note">Not available ({escape(" ".join(str(error).split()))}).</p>'
    main = set(fit.design.fixed.terms)
    factors = [v.name for v in grid.variables if v.factor and v.name in main and 2 <= len(v.values) <= max_levels]
    if not factors:
        return ""
    parts = ["<h2>Marginal means and pairwise comparisons</h2>"]
    for name in factors[:max_factors]:
        try:
            em = emmeans(fit, name, ddf=ddf if ddf in ("satterthwaite", "kenward-roger") else None)
            pairs = em.pairs()
        except ValueError as error:
            parts.append(f'<p class="note">{escape(name)}: not available ({escape(" ".join(str(error).split()))}).</p>')
            continue
        for table, what in ((em, "means"), (pairs, "pairs")):
            header, rows = table.text_cells()
            notes = "<br>".join(escape(m) for m in table.messages)
            parts.append(_table(header, rows, name_columns=len(table.labels.columns),
                                table_id=f"emmeans-{what}-{name}") + f'<p class="note">{notes}</p>')
    return "".join(parts)


def _icc_section(fit) -> str:
    """ICC per term and adjusted; linear mixed models only (a GLMM's residual variance depends on its link)."""
    if getattr(fit, "family", None) is not None:
        return ""
    icc = fit.icc()
    table = _table(["Term", "ICC"], [[k, v] for k, v in zip(icc.index, _numbers(icc.to_numpy()))], table_id="icc")
    return (f"<h2>Intra-class correlation</h2>{table}"
            '<p class="note">ICC of a term = its variance / (its variance + residual variance); for slopes the '
            "variance is averaged over the data (Nakagawa et al. 2017).</p>")


RESIDUAL_SIMULATIONS = 250
RESIDUAL_SEED = 2024  # the report is reproducible: the same fit gives the same page


def _r2_and_residuals_section(fit) -> str:
    """R² (performance's ``r2_nakagawa``) and DHARMa's scaled-residual diagnostics (:mod:`.postfit`)."""
    import warnings

    from .postfit.r2 import r2
    from .postfit.residuals import simulate_residuals

    parts = ["<h2>R² and residual diagnostics</h2>"]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a singular fit's NaN conditional R² is explained below
            result = r2(fit)
    except ValueError as error:
        parts.append(f'<p class="note">R² not available ({escape(" ".join(str(error).split()))}).</p>')
    else:
        rows = [["marginal (fixed effects)", *_numbers([result.marginal])],
                ["conditional (fixed and random effects)", *_numbers([result.conditional])]]
        parts.append(_table(["R²", "Value"], rows, table_id="r2"))
        note = ("Nakagawa &amp; Schielzeth R² with Johnson's extension for random slopes, as "
                "performance::r2_nakagawa; on the latent scale for GLMMs.")
        if result.variances.singular:
            note += " Singular fit: the conditional R² is not defined (as performance)."
        parts.append(f'<p class="note">{note}</p>')
    try:
        residuals = simulate_residuals(fit, nsim=RESIDUAL_SIMULATIONS, seed=RESIDUAL_SEED)
    except ValueError as error:
        parts.append(f'<p class="note">Scaled residuals not available ({escape(" ".join(str(error).split()))}).</p>')
        return "".join(parts)
    tests = [residuals.test_uniformity(), residuals.test_dispersion(), residuals.test_outliers()]
    p_values = format_pvalues(np.array([t.p_value for t in tests]))
    rows = [[name, *_numbers([t.statistic]), p]
            for name, t, p in zip(["uniformity (KS)", "dispersion", "outliers"], tests, p_values)]
    parts.append(_table(["Test", "Statistic", "p-value"], rows, table_id="residual-tests"))
    caption = (f"Scaled (quantile) residuals from {RESIDUAL_SIMULATIONS} simulations, as DHARMa: QQ plot against "
               "the uniform distribution and residuals against the rank-transformed predictions")
    uri = figure_data_uri(residuals.plot())
    parts.append(f'<figure><img src="{uri}" alt="{escape(caption)}"><figcaption>{escape(caption)}</figcaption></figure>')
    return "".join(parts)


def _as_figure(drawn):
    """The matplotlib Figure behind what a plot function returned (a Figure or an Axes)."""
    from matplotlib.figure import Figure

    return drawn if isinstance(drawn, Figure) else drawn.figure


def figure_data_uri(figure, dpi: int = 96) -> str:
    """A matplotlib figure as a ``data:image/png;base64,...`` URI (the figure is closed)."""
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(figure)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _figures(fit) -> str:
    parts = []
    for method, caption in PLOTS:
        try:
            figure = _as_figure(getattr(fit, method)())
        except ValueError as error:  # a plot that does not apply to this model is left out, with the reason
            parts.append(f'<p class="note">{escape(method)}: not drawn ({escape(" ".join(str(error).split()))})</p>')
            continue
        uri = figure_data_uri(figure)
        parts.append(f'<figure><img src="{uri}" alt="{escape(caption)}"><figcaption>{escape(caption)}</figcaption></figure>')
    return "".join(parts)


def _criteria(fit) -> list[list[str]]:
    rows = [["REML criterion" if fit.reml else "deviance", f"{fit.objective:.4f}"],
            ["log-likelihood", f"{fit.loglik:.4f}"], ["AIC", f"{fit.aic:.4f}"], ["BIC", f"{fit.bic:.4f}"],
            ["observations", str(fit.nobs)]]
    rows += [[f"levels of {name}", str(n)] for name, n in fit.ngroups.items()]
    return rows


def build_report(fit, ddf: str | None = None, title: str | None = None) -> str:
    """The HTML text of the report of ``fit``.

    Parameters
    ----------
    fit : LmerFit
    ddf : {"satterthwaite", "kenward-roger"}, optional
        Method for the fixed effects' df and p-values. By default Satterthwaite's is tried and
        the table is shown without df when it is not available.
    title : str, optional
        Page title; defaults to the formula.
    """
    title = title or f"Mixed model: {fit.formula}"
    family = getattr(fit, "family", None)  # a GlmerFit
    method = "REML" if fit.reml else "maximum likelihood"
    kind = ("Linear mixed model" if family is None
            else f"Generalized linear mixed model ({family.name}, {family.link_name} link)")
    warnings_html = "".join(f'<div class="warning">{escape(m)}</div>' for m in fit.messages)
    if not fit.converged and not warnings_html:
        warnings_html = '<div class="warning">the optimiser did not converge</div>'
    fixed, note = _fixed_effects(fit, ddf)
    data = f" &middot; data <code>{escape(fit.data_name)}</code>" if fit.data_name else ""
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1"><style>{_CSS}</style></head>
<body>
<h1>{escape(title)}</h1>
<p>{kind} fit by {method}{data}<br><code>{escape(fit.formula)}</code></p>
<section id="warnings">{warnings_html}</section>
<h2>Fit</h2>{_table(["Quantity", "Value"], _criteria(fit), table_id="fit-criteria")}
<h2>Random effects</h2>{_random_effects_table(fit)}
<h2>Fixed effects</h2>{fixed}<p class="note">{escape(note)}</p>
{_anova_section(fit, ddf)}
{_emmeans_section(fit, ddf)}
{_icc_section(fit)}
{_r2_and_residuals_section(fit)}
<h2>Plots</h2>{_figures(fit)}
<h2>lme4-style summary</h2><pre>{escape(fit.summary(ddf=ddf))}</pre>
</body></html>
"""


def write_report(fit, path, ddf: str | None = None, title: str | None = None) -> Path:
    """Write :func:`build_report` to ``path`` (UTF-8) and return the path."""
    path = Path(path)
    path.write_text(build_report(fit, ddf=ddf, title=title), encoding="utf-8")
    return path
