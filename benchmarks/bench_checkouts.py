"""Our ``lmer`` fits of the benchmark problems for several checkouts, interleaved in fresh processes.

    .venv/bin/python benchmarks/bench_checkouts.py --checkout before=OLD/src --checkout after=src
    .venv/bin/python benchmarks/bench_checkouts.py --problems sleepstudy penicillin --rounds 10 --checkout ...

Each round starts one process per checkout (its SRC first on ``PYTHONPATH``), in turn, so a change in
the machine's load hits every checkout alike. A process builds the problem's DataFrame
(:mod:`problems`), fits once untimed, then times 5 fits (``run.py``'s protocol: their median) and 40
more (a steadier median), wall (``perf_counter``) and CPU (``process_time``) each. The table gives,
per checkout, the median over the rounds of each process's medians, the fastest single fit and the
objective (which must agree). One untimed round first writes bytecode and loads the compiled kernels.
On a shared machine compare the CPU columns: wall time there includes waiting for a core.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

CHILD = """
import json, statistics, sys, time
sys.path.insert(0, {here!r})
import problems
problem = problems.PROBLEMS[{name!r}]
data = problem.load()
import mixedmodels
def block(n):
    wall, cpu = [], []
    for _ in range(n):
        t0, c0 = time.perf_counter(), time.process_time()
        fit = mixedmodels.lmer(problem.formula, data, reml=problem.reml)
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return wall, cpu, fit
block(1)
w5, c5, _ = block(5)
w40, c40, fit = block(40)
print(json.dumps({{"w5": statistics.median(w5), "c5": statistics.median(c5), "w40": statistics.median(w40),
                  "c40": statistics.median(c40), "min": min(w5 + w40), "objective": float(fit.objective),
                  "package": mixedmodels.__file__}}))
"""


def run_process(python: str, name: str, src: str) -> dict:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(Path(src).resolve()),
                                                        *filter(None, [os.environ.get("PYTHONPATH")])]))
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    done = subprocess.run([python, "-c", CHILD.format(here=str(HERE), name=name)], env=env, capture_output=True,
                          text=True)
    if done.returncode != 0:
        raise SystemExit(f"{name} with {src} failed:\n{done.stderr[-2000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    if not Path(result["package"]).resolve().is_relative_to(Path(src).resolve()):
        raise SystemExit(f"mixedmodels was imported from {result['package']}, not from {src}")
    return result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--checkout", action="append", required=True, metavar="LABEL=SRC",
                    help="a checkout's src folder (repeatable)")
    ap.add_argument("--problems", nargs="+", default=["sleepstudy"], help="problems of problems.py")
    ap.add_argument("--rounds", type=int, default=8, help="timed processes per checkout and problem (default 8)")
    ap.add_argument("--python", default=sys.executable, help="the interpreter (default: this one)")
    args = ap.parse_args(argv)
    checkouts = {}
    for item in args.checkout:
        label, _, src = item.partition("=")
        if not src:
            ap.error(f"--checkout takes LABEL=SRC, not {item!r}")
        checkouts[label] = src
    for name in args.problems:
        print(f"\n{name}: load average before {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
        results: dict[str, list[dict]] = {label: [] for label in checkouts}
        for round_ in range(args.rounds + 1):
            for label, src in checkouts.items():
                result = run_process(args.python, name, src)
                if round_:
                    results[label].append(result)
        print(f"load average after {' '.join(f'{x:.2f}' for x in os.getloadavg())}; {os.cpu_count()} CPUs\n")
        print("| checkout | median of 5 | CPU | median of 40 | CPU | fastest fit | objective |")
        print("|---|---|---|---|---|---|---|")
        for label, rows in results.items():
            med = {k: 1e3 * statistics.median(r[k] for r in rows) for k in ("w5", "c5", "w40", "c40")}
            print(f"| {label} | {med['w5']:.2f} ms | {med['c5']:.2f} ms | {med['w40']:.2f} ms | {med['c40']:.2f} ms | "
                  f"{1e3 * min(r['min'] for r in rows):.2f} ms | {rows[0]['objective']:.10f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
