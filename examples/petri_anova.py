"""Mixed ANOVA of colony counts: y ~ group + (1 | dish_id), dishes nested in treatment groups.

Counts from one dish are correlated, so the treatment effect is tested against the variation
between dishes: the type III F test with Satterthwaite denominator df (lmerTest's ``anova``),
about 27 = 30 dishes − 3 groups.

Run: ``python examples/petri_anova.py [OUTPUT_FOLDER]``
"""

import mixedmodels as mm
from mixedmodels import plots
from _lecture import output_folder, report, save

folder = output_folder(__doc__)
data = mm.datasets.load("seed_petri")
fit = mm.lmer("y ~ group + (1 | dish_id)", data, data_name="seed_petri")
table = mm.anova(fit, type=3)
test = table.loc["group"]
report(folder, "petri_anova", fit, extra=str(table),
       values={"F": test["F value"], "NumDF": test["NumDF"], "DenDF": test["DenDF"], "p": test["Pr(>F)"]})
save(plots.clusters(data, "y", "dish_id"), folder, "petri_anova_dishes.png")
save(fit.plot_lines(), folder, "petri_anova_lines.png")
save(fit.plot_diagnostics(), folder, "petri_anova_diagnostics.png")
