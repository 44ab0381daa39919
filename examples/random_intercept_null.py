"""Random-intercept null model of rat body weight by litter: BodyWeight ~ 1 + (1 | LitterID).

How much of the variation in body weight lies between litters? The ICC is the share of the
variance due to litters, τ² / (τ² + σ²).

Run: ``python examples/random_intercept_null.py [OUTPUT_FOLDER]``
"""

import mixedmodels as mm
from _lecture import output_folder, report, save

folder = output_folder(__doc__)
fit = mm.lmer("BodyWeight ~ 1 + (1 | LitterID)", mm.datasets.load("seed_rats"), data_name="seed_rats")
report(folder, "random_intercept_null", fit, values={"icc": fit.icc()["LitterID"]})
save(fit.plot_lines(), folder, "random_intercept_null_lines.png")
save(fit.plot_ranef(), folder, "random_intercept_null_ranef.png")
