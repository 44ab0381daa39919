"""glmer fit times beside lme4 (and mixedlm for the families beyond binomial/Poisson).

Usage: python benchmarks/bench_glmm.py [--repeat N] [--no-r] [--no-mixedlm] [--timeout S]
                                       [--only families|classic|speed] [--large]

Median wall and CPU time of N fits after one warm-up: ours (``mixedmodels.glmer`` / ``glmer_nb``),
R's (Rscript, the fitting call alone, benchmarks/peers/bench_lme4_glmm.R: lme4's glmer/glmer.nb, or
glmmTMB for nbinom1) and, for the families of issue 14 and the
speed problems, mixedlm's (``mixedlm.glmer`` / ``glmer_nb``, in a child process with a per-fit
timeout); the ratios ours / peer (< 1: faster) and the −2 log-likelihoods (lme4's nAGQ > 1 value is
relative to the saturated model; mixedlm's Gamma/inverse Gaussian criterion is not lme4's).
On a shared machine wall times are provisional: the CPU columns are the steadier comparison.

``--only speed`` times issue 15's simulated problems (binomial ``(1 + x | g)`` and Poisson ``(1 | g)`` at
10⁵ rows × 10³ groups, crossed binomial ``(1 | g) + (1 | h)`` at 10⁵ rows; ``--large`` adds the 10⁶ × 10⁴
versions) beside lme4 and mixedlm. Their data are simulated once (seed 20240601) into
``benchmarks/.cache/`` as CSV + schema, which every peer reads.
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

import numpy as np
import pandas as pd

import mixedmodels as mm
from mixedmodels import datasets
from mixedmodels.datasets import read_csv_with_schema

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))
DATA = Path(datasets.__file__).resolve().parent / "data"
FAMILY_DATA = ROOT.parent / "tests" / "reference" / "glmm_families"
R_SCRIPT = ROOT / "peers" / "bench_lme4_glmm.R"
CACHE = ROOT / ".cache"
SEED = 20240601
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
    ("grouseticks nbinom1", FAMILY_DATA / "grouseticks.csv", GROUSE, "nbinom1", "glmmTMB:nbinom1", None, 1),
    ("sim Gamma log (1+x|g)", FAMILY_DATA / "gamma_sim.csv", "y_gamma ~ x + (1 + x | g)", ("Gamma", "log"),
     "Gamma:log", ("Gamma", "LogLink"), 1),
    ("sim inv.Gauss log (1|g)", FAMILY_DATA / "gamma_sim.csv", "y_ig ~ x + (1 | g)", ("inverse_gaussian", "log"),
     "inverse.gaussian:log", ("InverseGaussian", "LogLink"), 1),
]


def simulate_glmm(kind: str, n: int, n_g: int, n_h: int = 0, seed: int = SEED) -> pd.DataFrame:
    """Deterministic GLMM data: η = β₀ + β₁x + b0[g] + b1[g]·x (+ c[h]); balanced g (n / n_g rows per
    level) for one term, g and h drawn at random for crossed designs.

    ``kind``: "binomial" (0/1 response, β = (−0.5, 1), sd(b0) = 1, sd(b1) = 0.5, corr 0.3),
    "poisson" (counts, β = (0.5, 0.3), sd(b0) = 0.5, no slope) or "crossed" (0/1, β = (−0.5, 1),
    sd(b0) = 1, sd(c) = 0.7, no slope).
    """
    rng = np.random.default_rng(seed)
    if n_h == 0:
        g = np.repeat(np.arange(n_g), n // n_g)
        rng.shuffle(g)
    else:
        g = rng.integers(0, n_g, n)
        g[:n_g] = np.arange(n_g)
    x = np.round(rng.standard_normal(n), 6)
    if kind == "poisson":
        b0 = rng.normal(0.0, 0.5, n_g)
        y = rng.poisson(np.exp(0.5 + 0.3 * x + b0[g]))
    else:
        cov = np.array([[1.0, 0.15], [0.15, 0.25]])
        b = rng.multivariate_normal(np.zeros(2), cov, size=n_g)
        eta = -0.5 + x + b[g, 0] + (b[g, 1] * x if kind == "binomial" else 0.0)
        if n_h:
            h = rng.integers(0, n_h, n)
            h[:n_h] = np.arange(n_h)
            eta = eta + rng.normal(0.0, 0.7, n_h)[h]
        y = (rng.random(n) < 1.0 / (1.0 + np.exp(-eta))).astype(np.int64)
    width = len(str(max(n_g, n_h)))
    cols = {"y": y, "x": x, "g": pd.Categorical.from_codes(g, [f"g{i + 1:0{width}d}" for i in range(n_g)])}
    if n_h:
        cols["h"] = pd.Categorical.from_codes(h, [f"h{i + 1:0{width}d}" for i in range(n_h)])
    return pd.DataFrame(cols)


def simulated_csv(kind: str, n: int, n_g: int, n_h: int = 0) -> Path:
    """The CSV (and its schema beside it) of :func:`simulate_glmm`, written on first use."""
    stem = f"glmm_{kind}_{n:.0e}_{n_g}".replace("+0", "")
    csv, schema = CACHE / f"{stem}.csv", CACHE / f"{stem}.schema.json"
    if not (csv.exists() and schema.exists()):
        CACHE.mkdir(exist_ok=True)
        frame = simulate_glmm(kind, n, n_g, n_h)
        columns = {name: ({"type": "factor", "levels": list(frame[name].cat.categories),
                           "contrasts": "contr.treatment"} if isinstance(frame[name].dtype, pd.CategoricalDtype)
                          else {"type": "integer" if name == "y" else "numeric"}) for name in frame.columns}
        frame.to_csv(csv, index=False)
        schema.write_text(json.dumps({"file": csv.name, "nrow": n, "seed": SEED, "columns": columns}, indent=1))
    return csv


def speed_problems(large: bool):
    """Issue 15's GLMM problems (see the module docstring)."""
    sizes = [(100_000, 1_000)] + ([(1_000_000, 10_000)] if large else [])
    problems = []
    for n, n_g in sizes:
        tag = f"{n:.0e}".replace("+0", "")
        problems.append((f"sim binomial (1+x|g) {tag}", simulated_csv("binomial", n, n_g), "y ~ x + (1 + x | g)",
                         "binomial", "binomial", ("Binomial", "LogitLink"), 1))
        problems.append((f"sim poisson (1|g) {tag}", simulated_csv("poisson", n, n_g), "y ~ x + (1 | g)",
                         "poisson", "poisson", ("Poisson", "LogLink"), 1))
    problems.append(("sim binomial (1|g)+(1|h) 1e5", simulated_csv("crossed", 100_000, 1_000, 100),
                     "y ~ x + (1 | g) + (1 | h)", "binomial", "binomial", ("Binomial", "LogitLink"), 1))
    return problems


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
    """The R peer: lme4's glmer/glmer.nb, or glmmTMB for a family spelled "glmmTMB:<family>"."""
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
    parser.add_argument("--only", choices=["families", "classic", "speed"], default=None)
    parser.add_argument("--large", action="store_true", help="with --only speed: add the 10^6-row problems")
    args = parser.parse_args()
    if args.only == "speed":
        problems = speed_problems(args.large)
    else:
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
