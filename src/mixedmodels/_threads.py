"""BLAS threading for small problems.

OpenBLAS wakes its worker threads for every call; for the small matrices of most mixed models
(an order-m Schur complement with m in the tens) that costs more than the arithmetic, and on a
busy machine a triangular solve of order 2 was measured at 6–8 ms instead of 9 µs, and an
InstEval evaluation (order 1160) at 300 ms instead of 20 ms while other processes held the cores
(13 ms vs 17 ms for two threads against one on a quiet machine). Fits therefore run with one BLAS
thread unless the dense block is so large that its factorisation dominates everything else.
"""

from __future__ import annotations

import contextlib
from functools import lru_cache

from threadpoolctl import ThreadpoolController

__all__ = ["blas_threads_for"]

SINGLE_THREAD_BELOW = 4000  # order of the dense block above which BLAS threads pay off


@lru_cache(maxsize=1)
def _controller() -> ThreadpoolController:
    return ThreadpoolController()


def blas_threads_for(order: int):
    """Context manager: one BLAS thread when the dense block's order is below the threshold."""
    if order >= SINGLE_THREAD_BELOW:
        return contextlib.nullcontext()
    return _controller().limit(limits=1, user_api="blas")
