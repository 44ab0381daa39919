"""mixedmodels: linear and generalized linear mixed-effects models, as lme4 fits them."""

from . import datasets, families
from .lmm import lmer
from .glmm import GlmerFit, glmer, glmer_nb
from .results import LmerFit
from .inference import anova
from .inference.bootstrap import bootstrap
from .errors import ConvergenceWarning, DesignError, FormulaError, MixedModelsError, SingularFitWarning

__all__ = [
    "lmer",
    "glmer",
    "glmer_nb",
    "families",
    "GlmerFit",
    "LmerFit",
    "anova",
    "bootstrap",
    "datasets",
    "ConvergenceWarning",
    "DesignError",
    "FormulaError",
    "MixedModelsError",
    "SingularFitWarning",
]
