"""Inference for fitted mixed models: denominator df (Satterthwaite, Kenward–Roger) and ANOVA."""

from .anova import anova
from .ddf import coef_table_ddf

__all__ = ["anova", "coef_table_ddf"]
