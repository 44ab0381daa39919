"""Formula expressions (``log(x)``, ``I(x^2)``, ``scale(age)``) evaluated without running code.

formulaic evaluates a term such as ``I(...)`` with Python's ``eval``, which can reach every
builtin: ``I(__import__('os').system('...'))`` would run a shell command. Formulas come from
configuration files, shared notebooks and web forms, so mixedmodels never hands an expression to
``eval``. Each expression is parsed with :mod:`ast` and interpreted node by node here; only
these pieces are allowed:

* names of data columns, and the constants ``pi``, ``TRUE``/``FALSE`` (``True``/``False``);
* numbers and quoted strings (for comparisons such as ``I(Sex == "Female")``);
* arithmetic ``+ - * / ** % //`` (R's ``^``, ``%%``, ``%/%`` are translated before), unary
  ``- + not``, comparisons ``== != < <= > >=``, ``& |`` and ``and``/``or``;
* calls of the functions in :data:`FUNCTIONS` (``I``, ``log``, ``exp``, ``sqrt``, ``abs``,
  ``log2``, ``log10``, ``log1p``, ``expm1``, ``floor``, ``ceiling``, ``round``, ``sign``,
  trigonometric functions, ``scale``, ``center``), of any NumPy ufunc by its name (``arcsinh``,
  ``cbrt``, ...), and of the functions a caller passes explicitly (``functions={"myfun": myfun}``).

Attribute access (``np.log``, ``x.__class__``), subscripts, dunder names, lambdas,
comprehensions, starred arguments and calls of anything else are refused with a
:class:`~mixedmodels.errors.FormulaError` that names the offending piece.

``scale(x)`` and ``center(x)`` are R's: ``center(x) = x − mean(x)``; ``scale(x) = (x − mean(x)) / sd(x)``
(sd with n − 1), ``scale(x, center=FALSE)`` divides by √(Σx²/(n − 1)). The mean and sd come
from the data the model was fitted to and are reused for new data (R's ``makepredictcall``).
"""

from __future__ import annotations

import ast
import math
from typing import Callable, Mapping

import numpy as np
import pandas as pd

from ..errors import FormulaError

__all__ = ["FUNCTIONS", "STATEFUL", "check_expression", "evaluate_expression", "is_stateful"]


def _identity(x):
    """R's ``I()``: the value as it is."""
    return x


def _log(x, base=None):
    """R's ``log(x, base = exp(1))``."""
    return np.log(x) if base is None else np.log(x) / np.log(base)


def _round(x, digits=0):
    """R's ``round(x, digits)`` (NumPy's half-to-even, as R's IEC 60559 rounding)."""
    return np.round(x, int(digits))


FUNCTIONS: dict[str, Callable] = {
    "I": _identity, "log": _log, "exp": np.exp, "sqrt": np.sqrt, "abs": np.abs, "log2": np.log2,
    "log10": np.log10, "log1p": np.log1p, "expm1": np.expm1, "sin": np.sin, "cos": np.cos, "tan": np.tan,
    "asin": np.arcsin, "acos": np.arccos, "atan": np.arctan, "sinh": np.sinh, "cosh": np.cosh,
    "tanh": np.tanh, "floor": np.floor, "ceiling": np.ceil, "trunc": np.trunc, "sign": np.sign,
    "round": _round,
}
"""The functions a formula may call (R's names), besides NumPy ufuncs by name and ``scale``/``center``."""

STATEFUL = ("scale", "center")
"""Functions whose result depends on all rows (their mean and sd are kept for new data)."""

_CONSTANTS = {"pi": math.pi, "TRUE": True, "FALSE": False, "True": True, "False": False}
_BINARY = {
    ast.Add: np.add, ast.Sub: np.subtract, ast.Mult: np.multiply, ast.Div: np.true_divide,
    ast.Pow: np.power, ast.Mod: np.mod, ast.FloorDiv: np.floor_divide, ast.BitAnd: np.logical_and,
    ast.BitOr: np.logical_or,
}
_COMPARE = {
    ast.Eq: np.equal, ast.NotEq: np.not_equal, ast.Lt: np.less, ast.LtE: np.less_equal,
    ast.Gt: np.greater, ast.GtE: np.greater_equal,
}
_UNARY = {ast.USub: np.negative, ast.UAdd: np.positive, ast.Not: np.logical_not, ast.Invert: np.logical_not}
_BOOL = {ast.And: np.logical_and, ast.Or: np.logical_or}


