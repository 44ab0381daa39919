"""Public names of a package imported on first use (PEP 562), so a call pays only for what it uses.

A package's ``__init__`` lists its public names and the module each comes from, and calls
:func:`export_lazily`; ``package.name``, ``from package import name``, ``dir(package)`` and
``from package import *`` then work as for names imported eagerly, and the first lookup of a name
imports its module and keeps the value in the package (later lookups cost nothing).
"""

from __future__ import annotations

import importlib
import sys
import types

__all__ = ["export_lazily"]


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
                and name in self.__dict__["_lazy_names"]):
            return
        super().__setattr__(name, value)


def export_lazily(package: str, names: dict[str, str], submodules: tuple[str, ...] = ()) -> None:
    """Make the names of ``package`` import on first use.

    Parameters
    ----------
    package : str
        The package's ``__name__`` (its ``__all__`` must list every public name).
    names : dict
        Public name → the module (relative to ``package``, e.g. ``".lmm"``) that defines it.
    submodules : tuple of str
        Public names that are submodules of ``package`` themselves (``mixedmodels.datasets``).
    """
    module = sys.modules[package]
    public = set(module.__all__)
    missing = public - set(names) - set(submodules) - set(module.__dict__)
    if missing:
        raise ImportError(f"{package}.__all__ names {sorted(missing)} without a module to import them from")

    def __getattr__(name: str):
        if name in submodules:
            return importlib.import_module(f".{name}", package)
        if name not in names:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(names[name], package), name)
        module.__dict__[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted(set(module.__dict__) | public)

    module.__dict__.update(__getattr__=__getattr__, __dir__=__dir__, _lazy_names=frozenset(names))
    module.__class__ = LazyPackage
