"""The ``mixedmodels`` command: fit, compare and report mixed models from a CSV/Parquet file.

::

    mixedmodels fit DATA "FORMULA" [--ml] [--family F] [--ddf satterthwaite|kenward-roger]
                    [--format text|json|csv] [--output FILE]
    mixedmodels anova DATA "F1" "F2" [--format text|json|csv] [--output FILE]
    mixedmodels datasets
    mixedmodels report DATA "FORMULA" -o report.html [--ml] [--family F] [--ddf ...]

DATA is a CSV file (a ``<name>.schema.json`` beside it types the columns, as for the reference
data; otherwise text columns become factors), a Parquet file, or the name of a built-in data set.
Errors print one line, ``error: ...``, on stderr and exit with status 1 (2 for bad usage);
``--debug`` shows the traceback instead. Fit warnings print as ``warning: ...`` lines.
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from importlib import resources
from pathlib import Path

import pandas as pd

from . import datasets
from .errors import MixedModelsError

__all__ = ["main", "load_data"]

_CSV_SUFFIXES = (".csv", ".csv.gz", ".tsv", ".txt")
_PARQUET_SUFFIXES = (".parquet", ".pq")


class CommandError(MixedModelsError):
    """A problem with the command line itself (exit status 2)."""


class _Parser(argparse.ArgumentParser):
    """argparse with one-line usage errors, like every other error of the command."""

    def error(self, message):
        raise CommandError(f"{message} (see '{self.prog} --help')")


def _text_columns_as_factors(frame: pd.DataFrame) -> pd.DataFrame:
    text = [c for c in frame.columns if pd.api.types.is_object_dtype(frame[c]) or pd.api.types.is_string_dtype(frame[c])]
    return frame.astype({c: "category" for c in text}) if text else frame


def load_data(spec: str) -> pd.DataFrame:
    """The data named on the command line: a CSV or Parquet path, or a built-in data set name.

    A CSV with ``<stem>.schema.json`` beside it is read with
    :func:`mixedmodels.datasets.read_csv_with_schema`; otherwise text columns of a CSV or Parquet
    file become (unordered) factors, with levels in sorted order as R's ``factor()``.
    """
    path = Path(spec)
    name = path.name.lower()
    if path.is_file():
        if name.endswith(_PARQUET_SUFFIXES):
            frame = _text_columns_as_factors(pd.read_parquet(path))
        elif name.endswith(_CSV_SUFFIXES):
            stem = path.name.split(".")[0]
            schema = path.with_name(f"{stem}.schema.json")
            if schema.is_file():
                frame = datasets.read_csv_with_schema(path, schema)
            else:
                frame = _text_columns_as_factors(pd.read_csv(path, sep="\t" if name.endswith(".tsv") else ","))
        else:
            raise MixedModelsError(f"cannot read {spec!r}: expected a .csv or .parquet file")
        frame.attrs["name"] = path.name.split(".")[0]
        return frame
    if path.exists():
        raise MixedModelsError(f"{spec!r} is not a file")
    if spec.lower() in {n.lower() for n in datasets.list_datasets()}:
        return datasets.load(spec)
    raise MixedModelsError(f"no such file or built-in data set: {spec!r} (see 'mixedmodels datasets')")


FAMILY_HELP = "GLMM family (binomial, poisson, negative_binomial, nbinom1, Gamma, inverse_gaussian): fits with glmer"


def _fit(data: pd.DataFrame, formula: str, ml: bool = False, family: str | None = None):
    from .glmm import glmer
    from .lmm import lmer

    name = data.attrs.get("name", "data")
    if family is None:
        return lmer(formula, data, reml=not ml, data_name=name)
    if ml:
        raise CommandError("--ml applies to linear mixed models only; glmer fits are always maximum likelihood")
    return glmer(formula, data, family=family, data_name=name)


def _write(text: str, output: str | None) -> None:
    if output is None:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
    else:
        Path(output).write_text(text if text.endswith("\n") else text + "\n")


def _cmd_fit(args) -> None:
    fit = _fit(load_data(args.data), args.formula, args.ml, args.family)
    ddf = {} if args.ddf is None else {"ddf": args.ddf}
    if args.format == "json":
        text = fit.to_json(**ddf)
    elif args.format == "csv":
        text = fit.tidy(**ddf).to_csv(index=False)
    else:
        text = fit.summary(**ddf)
    _write(text, args.output)


def _cmd_anova(args) -> None:
    from .export import records
    from .inference import anova

    data = load_data(args.data)
    table = anova(_fit(data, args.formula1), _fit(data, args.formula2))
    if args.format == "text":
        text = table.to_string()
    elif args.format == "csv":
        text = table.to_csv(index_label="model")
    else:
        text = json.dumps(records(table.reset_index(names="model")), indent=2, allow_nan=False)
    _write(text, args.output)


def _describe(name: str) -> str:
    """One line: the data set's title (from :func:`datasets.describe`) and its size."""
    schema = json.loads((resources.files(datasets) / "data" / f"{name}.schema.json").read_text())
    title = datasets.describe(name).splitlines()[0].removeprefix(f"{name}: ")
    return f"{title}; {schema['nrow']} rows"


