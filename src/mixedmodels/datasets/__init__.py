"""Example data sets shipped inside the package (no network access needed).

Each data set is a CSV file with a ``<name>.schema.json`` beside it that gives every column's
type and, for factors, the level order R used; :func:`load` applies it, so factor columns come
back as pandas categoricals whose first level is the reference level of treatment contrasts,
and R's ordered factors come back as ordered categoricals (polynomial contrasts).
``data/descriptions.json`` describes every data set and column (:func:`describe`), and
:mod:`.simulate` draws new data of the lecture's designs. Listing and describing the data sets
imports neither pandas nor the simulations (the ``mixedmodels datasets`` command starts at once).
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from .. import _lazy

if TYPE_CHECKING:  # the names as type checkers and the API reference read them
    import pandas as pd

    from .simulate import simulate_clusters, simulate_litters, simulate_petri

__all__ = ["load", "list", "list_datasets", "describe", "DESCRIPTIONS", "read_csv_with_schema", "apply_schema",
           "simulate_clusters", "simulate_litters", "simulate_petri"]

_DATA = resources.files(__package__) / "data"

DESCRIPTIONS: dict[str, dict] = json.loads((_DATA / "descriptions.json").read_text(encoding="utf-8"))
"""Per data set: ``title``, ``description`` and ``columns`` (column name → meaning)."""


def apply_schema(frame: pd.DataFrame, schema: dict) -> pd.DataFrame:
    """Return a copy of ``frame`` with the column types of an R data-frame schema.

    Parameters
    ----------
    frame : DataFrame
        Columns as read from CSV (labels of factors may look numeric, e.g. Subject "308").
    schema : dict
        ``{"columns": {name: {"type": "numeric"|"integer"|"factor"|"ordered", "levels": [...]}}}``.

    Returns
    -------
    DataFrame
        Factors as categoricals with exactly the listed level order; numeric columns as float64
        (integer columns as int64 when they hold no missing values).
    """
    import pandas as pd

    out = frame.copy()
    for name, spec in schema["columns"].items():
        kind = spec["type"]
        if kind in ("factor", "ordered"):
            labels = out[name].astype("string").astype(object)
            out[name] = pd.Categorical(labels, categories=spec["levels"], ordered=kind == "ordered")
        elif kind == "integer" and not out[name].isna().any():
            out[name] = out[name].astype("int64")
        else:
            out[name] = out[name].astype("float64")
    return out


def read_csv_with_schema(csv_path: str | Path, schema_path: str | Path | None = None) -> pd.DataFrame:
    """Read a CSV written by R and type its columns from the schema beside it.

    ``schema_path`` defaults to ``<stem>.schema.json`` in the same folder.
    """
    import pandas as pd

    csv_path = Path(csv_path)
    if schema_path is None:
        stem = csv_path.name.removesuffix(".gz").removesuffix(".csv")
        schema_path = csv_path.with_name(f"{stem}.schema.json")
    schema = json.loads(Path(schema_path).read_text())
    string_columns = {k: str for k, v in schema["columns"].items() if v["type"] in ("factor", "ordered")}
    frame = pd.read_csv(csv_path, dtype=string_columns, keep_default_na=True)
    return apply_schema(frame, schema)


def list_datasets() -> list[str]:
    """Names of the built-in data sets, sorted case-insensitively."""
    names = {p.name.split(".")[0] for p in _DATA.iterdir() if ".csv" in p.name}
    return sorted(names, key=str.lower)


def _canonical(name: str) -> str:
    lookup = {n.lower(): n for n in list_datasets()}
    if not isinstance(name, str) or name.lower() not in lookup:
        raise ValueError(f"unknown data set {name!r}; available: {', '.join(list_datasets())}")
    return lookup[name.lower()]


def describe(name: str) -> str:
    """What a built-in data set holds: title, source, size and one line per column (name, type, meaning).

    Examples
    --------
    >>> from mixedmodels import datasets
    >>> print(datasets.describe("Dyestuff").splitlines()[0])
    Dyestuff: Yield of dyestuff by batch (lme4)
    """
    stem = _canonical(name)
    info = DESCRIPTIONS[stem]
    schema = json.loads((_DATA / f"{stem}.schema.json").read_text(encoding="utf-8"))
    lines = [f"{stem}: {info['title']}", "", info["description"], "", f"{schema['nrow']} rows; columns:"]
    width = max(map(len, schema["columns"]))
    for column, spec in schema["columns"].items():
        kind = spec["type"] + (f", {len(spec['levels'])} levels" if "levels" in spec else "")
        lines.append(f"  {column:<{width}}  ({kind}) {info['columns'][column]}")
    return "\n".join(lines)


def load(name: str) -> pd.DataFrame:
    """Load a built-in data set by name (case-insensitive), typed as R had it.

    Examples
    --------
    >>> from mixedmodels import datasets
    >>> datasets.load("sleepstudy").shape
    (180, 3)
    """
    stem = _canonical(name)
    with resources.as_file(_DATA) as folder:
        csv = folder / f"{stem}.csv"
        if not csv.exists():
            csv = folder / f"{stem}.csv.gz"
        frame = read_csv_with_schema(csv, folder / f"{stem}.schema.json")
    frame.attrs["name"] = stem
    return frame


list = list_datasets  # noqa: A001 - ``datasets.list()``, the documented short name

_lazy.export_lazily(__name__, {"simulate_clusters": ".simulate", "simulate_litters": ".simulate",
                               "simulate_petri": ".simulate"})
