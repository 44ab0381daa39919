"""mixedmodels: linear and generalized linear mixed-effects models, as lme4 fits them.

The public names are loaded on first use (PEP 562, :mod:`._lazy`): ``import mixedmodels`` costs
only this module and :mod:`.errors`; ``mixedmodels.lmer`` imports the linear-model path,
``mixedmodels.glmer`` the GLMM path, ``mixedmodels.emmeans`` the marginal means, ``mixedmodels.glmm``
that subpackage, and so on. ``from mixedmodels import lmer``, ``dir(mixedmodels)`` and ``__all__``
work as for eagerly imported names.
"""

from typing import TYPE_CHECKING

from . import _lazy
from .errors import ConvergenceWarning, DesignError, FormulaError, MixedModelsError, SingularFitWarning

if TYPE_CHECKING:  # the names as type checkers and the API reference read them; at run time see export_lazily below
    from . import datasets, families
    from .control import LmerControl
    from .lmm import lmer
    from .glmm import GlmerFit, glmer, glmer_nb
    from .results import LmerFit
    from .inference import anova
    from .mmrm import MmrmFit, mmrm
    from .inference.bootstrap import bootstrap
    from .postfit.compare import compare
    from .postfit.contrast import contrast
    from .postfit.emmeans import emmeans, joint_tests
    from .postfit.r2 import r2
    from .postfit.repca import rePCA
    from .postfit.residuals import simulate_residuals
    from .power import PowerCurve, PowerDesign, PowerResult, contrast_test, design, extend, power, power_curve

__all__ = [
    "lmer",
    "LmerControl",
    "glmer",
    "glmer_nb",
    "families",
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
    "contrast_test",
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

_lazy.export_lazily(__name__, {
    "lmer": ".lmm",
    "LmerControl": ".control",
    "glmer": ".glmm",
    "glmer_nb": ".glmm",
    "GlmerFit": ".glmm",
    "LmerFit": ".results",
    "mmrm": ".mmrm",  # the function; the subpackage mixedmodels.mmrm stays importable
    "MmrmFit": ".mmrm",
    "anova": ".inference",
    "bootstrap": ".inference.bootstrap",
    "compare": ".postfit.compare",
    "contrast": ".postfit.contrast",
    "emmeans": ".postfit.emmeans",
    "joint_tests": ".postfit.emmeans",
    "r2": ".postfit.r2",
    "rePCA": ".postfit.repca",
    "simulate_residuals": ".postfit.residuals",
    "PowerCurve": ".power",
    "PowerDesign": ".power",
    "PowerResult": ".power",
    "contrast_test": ".power",
    "design": ".power",  # the function; the subpackage mixedmodels.design stays importable
    "extend": ".power",
    "power": ".power",  # the function, as mmrm
    "power_curve": ".power",
})
