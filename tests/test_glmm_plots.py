"""Plots of a GLMM fit (cbpp, binomial): what was drawn, on the response scale, against lme4's numbers."""

from __future__ import annotations

import warnings

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest
from scipy.special import expit

import mixedmodels as mm
from conftest import reference, reference_data


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def cbpp():
    record = reference("cbpp_binomial")
    data = reference_data("cbpp.csv")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return mm.glmer(record["formula"], data, family="binomial"), data, record


def test_plot_lines_cbpp_on_the_response_scale(cbpp):
    fit, data, record = cbpp
    ax = fit.plot_lines()
    herds = data["herd"].cat.categories
    assert len(ax.collections) == 15 and len(ax.lines) == 16 and ax.lines[-1].get_label() == "population"
    assert ax.get_ylabel() == f"proportion {record['formula'].split(' ~')[0]}" and ax.get_xlabel() == "herd"
    beta, ranef = record["beta"], record["ranef"]["herd"]
    for j, herd in enumerate(herds):
        rows = data[data["herd"] == herd]
        points = np.asarray(ax.collections[j].get_offsets())
        np.testing.assert_allclose(np.sort(points[:, 1]), np.sort(rows["incidence"] / rows["size"]), rtol=1e-12)
        period = rows["period"].mode().iloc[0]  # the herd's most frequent period (the first on ties)
        eta = beta["(Intercept)"] + beta.get(f"period{period}", 0.0)
        # segment at lme4's conditional mean plogis(Xβ + b_j), the population line at plogis(Xβ)
        np.testing.assert_allclose(ax.lines[j].get_ydata(), expit(eta + ranef["modes"][j][0]), atol=5e-4)
        np.testing.assert_allclose(ax.lines[-1].get_ydata()[j], expit(eta), atol=5e-4)


def test_plot_diagnostics_cbpp_pearson_residuals_against_fitted_means(cbpp):
    fit, data, record = cbpp
    fig = fit.plot_diagnostics()
    axes = fig.axes
    assert len(axes) == 4  # residuals vs fitted, QQ of residuals, QQ of the herd modes, scale-location
    mu, resid = np.asarray(axes[0].collections[0].get_offsets()).T
    head = len(record["fitted_head"])
    np.testing.assert_allclose(mu[:head], record["fitted_head"], atol=1e-3)  # lme4's fitted(): μ̂
    y, n = (data["incidence"] / data["size"]).to_numpy(), data["size"].to_numpy()
    np.testing.assert_allclose(resid, (y - mu) * np.sqrt(n) / np.sqrt(mu * (1 - mu)), rtol=1e-10)
    assert axes[0].get_ylabel() == "Pearson residual"
    np.testing.assert_allclose(np.sort(axes[1].collections[0].get_offsets()[:, 1]), np.sort(resid), rtol=1e-12)
    modes = np.sort(axes[2].collections[0].get_offsets()[:, 1])
    np.testing.assert_allclose(modes, np.sort([m[0] for m in record["ranef"]["herd"]["modes"]]), atol=2e-3)
    np.testing.assert_allclose(axes[3].collections[0].get_offsets()[:, 1], np.sqrt(np.abs(resid)), rtol=1e-12)
