"""Pictures of clustered data and of a fitted mixed model (matplotlib).

Every function draws on new or given Axes and returns them (or the Figure); none calls
``show()``. Colours follow the clusters, in the level order of the grouping factor, chosen so that
neighbouring clusters differ in hue (:func:`cluster_colours`). Cluster labels on an axis are
thinned to every k-th level when they would run together; every plot has a title by default.

- :func:`clusters` — the raw data, one scatter per cluster.
- :func:`plot_lines` — the data with one fitted line per cluster (conditional on b̂) and the
  population line (b = 0).
- :func:`plot_ranef` — caterpillar plot: conditional modes b̂_j ± z_{(1+level)/2} · sd(b_j | y).
- :func:`plot_diagnostics` — residuals vs fitted, normal QQ plots of the residuals and of each
  random-effect column, scale–location.
- :func:`emmeans` — marginal means (or contrasts) with their confidence intervals.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
from scipy import stats

from .design import to_pandas, used_columns
from .errors import DesignError

__all__ = ["clusters", "plot_lines", "plot_ranef", "plot_diagnostics", "normal_quantiles", "cluster_colours", "emmeans"]

_JITTER = 0.15


def _axes(ax, figsize=(6.4, 4.4)):
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    return plt.subplots(figsize=figsize)[1]


def cluster_colours(n: int) -> list:
    """n RGBA colours, neighbours (j, j + 1) of clearly different hue.

    Up to 10: matplotlib's "tab10". Up to 20: tab20's ten strong colours, then its ten light ones
    (tab20 in its own order puts each light colour beside its strong twin). More: hues stepped by
    the golden ratio (j · 0.618 mod 1), saturation 0.75, value alternating 0.9 / 0.6.
    """
    import matplotlib
    from matplotlib.colors import hsv_to_rgb

    if n <= 10:
        cmap = matplotlib.colormaps["tab10"]
        return [cmap(j) for j in range(n)]
    if n <= 20:
        cmap = matplotlib.colormaps["tab20"]
        return [cmap(2 * j if j < 10 else 2 * (j - 10) + 1) for j in range(n)]
    return [(*hsv_to_rgb(((j * 0.6180339887) % 1.0, 0.75, 0.9 if j % 2 == 0 else 0.6)), 1.0) for j in range(n)]


def _level_ticks(ax, labels: list[str]) -> None:
    """Ticks at cluster positions 0, 1, …; only every k-th label when all would not fit the axis."""
    labels = [str(label) for label in labels]
    width_points = ax.figure.get_figwidth() * ax.get_position().width * 72
    per_label = 6.5 * max(len(label) for label in labels) + 8  # "small" text, a gap
    step = max(1, int(np.ceil(len(labels) * per_label / width_points)))
    positions = list(range(0, len(labels), step))
    ax.set_xticks(positions, [labels[i] for i in positions], fontsize="small")
    ax.set_xticks(range(len(labels)), minor=True)


def _as_categorical(values: pd.Series) -> pd.Categorical:
    return values.array if isinstance(values.dtype, pd.CategoricalDtype) else pd.Categorical(values)


def _jittered(codes: np.ndarray, seed: int = 0) -> np.ndarray:
    return codes + np.random.default_rng(seed).uniform(-_JITTER, _JITTER, size=len(codes))


def clusters(data, y: str, group: str, x: str | None = None, ax=None, title: str | None = None):
    """Scatter of ``y`` with one colour per level of ``group`` (one collection per cluster).

    Parameters
    ----------
    data : DataFrame (pandas or polars)
    y, group : str
        Response column and grouping column.
    x : str, optional
        A covariate for the horizontal axis; by default the cluster's position (0, 1, …, in level
        order) plus a small uniform jitter (±0.15, fixed seed) so that points do not overlap.
    ax : matplotlib Axes, optional
    title : str, optional
        Default ``"<y> by <group>"``; ``""`` for none.

    Returns
    -------
    Axes
    """
    frame = to_pandas(data)
    for name in (y, group, x):
        if name is not None and name not in frame.columns:
            raise DesignError(f"clusters: no column named {name!r} in the data; the data have: "
                              f"{', '.join(map(str, frame.columns))}")
    groups = _as_categorical(frame[group])
    codes = np.asarray(groups.codes)
    xs = _jittered(codes) if x is None else frame[x].to_numpy(dtype=float)
    ys = frame[y].to_numpy(dtype=float)
    ax = _axes(ax)
    for j, (level, colour) in enumerate(zip(groups.categories, cluster_colours(len(groups.categories)))):
        rows = codes == j
        ax.scatter(xs[rows], ys[rows], color=colour, s=18, label=str(level))
    if x is None:
        _level_ticks(ax, list(groups.categories))
    ax.set_xlabel(x or group)
    ax.set_ylabel(y)
    ax.set_title(f"{y} by {group}" if title is None else title, fontsize="medium")
    if len(groups.categories) <= 20:
        ax.legend(title=group, fontsize="small", loc="best", ncols=2 if len(groups.categories) > 10 else 1)
    return ax


def _fixed_variables(fit) -> list[str]:
    formula = fit.design.formula
    return used_columns(replace(formula, formula=formula.fixed), fit.design.frame.columns)


def _default_x(fit) -> str | None:
    frame = fit.design.frame
    numeric = [c for c in _fixed_variables(fit) if pd.api.types.is_numeric_dtype(frame[c])
               and not isinstance(frame[c].dtype, pd.CategoricalDtype) and c != fit.design.formula.response]
    return numeric[0] if numeric else None


def _typical_row(fit, rows: pd.DataFrame, frame: pd.DataFrame, x: str | None) -> pd.DataFrame:
    """One row of ``rows`` with every other fixed covariate at a typical value.

    Numeric covariates at their mean over the whole data, factors at their most frequent level
    within ``rows`` (so a cluster-level treatment keeps the cluster's own level).
    """
    row = rows.iloc[[0]].copy()
    for name in _fixed_variables(fit):
        if name == x:
            continue
        column = frame[name]
        if isinstance(column.dtype, pd.CategoricalDtype) or not pd.api.types.is_numeric_dtype(column):
            row[name] = pd.Series([rows[name].mode().iloc[0]], index=row.index).astype(column.dtype)
        else:
            row[name] = float(column.mean())
    return row


def _on_grid(row: pd.DataFrame, x: str, grid: np.ndarray) -> pd.DataFrame:
    out = row.loc[row.index.repeat(len(grid))].reset_index(drop=True)
    out[x] = grid
    return out


def _response_scale(fit):
    """(observed y, predict(newdata, re_form) on the response scale, y-axis label).

    A linear model's response and predictions as they are; for a GLMM (``fit.family``) the
    response scale: binomial proportions y / trials or Poisson counts, and μ = g⁻¹(η).
    """
    response = fit.design.formula.response
    family = getattr(fit, "family", None)
    if family is None:
        return fit.design.y, fit.predict, response

    def predict(newdata, re_form=None):
        return fit.predict(newdata, re_form=re_form, type="response")

    return fit.y, predict, (f"proportion {response}" if family.name == "binomial" else response)


def plot_lines(fit, x: str | None = None, ax=None, group: str | None = None):
    """The data with one fitted line per cluster and the population line.

    Cluster j's line is the conditional prediction x ↦ x_rowᵀβ̂ + z_rowᵀb̂_j over the x range of
    its data; the population line (black, dashed) is x ↦ x_rowᵀβ̂. A GLMM (GlmerFit) is drawn on the
    response scale: the observed proportions (binomial; y / trials) or counts (Poisson), and the
    lines μ = g⁻¹(η) of those linear predictors (the population line at b = 0, not a marginal
    mean). Other fixed covariates are held at typical values (numeric: the overall mean; factors:
    the most frequent level, per cluster for the cluster lines). Without a numeric covariate the x axis is the cluster position and each
    cluster's "line" is a short horizontal segment at its fitted value.

    Parameters
    ----------
    fit : LmerFit or GlmerFit
    x : str, optional
        Numeric fixed covariate for the horizontal axis (default: the first in the formula).
    ax : matplotlib Axes, optional
    group : str, optional
        Grouping factor that defines the clusters (default: that of the first random term).

    Returns
    -------
    Axes
        One scatter collection and one line per cluster, then the population line (last line,
        label "population").
    """
    design, frame = fit.design, fit.design.frame
    names = [t.name for t in design.terms]
    group = names[0] if group is None else group
    if group not in names:
        raise DesignError(f"plot_lines: {group!r} is not a grouping factor of the model ({', '.join(names)})")
    term = design.terms[names.index(group)]
    x = _default_x(fit) if x is None else x
    if x is not None and x not in frame.columns:
        raise DesignError(f"plot_lines: no column named {x!r} in the model's data; it has: "
                          f"{', '.join(map(str, frame.columns))}")
    ys, predict, ylabel = _response_scale(fit)
    codes = term.codes
    xs = _jittered(codes) if x is None else frame[x].to_numpy(dtype=float)
    ax = _axes(ax)
    colours = cluster_colours(len(term.levels))
    for j, colour in enumerate(colours):
        ax.scatter(xs[codes == j], ys[codes == j], color=colour, s=14, alpha=0.8)
    population = []
    for j, colour in enumerate(colours):
        rows = frame[codes == j]
        typical = _typical_row(fit, rows, frame, x)
        if x is None:
            value = predict(typical).iloc[0]
            ax.plot([j - 0.35, j + 0.35], [value, value], color=colour, lw=1.6)
            population.append(predict(typical, re_form="~0").iloc[0])
        else:
            grid = np.linspace(rows[x].min(), rows[x].max(), 25)
            ax.plot(grid, predict(_on_grid(typical, x, grid)).to_numpy(), color=colour, lw=1.2)
    if x is None:
        ax.plot(np.arange(len(colours)), population, "k--", lw=2, label="population")
        _level_ticks(ax, term.levels)
    else:
        grid = np.linspace(frame[x].min(), frame[x].max(), 50)
        typical = _typical_row(fit, frame, frame, x)
        ax.plot(grid, predict(_on_grid(typical, x, grid), re_form="~0").to_numpy(), "k--", lw=2,
                label="population")
    ax.set_xlabel(x or group)
    ax.set_ylabel(ylabel)
    ax.set_title(fit.formula, fontsize="medium")
    ax.legend(loc="best", fontsize="small")
    return ax


def plot_ranef(fit, level: float = 0.95, ncols: int | None = None):
    """Caterpillar plot of the conditional modes with prediction intervals.

    One panel per grouping factor and random-effect column; in each, the levels sorted by b̂ with
    horizontal bars b̂_j ± z · sqrt(Var(b_j | y)_{cc}), z = Φ⁻¹((1 + level)/2) (1.96 for 95%),
    the conditional variances being ``fit.ranef_condvar`` (lme4's ``dotplot(ranef(fit, condVar = TRUE))``).

    Returns
    -------
    Figure
        Axes in the order of ``fit.ranef`` (factor, then column); each holds one errorbar
        container whose bar i belongs to the i-th level from the bottom.
    """
    import matplotlib.pyplot as plt

    if not 0 < level < 1:
        raise ValueError(f"level must be between 0 and 1, not {level!r}")
    z = stats.norm.ppf((1 + level) / 2)
    panels = []
    for name, modes in fit.ranef.items():
        sd = np.sqrt(np.diagonal(fit.ranef_condvar[name], axis1=1, axis2=2))
        for c, column in enumerate(modes.columns):
            panels.append((name, column, modes[column].to_numpy(), sd[:, c], list(modes.index)))
    ncols = ncols or min(len(panels), 3)
    nrows = -(-len(panels) // ncols)
    height = max(2.5, 0.18 * max(len(p[4]) for p in panels) + 1)
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.6 * ncols, height * nrows), squeeze=False)
    for ax in axes.flat[len(panels):]:
        fig.delaxes(ax)
    for ax, (name, column, values, sd, levels) in zip(axes.flat, panels):
        order = np.argsort(values, kind="stable")
        positions = np.arange(len(order))
        ax.errorbar(values[order], positions, xerr=z * sd[order], fmt="o", color="tab:blue", ecolor="0.35",
                    markersize=3.5, capsize=0, lw=1)
        ax.axvline(0.0, color="0.6", lw=0.8, ls=":")
        ax.set_yticks(positions, [levels[i] for i in order], fontsize="x-small" if len(order) > 30 else "small")
        ax.set_title(f"{name}: {column}", fontsize="medium")
    fig.suptitle(f"Conditional modes with {level:.0%} prediction intervals", fontsize="medium")
    fig.tight_layout()
    return fig


def emmeans(em, ax=None, horizontal: bool = True):
    """Marginal means (or contrasts) with their confidence intervals, emmeans' ``plot(emm)``.

    One point per row of ``em`` (an :class:`~mixedmodels.postfit.EMMeans` or the ``confint()`` of
    contrasts) with a bar from its lower to its upper confidence limit; rows of different ``by``
    groups are separated and labelled "level | by".

    Returns
    -------
    Axes
        Holding one errorbar container whose bar i is row i of ``em.frame``.
    """
    frame = em.frame
    estimate = em.estimate_name
    limits = [c for c in ("lower.CL", "asymp.LCL") if c in frame] + [c for c in ("upper.CL", "asymp.UCL") if c in frame]
    if len(limits) != 2:
        raise ValueError("the table has no confidence limits to draw; use em.confint() for contrasts")
    by = list(getattr(em, "by", []))
    labels_of = [c for c in frame.columns if c not in by and frame.columns.get_loc(c) < frame.columns.get_loc(estimate)]
    labels = [" ".join(str(frame[c].iloc[i]) for c in labels_of)
              + ("" if not by else " | " + ", ".join(str(frame[b].iloc[i]) for b in by)) for i in range(len(frame))]
    ax = _axes(ax, figsize=(6.4, max(2.5, 0.35 * len(frame) + 1.2)) if horizontal else (6.4, 4.4))
    values = frame[estimate].to_numpy(float)
    lower, upper = frame[limits[0]].to_numpy(float), frame[limits[1]].to_numpy(float)
    positions = np.arange(len(frame))[::-1]
    error = np.vstack([values - lower, upper - values])
    if horizontal:
        ax.errorbar(values, positions, xerr=error, fmt="o", color="tab:blue", ecolor="tab:blue", capsize=3, lw=1.2)
        ax.set_yticks(positions, labels)
        ax.set_xlabel(estimate)
    else:
        ax.errorbar(positions[::-1], values, yerr=error, fmt="o", color="tab:blue", ecolor="tab:blue", capsize=3, lw=1.2)
        ax.set_xticks(positions[::-1], labels, rotation=30, ha="right")
        ax.set_ylabel(estimate)
    level = next((m.split(": ")[1] for m in em.messages if m.startswith("Confidence level used")), "")
    ax.set_title(f"{estimate} with {float(level):.0%} confidence intervals" if level else estimate, fontsize="medium")
    return ax


def normal_quantiles(n: int) -> np.ndarray:
    """R's ``qnorm(ppoints(n))``: Φ⁻¹((i − a)/(n + 1 − 2a)), a = 3/8 for n ≤ 10 else 1/2."""
    a = 0.375 if n <= 10 else 0.5
    return stats.norm.ppf((np.arange(1, n + 1) - a) / (n + 1 - 2 * a))


def _qq(ax, values: np.ndarray, title: str) -> None:
    """Normal QQ plot with R's ``qqline`` (through the first and third quartiles)."""
    values = np.sort(np.asarray(values, dtype=float))
    theory = normal_quantiles(len(values))
    ax.scatter(theory, values, s=12, color="tab:blue")
    q_data = np.quantile(values, [0.25, 0.75])
    q_norm = stats.norm.ppf([0.25, 0.75])
    slope = (q_data[1] - q_data[0]) / (q_norm[1] - q_norm[0])
    ends = np.array([theory.min(), theory.max()])
    ax.plot(ends, q_data[0] + slope * (ends - q_norm[0]), color="tab:red", lw=1)
    ax.set(title=title, xlabel="normal quantiles", ylabel="sample quantiles")


def plot_diagnostics(fit, ncols: int = 2):
    """Residual and random-effect diagnostics, one panel each.

    Panels, in order: scaled residuals r_i = (y_i − ŷ_i)√w_i / σ̂ against fitted values ŷ_i; normal
    QQ of r; one normal QQ plot of b̂ for each grouping factor and random-effect column;
    scale–location, sqrt|r_i| against ŷ_i. For a GLMM (GlmerFit), as lme4's ``plot(glmer fit)``:
    Pearson residuals r_i = (y_i − μ̂_i)√w_i / √V(μ̂_i) against the fitted means μ̂_i (response
    scale; binomial y and μ̂ as proportions, w the trials).

    Returns
    -------
    Figure
        3 + (number of random-effect columns) panels; unused grid cells are removed.
    """
    import matplotlib.pyplot as plt

    fitted = fit.fitted().to_numpy()
    kind = "scaled" if getattr(fit, "family", None) is None else "Pearson"
    resid = fit.residuals(type=kind.lower()).to_numpy()
    columns = [(name, c, modes[c].to_numpy()) for name, modes in fit.ranef.items() for c in modes.columns]
    n_panels = 3 + len(columns)
    nrows = -(-n_panels // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.2 * ncols, 3.4 * nrows), squeeze=False)
    for ax in axes.flat[n_panels:]:
        fig.delaxes(ax)
    panels = list(axes.flat[:n_panels])
    ax = panels[0]
    ax.scatter(fitted, resid, s=10, color="tab:blue", alpha=0.8)
    ax.axhline(0.0, color="0.5", lw=0.8, ls="--")
    ax.set(title="Residuals vs fitted", xlabel="fitted", ylabel=f"{kind} residual")
    _qq(panels[1], resid, "Normal QQ: residuals")
    for ax, (name, column, values) in zip(panels[2:-1], columns):
        _qq(ax, values, f"Normal QQ: {name} {column}")
    ax = panels[-1]
    ax.scatter(fitted, np.sqrt(np.abs(resid)), s=10, color="tab:blue", alpha=0.8)
    ax.set(title="Scale-location", xlabel="fitted", ylabel=f"sqrt(|{kind} residual|)")
    fig.tight_layout()
    return fig
