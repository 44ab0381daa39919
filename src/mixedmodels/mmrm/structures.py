"""Covariance structures of the visits within a subject, in R ``mmrm``'s parameterisations.

Every structure maps its parameter vector θ to the m × m covariance Σ(θ) of the m visits, and
gives the exact first and second derivatives ∂Σ/∂θ_k and ∂²Σ/∂θ_k∂θ_l (the gradient of the
criterion, Satterthwaite's Jacobian and Kenward–Roger's P, Q and R need them). All of them are
written as

    Σ_ij = s_i s_j C_ij(ρ),   s = exp(θ_sd),   ρ = g(θ_cor),

with a vector of standard deviations (one per visit for the heterogeneous ``h`` variants and
``us``; one shared value otherwise) and a matrix C of correlation parameters ρ, which mmrm
maps from the real line (``map_to_cor``: ρ = θ/√(1 + θ²) ∈ (−1, 1); compound symmetry
``map_to_cs_cor``: ρ = logit⁻¹(θ)(1 + a) − a with a = 1/(m − 1), so that Σ stays positive
definite). θ is ordered as mmrm orders it: the log-sd parameters first, then the correlations.

=========  =======================================  ==================================
structure  C_ij (i > j)                             θ
=========  =======================================  ==================================
``us``     (M Mᵀ)_ij, M unit lower triangular        m log-sd, then M's m(m−1)/2 entries
           with θ below the diagonal (row by row)    (mmrm's ``get_unstructured``)
``toep``   ρ_{i−j}                                   log σ, ρ_1 … ρ_{m−1}
``toeph``  ρ_{i−j}                                   m log-sd, ρ_1 … ρ_{m−1}
``ar1``    ρ^{i−j}                                   log σ, ρ
``ar1h``   ρ^{i−j}                                   m log-sd, ρ
``ad``     ρ_j ρ_{j+1} ⋯ ρ_{i−1}                     log σ, ρ_1 … ρ_{m−1}
``adh``    ρ_j ρ_{j+1} ⋯ ρ_{i−1}                     m log-sd, ρ_1 … ρ_{m−1}
``cs``     ρ                                         log σ, ρ (cs map)
``csh``    ρ                                         m log-sd, ρ (cs map)
=========  =======================================  ==================================

For ``us`` the "sd" s_i is the scale of row i of the Cholesky factor L = diag(s) M, not the
standard deviation of visit i; for the others C is a correlation matrix and Σ = D C D.

The spatial structures (:class:`SpatialStructure`) have no visit factor: the covariance of two
observations of a subject depends on the Euclidean distance d_ij of their coordinates (one or more
numeric columns), so every subject has its own Σ_i. As mmrm's C++ code defines them (its vignette
writes θ_1 = log σ, but the code takes exp(θ_1) as the variance):

==========  ==============================  =================================================
structure   (Σ_i)_jl                        θ
==========  ==============================  =================================================
``sp_exp``  σ² ρ^{d_jl}                     log σ², logit ρ   (ρ ∈ (0, 1))
``sp_gau``  σ² ρ^{d_jl²}                    log σ², logit ρ
==========  ==============================  =================================================
"""

from __future__ import annotations

import numpy as np

__all__ = ["CovarianceStructure", "STRUCTURES", "make_structure", "SpatialStructure", "SPATIAL_STRUCTURES",
           "make_spatial_structure"]


def _cor_map(theta: np.ndarray):
    """mmrm ``map_to_cor``: ρ = θ/√(1 + θ²), with its first and second derivatives."""
    q = 1.0 + theta * theta
    return theta / np.sqrt(q), q ** -1.5, -3.0 * theta * q ** -2.5


def _cs_map(theta: np.ndarray, m: int):
    """mmrm ``map_to_cs_cor``: ρ = logit⁻¹(θ)(1 + a) − a, a = 1/(m − 1), and derivatives."""
    a = 1.0 / (m - 1.0)
    p = 1.0 / (1.0 + np.exp(-theta))
    d1 = (1.0 + a) * p * (1.0 - p)
    return p * (1.0 + a) - a, d1, d1 * (1.0 - 2.0 * p)


