"""Fit y ~ x + (1 + x | g) + (1 | h) to a simulated Parquet data set larger than memory.

Writes ``--rows`` rows (default 10⁸; 10⁵ levels of g, 10³ of h) to benchmarks/.cache as Parquet
files of row groups of ``--row-group`` rows, then fits it with :func:`mixedmodels.lmer` on the
path (pyarrow, row group by row group, no Dask). Prints rows/second of the A pass (and of the
levels pass) beside rows/second of a plain pyarrow scan of the same columns, the time of the
optimisation, and the peak resident memory of the process (ru_maxrss) against the data size.

    python benchmarks/bench_large.py --rows 10000000
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import time
import warnings
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from mixedmodels import lmer
from mixedmodels.largedata import runners

CACHE = Path(__file__).resolve().parent / ".cache"
FORMULA = "y ~ x + (1 + x | g) + (1 | h)"


def write_data(rows: int, row_group: int, per_file: int, n_g: int, n_h: int, seed: int = 1) -> Path:
    """Simulate the data set file by file (memory: one file's columns), unless already cached."""
    directory = CACHE / f"large_{rows}_{row_group}_{n_g}_{n_h}"
    if (directory / "_done").exists():
        return directory
    if directory.exists():
        shutil.rmtree(directory)
    directory.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    u_g = rng.normal(size=(n_g, 2)) * [1.0, 0.3]
    u_h = rng.normal(size=n_h) * 0.5
    for i, start in enumerate(range(0, rows, per_file)):
        n = min(per_file, rows - start)
        g = rng.integers(0, n_g, n, dtype=np.int32)
        h = rng.integers(0, n_h, n, dtype=np.int32)
        x = rng.normal(size=n)
        y = 1.0 + 0.5 * x + u_g[g, 0] + u_g[g, 1] * x + u_h[h] + rng.normal(size=n)
        table = pa.table({"y": y, "x": x, "g": g, "h": h})
        pq.write_table(table, directory / f"part{i:04d}.parquet", row_group_size=row_group)
        print(f"  wrote {start + n:,} rows", flush=True)
    (directory / "_done").touch()
    return directory


def scan(directory: Path) -> tuple[int, float]:
    """A plain pyarrow scan: every row group of every file, the four columns (the physical limit)."""
    start, rows = time.perf_counter(), 0
    for path in sorted(directory.glob("*.parquet")):
        file = pq.ParquetFile(path)
        for k in range(file.num_row_groups):
            rows += file.read_row_group(k, columns=["y", "x", "g", "h"]).num_rows
    return rows, time.perf_counter() - start


def peak_memory() -> float:
    """Peak resident memory of this process so far (ru_maxrss), in GiB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def cpu_seconds() -> float:
    """User + system CPU time of this process so far (all threads)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def timed_passes(rows: int, t_scan: float) -> list[tuple[str, float]]:
    """Time each pass of LocalRunner.reduce and print it as it ends (benchmark instrumentation only)."""
    record = []
    original = runners.LocalRunner.reduce

    def reduce(self, func, context, columns, combine, what, **kwargs):
        start, cpu = time.perf_counter(), cpu_seconds()
        out = original(self, func, context, columns, combine, what, **kwargs)
        elapsed, cpu = time.perf_counter() - start, cpu_seconds() - cpu
        record.append((what, elapsed))
        print(f"{what + ':':16s}{rows / elapsed:,.0f} rows/s ({elapsed:.1f} s, {cpu:.1f} s of CPU) = "
              f"{elapsed / t_scan:.1f}x the scan time; peak memory so far {peak_memory():.2f} GiB", flush=True)
        return out

    runners.LocalRunner.reduce = reduce
    return record


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=float, default=1e8)
    parser.add_argument("--row-group", type=int, default=1_000_000)
    parser.add_argument("--per-file", type=int, default=10_000_000)
    parser.add_argument("--g-levels", type=int, default=100_000)
    parser.add_argument("--h-levels", type=int, default=1_000)
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args()
    rows = int(args.rows)
    print(f"data: {rows:,} rows, g {args.g_levels:,} levels, h {args.h_levels:,} levels", flush=True)
    directory = write_data(rows, args.row_group, args.per_file, args.g_levels, args.h_levels)
    size = sum(p.stat().st_size for p in directory.glob("*.parquet"))
    cpu = cpu_seconds()
    n_scanned, t_scan = scan(directory)
    print(f"pyarrow scan: {n_scanned / t_scan:,.0f} rows/s ({t_scan:.1f} s, {cpu_seconds() - cpu:.1f} s of CPU)",
          flush=True)
    record = timed_passes(rows, t_scan)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = lmer(FORMULA, directory, progress=not args.no_progress)
    total = time.perf_counter() - start
    t_passes = sum(t for _, t in record)
    in_memory = rows * 4 * 8  # y, x, g, h as float64/int64 columns, before any design matrix
    print(f"optimisation: {total - t_passes:.1f} s; total {total:.1f} s")
    cross = fit.problem.cross
    a_bytes = sum(np.asarray(part).nbytes for part in (cross.D0, cross.Bw, cross.C)) + (
        cross.Bz.nbytes if cross.bz_dense else cross.Bz.data.nbytes + cross.Bz.indices.nbytes)
    print(f"peak memory:  {peak_memory():.2f} GiB (ru_maxrss); A {a_bytes / 2**30:.2f} GiB; data "
          f"{in_memory / 2**30:.1f} GiB in memory, {size / 2**30:.1f} GiB on disk; load average {os.getloadavg()}")
    print(f"objective {fit.objective:.4f}; theta {np.round(fit.theta, 4)}; fixef {np.round(fit.fixef.to_numpy(), 4)}; "
          f"sigma {fit.sigma:.4f}")


if __name__ == "__main__":
    main()
