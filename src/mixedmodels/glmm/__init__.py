"""Generalized linear mixed models (lme4's ``glmer``, ``glmer.nb``): the family registry, Laplace and AGQ."""

from .families import (Binomial, Family, Gamma, InverseGaussian, NBinom1, NegativeBinomial, Poisson, binomial,
                       get_family, poisson)
from .fit import glmer, glmer_nb
from .results import GlmerFit

__all__ = ["glmer", "glmer_nb", "GlmerFit", "Family", "Binomial", "Poisson", "NegativeBinomial", "NBinom1", "Gamma",
           "InverseGaussian", "binomial", "poisson", "get_family"]
