"""mm.simulate_residuals: DHARMa is not a Debian package (``apt-cache search dharma`` finds nothing), so its
definitions are checked by properties: uniform residuals under a correctly specified model, the dispersion
test detects overdispersion and not a correct model, outliers are found, ties are randomised within bounds."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

import mixedmodels as mm


def _quiet(fun, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fun(*args, **kwargs)


def _poisson_data(seed: int, extra_sd: float) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(40), 10)
    x = rng.normal(size=400)
    eta = 1 + 0.5 * x + rng.normal(scale=0.5, size=40)[g] + rng.normal(scale=extra_sd, size=400)
    return pd.DataFrame({"y": rng.poisson(np.exp(eta)).astype(float), "x": x, "g": pd.Categorical(g.astype(str))})


def test_uniform_under_a_correct_linear_model():
    rng = np.random.default_rng(11)
    g = np.repeat(np.arange(30), 12)
    x = rng.normal(size=len(g))
    y = 2 + x + rng.normal(scale=1.0, size=30)[g] + rng.normal(scale=0.7, size=len(g))
    fit = mm.lmer("y ~ x + (1 | g)", pd.DataFrame({"y": y, "x": x, "g": g.astype(str)}))
    residuals = mm.simulate_residuals(fit, nsim=250, seed=1)
    values = residuals.scaled.to_numpy()
    assert ((values >= 0) & (values <= 1)).all() and len(values) == fit.nobs
    assert residuals.test_uniformity().p_value > 0.05
    assert residuals.test_outliers().p_value > 0.05
    assert np.histogram(values, bins=4, range=(0, 1))[0].min() > 0.2 * len(values)


def test_dispersion_test_detects_overdispersion():
    correct = _quiet(mm.glmer, "y ~ x + (1 | g)", _poisson_data(5, 0.0), family="poisson")
    over = _quiet(mm.glmer, "y ~ x + (1 | g)", _poisson_data(5, 0.6), family="poisson")
    fine = mm.simulate_residuals(correct, seed=2, conditional=True)
    bad = mm.simulate_residuals(over, seed=2, conditional=True)
    assert fine.test_dispersion("greater").p_value > 0.05 and fine.test_uniformity().p_value > 0.05
    assert bad.test_dispersion("greater").p_value < 0.01 and bad.test_dispersion().statistic > 1.5
    assert bad.test_dispersion().p_value < 0.01
    assert bad.test_uniformity().p_value < 0.01


def test_dispersion_statistic_definition():
    fit = _quiet(mm.glmer, "y ~ x + (1 | g)", _poisson_data(7, 0.0), family="poisson")
    r = mm.simulate_residuals(fit, nsim=50, seed=3, conditional=True)
    v = np.var(r.simulated, ddof=1)
    observed = np.var(r.observed - r.fitted, ddof=1) / v
    simulated = np.var(r.simulated - r.fitted[:, None], axis=0, ddof=1) / v
    assert r.test_dispersion().statistic == pytest.approx(observed / simulated.mean(), rel=1e-12)
    greater, less = np.mean(simulated >= observed), np.mean(simulated <= observed)
    assert r.test_dispersion("greater").p_value == greater and r.test_dispersion("less").p_value == less
    assert r.test_dispersion().p_value == min(1.0, 2 * min(greater, less))
    with pytest.raises(ValueError, match="alternative must be"):
        r.test_dispersion("bigger")


def test_outlier_is_found():
    data = mm.datasets.load("sleepstudy").copy()
    data.loc[10, "Reaction"] += 400.0
    fit = mm.lmer("Reaction ~ Days + (Days | Subject)", data)
    r = mm.simulate_residuals(fit, nsim=100, seed=4)
    assert r.outliers()[10] and r.scaled.loc[10] == 1.0


def test_ties_of_a_discrete_response_are_randomised_within_bounds():
    fit = _quiet(mm.glmer, "cbind(incidence, size - incidence) ~ period + (1 | herd)", mm.datasets.load("cbpp"))
    r = mm.simulate_residuals(fit, nsim=100, seed=5)
    lower = np.mean(r.simulated < r.observed[:, None], axis=1)
    upper = np.mean(r.simulated <= r.observed[:, None], axis=1)
    values = r.scaled.to_numpy()
    assert ((lower <= values) & (values <= upper)).all() and (upper > lower).any()
    again = mm.simulate_residuals(fit, nsim=100, seed=5)
    np.testing.assert_array_equal(again.scaled.to_numpy(), values)


def test_plot_returns_a_figure_and_bad_nsim_is_an_error():
    fit = mm.lmer("Reaction ~ Days + (Days | Subject)", mm.datasets.load("sleepstudy"))
    r = mm.simulate_residuals(fit, nsim=30, seed=6)
    figure = r.plot()
    assert isinstance(figure, Figure) and len(figure.axes) == 2
    import matplotlib.pyplot as plt

    plt.close(figure)
    with pytest.raises(ValueError, match="nsim must be an integer of at least 2"):
        mm.simulate_residuals(fit, nsim=1)
