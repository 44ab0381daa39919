"""After-the-fit benchmarks beside R: group-deletion influence on InstEval and 1,000 marginal means.

    python benchmarks/bench_postfit.py [--only influence|emmeans] [--repeat N] [--no-r]
                                       [--lecturers K] [--interaction]

1. Influence (lme4's ``influence(fit, groups = "dept")``): InstEval,
   ``y ~ 1 + service + (1|s) + (1|d) + (1|dept:service)`` (73,421 rows, REML), each of the 14
   levels of ``dept`` deleted in turn and the model refitted from θ̂. Ours:
   ``fit.influence(group="dept", n_jobs=--jobs)`` (worker processes; wall time and the CPU time of
   this process and its children); R: ``influence(fit, groups = "dept", ncores = --r-cores)``
   (benchmarks/peers/bench_postfit.R). Cook's distances and dfbetas are compared (max abs diff).
   ``--lecturers K`` adds the deletion of K lecturers ``d`` (a fixed random sample) on our side
   only: lme4's influence() deletes every level of a column, 1,128 refits, hours in R.
2. Marginal means of a simulated 10⁵-row fit: 2,000 subjects in 40 levels of A (between
   subjects), 50 rows each with B (25 levels) drawn at random per row; ``y ~ A + B + (1|subject)``
   (``--interaction``: ``y ~ A * B``, 1,000 fixed effects; our fit alone took minutes, and this
   variant has not been run against R). Timed: the 1,000 means of A × B and the 19,500 pairwise contrasts of A within each B
   with Tukey's adjustment — ours ``mm.emmeans(fit, ["A", "B"], ddf=...)`` and
   ``em.pairs(by="B")``; R ``summary(emmeans(fit, ~ A * B))`` and
   ``summary(pairs(em, by = "B"))``, with the same df method: asymptotic, and Satterthwaite
   (emmeans' ``lmerTest.limit`` raised above the 10⁵ rows). R's Kenward–Roger (pbkrtest) needs
   n × n matrices (80 GB here) and is not run; ours is timed on its own.

Both sides read the same CSV (simulated data: ``benchmarks/.cache/``, seed fixed). Times are
medians of ``--repeat`` runs after one untimed warm-up, except influence (one run each: minutes;
ours after the full fit, which compiles the kernels). The fits are not timed. Results go to
``benchmarks/results/<date>-<host>-postfit.csv``.
"""

from __future__ import annotations

import argparse
import csv
import datetime as _dt
import json
import os
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import problems as P  # noqa: E402

import mixedmodels as mm  # noqa: E402

R_SCRIPT = HERE / "peers" / "bench_postfit.R"
SEED = 20261130
EMM_STEM = "postfit_emm_1e5"
FIELDS = ["date", "host", "nproc", "load", "benchmark", "peer", "wall", "cpu", "times", "repeat", "agreement", "note"]


# ============================================================================ data
def simulate_emm(seed: int = SEED) -> pd.DataFrame:
    """10⁵ rows: subject i (of 2,000) in level i mod 40 of A; B (25 levels) drawn per row.

    y = 10 + a[A] + b[B] + ab[A, B] + u[subject] + e with a, b ~ N(0, 1), ab ~ N(0, 0.3²),
    u ~ N(0, 1), e ~ N(0, 1.5²); y rounded to 10 decimals (identical doubles in R and Python).
    """
    rng = np.random.default_rng(seed)
    n_a, n_b, n_subjects, per_subject = 40, 25, 2000, 50
    subject = np.repeat(np.arange(n_subjects), per_subject)
    a_code = subject % n_a
    b_code = rng.integers(0, n_b, subject.size)
    a, b = rng.normal(0, 1, n_a), rng.normal(0, 1, n_b)
    ab, u = rng.normal(0, 0.3, (n_a, n_b)), rng.normal(0, 1, n_subjects)
    y = 10 + a[a_code] + b[b_code] + ab[a_code, b_code] + u[subject] + rng.normal(0, 1.5, subject.size)
    return pd.DataFrame({
        "y": np.round(y, 10),
        "A": pd.Categorical.from_codes(a_code, [f"a{i + 1:02d}" for i in range(n_a)]),
        "B": pd.Categorical.from_codes(b_code, [f"b{i + 1:02d}" for i in range(n_b)]),
        "subject": pd.Categorical.from_codes(subject, [f"s{i + 1:04d}" for i in range(n_subjects)]),
    })


