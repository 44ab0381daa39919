"""The model a power simulation draws from: a layout of the data and the true parameters.

A :class:`PowerDesign` holds what simr's ``makeLmer`` takes — a formula, the data layout (the
covariates and grouping factors of every row; the response's values are not used), the fixed
effects β, the covariance matrix Σ_k of the random effects of each term, and the residual
standard deviation σ — and is built by :func:`design` for a study that has not been run yet, or
by :meth:`PowerDesign.from_fit` from a fitted model (its estimates as the truth).

The responses are simulated as y = Xβ + Σ_k Z_k b_k + ε with b_kj ~ N(0, Σ_k) independently over
the levels j of term k and ε ~ N(0, σ² I). In the fit's parametrisation Σ_k = σ² T_k T_kᵀ, so
the true θ holds the lower triangles of T_k = chol(Σ_k) / σ.
"""

from __future__ import annotations

import dataclasses
import itertools
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..covariance import ThetaLayout, term_structures
from ..design import ModelDesign, to_pandas
from ..design.spec import ModelSpec
from ..formula import parse_formula
from ..objective import DevianceProblem
from ..sources import FrameSource, InMemoryRows

__all__ = ["PowerDesign", "TrueModel", "as_design", "design", "layout_problem"]

_NAME = re.compile(r"^[A-Za-z_.][A-Za-z0-9_.]*$")


def _semidefinite_cholesky(S: np.ndarray, name: str) -> np.ndarray:
    """Lower-triangular L with L Lᵀ = S for a symmetric positive semidefinite S.

    A zero pivot (a variance of 0, or a column dependent on the previous ones) gives a zero
    column, as a θ on its boundary does.
    """
    values = np.linalg.eigvalsh(S)
    scale = max(float(np.max(np.abs(values))), 1.0)
    if values.min() < -1e-10 * scale:
        raise ValueError(f"varcorr[{name!r}] is not positive semidefinite (eigenvalues {values.tolist()})")
    p = len(S)
    L = np.zeros((p, p))
    for j in range(p):
        pivot = S[j, j] - L[j, :j] @ L[j, :j]
        if pivot <= 1e-12 * scale:
            continue
        L[j, j] = np.sqrt(pivot)
        L[j + 1:, j] = (S[j + 1:, j] - L[j + 1:, :j] @ L[j, :j]) / L[j, j]
    return L


@dataclass(frozen=True)
class TrueModel:
    """A :class:`PowerDesign` as the fitting code sees it.

    Attributes
    ----------
    spec : ModelSpec          the model without rows
    cross : CrossProducts     A of the layout (its y-row is replaced for every replicate)
    rows : InMemoryRows       X and the random-effects terms of the layout
    beta : ndarray (p,)       true fixed effects, in X's column order
    theta : ndarray           true θ (lower triangles of T_k = chol(Σ_k)/σ)
    sigma : float             true residual sd
    """

    spec: ModelSpec
    cross: object
    rows: InMemoryRows
    beta: np.ndarray
    theta: np.ndarray
    sigma: float

    @property
    def design(self) -> ModelDesign:
        return self.rows.design

    @property
    def layout(self) -> ThetaLayout:
        return ThetaLayout(tuple(t.n_cols for t in self.spec.terms), term_structures(self.spec.terms))

    @property
    def templates(self) -> list[np.ndarray]:
        return self.layout.templates(self.theta)

    @property
    def npar(self) -> int:
        return len(self.beta) + len(self.theta) + 1

    def problem(self, reml: bool) -> DevianceProblem:
        """The criterion over θ on the layout (REML or ML); every replicate replaces the y-row of its A."""
        return layout_problem(self.spec, self.cross, reml)


def layout_problem(spec: ModelSpec, cross, reml: bool) -> DevianceProblem:
    """The criterion of ``spec`` from A whose response is a placeholder.

    Not :func:`mixedmodels.fitting.problem_of`: its check that the response varies is for data,
    and a layout's response values are never used (each replicate's y-row of A replaces them).
    """
    return DevianceProblem(cross, [t.n_cols for t in spec.terms], [t.n_levels for t in spec.terms],
                           spec.fixed.n_columns, reml=reml, structures=term_structures(spec.terms))


