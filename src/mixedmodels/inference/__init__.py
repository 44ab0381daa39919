"""Inference for fitted mixed models: denominator df (Satterthwaite, Kenward–Roger) and ANOVA."""

from .anova import anova
from .ddf import coef_table_ddf
from .bootstrap import bootstrap
from .confint import confint
from .lrt import likelihood_ratio_test
from .profile import Profile, profile

__all__ = ["anova", "coef_table_ddf", "bootstrap", "confint", "likelihood_ratio_test", "Profile", "profile"]
