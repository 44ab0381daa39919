"""Power by simulation, 1000 replicates: ours vs lme4 + lmerTest refits in an R loop, and mixedlm's powerSim.

    python benchmarks/bench_power.py [--nsim 1000] [--n-jobs 1] [--repeat 1] [--no-r] [--no-mixedlm]

Two problems, each a t test of one coefficient with Satterthwaite df at α = 0.05:

* petri: the lecture's petri-dish design, 3 groups × 10 dishes × 5 counts, dish sd 8, residual
  sd 5, Antibiotic A 10 below Control; test ``groupAntibioticA``;
* sleepstudy: ``Reaction ~ Days + (Days | Subject)``, the REML fit's estimates with a Days effect
  of 4; test ``Days``.

Ours: :func:`mixedmodels.power` (refits from the truth, lme4's convergence checks, lmerTest's
Satterthwaite t test). R (skipped cleanly when R, lme4 or lmerTest is missing): responses from
``simulate(fit, newparams = ...)``, each refitted by ``lme4::refit`` and tested by
``summary(as_lmerModLmerTest(m))`` — what simr's ``powerSim`` does per replicate, without simr's
own overhead (simr is not a Debian package); only the loop is timed. mixedlm (when installed):
``mixedlm.powerSim(fit, test=name)``, whose named-parameter test is a Wald test, not a t test with
Satterthwaite df — timed for scale only. Best of ``--repeat`` runs; the machine may be shared, so
the timings are provisional. Prints the power and seconds per side and the ratios.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

import mixedmodels as mm
from mixedmodels.power.design import as_design
from mixedmodels.simulate import draw_effects, draw_responses

PETRI_FORMULA = "y ~ group + (1 | dish_id)"
SLEEP_FORMULA = "Reaction ~ Days + (Days | Subject)"

R_SCRIPT = r"""
suppressPackageStartupMessages({library(lme4); library(lmerTest)})
args <- commandArgs(TRUE)
d <- read.csv(args[1], stringsAsFactors = TRUE)
formula <- as.formula(args[2]); name <- args[3]; nsim <- as.integer(args[4])
beta <- as.numeric(strsplit(args[5], ",")[[1]]); theta <- as.numeric(strsplit(args[6], ",")[[1]])
sigma <- as.numeric(args[7]); repeats <- as.integer(args[8])
if ("dish_id" %in% names(d)) d$dish_id <- factor(d$dish_id)
if ("group" %in% names(d)) d$group <- factor(d$group, levels = c("Control", "AntibioticA", "AntibioticB"))
if ("Subject" %in% names(d)) d$Subject <- factor(d$Subject)
m <- lme4::lmer(formula, d)
Y <- suppressMessages(simulate(m, nsim = nsim, seed = 1, newparams = list(beta = beta, theta = theta, sigma = sigma)))
one <- function(y) {
  r <- refit(m, y)
  summary(lmerTest::as_lmerModLmerTest(r))$coefficients[name, "Pr(>|t|)"]
}
invisible(one(Y[[1]]))  # warm-up
elapsed <- sapply(seq_len(repeats), function(i) system.time(p <<- vapply(Y, one, 0.0))[["elapsed"]])
cat(min(elapsed), mean(p < 0.05), "\n")
"""


def petri_design():
    return mm.design(PETRI_FORMULA, groups={"group": ["Control", "AntibioticA", "AntibioticB"]}, clusters=10,
                     per_cluster=5, fixef={"(Intercept)": 100.0, "groupAntibioticA": -10.0, "groupAntibioticB": -40.0},
                     varcorr={"dish_id": 64.0}, sigma=5.0)


def sleep_design():
    fit = mm.lmer(SLEEP_FORMULA, mm.datasets.load("sleepstudy"))
    return as_design(fit).with_effects({"Days": 4.0})


def time_ours(design, test, nsim, n_jobs, repeat):
    mm.power(design, test, nsim=20, seed=0, progress=False)  # warm-up (compiled kernels, imports)
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        result = mm.power(design, test, nsim=nsim, seed=1, progress=False, n_jobs=n_jobs)
        times.append(time.perf_counter() - start)
    return min(times), result.power


def time_r(design, test, nsim, repeat):
    if shutil.which("Rscript") is None:
        return None
    truth = design.build()
    with tempfile.TemporaryDirectory() as tmp:
        csv = Path(tmp) / "data.csv"
        design.data.to_csv(csv, index=False)
        script = Path(tmp) / "power.R"
        script.write_text(R_SCRIPT)
        numbers = [",".join(repr(float(v)) for v in values) for values in (truth.beta, truth.theta, [truth.sigma])]
        args = [str(csv), design.formula, test, str(nsim), *numbers, str(repeat)]
        proc = subprocess.run(["Rscript", str(script), *args], capture_output=True, text=True)
    if proc.returncode != 0:
        print("  R skipped:", proc.stderr.strip().splitlines()[-1] if proc.stderr else "Rscript failed")
        return None
    seconds, power = proc.stdout.split()
    return float(seconds), float(power)


def time_mixedlm(design, test, nsim):
    try:
        import mixedlm
    except ImportError:
        return None
    truth = design.build()
    rng = np.random.default_rng(0)
    terms = truth.design.terms
    b = draw_effects(truth.templates, truth.sigma, [t.n_levels for t in terms], 1, rng)
    y = draw_responses(truth.beta, truth.sigma, truth.design.X, [(t.codes, t.z) for t in terms], None, None, b, rng)[:, 0]
    response = truth.spec.response
    data = design.data.assign(**{response: y})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = mixedlm.lmer(design.formula, data, REML=True)
        # mixedlm names factor columns group.1, group.2: the same column by position
        name = fit.matrices.fixed_names[list(truth.design.fixed.column_names).index(test)]
        start = time.perf_counter()
        result = mixedlm.powerSim(fit, test=name, nsim=nsim, seed=1)
    return time.perf_counter() - start, float(result.power)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nsim", type=int, default=1000)
    parser.add_argument("--n-jobs", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=1, help="timed runs per side; the fastest is reported")
    parser.add_argument("--no-r", action="store_true")
    parser.add_argument("--no-mixedlm", action="store_true")
    args = parser.parse_args()
    print(f"power by simulation, {args.nsim} replicates (timings provisional: the machine may be shared)")
    for name, design, test in [("petri", petri_design(), "groupAntibioticA"), ("sleepstudy", sleep_design(), "Days")]:
        ours, power = time_ours(design, test, args.nsim, args.n_jobs, args.repeat)
        print(f"{name:>10}  ours (n_jobs={args.n_jobs}): {ours:8.2f} s  power {power:.3f}  "
              f"({1000 * ours / args.nsim:.1f} ms per replicate)")
        r = None if args.no_r else time_r(design, test, args.nsim, args.repeat)
        if r is not None:
            print(f"{'':>10}  lme4 + lmerTest loop: {r[0]:8.2f} s  power {r[1]:.3f}  ratio {r[0] / ours:.1f}x")
        m = None if args.no_mixedlm else time_mixedlm(design, test, args.nsim)
        if m is not None:
            print(f"{'':>10}  mixedlm powerSim (Wald): {m[0]:8.2f} s  power {m[1]:.3f}  ratio {m[0] / ours:.1f}x")


if __name__ == "__main__":
    main()
