"""The BLAS thread policy: threads only for large dense blocks and only with an idle core."""

from __future__ import annotations

import pytest

from mixedmodels import _threads


@pytest.fixture(autouse=True)
def fresh_answer(monkeypatch):
    monkeypatch.setattr(_threads, "_last_answer", [-1e9, False])
    monkeypatch.setattr(_threads.os, "cpu_count", lambda: 2)


@pytest.mark.parametrize("idle_jiffies, expected", [(0, False), (2, False), (5, True), (20, True)])
def test_idle_share_of_the_window(monkeypatch, idle_jiffies, expected):
    samples = iter([(100.0, 1000.0), (100.0 + idle_jiffies, 1020.0)])  # 20 jiffies pass on 2 cores
    monkeypatch.setattr(_threads, "_cpu_times", lambda: next(samples))
    assert _threads._idle_core(window=0.0) is expected


def test_answer_reused_then_measured_again(monkeypatch):
    calls = []
    monkeypatch.setattr(_threads, "_measure_idle_core", lambda window: calls.append(window) or True)
    assert _threads._idle_core(reuse=60.0) and _threads._idle_core(reuse=60.0)
    assert len(calls) == 1
    assert _threads._idle_core(reuse=0.0) and len(calls) == 2


def test_load_average_without_proc(monkeypatch):
    monkeypatch.setattr(_threads, "_cpu_times", lambda: None)
    monkeypatch.setattr(_threads.os, "getloadavg", lambda: (1.7, 0.0, 0.0))
    assert not _threads._idle_core(window=0.0)
    monkeypatch.setattr(_threads, "_last_answer", [-1e9, False])
    monkeypatch.setattr(_threads.os, "getloadavg", lambda: (0.4, 0.0, 0.0))
    assert _threads._idle_core(window=0.0)
