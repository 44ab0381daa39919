"""Public names imported on first use (mixedmodels._lazy): they behave as eagerly imported names."""

from __future__ import annotations

import ast
import importlib
import sys
import textwrap
from pathlib import Path

import pytest

import mixedmodels as mm
from mixedmodels._lazy import export_lazily, lazy_module


def test_every_public_name_resolves_and_is_listed():
    for name in mm.__all__:
        assert getattr(mm, name) is not None, name
    assert set(mm.__all__) <= set(dir(mm))
    namespace = {}
    exec("from mixedmodels import *", namespace)
    assert set(mm.__all__) <= set(namespace)
    assert namespace["lmer"] is mm.lmer is sys.modules["mixedmodels.lmm"].lmer
    assert mm.families is sys.modules["mixedmodels.families"] and mm.datasets is sys.modules["mixedmodels.datasets"]
    assert mm.anova is sys.modules["mixedmodels.inference.anova"].anova
    assert mm.datasets.simulate_petri is sys.modules["mixedmodels.datasets.simulate"].simulate_petri


def test_names_named_like_their_subpackage_stay_the_functions():
    import mixedmodels.design.fixed  # noqa: F401 - the subpackages of these names, imported again
    import mixedmodels.mmrm.fit  # noqa: F401
    import mixedmodels.power.simulation  # noqa: F401

    assert mm.design is sys.modules["mixedmodels.power.design"].design
    assert mm.power is sys.modules["mixedmodels.power.simulation"].power
    assert mm.mmrm is sys.modules["mixedmodels.mmrm.fit"].mmrm


def test_unknown_names_raise_attribute_error():
    with pytest.raises(AttributeError, match="module 'mixedmodels' has no attribute 'lmerr'"):
        mm.lmerr  # noqa: B018
    with pytest.raises(ImportError, match="cannot import name 'lmerr'"):
        exec("from mixedmodels import lmerr", {})


def test_monkeypatching_a_lazy_name_works_and_is_undone(monkeypatch):
    original = mm.power
    monkeypatch.setattr(mm, "power", len)
    assert mm.power is len
    monkeypatch.undo()
    assert mm.power is original


def _package(root, name: str, init: str, modules: dict[str, str]) -> None:
    folder = root / name
    folder.mkdir()
    (folder / "__init__.py").write_text(textwrap.dedent(init))
    for module, text in modules.items():
        (folder / f"{module}.py").write_text(textwrap.dedent(text))


def test_export_lazily_imports_on_first_use_only(tmp_path, monkeypatch):
    _package(tmp_path, "lazypkg", """
        from mixedmodels import _lazy
        __all__ = ["tool", "heavy", "sub"]
        _lazy.export_lazily(__name__, {"tool": ".tool", "heavy": ".slow"})
    """, {"tool": "def tool():\n    return 'tool'\n", "slow": "heavy = 'heavy'\n", "sub": "x = 1\n"})
    monkeypatch.syspath_prepend(str(tmp_path))
    import lazypkg

    assert "lazypkg.slow" not in sys.modules and "lazypkg.tool" not in sys.modules
    assert lazypkg.heavy == "heavy" and "lazypkg.slow" in sys.modules and "lazypkg.tool" not in sys.modules
    assert "heavy" in vars(lazypkg)  # kept: the next lookup is a plain attribute
    import lazypkg.tool  # the submodule named like the function does not replace it

    assert lazypkg.tool() == "tool"
    assert "lazypkg.sub" not in sys.modules and lazypkg.sub.x == 1  # submodules too are imported on use
    with pytest.raises(AttributeError, match="module 'lazypkg' has no attribute 'nothing'"):
        lazypkg.nothing  # noqa: B018
    assert sorted(n for n in dir(lazypkg) if not n.startswith("_")) == ["heavy", "slow", "sub", "tool"]


def test_lazy_module_imports_on_the_first_attribute_read(tmp_path, monkeypatch):
    _package(tmp_path, "lazymod", "", {"inner": "value = 42\n"})
    monkeypatch.syspath_prepend(str(tmp_path))
    inner = lazy_module("lazymod.inner")
    assert "lazymod.inner" not in sys.modules and "imported on first use" in repr(inner)
    assert inner.value == 42 and inner.value == 42
    assert "lazymod.inner" in sys.modules
    with pytest.raises(AttributeError, match="has no attribute 'missing'"):
        inner.missing  # noqa: B018
    missing = lazy_module("lazymod.absent")
    with pytest.raises(ModuleNotFoundError, match="lazymod.absent"):
        missing.anything  # noqa: B018


def test_export_lazily_refuses_a_public_name_without_a_module(tmp_path, monkeypatch):
    _package(tmp_path, "brokenpkg", """
        from mixedmodels import _lazy
        __all__ = ["tool", "forgotten"]
        _lazy.export_lazily(__name__, {"tool": ".tool"})
    """, {"tool": "def tool():\n    return 'tool'\n"})
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ImportError, match=r"brokenpkg.__all__ names \['forgotten'\] without a module"):
        import brokenpkg  # noqa: F401


def _type_checking_imports(path: Path) -> dict[str, str]:
    """``{name: module}`` of the ``from .module import name`` lines under ``if TYPE_CHECKING:``."""
    names = {}
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING":
            for line in node.body:
                if isinstance(line, ast.ImportFrom) and line.level and line.module:
                    names.update({alias.name: "." * line.level + line.module for alias in line.names})
    return names


def test_each_lazy_package_declares_its_names_for_type_checkers_and_the_docs():
    root = Path(mm.__file__).parent
    packages = [path for path in root.rglob("__init__.py") if "export_lazily(" in path.read_text(encoding="utf-8")]
    assert len(packages) >= 4
    for path in packages:
        package = ".".join(path.parent.relative_to(root.parent).parts)
        module = importlib.import_module(package)
        assert _type_checking_imports(path) == module._lazy_exports, package
