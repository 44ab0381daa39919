"""Parametric bootstrap of sleepstudy ``Reaction ~ Days + (Days | Subject)`` (REML): ours vs lme4's bootMer.

    python benchmarks/bench_bootstrap.py [--nsim 1000] [--n-jobs 1]

Both sides compute the same statistics per replicate (fixed effects, sd/cor of the random
effects, σ) on the same data; only the bootstrap loop is timed (lme4: ``system.time(bootMer(...))``
in an Rscript subprocess, skipped cleanly when R or lme4 is missing), best of ``--repeat`` runs per
side after a warm-up, because a shared machine's load changes the times by 2× from run to run.
Prints the times and the ratio.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import tempfile
import time
import warnings
from pathlib import Path

from mixedmodels import bootstrap, datasets, lmer

FORMULA = "Reaction ~ Days + (Days | Subject)"
R_SCRIPT = """
suppressMessages(library(lme4))
args <- commandArgs(TRUE)
d <- read.csv(args[1]); d$Subject <- factor(d$Subject)
m <- lmer(Reaction ~ Days + (Days | Subject), d)
stat <- function(f) { v <- as.data.frame(VarCorr(f))$sdcor; c(fixef(f), v[1], v[3], v[2], v[4]) }  # our order
invisible(bootMer(m, stat, nsim = 10, seed = 1))  # warm-up
elapsed <- sapply(seq_len(as.integer(args[3])), function(i)
  system.time(b <<- bootMer(m, stat, nsim = as.integer(args[2]), seed = 1))[["elapsed"]])
cat(min(elapsed), "\\n")
cat(colMeans(b$t, na.rm = TRUE), "\\n")
"""


def time_ours(nsim: int, n_jobs: int, repeat: int) -> tuple[float, object]:
    data = datasets.load("sleepstudy")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = lmer(FORMULA, data)
        bootstrap(fit, nsim=10, seed=0, progress=False)  # warm-up (numba kernels, imports)
        times = []
        for _ in range(repeat):
            start = time.perf_counter()
            out = bootstrap(fit, nsim=nsim, seed=1, progress=False, n_jobs=n_jobs)
            times.append(time.perf_counter() - start)
    return min(times), out


def time_lme4(nsim: int, repeat: int) -> tuple[float, list[float]] | None:
    if shutil.which("Rscript") is None:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        csv = Path(tmp) / "sleepstudy.csv"
        datasets.load("sleepstudy").to_csv(csv, index=False)
        script = Path(tmp) / "boot.R"
        script.write_text(R_SCRIPT)
        proc = subprocess.run(["Rscript", str(script), str(csv), str(nsim), str(repeat)], capture_output=True, text=True)
    if proc.returncode != 0:
        print("lme4 skipped:", proc.stderr.strip().splitlines()[-1] if proc.stderr else "Rscript failed")
        return None
    lines = proc.stdout.strip().splitlines()
    return float(lines[0]), [float(v) for v in lines[1].split()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nsim", type=int, default=1000)
    parser.add_argument("--n-jobs", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=2, help="timed runs per side; the fastest is reported")
    args = parser.parse_args()
    ours, replicates = time_ours(args.nsim, args.n_jobs, args.repeat)
    print(f"ours  ({args.nsim} replicates, n_jobs={args.n_jobs}): {ours:8.2f} s  "
          f"({1000 * ours / args.nsim:.2f} ms per refit)")
    print("      replicate means:", " ".join(f"{v:.4g}" for v in replicates.mean().to_numpy()))
    lme4 = time_lme4(args.nsim, args.repeat)
    if lme4 is None:
        print("lme4: not available")
        return
    seconds, means = lme4
    print(f"lme4  bootMer ({args.nsim} replicates): {seconds:8.2f} s")
    print("      replicate means:", " ".join(f"{v:.4g}" for v in means))
    print(f"ratio lme4 / ours: {seconds / ours:.1f}x")


if __name__ == "__main__":
    main()
