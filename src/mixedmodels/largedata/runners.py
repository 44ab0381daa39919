"""Map a function over the chunks of the data and reduce the results with an associative ``+``.

:class:`LocalRunner` reads Parquet row groups one after another in this process (memory: one
row group plus the running sum). :class:`DaskRunner` maps over the partitions of a Dask
DataFrame and lets Dask reduce them in a tree (``dask.bag`` ``fold``) on the scheduler the
client points at; only the reduced value reaches the client.
"""

from __future__ import annotations

import sys

import pandas as pd

from .levels import ModelColumns
from .sources import ParquetSource

__all__ = ["LocalRunner", "DaskRunner", "active_client"]

SPLIT_EVERY = 8
"""Fan-in of Dask's reduction tree."""


def active_client():
    """The current ``dask.distributed`` client, or None (distributed is not imported for this)."""
    if "distributed" not in sys.modules:
        return None
    from distributed import default_client

    try:
        return default_client()
    except ValueError:
        return None


class LocalRunner:
    """Row groups of Parquet files, one at a time, with a tqdm progress bar."""

    def __init__(self, source: ParquetSource, progress: bool = True):
        self.source = source
        self.data = source
        self.columns = source.columns
        self.progress = progress
        self.name = str(source.files[0]) if len(source.files) == 1 else f"{len(source.files)} Parquet files"

    def declared_categories(self, cols: ModelColumns) -> dict:
        return {}

    def reduce(self, func, context, columns: list[str], combine, what: str):
        from tqdm.auto import tqdm

        total = None
        with tqdm(total=self.source.n_rows, desc=what, unit="rows", unit_scale=True,
                  disable=not self.progress) as bar:
            for chunk, (_, _, rows) in enumerate(self.source.row_groups):
                frame = self.source.read(chunk, columns)
                value = func(frame, context, self.source.label(chunk))
                total = value if total is None else combine(total, value)
                bar.update(rows)
        return total


def _as_list(func, frame, context, where):
    return [func(frame, context, where)]


class DaskRunner:
    """Partitions of a Dask DataFrame, mapped and tree-reduced by Dask."""

    def __init__(self, frame, client=None, source: ParquetSource | None = None):
        self.frame = frame
        self.client = client
        self.data = frame if source is None else source
        self.columns = list(frame.columns)
        self.name = "dask DataFrame" if source is None else (
            str(source.files[0]) if len(source.files) == 1 else f"{len(source.files)} Parquet files")

    def declared_categories(self, cols: ModelColumns) -> dict:
        """Categoricals with known categories in the Dask ``meta``: their levels need no scan."""
        out = {}
        for name in cols.read:
            dtype = self.frame.dtypes[name]
            if isinstance(dtype, pd.CategoricalDtype) and dtype.categories is not None \
                    and "__UNKNOWN_CATEGORIES__" not in dtype.categories:
                out[name] = dtype
        return out

    def reduce(self, func, context, columns: list[str], combine, what: str):
        import dask.bag as db
        from dask import delayed

        parts = self.frame[columns].to_delayed()
        context_d = delayed(context, pure=True)
        bag = db.from_delayed([delayed(_as_list)(func, part, context_d, f"partition {i}")
                               for i, part in enumerate(parts)])
        folded = bag.fold(combine, split_every=SPLIT_EVERY)
        if self.client is not None:
            return self.client.compute(folded).result()
        import dask

        return folded.compute(scheduler=dask.config.get("scheduler", "threads"))  # a bag would default to processes


