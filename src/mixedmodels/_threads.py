"""How many BLAS threads a fit uses.

OpenBLAS wakes its worker threads for every call; for the small matrices of most mixed models
(an order-m Schur complement with m in the tens) that costs more than the arithmetic: on a busy
machine a triangular solve of order 2 was measured at 6–8 ms instead of 9 µs. For a large dense
block threads do pay on idle cores — InstEval's order-1160 Cholesky, 2 cores: 1.9–2.2 s per fit
with two threads against 2.6 s with one — but while other processes hold the cores the spinning
workers make an InstEval evaluation take 300 ms instead of 20 ms. So: one thread below order
1000; above it, the library's threads only when the machine has an idle core when the fit starts
(at least half a core idle over 50 ms of /proc/stat; the 1-minute load average where there is no
/proc, which lags: after a data pass that kept both cores busy it kept a 15-minute optimisation
on one thread). The numbers agree either way to rounding.
"""

from __future__ import annotations

import contextlib
import os
import time
from functools import lru_cache

from threadpoolctl import ThreadpoolController

__all__ = ["blas_threads_for"]

SINGLE_THREAD_BELOW = 1000  # order of the dense block from which BLAS threads can pay off


@lru_cache(maxsize=1)
def _controller() -> ThreadpoolController:
    return ThreadpoolController()


def _cpu_times() -> tuple[float, float] | None:
    """(idle, total) jiffies of all cores from /proc/stat, or None where there is none."""
    try:
        with open("/proc/stat") as stat:
            fields = [float(v) for v in stat.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    return fields[3] + (fields[4] if len(fields) > 4 else 0.0), sum(fields)


_last_answer: list = [-1e9, False]  # (time.monotonic() of the measurement, answer)


def _idle_core(window: float = 0.05, reuse: float = 2.0) -> bool:
    """Is a core free for BLAS workers? Idle share over ``window`` seconds (an answer younger than
    ``reuse`` seconds is reused), else the load average."""
    now = time.monotonic()
    if now - _last_answer[0] < reuse:
        return _last_answer[1]
    _last_answer[:] = [now, _measure_idle_core(window)]
    return _last_answer[1]


def _measure_idle_core(window: float) -> bool:
    cores = os.cpu_count() or 1
    before = _cpu_times()
    if before is not None:
        time.sleep(window)
        after = _cpu_times()
        busy_total = after[1] - before[1]
        if busy_total > 0:
            return (after[0] - before[0]) / busy_total * cores >= 0.5
    try:
        return os.getloadavg()[0] < cores - 0.5
    except (AttributeError, OSError):
        return False


def blas_threads_for(order: int):
    """Context manager: one BLAS thread unless the dense block is large and a core is idle."""
    if order >= SINGLE_THREAD_BELOW and _idle_core():
        return contextlib.nullcontext()
    return _controller().limit(limits=1, user_api="blas")
