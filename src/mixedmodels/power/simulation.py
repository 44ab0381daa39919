"""Power by simulation (simr's ``powerSim``): simulate, refit, test, count.

For replicate s = 1..nsim, a response y*_s is drawn from the true model
(:func:`mixedmodels.simulate.draw_effects`, :func:`~mixedmodels.simulate.draw_responses`), the
model is refitted to it and the test applied;
the power is the share of replicates with p < α (:mod:`.results`).

Fast path: the responses are drawn 50 at a time in one batch (in the calling process, from one
seeded generator, so the replicates are the same for any ``n_jobs``); of A = [Z X y]ᵀ[Z X y]
only the y-column changes between replicates, so a batch's y-columns are one sparse product
(:class:`mixedmodels.inference.bootstrap.ResponseRefitter`) and each refit is one optimisation
over θ started at the true θ, followed by lme4's convergence checks.
"""

from __future__ import annotations

import time
import warnings

import numpy as np
import pandas as pd

from ..inference.bootstrap import ResponseRefitter, refit_replicates
from ..simulate import draw_effects, draw_responses
from ..sources import SIMULATION_BATCH
from .design import TrueModel, as_design
from .contrasts import ContrastTest
from .hypotheses import COLUMNS, CoefficientTest, make_test
from .results import PowerResult

__all__ = ["power", "check_settings"]


def _batches(model: TrueModel, nsim: int, rng: np.random.Generator):
    """``(Y, g, yy)`` per batch of simulated responses: Y (n × k) and the y-rows of A (one sparse product)."""
    design = model.design
    terms = [(t.codes, t.z) for t in design.terms]
    n_levels = [t.n_levels for t in design.terms]
    templates = model.templates
    for start in range(0, nsim, SIMULATION_BATCH):
        b = draw_effects(templates, model.sigma, n_levels, min(SIMULATION_BATCH, nsim - start), rng)
        Y = draw_responses(model.beta, model.sigma, design.X, terms, None, None, b, rng)
        yield (Y, *model.rows.response_products(None, Y))  # rows in memory: no fit needed


def _layout_fit(truth: TrueModel, spec):
    """The model fitted to one response drawn from the truth with a fixed seed, apart from the replicates.

    Contrasts of marginal means are built on a fit (its reference grid); the grid depends on the
    layout only, not on the response.
    """
    refitter = ResponseRefitter(truth.spec, truth.problem(spec.reml), truth.rows, truth.theta, spec.data_name)
    Y = next(_batches(truth, 1, np.random.default_rng(0)))[0]
    return refitter.refit(Y[:, 0], refitter.cross_products(Y)[0])


def check_settings(nsim, alpha) -> int:
    """``nsim`` as an int; ValueError for a non-positive count or an α outside (0, 1)."""
    if isinstance(nsim, bool) or int(nsim) != nsim or nsim < 1:
        raise ValueError(f"nsim must be a positive integer, not {nsim!r}")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be between 0 and 1, not {alpha!r}")
    return int(nsim)


def power(model, test, nsim: int = 1000, alpha: float = 0.05, seed=None, n_jobs: int = 1,
          progress: bool = True, effects: dict | None = None, ddf: str = "satterthwaite") -> PowerResult:
    """Power of a test by simulation from a fitted model or a design (simr's ``powerSim``).

    Parameters
    ----------
    model : LmerFit or PowerDesign
        A fit (its estimates β̂, Σ̂_k, σ̂ are the truth, on the rows it used) or a model
        specified by hand with :func:`mixedmodels.design`.
    test : str or ContrastFamily
        A coefficient name (``"groupB"``): t test of β = 0 with ``ddf``; a fixed-effect term
        (``"group"``): type III F test (:func:`mixedmodels.anova`); a formula
        (``"y ~ 1 + (1 | dish_id)"``): likelihood-ratio test against that smaller model, both
        refitted by maximum likelihood (lme4's ``anova``). A name that is a coefficient and a
        term (a numeric covariate) is tested as the coefficient; its F test is the same test.
        ``mm.contrast_test("group", method="trt.vs.ctrl", adjust="dunnettx", which="any")``:
        contrasts of marginal means (:func:`mixedmodels.contrast` on each refit, SE and df by
        ``ddf``); the power of contrast i is the share of replicates with adjusted p_i < α
        (all of them in ``.contrast_power()``), ``.power`` that of the contrast named by
        ``which``, or with ``which="any"`` the family-wise share with min_i p_i < α.
    nsim : int
        Replicates.
    alpha : float
        Significance level.
    seed : int, numpy SeedSequence or None
        The same seed gives the same replicates and results, whatever ``n_jobs``.
    n_jobs : int
        Worker processes for the refits (``-1``: all cores).
    progress : bool
        Show a tqdm progress bar.
    effects : dict, optional
        True fixed effects to use instead of the model's, by coefficient name
        (``{"groupB": 2.0}``, as simr's ``fixef(fit)["groupB"] <- 2``).
    ddf : {"satterthwaite", "kenward-roger"}
        Denominator df of t and F tests.

    Returns
    -------
    PowerResult
        ``.power``, ``.ci`` (Clopper–Pearson), ``.statistics`` per replicate, the shares
        ``.singular``, ``.not_converged`` and ``.failed``; ``print`` shows simr's summary.
        Contrast tests add ``.contrasts`` (each contrast's estimate, SE, df, t and adjusted p per
        replicate) and ``.contrast_power()``.

    Examples
    --------
    >>> import mixedmodels as mm
    >>> fit = mm.lmer("y ~ group + (1 | dish_id)", mm.datasets.load("seed_petri"))
    >>> result = mm.power(fit, "group", nsim=20, seed=1, progress=False, effects={"groupAntibioticA": -5.0,
    ...                   "groupAntibioticB": -5.0})
    >>> 0 <= result.power <= 1
    True
    >>> pairs = mm.power(fit, mm.contrast_test("group", method="pairwise", which="any"), nsim=20, seed=1,
    ...                  progress=False)
    >>> list(pairs.contrast_power().columns)
    ['power', 'lower', 'upper']
    """
    nsim = check_settings(nsim, alpha)
    spec = as_design(model).with_effects(effects)
    truth = spec.build()
    hypothesis = make_test(test, spec, truth, ddf, layout_fit=lambda: _layout_fit(truth, spec))
    reml = spec.reml if hypothesis.reml is None else hypothesis.reml
    refitter = ResponseRefitter(truth.spec, truth.problem(reml), truth.rows, truth.theta, spec.data_name, check=True)
    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # each replicate's warnings are counted in the result instead
        rows, _ = refit_replicates(refitter, _batches(truth, nsim, np.random.default_rng(seed)), nsim, hypothesis,
                                   n_jobs, progress, desc="power")
    contrasts = isinstance(hypothesis, ContrastTest)
    width = hypothesis.width if contrasts else len(COLUMNS)
    values = np.array([np.full(width, np.nan) if r is None else r for r in rows])
    coefficient = hypothesis.name if isinstance(hypothesis, CoefficientTest) else None
    return PowerResult(statistics=pd.DataFrame(values[:, :len(COLUMNS)], columns=COLUMNS), alpha=float(alpha),
                       title=hypothesis.title, description=hypothesis.description, coefficient=coefficient,
                       effect=None if coefficient is None else float(spec.fixef[coefficient]),
                       nrow=truth.design.nobs, elapsed=time.perf_counter() - started,
                       contrasts=hypothesis.replicates(values[:, len(COLUMNS):]) if contrasts else None)
