"""glmer fit times beside lme4 (and mixedlm for the families beyond binomial/Poisson).

Usage: python benchmarks/bench_glmm.py [--repeat N] [--no-r] [--no-mixedlm] [--timeout S] [--only families|classic]

Median wall and CPU time of N fits after one warm-up: ours (``mixedmodels.glmer`` / ``glmer_nb``),
lme4's (Rscript, the glmer/glmer.nb call alone, benchmarks/peers/bench_lme4_glmm.R) and, for the
families of issue 14, mixedlm's (``mixedlm.glmer`` / ``glmer_nb``, in a child process with a
per-fit timeout); the ratios ours / peer (< 1: faster) and the −2 log-likelihoods (lme4's nAGQ > 1
value is relative to the saturated model; mixedlm's Gamma/inverse Gaussian criterion is not lme4's).
On a shared machine wall times are provisional: the CPU columns are the steadier comparison.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
import warnings
from pathlib import Path

import mixedmodels as mm
from mixedmodels import datasets
from mixedmodels.datasets import read_csv_with_schema

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))
DATA = Path(datasets.__file__).resolve().parent / "data"
FAMILY_DATA = ROOT.parent / "tests" / "reference" / "glmm_families"
R_SCRIPT = ROOT / "peers" / "bench_lme4_glmm.R"
GROUSE = "TICKS ~ YEAR + cHEIGHT + (1 | BROOD) + (1 | LOCATION)"
EPIL = "y ~ lbase * trt + lage + V4 + (1 | subject)"

# (label, csv, formula, ours family, lme4 family spec, mixedlm family or "nb" or None, nAGQ)
CLASSIC = [
    ("cbpp binomial", DATA / "cbpp.csv", "cbind(incidence, size - incidence) ~ period + (1 | herd)", "binomial",
     "binomial", None, 1),
    ("cbpp binomial", DATA / "cbpp.csv", "cbind(incidence, size - incidence) ~ period + (1 | herd)", "binomial",
     "binomial", None, 25),
    ("grouseticks poisson", DATA / "grouseticks.csv",
     "TICKS ~ YEAR + cHEIGHT + (1 | BROOD) + (1 | INDEX) + (1 | LOCATION)", "poisson", "poisson", None, 1),
]
FAMILIES = [
    ("grouseticks glmer_nb", FAMILY_DATA / "grouseticks.csv", GROUSE, "nb", "negbin", "nb", 1),
    ("epil glmer_nb", FAMILY_DATA / "epil.csv", EPIL, "nb", "negbin", "nb", 1),
    ("grouseticks nbinom1", FAMILY_DATA / "grouseticks.csv", GROUSE, "nbinom1", None, None, 1),
    ("sim Gamma log (1+x|g)", FAMILY_DATA / "gamma_sim.csv", "y_gamma ~ x + (1 + x | g)", ("Gamma", "log"),
     "Gamma:log", ("Gamma", "LogLink"), 1),
    ("sim inv.Gauss log (1|g)", FAMILY_DATA / "gamma_sim.csv", "y_ig ~ x + (1 | g)", ("inverse_gaussian", "log"),
     "inverse.gaussian:log", ("InverseGaussian", "LogLink"), 1),
]


def _ours_call(data, formula, family, n_agq):
    if family == "nb":
        return lambda: mm.glmer_nb(formula, data, nAGQ=n_agq)
    fam = mm.families.get_family(*family) if isinstance(family, tuple) else family
    return lambda: mm.glmer(formula, data, family=fam, nAGQ=n_agq)


def time_ours(csv, formula, family, n_agq, repeat):
    data = read_csv_with_schema(csv)
    call = _ours_call(data, formula, family, n_agq)
    wall, cpu, fit = [], [], None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        call()
        for _ in range(repeat):
            w, c = time.perf_counter(), time.process_time()
            fit = call()
            wall.append(time.perf_counter() - w)
            cpu.append(time.process_time() - c)
    return statistics.median(wall), statistics.median(cpu), fit.objective


def time_lme4(csv, formula, family, n_agq, repeat):
    schema = csv.with_name(csv.name.removesuffix(".csv") + ".schema.json")
    out = subprocess.run(["Rscript", str(R_SCRIPT), str(csv), str(schema), formula, family, str(n_agq), "1",
                          str(repeat)], capture_output=True, text=True, check=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    times, cpu = (value if isinstance(value, list) else [value] for value in (result["times"], result["cpu"]))
    return statistics.median(times), statistics.median(cpu), result["objective"]


def time_mixedlm(csv, formula, family, n_agq, repeat, timeout):
    from peers.common import run_in_child

    import mixedlm

    data = read_csv_with_schema(csv)
    if family == "nb":
        def fit():
            return mixedlm.glmer_nb(formula, data, nAGQ=n_agq)
    else:
        fam = getattr(mixedlm.families, family[0])(link=getattr(mixedlm.families, family[1])())

        def fit():
            return mixedlm.glmer(formula, data, family=fam, nAGQ=n_agq)

    def extract(res):
        loglik = res.logLik()
        return -2 * float(getattr(loglik, "value", loglik)), None, None

    result = run_in_child("mixedlm", fit, extract, 1, repeat, timeout)
    return result.status, result.seconds, result.objective


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-r", action="store_true", help="skip lme4 (no R installed)")
    parser.add_argument("--no-mixedlm", action="store_true", help="skip mixedlm")
    parser.add_argument("--timeout", type=float, default=300.0, help="per-fit timeout for mixedlm (seconds)")
    parser.add_argument("--only", choices=["families", "classic"], default=None)
    args = parser.parse_args()
    problems = (CLASSIC if args.only != "families" else []) + (FAMILIES if args.only != "classic" else [])
    print("wall and CPU seconds (medians); ratio = ours / peer, wall clock. PROVISIONAL on a shared machine.")
    print(f"{'model':<25} {'nAGQ':>4} {'ours s':>7} {'cpu':>6} {'lme4 s':>7} {'cpu':>6} {'ratio':>6} "
          f"{'mixedlm s':>9} {'ratio':>6} {'ours -2logL':>12} {'lme4 -2logL':>12} {'mixedlm':>10}")
    nan = float("nan")
    for label, csv, formula, ours_family, r_family, ml_family, n_agq in problems:
        ours, ours_cpu, our_obj = time_ours(csv, formula, ours_family, n_agq, args.repeat)
        lme4, lme4_cpu, lme4_obj = (nan,) * 3
        if not args.no_r and r_family is not None:
            lme4, lme4_cpu, lme4_obj = time_lme4(csv, formula, r_family, n_agq, args.repeat)
        ml, ml_obj, ml_text = nan, nan, "-"
        if not args.no_mixedlm and ml_family is not None:
            status, seconds, objective = time_mixedlm(csv, formula, ml_family, n_agq, args.repeat, args.timeout)
            ml, ml_obj = (seconds or nan), (objective if objective is not None else nan)
            ml_text = f"{ml:9.3f}" if status == "ok" else f"{status:>9}"
        print(f"{label:<25} {n_agq:>4} {ours:>7.3f} {ours_cpu:>6.2f} {lme4:>7.3f} {lme4_cpu:>6.2f} {ours / lme4:>6.2f} "
              f"{ml_text:>9} {ours / ml:>6.2f} {our_obj:>12.4f} {lme4_obj:>12.4f} {ml_obj:>10.2f}", flush=True)


if __name__ == "__main__":
    main()
