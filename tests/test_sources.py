"""One pipeline for every source: every inference result is the same from memory, Parquet and Dask.

The model has a factor, an interaction and a covariate. Parquet row groups are summed in row
order (A equal to the last bit: results agree to rounding); a Dask reduction sums in a tree (A
equal to ~1e-16 relative, θ̂ to ~1e-10). Estimates, F and the criterion then agree to 1e-9, but
Satterthwaite and Kenward–Roger df and their p-values rest on finite-difference derivatives of
the criterion in the variance parameters (as lmerTest's), whose rounding noise (~1e-4 relative,
ε·f/h²) is what a different summation order shows: 5e-4 for Dask.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mixedmodels import anova, bootstrap, datasets, lmer, r2
from mixedmodels.sources import FrameSource, InMemoryRows, RowsNotInMemory, open_source

dd = pytest.importorskip("dask.dataframe")

FULL = "Reaction ~ Days * grp + x + (Days | Subject)"
SMALLER = "Reaction ~ Days * grp + x + (1 | Subject)"


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    data = datasets.load("sleepstudy")
    rng = np.random.default_rng(11)
    subjects = data["Subject"].astype(str)
    group = {s: ("a" if i % 2 else "b") for i, s in enumerate(sorted(subjects.unique()))}
    return data.assign(x=rng.normal(size=len(data)), grp=subjects.map(group))


@pytest.fixture(scope="module")
def parquet(frame, tmp_path_factory):
    path = tmp_path_factory.mktemp("pipeline") / "sleep.parquet"
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path, row_group_size=37)
    return path


def _fit(formula, data, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if not isinstance(data, pd.DataFrame):
            kwargs["progress"] = False
        return lmer(formula, data, **kwargs)


@pytest.fixture(scope="module")
def fits(frame, parquet):
    return {"memory": _fit(FULL, frame), "parquet": _fit(FULL, parquet),
            "dask": _fit(FULL, dd.from_pandas(frame, npartitions=3))}


TOLERANCE = {"parquet": 1e-9, "dask": 5e-4}


def _same_table(table, expected, rtol):
    assert list(table.index) == list(expected.index)
    assert list(table.columns) == list(expected.columns)
    np.testing.assert_allclose(table.to_numpy(dtype=float), expected.to_numpy(dtype=float), rtol=rtol, atol=1e-12)


@pytest.mark.parametrize("source", ["parquet", "dask"])
@pytest.mark.parametrize("type", [1, 2, 3])
@pytest.mark.parametrize("ddf", ["satterthwaite", "kenward-roger"])
def test_anova_same_from_every_source(fits, source, type, ddf):
    expected = anova(fits["memory"], type=type, ddf=ddf)
    _same_table(anova(fits[source], type=type, ddf=ddf), expected, TOLERANCE[source])


def test_type1_is_sequential_not_type2(fits):
    """The defect that started the one-pipeline issue: a Parquet fit answered type I with type II's F."""
    type1, type2 = anova(fits["parquet"], type=1), anova(fits["parquet"], type=2)
    assert type1.loc["Days", "F value"] != pytest.approx(type2.loc["Days", "F value"], rel=1e-3)


@pytest.mark.parametrize("source", ["parquet", "dask"])
@pytest.mark.parametrize("ddf", ["satterthwaite", "kenward-roger"])
def test_coef_table_same_from_every_source(fits, source, ddf):
    _same_table(fits[source].coef_table(ddf=ddf), fits["memory"].coef_table(ddf=ddf), TOLERANCE[source])


def test_likelihood_ratio_test_of_two_parquet_fits(frame, parquet, fits):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = anova(_fit(SMALLER, frame), fits["memory"])
        table = anova(_fit(SMALLER, parquet), fits["parquet"])
    _same_table(table.fillna(0.0), expected.fillna(0.0), 1e-8)


