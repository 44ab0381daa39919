"""How many BLAS threads a fit uses.

OpenBLAS wakes its worker threads for every call; for the small matrices of most mixed models
(an order-m Schur complement with m in the tens) that costs more than the arithmetic: on a busy
machine a triangular solve of order 2 was measured at 6–8 ms instead of 9 µs. For a large dense
block threads do pay on idle cores — InstEval's order-1160 Cholesky, 2 cores: 1.9–2.2 s per fit
with two threads against 2.6 s with one — but while other processes hold the cores the spinning
workers make an InstEval evaluation take 300 ms instead of 20 ms. So: one thread below order
1000; above it, one thread per core that is free when the fit starts (:func:`free_cores`: other
processes' share of the cores since the last look at /proc/stat, without waiting when that was
during the data pass or the previous fit; the 1-minute load average where there is no /proc, which
lags: after a data pass that kept both cores busy it kept a 15-minute optimisation on one
thread). With one of two cores held by another process that is one thread: two would take turns
with it (InstEval took 5.3–6.9 s instead of 2.4 s so). The data pass's second thread for a dense
Bz (:mod:`mixedmodels.blocks`) asks the same. The numbers agree either way to rounding. Within
an lmer fit only the Schur complement's LAPACK factorisation and inversion take more than one
thread (:func:`lapack_threads_for`): the rest of an evaluation is many small BLAS calls, which
threads only slow down.
"""

from __future__ import annotations

import contextlib
import os
import time
from functools import lru_cache

__all__ = ["blas_threads_for", "free_cores", "lapack_threads_for", "worker_thread"]

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


def _sample() -> tuple[float, tuple[float, float] | None, float]:
    """(time.monotonic(), /proc/stat jiffies, this process's CPU seconds) now."""
    return time.monotonic(), _cpu_times(), time.process_time()


_last_answer: list = [-1e9, 1]  # (time.monotonic() of the measurement, free cores)
_last_sample: list = list(_sample())  # where the next measurement's window starts

@lru_cache(maxsize=None)
def worker_thread(role: str):
    """The one worker thread (a ``ThreadPoolExecutor(1)``) of a role, made on first use: the data
    pass's dense Bz (:mod:`mixedmodels.blocks`), the second half of PIRLS's rows
    (:mod:`mixedmodels.glmm.pirls`). A forked child makes its own (it has none of its parent's threads)."""
    from concurrent.futures import ThreadPoolExecutor

    return ThreadPoolExecutor(1, thread_name_prefix=f"mixedmodels-{role}")


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=worker_thread.cache_clear)


SPARE_SHARE = 0.25
"""A core counts as free when at most this share of it is busy with other processes."""

LONGEST_WINDOW = 10.0
"""Seconds: a window since the last sample longer than this is stale, and a fresh one is taken."""


def free_cores(window: float = 0.05, reuse: float = 2.0) -> int:
    """Cores not busy with other processes, ours included (at least 1, at most ``os.cpu_count()``).

    Other processes' share of the cores over a window of /proc/stat: the busy share of all cores
    less this process's own CPU time (all its threads), so that its own work counts as free. The
    window runs from the last sample (taken at import and at every measurement) when that is
    ``window`` to :data:`LONGEST_WINDOW` seconds old — the data pass of a fit, or the previous fit,
    so nothing waits — else over ``window`` seconds of sleep. A core is free when at most
    :data:`SPARE_SHARE` of it is busy elsewhere: ⌊cores − others' busy cores + ¼⌋. An answer
    younger than ``reuse`` seconds is reused. Without /proc, the 1-minute load average
    (cores − load). One core kept busy by another process on a 2-core machine gives 1: the
    library's threads would only take turns with it.
    """
    now = time.monotonic()
    if now - _last_answer[0] < reuse:
        return _last_answer[1]
    cores = os.cpu_count() or 1
    start = tuple(_last_sample)
    if start[1] is None or not window <= now - start[0] <= LONGEST_WINDOW:
        start = _sample()
        time.sleep(window)
    end = _sample()
    _last_sample[:] = end
    others = _others_busy_cores(start, end, cores)
    _last_answer[:] = [now, max(1, min(cores, int(cores - others + SPARE_SHARE)))]
    return _last_answer[1]


def _others_busy_cores(start, end, cores: int) -> float:
    """Cores kept busy by other processes between two samples (:func:`_sample`)."""
    if start[1] is not None and end[1] is not None and end[0] > start[0]:
        total = end[1][1] - start[1][1]
        if total > 0:
            busy = (1.0 - (end[1][0] - start[1][0]) / total) * cores
            ours = (end[2] - start[2]) / (end[0] - start[0])
            return max(0.0, busy - ours)
    try:
        return min(float(cores), os.getloadavg()[0])
    except (AttributeError, OSError):
        return cores - 1.0


def blas_threads_for(order: int):
    """Context manager: one BLAS thread below order :data:`SINGLE_THREAD_BELOW`, else one per free core."""
    threads = free_cores() if order >= SINGLE_THREAD_BELOW else 1
    return _controller().limit(limits=threads, user_api="blas")


def lapack_threads_for(order: int):
    """Context manager for one LAPACK factorisation or inversion of a dense block of this order inside a
    fit held to one BLAS thread: one thread per free core from :data:`SINGLE_THREAD_BELOW` on
    (:func:`blas_threads_for`), nothing below (no threadpoolctl call on small blocks).

    A fit runs its many small BLAS calls on one thread and only these on more: InstEval with the
    whole fit on two threads took 0.82–0.86 s, on one 0.59–0.72 s, and with two threads for the
    Cholesky factor and inverse of its order-1159 Schur complement alone 0.47–0.51 s.
    """
    return blas_threads_for(order) if order >= SINGLE_THREAD_BELOW else contextlib.nullcontext()