@dataclass(frozen=True, eq=False)
class PowerDesign:
    """A linear mixed model with known parameters, on a given data layout (see the module docstring).

    Attributes
    ----------
    formula : str
        lme4 formula of the model that is fitted to each simulated response.
    data : DataFrame
        The layout: one row per observation with every column the formula uses (the response's
        values are ignored).
    fixef : Series
        True β by coefficient name (R's names, as ``fit.fixef``).
    varcorr : dict of str to ndarray
        True Σ_k (p_k × p_k) by term name as lme4's VarCorr names them ("dish_id", "Subject.1").
    sigma : float
        True residual standard deviation.
    reml : bool
        Refit by REML (True) or maximum likelihood.
    data_name : str
    """

    formula: str
    data: pd.DataFrame
    fixef: pd.Series
    varcorr: dict
    sigma: float
    reml: bool = True
    data_name: str = "design"

    @classmethod
    def from_fit(cls, fit) -> "PowerDesign":
        """The model of ``fit`` with its estimates β̂, Σ̂_k, σ̂ as the truth, on the rows it used."""
        from ..inference.parameters import is_linear

        if not is_linear(fit):
            raise ValueError("power simulation is for linear mixed models (lmer fits); this is a glmer fit")
        if fit.rows.lazy:
            raise ValueError("power simulation needs the fit's rows in memory (not Parquet files or a Dask DataFrame)")
        if fit.design.weights is not None or fit.design.offset is not None:
            raise ValueError("power simulation of a fit with prior weights or an offset is not supported")
        varcorr = dict(zip(fit.group_names, fit.covariance_matrices()))
        return cls(fit.formula, fit.design.frame, fit.fixef.rename(None), varcorr, float(fit.sigma), fit.reml,
                   fit.data_name or "data")

    @property
    def nrow(self) -> int:
        return len(self.data)

    def with_effects(self, effects: dict | None) -> "PowerDesign":
        """The same design with some true fixed effects changed (simr's ``fixef(fit)["x"] <- value``)."""
        if not effects:
            return self
        unknown = [name for name in effects if name not in self.fixef.index]
        if unknown:
            raise ValueError(f"effects: no coefficient named {', '.join(map(repr, unknown))}; "
                             f"the coefficients are {list(self.fixef.index)}")
        fixef = self.fixef.copy()
        for name, value in effects.items():
            fixef[name] = float(value)
        return dataclasses.replace(self, fixef=fixef)

    def with_data(self, data: pd.DataFrame) -> "PowerDesign":
        """The same truth on another layout (:func:`mixedmodels.extend`)."""
        return dataclasses.replace(self, data=data)

    def build(self) -> TrueModel:
        """The model on the layout (specification, A, rows) and the true β, θ, σ.

        Raises
        ------
        ValueError
            The layout's fixed-effect columns are not those of ``fixef`` (a level of a factor
            missing or added), or ``varcorr`` does not name exactly the model's random-effects terms.
        """
        spec, cross, rows = FrameSource(self.data).model(self.formula)
        columns = list(spec.fixed.column_names)
        if set(columns) != set(self.fixef.index):
            missing = [c for c in columns if c not in self.fixef.index]
            extra = [c for c in self.fixef.index if c not in columns]
            raise ValueError(f"the layout's fixed-effect columns {columns} do not match the fixed effects given: "
                             f"missing {missing}, not in the model {extra}")
        names = spec.group_names
        if set(names) != set(self.varcorr):
            raise ValueError(f"varcorr must give the covariance of each random-effects term {names}; "
                             f"got {sorted(self.varcorr)}")
        templates = []
        for name, term in zip(names, spec.terms):
            S = np.atleast_2d(np.asarray(self.varcorr[name], dtype=float))
            if S.shape != (term.n_cols, term.n_cols):
                raise ValueError(f"varcorr[{name!r}] must be {term.n_cols} x {term.n_cols} "
                                 f"(columns {term.column_names}), not of shape {S.shape}")
            if not np.allclose(S, S.T):
                raise ValueError(f"varcorr[{name!r}] is not symmetric")
            templates.append(_semidefinite_cholesky(S, name) / self.sigma)
        layout = ThetaLayout(tuple(t.n_cols for t in spec.terms), term_structures(spec.terms))
        theta = layout.theta_of(templates)
        for name, T, T_model in zip(names, templates, layout.templates(theta)):
            if not np.allclose(T_model @ T_model.T, T @ T.T, rtol=1e-8, atol=1e-12):
                raise ValueError(f"varcorr[{name!r}] does not have the covariance structure of its term in the "
                                 f"formula {self.formula!r}")
        beta = self.fixef[columns].to_numpy(dtype=float)
        return TrueModel(spec=spec, cross=cross, rows=rows, beta=beta, theta=theta,
                         sigma=float(self.sigma))

    def __repr__(self) -> str:
        return (f"PowerDesign({self.formula!r}, {self.nrow} rows, fixef={self.fixef.to_dict()}, "
                f"varcorr={ {k: np.asarray(v).tolist() for k, v in self.varcorr.items()} }, sigma={self.sigma})")


