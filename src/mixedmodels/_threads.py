"""How many BLAS threads a fit uses.

OpenBLAS wakes its worker threads for every call; for the small matrices of most mixed models
(an order-m Schur complement with m in the tens) that costs more than the arithmetic: on a busy
machine a triangular solve of order 2 was measured at 6–8 ms instead of 9 µs. For a large dense
block threads do pay on idle cores — InstEval's order-1160 Cholesky, 2 cores: 1.9–2.2 s per fit
with two threads against 2.6 s with one — but while other processes hold the cores the spinning
workers make an InstEval evaluation take 300 ms instead of 20 ms. So: one thread below order
1000; above it, the library's threads only when the machine has an idle core when the fit starts
(1-minute load average below cpu_count − 1/2). The numbers agree either way to rounding.
"""

from __future__ import annotations

import contextlib
import os
from functools import lru_cache

from threadpoolctl import ThreadpoolController

__all__ = ["blas_threads_for"]

SINGLE_THREAD_BELOW = 1000  # order of the dense block from which BLAS threads can pay off


@lru_cache(maxsize=1)
def _controller() -> ThreadpoolController:
    return ThreadpoolController()


def _idle_core() -> bool:
    """Is a core free for BLAS workers? (No load average on this platform: assume not.)"""
    try:
        return os.getloadavg()[0] < (os.cpu_count() or 1) - 0.5
    except (AttributeError, OSError):
        return False


def blas_threads_for(order: int):
    """Context manager: one BLAS thread unless the dense block is large and a core is idle."""
    if order >= SINGLE_THREAD_BELOW and _idle_core():
        return contextlib.nullcontext()
    return _controller().limit(limits=1, user_api="blas")
