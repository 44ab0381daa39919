"""mixedmodels: linear and generalized linear mixed-effects models, as lme4 fits them."""

from . import datasets
from .lmm import lmer
from .glmm import GlmerFit, glmer
from .results import LmerFit
from .inference import anova
from .inference.bootstrap import bootstrap
from .postfit import contrast, emmeans, joint_tests
from .errors import ConvergenceWarning, DesignError, FormulaError, MixedModelsError, SingularFitWarning

__all__ = [
    "lmer",
    "glmer",
    "GlmerFit",
    "LmerFit",
    "anova",
    "bootstrap",
    "emmeans",
    "contrast",
    "joint_tests",
    "datasets",
    "ConvergenceWarning",
    "DesignError",
    "FormulaError",
    "MixedModelsError",
    "SingularFitWarning",
]