def as_design(model) -> PowerDesign:
    """A :class:`PowerDesign` from a design (returned as is) or a fitted lmer model (its estimates)."""
    if isinstance(model, PowerDesign):
        return model
    if hasattr(model, "problem") and hasattr(model, "design"):
        from ..results import require_independent_residuals

        require_independent_residuals(model, "power simulation")
        return PowerDesign.from_fit(model)
    raise TypeError(f"expected a fitted lmer model or a PowerDesign (mixedmodels.design), not {type(model).__name__}")


def _layout(response: str, cluster: str, groups: dict | None, clusters: int, per_cluster: int,
            covariates: dict | None) -> pd.DataFrame:
    """Rows: every cell of ``groups`` × ``clusters`` clusters × ``per_cluster`` observations."""
    groups = dict(groups or {})
    covariates = dict(covariates or {})
    for name, values in covariates.items():
        if len(values) != per_cluster:
            raise ValueError(f"covariates[{name!r}] needs one value per observation of a cluster ({per_cluster}), "
                             f"got {len(values)}")
    for name, levels in groups.items():
        if len(levels) < 1 or len(set(levels)) != len(levels):
            raise ValueError(f"groups[{name!r}] must list distinct levels, got {list(levels)}")
    names = [response, cluster, *groups, *covariates]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise ValueError(f"column name(s) {repeated} used twice in the layout")
    cells = list(itertools.product(*groups.values())) if groups else [()]
    n_clusters = len(cells) * clusters
    rows = n_clusters * per_cluster
    if rows > 10_000_000:
        raise ValueError(f"the layout would have {rows} rows; at most 10^7 are supported")
    cluster_of_row = np.repeat(np.arange(n_clusters), per_cluster)
    cell_of_row = cluster_of_row // clusters
    frame = {}
    for g, (name, levels) in enumerate(groups.items()):
        codes = np.array([cell[g] for cell in cells], dtype=object)[cell_of_row]
        frame[name] = pd.Categorical(codes, categories=list(levels))
    frame[cluster] = pd.Categorical(cluster_of_row + 1, categories=np.arange(1, n_clusters + 1))
    position = np.tile(np.arange(per_cluster), n_clusters)
    for name, values in covariates.items():
        values = np.asarray(values)
        column = values[position]
        frame[name] = column if values.dtype.kind in "iufb" else pd.Categorical(column, categories=list(dict.fromkeys(values)))
    frame[response] = np.zeros(rows)
    return pd.DataFrame(frame)


