"""emmeans' printed layout: digits, p-values, by blocks, HTML."""

from __future__ import annotations

import numpy as np
import pandas as pd

from mixedmodels.postfit.emmtable import EmmTable


def _table(by=()):
    frame = pd.DataFrame({"contrast": pd.Categorical(["A - B", "A - C"]),
                          "g": pd.Categorical(["x", "y"]),
                          "estimate": [1.23456, -0.5], "SE": [0.5, 0.5], "df": [27.004, np.inf],
                          "t.ratio": [2.46912, -1.0], "p.value": [0.00001, 0.3173]})
    return EmmTable(frame, list(by), "estimate", ["P value adjustment: none"])


def test_print_rules():
    text = str(_table())
    lines = text.splitlines()
    assert lines[0].split() == ["contrast", "g", "estimate", "SE", "df", "t.ratio", "p.value"]
    assert lines[1].split() == ["A", "-", "B", "x", "1.23", "0.5", "27", "2.469", "<.0001"]
    assert lines[2].split()[-3:] == ["Inf", "-1.000", "0.3173"]
    assert lines[-1] == "P value adjustment: none"


def test_by_blocks_and_html():
    text = str(_table(by=["g"]))
    assert "g = x:" in text and "g = y:" in text
    html = _table()._repr_html_()
    assert "<table>" in html and "&lt;.0001" in html
    assert list(_table().to_frame().columns)[:2] == ["contrast", "g"]
