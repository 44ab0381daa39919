"""Mixed models for repeated measures (R's ``mmrm``): a marginal model with a structured visit covariance.

``mm.mmrm("FEV1 ~ RACE + SEX + ARMCD * AVISIT + us(AVISIT | USUBJID)", data)`` fits it by REML;
see :func:`mixedmodels.mmrm.fit.mmrm`. Modules, in the order of the pipeline: :mod:`.formula`,
:mod:`.data`, :mod:`.structures`, :mod:`.criterion`, :mod:`.fit`, :mod:`.ddf`, :mod:`.results`.
"""

from .fit import mmrm
from .results import MmrmFit

__all__ = ["mmrm", "MmrmFit"]
