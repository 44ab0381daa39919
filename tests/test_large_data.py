"""lmer on data larger than memory (Parquet files, Dask DataFrames) against the in-memory fit.

Parquet row groups are added to one running sum in row order, as the in-memory pass adds the
rows, so A — and with it θ̂, β̂, σ̂, the criterion — is the in-memory one to the last bit. A Dask
reduction adds partitions in a tree: A agrees to rounding (~1e-16), which moves the optimum
itself by ~1e-10 (θ̂ is refined to ∇f = 0, see ``optimize._refine``); β̂, σ̂ and the criterion
agree to 1e-10 relative and better.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mixedmodels import DesignError, datasets, lmer
from mixedmodels.largedata import is_large_data
from mixedmodels.sources import FrameSource
from mixedmodels.design import build_design

dd = pytest.importorskip("dask.dataframe")
distributed = pytest.importorskip("distributed")

SLEEP = "Reaction ~ Days + (Days | Subject)"
CROSSED = "y ~ x + trt + (1 | g) + (1 | h)"


def write_parquet(frame: pd.DataFrame, directory, n_files: int, row_group_size: int):
    directory.mkdir(exist_ok=True)
    for i, part in enumerate(np.array_split(np.arange(len(frame)), n_files)):
        pq.write_table(pa.Table.from_pandas(frame.iloc[part], preserve_index=False),
                       directory / f"part{i}.parquet", row_group_size=row_group_size)
    return directory


def simulated(n: int = 3000, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    g = rng.integers(0, 60, n)
    h = rng.integers(0, 25, n)
    trt = rng.choice(["ctl", "low", "high"], n)
    x = rng.normal(size=n)
    y = (1 + 0.5 * x + (trt == "low") * 0.3 - (trt == "high") * 0.2 + rng.normal(size=60)[g]
         + 0.5 * rng.normal(size=25)[h] + rng.normal(size=n))
    frame = pd.DataFrame({"y": y, "x": x, "trt": trt, "g": [f"g{i:02d}" for i in g], "h": h})
    frame.loc[rng.choice(n, 40, replace=False), "x"] = np.nan
    frame.loc[rng.choice(n, 15, replace=False), "trt"] = None
    return frame


def quiet_fit(formula, data, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return lmer(formula, data, **kwargs)


def assert_same_fit(large, memory, tree_sum: bool = False):
    """θ̂, β̂, σ̂ and the criterion of two fits of the same rows; ``tree_sum``: A summed by Dask."""
    assert large.nobs == memory.nobs
    assert large.spec.n_dropped == memory.spec.n_dropped
    tol = 1e-10 if tree_sum else 1e-14
    np.testing.assert_allclose(large.objective, memory.objective, rtol=tol)
    assert np.linalg.norm(large.theta - memory.theta) <= (1e-9 if tree_sum else 1e-14) * np.linalg.norm(memory.theta)
    np.testing.assert_allclose(large.fixef, memory.fixef, rtol=tol)
    np.testing.assert_allclose(large.sigma, memory.sigma, rtol=tol)
    assert list(large.fixef.index) == list(memory.fixef.index)
    assert large.ngroups == memory.ngroups
    for name, modes in memory.ranef.items():
        assert list(large.ranef[name].index) == list(modes.index)
    # at the same θ the two problems agree to rounding
    theta = memory.theta
    np.testing.assert_allclose(large.problem.deviance(theta), memory.problem.deviance(theta), rtol=1e-12)
    a, b = large.problem.solve(theta), memory.problem.solve(theta)
    np.testing.assert_allclose(a.beta, b.beta, rtol=1e-10)
    np.testing.assert_allclose(a.sigma, b.sigma, rtol=1e-10)
    np.testing.assert_allclose(a.vcov_beta, b.vcov_beta, rtol=1e-10)
    for bl, bm in zip(a.b, b.b):
        np.testing.assert_allclose(bl, bm, rtol=1e-9, atol=1e-10 * np.abs(bm).max())


@pytest.fixture
def cluster_client():  # per test: an active client sends every later fit to the cluster
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as client:
        yield client


@pytest.fixture(scope="module")
def sleep_memory():
    return quiet_fit(SLEEP, datasets.load("sleepstudy"))


@pytest.fixture(scope="module")
def crossed_memory():
    return quiet_fit(CROSSED, simulated())


def test_is_large_data(tmp_path):
    assert is_large_data("a/b.parquet") and is_large_data(tmp_path) and is_large_data("x/*.pq")
    assert not is_large_data(datasets.load("sleepstudy")) and not is_large_data("table.csv")


def test_sleepstudy_from_parquet(tmp_path, sleep_memory):
    path = write_parquet(datasets.load("sleepstudy"), tmp_path / "sleep", n_files=3, row_group_size=25)
    large = quiet_fit(SLEEP, path, progress=False)
    assert_same_fit(large, sleep_memory)
    # lme4: REML criterion 1743.628, fixef 251.40510, 10.46729
    np.testing.assert_allclose(large.objective, 1743.6282719, rtol=1e-9)
    np.testing.assert_allclose(large.fixef, [251.405105, 10.467286], rtol=1e-7)
    text = large.summary()
    assert "Scaled residuals" not in text
    memory_text = sleep_memory.summary()
    start = memory_text.index("Random effects:")
    assert text[text.index("Random effects:"):] == memory_text[start:]
    pd.testing.assert_frame_equal(large.varcorr, sleep_memory.varcorr, rtol=1e-6)
    np.testing.assert_allclose(large.ranef_condvar["Subject"], sleep_memory.ranef_condvar["Subject"], rtol=1e-5)
    np.testing.assert_allclose(large.icc(), sleep_memory.icc(), rtol=1e-6)


def test_sleepstudy_ml_glob(tmp_path):
    write_parquet(datasets.load("sleepstudy"), tmp_path, n_files=2, row_group_size=40)
    large = quiet_fit(SLEEP, str(tmp_path / "*.parquet"), reml=False, progress=False)
    memory = quiet_fit(SLEEP, datasets.load("sleepstudy"), reml=False)
    assert_same_fit(large, memory)
    np.testing.assert_allclose(large.aic, memory.aic, rtol=1e-10)


def test_crossed_from_parquet_drops_na_rows(tmp_path, crossed_memory):
    path = write_parquet(simulated(), tmp_path / "sim", n_files=4, row_group_size=300)
    with pytest.warns(UserWarning, match="55 row|row\\(s\\) with missing"):
        large = lmer(CROSSED, path, progress=False)
    assert crossed_memory.spec.n_dropped == large.spec.n_dropped > 0
    assert_same_fit(large, crossed_memory)
    assert list(large.fixef.index) == ["(Intercept)", "x", "trthigh", "trtlow"]


def test_crossed_from_dask_on_local_cluster(cluster_client, crossed_memory):
    frame = dd.from_pandas(simulated(), npartitions=7)
    large = quiet_fit(CROSSED, frame)
    assert_same_fit(large, crossed_memory, tree_sum=True)
    fitted = large.fitted()
    assert isinstance(fitted, dd.Series)
    values = fitted.compute()
    pd.testing.assert_series_equal(values, crossed_memory.fitted(), rtol=1e-6, check_names=False)
    residuals = large.residuals("pearson").compute()
    pd.testing.assert_series_equal(residuals, crossed_memory.residuals("pearson"), rtol=1e-5, atol=1e-6,
                                   check_names=False)
    newdata = simulated(200, seed=7).dropna()
    lazy = large.predict(dd.from_pandas(newdata, npartitions=3)).compute()
    np.testing.assert_allclose(lazy.to_numpy(), crossed_memory.predict(newdata).to_numpy(), rtol=1e-6)


def test_client_passed_and_parquet_on_cluster(tmp_path, cluster_client, sleep_memory):
    path = write_parquet(datasets.load("sleepstudy"), tmp_path / "s", n_files=3, row_group_size=30)
    large = quiet_fit(SLEEP, path, client=cluster_client)
    assert_same_fit(large, sleep_memory, tree_sum=True)
    frame = dd.from_pandas(datasets.load("sleepstudy"), npartitions=5)
    assert_same_fit(quiet_fit(SLEEP, frame, client=cluster_client), sleep_memory, tree_sum=True)


@pytest.mark.parametrize("second, expected", [(["high", "ctl", "low"], ["trthigh", "trtctl"]),
                                              (["high", "ctl", "low", "none"], ["trthigh", "trtlow"])])
def test_categoricals_ordered_as_concat(tmp_path, second, expected):
    """Same set of categories: the first chunk's order; different sets: sorted values (pandas.concat)."""
    frame = simulated(1500, seed=3).dropna()
    parts = [frame.iloc[:700].copy(), frame.iloc[700:].copy()]
    parts[0]["trt"] = pd.Categorical(parts[0]["trt"], categories=["low", "high", "ctl"])
    parts[1]["trt"] = pd.Categorical(parts[1]["trt"], categories=second)
    tmp_path.joinpath("d").mkdir()
    for i, part in enumerate(parts):
        part.to_parquet(tmp_path / "d" / f"p{i}.parquet", row_group_size=200)
    large = quiet_fit(CROSSED, tmp_path / "d", progress=False)
    memory = quiet_fit(CROSSED, pd.concat(parts, ignore_index=True))
    assert list(large.fixef.index) == list(memory.fixef.index) == ["(Intercept)", "x"] + expected
    assert_same_fit(large, memory)


