"""How many BLAS threads a fit uses.

OpenBLAS wakes its worker threads for every call; for the small matrices of most mixed models
(an order-m Schur complement with m in the tens) that costs more than the arithmetic: on a busy
machine a triangular solve of order 2 was measured at 6–8 ms instead of 9 µs. For a large dense
block threads do pay on idle cores — InstEval's order-1160 Cholesky, 2 cores: 1.9–2.2 s per fit
with two threads against 2.6 s with one — but while other processes hold the cores the spinning
workers make an InstEval evaluation take 300 ms instead of 20 ms. So: one thread below order
1000; above it, one thread per core that is free when the fit starts (:func:`free_cores`: the
idle share over 50 ms of /proc/stat; the 1-minute load average where there is no /proc, which
lags: after a data pass that kept both cores busy it kept a 15-minute optimisation on one
thread). With one of two cores held by another process that is one thread: two would take turns
with it (InstEval took 5.3–6.9 s instead of 2.4 s so). The data pass's second thread for a dense
Bz (:mod:`mixedmodels.blocks`) asks the same. The numbers agree either way to rounding.
"""

from __future__ import annotations

import os
import time
from functools import lru_cache

__all__ = ["blas_threads_for", "free_cores"]

SINGLE_THREAD_BELOW = 1000  # order of the dense block from which BLAS threads can pay off


@lru_cache(maxsize=1)
def _controller():
    from threadpoolctl import ThreadpoolController  # inspects the loaded libraries: on first use only

    return ThreadpoolController()


def _cpu_times() -> tuple[float, float] | None:
    """(idle, total) jiffies of all cores from /proc/stat, or None where there is none."""
    try:
        with open("/proc/stat") as stat:
            fields = [float(v) for v in stat.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    return fields[3] + (fields[4] if len(fields) > 4 else 0.0), sum(fields)


_last_answer: list = [-1e9, 1]  # (time.monotonic() of the measurement, free cores)

SPARE_SHARE = 0.25
"""A core counts as free when at most this share of it is busy with other processes."""


def free_cores(window: float = 0.05, reuse: float = 2.0) -> int:
    """Cores not busy with other processes, ours included (at least 1, at most ``os.cpu_count()``).

    The idle share of all cores over ``window`` seconds of /proc/stat while this process sleeps
    (so its own core counts as idle), a core counting when at most :data:`SPARE_SHARE` of it is
    busy: ⌊idle cores + ¼⌋; an answer younger than ``reuse`` seconds is reused. Without /proc, the
    1-minute load average (cores − load). One core kept busy by another process on a 2-core
    machine gives 1: the library's threads would only take turns with it.
    """
    now = time.monotonic()
    if now - _last_answer[0] < reuse:
        return _last_answer[1]
    cores = os.cpu_count() or 1
    idle = _measure_idle_cores(window, cores)
    _last_answer[:] = [now, max(1, min(cores, int(idle + SPARE_SHARE)))]
    return _last_answer[1]


def _measure_idle_cores(window: float, cores: int) -> float:
    before = _cpu_times()
    if before is not None:
        time.sleep(window)
        after = _cpu_times()
        busy_total = after[1] - before[1]
        if busy_total > 0:
            return (after[0] - before[0]) / busy_total * cores
    try:
        return cores - os.getloadavg()[0]
    except (AttributeError, OSError):
        return 1.0


def blas_threads_for(order: int):
    """Context manager: one BLAS thread below order :data:`SINGLE_THREAD_BELOW`, else one per free core."""
    threads = free_cores() if order >= SINGLE_THREAD_BELOW else 1
    return _controller().limit(limits=threads, user_api="blas")
