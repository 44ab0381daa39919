"""Inference for fitted mixed models: denominator df (Satterthwaite, Kenward–Roger) and ANOVA.

The names are imported on first use (:mod:`mixedmodels._lazy`): a summary's t tests do not load
the bootstrap, profiles or likelihood-ratio tests.
"""

from typing import TYPE_CHECKING

from .. import _lazy

if TYPE_CHECKING:  # the names as type checkers and the API reference read them
    from .anova import anova
    from .ddf import coef_table_ddf
    from .bootstrap import bootstrap
    from .confint import confint
    from .lrt import likelihood_ratio_test
    from .profile import Profile, profile

__all__ = ["anova", "coef_table_ddf", "bootstrap", "confint", "likelihood_ratio_test", "Profile", "profile"]

_lazy.export_lazily(__name__, {"anova": ".anova", "coef_table_ddf": ".ddf", "bootstrap": ".bootstrap",
                               "confint": ".confint", "likelihood_ratio_test": ".lrt", "Profile": ".profile",
                               "profile": ".profile"})
