"""mixedmodels: linear and generalized linear mixed-effects models, as lme4 fits them."""

from . import datasets
from .control import LmerControl
from .lmm import lmer
from .glmm import GlmerFit, glmer
from .results import LmerFit
from .inference import anova
from .mmrm import MmrmFit, mmrm  # after this the name mmrm is the function; the subpackage stays importable
from .inference.bootstrap import bootstrap
from .postfit.compare import compare
from .postfit.contrast import contrast
from .postfit.emmeans import emmeans, joint_tests
from .postfit.r2 import r2
from .postfit.repca import rePCA
from .postfit.residuals import simulate_residuals
from .power import PowerCurve, PowerDesign, PowerResult, design, extend, power, power_curve
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
    "emmeans",
    "contrast",
    "joint_tests",
    "compare",
    "r2",
    "rePCA",
    "simulate_residuals",
    "design",
    "extend",
    "power",
    "power_curve",
    "PowerCurve",
    "PowerDesign",
    "PowerResult",
    "datasets",
    "ConvergenceWarning",
    "DesignError",
    "FormulaError",
    "MixedModelsError",
    "SingularFitWarning",
]
