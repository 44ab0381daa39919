"""How many dishes per group? Power of the petri-dish experiment by simulation (simr's powerCurve).

The lecture's design: three groups (Control, Antibiotic A, Antibiotic B) × dishes × 5 colony
counts per dish, group means 100 / 80 / 60, dish-to-dish sd 8 (τ² = 64), residual sd 5 (σ² = 25),
analysed by ``lmer(y ~ group + (1 | dish_id))``. The question: how many dishes per group give 80 %
power for the t test (Satterthwaite df) of Antibiotic A against Control when A lowers the
count by only 10 (100 vs 90)? For 3 to 20 dishes per group the design is simulated, refitted and
tested; beside the simulated power stands the exact power of this balanced design (the t test of
the group means, noncentral t with 3(k − 1) df), which the simulation reproduces within its
Monte-Carlo error.

Run: ``python examples/petri_power.py [OUTPUT_FOLDER]``
"""

import sys

import numpy as np
from scipy import stats

import mixedmodels as mm
from _lecture import output_folder, save

NSIM = 200
SIZES = [3, 5, 8, 10, 12, 15, 20]
TAU2, SIGMA, COUNTS, EFFECT = 8.0**2, 5.0, 5, -10.0

folder = output_folder(__doc__)
design = mm.design("y ~ group + (1 | dish_id)", groups={"group": ["Control", "AntibioticA", "AntibioticB"]},
                   clusters=10, per_cluster=COUNTS,
                   fixef={"(Intercept)": 100.0, "groupAntibioticA": -20.0, "groupAntibioticB": -40.0},
                   varcorr={"dish_id": TAU2}, sigma=SIGMA)
overall = mm.power(design, "group", nsim=NSIM, seed=1, progress=False)
curve = mm.power_curve(design, "groupAntibioticA", along="dish_id", within="group", sizes=SIZES, nsim=NSIM, seed=2,
                       progress=False, effects={"groupAntibioticA": EFFECT})


def exact_power(dishes: int) -> float:
    """Two-sided t test of a difference of group means: df 3(k − 1), ncp δ / √(2(τ² + σ²/m)/k)."""
    df = 3 * (dishes - 1)
    ncp = abs(EFFECT) / np.sqrt(2 * (TAU2 + SIGMA**2 / COUNTS) / dishes)
    crit = stats.t.ppf(0.975, df)
    return float(stats.nct.sf(crit, df, ncp) + stats.nct.cdf(-crit, df, ncp))


table = curve.table()
table["exact"] = [exact_power(k) for k in SIZES]
lines = ["Design (10 dishes per group, means 100/80/60): F test of group", str(overall), "",
         f"Antibiotic A 10 below Control ({NSIM} simulations per size):", str(curve), "",
         table.to_string(index=False), ""]
values = {"power_group_F": overall.power, "smallest_dishes_80": curve.smallest(0.8) or float("nan")}
values.update({f"power[{k}]": p for k, p in zip(SIZES, curve.power)})
values.update({f"exact[{k}]": exact_power(k) for k in SIZES})
lines += [f"{key} = {value:.10g}" for key, value in values.items()]
text = "\n".join(lines) + "\n"
sys.stdout.write(text)
(folder / "petri_power.txt").write_text(text, encoding="utf-8")
ax = curve.plot()
ax.plot(SIZES, table["exact"], "x:", color="C3", label="exact (noncentral t)")
ax.set_xlabel("dishes per group")
ax.legend(loc="lower right")
save(ax, folder, "petri_power_curve.png")