def design(formula: str, *, fixef: dict, varcorr: dict, sigma: float, data=None, groups: dict | None = None,
           clusters: int | None = None, per_cluster: int | None = None, covariates: dict | None = None,
           cluster: str | None = None, reml: bool = True) -> PowerDesign:
    """A linear mixed model specified by hand, for :func:`mixedmodels.power` (simr's ``makeLmer``).

    The layout is either ``data`` (any data frame with the formula's columns) or built from
    ``groups`` × ``clusters`` × ``per_cluster``: for every combination of the levels of the
    between-cluster factors in ``groups``, ``clusters`` clusters (numbered 1, 2, ... across the
    whole design, column ``cluster``) of ``per_cluster`` observations each; ``covariates`` gives
    within-cluster variables by their value at each observation of a cluster (e.g. the times).

    Parameters
    ----------
    formula : str
        lme4 formula, e.g. ``"y ~ group + (1 | dish_id)"``. Without ``data`` the response must
        be a plain column name.
    fixef : dict or Series
        True value of every fixed-effect coefficient, by R's name (``"(Intercept)"``, ``"groupB"``).
    varcorr : dict
        True covariance of the random effects of each term, by term name: a variance τ² for a
        scalar term, a p × p covariance matrix (in the order of the term's columns, e.g.
        intercept then slope) otherwise.
    sigma : float
        True residual standard deviation σ (the residual variance is σ²).
    data : DataFrame, optional
        The layout, instead of ``groups``/``clusters``/``per_cluster``/``covariates``.
    groups : dict of str to sequence, optional
        Between-cluster factors and their levels (crossed when several); the first level is the
        reference of treatment contrasts.
    clusters : int
        Clusters per combination of ``groups``.
    per_cluster : int
        Observations per cluster.
    covariates : dict of str to sequence, optional
        Within-cluster variables: ``per_cluster`` values each, the same in every cluster.
    cluster : str, optional
        Name of the cluster column; by default the formula's only grouping factor.
    reml : bool
        Fit the simulated data by REML (default) or maximum likelihood.

    Returns
    -------
    PowerDesign

    Examples
    --------
    >>> import mixedmodels as mm
    >>> petri = mm.design("y ~ group + (1 | dish_id)", groups={"group": ["Control", "A", "B"]},
    ...                   clusters=10, per_cluster=5, fixef={"(Intercept)": 100, "groupA": -20, "groupB": -40},
    ...                   varcorr={"dish_id": 8.0**2}, sigma=5.0)
    >>> petri.nrow
    150
    """
    parsed = parse_formula(formula)
    layout_args = {"groups": groups, "clusters": clusters, "per_cluster": per_cluster, "covariates": covariates,
                   "cluster": cluster}
    if data is not None:
        given = [k for k, v in layout_args.items() if v is not None]
        if given:
            raise TypeError(f"give the layout either as data or by {', '.join(given)}, not both")
        frame = to_pandas(data)
        if parsed.response not in frame.columns:
            if not _NAME.match(parsed.response):
                raise ValueError(f"the response {parsed.response!r} is not a column of data")
            frame = frame.assign(**{parsed.response: 0.0})
    else:
        if clusters is None or per_cluster is None:
            raise TypeError("without data, the layout needs clusters= and per_cluster=")
        for name, value in (("clusters", clusters), ("per_cluster", per_cluster)):
            if int(value) != value or value < 1:
                raise ValueError(f"{name} must be a positive integer, not {value!r}")
        if not _NAME.match(parsed.response):
            raise ValueError(f"without data the response must be a plain name, not {parsed.response!r}")
        if cluster is None:
            factors = {g for spec in parsed.random for g in spec.group_factors}
            if len(factors) != 1:
                raise TypeError(f"the formula has grouping factors {sorted(factors)}: name the cluster column "
                                "with cluster=")
            cluster = factors.pop()
        frame = _layout(parsed.response, cluster, groups, int(clusters), int(per_cluster), covariates)
    if not (np.isfinite(sigma) and sigma > 0):
        raise ValueError(f"sigma must be a positive number, not {sigma!r}")
    fixef_series = pd.Series({str(k): float(v) for k, v in dict(fixef).items()}, dtype=float)
    result = PowerDesign(formula, frame, fixef_series, {str(k): np.atleast_2d(np.asarray(v, dtype=float))
                                                        for k, v in dict(varcorr).items()}, float(sigma), bool(reml))
    result.build()  # every check now, not at the first simulation
    return result
