"""θ ↔ Λ: the covariance parameterisation of the random effects, in one place.

Term k has a p_k × p_k template T_k; the relative covariance factor is Λ = ⊕_k (I_{ℓ_k} ⊗ T_k),
b = Λu, and the covariance of term k's effects at one level is Σ_k = σ² T_k T_kᵀ. A *structure*
maps the term's share θ_k of θ to T_k and says which θ_k are bounded, where they start and
what they are called; :class:`ThetaLayout` concatenates the terms' θ_k (lme4's order). The
blocked Cholesky, the PLS solution, simulation and the inference only ever see T_k (and the
helpers below that apply Λ), so a new structure is a new class here and nothing else changes.

Structures (the formula keyword around a bar, glmmTMB's meaning; Σ_k = σ² D R D with D the
standard deviations and R the correlations of the term's p columns):

* :class:`Unstructured` ``us(x | g)`` = ``(x | g)``: T_k lower triangular, θ_k its lower triangle
  column-major, diagonal ≥ 0, start T_k = I;
* :class:`Diagonal` ``diag`` (a variance per column, R = I) and ``homdiag`` (one variance);
* :class:`CompoundSymmetry` ``cs`` (a variance per column, R_ij = ρ for i ≠ j) and ``homcs``
  (one variance), −1/(p − 1) < ρ < 1;
* :class:`AutoRegressive` ``ar1`` (one variance, R_ij = ρ^|i−j|, −1 < ρ < 1) and ``hetar1``
  (a variance per column);
* :class:`Toeplitz` ``toep`` (a variance per column, R_ij = ρ_|i−j|, one correlation per lag).

The structured classes share one parameterisation: θ_k = (s, t), s ≥ 0 the standard deviations
relative to σ (one or p of them) and t unbounded correlation parameters, and T_k = D_s C(t) with
C(t) the lower Cholesky factor of R(t); since D_s is diagonal T_k is lower triangular and
T_k T_kᵀ = D_s R D_s. θ_k ↦ T_k is what the optimiser sees; the bounds are s ≥ 0 only.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pandas as pd
import scipy.linalg as la

from .errors import FormulaError

__all__ = ["Unstructured", "Diagonal", "CompoundSymmetry", "AutoRegressive", "Toeplitz", "STRUCTURES",
           "structure_of", "term_structures", "ThetaLayout", "scale_columns", "scale_rows", "relative_effects", "lambda_matrix",
           "covariance_matrices", "varcorr_table"]


@dataclass(frozen=True)
class Unstructured:
    """A general p × p covariance: T lower triangular with a non-negative diagonal (lme4's ``(x | g)``).

    θ_k is T's lower triangle in column-major order; the start is T = I.
    """

    p: int

    def __post_init__(self):
        # column-major lower triangle = row-major upper triangle with the indices swapped
        object.__setattr__(self, "_tril", tuple(reversed(np.triu_indices(self.p))))
        object.__setattr__(self, "_tril_flat", np.ravel_multi_index(self._tril, (self.p, self.p)))

    @property
    def n_theta(self) -> int:
        return self.p * (self.p + 1) // 2

    def template(self, theta_k: np.ndarray) -> np.ndarray:
        p = self.p
        if p == 1:
            return theta_k.reshape(1, 1).copy()
        T = np.zeros(p * p)
        T[self._tril_flat] = theta_k  # a flat index: half the time of T[rows, cols] (once per evaluation)
        return T.reshape(p, p)

    def theta_of(self, T: np.ndarray) -> np.ndarray:
        return T[self._tril]

    def lower_bounds(self) -> np.ndarray:
        rows, cols = self._tril
        return np.where(rows == cols, 0.0, -np.inf)

    def initial(self) -> np.ndarray:
        rows, cols = self._tril
        return np.where(rows == cols, 1.0, 0.0)

    def names(self, group: str, columns: list[str]) -> list[str]:
        """lme4's θ names: ``Subject.(Intercept)``, ``Subject.Days.(Intercept)``, ``Subject.Days``."""
        return [f"{group}.{columns[r]}" if r == c else f"{group}.{columns[r]}.{columns[c]}" for r, c in zip(*self._tril)]

    keyword = "us"
    correlated = True

    def sdcor_names(self, group: str, columns: list[str]) -> list[str]:
        """lme4's ``sd_<column>|<group>`` and ``cor_<row>.<column>|<group>``, in θ_k's order."""
        return [f"sd_{columns[r]}|{group}" if r == c else f"cor_{columns[r]}.{columns[c]}|{group}"
                for r, c in zip(*self._tril)]

    def sdcor(self, theta_k: np.ndarray, sigma: float) -> np.ndarray:
        """The sds and correlations of Σ_k = σ² T_k T_kᵀ in θ_k's order (NaN: a correlation of a zero sd)."""
        cov = sigma**2 * self.template(theta_k) @ self.template(theta_k).T
        sd = np.sqrt(np.diag(cov))
        return np.array([sd[r] if r == c else (cov[r, c] / (sd[r] * sd[c]) if sd[r] * sd[c] > 0 else np.nan)
                         for r, c in zip(*self._tril)])

    def theta_of_sdcor(self, values: np.ndarray, sigma: float) -> np.ndarray | None:
        """θ_k from :meth:`sdcor`'s values: T_k = chol(D R D) / σ; None if R is not positive semi-definite."""
        R, sd = np.eye(self.p), np.empty(self.p)
        for (r, c), v in zip(zip(*self._tril), values):
            if r == c:
                sd[r] = v
            else:
                R[r, c] = R[c, r] = v
        L = psd_cholesky(sd[:, None] * R * sd[None, :])
        return None if L is None else self.theta_of(L / sigma)

    def sd_partners(self) -> dict[int, list[int]]:
        """For each correlation's index in θ_k, the indices of its two standard deviations."""
        where = {(r, c): i for i, (r, c) in enumerate(zip(*self._tril))}
        return {i: [where[r, r], where[c, c]] for (r, c), i in where.items() if r != c}


def psd_cholesky(S: np.ndarray) -> np.ndarray | None:
    """Lower-triangular L with L Lᵀ = S for a positive semi-definite S (zero pivots allowed).

    numpy's Cholesky rejects singular matrices, which occur on the boundary of the parameter
    space (an sd of 0, a correlation of ±1). Returns None when S is not positive semi-definite.
    """
    p = S.shape[0]
    L = np.zeros_like(S, dtype=float)
    scale = max(float(np.max(np.abs(np.diag(S)))), 1e-300)
    for j in range(p):
        d = S[j, j] - L[j, :j] @ L[j, :j]
        if d < -1e-10 * scale:
            return None
        if d <= 1e-14 * scale:
            # zero pivot: column j of L must vanish below the diagonal too, or S is not PSD
            rest = S[j + 1:, j] - L[j + 1:, :j] @ L[j, :j]
            if np.any(np.abs(rest) > 1e-7 * scale):
                return None
            continue
        L[j, j] = np.sqrt(d)
        L[j + 1:, j] = (S[j + 1:, j] - L[j + 1:, :j] @ L[j, :j]) / L[j, j]
    return L


def _bounded(t: np.ndarray) -> np.ndarray:
    """t ↦ t / √(1 + t²), a bijection of ℝ onto (−1, 1)."""
    return t / np.sqrt(1.0 + t * t)


def _unbounded(r: np.ndarray) -> np.ndarray:
    """Inverse of :func:`_bounded`: r / √(1 − r²) (r clipped inside (−1, 1))."""
    r = np.clip(r, -1 + 1e-12, 1 - 1e-12)
    return r / np.sqrt(1.0 - r * r)


@dataclass(frozen=True)
class _Structured:
    """Common machinery of T = D_s C(t) (module docstring): subclasses give the number of
    correlation parameters, R's Cholesky factor C(t) and t from a correlation matrix."""

    p: int
    homogeneous: bool = False

    n_correlations = 0
    correlated = True

    def __post_init__(self):
        if self.p < 2 and self.n_correlations:
            raise FormulaError(f"a {self.keyword}(...) term needs at least 2 columns (it has {self.p}): its "
                               "correlation is not defined for one column; use (x | g) or diag(x | g)")

    def n_correlations_for(self, p: int) -> int:
        return self.n_correlations

    @property
    def keyword(self) -> str:
        return ("hom" if self.homogeneous else "") + self.base_keyword

    @property
    def n_sd(self) -> int:
        return 1 if self.homogeneous else self.p

    @property
    def n_theta(self) -> int:
        return self.n_sd + self.n_correlations_for(self.p)

    def template(self, theta_k: np.ndarray) -> np.ndarray:
        theta_k = np.asarray(theta_k, dtype=float)
        sd = np.broadcast_to(theta_k[:self.n_sd], (self.p,))
        return sd[:, None] * self.correlation_factor(theta_k[self.n_sd:])

    def theta_of(self, T: np.ndarray) -> np.ndarray:
        S = T @ T.T
        sd = np.sqrt(np.diag(S))
        safe = np.where(sd > 0, sd, 1.0)
        R = S / np.outer(safe, safe)
        s = np.array([np.sqrt(np.mean(sd**2))]) if self.homogeneous else sd
        return np.concatenate([s, self.correlation_theta(R)])

    def lower_bounds(self) -> np.ndarray:
        return np.r_[np.zeros(self.n_sd), np.full(self.n_theta - self.n_sd, -np.inf)]

    def initial(self) -> np.ndarray:
        return self.theta_of(np.eye(self.p))

    def correlation_matrix(self, theta_k: np.ndarray) -> np.ndarray:
        """R(t) of the term's columns."""
        C = self.correlation_factor(np.asarray(theta_k, dtype=float)[self.n_sd:])
        return C @ C.T

    def names(self, group: str, columns: list[str]) -> list[str]:
        """``group.column`` per standard deviation (``group.sd`` when homogeneous), then the
        unbounded correlation parameters ``group.t_rho`` (cs, ar1) or ``group.t_pacf<k>`` (toep):
        θ holds t, not the correlation itself (see each class)."""
        sds = [f"{group}.sd"] if self.homogeneous else [f"{group}.{c}" for c in columns]
        return sds + [f"{group}.{n}" for n in self.correlation_names()]

    def sdcor_names(self, group: str, columns: list[str]) -> list[str]:
        """``sd_<column>|<group>`` per sd (``sd|<group>`` when homogeneous), then ``cor|<group>``
        (cs, ar1) or ``cor_lag<k>|<group>`` (toep), in θ_k's order."""
        sds = [f"sd|{group}"] if self.homogeneous else [f"sd_{c}|{group}" for c in columns]
        cors = self.correlation_names()
        return sds + (["cor|" + group] if cors == ["t_rho"] else [f"cor_lag{k}|{group}" for k in range(1, len(cors) + 1)])

    def sdcor(self, theta_k: np.ndarray, sigma: float) -> np.ndarray:
        """σ × the standard deviations, then the correlations (ρ, or ρ_1..ρ_{p−1} per lag)."""
        theta_k = np.asarray(theta_k, dtype=float)
        return np.r_[sigma * theta_k[:self.n_sd], self.correlations(self.correlation_matrix(theta_k))]

    def theta_of_sdcor(self, values: np.ndarray, sigma: float) -> np.ndarray | None:
        """θ_k from :meth:`sdcor`'s values; None outside the structure's correlations (R not positive definite)."""
        values = np.asarray(values, dtype=float)
        sd, cors = values[:self.n_sd] / sigma, values[self.n_sd:]
        if not len(cors):
            return sd
        R = self.correlation_of(cors, np.abs(np.subtract.outer(np.arange(self.p), np.arange(self.p))))
        try:
            np.linalg.cholesky(R)
        except np.linalg.LinAlgError:
            return None
        return np.r_[sd, self.correlation_theta(R)]

    def sd_partners(self) -> dict[int, list[int]]:
        """Each correlation parameter's index in θ_k → the indices of the standard deviations."""
        return {i: list(range(self.n_sd)) for i in range(self.n_sd, self.n_theta)}


@dataclass(frozen=True)
class Diagonal(_Structured):
    """``diag(x | g)``: independent effects, a variance per column (``homdiag``: one); R = I."""

    base_keyword = "diag"
    correlated = False

    def correlation_factor(self, t: np.ndarray) -> np.ndarray:
        return np.eye(self.p)

    def correlation_theta(self, R: np.ndarray) -> np.ndarray:
        return np.empty(0)

    def correlations(self, R: np.ndarray) -> np.ndarray:
        return np.empty(0)

    def correlation_names(self) -> list[str]:
        return []


@dataclass(frozen=True)
class CompoundSymmetry(_Structured):
    """``cs(x | g)``: one correlation ρ between every pair of columns, a variance per column
    (``homcs``: one variance). ρ = a + (1 − a) / (1 + e^{−t}), a = −1/(p − 1), keeps R positive
    definite; C(t) is R's Cholesky factor."""

    base_keyword = "cs"
    n_correlations = 1

    @property
    def _low(self) -> float:
        return -1.0 / (self.p - 1)

    def rho(self, t: np.ndarray) -> float:
        return float(self._low + (1 - self._low) / (1 + np.exp(-t[0])))

    def correlation_factor(self, t: np.ndarray) -> np.ndarray:
        rho = self.rho(t)
        return np.linalg.cholesky((1 - rho) * np.eye(self.p) + rho)

    def correlation_theta(self, R: np.ndarray) -> np.ndarray:
        rho = float(np.mean(R[np.tril_indices(self.p, -1)]))
        u = np.clip((rho - self._low) / (1 - self._low), 1e-12, 1 - 1e-12)
        return np.array([np.log(u / (1 - u))])

    def correlations(self, R: np.ndarray) -> np.ndarray:
        """ρ."""
        return np.array([R[1, 0]])

    def correlation_of(self, cors: np.ndarray, lag: np.ndarray) -> np.ndarray:
        """R from ρ (``lag`` = |i − j|)."""
        return np.where(lag == 0, 1.0, cors[0])

    def correlation_names(self) -> list[str]:
        return ["t_rho"]


@dataclass(frozen=True)
class AutoRegressive(_Structured):
    """``ar1(x | g)``: R_ij = ρ^|i−j| between the columns in their order, one variance (glmmTMB's
    ar1; ``hetar1``: a variance per column). ρ = t / √(1 + t²); C(t) in closed form:
    C_i0 = ρ^i, C_ij = ρ^{i−j} √(1 − ρ²) (j ≥ 1)."""

    homogeneous: bool = True
    n_correlations = 1

    @property
    def keyword(self) -> str:
        return "ar1" if self.homogeneous else "hetar1"

    def correlation_factor(self, t: np.ndarray) -> np.ndarray:
        rho = float(_bounded(t)[0])
        lag = np.subtract.outer(np.arange(self.p), np.arange(self.p))
        C = np.where(lag >= 0, rho ** np.maximum(lag, 0), 0.0)
        C[:, 1:] *= 1.0 / np.sqrt(1.0 + t[0] ** 2)  # √(1 − ρ²)
        return C

    def correlation_theta(self, R: np.ndarray) -> np.ndarray:
        return _unbounded(np.array([R[1, 0]]))

    def correlations(self, R: np.ndarray) -> np.ndarray:
        """ρ."""
        return np.array([R[1, 0]])

    def correlation_of(self, cors: np.ndarray, lag: np.ndarray) -> np.ndarray:
        """R = ρ^|i−j|."""
        return cors[0] ** lag

    def correlation_names(self) -> list[str]:
        return ["t_rho"]


def _acf_of_pacf(phi: np.ndarray) -> np.ndarray:
    """Autocorrelations r_1..r_m from partial autocorrelations φ_1..φ_m (Durbin–Levinson):
    a_k = (a_{k−1} − φ_k rev(a_{k−1}), φ_k), r_k = Σ_j a_{k,j} r_{k−j}, r_0 = 1."""
    r, a = [1.0], np.empty(0)
    for phi_k in phi:
        a = np.r_[a - phi_k * a[::-1], phi_k]
        r.append(float(a @ np.array(r[::-1])))
    return np.array(r[1:])


def _pacf_of_acf(r: np.ndarray) -> np.ndarray:
    """Inverse of :func:`_acf_of_pacf` (the Durbin–Levinson recursion)."""
    r0 = np.r_[1.0, r]
    a, out = np.empty(0), []
    for k in range(1, len(r0)):
        phi_k = (r0[k] - a @ r0[k - 1:0:-1]) / (1.0 - a @ r0[1:k])
        a = np.r_[a - phi_k * a[::-1], phi_k]
        out.append(phi_k)
    return np.array(out)


@dataclass(frozen=True)
class Toeplitz(_Structured):
    """``toep(x | g)``: R_ij = ρ_|i−j| (a correlation per lag), a variance per column (glmmTMB's
    toep). The lag correlations come from partial autocorrelations φ_k = t_k / √(1 + t_k²) by the
    Durbin–Levinson recursion, so every t gives a positive definite R."""

    base_keyword = "toep"

    def n_correlations_for(self, p: int) -> int:
        return p - 1

    def correlation_factor(self, t: np.ndarray) -> np.ndarray:
        r = np.r_[1.0, _acf_of_pacf(_bounded(t))]
        lag = np.abs(np.subtract.outer(np.arange(self.p), np.arange(self.p)))
        return np.linalg.cholesky(r[lag])

    def correlation_theta(self, R: np.ndarray) -> np.ndarray:
        r = np.array([np.mean(np.diagonal(R, -k)) for k in range(1, self.p)])
        return _unbounded(_pacf_of_acf(r))

    def correlations(self, R: np.ndarray) -> np.ndarray:
        """ρ_1 … ρ_{p−1}, the correlation at each lag."""
        return R[1:, 0].copy()

    def correlation_of(self, cors: np.ndarray, lag: np.ndarray) -> np.ndarray:
        """R = ρ_|i−j|."""
        return np.r_[1.0, cors][lag]

    def correlation_names(self) -> list[str]:
        return [f"t_pacf{k}" for k in range(1, self.p)]


STRUCTURES = {
    "us": lambda p: Unstructured(p),
    "diag": lambda p: Diagonal(p),
    "homdiag": lambda p: Diagonal(p, homogeneous=True),
    "cs": lambda p: CompoundSymmetry(p),
    "homcs": lambda p: CompoundSymmetry(p, homogeneous=True),
    "ar1": lambda p: AutoRegressive(p),
    "hetar1": lambda p: AutoRegressive(p, homogeneous=False),
    "toep": lambda p: Toeplitz(p),
}
"""Formula keyword → structure of a term with p columns."""


@lru_cache(maxsize=64)
def structure_of(keyword: str, p: int):
    """The structure called ``keyword`` (a key of :data:`STRUCTURES`) for a term with p columns.

    Cached: structures are immutable, and making one (its index arrays) costs more than the
    rest of a small model's set-up.

    Raises
    ------
    FormulaError
        An unknown keyword, or a correlation structure on a single column.
    """
    if keyword not in STRUCTURES:
        raise FormulaError(f"unknown covariance structure {keyword!r}; one of {', '.join(STRUCTURES)}")
    return STRUCTURES[keyword](int(p))


def term_structures(terms) -> list:
    """The covariance structure of each random-effects term (its ``spec.structure`` keyword and
    ``n_cols`` columns)."""
    return [structure_of(t.spec.structure, t.n_cols) for t in terms]


class ThetaLayout:
    """Where each term's θ_k lives in θ, and θ ↦ (T_k).

    Parameters
    ----------
    sizes : tuple of int
        p_k of each term; every term :class:`Unstructured` unless ``structures`` are given.
    structures : sequence, optional
        One structure per term (objects with ``p``, ``n_theta``, ``template``, ``theta_of``,
        ``lower_bounds``, ``initial``, ``names``).
    """

    def __init__(self, sizes, structures=None):
        self.structures = tuple(Unstructured(int(p)) for p in sizes) if structures is None else tuple(structures)
        self.sizes = tuple(s.p for s in self.structures)
        self.offsets = [0, *itertools.accumulate(s.n_theta for s in self.structures)]
        self._slices = [(s.template, lo, hi) for s, lo, hi in zip(self.structures, self.offsets, self.offsets[1:])]
        self._one_term = self._slices[0] if len(self._slices) == 1 else None

    def __eq__(self, other) -> bool:
        return isinstance(other, ThetaLayout) and self.structures == other.structures

    __hash__ = None

    @property
    def n_theta(self) -> int:
        return self.offsets[-1]


    def templates(self, theta: np.ndarray) -> list[np.ndarray]:
        """The T_k for a given θ (called once per evaluation of the criterion: kept lean)."""
        theta = np.asarray(theta, dtype=float)
        if self._one_term is not None:  # one term (most models): no list comprehension per evaluation
            template, lo, hi = self._one_term
            return [template(theta[lo:hi])]
        return [template(theta[lo:hi]) for template, lo, hi in self._slices]

    def theta_of(self, templates: list[np.ndarray]) -> np.ndarray:
        """Inverse of :meth:`templates`."""
        return np.concatenate([s.theta_of(T) for s, T in zip(self.structures, templates)])

    def lower_bounds(self) -> np.ndarray:
        """Lower bounds of θ (lme4's ``theta_lower``: 0 for the diagonal of each unstructured T_k and
        the standard deviations of structured terms, -inf otherwise)."""
        return np.concatenate([s.lower_bounds() for s in self.structures])

    def initial(self) -> np.ndarray:
        """The start of the optimisation (T_k = I for unstructured terms)."""
        return np.concatenate([s.initial() for s in self.structures])

    def diagonal_mask(self) -> np.ndarray:
        """True for the θ elements that are scales (bounded at 0: a fit there is singular)."""
        return self.lower_bounds() == 0.0

    def names(self, group_names: list[str], column_names: list[list[str]]) -> list[str]:
        """lme4's θ names, term by term."""
        return [name for s, g, c in zip(self.structures, group_names, column_names) for name in s.names(g, c)]


def scale_columns(M: np.ndarray, layout, templates: list[np.ndarray]) -> None:
    """In place: M[:, term k] ← M[:, term k] (I ⊗ T_k), i.e. M ← MΛ on the columns of the given terms.

    ``layout`` has the terms' column ``slices``, ``sizes`` p_k and ``n_levels`` ℓ_k
    (:class:`mixedmodels.cholesky.RestLayout`).
    """
    for sl, p, l, T in zip(layout.slices, layout.sizes, layout.n_levels, templates):
        if p == 1:
            M[:, sl] *= T[0, 0]
        else:
            block = M[:, sl].reshape(M.shape[0], l, p)
            M[:, sl] = (block @ T).reshape(M.shape[0], l * p)


def scale_rows(M: np.ndarray, layout, templates: list[np.ndarray]) -> None:
    """In place: M ← ΛᵀM on the rows of the given terms (M may be a vector)."""
    matrix = M if M.ndim == 2 else M[:, None]
    scale_columns(matrix.T, layout, templates)


def relative_effects(u: list[np.ndarray], templates: list[np.ndarray]) -> list[np.ndarray]:
    """b = Λu per term: rows b_j = T_k u_j, arrays (ℓ_k, p_k) (also batched: (..., ℓ_k, p_k))."""
    return [uk @ Tk.T for uk, Tk in zip(u, templates)]


def lambda_matrix(templates: list[np.ndarray], n_levels: list[int]) -> np.ndarray:
    """Λ = ⊕_k (I_{ℓ_k} ⊗ T_k) as a dense q × q matrix (for the few dense computations)."""
    return la.block_diag(*[np.kron(np.eye(l), T) for T, l in zip(templates, n_levels)])


def covariance_matrices(templates: list[np.ndarray], sigma: float) -> list[np.ndarray]:
    """Σ_k = σ² T_k T_kᵀ, the covariance of term k's effects at one level."""
    return [sigma**2 * T @ T.T for T in templates]


def varcorr_table(group_names: list[str], column_names: list[list[str]], covariances: list[np.ndarray],
                  sigma: float | None, structures=None) -> pd.DataFrame:
    """R's ``as.data.frame(VarCorr(fit))``: grp, var1, var2, vcov, sdcor (a Residual row when σ is given).

    Terms whose structure has no correlations (``diag``, ``homdiag``; ``structures`` gives each
    term's) list their variances only, as glmmTMB prints them.
    """
    rows = []
    structures = [None] * len(group_names) if structures is None else structures
    for name, cols, cov, structure in zip(group_names, column_names, covariances, structures):
        sd = np.sqrt(np.diag(cov))
        rows += [(name, c, None, cov[i, i], sd[i]) for i, c in enumerate(cols)]
        if structure is not None and not structure.correlated:
            continue
        for j in range(len(cols)):
            for i in range(j + 1, len(cols)):
                corr = cov[i, j] / (sd[i] * sd[j]) if sd[i] * sd[j] > 0 else float("nan")
                rows.append((name, cols[j], cols[i], cov[i, j], corr))
    if sigma is not None:
        rows.append(("Residual", None, None, sigma**2, sigma))
    return pd.DataFrame(rows, columns=["grp", "var1", "var2", "vcov", "sdcor"])
