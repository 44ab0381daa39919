"""Random slope of food intake per litter, uncorrelated with the random intercept:
BodyWeight ~ FoodIntake + (1 | LitterID) + (0 + FoodIntake | LitterID).

The data hold no evidence of litter-to-litter variation in the slope: the estimate of its
standard deviation is 0, a singular (boundary) fit, and the model reduces to the fixed-slope
model. The script says so and prints the singular-fit message.

Run: ``python examples/random_slope.py [OUTPUT_FOLDER]``
"""

import warnings

import mixedmodels as mm
from _lecture import output_folder, report, save

folder = output_folder(__doc__)
with warnings.catch_warnings():
    warnings.simplefilter("ignore", mm.SingularFitWarning)  # reported below, in the output
    fit = mm.lmer("BodyWeight ~ FoodIntake + (1 | LitterID) + (0 + FoodIntake | LitterID)",
                  mm.datasets.load("seed_rats"), data_name="seed_rats")
if fit.is_singular:
    verdict = ("The fit is singular: " + "; ".join(fit.messages) + "\n"
               "The random-slope variance is estimated as 0 (theta = "
               + ", ".join(f"{t:.3g}" for t in fit.theta) + "); prefer the fixed-slope model.")
else:
    verdict = "The fit is not singular (theta = " + ", ".join(f"{t:.3g}" for t in fit.theta) + ")."
report(folder, "random_slope", fit, extra=verdict, values={"singular": float(fit.is_singular)})
save(fit.plot_lines(), folder, "random_slope_lines.png")
save(fit.plot_ranef(), folder, "random_slope_ranef.png")
