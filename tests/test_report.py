"""The HTML report, opened in a real headless Chromium.

A copy of the report gets a small script that, on the page's load event, measures what the
browser rendered (tables with their rendered height and rows, every <img> with ``complete`` and
``naturalWidth``) and writes it as JSON into the DOM; ``chromium --dump-dom`` prints that DOM.
.ci/run installs Debian's chromium and sets MIXEDMODELS_REQUIRE_BROWSER=1, so in CI a missing
browser fails the test instead of skipping it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from html import unescape
from pathlib import Path

import matplotlib
import pytest

from conftest import fitted, reference, reference_data
from mixedmodels import glmer
from mixedmodels.report import PLOTS, build_report

matplotlib.use("Agg")

PROBE = """<script>
window.addEventListener("load", function () {
  var tables = Array.from(document.querySelectorAll("table")).map(function (t) {
    return {id: t.id, rows: t.rows.length, height: t.getBoundingClientRect().height};
  });
  var images = Array.from(document.images).map(function (img) {
    return {complete: img.complete, width: img.naturalWidth, height: img.naturalHeight};
  });
  var out = document.createElement("pre");
  out.id = "browser-check";
  out.textContent = JSON.stringify({tables: tables, images: images, title: document.title});
  document.body.appendChild(out);
});
</script>"""


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    if os.environ.get("MIXEDMODELS_REQUIRE_BROWSER"):
        pytest.fail("chromium is required here (MIXEDMODELS_REQUIRE_BROWSER) but not installed")
    pytest.skip("chromium is not installed (apt-get install -y chromium; .ci/run does this)")


def render(html_path: Path, tmp_path: Path) -> dict:
    """Open a probed copy of ``html_path`` in headless Chromium; return what the probe measured."""
    browser = _chromium()
    probed = tmp_path / f"probed-{html_path.name}"
    probed.write_text(html_path.read_text(encoding="utf-8").replace("</body>", PROBE + "</body>"), encoding="utf-8")
    done = subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}",
         "--virtual-time-budget=10000", "--dump-dom", probed.as_uri()],
        capture_output=True, text=True, timeout=180)
    match = re.search(r'<pre id="browser-check">(.*?)</pre>', done.stdout, re.S)
    assert match, f"the page did not finish loading in chromium:\n{done.stderr[-2000:]}"
    return json.loads(unescape(match.group(1)))


def _assert_rendered(seen: dict, n_images: int, tables=("fit-criteria", "random-effects", "fixed-effects", "icc")):
    tables_seen = {t["id"]: t for t in seen["tables"]}
    assert set(tables) <= set(tables_seen)
    tables = tables_seen
    assert all(t["height"] > 10 and t["rows"] >= 2 for t in tables.values())
    assert len(seen["images"]) == n_images
    assert all(img["complete"] and img["width"] > 0 and img["height"] > 0 for img in seen["images"])


def _assert_self_contained(html: str) -> None:
    assert not re.search(r'(src|href)\s*=\s*["\']?(https?:)?//', html, re.I)
    assert "<link" not in html.lower() and "<script" not in html.lower()


def test_cli_report_renders_in_chromium(tmp_path):
    command = shutil.which("mixedmodels", path=str(Path(sys.executable).parent)) or shutil.which("mixedmodels")
    out = tmp_path / "report.html"
    done = subprocess.run([command, "report", "sleepstudy", "Reaction ~ Days + (Days | Subject)", "-o", str(out)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    html = out.read_text(encoding="utf-8")
    _assert_self_contained(html)
    ref = reference("sleepstudy_slope_reml")
    # the fixed-effects table shows lme4's estimates to 4 significant digits
    fixed = html[html.index('id="fixed-effects"'):]
    fixed = fixed[:fixed.index("</table>")]
    for name, value in ref["beta"].items():
        assert f"<td>{value:.4g}" in fixed or f"<td>{value:.5g}" in fixed, name
    seen = render(out, tmp_path)
    assert seen["title"] == "Mixed model: Reaction ~ Days + (Days | Subject)"
    _assert_rendered(seen, n_images=len(PLOTS) + 1)  # + the scaled-residual diagnostics


def test_report_embeds_every_plot_and_warns_of_singular_fit(tmp_path):
    out = tmp_path / "singular.html"
    out.write_text(build_report(fitted("dyestuff2_singular")), encoding="utf-8")
    html = out.read_text(encoding="utf-8")
    _assert_self_contained(html)
    assert html.count('src="data:image/png;base64,') == len(PLOTS) + 1  # + the scaled-residual diagnostics
    assert "boundary (singular) fit" in html[html.index('id="warnings"'):html.index("<h2>Fit")]
    _assert_rendered(render(out, tmp_path), n_images=len(PLOTS) + 1)


def _cells(html: str, table_id: str) -> list[list[str]]:
    body = html[html.index(f'id="{table_id}"'):]
    body = body[:body.index("</table>")]
    return [[unescape(cell) for cell in re.findall(r"<td[^>]*>(.*?)</td>", row)]
            for row in re.findall(r"<tr>(.*?)</tr>", body)[1:]]


def test_report_tables_show_lmertest_numbers():
    ref = reference("seed_petri")
    html = build_report(fitted("seed_petri"))
    fixed = {row[0]: row[1:] for row in _cells(html, "fixed-effects")}
    assert list(fixed) == list(ref["beta"])
    for name, row in ref["satterthwaite"].items():
        estimate, se, df, t, p = fixed[name]
        assert float(estimate) == pytest.approx(row["estimate"], rel=1e-3)
        assert float(se) == pytest.approx(row["se"], rel=1e-3)
        assert float(df) == pytest.approx(row["df"], rel=1e-3)
        assert float(t) == pytest.approx(row["t"], rel=1e-3)
        assert (p.replace(" ", "") == "<2e-16") if row["p"] < 2e-16 else (float(p) == pytest.approx(row["p"], rel=1e-2))
    ((term, sum_sq, mean_sq, num_df, den_df, f_value, p),) = _cells(html, "anova")
    expected = ref["anova_type3_satterthwaite"]["group"]
    assert term == "group" and int(num_df) == expected["NumDF"]
    assert float(f_value) == pytest.approx(expected["F"], rel=1e-3)
    assert float(den_df) == pytest.approx(expected["DenDF"], rel=1e-3)
    assert float(p) == pytest.approx(expected["p"], rel=1e-2)
    icc = dict(_cells(html, "icc"))
    tau2, sigma2 = (r["vcov"] for r in ref["varcorr"])
    assert float(icc["dish_id"]) == pytest.approx(tau2 / (tau2 + sigma2), rel=1e-3)
    random = _cells(html, "random-effects")
    assert [r[:2] for r in random] == [["dish_id", "(Intercept)"], ["Residual", ""]]
    assert [float(r[2]) for r in random] == pytest.approx([tau2, sigma2], rel=1e-3)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def test_random_effects_table_reads_as_lme4_prints_it():
    # lme4 summary(lmer(Reaction ~ Days + (Days | Subject), sleepstudy)):
    #  Groups   Name        Variance Std.Dev. Corr
    #  Subject  (Intercept) 612.10   24.741
    #           Days         35.07    5.922   0.07
    #  Residual             654.94   25.592
    # Our optimum is 1.5e-9 below lme4's, which moves the last printed digit of the intercept's
    # variance and sd (612.09 / 24.740): numbers are compared to one unit in that digit.
    assert "612.10   24.741" in reference("sleepstudy_slope_reml")["summary_text"]
    html = build_report(fitted("sleepstudy_slope_reml"))
    expected = [["Subject", "(Intercept)", "612.10", "24.741", ""],
                ["", "Days", "35.07", "5.922", "(Intercept): 0.07"],
                ["Residual", "", "654.94", "25.592", ""]]
    cells = _cells(html, "random-effects")
    assert [[c for c in row if not _is_number(c)] for row in cells] == \
        [[c for c in row if not _is_number(c)] for row in expected]
    for row, expected_row in zip(cells, expected):
        for ours, theirs in zip(row, expected_row):
            if _is_number(theirs):
                decimals = len(theirs.split(".")[1])
                assert abs(float(ours) - float(theirs)) <= 1.01 * 10.0 ** -decimals


def test_glmm_report_shows_z_tests_and_renders(tmp_path):
    ref = reference("cbpp_binomial")
    fit = glmer(ref["formula"], reference_data("cbpp.csv"), family="binomial", data_name="cbpp")
    out = tmp_path / "glmm.html"
    out.write_text(build_report(fit), encoding="utf-8")
    html = out.read_text(encoding="utf-8")
    assert "Generalized linear mixed model (binomial, logit link) fit by maximum likelihood" in html
    assert 'id="icc"' not in html and 'id="anova"' not in html  # LMM-only sections
    fixed = {row[0]: row[1:] for row in _cells(html, "fixed-effects")}
    assert list(fixed) == list(ref["beta"])
    for name, value in ref["beta"].items():
        assert float(fixed[name][0]) == pytest.approx(value, rel=2e-3)
        assert float(fixed[name][1]) == pytest.approx(ref["se_beta"][name], rel=2e-2)
    _assert_rendered(render(out, tmp_path), n_images=html.count('src="data:image/png;base64,'),
                     tables=("fit-criteria", "random-effects", "fixed-effects"))


def test_report_shows_r2_and_residual_diagnostics():
    """The R² table (mm.r2) and DHARMa's tests; a singular fit says why its conditional R² is missing."""
    import mixedmodels as mm

    fit = fitted("sleepstudy_slope_reml")
    html = build_report(fit)
    r2 = dict(_cells(html, "r2"))
    assert float(r2["marginal (fixed effects)"]) == pytest.approx(mm.r2(fit).marginal, rel=1e-3)
    assert float(r2["conditional (fixed and random effects)"]) == pytest.approx(mm.r2(fit).conditional, rel=1e-3)
    tests = {row[0]: row[1:] for row in _cells(html, "residual-tests")}
    assert list(tests) == ["uniformity (KS)", "dispersion", "outliers"]
    assert "Scaled (quantile) residuals from 250 simulations" in html
    assert build_report(fit) == html  # the simulations are seeded
    singular = build_report(fitted("dyestuff2_singular"))
    assert "Singular fit: the conditional R² is not defined" in singular
