"""Random intercept with a fixed slope: BodyWeight ~ 1 + FoodIntake + (1 | LitterID).

Every litter has its own level; food intake shifts body weight by the same slope in all litters,
so the fitted lines per litter are parallel.

Run: ``python examples/fixed_slope.py [OUTPUT_FOLDER]``
"""

import mixedmodels as mm
from _lecture import output_folder, report, save

folder = output_folder(__doc__)
fit = mm.lmer("BodyWeight ~ 1 + FoodIntake + (1 | LitterID)", mm.datasets.load("seed_rats"), data_name="seed_rats")
report(folder, "fixed_slope", fit)
save(fit.plot_lines(), folder, "fixed_slope_lines.png")
save(fit.plot_diagnostics(), folder, "fixed_slope_diagnostics.png")
