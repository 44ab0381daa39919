"""Linear mixed models on data larger than memory: Parquet files and Dask DataFrames.

The fit needs the data only through A = [Z X y]ᵀ[Z X y], a sum over rows (shared/DESIGN.md §3),
formed chunk by chunk in two passes (levels, then A) and summed by :class:`.model.ChunkedSource`,
the source :func:`mixedmodels.sources.open_source` picks when :func:`is_large_data` holds.
"""

from .sources import is_large_data

__all__ = ["is_large_data"]
