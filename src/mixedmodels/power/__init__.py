"""Power and sample size by simulation (R's simr): :func:`power`, :func:`power_curve`, :func:`extend`, :func:`design`.

Modules: :mod:`.design` (the true model and its layout), :mod:`.hypotheses` (the tests applied to
each refit), :mod:`.simulation` (simulate, refit, test), :mod:`.results` (power and its interval),
:mod:`.extend` (resizing a layout), :mod:`.curve` (power against sample size, its plot),
:mod:`.contrasts` (contrasts of marginal means as the test, :func:`contrast_test`).
"""

from .contrasts import contrast_test
from .curve import PowerCurve, power_curve
from .design import PowerDesign, design
from .extend import extend
from .results import PowerResult
from .simulation import power

__all__ = ["PowerCurve", "PowerDesign", "PowerResult", "contrast_test", "design", "extend", "power", "power_curve"]