def _ufunc(name: str) -> Callable | None:
    candidate = getattr(np, name, None) if not name.startswith("_") else None
    return candidate if isinstance(candidate, np.ufunc) else None


def _function(name: str, functions: Mapping[str, Callable]) -> Callable | None:
    if name in functions:
        return functions[name]
    if name in FUNCTIONS:
        return FUNCTIONS[name]
    return _ufunc(name)


def _refuse(node: ast.AST, expr: str, context: str, why: str) -> FormulaError:
    piece = ast.get_source_segment(expr, node) or ast.unparse(node)
    return FormulaError(f"{why} {piece!r} in {expr!r} ({context}); formulas may use column names, numbers, "
                        "arithmetic and the functions listed in mixedmodels.design.expressions "
                        "(in Python, lmer(..., functions={'name': function}) adds your own)")


def _parse(expr: str, context: str) -> ast.Expression:
    try:
        return ast.parse(expr, mode="eval")
    except SyntaxError as exc:
        raise FormulaError(f"cannot parse expression {expr!r} in {context}") from exc


def check_expression(expr: str, columns, functions: Mapping[str, Callable] | None = None,
                     context: str = "the formula") -> list[str]:
    """Refuse anything but the allowed pieces; return the column names the expression uses.

    Raises
    ------
    FormulaError
        Naming the offending piece: attribute access, subscript, a dunder or unknown name, a call
        of a function that is not allowed, a lambda, comprehension or other statement-like node.
    """
    functions = functions or {}
    tree = _parse(expr, context)
    used: list[str] = []
    columns = set(map(str, columns))

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.Expression):
            visit(node.body)
        elif isinstance(node, ast.Constant):
            if not isinstance(node.value, (int, float, str, bool)):
                raise _refuse(node, expr, context, "constant not allowed:")
        elif isinstance(node, ast.Name):
            if node.id.startswith("__"):
                raise _refuse(node, expr, context, "dunder name not allowed:")
            if node.id in columns:
                used.append(node.id)
            elif node.id not in _CONSTANTS:
                known = ", ".join(sorted(columns))
                raise FormulaError(f"unknown column {node.id!r} in {context}; the data have: {known}")
        elif isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
            visit(node.left)
            visit(node.right)
        elif isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
            visit(node.operand)
        elif isinstance(node, ast.BoolOp) and type(node.op) in _BOOL:
            for value in node.values:
                visit(value)
        elif isinstance(node, ast.Compare) and all(type(op) in _COMPARE for op in node.ops):
            for value in [node.left, *node.comparators]:
                visit(value)
        elif isinstance(node, ast.Call):
            if not isinstance(node.func, ast.Name) or node.func.id.startswith("__"):
                raise _refuse(node.func, expr, context, "only calls of named functions are allowed, not")
            name = node.func.id
            if name not in STATEFUL and _function(name, functions) is None:
                raise _refuse(node.func, expr, context, "function not allowed:")
            if any(k.arg is None for k in node.keywords) or any(isinstance(a, ast.Starred) for a in node.args):
                raise _refuse(node, expr, context, "starred arguments not allowed:")
            for value in [*node.args, *(k.value for k in node.keywords)]:
                visit(value)
        elif isinstance(node, ast.Attribute):
            raise _refuse(node, expr, context, "attribute access not allowed:")
        elif isinstance(node, ast.Subscript):
            raise _refuse(node, expr, context, "subscripts not allowed:")
        else:
            raise _refuse(node, expr, context, f"{type(node).__name__} not allowed:")

    visit(tree)
    return list(dict.fromkeys(used))


def is_stateful(expr: str) -> bool:
    """Whether the (checked) expression calls ``scale`` or ``center``, whose values depend on all rows."""
    return any(isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id in STATEFUL
               for n in ast.walk(ast.parse(expr, mode="eval")))


def _column_values(series: pd.Series) -> np.ndarray:
    if pd.api.types.is_bool_dtype(series.dtype):
        return series.to_numpy(dtype=bool)
    if pd.api.types.is_numeric_dtype(series.dtype):
        return series.to_numpy(dtype=np.float64, na_value=np.nan)
    return series.astype(object).to_numpy()


