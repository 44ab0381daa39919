"""Plots: what was drawn (points, lines, panels, interval bars), checked against the data and lme4's ranef."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest
from scipy import stats

from conftest import fitted, reference, reference_data
from mixedmodels import plots
from mixedmodels.errors import DesignError


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _points(ax) -> list[np.ndarray]:
    return [np.asarray(c.get_offsets()) for c in ax.collections]


def test_clusters_one_collection_per_cluster_with_its_rows():
    data = reference_data("seed_clusters.csv")
    ax = plots.clusters(data, "y", "cluster")
    points = _points(ax)
    assert len(points) == 10 and [len(p) for p in points] == [10] * 10
    for j, (level, p) in enumerate(zip(data["cluster"].cat.categories, points)):
        np.testing.assert_array_equal(np.sort(p[:, 1]), np.sort(data.loc[data["cluster"] == level, "y"].to_numpy()))
        assert np.all(np.abs(p[:, 0] - j) <= 0.15)  # jittered around the cluster's position
    colours = {tuple(c.get_facecolor()[0]) for c in ax.collections}
    assert len(colours) == 10


def test_clusters_with_covariate_and_bad_column():
    data = reference_data("sleepstudy.csv")
    ax = plots.clusters(data, "Reaction", "Subject", x="Days")
    assert sum(len(p) for p in _points(ax)) == 180
    np.testing.assert_array_equal(np.unique(np.concatenate(_points(ax))[:, 0]), np.arange(10.0))
    with pytest.raises(DesignError, match="Reaktion"):
        plots.clusters(data, "Reaktion", "Subject")


@pytest.mark.parametrize("model_id", ["sleepstudy_slope_reml", "seed_rats_food", "seed_rats_slope", "sleepstudy_uncorr"])
def test_plot_lines_one_line_per_cluster_plus_population(model_id):
    fit = fitted(model_id)
    ref = reference(model_id)
    ax = fit.plot_lines()
    n_groups = ref["ngrps"][fit.design.terms[0].name]
    assert len(ax.collections) == n_groups
    assert sum(len(p) for p in _points(ax)) == ref["nobs"]
    assert len(ax.lines) == n_groups + 1 and ax.lines[-1].get_label() == "population"
    # every cluster line is lme4's coef(fit) line: intercept + slope * x, the population line β̂0 + β̂1 x
    x_name = ax.get_xlabel()
    ref_ranef = ref["ranef"][fit.design.terms[0].name]
    beta = ref["beta"]
    for line, modes in zip(ax.lines[:-1], ref_ranef["modes"]):
        b = dict(zip(ref_ranef["columns"], modes))
        x, y = line.get_xdata(), line.get_ydata()
        expected = beta["(Intercept)"] + b.get("(Intercept)", 0.0) + (beta[x_name] + b.get(x_name, 0.0)) * x
        np.testing.assert_allclose(y, expected, rtol=1e-4)
    x, y = ax.lines[-1].get_xdata(), ax.lines[-1].get_ydata()
    np.testing.assert_allclose(y, beta["(Intercept)"] + beta[x_name] * x, rtol=1e-6)


def test_plot_lines_without_covariate_draws_segments_at_cluster_predictions():
    fit = fitted("seed_petri")
    ax = fit.plot_lines()
    assert len(ax.collections) == 30 and len(ax.lines) == 31
    ref = reference("seed_petri")
    beta, modes = ref["beta"], [m[0] for m in ref["ranef"]["dish_id"]["modes"]]
    # dishes 1-10 Control, 11-20 AntibioticA, 21-30 AntibioticB
    group_effect = np.repeat([0.0, beta["groupAntibioticA"], beta["groupAntibioticB"]], 10)
    heights = np.array([line.get_ydata()[0] for line in ax.lines[:-1]])
    np.testing.assert_allclose(heights, beta["(Intercept)"] + group_effect + modes, rtol=1e-5)
    np.testing.assert_allclose(ax.lines[-1].get_ydata(), beta["(Intercept)"] + group_effect, rtol=1e-5)
    with pytest.raises(DesignError, match="nope"):
        fit.plot_lines(x="nope")


@pytest.mark.parametrize("model_id", ["sleepstudy_slope_reml", "penicillin_crossed", "seed_petri"])
def test_plot_ranef_bars_are_lme4_modes_plus_minus_1_96_condsd(model_id):
    fit = fitted(model_id)
    ref = reference(model_id)
    fig = fit.plot_ranef()
    panels = [(g, c) for g in fit.ranef for c in fit.ranef[g].columns]
    assert len(fig.axes) == len(panels)
    for ax, (group, column) in zip(fig.axes, panels):
        r = ref["ranef"][group]
        c = r["columns"].index(column)
        modes = np.array([m[c] for m in r["modes"]])
        sd = np.array([s[c] for s in r["condsd"]])
        order = np.argsort(modes, kind="stable")
        (container,) = ax.containers
        segments = np.array(container.lines[2][0].get_segments())  # one horizontal bar per level
        assert segments.shape == (len(modes), 2, 2)
        np.testing.assert_allclose(segments[:, 0, 1], np.arange(len(modes)))
        np.testing.assert_allclose(segments[:, 0, 0], (modes - 1.96 * sd)[order], rtol=1e-3, atol=1e-3 * sd.max())
        np.testing.assert_allclose(segments[:, 1, 0], (modes + 1.96 * sd)[order], rtol=1e-3, atol=1e-3 * sd.max())
        labels = [t.get_text() for t in ax.get_yticklabels()]  # ties may swap: compare the labels' modes
        assert sorted(labels) == sorted(r["levels"])
        np.testing.assert_allclose([modes[r["levels"].index(name)] for name in labels], segments.mean(axis=1)[:, 0],
                                   rtol=1e-3, atol=1e-3 * sd.max())


def test_plot_ranef_level_scales_the_bars():
    fit = fitted("dyestuff_reml")
    wide = np.array(fit.plot_ranef(level=0.99).axes[0].containers[0].lines[2][0].get_segments())
    narrow = np.array(fit.plot_ranef(level=0.5).axes[0].containers[0].lines[2][0].get_segments())
    ratio = np.ptp(wide[:, :, 0], axis=1) / np.ptp(narrow[:, :, 0], axis=1)
    np.testing.assert_allclose(ratio, stats.norm.ppf(0.995) / stats.norm.ppf(0.75))
    with pytest.raises(ValueError, match="level"):
        fit.plot_ranef(level=95)


@pytest.mark.parametrize("model_id, n_re", [("sleepstudy_slope_reml", 2), ("pastes_nested", 2), ("dyestuff2_singular", 1)])
def test_plot_diagnostics_panels_and_points(model_id, n_re):
    fit = fitted(model_id)
    fig = fit.plot_diagnostics()
    assert len(fig.axes) == 3 + n_re
    n = fit.nobs
    resid_vs_fitted, qq_resid, *qq_re, scale_location = fig.axes
    np.testing.assert_allclose(_points(resid_vs_fitted)[0], np.column_stack([fit.fitted(), fit.residuals("scaled")]))
    qq = _points(qq_resid)[0]
    assert len(qq) == n and np.all(np.diff(qq[:, 1]) >= 0)
    np.testing.assert_allclose(qq[:, 0], stats.norm.ppf((np.arange(1, n + 1) - 0.5) / n))
    n_levels = [len(m) for m in fit.ranef.values() for _ in m.columns]
    assert [len(_points(ax)[0]) for ax in qq_re] == n_levels
    np.testing.assert_allclose(_points(scale_location)[0][:, 1], np.sqrt(np.abs(fit.residuals("scaled"))))


def test_normal_quantiles_are_r_ppoints():
    # R: qnorm(ppoints(5)); qnorm(ppoints(12))[1:2]
    np.testing.assert_allclose(plots.normal_quantiles(5), [-1.1797611, -0.4972006, 0.0, 0.4972006, 1.1797611], atol=1e-7)
    np.testing.assert_allclose(plots.normal_quantiles(12)[:2], [-1.7316644, -1.1503494], atol=1e-7)


def _tick_labels_overlap(ax) -> bool:
    ax.figure.canvas.draw()
    renderer = ax.figure.canvas.get_renderer()
    boxes = [t.get_window_extent(renderer) for t in ax.get_xticklabels() if t.get_text()]
    return any(a.x1 > b.x0 for a, b in zip(boxes, boxes[1:]))


@pytest.mark.parametrize("draw", [
    lambda: plots.clusters(reference_data("seed_petri.csv"), "y", "dish_id"),
    lambda: fitted("seed_petri").plot_lines(),
])
def test_thirty_cluster_labels_do_not_run_together_and_plots_have_titles(draw):
    # the petri dishes 1..30 (issue 11, item 9): every k-th label, no overlap, a title by default
    ax = draw()
    labels = [t.get_text() for t in ax.get_xticklabels()]
    assert 2 <= len(labels) < 30 and labels[0] == "1"
    assert not _tick_labels_overlap(ax)
    assert set(ax.get_xticks()) | set(ax.get_xticks(minor=True)) == set(range(30))  # every cluster keeps a tick
    assert ax.get_title()


def test_neighbouring_clusters_differ_in_hue():
    from matplotlib.colors import rgb_to_hsv

    for n in (8, 15, 20, 30, 60):
        colours = plots.cluster_colours(n)
        assert len(set(colours)) == n
        hues = rgb_to_hsv(np.array([c[:3] for c in colours]))[:, 0]
        gaps = np.abs(np.diff(hues))
        assert np.min(np.minimum(gaps, 1 - gaps)) > 0.04, n  # tab20 in its own order: 0 (twin pairs)


def test_clusters_title_can_be_set_or_removed():
    data = reference_data("seed_clusters.csv")
    assert plots.clusters(data, "y", "cluster").get_title() == "y by cluster"
    assert plots.clusters(data, "y", "cluster", title="").get_title() == ""
