"""After the fit: R² and ICC, prediction intervals, diagnostics (scaled residuals, influence, rePCA),
model comparison, marginal means and contrasts (emmeans). Each module holds one tool; the public
names are re-exported by :mod:`mixedmodels`. The modules are imported on first use
(``mixedmodels.postfit.emmeans`` imports that module; :mod:`mixedmodels._lazy`)."""

from .. import _lazy

_lazy.export_lazily(__name__, {})
