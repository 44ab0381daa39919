"""Run lmer benchmarks side by side and print time ratios against peers.

    .venv/bin/python benchmarks/run.py --problems sleepstudy penicillin --peers ours lme4 --repeat 5
    .venv/bin/python benchmarks/run.py --problems insteval --peers ours mixedlm --busy-core

``--busy-core`` keeps one core busy with a spinning process while every peer is timed (as on a
laptop where something else runs), and writes ``results/<date>-<host>-busy.csv``.

Every peer fits the same model from the same data (a pandas DataFrame for the Python peers; the
identical CSV, factors in the schema's level order, for lme4).  Each timing is one fit including
formula handling; the first ``--warmup`` fits are discarded and the median of ``--repeat`` timed
fits is reported.  Results go to ``benchmarks/results/<date>-<host>.csv`` (rows for the same
problem and peer are replaced, others kept, so subsets can be run separately) and a table is printed:

    problem | ours | lme4 | ×lme4 | statsmodels | ×sm | mixedlm | ×mixedlm | |Δobj| vs lme4

×peer = peer time / our time (> 1: we are faster).  |Δobj| = |objective - lme4's objective|, where
objective is -2 logLik (REML criterion for REML fits), for every peer that reports one.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import datetime as _dt
import importlib
import json
import math
import os
import platform
import socket
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import problems as P  # noqa: E402
from peers.common import PeerResult  # noqa: E402

PEERS = ["ours", "lme4", "statsmodels", "mixedlm"]
SHORT = {"ours": "ours", "lme4": "lme4", "statsmodels": "sm", "mixedlm": "mixedlm"}
FIELDS = ["date", "host", "nproc", "problem", "peer", "peer_version", "status", "seconds", "times",
          "warmup", "repeat", "objective", "abs_delta_obj_vs_lme4", "ratio_vs_ours", "note"]


def _split(values: list[str]) -> list[str]:
    return [v for item in values for v in item.split(",") if v]


def fmt_seconds(seconds: float | None) -> str:
    if seconds is None or (isinstance(seconds, float) and math.isnan(seconds)):
        return "—"
    if seconds < 0.1:
        return f"{seconds * 1000:.3g} ms"
    return f"{seconds:.3g} s"


def fmt_cell(row: dict | None) -> str:
    if row is None:
        return "—"
    status = row["status"]
    if status == "ok":
        return fmt_seconds(_float(row["seconds"]))
    if status == "timeout":
        return f"timeout ({row['note'].split('took > ')[-1].split(' (')[0]})" if "took >" in row["note"] else "timeout"
    return {"skipped": "n/a", "failed": "failed"}.get(status, status)


def _float(value) -> float | None:
    if value in (None, ""):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def table(rows: list[dict], peers: list[str] | None = None) -> str:
    """Markdown table from result rows (dicts with FIELDS keys)."""
    by = {(r["problem"], r["peer"]): r for r in rows}
    problems = list(dict.fromkeys(r["problem"] for r in rows))
    head = ["problem", "ours", "lme4", "×lme4", "statsmodels", "×sm", "mixedlm", "×mixedlm", "|Δobj| vs lme4"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for prob in problems:
        ours = by.get((prob, "ours"))
        t_ours = _float(ours["seconds"]) if ours and ours["status"] == "ok" else None
        cells = [prob, fmt_cell(ours)]
        for peer in ["lme4", "statsmodels", "mixedlm"]:
            row = by.get((prob, peer))
            cells.append(fmt_cell(row))
            t = _float(row["seconds"]) if row and row["status"] == "ok" else None
            if t is not None and t_ours:
                cells.append(f"{t / t_ours:.2f}")
            elif row is not None and row["status"] == "timeout" and t_ours:
                limit = _float(row["note"].split("took > ")[-1].split(" s")[0]) if "took >" in row["note"] else None
                cells.append(f">{limit / t_ours:.0f}" if limit else "—")
            else:
                cells.append("—")
        deltas = []
        for peer in ["ours", "statsmodels", "mixedlm"]:
            row = by.get((prob, peer))
            d = _float(row["abs_delta_obj_vs_lme4"]) if row else None
            if d is not None:
                deltas.append(f"{SHORT[peer]} {d:.1e}")
        cells.append(", ".join(deltas) if deltas else "—")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def read_results(path: Path) -> list[dict]:
    if not path.exists():
        return []
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


def write_results(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".csv.tmp")
    with tmp.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=FIELDS)
        writer.writeheader()
        writer.writerows(rows)
    tmp.replace(path)


def recompute(rows: list[dict]) -> None:
    """Refresh |Δobj| vs lme4 and time / our time from the rows of the same problem (rows of one
    problem may come from different invocations)."""
    by = {(r["problem"], r["peer"]): r for r in rows}
    for r in rows:
        ref, ours = by.get((r["problem"], "lme4")), by.get((r["problem"], "ours"))
        obj = _float(r["objective"]) if r["status"] == "ok" else None
        ref_obj = _float(ref["objective"]) if ref and ref["status"] == "ok" else None
        ok = obj is not None and ref_obj is not None and r["peer"] != "lme4"
        r["abs_delta_obj_vs_lme4"] = f"{abs(obj - ref_obj):.3g}" if ok else ""
        t = _float(r["seconds"]) if r["status"] == "ok" else None
        t_ours = _float(ours["seconds"]) if ours and ours["status"] == "ok" else None
        r["ratio_vs_ours"] = f"{t / t_ours:.4g}" if (t and t_ours) else ""


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--problems", nargs="+", default=["sleepstudy", "penicillin", "insteval", "sim_1e4", "sim_1e5"],
                    help=f"problem names (space or comma separated; 'all' = {', '.join(P.PROBLEMS)})")
    ap.add_argument("--peers", nargs="+", default=PEERS, help="ours lme4 statsmodels mixedlm")
    ap.add_argument("--repeat", type=int, default=5, help="timed fits per peer and problem (median reported)")
    ap.add_argument("--warmup", type=int, default=1, help="untimed fits before the timed ones")
    ap.add_argument("--timeout", type=float, default=120.0,
                    help="per-fit limit in seconds for statsmodels (it needs > 600 s on insteval)")
    ap.add_argument("--timeout-all", action="store_true", help="apply --timeout to every peer, not only statsmodels")
    ap.add_argument("--out", type=Path, default=None, help="results CSV (default results/<date>-<host>.csv)")
    ap.add_argument("--table", type=Path, default=None, help="only print the table of an existing results CSV")
    ap.add_argument("--busy-core", action="store_true",
                    help="keep one core busy with a spinning process while timing (results to <date>-<host>-busy.csv)")
    args = ap.parse_args(argv)

    if args.table is not None:
        print(table(read_results(args.table)))
        return 0

    problem_names = _split(args.problems)
    if problem_names == ["all"]:
        problem_names = list(P.PROBLEMS)
    problems = [P.get(n) for n in problem_names]
    peer_names = _split(args.peers)
    for name in peer_names:
        if name not in PEERS:
            ap.error(f"unknown peer {name!r}; known: {', '.join(PEERS)}")

    host = socket.gethostname()
    date = _dt.date.today().isoformat()
    out = args.out or HERE / "results" / f"{date}-{host}{'-busy' if args.busy_core else ''}.csv"
    nproc = os.cpu_count()
    print(f"# host {host}, {nproc} CPUs, {platform.python_implementation()} {platform.python_version()}", flush=True)
    with busy_core(args.busy_core):
        new_rows = time_peers(problems, peer_names, args, date, host, nproc)

    keys = {(r["problem"], r["peer"]) for r in new_rows}
    old = [r for r in read_results(out) if (r["problem"], r["peer"]) not in keys]
    order = list(P.PROBLEMS)
    merged = sorted(old + new_rows, key=lambda r: (order.index(r["problem"]) if r["problem"] in order else 99,
                                                   PEERS.index(r["peer"]) if r["peer"] in PEERS else 99))
    recompute(merged)
    write_results(out, merged)
    print()
    if args.busy_core:
        print("(one core kept busy by a spinning process during every timing)")
    print(table([r for r in merged if r["problem"] in problem_names]))
    print(f"\n# wrote {out}")
    return 0


@contextlib.contextmanager
def busy_core(on: bool):
    """While the block runs, one core is kept busy by a spinning Python process (if ``on``)."""
    if not on:
        yield
        return
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    print(f"# busy core: spinning process {spinner.pid} runs during every timing", flush=True)
    try:
        yield
    finally:
        spinner.terminate()
        spinner.wait()


def time_peers(problems, peer_names, args, date, host, nproc) -> list[dict]:
    """Time every peer on every problem; the result rows (FIELDS)."""
    modules, versions = {}, {}
    for name in peer_names:
        mod = importlib.import_module(f"peers.bench_{name}")
        ok, note = mod.available()
        versions[name] = note
        print(f"# {name}: {note}" + ("" if ok else "  -> skipped"), flush=True)
        if ok:
            modules[name] = mod

    new_rows: list[dict] = []
    for prob in problems:
        prob.files()  # build simulated data once, before anything is timed
        results: dict[str, PeerResult] = {}
        for name in peer_names:
            if name not in modules:
                results[name] = PeerResult.skipped(name, versions[name])
                continue
            timeout = args.timeout if (name == "statsmodels" or args.timeout_all) else None
            print(f"# {prob.name}: {name} ...", end=" ", flush=True, file=sys.stderr)
            try:
                res = modules[name].run(prob, warmup=args.warmup, repeat=args.repeat, timeout=timeout)
            except Exception as exc:  # an adapter bug must not stop the other peers
                res = PeerResult(name, "failed", note=f"{type(exc).__name__}: {exc}"[:300])
            print(f"{res.status} {fmt_seconds(res.seconds)} {res.note}", flush=True, file=sys.stderr)
            results[name] = res
        ref = results.get("lme4")
        ref_obj = ref.objective if ref is not None and ref.status == "ok" else None
        ours = results.get("ours")
        t_ours = ours.seconds if ours is not None and ours.status == "ok" else None
        for name, res in results.items():
            delta = abs(res.objective - ref_obj) if (ref_obj is not None and res.objective is not None
                                                      and res.status == "ok" and name != "lme4") else None
            ratio = res.seconds / t_ours if (t_ours and res.seconds and res.status == "ok") else None
            new_rows.append({
                "date": date, "host": host, "nproc": nproc, "problem": prob.name, "peer": name,
                "peer_version": versions.get(name, ""), "status": res.status,
                "seconds": "" if res.seconds is None else f"{res.seconds:.6g}",
                "times": json.dumps([round(t, 6) for t in res.times]),
                "warmup": args.warmup, "repeat": args.repeat,
                "objective": "" if res.objective is None else repr(res.objective),
                "abs_delta_obj_vs_lme4": "" if delta is None else f"{delta:.3g}",
                "ratio_vs_ours": "" if ratio is None else f"{ratio:.4g}",
                "note": res.note + ("; one core busy (spinning process)" if args.busy_core else ""),
            })

    return new_rows


if __name__ == "__main__":
    raise SystemExit(main())
