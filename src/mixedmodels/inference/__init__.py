"""Inference for fitted mixed models: denominator df (Satterthwaite, Kenward–Roger) and ANOVA.

The names are imported on first use (:mod:`mixedmodels._lazy`): a summary's t tests do not load
the bootstrap, profiles or likelihood-ratio tests.
"""

from .. import _lazy

__all__ = ["anova", "coef_table_ddf", "bootstrap", "confint", "likelihood_ratio_test", "Profile", "profile"]

_lazy.export_lazily(__name__, {"anova": ".anova", "coef_table_ddf": ".ddf", "bootstrap": ".bootstrap",
                               "confint": ".confint", "likelihood_ratio_test": ".lrt", "Profile": ".profile",
                               "profile": ".profile"})
