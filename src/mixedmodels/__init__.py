"""mixedmodels: linear and generalized linear mixed-effects models, as lme4 fits them."""

from . import datasets
from .errors import ConvergenceWarning, DesignError, FormulaError, MixedModelsError, SingularFitWarning

__all__ = [
    "datasets",
    "ConvergenceWarning",
    "DesignError",
    "FormulaError",
    "MixedModelsError",
    "SingularFitWarning",
]