class CovarianceStructure:
    """Σ(θ) of the visits for one structure: the interface every structure implements.

    Parameters
    ----------
    n_visits : int
        m, the number of visit levels.

    Attributes
    ----------
    name : str
        mmrm's abbreviation ("us", "toep", ...).
    heterogeneous : bool
        One standard deviation per visit (else one shared).
    n_theta : int
        Number of parameters.
    """

    name = ""
    label = ""
    heterogeneous = True

    def __init__(self, n_visits: int):
        self.m = int(n_visits)
        self.n_sd = self.m if self.heterogeneous else 1
        self.n_cor = self._n_cor()
        self.n_theta = self.n_sd + self.n_cor

    # -- the correlation part: what a structure defines ------------------------------------
    def _n_cor(self) -> int:
        raise NotImplementedError

    def _rho(self, theta_cor: np.ndarray):
        """ρ, dρ/dθ, d²ρ/dθ² (each of length n_cor)."""
        return _cor_map(theta_cor)

    def _corr(self, rho: np.ndarray, order: int):
        """C(ρ) (m × m), and for order ≥ 1 ∂C/∂ρ_k (n_cor, m, m), for order 2 ∂²C/∂ρ_k∂ρ_l."""
        raise NotImplementedError

    def start(self) -> np.ndarray:
        """mmrm's ``std_start`` values."""
        return np.zeros(self.n_theta)

    def theta_names(self) -> list[str]:
        """Names of the parameters, in θ's order."""
        sd = [f"log_sd[{i + 1}]" for i in range(self.n_sd)] if self.heterogeneous else ["log_sd"]
        return sd + [f"cor_par[{k + 1}]" for k in range(self.n_cor)]

    # -- Σ and its derivatives ---------------------------------------------------------------
    def sigma(self, theta: np.ndarray) -> np.ndarray:
        """Σ(θ), m × m."""
        return self.derivatives(theta, 0)[0]

    def derivatives(self, theta: np.ndarray, order: int = 1):
        """Σ, and ∂Σ/∂θ_k (n_theta, m, m) for order ≥ 1, ∂²Σ/∂θ_k∂θ_l (n_theta, n_theta, m, m) for 2.

        Σ_ij = s_i s_j C_ij: a log-sd θ_a multiplies Σ_ij by [i = a] + [j = a] (heterogeneous)
        or by 2 (shared sd); a correlation parameter acts through S ∘ ∂C/∂ρ · dρ/dθ with
        S = s sᵀ, and ∂²Σ/∂θ_k∂θ_l = S ∘ (∂²C/∂ρ_k∂ρ_l ρ'_k ρ'_l + [k = l] ∂C/∂ρ_k ρ''_k).
        """
        theta = np.asarray(theta, dtype=float)
        m, n_sd, n_cor = self.m, self.n_sd, self.n_cor
        s = np.exp(theta[:n_sd]) * np.ones(m)
        rho, d1, d2 = self._rho(theta[n_sd:])
        parts = self._corr(rho, order)
        S = np.outer(s, s)
        sigma = S * parts[0]
        if order == 0:
            return (sigma,)
        if self.heterogeneous:
            U = np.zeros((n_sd, m, m))  # U_a[i, j] = [i = a] + [j = a]
            idx = np.arange(m)
            U[idx, idx, :] += 1.0
            U[idx, :, idx] += 1.0
        else:
            U = np.full((1, m, m), 2.0)
        dC = parts[1] * d1[:, None, None]  # ∂C/∂θ_cor
        jac = np.concatenate([U * sigma, S * dC])
        if order == 1:
            return sigma, jac
        k = self.n_theta
        hess = np.zeros((k, k, m, m))
        hess[:n_sd, :n_sd] = U[:, None] * U[None, :] * sigma
        cross = U[:, None] * (S * dC)[None, :]
        hess[:n_sd, n_sd:] = cross
        hess[n_sd:, :n_sd] = cross.transpose(1, 0, 2, 3)
        cc = parts[2] * (d1[:, None] * d1[None, :])[:, :, None, None]
        cc[np.arange(n_cor), np.arange(n_cor)] += parts[1] * d2[:, None, None]
        hess[n_sd:, n_sd:] = S * cc
        return sigma, jac, hess


class Unstructured(CovarianceStructure):
    """``us``: Σ = L Lᵀ with L = diag(exp θ_sd) M, M unit lower triangular holding θ_cor row by row."""

    name, label = "us", "unstructured"

    def _n_cor(self):
        return self.m * (self.m - 1) // 2

    def _rho(self, theta_cor):
        return theta_cor, np.ones_like(theta_cor), np.zeros_like(theta_cor)

    def theta_names(self):
        rows, cols = np.tril_indices(self.m, -1)
        return [f"log_sd[{i + 1}]" for i in range(self.m)] + [f"chol[{i + 1},{j + 1}]" for i, j in zip(rows, cols)]

    def _lower(self):
        # the row-by-row order of mmrm's loop: for i, for j < i
        rows, cols = [], []
        for i in range(self.m):
            for j in range(i):
                rows.append(i)
                cols.append(j)
        return np.array(rows, dtype=int), np.array(cols, dtype=int)

    def _corr(self, rho, order):
        m = self.m
        rows, cols = self._lower()
        M = np.eye(m)
        M[rows, cols] = rho
        out = [M @ M.T]
        if order >= 1:
            q = len(rho)
            E = np.zeros((q, m, m))
            E[np.arange(q), rows, cols] = 1.0
            EM = E @ M.T  # E_k Mᵀ
            out.append(EM + EM.transpose(0, 2, 1))
            if order >= 2:
                EE = np.einsum("kab,lcb->klac", E, E)  # E_k E_lᵀ
                out.append(EE + EE.transpose(1, 0, 2, 3))
        return out


