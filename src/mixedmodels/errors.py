"""Exceptions and warnings raised by mixedmodels.

The hierarchy follows formulaic's: every error the library raises on purpose is a
:class:`MixedModelsError`, and a :class:`ValueError`, so ``except ValueError`` keeps working.
"""


class MixedModelsError(ValueError):
    """Base class of the errors raised on purpose by mixedmodels."""


class FormulaError(MixedModelsError):
    """The formula cannot be parsed, or names something the data do not have."""


class DesignError(MixedModelsError):
    """The data cannot support the model (too many levels, no rows left, non-finite values)."""


class ConvergenceWarning(UserWarning):
    """The optimiser stopped, but lme4's convergence checks are not all satisfied."""


class SingularFitWarning(UserWarning):
    """The estimate lies on the boundary: some random-effects covariance is singular."""


SINGULAR_MESSAGE = "boundary (singular) fit: see help(mixedmodels.LmerFit.is_singular)"
"""lme4's singular-fit message, pointing to our documentation instead of R's ``help('isSingular')``."""