def emm_files() -> tuple[Path, Path]:
    """CSV + schema of :func:`simulate_emm` in benchmarks/.cache (written on first use)."""
    csv_path, schema = P.CACHE / f"{EMM_STEM}.csv", P.CACHE / f"{EMM_STEM}.schema.json"
    if csv_path.exists() and schema.exists():
        return csv_path, schema
    P.CACHE.mkdir(exist_ok=True)
    frame = simulate_emm()
    columns = {name: ({"type": "factor", "levels": list(frame[name].cat.categories), "contrasts": "contr.treatment"}
                      if isinstance(frame[name].dtype, pd.CategoricalDtype) else {"type": "numeric"})
               for name in frame.columns}
    tmp = csv_path.with_suffix(".csv.tmp")
    frame.to_csv(tmp, index=False, float_format="%.10f")
    tmp.replace(csv_path)
    schema.write_text(json.dumps({"file": csv_path.name, "nrow": len(frame), "seed": SEED, "columns": columns}, indent=1))
    return csv_path, schema


# ============================================================================ helpers
def cpu_seconds() -> float:
    """CPU time (user + system) of this process and of its finished children."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def timed(call):
    wall, cpu = time.perf_counter(), cpu_seconds()
    value = call()
    return value, time.perf_counter() - wall, cpu_seconds() - cpu


def run_r(args: list[str], timeout: float) -> dict | None:
    """The JSON line of bench_postfit.R, or None when it takes longer than ``timeout`` seconds."""
    try:
        proc = subprocess.run(["Rscript", str(R_SCRIPT), *args], capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None
    if proc.returncode != 0:
        raise RuntimeError(f"Rscript failed: {proc.stderr.strip()[-800:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def fmt(seconds: float | None) -> str:
    if seconds is None or not np.isfinite(seconds):
        return "—"
    return f"{seconds * 1000:.3g} ms" if seconds < 0.1 else f"{seconds:.3g} s"


def max_abs(a, b) -> float:
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    both = np.isfinite(a) & np.isfinite(b)
    if not np.array_equal(np.isfinite(a), np.isfinite(b)):
        return float("inf")
    return float(np.max(np.abs(a[both] - b[both]), initial=0.0))


def max_rel(a, b) -> float:
    """max |a/b − 1| over the finite pairs (0 when both are infinite, as asymptotic df are)."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    both = np.isfinite(a) & np.isfinite(b)
    return float(np.max(np.abs(a[both] / b[both] - 1), initial=0.0))


