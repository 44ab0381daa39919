"""Power of contrasts of estimated marginal means (emmeans' ``contrast`` applied to every refit).

:func:`contrast_test` names a family of contrasts as emmeans does: the marginal means of
``specs`` (``emmeans(fit, specs, by, at, weights)``), a contrast method and its multiplicity
adjustment (``contrast(em, method, adjust, ref)``). On each refit the contrasts

    ĉ_i = c_iᵀ(Kβ̂),   SE_i = √(c_iᵀ K V Kᵀ c_i),   t_i = ĉ_i / SE_i,

with V and df_i of power's ``ddf`` (Satterthwaite or Kenward–Roger) and the adjusted p-values
p_i of the family are those :func:`mixedmodels.contrast` reports for that refit
(:mod:`mixedmodels.postfit.contrast`); the reference grid K depends on the layout only, so it is
built once, from a fit of the model on the layout.

The power of contrast i is the share of replicates with p_i < α. With ``which="any"`` the
result's ``.power`` is the family-wise power, the share of replicates in which at least one
contrast is significant (min_i p_i < α); under the null hypothesis of every contrast it is the
family-wise error rate the adjustment controls.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..postfit.contrast import METHODS, contrast
from ..postfit.emmeans import EMMeans, emmeans

__all__ = ["ContrastFamily", "ContrastTest", "contrast_test", "REPLICATE_COLUMNS"]

REPLICATE_COLUMNS = ["estimate", "SE", "df", "t.ratio", "p.value"]
"""What a contrast test keeps of each contrast per replicate (after the columns every test returns)."""

_NAMES = {"satterthwaite": "Satterthwaite's", "kenward-roger": "Kenward-Roger's"}


@dataclass(frozen=True)
class ContrastFamily:
    """A family of contrasts of marginal means to test on each refit (made by :func:`contrast_test`)."""

    specs: object
    method: object
    adjust: str | None
    ref: object
    by: object
    at: dict | None
    weights: str
    which: str | None

    def bind(self, layout_fit, ddf: str) -> "ContrastTest":
        """The test on the model's layout: the means and contrasts of ``layout_fit``, checked now.

        Raises
        ------
        ValueError
            An unknown variable, method, adjustment or reference level (emmeans' and contrast's
            own errors), or a ``which`` that is neither "any" nor a contrast of the family.
        """
        means = emmeans(layout_fit, self.specs, by=self.by, at=self.at, weights=self.weights, ddf=ddf)
        family = contrast(means, self.method, adjust=self.adjust, ref=self.ref)
        frame = family.frame
        labels = [" | ".join([str(row["contrast"])] + [f"{b} = {row[b]}" for b in family.by])
                  for _, row in frame.iterrows()]
        if self.which == "any":
            target = None
        elif self.which is None:
            if len(labels) > 1:
                raise ValueError(f"the family has {len(labels)} contrasts ({', '.join(labels)}): say which one "
                                 "gives .power (which='<contrast>') or which='any' for the family-wise power")
            target = 0
        elif self.which in labels:
            target = labels.index(self.which)
        else:
            raise ValueError(f"which={self.which!r} is neither 'any' nor one of the contrasts: {', '.join(labels)}")
        return ContrastTest(means, self.method, self.adjust, self.ref, labels, target, family.adjust, ddf)


class ContrastTest:
    """The contrasts of one family on a refit: a row as every test's, then each contrast's statistics."""

    reml = None  # refit as the design says

    def __init__(self, means: EMMeans, method, adjust, ref, labels: list[str], target: int | None,
                 adjust_used: str, ddf: str):
        self.means, self.method, self.adjust, self.ref = means, method, adjust, ref
        self.labels, self.target, self.adjust_used, self.ddf = labels, target, adjust_used, ddf

    @property
    def width(self) -> int:
        """Length of a replicate's row: the 7 columns of every test, then 5 per contrast."""
        from .hypotheses import COLUMNS

        return len(COLUMNS) + len(REPLICATE_COLUMNS) * len(self.labels)

    @property
    def title(self) -> str:
        if self.target is None:
            return f"Power for any of the {len(self.labels)} contrasts of {'/'.join(self.means.specs)}"
        return f"Power for contrast '{self.labels[self.target]}'"

    @property
    def description(self) -> str:
        method = "custom" if isinstance(self.method, dict) else self.method
        return (f"{method} contrasts of the marginal means of {', '.join(self.means.specs)} "
                f"(p-value adjustment: {self.adjust_used}) with {_NAMES[self.ddf]} df")

    def __call__(self, fit) -> list[float]:
        family = contrast(self.means.refitted(fit), self.method, adjust=self.adjust, ref=self.ref)
        p = family.frame["p.value"].to_numpy(dtype=float)
        est, se, df = family.estimates, family.se, family.df
        t = est / se
        if self.target is None:
            head = [np.nan, np.nan, np.nan, np.nan, float(np.min(p))]  # some contrast significant ⇔ min p < α
        else:
            i = self.target
            head = [est[i], t[i], np.nan, df[i], p[i]]
        status = [float(fit.is_singular), float(fit.converged)]
        return head + status + list(np.column_stack([est, se, df, t, p]).ravel())

    def replicates(self, values: np.ndarray) -> pd.DataFrame:
        """The per-contrast part of the replicates' rows as a long table: replicate, contrast, statistics."""
        m = len(self.labels)
        block = values.reshape(len(values), m, len(REPLICATE_COLUMNS)).reshape(-1, len(REPLICATE_COLUMNS))
        frame = pd.DataFrame(block, columns=REPLICATE_COLUMNS)
        frame.insert(0, "contrast", pd.Categorical(np.tile(self.labels, len(values)), categories=self.labels))
        frame.insert(0, "replicate", np.repeat(np.arange(len(values)), m))
        return frame