def _stateful(name: str, args: list, kwargs: dict, state: dict, key: int, expr: str, context: str) -> np.ndarray:
    """R's ``scale``/``center``; location and spread from the first data evaluated (the fit's)."""
    if len(args) != 1 or set(kwargs) - ({"center", "scale"} if name == "scale" else set()):
        raise FormulaError(f"{name}() takes one column{' and center=, scale=' if name == 'scale' else ''} "
                           f"in {expr!r} ({context})")
    x = np.asarray(args[0], dtype=np.float64)
    if key not in state:
        do_center = bool(kwargs.get("center", True))
        do_scale = name == "scale" and bool(kwargs.get("scale", True))
        location = float(np.mean(x)) if do_center else 0.0
        spread = float(np.sqrt(np.sum((x - location) ** 2) / (len(x) - 1))) if do_scale and len(x) > 1 else 1.0
        if spread == 0.0:
            raise FormulaError(f"{name}() of a constant in {expr!r} ({context}): the standard deviation is 0")
        state[key] = (location, spread)
    location, spread = state[key]
    return (x - location) / spread


def evaluate_expression(expr: str, data: pd.DataFrame, functions: Mapping[str, Callable] | None = None,
                        state: dict | None = None, context: str = "the formula") -> np.ndarray:
    """Evaluate one checked expression on the columns of ``data``; never calls ``eval``.

    Parameters
    ----------
    expr : str
        A Python expression (R's ``^`` already written ``**``), e.g. ``"I(x ** 2)"``, ``"log(z)"``.
    data : DataFrame
    functions : mapping, optional
        Further functions the caller allows, by name.
    state : dict, optional
        Location and spread of ``scale``/``center`` calls: filled on the first evaluation (the
        fitted data), reused afterwards (new data).

    Returns
    -------
    ndarray, shape (n,)
        float64 (booleans become 0/1).
    """
    functions = functions or {}
    used = check_expression(expr, data.columns, functions, context)
    text = [c for c in used if not pd.api.types.is_numeric_dtype(data[c].dtype)
            and not pd.api.types.is_bool_dtype(data[c].dtype)]
    state = {} if state is None else state
    counter = iter(range(1 << 30))

    def value(node: ast.AST):
        if isinstance(node, ast.Expression):
            return value(node.body)
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.Name):
            return _column_values(data[node.id]) if node.id in data.columns else _CONSTANTS[node.id]
        if isinstance(node, ast.BinOp):
            return _BINARY[type(node.op)](value(node.left), value(node.right))
        if isinstance(node, ast.UnaryOp):
            return _UNARY[type(node.op)](value(node.operand))
        if isinstance(node, ast.BoolOp):
            result = value(node.values[0])
            for other in node.values[1:]:
                result = _BOOL[type(node.op)](result, value(other))
            return result
        if isinstance(node, ast.Compare):
            left, result = value(node.left), True
            for op, right_node in zip(node.ops, node.comparators):
                right = value(right_node)
                result = np.logical_and(result, np.asarray(_COMPARE[type(op)](left, right), dtype=bool))
                left = right
            return result
        name = node.func.id  # a Call: check_expression allowed nothing else
        key = next(counter)
        args = [value(a) for a in node.args]
        kwargs = {k.arg: value(k.value) for k in node.keywords}
        if name in STATEFUL and name not in functions:
            return _stateful(name, args, kwargs, state, key, expr, context)
        try:
            return _function(name, functions)(*args, **kwargs)
        except (TypeError, ValueError) as exc:
            if text:
                raise FormulaError(f"column {text[0]!r} used in {expr!r} ({context}) is not numeric") from None
            raise FormulaError(f"cannot evaluate {expr!r} in {context}: {name}(): {exc}") from None

    with np.errstate(all="ignore"):
        try:
            result = np.asarray(value(_parse(expr, context)))
        except TypeError as exc:  # arithmetic on a text column
            culprit = f"column {text[0]!r} used in {expr!r}" if text else repr(expr)
            raise FormulaError(f"{culprit} ({context}) is not numeric: {exc}") from None
    if result.dtype == object or result.dtype.kind in "USM":
        culprit = f"column {text[0]!r} used in {expr!r}" if text else repr(expr)
        raise FormulaError(f"{culprit} ({context}) is not numeric (compare a factor, e.g. I(sex == 'F'))")
    result = np.broadcast_to(result.astype(np.float64), (len(data),)) if result.ndim == 0 else result
    if result.shape != (len(data),):
        raise FormulaError(f"{expr!r} in {context} does not evaluate to one numeric column")
    return np.asarray(result, dtype=np.float64)
