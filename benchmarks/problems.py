"""Benchmark problems: name -> (data builder, lme4 formula, REML flag).

Every problem has a CSV file plus a ``<stem>.schema.json`` (column types, factor level order) so
that R reads exactly the rows Python fits.  Real data sets are the package's built-in ones
(``src/mixedmodels/datasets/data``, InstEval gzipped); simulated ones are generated once with a fixed seed and written
to ``benchmarks/.cache/`` (git-ignored) as CSV + schema, then read back from that CSV (and cached as
Parquet for speed), so Python and R fit bit-identical numbers.

Simulation model (``sim_*``)::

    y = 1 + 2 x + b0[g] + b1[g] x (+ c[h]) + e
    x ~ N(0, 1);  (b0, b1) ~ N(0, [[1, .3*.5], [.3*.5, .25]])  (sd 1, sd .5, corr .3)
    c ~ N(0, .7^2);  e ~ N(0, 1)

``g`` (and ``h``) are pandas categoricals with levels ``g00001, g00002, ...`` in that order.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

import mixedmodels.datasets

HERE = Path(__file__).resolve().parent
CACHE = HERE / ".cache"
REFERENCE_DATA = Path(mixedmodels.datasets.__file__).resolve().parent / "data"
SEED = 20240601


@dataclass(frozen=True)
class StatsmodelsSpec:
    """How to express the problem to ``statsmodels.formula.api.mixedlm`` (None: cannot)."""

    fixed: str
    groups: str | None  # column name; None -> one group for all rows (crossed designs)
    re_formula: str | None
    vc_formula: dict[str, str] | None = None


@dataclass(frozen=True)
class Problem:
    name: str
    formula: str
    reml: bool
    csv_stem: str  # <stem>.csv and <stem>.schema.json
    build: Callable[[], tuple[Path, Path]] = field(repr=False)  # -> (csv, schema), creating if needed
    statsmodels: StatsmodelsSpec | None = None
    note: str = ""

    def files(self) -> tuple[Path, Path]:
        """(csv path, schema path), writing simulated data on first use."""
        return self.build()

    def load(self) -> pd.DataFrame:
        """The data as a pandas DataFrame, factors as categoricals in the schema's level order."""
        csv, schema = self.files()
        parquet = CACHE / f"{self.csv_stem}.parquet"
        if parquet.exists() and parquet.stat().st_mtime >= csv.stat().st_mtime:
            try:
                return pd.read_parquet(parquet)
            except Exception:  # pyarrow missing or corrupt cache: fall back to the CSV
                pass
        frame = read_csv_with_schema(csv, schema)
        try:
            CACHE.mkdir(exist_ok=True)
            frame.to_parquet(parquet)
        except Exception:
            pass
        return frame


def read_csv_with_schema(csv: Path, schema: Path) -> pd.DataFrame:
    """Same typing rules as ``mixedmodels.datasets.read_csv_with_schema`` (kept local so the
    benchmarks run even when the package under test does not import)."""
    try:
        from mixedmodels.datasets import read_csv_with_schema as ours

        return ours(csv, schema)
    except Exception:
        pass
    spec = json.loads(Path(schema).read_text())["columns"]
    dtype = {k: str for k, v in spec.items() if v["type"] in ("factor", "ordered")}
    frame = pd.read_csv(csv, dtype=dtype, keep_default_na=True)
    for name, col in spec.items():
        if col["type"] in ("factor", "ordered"):
            frame[name] = pd.Categorical(frame[name], categories=col["levels"], ordered=col["type"] == "ordered")
        elif col["type"] == "integer" and not frame[name].isna().any():
            frame[name] = frame[name].astype("int64")
        else:
            frame[name] = frame[name].astype("float64")
    return frame


def _reference(stem: str) -> Callable[[], tuple[Path, Path]]:
    def build() -> tuple[Path, Path]:
        csv = REFERENCE_DATA / f"{stem}.csv"
        return (csv if csv.exists() else csv.with_name(f"{stem}.csv.gz")), REFERENCE_DATA / f"{stem}.schema.json"

    return build


