"""Start-up time: ``import mixedmodels``, a first ``lmer`` fit and the ``fit`` command, each in a fresh process.

    .venv/bin/python benchmarks/bench_startup.py [--repeat 11]
    .venv/bin/python benchmarks/bench_startup.py --checkout before=OLD_CHECKOUT/src --checkout after=src

Each case runs in a new interpreter (the one running this script, or ``--python``), N times, after
one untimed warm-up process per case and checkout (so the disk caches, Python's bytecode and numba's
compiled kernels are warm: a "cold process with warm disk caches"; ``PYTHONDONTWRITEBYTECODE`` is
removed from the children's environment for that):

- ``import``: ``python -c "import mixedmodels"``;
- ``lmer``: ``python -c "import mixedmodels as mm; mm.lmer('Reaction ~ Days + (Days | Subject)',
  mm.datasets.load('sleepstudy'))"``;
- ``cli fit``: ``mixedmodels fit sleepstudy "Reaction ~ Days + (Days | Subject)"`` (what the console
  script runs, ``sys.exit(mixedmodels.cli.main())``, with the summary written to /dev/null).

Wall time is the median and minimum over the N processes; CPU is the median of the child's user +
system time, which a busy machine inflates less than wall time. ``--checkout LABEL=SRC`` (repeatable)
times the package found in the folder SRC (put first on ``PYTHONPATH``) instead of the installed
one; the runs of all checkouts and cases are interleaved, so a change in the machine's load hits them
alike. The load average is printed before and after.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

FORMULA = "Reaction ~ Days + (Days | Subject)"

CASES = {
    "import": "import mixedmodels",
    "lmer": f"import mixedmodels as mm; mm.lmer({FORMULA!r}, mm.datasets.load('sleepstudy'))",
    "cli fit": f"import sys; from mixedmodels.cli import main; sys.exit(main(['fit', 'sleepstudy', {FORMULA!r}]))",
}


def environment(src: str | None) -> dict[str, str]:
    """The children's environment: this one, with SRC first on PYTHONPATH, and bytecode written (a set
    ``PYTHONDONTWRITEBYTECODE`` would make every process compile the package's sources again, which
    a user's does not)."""
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    if src is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(Path(src).resolve()), *filter(None, [env.get("PYTHONPATH")])])
    return env


def package_folder(python: str, env: dict[str, str]) -> Path:
    done = subprocess.run([python, "-c", "import mixedmodels; print(mixedmodels.__file__)"], env=env,
                          capture_output=True, text=True, check=True)
    return Path(done.stdout.strip()).parent


def run_once(python: str, code: str, env: dict[str, str]) -> tuple[float, float]:
    """Wall and CPU (user + system) seconds of one fresh process running ``code``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run([python, "-c", code], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                          text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"failed: {code}\n{done.stderr}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=11, help="timed processes per case and checkout (default 11)")
    ap.add_argument("--python", default=sys.executable, help="the interpreter to time (default: this one)")
    ap.add_argument("--checkout", action="append", metavar="LABEL=SRC",
                    help="time the package in folder SRC (repeatable); default: the installed package")
    ap.add_argument("--cases", nargs="+", choices=list(CASES), default=list(CASES))
    args = ap.parse_args(argv)
    checkouts: dict[str, dict[str, str]] = {}
    for item in args.checkout or ["installed"]:
        label, _, src = item.partition("=")
        if item != "installed" and not src:
            ap.error(f"--checkout takes LABEL=SRC, not {item!r}")
        env = environment(src or None)
        if src and not package_folder(args.python, env).is_relative_to(Path(src).resolve()):
            ap.error(f"--checkout {item}: mixedmodels is not imported from {src} (an installed copy shadows it)")
        checkouts[label] = env
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}; {os.cpu_count()} CPUs; "
          f"Python {sys.version.split()[0]}; {args.repeat} processes per case after 1 warm-up", flush=True)
    times: dict[tuple[str, str], list[tuple[float, float]]] = {(c, k): [] for c in args.cases for k in checkouts}
    for case in args.cases:  # warm-up: caches, bytecode, compiled kernels
        for label, env in checkouts.items():
            run_once(args.python, CASES[case], env)
    for _ in range(args.repeat):
        for case in args.cases:
            for label, env in checkouts.items():
                times[case, label].append(run_once(args.python, CASES[case], env))
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}\n")
    print("| case | checkout | wall median | wall min | CPU median |\n|---|---|---|---|---|")
    for (case, label), samples in times.items():
        wall, cpu = [w for w, _ in samples], [c for _, c in samples]
        print(f"| {case} | {label} | {statistics.median(wall):.3f} s | {min(wall):.3f} s | "
              f"{statistics.median(cpu):.3f} s |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
