"""Compare two results CSVs of run.py and fail on a runtime regression of ours.

    .venv/bin/python benchmarks/compare.py results/base.csv results/head.csv [--max-rel-slowdown 0.2]

For every problem timed (status ok) for peer ``ours`` in both files, prints base time, head time and
head/base; exits 1 when any head/base > 1 + max_rel_slowdown, or when an objective in head drifts
from lme4 by more than --max-abs-delta-obj.
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path


def load(path: Path, peer: str) -> dict[str, dict]:
    with path.open(newline="") as fh:
        return {r["problem"]: r for r in csv.DictReader(fh) if r["peer"] == peer and r["status"] == "ok"}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("base", type=Path)
    ap.add_argument("head", type=Path)
    ap.add_argument("--peer", default="ours")
    ap.add_argument("--max-rel-slowdown", type=float, default=0.2)
    ap.add_argument("--max-abs-delta-obj", type=float, default=1e-4)
    args = ap.parse_args(argv)
    base, head = load(args.base, args.peer), load(args.head, args.peer)
    common = [p for p in head if p in base]
    if not common:
        print(f"no problem timed for {args.peer!r} in both files")
        return 2
    failed = False
    print(f"| problem | base | head | head/base | |Δobj| vs lme4 (head) |\n|---|---|---|---|---|")
    for prob in common:
        b, h = float(base[prob]["seconds"]), float(head[prob]["seconds"])
        ratio = h / b
        delta = head[prob].get("abs_delta_obj_vs_lme4") or ""
        bad = ratio > 1 + args.max_rel_slowdown or (delta != "" and float(delta) > args.max_abs_delta_obj)
        failed |= bad
        print(f"| {prob} | {b:.4g} s | {h:.4g} s | {ratio:.2f}{' ✗' if bad else ''} | {delta or '—'} |")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
