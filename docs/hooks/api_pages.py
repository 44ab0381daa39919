"""MkDocs hooks: one API page per public name, generated at build time from ``mixedmodels.__all__``.

A name added to ``__all__`` gets its page (and its place in the navigation) without anyone
editing the docs; a name whose docstring mkdocstrings cannot render breaks the strict build.
Exceptions and warnings share one page; modules (``datasets``, ``plots``) get a page each with
their members. The hook also puts this folder on ``sys.path`` so that executed pages can import
``docs_figures`` (figures as embedded PNG), and selects matplotlib's file-only backend.
"""

from __future__ import annotations

import doctest
import inspect
import logging
import os
import sys
from pathlib import Path

os.environ.setdefault("MPLBACKEND", "Agg")
HOOKS = str(Path(__file__).resolve().parent)

import mixedmodels  # noqa: E402
import pandas as pd  # noqa: E402
from mkdocs.structure.files import File  # noqa: E402

LOG = logging.getLogger("mkdocs.hooks.api_pages")  # under "mkdocs": a warning fails --strict
API_SECTION = "API reference"
EXTRA_PAGES = {  # public objects reached through a fit rather than through __all__
    "plots": ("mixedmodels.plots", "Plots"),
    "Profile": ("mixedmodels.inference.profile.Profile", "Profile (from fit.profile())"),
}


def _kind(obj) -> str:
    if inspect.ismodule(obj):
        return "module"
    if inspect.isclass(obj) and issubclass(obj, (Exception, Warning)):
        return "error"
    return "object"


def api_pages() -> dict[str, tuple[str, str]]:
    """``{page file: (title, markdown)}`` for every public name, in ``__all__``'s order."""
    pages: dict[str, tuple[str, str]] = {}
    errors = []
    for name in mixedmodels.__all__:
        obj = getattr(mixedmodels, name)
        kind = _kind(obj)
        if kind == "error":
            errors.append(name)
            continue
        path = f"mixedmodels.{name}"
        options = "\n    options:\n      show_submodules: false\n      members_order: source" if kind == "module" else ""
        pages[f"reference/{name}.md"] = (name, f"# `mixedmodels.{name}`\n\n::: {path}{options}\n")
    for name, (path, title) in EXTRA_PAGES.items():
        pages[f"reference/{name}.md"] = (title, f"# `{path}`\n\n::: {path}\n")
    if errors:
        body = "\n".join(f"::: mixedmodels.{name}\n" for name in errors)
        pages["reference/errors.md"] = ("Errors and warnings", "# Errors and warnings\n\n" + body)
    return pages


def on_config(config):
    """Add the generated pages to the "API reference" section of the navigation."""
    if HOOKS not in sys.path:  # MkDocs restores sys.path after loading this file
        sys.path.insert(0, HOOKS)
    pd.set_option("display.width", 110)  # printed tables in the executed pages, unwrapped
    pd.set_option("display.max_columns", 20)
    for entry in config["nav"]:
        if isinstance(entry, dict) and API_SECTION in entry:
            section = entry[API_SECTION]
            section.extend({title: path} for path, (title, _) in api_pages().items())
            section.append({"Command line": "reference/cli.md"})
            return config
    raise ValueError(f"mkdocs.yml has no '{API_SECTION}' section in nav")


def _documented_objects() -> list:
    objects = [getattr(mixedmodels, name) for name in mixedmodels.__all__]
    for path, _ in EXTRA_PAGES.values():
        module, _, attribute = path.rpartition(".")
        objects.append(getattr(__import__(module, fromlist=[attribute]), attribute))
    return objects


def on_pre_build(config):
    """Run the ``>>>`` examples of every documented docstring: a failing one fails the build."""
    finder, seen = doctest.DocTestFinder(), set()
    for obj in _documented_objects():
        for test in finder.find(obj, globs={}):
            if test.name in seen or not test.examples:
                continue
            seen.add(test.name)
            out = []
            runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
            runner.run(test, out=out.append)
            if runner.failures:
                LOG.warning("docstring example of %s failed:\n%s", test.name, "".join(out))


def on_files(files, config):
    """Create the generated API pages (they exist only in the build, never on disk)."""
    for path, (_, content) in api_pages().items():
        files.append(File.generated(config, path, content=content))
    return files
