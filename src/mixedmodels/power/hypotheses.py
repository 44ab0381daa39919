"""The tests a power simulation applies to each refit (simr's ``fixed``, ``fcompare``).

* a coefficient name: the t test of β_j = 0 with Satterthwaite or Kenward–Roger df
  (lmerTest ``summary``), t = β̂_j / se(β̂_j);
* a fixed-effect term: the type III F test of the term (lmerTest ``anova``, the project's
  :func:`mixedmodels.anova`), F = (Lβ̂)ᵀ(L V̂ Lᵀ)⁻¹(Lβ̂) / rank(L);
* a formula: the likelihood-ratio test against that smaller model, both fitted by maximum
  likelihood (lme4 ``anova(small, full)``), χ² = max(0, d_small − d_full) on
  npar_full − npar_small degrees of freedom;
* a family of contrasts of marginal means (:func:`.contrasts.contrast_test`, emmeans'
  ``contrast``): each contrast's t test with adjusted p-values.

Each test is a picklable callable ``LmerFit -> row`` (the columns of :data:`COLUMNS`), so the
replicates can be refitted and tested in worker processes.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from ..inference.bootstrap import ResponseRefitter
from ..inference.contrasts import term_contrasts
from ..inference.ddf import ddf_method, f_test, t_test
from ..sources import FrameSource
from .contrasts import ContrastFamily, ContrastTest
from .design import PowerDesign, TrueModel, layout_problem

__all__ = ["COLUMNS", "CoefficientTest", "TermTest", "ComparisonTest", "ContrastTest", "make_test"]

COLUMNS = ["estimate", "statistic", "df_num", "df_den", "p_value", "singular", "converged"]
"""What every test returns per replicate (NaN where a column does not apply)."""

_DDF_NAMES = {"satterthwaite": "Satterthwaite's", "kenward-roger": "Kenward-Roger's"}


def _status(fit) -> list[float]:
    return [float(fit.is_singular), float(fit.converged)]


class CoefficientTest:
    """t test of one coefficient, β_j = 0 (lmerTest's summary table)."""

    reml = None  # refit as the design says

    def __init__(self, name: str, index: int, p: int, ddf: str):
        self.name, self.ddf = name, ddf_method(ddf)
        self.contrast = np.eye(p)[index]

    @property
    def title(self) -> str:
        return f"Power for predictor '{self.name}'"

    @property
    def description(self) -> str:
        return f"t test of the coefficient {self.name} with {_DDF_NAMES[self.ddf]} df"

    def __call__(self, fit) -> list[float]:
        row = t_test(fit, self.contrast, self.ddf)
        return [row["Estimate"], row["t value"], np.nan, row["df"], row["Pr(>|t|)"]] + _status(fit)


class TermTest:
    """Type III F test of a fixed-effect term (lmerTest's anova), its hypothesis matrix fixed in advance."""

    reml = None

    def __init__(self, name: str, L: np.ndarray, ddf: str):
        self.name, self.L, self.ddf = name, L, ddf_method(ddf)

    @property
    def title(self) -> str:
        return f"Power for predictor '{self.name}'"

    @property
    def description(self) -> str:
        return f"Type III F test of the term {self.name} with {_DDF_NAMES[self.ddf]} df"

    def __call__(self, fit) -> list[float]:
        row = f_test(fit, self.L, self.ddf)
        return [np.nan, row["F value"], row["NumDF"], row["DenDF"], row["Pr(>F)"]] + _status(fit)


class ComparisonTest:
    """Likelihood-ratio test against a smaller model, both refitted to the replicate by ML."""

    reml = False  # the full model is refitted by maximum likelihood too

    def __init__(self, formula: str, refitter: ResponseRefitter, npar_small: int, npar_full: int):
        self.formula, self.refitter = formula, refitter
        self.df = npar_full - npar_small

    @property
    def title(self) -> str:
        return "Power for model comparison"

    @property
    def description(self) -> str:
        return f"Likelihood ratio test (ML fits) against {self.formula}"

    def __call__(self, fit) -> list[float]:
        y = fit.design.y
        small = self.refitter.refit(y, self.refitter.cross_products(y[:, None])[0])
        chisq = max(0.0, small.objective - fit.objective)
        status = _status(fit)
        status[1] = float(fit.converged and small.converged)
        return [np.nan, chisq, float(self.df), np.nan, float(stats.chi2.sf(chisq, self.df))] + status


def _comparison(spec: PowerDesign, full: TrueModel, formula: str) -> ComparisonTest:
    small_spec, cross, rows = FrameSource(spec.data).model(formula)
    response = full.spec.response
    if small_spec.response != response:
        raise ValueError(f"the smaller model's response {small_spec.response!r} is not the model's ({response!r})")
    if small_spec.nobs != full.spec.nobs:
        raise ValueError(f"{formula!r} uses {small_spec.nobs} rows of the layout, the model {full.spec.nobs} "
                         "(missing values in different columns)")
    problem = layout_problem(small_spec, cross, reml=False)
    npar_small = small_spec.fixed.n_columns + problem.layout.n_theta + 1
    if npar_small >= full.npar:
        raise ValueError(f"{formula!r} has {npar_small} parameters, not fewer than the model's {full.npar}: "
                         "a likelihood-ratio test needs a smaller, nested model")
    # the smaller model starts at the true covariance of each term it shares with the model
    truth = dict(zip([(str(t.spec), t.name) for t in full.spec.terms], full.templates))
    start = [truth.get((str(t.spec), t.name), np.eye(t.n_cols)) for t in small_spec.terms]
    refitter = ResponseRefitter(small_spec, problem, rows, problem.layout.theta_of(start), check=True)
    return ComparisonTest(formula, refitter, npar_small, full.npar)


def make_test(test, spec: PowerDesign, model: TrueModel, ddf: str, layout_fit=None):
    """The test named by ``test``: a formula, a coefficient or a fixed-effect term of the model, or a contrast family.

    ``layout_fit`` is called (no arguments) for a :class:`~.contrasts.ContrastFamily` only: a fit
    of the model on the layout, whose reference grid the contrasts are built on.

    Raises
    ------
    ValueError
        ``test`` names neither a coefficient nor a term, the formula is not a smaller model, or the
        contrast family does not fit the model (unknown factor, level, method or contrast).
    """
    ddf = ddf_method(ddf)  # checked whatever the test
    if isinstance(test, ContrastFamily):
        if layout_fit is None:
            raise TypeError("a contrast test needs layout_fit, a fit of the model on the layout")
        return test.bind(layout_fit(), ddf)
    if not isinstance(test, str):
        raise TypeError("test must be a coefficient name, a term name, a formula string or "
                        f"mixedmodels.contrast_test(...), not {type(test).__name__}")
    if "~" in test:
        return _comparison(spec, model, test)
    fixed = model.spec.fixed
    columns = list(fixed.column_names)
    if test in columns:
        return CoefficientTest(test, columns.index(test), len(columns), ddf)
    terms = [t for t in fixed.terms if t != "(Intercept)"]
    if test in terms:
        L = term_contrasts(fixed, model.spec.gram, 3)[test]  # the hypothesis does not depend on y
        return TermTest(test, L, ddf)
    raise ValueError(f"test {test!r} is neither a coefficient {columns}, a fixed-effect term {terms} "
                     "nor a formula of a smaller model (with '~')")