class _Lagged(CovarianceStructure):
    """Structures whose C_ij depends on the lag i − j (and, for ante-dependence, on j)."""

    def _lags(self):
        idx = np.arange(self.m)
        return np.abs(idx[:, None] - idx[None, :])


class Toeplitz(_Lagged):
    """``toep``: C_ij = ρ_{|i−j|}, one variance."""

    name, label, heterogeneous = "toep", "Toeplitz", False

    def _n_cor(self):
        return self.m - 1

    def _corr(self, rho, order):
        lag = self._lags()
        C = np.concatenate([[1.0], rho])[lag]
        out = [C]
        if order >= 1:
            out.append((lag[None] == np.arange(1, self.m)[:, None, None]).astype(float))
            if order >= 2:
                out.append(np.zeros((self.n_cor, self.n_cor, self.m, self.m)))
        return out


class ToeplitzHeterogeneous(Toeplitz):
    """``toeph``: C_ij = ρ_{|i−j|}, one variance per visit."""

    name, label, heterogeneous = "toeph", "heterogeneous Toeplitz", True


class AutoRegressive(_Lagged):
    """``ar1``: C_ij = ρ^{|i−j|}, one variance."""

    name, label, heterogeneous = "ar1", "auto-regressive order one", False

    def _n_cor(self):
        return 1

    def start(self):
        start = np.zeros(self.n_theta)
        start[-1] = 0.5
        return start

    def _corr(self, rho, order):
        lag = self._lags().astype(float)
        r = rho[0]
        out = [r ** lag]
        if order >= 1:
            out.append((lag * np.where(lag >= 1, r ** np.maximum(lag - 1, 0), 0.0))[None])
            if order >= 2:
                out.append((lag * (lag - 1) * np.where(lag >= 2, r ** np.maximum(lag - 2, 0), 0.0))[None, None])
        return out


class AutoRegressiveHeterogeneous(AutoRegressive):
    """``ar1h``: C_ij = ρ^{|i−j|}, one variance per visit."""

    name, label, heterogeneous = "ar1h", "heterogeneous auto-regressive order one", True


class AnteDependence(CovarianceStructure):
    """``ad``: C_ij = ρ_j ρ_{j+1} ⋯ ρ_{i−1} (i > j), one variance."""

    name, label, heterogeneous = "ad", "ante-dependence", False

    def _n_cor(self):
        return self.m - 1

    def _corr(self, rho, order):
        m, q = self.m, self.n_cor
        C = np.eye(m)
        d1 = np.zeros((q, m, m))
        d2 = np.zeros((q, q, m, m))
        for i in range(m):
            for j in range(i):
                span = np.arange(j, i)  # ρ_k for k = j … i−1 (0-based)
                C[i, j] = C[j, i] = np.prod(rho[span])
                if order >= 1:
                    for k in span:
                        d1[k, i, j] = d1[k, j, i] = np.prod(rho[span[span != k]])
                        if order >= 2:
                            for l in span:
                                if l != k:
                                    d2[k, l, i, j] = d2[k, l, j, i] = np.prod(rho[span[(span != k) & (span != l)]])
        return [C, d1, d2][: order + 1]


class AnteDependenceHeterogeneous(AnteDependence):
    """``adh``: ante-dependence with one variance per visit."""

    name, label, heterogeneous = "adh", "heterogeneous ante-dependence", True


class CompoundSymmetry(CovarianceStructure):
    """``cs``: C_ij = ρ (i ≠ j), ρ = logit⁻¹(θ)(1 + a) − a with a = 1/(m − 1); one variance."""

    name, label, heterogeneous = "cs", "compound symmetry", False

    def _n_cor(self):
        return 1

    def _rho(self, theta_cor):
        return _cs_map(theta_cor, self.m)

    def _corr(self, rho, order):
        m = self.m
        off = 1.0 - np.eye(m)
        out = [np.eye(m) + rho[0] * off]
        if order >= 1:
            out.append(off[None])
            if order >= 2:
                out.append(np.zeros((1, 1, m, m)))
        return out


class CompoundSymmetryHeterogeneous(CompoundSymmetry):
    """``csh``: compound symmetry with one variance per visit."""

    name, label, heterogeneous = "csh", "heterogeneous compound symmetry", True


STRUCTURES = {cls.name: cls for cls in (
    Unstructured, Toeplitz, ToeplitzHeterogeneous, AutoRegressive, AutoRegressiveHeterogeneous,
    AnteDependence, AnteDependenceHeterogeneous, CompoundSymmetry, CompoundSymmetryHeterogeneous)}
