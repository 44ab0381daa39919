"""The ``mixedmodels`` command: fit, compare and report mixed models from a CSV/Parquet file.

::

    mixedmodels fit DATA "FORMULA" [--ml] [--family F] [--ddf satterthwaite|kenward-roger]
                    [--format text|json|csv] [--output FILE]
    mixedmodels anova DATA "F1" [--type 1|2|3] [--ddf satterthwaite|kenward-roger] [--ml]
                      [--format text|json|csv] [--output FILE]
    mixedmodels anova DATA "F1" "F2" ... [--format text|json|csv] [--output FILE]
    mixedmodels datasets
    mixedmodels report DATA "FORMULA" -o report.html [--ml] [--family F] [--ddf ...]
    mixedmodels emmeans DATA "FORMULA" --specs F [--by B] [--contrast pairwise] [--adjust tukey]
                    [--ddf kenward-roger|satterthwaite|asymptotic] [--type link|response] [--format text|json]
    mixedmodels power DATA "FORMULA" --test TEST [--effect NAME=VALUE ...] [--nsim N] [--seed S]
                      [--alpha A] [--n-jobs J] [--ddf ...] [--ml] [--along F] [--within COLS]
                      [--sizes 3,5,10] [--plot FILE.png] [--format text|json|csv] [--output FILE]

DATA is a CSV file (a ``<name>.schema.json`` beside it types the columns, as for the reference
data; otherwise text columns become factors), a Parquet file, or the name of a built-in data set.
Errors print one line, ``error: ...``, on stderr and exit with status 1 (2 for bad usage);
``--debug`` shows the traceback instead. Fit warnings print as ``warning: ...`` lines.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import csv
import gc
import io
import json
import os
import re
import sys
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import MixedModelsError, SingularFitWarning

if TYPE_CHECKING:
    import pandas as pd

# Each command imports what it needs when it runs (``mixedmodels datasets`` loads no pandas, ``fit``
# of a linear model no GLMM, plotting or inference code beyond its summary): start-up is part of
# every call.

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
    import pandas as pd

    text = [c for c in frame.columns if pd.api.types.is_object_dtype(frame[c]) or pd.api.types.is_string_dtype(frame[c])]
    return frame.astype({c: "category" for c in text}) if text else frame


def _decode(path: Path) -> str:
    """The file's text: UTF-8 (with or without BOM), else Windows-1252/Latin-1 with a warning naming the file."""
    raw = path.read_bytes()
    if raw.startswith(b"\x1f\x8b"):
        import gzip

        raw = gzip.decompress(raw)
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        warnings.warn(f"{path}: not UTF-8 (byte 0x{raw[error.start]:02x} at position {error.start}); read as "
                      "Windows-1252/Latin-1 — save the file as UTF-8 to be sure of its text", UserWarning)
        try:
            return raw.decode("cp1252")
        except UnicodeDecodeError:
            return raw.decode("latin-1")


def _read_text_table(path: Path, tab: bool) -> pd.DataFrame:
    """A CSV/TSV file with its delimiter (, ; tab |) and decimal mark detected; errors name the file."""
    import pandas as pd

    text = _decode(path)
    if not text.strip():
        raise MixedModelsError(f"{path}: the file is empty (no header row, no data)")
    head = "\n".join(text.splitlines()[:20])
    if tab:
        sep = "\t"
    else:
        try:
            sep = csv.Sniffer().sniff(head, delimiters=",;\t|").delimiter
        except csv.Error:
            sep = ","
    decimal = "," if sep == ";" and re.search(r"\d,\d", head) else "."
    if sep != ",":
        name = {"\t": "tab", ";": "semicolon", "|": "'|'"}[sep]
        warnings.warn(f"{path}: {name}-separated{' with decimal commas' if decimal == ',' else ''}; read as such",
                      UserWarning)
    try:
        return pd.read_csv(io.StringIO(text), sep=sep, decimal=decimal)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as error:
        raise MixedModelsError(f"{path}: cannot read as a {'tab' if sep == chr(9) else repr(sep)}-separated file: "
                               f"{' '.join(str(error).split())}") from None


