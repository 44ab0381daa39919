"""After the fit: quantities computed from a fitted model (marginal means, contrasts, ...)."""

# marginal means and contrasts (emmeans)
from .contrast import Contrasts, contrast
from .emmeans import EMMeans, emmeans, joint_tests
