"""The thread policy: BLAS threads only for large dense blocks, one per core no other process holds."""

from __future__ import annotations

import threading

import pytest

from mixedmodels import _threads


@pytest.fixture(autouse=True)
def fresh_answer(monkeypatch):
    monkeypatch.setattr(_threads, "_last_answer", [-1e9, 1])
    monkeypatch.setattr(_threads, "_last_sample", [-1e9, None, 0.0])
    monkeypatch.setattr(_threads.os, "cpu_count", lambda: 2)


@pytest.mark.parametrize("idle_jiffies, expected", [(0, 1), (2, 1), (5, 1), (12, 1), (15, 1), (18, 2), (20, 2)])
def test_free_cores_from_the_idle_share_of_the_window(monkeypatch, idle_jiffies, expected):
    """20 jiffies pass on 2 cores while this process sleeps; a core is free when at most a quarter
    of it is busy elsewhere. One core spinning in another process (10 idle jiffies) leaves one."""
    samples = iter([(0.0, (100.0, 1000.0), 5.0), (0.1, (100.0 + idle_jiffies, 1020.0), 5.0)])
    monkeypatch.setattr(_threads, "_sample", lambda: next(samples))
    monkeypatch.setattr(_threads.time, "sleep", lambda seconds: None)
    assert _threads.free_cores() == expected


@pytest.mark.parametrize("ours, expected", [(0.4, 2), (0.36, 2), (0.2, 1), (0.0, 1)])
def test_own_work_counts_as_free(monkeypatch, ours, expected):
    """Both cores busy over the last 0.2 s, ``ours`` CPU seconds of it this process's (0.4: two threads): without
    waiting, the window since the last sample is measured and the rest is other processes'."""
    monkeypatch.setattr(_threads, "_last_sample", [0.0, (100.0, 1000.0), 5.0])
    monkeypatch.setattr(_threads, "_sample", lambda: (0.2, (100.0, 1040.0), 5.0 + ours))
    monkeypatch.setattr(_threads.time, "monotonic", lambda: 0.2)
    monkeypatch.setattr(_threads.time, "sleep", lambda seconds: pytest.fail("waited"))
    assert _threads.free_cores() == expected


def test_answer_reused_then_measured_again(monkeypatch):
    calls = []
    monkeypatch.setattr(_threads, "_others_busy_cores", lambda start, end, cores: calls.append(end) or 0.0)
    assert _threads.free_cores(reuse=60.0, window=0.0) == 2 and _threads.free_cores(reuse=60.0, window=0.0) == 2
    assert len(calls) == 1
    assert _threads.free_cores(reuse=0.0, window=0.0) == 2 and len(calls) == 2


def test_load_average_without_proc(monkeypatch):
    monkeypatch.setattr(_threads, "_cpu_times", lambda: None)
    monkeypatch.setattr(_threads.os, "getloadavg", lambda: (1.7, 0.0, 0.0))
    assert _threads.free_cores(window=0.0) == 1
    monkeypatch.setattr(_threads, "_last_answer", [-1e9, 1])
    monkeypatch.setattr(_threads.os, "getloadavg", lambda: (0.1, 0.0, 0.0))
    assert _threads.free_cores(window=0.0) == 2


@pytest.fixture
def limits(monkeypatch):
    """The threadpoolctl limits asked for, as (limits, user_api); each call returns "context"."""
    calls = []

    class Controller:
        def limit(self, limits, user_api):
            calls.append((limits, user_api))
            return "context"

    monkeypatch.setattr(_threads, "_controller", lambda: Controller())
    return calls


@pytest.mark.parametrize("order, free, expected", [(50, 2, 1), (999, 2, 1), (1000, 2, 2), (1160, 1, 1)])
def test_blas_threads_for(monkeypatch, limits, order, free, expected):
    monkeypatch.setattr(_threads, "free_cores", lambda: free)
    assert _threads.blas_threads_for(order) == "context"
    assert limits == [(expected, "blas")]


@pytest.mark.parametrize("order, free, expected", [(50, 2, None), (999, 2, None), (1000, 2, 2), (1160, 1, 1)])
def test_lapack_threads_for(monkeypatch, limits, order, free, expected):
    """Below order 1000 no threadpoolctl call at all (the fit's one thread stands); above, one per free core."""
    monkeypatch.setattr(_threads, "free_cores", lambda: free)
    context = _threads.lapack_threads_for(order)
    assert limits == ([] if expected is None else [(expected, "blas")])
    assert (context == "context") == (expected is not None)


def test_one_worker_thread_per_role():
    first = _threads.worker_thread("test-role")
    assert _threads.worker_thread("test-role") is first
    assert _threads.worker_thread("other-test-role") is not first
    assert first.submit(lambda: threading.current_thread().name).result().startswith("mixedmodels-test-role")