def contrast_test(specs, method="pairwise", adjust: str | None = None, *, ref=None, by=None, at: dict | None = None,
                  weights: str = "equal", which: str | None = None) -> ContrastFamily:
    """A family of contrasts of marginal means as the test of :func:`mixedmodels.power`.

    The arguments are those of :func:`mixedmodels.emmeans` and :func:`mixedmodels.contrast`;
    the df method is power's ``ddf``.

    Parameters
    ----------
    specs : str or list of str
        The factors whose marginal means are contrasted (``"group"``, ``"recipe | temperature"``).
    method : str or dict
        "pairwise" (default), "revpairwise", "trt.vs.ctrl", "consec", "poly", "eff", or
        ``{name: weights}`` with one weight per mean.
    adjust : str, optional
        Multiplicity adjustment ("tukey", "dunnettx", "dunnett", "mvt", "sidak", "bonferroni",
        "holm", "hochberg", "fdr", "BY", "none"); default: the method's, as in emmeans.
    ref : str, int or list, optional
        Reference level(s) of "trt.vs.ctrl".
    by : str or list of str, optional
        Variables within whose levels the means are contrasted (one family per level).
    at : dict, optional
        Covariate values or factor levels of the reference grid.
    weights : str
        How the grid is averaged over the other factors (emmeans' ``weights``).
    which : str, optional
        What the result's ``.power`` reports: a contrast's label (``"AntibioticA - Control"``;
        with ``by``: ``"A - B | temperature = 20"``), ``"any"`` (family-wise: at least one
        contrast significant) or, when the family has a single contrast, None. The power of
        every contrast is in the result's ``.contrast_power()`` whatever ``which``.

    Returns
    -------
    ContrastFamily
        Checked against the model when :func:`mixedmodels.power` starts.

    Raises
    ------
    ValueError
        An unknown method, or ``which`` not a string.

    Examples
    --------
    >>> import mixedmodels as mm
    >>> test = mm.contrast_test("group", method="trt.vs.ctrl", adjust="dunnettx", which="any")
    """
    if not (isinstance(method, dict) or method in METHODS):
        raise ValueError(f"unknown contrast method {method!r}; use one of {', '.join(METHODS)} or a dict of weights")
    if which is not None and not isinstance(which, str):
        raise ValueError(f"which must be a contrast's label or 'any', not {which!r}")
    return ContrastFamily(specs, method, adjust, ref, by, at, weights, which)
