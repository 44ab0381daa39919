"""mixedlm (PyPI, Rust core): ``mixedlm.lmer(formula, data, REML=...)`` on the pandas DataFrame.

API facts (mixedlm 1.3.0, read from its source, models/lmer_fit.py and models/lmer.py):
``lmer(formula: str, data: DataFrame, REML=True, ...) -> LmerResult`` parses the lme4 formula
itself (``(x|g)``, ``||``, ``g1:g2`` groupings).  ``LmerResult.deviance`` / ``.REMLcrit()`` /
``.get_deviance()`` all return the minimised objective: the REML criterion for REML fits and the
ML deviance otherwise, i.e. -2 logLik on lme4's scale, same sign (``logLik()`` = -deviance / 2).
``.theta`` is lme4's theta (relative covariance factor, lme4 order), ``.beta`` the fixed effects.
"""

from __future__ import annotations

from .common import PeerResult, as_list, run_in_child

NAME = "mixedlm"


def available() -> tuple[bool, str]:
    try:
        import mixedlm
    except Exception as exc:  # not installed or broken
        return False, f"mixedlm not importable ({type(exc).__name__})"
    from importlib.metadata import version

    return True, f"mixedlm {version('mixedlm')}"


def run(problem, warmup: int = 1, repeat: int = 3, timeout: float | None = None) -> PeerResult:
    import warnings

    import mixedlm

    data = problem.load()

    def fit():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return mixedlm.lmer(problem.formula, data, REML=problem.reml)

    def extract(res):
        return float(res.REMLcrit()), as_list(res.theta), as_list(res.beta)

    return run_in_child(NAME, fit, extract, warmup, repeat, timeout)
