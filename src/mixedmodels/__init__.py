"""mixedmodels: linear and generalized linear mixed-effects models, as lme4 fits them."""

from . import datasets
from .control import LmerControl
from .lmm import lmer
from .glmm import GlmerFit, glmer
from .results import LmerFit
from .inference import anova
from .mmrm import MmrmFit, mmrm  # after this the name mmrm is the function; the subpackage stays importable
from .inference.bootstrap import bootstrap
from .errors import ConvergenceWarning, DesignError, FormulaError, MixedModelsError, SingularFitWarning

__all__ = [
    "lmer",
    "LmerControl",
    "glmer",
    "GlmerFit",
    "LmerFit",
    "mmrm",
    "MmrmFit",
    "anova",
    "bootstrap",
    "datasets",
    "ConvergenceWarning",
    "DesignError",
    "FormulaError",
    "MixedModelsError",
    "SingularFitWarning",
]
