"""The built documentation site (``mkdocs build --strict`` → ``site/``), opened in headless Chromium.

The site is built by the README's docs command; ``.ci/run`` builds it (warnings as errors) before
running pytest and sets MIXEDMODELS_REQUIRE_DOCS=1, so in CI a missing site fails these tests
instead of skipping them. Locally they are skipped until the site has been built, or when the
``docs`` extra is not installed. The pages are opened from a copy of the site with the probe of
``test_report.py`` (every ``<img>``'s ``complete`` and natural size, every table's height).
"""

from __future__ import annotations

import inspect
import os
import re
import shutil
import subprocess
from pathlib import Path

import matplotlib.image
import numpy as np
import pytest

import mixedmodels
from test_report import _chromium, render

SITE = Path(__file__).resolve().parents[1] / "site"
TUTORIAL = ["index", "clustered-data", "three-models", "mixed-anova", "general-model", "glmm", "mmrm", "power"]
# figures each tutorial page draws while the site is built (at least): only executed code makes them
TUTORIAL_FIGURES = {"index": 0, "clustered-data": 2, "three-models": 3, "mixed-anova": 4, "general-model": 2, "glmm": 1, "mmrm": 0, "power": 1}


def _site() -> Path:
    if not (SITE / "index.html").is_file():
        if os.environ.get("MIXEDMODELS_REQUIRE_DOCS"):
            pytest.fail("the documentation site was not built (MIXEDMODELS_REQUIRE_DOCS): mkdocs build --strict")
        pytest.skip("the documentation site is not built (README: mkdocs build --strict)")
    pytest.importorskip("mkdocs", reason="the docs extra is not installed (pip install -e '.[docs]')")
    return SITE


@pytest.fixture(scope="module")
def site_copy(tmp_path_factory) -> Path:
    """A copy of the built site: the probed pages are written beside the originals, in the copy."""
    copy = tmp_path_factory.mktemp("docs") / "site"
    shutil.copytree(_site(), copy)
    return copy


def _probe(page: Path) -> dict:
    return render(page, page.parent)


def _assert_images_loaded(seen: dict, at_least: int) -> None:
    assert len(seen["images"]) >= at_least
    assert all(img["complete"] and img["width"] > 0 and img["height"] > 0 for img in seen["images"]), seen["images"]


@pytest.mark.parametrize("name", TUTORIAL)
def test_tutorial_page_renders_with_every_figure(site_copy, name):
    page = site_copy / "tutorial" / f"{name}.html"
    html = page.read_text(encoding="utf-8")
    assert "Traceback" not in html  # an executed block that failed would show its traceback
    seen = _probe(page)
    _assert_images_loaded(seen, TUTORIAL_FIGURES[name])


def test_gallery_renders_every_figure(site_copy):
    # which functions it must draw is checked while it is built (the last block of docs/gallery.md)
    page = site_copy / "gallery.html"
    html = page.read_text(encoding="utf-8")
    for name in ("clusters", "plot_lines", "plot_ranef", "plot_diagnostics"):
        assert f"plots.{name}" in html, name
    _assert_images_loaded(_probe(page), 10)


def test_every_public_name_has_an_api_page(site_copy):
    for name in mixedmodels.__all__:
        obj = getattr(mixedmodels, name)
        if inspect.isclass(obj) and issubclass(obj, (Exception, Warning)):
            page = site_copy / "reference" / "errors.html"
        else:
            page = site_copy / "reference" / f"{name}.html"
        assert page.is_file(), name
        html = page.read_text(encoding="utf-8")
        assert f'id="mixedmodels.{name}"' in html, name
        assert not re.search(r":(func|meth|class|mod|attr):`", html), f"a raw Sphinx role on {page.name}"
    cli = (site_copy / "reference" / "cli.html").read_text(encoding="utf-8")
    for command in ("fit", "anova", "datasets", "report"):
        assert f"usage: mixedmodels {command}" in cli


def test_site_loads_nothing_from_the_network(site_copy):
    for page in site_copy.rglob("*.html"):
        html = page.read_text(encoding="utf-8")
        loads = re.findall(r'<(?:script|img|link|iframe)\b[^>]*\b(?:src|href)="((?:https?:)?//[^"]*)"', html)
        assert not loads, (page.name, loads)


def test_relative_links_resolve(site_copy):
    for page in site_copy.rglob("*.html"):
        if page.name == "404.html":  # served from the site's root: its links are root-absolute
            continue
        for target in re.findall(r'\bhref="([^"#:?]+)(?:#[^"]*)?"', page.read_text(encoding="utf-8")):
            assert (page.parent / target).resolve().exists(), (page.relative_to(site_copy), target)


def _screenshot(page: Path, out: Path) -> np.ndarray:
    done = subprocess.run(
        [_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
         "--disable-background-networking", "--no-first-run", f"--user-data-dir={out.parent / 'profile'}",
         "--window-size=1280,2400", "--virtual-time-budget=10000", f"--screenshot={out}", page.as_uri()],
        capture_output=True, text=True, timeout=180)
    assert out.is_file(), done.stderr[-2000:]
    return matplotlib.image.imread(out)


@pytest.mark.parametrize("page", ["tutorial/three-models.html", "reference/lmer.html"])
def test_screenshot_shows_a_styled_page(site_copy, tmp_path, page):
    pixels = _screenshot(site_copy / page, tmp_path / "page.png")
    assert pixels.shape[:2] == (2400, 1280)
    rgb = pixels[..., :3].reshape(-1, 3)
    # the theme's stylesheet loaded: the header bar is the palette's teal, not an unstyled white page
    header = pixels[10:40, 10:300, :3].reshape(-1, 3).mean(axis=0)
    assert header[1] > header[0] + 0.2 and header[2] > header[0] + 0.2, header
    # and the page is not blank: text and figures make many distinct colours
    assert len(np.unique(np.round(rgb * 255).astype(int), axis=0)) > 50
