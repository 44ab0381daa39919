"""BLAS threading for small problems.

OpenBLAS wakes its worker threads for every call; for the small matrices of most mixed models
(an order-m Schur complement with m in the tens) that costs more than the arithmetic, and on a
busy machine a triangular solve of order 2 was measured at 6–8 ms instead of 9 µs. Fits whose
dense block is small therefore run with one BLAS thread; large ones keep the library's default.
"""

from __future__ import annotations

import contextlib
from functools import lru_cache

from threadpoolctl import ThreadpoolController

__all__ = ["blas_threads_for"]

SINGLE_THREAD_BELOW = 1000  # order of the dense block above which BLAS threads pay off


@lru_cache(maxsize=1)
def _controller() -> ThreadpoolController:
    return ThreadpoolController()


def blas_threads_for(order: int):
    """Context manager: one BLAS thread when the dense block's order is below the threshold."""
    if order >= SINGLE_THREAD_BELOW:
        return contextlib.nullcontext()
    return _controller().limit(limits=1, user_api="blas")
