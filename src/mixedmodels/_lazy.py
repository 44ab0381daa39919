"""Public names of a package imported on first use (PEP 562), so a call pays only for what it uses.

A package's ``__init__`` lists its public names and the module each comes from, and calls
:func:`export_lazily`; ``package.name``, ``from package import name``, ``dir(package)`` and
``from package import *`` then work as for names imported eagerly, and the first lookup of a name
imports its module and keeps the value in the package (later lookups cost nothing). Submodules
are reached the same way (``mixedmodels.glmm.binomial`` imports :mod:`mixedmodels.glmm` on use),
as if the package had imported them. :func:`lazy_module` does the same for one module a module
uses only in some calls (``sp = lazy_module("scipy.sparse")``).
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types

__all__ = ["export_lazily", "lazy_module"]


class LazyPackage(types.ModuleType):
    """The module type of a package whose public names are imported on first use.

    A public function may share its name with a submodule (``mixedmodels.power`` is the function
    :func:`mixedmodels.power.simulation.power`; ``mixedmodels.inference.anova`` the function of
    the module of that name). Importing the submodule makes the import system bind it to the
    package attribute of that name; that binding is refused, so the name means the function
    whichever of the two is imported first, as when the function was imported eagerly.
    """

    def __setattr__(self, name: str, value) -> None:
        if (isinstance(value, types.ModuleType) and value.__name__ == f"{self.__name__}.{name}"
                and name in self.__dict__["_lazy_exports"]):
            return
        super().__setattr__(name, value)


def _is_submodule(package: str, name: str) -> bool:
    if not name.isidentifier() or name.startswith("__"):  # e.g. __wrapped__, looked up by inspect and doctest
        return False
    return importlib.util.find_spec(f"{package}.{name}") is not None


def export_lazily(package: str, names: dict[str, str]) -> None:
    """Make the names of ``package`` import on first use.

    Parameters
    ----------
    package : str
        The package's ``__name__``. Every name of its ``__all__`` (if it has one) must be defined
        in it, be a key of ``names`` or be a submodule (``mixedmodels.datasets``).
    names : dict
        Public name → the module (relative to ``package``, e.g. ``".lmm"``) that defines it. The
        package repeats them as imports under ``if TYPE_CHECKING:``, for type checkers and the API
        reference (tests/test_lazy.py checks that both say the same).
    """
    module = sys.modules[package]
    public = set(getattr(module, "__all__", ()))
    missing = [n for n in sorted(public - set(names) - set(module.__dict__)) if not _is_submodule(package, n)]
    if missing:
        raise ImportError(f"{package}.__all__ names {missing} without a module to import them from")

    def __getattr__(name: str):
        if name in names:
            value = getattr(importlib.import_module(names[name], package), name)
            module.__dict__[name] = value
            return value
        if _is_submodule(package, name):  # importing it binds it in the package
            return importlib.import_module(f".{name}", package)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__() -> list[str]:
        return sorted(set(module.__dict__) | public)

    module.__dict__.update(__getattr__=__getattr__, __dir__=__dir__, _lazy_exports=dict(names))
    module.__class__ = LazyPackage


class _LazyModule:
    """Stands for a module until one of its attributes is read, which imports it (see :func:`lazy_module`)."""

    def __init__(self, name: str):
        self._name = name
        self._module = None

    def __getattr__(self, attr: str):  # only for names not set in __init__
        if self._module is None:
            self._module = importlib.import_module(self._name)
        return getattr(self._module, attr)

    def __repr__(self) -> str:
        return f"<module {self._name!r}, imported on first use>"


def lazy_module(name: str):
    """An object whose attributes are those of the module ``name``, imported when the first is read.

    For a heavy dependency that a module needs in some of its functions only: ``sp =
    lazy_module("scipy.sparse")`` at the top, then ``sp.csr_matrix(...)`` inside them as usual. A
    linear fit of one grouping factor never builds a sparse matrix, and ``scipy.sparse`` costs
    about 15 ms to import.
    """
    return _LazyModule(name)
