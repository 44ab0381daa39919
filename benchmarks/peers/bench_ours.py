"""mixedmodels (this repo): ``mixedmodels.lmer(formula, data, reml=...)`` on the pandas DataFrame.

The fit exposes ``.objective`` (lme4's REML criterion / ML deviance), ``.theta`` and ``.fixef``.
"""

from __future__ import annotations

from .common import PeerResult, as_list, run_in_child

NAME = "ours"


def available() -> tuple[bool, str]:
    try:
        import mixedmodels
    except Exception as exc:
        return False, f"mixedmodels not importable ({type(exc).__name__}: {exc})"
    if not hasattr(mixedmodels, "lmer"):
        return False, "mixedmodels.lmer does not exist yet"
    return True, f"mixedmodels {getattr(mixedmodels, '__version__', 'dev')}"


def run(problem, warmup: int = 1, repeat: int = 3, timeout: float | None = None) -> PeerResult:
    import mixedmodels

    data = problem.load()

    def fit():
        return mixedmodels.lmer(problem.formula, data, reml=problem.reml)

    def extract(res):
        fixef = getattr(res, "fixef", None)
        if callable(fixef):
            fixef = fixef()
        if hasattr(fixef, "to_numpy"):
            fixef = fixef.to_numpy()
        return float(res.objective), as_list(getattr(res, "theta", None)), as_list(fixef)

    return run_in_child(NAME, fit, extract, warmup, repeat, timeout)
