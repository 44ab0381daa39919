"""R's printing of ANOVA-type tables (RTable) against the text lmerTest / lme4 print
(tests/reference/printing/printing.json, made by make_printing_reference.R there)."""

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import mixedmodels as mm
from mixedmodels.inference.lrt import likelihood_ratio_test
from mixedmodels.rformat import RTable, format_pvalues

from conftest import fitted

PRINTED = json.loads((Path(__file__).parent / "reference" / "printing" / "printing.json").read_text())


def _frame(key: str) -> pd.DataFrame:
    record = PRINTED[key]
    rows = record["rows"] if isinstance(record["rows"], list) else [record["rows"]]
    columns = {c: [np.nan if x is None else x for x in (v if isinstance(v, list) else [v])]
               for c, v in record["columns"].items()}
    return pd.DataFrame(columns, index=rows)


@pytest.mark.parametrize("key", ["cake_type3", "cake_type1_kr", "petri_type3", "sleep_lrt"])
def test_rtable_prints_r_numbers_as_r_does(key):
    text = PRINTED[key]["text"].splitlines()
    heading = text[: 4 if key == "sleep_lrt" else 1]
    table = RTable(_frame(key), heading="\n".join(heading))
    assert str(table).splitlines() == text


def test_anova_prints_as_lmertest():
    # our own fit of the cake model: its numbers agree with lmerTest's to the printed digits
    table = mm.anova(fitted("cake_anova"))
    assert repr(table) == PRINTED["cake_type3"]["text"]
    assert isinstance(table, pd.DataFrame) and list(table.columns)[-1] == "Pr(>F)"
    assert table.loc["recipe", "NumDF"] == 2  # still a DataFrame for programs
    kr = mm.anova(fitted("cake_anova"), type=1, ddf="kenward-roger")
    assert str(kr) == PRINTED["cake_type1_kr"]["text"]


def test_likelihood_ratio_table_prints_as_lme4():
    m0 = mm.lmer("Reaction ~ Days + (1 | Subject)", mm.datasets.load("sleepstudy"), data_name="sleep")
    m1 = mm.lmer("Reaction ~ Days + (Days | Subject)", mm.datasets.load("sleepstudy"), data_name="sleep")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table = likelihood_ratio_test(m0, m1, names=["m0", "m1"])
    assert str(table) == PRINTED["sleep_lrt"]["text"]  # no pandas truncation ([2 rows x 8 columns])


def test_html_has_heading_stars_blanks_and_legend():
    html = RTable(_frame("sleep_lrt"), heading="Data: sleep")._repr_html_()
    assert html.startswith("<p><b>Data: sleep</b></p>") and "Signif. codes" in html
    assert "<td style=\"text-align:right\">***</td>" in html and "NaN" not in html and "nan" not in html


def test_anova_ml_refit_warning_points_at_the_callers_line():
    m0 = fitted("sleepstudy_intercept")
    m1 = mm.lmer("Reaction ~ 1 + (Days | Subject)", mm.datasets.load("sleepstudy"))
    with pytest.warns(UserWarning, match="refitting model") as caught:
        mm.anova(m0, m1)
    assert caught[0].filename == __file__


def test_format_pvalues_follows_format_pval_for_tiny_values():
    assert format_pvalues([1e-20], digits=3) == ["<2e-16"]  # R: no space when all are tiny and 1 digit
    assert format_pvalues([1e-20, 7.07241254723003e-10], digits=4) == ["< 2.2e-16", "7.072e-10"]
    assert format_pvalues([1e-20, 0.78], digits=4) == ["<2e-16", "0.78"]


@pytest.mark.parametrize("case", PRINTED["numbers"], ids=lambda c: str(c["x"]))
def test_format_numbers_switches_to_scientific_as_r(case):
    from mixedmodels.rformat import format_numbers

    assert format_numbers(case["x"], 4) == case["text"]  # e.g. 1.338e-12, not 0.000000000001338


@pytest.mark.parametrize("case", PRINTED["formulas"], ids=lambda c: c["formula"][:30])
def test_formula_line_is_deparsed_and_wrapped_as_lme4(case):
    from mixedmodels.rformat import cat_fill, deparse

    assert "\n".join(cat_fill(["Formula:", *deparse(case["formula"])])) == case["text"]
