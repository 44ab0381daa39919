"""glmer fit times beside lme4's glmer: cbpp (binomial, Laplace and nAGQ = 25) and grouseticks (Poisson).

Usage: python benchmarks/bench_glmm.py [--repeat N] [--no-r]

Median wall time of N fits after one warm-up, ours (``mixedmodels.glmer``) and lme4's (Rscript,
the glmer call alone, benchmarks/peers/bench_lme4_glmm.R), the ratio ours / lme4 (< 1: faster),
and both −2 log-likelihoods (lme4's nAGQ > 1 value is relative to the saturated model).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import time
import warnings
from pathlib import Path

import mixedmodels as mm
from mixedmodels import datasets

DATA = Path(datasets.__file__).resolve().parent / "data"
R_SCRIPT = Path(__file__).resolve().parent / "peers" / "bench_lme4_glmm.R"
PROBLEMS = [
    ("cbpp", "cbind(incidence, size - incidence) ~ period + (1 | herd)", "binomial", 1),
    ("cbpp", "cbind(incidence, size - incidence) ~ period + (1 | herd)", "binomial", 25),
    ("grouseticks", "TICKS ~ YEAR + cHEIGHT + (1 | BROOD) + (1 | INDEX) + (1 | LOCATION)", "poisson", 1),
]


def time_ours(name, formula, family, n_agq, repeat):
    data = datasets.load(name)
    times, fit = [], None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mm.glmer(formula, data, family=family, nAGQ=n_agq)
        for _ in range(repeat):
            start = time.perf_counter()
            fit = mm.glmer(formula, data, family=family, nAGQ=n_agq)
            times.append(time.perf_counter() - start)
    return statistics.median(times), fit.objective


def time_lme4(name, formula, family, n_agq, repeat):
    out = subprocess.run(["Rscript", str(R_SCRIPT), str(DATA / f"{name}.csv"), str(DATA / f"{name}.schema.json"),
                          formula, family, str(n_agq), "1", str(repeat)], capture_output=True, text=True, check=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    return statistics.median(result["times"]), result["objective"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--no-r", action="store_true", help="skip lme4 (no R installed)")
    args = parser.parse_args()
    print(f"{'model':<22} {'nAGQ':>4} {'ours s':>8} {'lme4 s':>8} {'ratio':>6} {'ours -2logL':>12} {'lme4 -2logL':>12}")
    for name, formula, family, n_agq in PROBLEMS:
        ours, our_obj = time_ours(name, formula, family, n_agq, args.repeat)
        theirs, their_obj = (float("nan"),) * 2 if args.no_r else time_lme4(name, formula, family, n_agq, args.repeat)
        print(f"{name + ' ' + family:<22} {n_agq:>4} {ours:>8.3f} {theirs:>8.3f} {ours / theirs:>6.2f} "
              f"{our_obj:>12.4f} {their_obj:>12.4f}")


if __name__ == "__main__":
    main()
