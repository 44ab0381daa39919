"""mm.mmrm fit times beside R's mmrm (TMB/C++): us, toep, ar1 and the spatial sp_exp (on the actual,
irregular measurement times) on 200 and 2,000 subjects x 10 visits, and Kenward-Roger on 1,000 x 10 (us).

Usage: python benchmarks/bench_mmrm.py [--repeat N] [--no-r] [--structures us,sp_exp,...]

The data are simulated here (two arms, a baseline covariate, 30% dropout and 5% intermittent missing
visits, each visit measured at the visit number ± 0.3 (TIME); seed fixed) and written to a temporary CSV that both sides read. Times are medians of N
fits after one warm-up: ours (``mixedmodels.mmrm``) and R's (Rscript, the mmrm() call alone,
benchmarks/peers/bench_mmrm.R; set R_LIBS if mmrm is installed in a private library). The ratio is
R / ours (> 1: we are faster). For Kenward-Roger the "df part" is the KR fit's time minus the time of
the same fit with between-within df (no derivative terms).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

import mixedmodels as mm

R_SCRIPT = Path(__file__).resolve().parent / "peers" / "bench_mmrm.R"
FORMULA = "Y ~ BASE + ARM * VISIT + {}({} | USUBJID)"
STRUCTURES = ("us", "toep", "ar1", "sp_exp")


def formula_for(structure: str) -> str:
    """The benchmark's formula: the visit factor, or the actual times for a spatial structure."""
    return FORMULA.format(structure, "TIME" if structure.startswith("sp_") else "VISIT")


def simulate(n_subjects: int, n_visits: int = 10, seed: int = 1) -> pd.DataFrame:
    """A two-arm trial: Σ with sds 3…6 and correlation 0.3 + 0.6·0.7^|i−j|, 30% dropout, 5% missing visits."""
    rng = np.random.default_rng(seed)
    visits = [f"V{k + 1:02d}" for k in range(n_visits)]
    idx = np.arange(n_visits)
    sd = np.linspace(3, 6, n_visits)
    corr = 0.3 + 0.6 * 0.7 ** np.abs(idx[:, None] - idx[None, :])
    np.fill_diagonal(corr, 1.0)
    L = np.linalg.cholesky(np.outer(sd, sd) * corr)
    arm = rng.choice(["PBO", "TRT"], n_subjects)
    base = rng.normal(20, 4, n_subjects)
    y = (10 + 0.3 * base[:, None] + 0.8 * idx[None, :] + (arm == "TRT")[:, None] * idx[None, :] / 3
         + (L @ rng.normal(size=(n_visits, n_subjects))).T)
    data = pd.DataFrame({"USUBJID": np.repeat([f"S{i:05d}" for i in range(n_subjects)], n_visits),
                         "VISIT": np.tile(visits, n_subjects), "ARM": np.repeat(arm, n_visits),
                         "BASE": np.repeat(base, n_visits), "Y": y.ravel()})
    last = np.where(rng.random(n_subjects) < 0.3, rng.integers(1, n_visits, n_subjects), n_visits)
    data = data[np.tile(idx, n_subjects) < np.repeat(last, n_visits)]
    data = data[rng.random(len(data)) > 0.05].reset_index(drop=True)
    jitter = np.random.default_rng(seed + 1).uniform(-0.3, 0.3, len(data))  # own stream: the rest is unchanged
    data["TIME"] = (data["VISIT"].str[1:].astype(int) + jitter).round(3)
    data["VISIT"] = pd.Categorical(data["VISIT"], categories=visits)
    data["ARM"] = pd.Categorical(data["ARM"], categories=["PBO", "TRT"])
    return data


def time_ours(data, formula, method, repeat):
    times, fit = [], None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mm.mmrm(formula, data, method=method)
        for _ in range(repeat):
            start = time.perf_counter()
            fit = mm.mmrm(formula, data, method=method)
            times.append(time.perf_counter() - start)
    return statistics.median(times), fit.objective


def time_r(csv, formula, method, repeat):
    r_method = {"satterthwaite": "Satterthwaite", "kenward-roger": "Kenward-Roger", "between-within": "Between-Within"}[method]
    out = subprocess.run(["Rscript", str(R_SCRIPT), str(csv), formula, r_method, str(repeat)],
                         capture_output=True, text=True, check=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    return statistics.median(result["times"]), result["objective"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-r", action="store_true", help="time ours only")
    parser.add_argument("--structures", default=",".join(STRUCTURES),
                        help="comma-separated structures (default: all; Kenward-Roger runs when us is among them)")
    args = parser.parse_args()
    chosen = [s for s in args.structures.split(",") if s]
    unknown = sorted(set(chosen) - set(STRUCTURES))
    if unknown:
        parser.error(f"unknown structures {unknown}; choose from {', '.join(STRUCTURES)}")
    problems = [(n, s, "satterthwaite") for n in (200, 2000) for s in chosen]
    if "us" in chosen:
        problems += [(1000, "us", "between-within"), (1000, "us", "kenward-roger")]
    print(f"{'subjects':>8} {'cov':>5} {'method':>14} {'ours s':>8} {'R s':>8} {'R/ours':>7} {'-2logL ours - R':>16}")
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        for n, structure, method in problems:
            data = simulate(n)
            csv = Path(tmp) / f"sim_{n}.csv"
            if not csv.exists():
                data.to_csv(csv, index=False)
            formula = formula_for(structure)
            ours, objective = time_ours(data, formula, method, args.repeat)
            theirs, r_objective = (np.nan, np.nan) if args.no_r else time_r(csv, formula, method, args.repeat)
            rows[(n, structure, method)] = (ours, theirs)
            print(f"{n:>8} {structure:>5} {method:>14} {ours:8.3f} {theirs:8.3f} {theirs / ours:7.2f} "
                  f"{objective - r_objective:16.2e}")
    if "us" not in chosen:
        return
    (ours_kr, r_kr), (ours_bw, r_bw) = rows[(1000, "us", "kenward-roger")], rows[(1000, "us", "between-within")]
    noise = " (within timing noise)" if ours_kr <= ours_bw else ""
    print(f"Kenward-Roger, 1000 x 10 us: whole fit ours {ours_kr:.3f} s, R {r_kr:.3f} s ({r_kr / ours_kr:.0f}x); "
          f"df part (KR fit minus between-within fit): ours {ours_kr - ours_bw:.3f} s{noise}, R {r_kr - r_bw:.3f} s")

if __name__ == "__main__":
    main()
