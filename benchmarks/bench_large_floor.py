"""What the A pass of bench_large.py cannot go below: its compiled updates on data already in memory.

Loads the level codes and columns of every row group written by ``bench_large.py`` (no Parquet,
pandas or formula work in the timings), then times, for 10⁵ × 10³ levels:

* faulting in the dense level-major Bz = Z_hᵀZ_g (1.5 GiB),
* the Bz kernel (one random read-modify-write of that array a row) on one core and on two,
* the kernel of the other sums (per-level records of D0 and WᵀZ_g, Z_hᵀZ_h, Z_hᵀW, WᵀW),

beside the plain pyarrow scan of the same files.

    python benchmarks/bench_large_floor.py --rows 1e8
"""

from __future__ import annotations

import argparse
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pyarrow.parquet as pq

from bench_large import scan, write_data
from mixedmodels._kernels import row_accumulator
from mixedmodels.blocks import _zeros_faulted_in


def load_blocks(directory) -> list[tuple]:
    """(codes_g, z_g, codes_h, z_h, X, y) of every row group, as the accumulator's kernels take them."""
    blocks = []
    for path in sorted(directory.glob("*.parquet")):
        file = pq.ParquetFile(path)
        for k in range(file.num_row_groups):
            table = file.read_row_group(k)
            n, x = table.num_rows, table["x"].to_numpy()
            z = np.column_stack([np.ones(n), x])
            blocks.append((table["g"].to_numpy().astype(np.int64), z, table["h"].to_numpy().astype(np.int64)[:, None].copy(),
                           np.ones((n, 1)), np.asfortranarray(z), table["y"].to_numpy()))
    return blocks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=float, default=1e8)
    parser.add_argument("--g-levels", type=int, default=100_000)
    parser.add_argument("--h-levels", type=int, default=1_000)
    args = parser.parse_args()
    rows, n_g, n_h = int(args.rows), args.g_levels, args.h_levels
    directory = write_data(rows, 1_000_000, 10_000_000, n_g, n_h)
    _, t_scan = scan(directory)
    blocks = load_blocks(directory)
    rows_kernel, bz_kernel = row_accumulator(2, 3, 1)
    no_weights = np.empty(0)
    entries = (np.zeros(1, np.int64), np.zeros(1, np.int64), np.ones(1, np.int64))
    start = time.perf_counter()
    bz = _zeros_faulted_in((n_g, n_h, 2))
    t_fault = time.perf_counter() - start
    start = time.perf_counter()
    for g, z, h, zh, _, _ in blocks:
        bz_kernel(g, z, h, zh, *entries, no_weights, bz)
    t_bz = time.perf_counter() - start
    records, rest_rest, rest_w, ww = np.zeros((n_g, 10)), np.zeros((n_h, n_h)), np.zeros((n_h, 3)), np.zeros((3, 3))
    start = time.perf_counter()
    for g, z, h, zh, X, y in blocks:
        rows_kernel(g, z, h, zh, *entries, X, y, no_weights, records, rest_rest, rest_w, ww)
    t_rest = time.perf_counter() - start
    halves = [bz, _zeros_faulted_in((n_g, n_h, 2))]  # two threads, alternate row groups, one array each
    start = time.perf_counter()
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(lambda k: [bz_kernel(*blocks[i][:4], *entries, no_weights, halves[k])
                                 for i in range(k, len(blocks), 2)],
                      [0, 1]))
    t_bz2 = time.perf_counter() - start
    per_row = 1e9 / rows
    print(f"pyarrow scan of the files:            {t_scan:.2f} s")
    print(f"fault in Bz ({bz.nbytes / 2**30:.2f} GiB):               {t_fault:.2f} s")
    print(f"Bz kernel, one core:                  {t_bz:.2f} s ({t_bz * per_row:.0f} ns a row)")
    print(f"Bz kernel, two cores:                 {t_bz2:.2f} s")
    print(f"other sums, one core:                 {t_rest:.2f} s ({t_rest * per_row:.0f} ns a row)")
    print(f"updates alone on two cores >= {(t_bz + t_rest) / 2:.2f} s = {(t_bz + t_rest) / 2 / t_scan:.1f}x the scan")


if __name__ == "__main__":
    main()
