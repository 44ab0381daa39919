"""Map a function over the chunks of the data and reduce the results with an associative ``+``.

:class:`LocalRunner` reads Parquet row groups in this process, a few at a time on a small thread
pool (pyarrow's reads and the compiled A pass release the GIL, so row groups are read and
processed on several cores at once), and adds the results up in row-group order on the calling
thread, so the sums are those of a sequential pass (memory: a row group per thread plus the
running sum). :class:`DaskRunner` maps over the partitions of a Dask
DataFrame and lets Dask reduce them in a tree (``dask.bag`` ``fold``) on the scheduler the
client points at; only the reduced value reaches the client.
"""

from __future__ import annotations

import os
import sys
from collections import deque
from concurrent.futures import ThreadPoolExecutor

import pandas as pd

from .levels import ModelColumns
from .sources import ParquetSource

__all__ = ["LocalRunner", "DaskRunner", "active_client"]

SPLIT_EVERY = 8
"""Fan-in of Dask's reduction tree."""

MAX_THREADS = 4
"""Row groups processed at once by :class:`LocalRunner` (at most the number of cores)."""


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
    """Row groups of Parquet files on a thread pool, summed in order, with a tqdm progress bar."""

    def __init__(self, source: ParquetSource, progress: bool = True, threads: int | None = None):
        self.source = source
        self.data = source
        self.columns = source.columns
        self.progress = progress
        self.threads = threads if threads is not None else max(1, min(MAX_THREADS, os.cpu_count() or 1))
        self.name = str(source.files[0]) if len(source.files) == 1 else f"{len(source.files)} Parquet files"

    def declared_categories(self, cols: ModelColumns) -> dict:
        return {}

    def _apply(self, func, context, columns: list[str], chunk: int):
        return func(self.source.read(chunk, columns), context, self.source.label(chunk))

    def reduce(self, func, context, columns: list[str], combine, what: str, initial=None):
        """``combine`` of ``func`` over the row groups, in row-group order, from ``initial`` if given.

        At most ``threads`` row groups are read and mapped ahead of the running sum; the first
        error in row-group order is raised.
        """
        from tqdm.auto import tqdm

        total, pending = initial, deque()

        def add_oldest():
            nonlocal total
            chunk, future = pending.popleft()
            value = future.result()
            total = value if total is None else combine(total, value)
            bar.update(self.source.row_groups[chunk][2])

        with tqdm(total=self.source.n_rows, desc=what, unit="rows", unit_scale=True,
                  disable=not self.progress) as bar, ThreadPoolExecutor(self.threads) as pool:
            try:
                for chunk in range(len(self.source.row_groups)):
                    pending.append((chunk, pool.submit(self._apply, func, context, columns, chunk)))
                    if len(pending) > self.threads:
                        add_oldest()
                while pending:
                    add_oldest()
            finally:
                for _, future in pending:
                    future.cancel()
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


