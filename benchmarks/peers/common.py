"""Shared result type and timing helper for the peer adapters."""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field
from typing import Callable


@dataclass
class PeerResult:
    """One peer on one problem.

    status: "ok", "skipped" (peer not installed / problem not expressible), "failed" or "timeout".
    seconds: median over the timed repeats (the warm-up runs are not counted).
    objective: -2 log-likelihood on lme4's scale (REML criterion for REML fits, deviance for ML),
    or None when the peer does not expose it.
    """

    peer: str
    status: str
    seconds: float | None = None
    times: list[float] = field(default_factory=list)
    objective: float | None = None
    theta: list[float] | None = None
    beta: list[float] | None = None
    note: str = ""

    @classmethod
    def skipped(cls, peer: str, note: str) -> "PeerResult":
        return cls(peer, "skipped", note=note)


def time_fits(fit: Callable[[], object], warmup: int, repeat: int) -> tuple[list[float], object]:
    """Call ``fit`` ``warmup`` times untimed, then ``repeat`` times timed; return (times, last fit)."""
    for _ in range(warmup):
        fit()
    times, last = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        last = fit()
        times.append(time.perf_counter() - t0)
    return times, last


def median(times: list[float]) -> float | None:
    return statistics.median(times) if times else None


def run_in_child(
    peer: str,
    fit: Callable[[], object],
    extract: Callable[[object], tuple[float | None, list[float] | None, list[float] | None]],
    warmup: int,
    repeat: int,
    timeout: float | None,
) -> PeerResult:
    """Run ``fit`` in a forked child so a per-fit ``timeout`` (seconds) can be enforced.

    The child inherits the already-built DataFrame (fork), times each call with perf_counter and
    reports it at once; ``extract(fit_result) -> (objective, theta, beta)`` runs in the child.
    """
    import multiprocessing as mp
    import traceback

    ctx = mp.get_context("fork")
    parent_end, child_end = ctx.Pipe(duplex=False)

    def child() -> None:
        try:
            last = None
            for i in range(warmup + repeat):
                t0 = time.perf_counter()
                last = fit()
                child_end.send(("fit", i, time.perf_counter() - t0))
            objective, theta, beta = extract(last)
            child_end.send(("done", objective, theta, beta))
        except BaseException as exc:  # report, never hang the parent
            child_end.send(("error", f"{type(exc).__name__}: {exc}"[:300], traceback.format_exc()[-2000:]))
        finally:
            child_end.close()

    proc = ctx.Process(target=child, daemon=True)
    proc.start()
    child_end.close()
    times: list[float] = []
    try:
        while True:
            if not parent_end.poll(timeout):
                return PeerResult(peer, "timeout", median(times), times,
                                  note=f"a fit took > {timeout:g} s ({len(times)} timed fits done)")
            try:
                msg = parent_end.recv()
            except EOFError:
                return PeerResult(peer, "failed", note=f"child died (exit code {proc.exitcode})")
            if msg[0] == "fit":
                if msg[1] >= warmup:
                    times.append(msg[2])
            elif msg[0] == "done":
                return PeerResult(peer, "ok", median(times), times, msg[1], msg[2], msg[3])
            else:
                return PeerResult(peer, "failed", note=msg[1])
    finally:
        if proc.is_alive():
            proc.kill()
        proc.join(5)
        parent_end.close()


def as_list(values) -> list[float] | None:
    if values is None:
        return None
    try:
        import numpy as np

        return [float(v) for v in np.asarray(values, dtype=float).ravel()]
    except Exception:
        return None