def load_data(spec: str) -> pd.DataFrame:
    """The data named on the command line: a CSV or Parquet path, or a built-in data set name.

    A CSV with ``<stem>.schema.json`` beside it is read with
    :func:`mixedmodels.datasets.read_csv_with_schema`; otherwise text columns of a CSV or Parquet
    file become (unordered) factors, with levels in sorted order as R's ``factor()``. A CSV that
    is not UTF-8 is read as Windows-1252/Latin-1, and one separated by semicolons (with decimal
    commas), tabs or bars is read as such, each with a warning; an empty or unreadable file is an
    error naming it.
    """
    import pandas as pd

    from . import datasets

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
                frame = _text_columns_as_factors(_read_text_table(path, name.endswith(".tsv")))
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
    name = data.attrs.get("name", "data")
    if family is None:
        from .lmm import lmer

        return lmer(formula, data, reml=not ml, data_name=name)
    if ml:
        raise CommandError("--ml applies to linear mixed models only; glmer fits are always maximum likelihood")
    from .glmm import glmer

    return glmer(formula, data, family=family, data_name=name)


def _write(text: str, output: str | None) -> None:
    if output is None:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
    else:
        Path(output).write_text(text if text.endswith("\n") else text + "\n")


def _cmd_fit(args) -> None:
    with warnings.catch_warnings():
        if args.format == "text":  # the summary prints the singular-fit message itself: say it once
            warnings.filterwarnings("ignore", category=SingularFitWarning)
        fit = _fit(load_data(args.data), args.formula, args.ml, args.family)
    ddf = {} if args.ddf is None else {"ddf": args.ddf}  # the fit's default: Satterthwaite for lmer, z for glmer
    if args.format == "json":
        text = fit.to_json(**ddf)
    elif args.format == "csv":
        text = fit.tidy(**ddf).to_csv(index=False)
    else:
        text = fit.summary(**ddf)
    _write(text, args.output)


def _cmd_anova(args) -> None:
    """One formula: the F tests of its fixed-effect terms; two or more: likelihood-ratio tests."""
    import pandas as pd

    from .export import records
    from .inference import anova

    data = load_data(args.data)
    if len(args.formulas) == 1:
        table = anova(_fit(data, args.formulas[0], args.ml), type=args.type or 3, ddf=args.ddf or "satterthwaite")
        label = "term"
    else:
        if args.type is not None or args.ddf is not None:
            raise CommandError("--type and --ddf apply to the F tests of one model, not to the likelihood-ratio "
                               "test of several")
        table = anova(*(_fit(data, f, args.ml) for f in args.formulas))
        label = "model"
    if args.format == "text":
        text = str(table)
    elif args.format == "csv":
        text = pd.DataFrame(table).to_csv(index_label=label)
    else:
        text = json.dumps(records(pd.DataFrame(table).reset_index(names=label)), indent=2, allow_nan=False)
    _write(text, args.output)


def _describe(name: str) -> str:
    """One line: the data set's title (from :func:`datasets.describe`) and its size."""
    from importlib import resources

    from . import datasets

    schema = json.loads((resources.files(datasets) / "data" / f"{name}.schema.json").read_text())
    title = datasets.describe(name).splitlines()[0].removeprefix(f"{name}: ")
    return f"{title}; {schema['nrow']} rows"


def _cmd_datasets(args) -> None:
    from . import datasets

    names = datasets.list_datasets()
    width = max(map(len, names))
    _write("\n".join(f"{n.ljust(width)}  {_describe(n)}" for n in names), args.output)


def _cmd_report(args) -> None:
    from .report import write_report

    data = load_data(args.data)
    fit = _fit(data, args.formula, args.ml, args.family)
    write_report(fit, args.output, ddf=args.ddf)
    sys.stderr.write(f"wrote {args.output}\n")


def _cmd_emmeans(args) -> None:
    from .export import records
    from .postfit.contrast import contrast
    from .postfit.emmeans import emmeans

    fit = _fit(load_data(args.data), args.formula, args.ml, args.family)
    em = emmeans(fit, args.specs, by=args.by, ddf=args.ddf, level=args.level, type=args.type)
    tables = {"emmeans": em}
    if args.contrast is not None:
        method = args.contrast
        tables["contrasts"] = contrast(em, method, adjust=args.adjust, ref=args.ref)
        tables["contrasts_confint"] = tables["contrasts"].confint(args.level)
    elif args.adjust is not None or args.ref is not None:
        raise CommandError("--adjust and --ref apply to --contrast")
    if args.format == "json":
        text = json.dumps({k: {"table": records(t.to_frame()), "messages": t.messages} for k, t in tables.items()},
                          indent=2, allow_nan=False, default=str)
    else:
        text = "\n".join(str(t) for t in tables.values())
    _write(text, args.output)