def test_rank_deficient_fixed_part_checked_globally(tmp_path):
    frame = simulated(1200, seed=5).dropna()
    frame["x2"] = 2.0 * frame["x"] + 1.0
    write_parquet(frame, tmp_path / "r", n_files=2, row_group_size=100)
    formula = "y ~ x + x2 + (1 | g)"
    memory = quiet_fit(formula, frame)
    with pytest.warns(UserWarning, match="rank deficient so dropping 1 column"):
        large = lmer(formula, tmp_path / "r", progress=False)
    assert large.dropped_columns == memory.dropped_columns == ["x2"]
    assert_same_fit(large, memory)


def test_cross_products_equal_in_memory(tmp_path):
    frame = simulated(800, seed=9).dropna()
    write_parquet(frame, tmp_path / "c", n_files=3, row_group_size=70)
    large = quiet_fit(CROSSED, tmp_path / "c", progress=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        memory = FrameSource(frame).model(CROSSED)[1]
    cross = large.problem.cross
    # row groups are added to one running sum in row order, as the in-memory pass adds the rows
    for name in ("D0", "Bw", "C", "Bz", "n"):
        np.testing.assert_array_equal(getattr(cross, name), getattr(memory, name))


def test_not_parquet(tmp_path):
    bad = tmp_path / "data.parquet"
    bad.write_text("y,x\n1,2\n")
    with pytest.raises(DesignError, match="not a readable Parquet file"):
        lmer(SLEEP, bad)
    with pytest.raises(DesignError, match="no such Parquet file"):
        lmer(SLEEP, tmp_path / "missing.parquet")
    with pytest.raises(DesignError, match="no files match"):
        lmer(SLEEP, str(tmp_path / "nothing*.pq"))


def test_column_of_another_type_in_one_file(tmp_path):
    frame = datasets.load("sleepstudy")
    tmp_path.joinpath("t").mkdir()
    frame.iloc[:90].to_parquet(tmp_path / "t" / "a.parquet")
    other = frame.iloc[90:].copy()
    other["Days"] = other["Days"].astype(str)
    other.to_parquet(tmp_path / "t" / "b.parquet")
    with pytest.raises(DesignError, match="column 'Days' is numeric in .* but factor in "):
        lmer(SLEEP, tmp_path / "t", progress=False)


def test_level_outside_declared_categories():
    frame = datasets.load("sleepstudy")
    ddf = dd.from_pandas(frame, npartitions=3)

    def relabel(part):
        part = part.copy()
        part["Subject"] = part["Subject"].astype(str).replace("308", "999").astype("category")
        return part

    bad = ddf.map_partitions(relabel, meta=ddf._meta)
    with pytest.raises(DesignError, match="'Subject' holds level\\(s\\) \\['999'\\] that are not among"):
        lmer(SLEEP, bad)


def test_weights_must_be_a_column(tmp_path):
    path = write_parquet(datasets.load("sleepstudy"), tmp_path / "w", n_files=1, row_group_size=90)
    with pytest.raises(DesignError, match="weights must be a column name"):
        lmer(SLEEP, path, weights=np.ones(180))


def test_threaded_row_groups_sum_as_one_thread(tmp_path, monkeypatch):
    from mixedmodels.largedata.model import _add_rows, _chunk_rows
    from mixedmodels.largedata.runners import LocalRunner
    from mixedmodels.largedata.sources import parquet_source

    source = parquet_source(write_parquet(simulated(900, seed=4), tmp_path / "t", n_files=2, row_group_size=40))

    def chunk_sum(frame, context, where):  # a sum whose rounding depends on the order of the row groups
        return frame["x"].fillna(0.0).to_numpy() @ np.exp(frame["y"].to_numpy()) / 3.0

    sums = [LocalRunner(source, progress=False, threads=t).reduce(chunk_sum, None, ["x", "y"], float.__add__, "s")
            for t in (1, 2, 3)]
    assert sums[0] == sums[1] == sums[2]
    assert len(source.row_groups) > 20

    def fail_late(frame, context, where):
        if where.endswith("(row group 5)") or where.endswith("(row group 9)"):
            raise DesignError(f"bad rows in {where}")
        return 0.0

    with pytest.raises(DesignError, match=r"part0.parquet \(row group 5\)"):
        LocalRunner(source, progress=False, threads=3).reduce(fail_late, None, ["x"], float.__add__, "s")
    plan = quiet_fit(CROSSED, tmp_path / "t", progress=False).rows.plan
    n = source.n_rows
    runners = [LocalRunner(source, progress=False, threads=t) for t in (1, 3)]
    one, three = (r.reduce(_chunk_rows, plan, source.columns, _add_rows, "A",
                           initial=(plan.accumulator(n), None))[0].result() for r in runners)
    for name in ("D0", "Bw", "C", "n", "Bz"):
        np.testing.assert_array_equal(getattr(one, name), getattr(three, name))
    assert one.bz_dense and np.count_nonzero(one.Bz) > 0
    monkeypatch.setattr("mixedmodels.blocks.DENSE_BZ_ALWAYS", 0)
    monkeypatch.setattr("mixedmodels.blocks.DENSE_BZ_MAX", 0)  # each row group's Bz sparse, summed as CSR
    sparse, _ = runners[1].reduce(_chunk_rows, plan, source.columns, _add_rows, "A",
                                  initial=(plan.accumulator(n), None))
    assert not sparse.dense_bz
    np.testing.assert_allclose(sparse.result().bz_sparse().toarray(), one.bz_sparse().toarray(), rtol=1e-14)

