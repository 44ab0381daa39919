"""The thread policy: BLAS threads only for large dense blocks, one per core no other process holds."""

from __future__ import annotations

import pytest

from mixedmodels import _threads


@pytest.fixture(autouse=True)
def fresh_answer(monkeypatch):
    monkeypatch.setattr(_threads, "_last_answer", [-1e9, 1])
    monkeypatch.setattr(_threads.os, "cpu_count", lambda: 2)


@pytest.mark.parametrize("idle_jiffies, expected", [(0, 1), (2, 1), (5, 1), (12, 1), (15, 1), (18, 2), (20, 2)])
def test_free_cores_from_the_idle_share_of_the_window(monkeypatch, idle_jiffies, expected):
    """20 jiffies pass on 2 cores; a core is free when at most a quarter of it is busy elsewhere.
    One core spinning in another process (10 idle jiffies) leaves one."""
    samples = iter([(100.0, 1000.0), (100.0 + idle_jiffies, 1020.0)])
    monkeypatch.setattr(_threads, "_cpu_times", lambda: next(samples))
    assert _threads.free_cores(window=0.0) == expected


def test_answer_reused_then_measured_again(monkeypatch):
    calls = []
    monkeypatch.setattr(_threads, "_measure_idle_cores", lambda window, cores: calls.append(window) or 2.0)
    assert _threads.free_cores(reuse=60.0) == 2 and _threads.free_cores(reuse=60.0) == 2
    assert len(calls) == 1
    assert _threads.free_cores(reuse=0.0) == 2 and len(calls) == 2


def test_load_average_without_proc(monkeypatch):
    monkeypatch.setattr(_threads, "_cpu_times", lambda: None)
    monkeypatch.setattr(_threads.os, "getloadavg", lambda: (1.7, 0.0, 0.0))
    assert _threads.free_cores(window=0.0) == 1
    monkeypatch.setattr(_threads, "_last_answer", [-1e9, 1])
    monkeypatch.setattr(_threads.os, "getloadavg", lambda: (0.1, 0.0, 0.0))
    assert _threads.free_cores(window=0.0) == 2


@pytest.mark.parametrize("order, free, expected", [(50, 2, 1), (999, 2, 1), (1000, 2, 2), (1160, 1, 1)])
def test_blas_threads_for(monkeypatch, order, free, expected):
    calls = []

    class Controller:
        def limit(self, limits, user_api):
            calls.append((limits, user_api))
            return "context"

    monkeypatch.setattr(_threads, "_controller", lambda: Controller())
    monkeypatch.setattr(_threads, "free_cores", lambda: free)
    assert _threads.blas_threads_for(order) == "context"
    assert calls == [(expected, "blas")]