# ============================================================================ 1. influence
def bench_influence(args, rows: list[dict]) -> None:
    problem = P.get("insteval")
    data = problem.load()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit, fit_wall, _ = timed(lambda: mm.lmer(problem.formula, data))
    print(f"\n## Influence: InstEval {problem.formula} ({len(data):,} rows); our fit {fmt(fit_wall)} (not timed below)")
    infl, wall, cpu = timed(lambda: fit.influence(group="dept", n_jobs=args.jobs, progress=False))
    print(f"ours  dept (14 refits, n_jobs={args.jobs}): wall {fmt(wall)}, CPU {fmt(cpu)} "
          f"(this process + workers; {os.cpu_count()} cores), all converged: {bool(infl.converged.all())}")
    ours_row = {"benchmark": "influence dept (14 refits)", "peer": "ours", "wall": wall, "cpu": cpu,
                "times": [wall], "repeat": 1, "note": f"n_jobs={args.jobs}"}
    rows.append(ours_row)
    r_row = None
    if not args.no_r:
        csv_path, schema = problem.files()
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "influence.csv"
            result = run_r(["influence", str(csv_path), str(schema), problem.formula, "dept", str(args.r_cores), str(out)],
                           args.r_timeout)
            theirs = None if result is None else pd.read_csv(out, dtype={"group": str}).set_index("group")
        if result is None:
            print(f"lme4  influence: timeout (> {args.r_timeout:g} s)")
            rows.append({"benchmark": "influence dept (14 refits)", "peer": "lme4", "wall": float("nan"),
                         "cpu": float("nan"), "times": [], "repeat": 1, "note": f"timeout > {args.r_timeout:g} s"})
            return
        cooks = max_abs(infl.cooks_distance.reindex(theirs.index), theirs["cooks"])
        dfbetas = infl.dfbetas.reindex(theirs.index)
        dfb = max_abs(dfbetas.to_numpy(), theirs[list(dfbetas.columns)].to_numpy())
        rel = float(np.max(np.abs(infl.cooks_distance.reindex(theirs.index) / theirs["cooks"] - 1)))
        agreement = f"max|ΔCook| {cooks:.2e} (rel {rel:.1e}), max|Δdfbetas| {dfb:.2e}"
        print(f"lme4  influence(groups = 'dept', ncores = {args.r_cores}): wall {fmt(result['elapsed'])}, "
              f"CPU {fmt(result['cpu'])}; R/ours wall {result['elapsed'] / wall:.1f}×; "
              f"{result['converged']}/14 converged; REML criterion |ours − lme4| "
              f"{abs(fit.objective - float(result['objective'])):.1e}")
        print(f"      agreement: {agreement}; Cook's distance range {theirs['cooks'].min():.3g}–{theirs['cooks'].max():.3g}")
        ours_row["agreement"] = agreement
        r_row = {"benchmark": "influence dept (14 refits)", "peer": "lme4", "wall": result["elapsed"],
                 "cpu": result["cpu"], "times": [result["elapsed"]], "repeat": 1, "agreement": agreement,
                 "note": f"ncores={args.r_cores}; lme4 {result['versions']['lme4']}"}
        rows.append(r_row)
    if args.lecturers:
        rng = np.random.default_rng(SEED)
        keep = set(rng.choice(np.asarray(data["d"].cat.categories), args.lecturers, replace=False))
        # influence() deletes every level of a column: time K of the 1,128 refits through its refitter
        from mixedmodels.postfit.influence import _Refitter

        refitter = _Refitter(fit)
        masks = [(data["d"] != level).to_numpy() for level in sorted(keep)]
        _, wall_d, cpu_d = timed(lambda: refitter.run(masks))
        print(f"ours  {args.lecturers} lecturers d deleted one at a time (1 process): wall {fmt(wall_d)}, "
              f"{fmt(wall_d / args.lecturers)} a refit; all 1,128 would take ~{wall_d / args.lecturers * 1128 / 60:.0f} min "
              f"on one core")
        rows.append({"benchmark": f"influence d ({args.lecturers} of 1128 refits)", "peer": "ours", "wall": wall_d,
                     "cpu": cpu_d, "times": [wall_d], "repeat": 1, "note": "one process"})


