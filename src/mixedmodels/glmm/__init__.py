"""Generalized linear mixed models (lme4's ``glmer``): binomial and Poisson families, Laplace and AGQ."""

from .families import Family, binomial, poisson
from .fit import glmer
from .results import GlmerFit

__all__ = ["glmer", "GlmerFit", "Family", "binomial", "poisson"]