def _cmd_datasets(args) -> None:
    names = datasets.list_datasets()
    width = max(map(len, names))
    _write("\n".join(f"{n.ljust(width)}  {_describe(n)}" for n in names), args.output)


def _cmd_report(args) -> None:
    from .report import write_report

    data = load_data(args.data)
    fit = _fit(data, args.formula, args.ml, args.family)
    write_report(fit, args.output, ddf=args.ddf)
    sys.stderr.write(f"wrote {args.output}\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="mixedmodels", description="Fit linear mixed models with lme4's formulas.")
    parser.add_argument("--debug", action="store_true", help="show the full traceback on errors (anywhere on the line)")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    ddf = dict(choices=["satterthwaite", "kenward-roger"], default=None,
               help="denominator degrees of freedom for t tests of the fixed effects")
    data_help = "CSV or Parquet file, or a built-in data set name"

    fit = sub.add_parser("fit", help="fit a model and print its summary, tidy table or JSON")
    fit.add_argument("data", help=data_help)
    fit.add_argument("formula", help='lme4 formula, e.g. "Reaction ~ Days + (Days | Subject)"')
    fit.add_argument("--ml", action="store_true", help="maximum likelihood instead of REML")
    fit.add_argument("--family", help=FAMILY_HELP)
    fit.add_argument("--ddf", **ddf)
    fit.add_argument("--format", choices=["text", "json", "csv"], default="text")
    fit.add_argument("--output", "-o", help="write here instead of standard output")
    fit.set_defaults(run=_cmd_fit)

    anova = sub.add_parser("anova", help="likelihood-ratio test of two nested models")
    anova.add_argument("data", help=data_help)
    anova.add_argument("formula1")
    anova.add_argument("formula2")
    anova.add_argument("--format", choices=["text", "json", "csv"], default="text")
    anova.add_argument("--output", "-o")
    anova.set_defaults(run=_cmd_anova)

    listing = sub.add_parser("datasets", help="list the built-in data sets")
    listing.add_argument("--output", "-o")
    listing.set_defaults(run=_cmd_datasets)

    report = sub.add_parser("report", help="write a self-contained HTML report of a fit")
    report.add_argument("data", help=data_help)
    report.add_argument("formula")
    report.add_argument("--output", "-o", required=True, help="the HTML file to write")
    report.add_argument("--ml", action="store_true")
    report.add_argument("--family", help=FAMILY_HELP)
    report.add_argument("--ddf", **ddf)
    report.set_defaults(run=_cmd_report)
    return parser


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split())
    if not isinstance(error, (ValueError, OSError)):  # those messages read well alone
        text = f"{type(error).__name__}: {text}" if text else type(error).__name__
    return text


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit status (0 ok, 1 error, 2 bad usage)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    debug = "--debug" in argv
    try:
        args = _parser().parse_args([a for a in argv if a != "--debug"])
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            args.run(args)
        for warning in dict.fromkeys(" ".join(str(w.message).split()) for w in caught):
            sys.stderr.write(f"warning: {warning}\n")
    except KeyboardInterrupt:
        return 130
    except Exception as error:  # the command's contract: one line, no traceback
        if debug:
            raise
        sys.stderr.write(f"error: {_one_line(error)}\n")
        return 2 if isinstance(error, CommandError) else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