"""mmrm's abbreviation → structure class."""


def make_structure(name: str, n_visits: int) -> CovarianceStructure:
    """The structure ``name`` ("us", "toep", ...) for ``n_visits`` visits."""
    try:
        cls = STRUCTURES[name]
    except KeyError:
        raise ValueError(f"unknown covariance structure {name!r}; choose one of {', '.join(STRUCTURES)}") from None
    if n_visits < 2 and cls.name in ("cs", "csh"):
        raise ValueError(f"{name} needs at least two visits")
    return cls(n_visits)


class SpatialStructure:
    """Σ_i = σ² ρ^{D_i^a} of the observations of a subject from their distances D_i: the spatial interface.

    a = 1 for ``sp_exp``, 2 for ``sp_gau``; θ = (log σ², logit ρ) per group (mmrm's ``std_start`` is
    (0, 0)). With A = (1 − ρ) D^a (elementwise; d log ρ/d logit ρ = 1 − ρ):

        ∂Σ/∂θ_1 = Σ,  ∂Σ/∂θ_2 = A ∘ Σ,  ∂²Σ/∂θ_1² = Σ,  ∂²Σ/∂θ_1∂θ_2 = A ∘ Σ,  ∂²Σ/∂θ_2² = (A ∘ A − ρ A) ∘ Σ.
    """

    name = label = ""
    power = 1
    n_theta = 2

    def start(self) -> np.ndarray:
        """mmrm's ``std_start``: (0, 0), i.e. σ² = 1, ρ = ½."""
        return np.zeros(self.n_theta)

    def theta_names(self) -> list[str]:
        """Names of the parameters, in θ's order."""
        return ["log_sigma2", "logit_rho"]

    def scaled_distances(self, coordinates: np.ndarray) -> np.ndarray:
        """D^a for coordinates of shape (..., s, dim): (..., s, s)."""
        diff = coordinates[..., :, None, :] - coordinates[..., None, :, :]
        squared = (diff * diff).sum(axis=-1)
        return squared if self.power == 2 else np.sqrt(squared)

    def derivatives(self, theta: np.ndarray, Da: np.ndarray, order: int = 1):
        """Σ (b, s, s), and ∂Σ/∂θ_k (b, 2, s, s) for order ≥ 1, ∂²Σ/∂θ_k∂θ_l (b, 2, 2, s, s) for order 2.

        ``theta`` is (b, 2): one parameter vector per distance matrix of ``Da`` (b, s, s), so that the
        blocks of different groups are computed together.
        """
        theta = np.atleast_2d(np.asarray(theta, dtype=float))
        variance = np.exp(theta[:, 0])[:, None, None]
        log_rho = -np.logaddexp(0.0, -theta[:, 1])[:, None, None]
        sigma = variance * np.exp(Da * log_rho)
        if order == 0:
            return (sigma,)
        A = np.exp(-np.logaddexp(0.0, theta[:, 1]))[:, None, None] * Da  # (1 − ρ) D^a
        AS = A * sigma
        jac = np.stack([sigma, AS], axis=1)
        if order == 1:
            return sigma, jac
        hess = np.empty(sigma.shape[:1] + (2, 2) + sigma.shape[1:])
        hess[:, 0, 0] = sigma
        hess[:, 0, 1] = hess[:, 1, 0] = AS
        hess[:, 1, 1] = (A - np.exp(log_rho)) * AS
        return sigma, jac, hess

    def sigma_at(self, theta: np.ndarray, coordinates: np.ndarray) -> np.ndarray:
        """Σ for the points ``coordinates`` (s, dim) at the parameters ``theta`` (2,)."""
        coordinates = np.asarray(coordinates, dtype=float).reshape(len(coordinates), -1)
        return self.derivatives(theta, self.scaled_distances(coordinates)[None], 0)[0][0]


class SpatialExponential(SpatialStructure):
    """``sp_exp``: Σ_jl = σ² ρ^{d_jl}."""

    name, label, power = "sp_exp", "spatial exponential", 1


class SpatialGaussian(SpatialStructure):
    """``sp_gau``: Σ_jl = σ² ρ^{d_jl²}."""

    name, label, power = "sp_gau", "spatial Gaussian", 2


SPATIAL_STRUCTURES = {cls.name: cls for cls in (SpatialExponential, SpatialGaussian)}
"""mmrm's abbreviation → spatial structure class."""


def make_spatial_structure(name: str) -> SpatialStructure:
    """The spatial structure ``name`` ("sp_exp" or "sp_gau")."""
    try:
        return SPATIAL_STRUCTURES[name]()
    except KeyError:
        raise ValueError(f"unknown spatial structure {name!r}; choose one of {', '.join(SPATIAL_STRUCTURES)}") from None