def _effects(pairs: list[str] | None) -> dict[str, float]:
    effects = {}
    for pair in pairs or []:
        name, sep, value = pair.rpartition("=")
        try:
            effects[name] = float(value)
        except ValueError:
            sep = ""
        if not sep or not name:
            raise CommandError(f"--effect takes NAME=VALUE (e.g. groupB=-10), not {pair!r}")
    return effects


def _sizes(text: str) -> list[int]:
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise CommandError(f"--sizes takes whole numbers separated by commas (e.g. 3,5,10), not {text!r}") from None


def _cmd_power(args) -> None:
    import pandas as pd

    from .export import records
    from .power import power, power_curve

    fit = _fit(load_data(args.data), args.formula, args.ml)
    settings = dict(nsim=args.nsim, alpha=args.alpha, seed=args.seed, n_jobs=args.n_jobs, progress=not args.quiet,
                    effects=_effects(args.effect), ddf=args.ddf or "satterthwaite")
    if args.sizes is None:
        if args.along or args.within or args.plot:
            raise CommandError("--along, --within and --plot need --sizes (the sizes of a power curve)")
        result = power(fit, args.test, **settings)
        row = {"test": result.title, "power": result.power, "lower": result.ci[0], "upper": result.ci[1],
               "successes": result.successes, "nsim": result.nsim, "nrow": result.nrow, "singular": result.singular,
               "not_converged": result.not_converged, "failed": result.failed}
        table, text = pd.DataFrame([row]), result.summary()
    else:
        if not (args.along or args.within):
            raise CommandError("--sizes needs --along (levels of a factor) or --within (rows per cell)")
        curve = power_curve(fit, args.test, along=args.along, sizes=_sizes(args.sizes), within=args.within, **settings)
        table, text = curve.table(), curve.summary()
        if args.plot:
            import matplotlib

            matplotlib.use("Agg")
            figure = curve.plot().figure
            figure.savefig(args.plot, dpi=100, bbox_inches="tight")
            sys.stderr.write(f"wrote {args.plot}\n")
    if args.format == "csv":
        text = table.to_csv(index=False)
    elif args.format == "json":
        text = json.dumps(records(table), indent=2, allow_nan=False)
    _write(text, args.output)


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

    anova = sub.add_parser("anova", help="F tests of one model's terms, or likelihood-ratio test of nested models")
    anova.add_argument("data", help=data_help)
    anova.add_argument("formulas", nargs="+", metavar="formula",
                       help="one formula: type III (--type) F tests of its terms; several: likelihood-ratio test")
    anova.add_argument("--type", choices=["1", "2", "3", "I", "II", "III"], default=None,
                       help="hypotheses of the F tests (default 3)")
    anova.add_argument("--ddf", **ddf)
    anova.add_argument("--ml", action="store_true", help="fit by maximum likelihood instead of REML")
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
    marginal = sub.add_parser("emmeans", help="estimated marginal means and contrasts (R's emmeans)")
    marginal.add_argument("data", help=data_help)
    marginal.add_argument("formula")
    marginal.add_argument("--specs", required=True, help='factor(s): "group", "recipe * temperature", "recipe | temperature"')
    marginal.add_argument("--by", help="variable(s) splitting the table and the families of contrasts")
    marginal.add_argument("--contrast", help="pairwise, revpairwise, trt.vs.ctrl, consec, poly or eff")
    marginal.add_argument("--adjust", help="tukey, dunnettx, dunnett (= mvt), sidak, bonferroni, holm, fdr, none")
    marginal.add_argument("--ref", help="reference level of trt.vs.ctrl (default: the first level)")
    marginal.add_argument("--ddf", choices=["kenward-roger", "satterthwaite", "asymptotic"], default=None,
                          help="df method (default: kenward-roger for lmer fits of up to 3000 rows)")
    marginal.add_argument("--type", choices=["link", "response"], default="link", help="GLMM scale of the means")
    marginal.add_argument("--level", type=float, default=0.95)
    marginal.add_argument("--ml", action="store_true")
    marginal.add_argument("--family", help="GLMM family (binomial, poisson): fits with glmer")
    marginal.add_argument("--format", choices=["text", "json"], default="text")
    marginal.add_argument("--output", "-o")
    marginal.set_defaults(run=_cmd_emmeans)

    power = sub.add_parser("power", help="power of a test by simulation from a fitted model (simr's powerSim)")
    power.add_argument("data", help=data_help)
    power.add_argument("formula")
    power.add_argument("--test", required=True,
                       help="a coefficient (t test), a fixed-effect term (type III F test) or the formula of a "
                            "smaller model (likelihood-ratio test)")
    power.add_argument("--effect", action="append", metavar="NAME=VALUE",
                       help="true value of a coefficient instead of its estimate (repeatable)")
    power.add_argument("--nsim", type=int, default=1000)
    power.add_argument("--alpha", type=float, default=0.05)
    power.add_argument("--seed", type=int)
    power.add_argument("--n-jobs", type=int, default=1, help="worker processes (-1: all cores)")
    power.add_argument("--ddf", **ddf)
    power.add_argument("--ml", action="store_true", help="refit by maximum likelihood instead of REML")
    power.add_argument("--along", help="power curve: the factor whose number of levels is varied")
    power.add_argument("--within", help="power curve: per combination of these columns (e.g. group)")
    power.add_argument("--sizes", help="power curve: sizes separated by commas, e.g. 3,5,10")
    power.add_argument("--plot", help="power curve: save its plot to this PNG file")
    power.add_argument("--quiet", action="store_true", help="no progress bar")
    power.add_argument("--format", choices=["text", "json", "csv"], default="text")
    power.add_argument("--output", "-o")
    power.set_defaults(run=_cmd_power)
    return parser


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split())
    if not isinstance(error, (ValueError, OSError)):  # those messages read well alone
        text = f"{type(error).__name__}: {text}" if text else type(error).__name__
    return text


