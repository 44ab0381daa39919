"""examples/petri_power.py runs, writes its curve, and its simulated power agrees with the exact power."""

import re
import subprocess
import sys
from pathlib import Path

import numpy as np

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "petri_power.py"


def test_petri_power_example(tmp_path):
    done = subprocess.run([sys.executable, str(EXAMPLE), str(tmp_path)], capture_output=True, text=True, timeout=600,
                          cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    values = {k: float(v) for k, v in re.findall(r"^(\S+) = (\S+)$", done.stdout, re.M)}
    assert values["power_group_F"] > 0.99  # means 100/80/60 with 10 dishes: the F test cannot miss
    sizes = sorted(int(k[6:-1]) for k in values if k.startswith("power["))
    for k in sizes:  # 200 simulations each: within 3 binomial standard errors of the exact power
        exact = values[f"exact[{k}]"]
        assert abs(values[f"power[{k}]"] - exact) <= 3 * np.sqrt(exact * (1 - exact) / 200), k
    assert values["smallest_dishes_80"] in sizes
    assert (tmp_path / "petri_power_curve.png").stat().st_size > 1000
    assert (tmp_path / "petri_power.txt").read_text().startswith("Design (10 dishes per group")