# ============================================================================ 2. emmeans
def bench_emmeans(args, rows: list[dict]) -> None:
    csv_path, schema = emm_files()
    data = P.read_csv_with_schema(csv_path, schema)
    formula = "y ~ A * B + (1 | subject)" if args.interaction else "y ~ A + B + (1 | subject)"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit, fit_wall, _ = timed(lambda: mm.lmer(formula, data))
    print(f"\n## Marginal means: {formula}, {len(data):,} rows, {fit.design.fixed.n_columns} fixed effects; "
          f"our fit {fmt(fit_wall)} (not timed below)")

    def ours(ddf):
        def run():
            em = mm.emmeans(fit, ["A", "B"], ddf=ddf)
            return em, em.pairs(by="B")
        run()  # warm-up; also makes the df method's per-fit pieces (cached on the fit; lmerTest makes its when fitting)
        times, cpus = [], []
        for _ in range(args.repeat):
            value, wall, cpu = timed(run)
            times.append(wall)
            cpus.append(cpu)
        return value, times, cpus

    methods = ["asymptotic", "satterthwaite"]
    for method in methods + ["kenward-roger"]:
        (em, pairs), times, cpus = ours(method)
        wall, cpu = statistics.median(times), statistics.median(cpus)
        label = f"emmeans A×B (1,000) + pairs by B (19,500, Tukey), {method}"
        print(f"ours  {method:<13}: {fmt(wall)} (CPU {fmt(cpu)}), {len(em.frame)} means, {len(pairs.frame)} contrasts")
        row = {"benchmark": label, "peer": "ours", "wall": wall, "cpu": cpu, "times": times, "repeat": args.repeat,
               "note": formula}
        rows.append(row)
        if args.no_r or method not in methods:
            continue
        with tempfile.TemporaryDirectory() as tmp:
            prefix = str(Path(tmp) / "r")
            result = run_r(["emmeans", str(csv_path), str(schema), formula, method, str(args.repeat), prefix],
                           args.r_timeout)
            if result is None:
                print(f"R     {method:<13}: timeout (> {args.r_timeout:g} s for a warm-up and {args.repeat} runs)")
                rows.append({"benchmark": label, "peer": "emmeans", "wall": float("nan"), "cpu": float("nan"),
                             "times": [], "repeat": args.repeat, "note": f"timeout > {args.r_timeout:g} s"})
                continue
            r_em = pd.read_csv(prefix + "_emmeans.csv")
            r_pr = pd.read_csv(prefix + "_pairs.csv")
        r_wall, r_cpu = statistics.median(result["elapsed"]), statistics.median(result["cpu"])
        ours_em = em.frame
        ours_pr = pairs.frame
        checks = {
            "emmean": max_abs(ours_em["emmean"], r_em["emmean"]),
            "SE": max_abs(ours_em["SE"], r_em["SE"]),
            "df": max_abs(ours_em["df"], r_em["df"]),
            "df rel": max_rel(ours_em["df"], r_em["df"]),
            "contrast est": max_abs(ours_pr["estimate"], r_pr["estimate"]),
            "contrast SE": max_abs(ours_pr["SE"], r_pr["SE"]),
            "contrast df": max_abs(ours_pr["df"], r_pr["df"]),
            "contrast df rel": max_rel(ours_pr["df"], r_pr["df"]),
            "p (Tukey)": max_abs(ours_pr["p.value"], r_pr["p.value"]),
        }
        same_order = (list(ours_em["A"].astype(str)) == list(r_em["A"]) and list(ours_pr["contrast"].astype(str))
                      == list(r_pr["contrast"]))
        agreement = ", ".join(f"{k} {v:.1e}" for k, v in checks.items()) + ("" if same_order else " (ROW ORDER DIFFERS)")
        print(f"R     {method:<13}: {fmt(r_wall)} (CPU {fmt(r_cpu)}); R/ours {r_wall / wall:.1f}×; "
              f"REML criterion |ours − lme4| {abs(fit.objective - float(result['objective'])):.1e}")
        print(f"      max abs diff: {agreement}")
        row["agreement"] = agreement
        rows.append({"benchmark": label, "peer": "emmeans", "wall": r_wall, "cpu": r_cpu, "times": result["elapsed"],
                     "repeat": args.repeat, "agreement": agreement,
                     "note": f"emmeans {result['versions']['emmeans']}, lmerTest {result['versions']['lmerTest']}"})


# ============================================================================ main
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", choices=["influence", "emmeans"], help="run one of the two benchmarks")
    ap.add_argument("--repeat", type=int, default=3, help="timed emmeans runs per side (median reported)")
    ap.add_argument("--jobs", type=int, default=2, help="worker processes of our influence()")
    ap.add_argument("--r-cores", type=int, default=1, help="ncores of lme4's influence()")
    ap.add_argument("--lecturers", type=int, default=0, help="also delete K sampled lecturers d (ours only)")
    ap.add_argument("--interaction", action="store_true", help="emmeans on y ~ A * B (1,000 fixed effects)")
    ap.add_argument("--r-timeout", type=float, default=900.0, help="seconds allowed to each Rscript run")
    ap.add_argument("--no-r", action="store_true", help="ours only")
    ap.add_argument("--out", type=Path, default=None, help="results CSV")
    args = ap.parse_args(argv)
    if not args.no_r and shutil.which("Rscript") is None:
        print("# Rscript not found: ours only")
        args.no_r = True
    host, date = socket.gethostname(), _dt.date.today().isoformat()
    load = os.getloadavg()[0]
    print(f"# host {host}, {os.cpu_count()} CPUs, load average {load:.2f} at start")
    rows: list[dict] = []
    if args.only in (None, "influence"):
        bench_influence(args, rows)
    if args.only in (None, "emmeans"):
        bench_emmeans(args, rows)
    out = args.out or HERE / "results" / f"{date}-{host}-postfit.csv"
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=FIELDS)
        writer.writeheader()
        for row in rows:
            writer.writerow({"date": date, "host": host, "nproc": os.cpu_count(), "load": f"{load:.2f}",
                             "agreement": "", "note": "", **row,
                             "wall": f"{row['wall']:.6g}", "cpu": f"{row['cpu']:.6g}",
                             "times": json.dumps([round(t, 6) for t in row["times"]])})
    print(f"\n# load average at end {os.getloadavg()[0]:.2f}; wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