_freeze_at_exit_registered = False


@contextlib.contextmanager
def _collector_paused():
    """Python's cyclic garbage collector off while a command runs, and skipped when the process exits.

    A command imports numpy, pandas, SciPy and numba and loads its compiled kernels: some 150,000
    objects that live until the process ends, which the collector scanned again and again while
    they were created (about 0.15 s of a ``fit`` of sleepstudy) and once more in every pass of the
    interpreter's shutdown (about 0.25 s). So the collector is paused for the command (it is
    switched back on afterwards if it was on: calling :func:`main` from Python changes nothing
    after it returns), and at exit the objects are frozen (:func:`gc.freeze`) so that the shutdown
    does not scan them: the operating system reclaims a process's memory at once. Objects still
    free themselves by reference counting; what the pause leaves uncollected is the cyclic garbage
    of one command (some 30 objects, 5 kB, per linear fit and summary).
    """
    global _freeze_at_exit_registered
    if not _freeze_at_exit_registered:
        atexit.register(gc.freeze)
        _freeze_at_exit_registered = True
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


@contextlib.contextmanager
def _openblas_starts_single_threaded():
    """OpenBLAS started with one thread when this command is what loads numpy.

    A fit runs BLAS on one thread and raises it only for a large Schur complement's factorisation
    (:mod:`mixedmodels._threads`, through threadpoolctl, which can raise it from one); but OpenBLAS
    starts one thread per core, and on a 2-core machine its idle second thread spins beside the
    command's own thread (``fit sleepstudy``: CPU 1.13 → 0.91 s; the wall time is the same while
    the second core is idle, and the spinning takes turns with the command while it is not).
    Nothing changes when numpy is loaded already (``main`` called from Python) or the user set
    ``OPENBLAS_NUM_THREADS``; the variable is removed again afterwards.
    """
    if "numpy" in sys.modules or "OPENBLAS_NUM_THREADS" in os.environ:
        yield
        return
    os.environ["OPENBLAS_NUM_THREADS"] = "1"
    try:
        yield
    finally:
        os.environ.pop("OPENBLAS_NUM_THREADS", None)


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit status (0 ok, 1 error, 2 bad usage).

    The garbage collector is paused while the command runs (:func:`_collector_paused`), and
    OpenBLAS starts with one thread (:func:`_openblas_starts_single_threaded`).
    """
    with _collector_paused(), _openblas_starts_single_threaded():
        return _run(sys.argv[1:] if argv is None else list(argv))


def _run(argv: list[str]) -> int:
    debug = "--debug" in argv
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            args = _parser().parse_args([a for a in argv if a != "--debug"])
            args.run(args)
            status, message = 0, None
        except KeyboardInterrupt:
            return 130
        except Exception as error:  # the command's contract: one line, no traceback
            if debug:
                raise
            status = 2 if isinstance(error, CommandError) else 1
            message = f"error: {_one_line(error)}"
    for warning in dict.fromkeys(" ".join(str(w.message).split()) for w in caught):  # also those before an error
        sys.stderr.write(f"warning: {warning}\n")
    if message is not None:
        sys.stderr.write(message + "\n")
    return status


if __name__ == "__main__":
    sys.exit(main())
