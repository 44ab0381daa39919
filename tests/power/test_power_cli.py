"""``mixedmodels power``: one power, a curve with its plot, JSON/CSV output, one-line errors."""

import io
import json
from contextlib import redirect_stderr, redirect_stdout

import pytest

from mixedmodels.cli import main

PETRI = ["power", "seed_petri", "y ~ group + (1 | dish_id)", "--quiet"]


def _run(*args):
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        status = main(list(args))
    return status, out.getvalue(), err.getvalue()


def test_power_of_a_coefficient_as_text_and_json():
    status, text, _ = _run(*PETRI, "--test", "groupAntibioticA", "--effect", "groupAntibioticA=-8", "--nsim", "40",
                           "--seed", "1")
    assert status == 0 and text.startswith("Power for predictor 'groupAntibioticA', (95% confidence interval):")
    assert "Effect size for groupAntibioticA is -8" in text
    status, out, _ = _run(*PETRI, "--test", "groupAntibioticA", "--effect", "groupAntibioticA=-8", "--nsim", "40",
                          "--seed", "1", "--format", "json")
    row = json.loads(out)[0]
    assert row["nsim"] == 40 and row["lower"] <= row["power"] <= row["upper"]
    assert f"{100 * row['power']:5.2f}%" in text  # the same simulation


def test_power_curve_with_plot(tmp_path):
    png = tmp_path / "curve.png"
    status, out, err = _run(*PETRI, "--test", "group", "--effect", "groupAntibioticA=-5", "--effect",
                            "groupAntibioticB=-5", "--nsim", "20", "--seed", "2", "--along", "dish_id", "--within",
                            "group", "--sizes", "3,6", "--plot", str(png), "--format", "csv")
    assert status == 0, err
    lines = out.strip().splitlines()
    assert lines[0] == "size,nrow,successes,nsim,power,lower,upper"
    assert lines[1].startswith("3,45,") and lines[2].startswith("6,90,")
    assert png.stat().st_size > 1000


@pytest.mark.parametrize("args, message", [
    (["--test", "group", "--effect", "x"], "--effect takes NAME=VALUE"),
    (["--test", "group", "--sizes", "3,a", "--along", "dish_id"], "--sizes takes whole numbers"),
    (["--test", "group", "--sizes", "3"], "--sizes needs --along"),
    (["--test", "group", "--along", "dish_id"], "need --sizes"),
    (["--test", "dose"], "neither a coefficient"),
])
def test_errors_are_one_line(args, message):
    status, _, err = _run(*PETRI, "--nsim", "5", *args)
    assert status in (1, 2) and err.startswith("error: ") and message in err and err.count("\n") == 1
