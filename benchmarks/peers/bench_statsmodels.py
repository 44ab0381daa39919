"""statsmodels MixedLM through ``smf.mixedlm`` (formula handled by patsy, timed with the fit).

Nested problems use ``groups=g, re_formula="~x"``; crossed problems, as statsmodels requires, use a
single group for all rows, ``re_formula="0"`` and one variance component per grouping factor in
``vc_formula``.  ``-2 * result.llf`` of a REML fit equals lme4's REML criterion (checked on
sleepstudy: 1743.62827196 both).  Each fit runs in a forked child with a per-fit timeout.
"""

from __future__ import annotations

from .common import PeerResult, as_list, run_in_child

NAME = "statsmodels"
DEFAULT_TIMEOUT = 120.0


def available() -> tuple[bool, str]:
    try:
        import statsmodels
        import statsmodels.formula.api  # noqa: F401
    except Exception as exc:
        return False, f"statsmodels not importable ({type(exc).__name__})"
    return True, f"statsmodels {statsmodels.__version__}"


def run(problem, warmup: int = 1, repeat: int = 3, timeout: float | None = DEFAULT_TIMEOUT) -> PeerResult:
    import warnings

    import statsmodels.formula.api as smf

    spec = problem.statsmodels
    if spec is None:
        return PeerResult.skipped(NAME, problem.note or "model not expressible in statsmodels MixedLM")
    data = problem.load()
    groups = spec.groups
    if groups is None:
        data = data.assign(_one_group=1)
        groups = "_one_group"

    def fit():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = smf.mixedlm(spec.fixed, data, groups=groups, re_formula=spec.re_formula,
                                vc_formula=spec.vc_formula)
            return model.fit(reml=problem.reml)

    def extract(res):
        return -2.0 * float(res.llf), None, as_list(res.fe_params)

    result = run_in_child(NAME, fit, extract, warmup, repeat, timeout)
    return result
