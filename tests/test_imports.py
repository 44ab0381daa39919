"""The package's module-level imports form no cycle, and the stages import one way.

Imports inside functions (the fit's thin delegates such as ``fit.confint()``) are not module
dependencies and are left out; every ``import`` statement at the top level of a module is in.
"""

from __future__ import annotations

import ast
from pathlib import Path

import mixedmodels

PACKAGE = Path(mixedmodels.__file__).parent


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in PACKAGE.rglob("*.py")}


def _resolve(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    if node.level == 0:
        return node.module or ""
    base = module.split(".")
    base = base if is_package else base[:-1]
    base = base[:len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _targets(name: str, importer: str, modules: dict[str, Path]) -> list[str]:
    """The package modules executed by importing ``name`` from ``importer``: it and its parent packages,
    except the importer's own ancestors (already being imported when the importer runs)."""
    parts = name.split(".")
    out = [".".join(parts[:i]) for i in range(1, len(parts) + 1) if ".".join(parts[:i]) in modules]
    return [t for t in out if t != importer and not importer.startswith(t + ".")]


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for module, path in modules.items():
        is_package = path.name == "__init__.py"
        for node in ast.parse(path.read_text()).body:  # top-level statements only
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = _resolve(module, is_package, node)
                names = [base] + [f"{base}.{a.name}" for a in node.names]
            for name in names:
                graph[module].update(_targets(name, module, modules))
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_no_import_cycle():
    cycle = _cycle(_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_the_fit_does_not_import_inference_plots_or_export():
    graph = _graph()
    for stage in ("mixedmodels.results", "mixedmodels.fitting", "mixedmodels.objective", "mixedmodels.cholesky"):
        later = {t for t in graph[stage] if t.startswith(("mixedmodels.inference", "mixedmodels.plots",
                                                           "mixedmodels.export", "mixedmodels.report",
                                                           "mixedmodels.cli"))}
        assert not later, f"{stage} imports {sorted(later)} at module level"
