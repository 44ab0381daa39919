"""GLMM families as objects, for ``glmer(..., family=...)`` (the registry is :mod:`mixedmodels.glmm.families`).

>>> import mixedmodels as mm
>>> print(mm.families.Gamma(link="log"))
Gamma  ( log )
"""

from .glmm.families import (Binomial, Family, Gamma, InverseGaussian, Link, NBinom1, NegativeBinomial, Poisson,
                            get_family)

__all__ = ["Family", "Link", "Binomial", "Poisson", "NegativeBinomial", "NBinom1", "Gamma", "InverseGaussian",
           "get_family"]
