"""What every lecture example shares: the output folder, printing and saving the results, saving figures.

Each example prints the lme4-style summary and a block of ``name = value`` lines (full
precision, the numbers tests compare with lme4), and writes both to ``<output>/<example>.txt``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402

DEFAULT_OUTPUT = Path(__file__).resolve().parent / "output"


def output_folder(description: str) -> Path:
    """The folder named on the command line (default ``examples/output/``), created if missing."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("output", nargs="?", type=Path, default=DEFAULT_OUTPUT,
                        help="folder for the summary text and the figures (default: examples/output)")
    folder = parser.parse_args().output
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def numbers(fit) -> dict[str, float]:
    """The fit's key numbers: criterion, σ̂, each random-effect sd and each fixed effect."""
    values = {"objective": fit.objective, "sigma": fit.sigma}
    for row in fit.varcorr.itertuples():
        if row.grp != "Residual" and row.var2 is None:
            values[f"sd[{row.grp}:{row.var1}]"] = row.sdcor
    values.update({f"beta[{name}]": value for name, value in fit.fixef.items()})
    return values


def report(folder: Path, name: str, fit, extra: str = "", values: dict[str, float] | None = None) -> None:
    """Print the summary, ``extra`` text and the key numbers, and write them to ``<folder>/<name>.txt``."""
    lines = [fit.summary(), ""]
    if extra:
        lines += [extra, ""]
    lines += [f"{key} = {value:.10g}" for key, value in {**numbers(fit), **(values or {})}.items()]
    text = "\n".join(lines) + "\n"
    sys.stdout.write(text)
    (folder / f"{name}.txt").write_text(text, encoding="utf-8")


def save(drawn, folder: Path, filename: str) -> Path:
    """Save a Figure (or the Figure of an Axes) as PNG in ``folder`` and close it."""
    figure = getattr(drawn, "figure", None) or drawn
    path = folder / filename
    figure.savefig(path, dpi=80, bbox_inches="tight")
    plt.close(figure)
    print(f"wrote {path}")
    return path