def test_lrt_refuses_other_data(frame, parquet, fits):
    other = frame.assign(Reaction=frame["Reaction"] + 1.0)
    with pytest.raises(ValueError, match="responses differ"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            anova(_fit(SMALLER, other), fits["parquet"])


def test_profile_confint_same_from_parquet(fits):
    expected = fits["memory"].confint(parm=["sigma", "Days", "x"])
    _same_table(fits["parquet"].confint(parm=["sigma", "Days", "x"]), expected, 1e-7)


def test_icc_r2_and_ranef_same_from_every_source(fits):
    for source in ("parquet", "dask"):
        pd.testing.assert_index_equal(fits[source].icc().index, fits["memory"].icc().index)
        np.testing.assert_allclose(fits[source].icc(), fits["memory"].icc(), rtol=1e-8)
        memory, other = r2(fits["memory"]), r2(fits[source])
        assert (other.marginal, other.conditional) == pytest.approx((memory.marginal, memory.conditional), rel=1e-8)
        np.testing.assert_allclose(fits[source].ranef["Subject"], fits["memory"].ranef["Subject"],
                                   rtol=1e-6, atol=1e-8)


def test_rows_of_a_parquet_fit_are_lazy(fits, frame):
    fit = fits["parquet"]
    with pytest.raises(RowsNotInMemory, match="not in memory"):
        fit.design
    fitted = fit.fitted().compute().to_numpy()
    np.testing.assert_allclose(fitted, fits["memory"].fitted().to_numpy(), rtol=1e-9)
    residuals = fit.residuals(type="scaled").compute().to_numpy()
    np.testing.assert_allclose(residuals, fits["memory"].residuals(type="scaled").to_numpy(), rtol=1e-7, atol=1e-9)
    population = fit.predict(re_form="~0").compute().to_numpy()
    np.testing.assert_allclose(population, fits["memory"].predict(re_form="~0").to_numpy(), rtol=1e-9)


def test_simulate_a_parquet_fit(fits):
    fit = fits["parquet"]
    sims = fit.simulate(nsim=400, seed=3).compute()
    assert sims.shape == (fit.nobs, 400)
    pd.testing.assert_frame_equal(sims, fit.simulate(nsim=400, seed=3).compute())
    # new random effects and residuals: the mean of the replicates is Xβ̂ within Monte-Carlo error
    population = fits["memory"].predict(re_form="~0").to_numpy()
    Sigma = fit.covariance_matrices()[0]
    days = fits["memory"].design.frame["Days"].to_numpy()
    sd = np.sqrt(Sigma[0, 0] + 2 * days * Sigma[0, 1] + days**2 * Sigma[1, 1] + fit.sigma**2)
    assert np.max(np.abs(sims.mean(axis=1).to_numpy() - population) / (sd / np.sqrt(400))) < 5


def test_bootstrap_a_parquet_fit(fits):
    fit = fits["parquet"]
    first = bootstrap(fit, nsim=60, seed=4, progress=False)
    pd.testing.assert_frame_equal(first, bootstrap(fit, nsim=60, seed=4, progress=False))
    se = np.sqrt(np.diag(fit.vcov))
    # replicates scatter around β̂ with about its standard error
    z = (first[list(fit.fixef.index)].mean() - fit.fixef) / (se / np.sqrt(60))
    assert np.abs(z).max() < 5
    ratio = first[list(fit.fixef.index)].std() / se
    assert ratio.between(0.6, 1.5).all()


def test_in_memory_source_and_client_argument(frame):
    spec, cross, rows = FrameSource(frame).model(FULL)
    assert isinstance(rows, InMemoryRows) and spec.nobs == len(frame)
    with pytest.raises(TypeError, match="client= and progress= apply to Dask DataFrames and Parquet files only"):
        open_source(frame, client=object())


def test_degenerate_response_is_refused_from_every_source(frame, tmp_path):
    """The exact-fit check reads A, so Parquet data get the in-memory message."""
    means = frame.groupby("Subject", observed=True)["Reaction"].transform("mean")
    flat = frame.assign(Reaction=means)
    path = tmp_path / "flat.parquet"
    pq.write_table(pa.Table.from_pandas(flat, preserve_index=False), path, row_group_size=50)
    for data in (flat, path):
        with pytest.raises(Exception, match="the fixed and random effects reproduce the response 'Reaction'"):
            _fit("Reaction ~ 1 + (1 | Subject)", data)
    with pytest.raises(Exception, match="the response 'Reaction' is constant"):
        _fit(FULL, frame.assign(Reaction=250.0))


def test_glmer_shares_the_frame_source_and_refuses_chunked_data(parquet):
    from mixedmodels import glmer

    cbpp = datasets.load("cbpp")
    formula = "cbind(incidence, size - incidence) ~ period + (1 | herd)"
    spec, rows = FrameSource(cbpp).rows_of(formula, check_levels=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = glmer(formula, cbpp)
    assert fit.spec.fixed.column_names == spec.fixed.column_names and fit.nobs == spec.nobs
    with pytest.raises(TypeError, match="glmer\\(\\) fits data in memory"):
        glmer("Reaction ~ Days + (1 | Subject)", parquet, family="poisson")
