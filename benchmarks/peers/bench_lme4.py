"""lme4 (R) through an Rscript subprocess: only the lmer() call is timed (proc.time elapsed)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from .common import PeerResult, median

NAME = "lme4"
SCRIPT = Path(__file__).with_name("bench_lme4.R")


def available() -> tuple[bool, str]:
    if shutil.which("Rscript") is None:
        return False, "Rscript not on PATH"
    probe = subprocess.run(
        ["Rscript", "-e", "cat(as.character(packageVersion('lme4')))"], capture_output=True, text=True
    )
    if probe.returncode != 0:
        return False, "R package lme4 not installed"
    return True, f"lme4 {probe.stdout.strip()}"


def run(problem, warmup: int = 1, repeat: int = 3, timeout: float | None = None) -> PeerResult:
    csv, schema = problem.files()
    cmd = ["Rscript", str(SCRIPT), str(csv), str(schema), problem.formula,
           "TRUE" if problem.reml else "FALSE", str(warmup), str(repeat)]
    limit = None if timeout is None else timeout * (warmup + repeat) + 120.0  # + data loading
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=limit)
    except subprocess.TimeoutExpired:
        return PeerResult(NAME, "timeout", note=f"> {timeout:g} s per fit")
    if proc.returncode != 0:
        return PeerResult(NAME, "failed", note=proc.stderr.strip().splitlines()[-1][:200] if proc.stderr else "")
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    times = [float(t) for t in (out["times"] if isinstance(out["times"], list) else [out["times"]])]
    note = "; ".join(out.get("messages") or []) if isinstance(out.get("messages"), list) else (out.get("messages") or "")
    return PeerResult(NAME, "ok", median(times), times, float(out["objective"]),
                      list(out["theta"]) if isinstance(out["theta"], list) else [out["theta"]],
                      list(out["beta"]) if isinstance(out["beta"], list) else [out["beta"]], note)