def simulate(n: int, n_g: int, n_h: int = 0, seed: int = SEED) -> pd.DataFrame:
    """Deterministic data for ``y ~ x + (1 + x | g) [+ (1 | h)]``.

    Nested designs (``n_h == 0``) are balanced: n / n_g rows per level of g.  Crossed designs draw g
    and h uniformly at random (every level of both is forced to appear at least once).
    """
    rng = np.random.default_rng(seed)
    if n_h == 0:
        g = np.repeat(np.arange(n_g), n // n_g)
        g = np.concatenate([g, rng.integers(0, n_g, n - g.size)])
        rng.shuffle(g)
    else:
        g = rng.integers(0, n_g, n)
        g[:n_g] = np.arange(n_g)
    x = rng.standard_normal(n)
    sd0, sd1, rho = 1.0, 0.5, 0.3
    cov = np.array([[sd0**2, rho * sd0 * sd1], [rho * sd0 * sd1, sd1**2]])
    b = rng.multivariate_normal(np.zeros(2), cov, size=n_g)
    y = 1.0 + 2.0 * x + b[g, 0] + b[g, 1] * x
    width = len(str(max(n_g, n_h)))
    cols: dict[str, object] = {}
    if n_h:
        h = rng.integers(0, n_h, n)
        h[:n_h] = np.arange(n_h)
        c = rng.normal(0.0, 0.7, n_h)
        y = y + c[h]
    y = y + rng.standard_normal(n)
    # Round to 10 significant decimals: short CSV, identical doubles in R and Python.
    cols["y"] = np.round(y, 10)
    cols["x"] = np.round(x, 10)
    g_levels = [f"g{i + 1:0{width}d}" for i in range(n_g)]
    cols["g"] = pd.Categorical.from_codes(g, categories=g_levels)
    if n_h:
        h_levels = [f"h{i + 1:0{width}d}" for i in range(n_h)]
        cols["h"] = pd.Categorical.from_codes(h, categories=h_levels)
    return pd.DataFrame(cols)


def _simulated(stem: str, n: int, n_g: int, n_h: int = 0) -> Callable[[], tuple[Path, Path]]:
    def build() -> tuple[Path, Path]:
        csv, schema = CACHE / f"{stem}.csv", CACHE / f"{stem}.schema.json"
        if csv.exists() and schema.exists():
            return csv, schema
        CACHE.mkdir(exist_ok=True)
        frame = simulate(n, n_g, n_h)
        columns: dict[str, dict] = {}
        for name in frame.columns:
            if isinstance(frame[name].dtype, pd.CategoricalDtype):
                columns[name] = {"type": "factor", "levels": list(frame[name].cat.categories), "contrasts": "contr.treatment"}
            else:
                columns[name] = {"type": "numeric"}
        tmp = csv.with_suffix(".csv.tmp")
        frame.to_csv(tmp, index=False, float_format="%.10f")
        tmp.replace(csv)
        schema.write_text(json.dumps({"file": csv.name, "nrow": n, "seed": SEED, "columns": columns}, indent=1))
        return csv, schema

    return build


_SIM_SM = StatsmodelsSpec(fixed="y ~ x", groups="g", re_formula="~x")

PROBLEMS: dict[str, Problem] = {
    p.name: p
    for p in [
        Problem(
            "sleepstudy",
            "Reaction ~ Days + (Days|Subject)",
            True,
            "sleepstudy",
            _reference("sleepstudy"),
            StatsmodelsSpec("Reaction ~ Days", "Subject", "~Days"),
        ),
        Problem(
            "penicillin",
            "diameter ~ 1 + (1|plate) + (1|sample)",
            True,
            "Penicillin",
            _reference("Penicillin"),
            StatsmodelsSpec("diameter ~ 1", None, "0", {"plate": "0 + C(plate)", "sample": "0 + C(sample)"}),
        ),
        Problem(
            "insteval",
            "y ~ 1 + service + (1|s) + (1|d) + (1|dept:service)",
            True,
            "InstEval",
            _reference("InstEval"),
            StatsmodelsSpec(
                "y ~ 1 + service",
                None,
                "0",
                {"s": "0 + C(s)", "d": "0 + C(d)", "dept_service": "0 + C(dept):C(service)"},
            ),
        ),
        Problem("sim_1e4", "y ~ x + (1 + x|g)", True, "sim_1e4", _simulated("sim_1e4", 10_000, 100), _SIM_SM),
        Problem("sim_1e5", "y ~ x + (1 + x|g)", True, "sim_1e5", _simulated("sim_1e5", 100_000, 1_000), _SIM_SM),
        Problem("sim_1e6", "y ~ x + (1 + x|g)", True, "sim_1e6", _simulated("sim_1e6", 1_000_000, 10_000), _SIM_SM),
        Problem(
            "sim_crossed_1e6",
            "y ~ x + (1 + x|g) + (1|h)",
            True,
            "sim_crossed_1e6",
            _simulated("sim_crossed_1e6", 1_000_000, 5_000, 200),
            None,
            note="statsmodels cannot cross a correlated (1 + x | g) with (1 | h): vc components are "
            "independent scalars nested in one grouping",
        ),
    ]
}

DEFAULT_PROBLEMS = list(PROBLEMS)


def get(name: str) -> Problem:
    try:
        return PROBLEMS[name]
    except KeyError:
        raise SystemExit(f"unknown problem {name!r}; known: {', '.join(PROBLEMS)}") from None
