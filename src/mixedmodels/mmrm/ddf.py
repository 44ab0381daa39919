"""Covariance of β̂ and denominator degrees of freedom of an mmrm fit, as R's ``mmrm`` 0.3.18 computes them.

Covariance of β̂ (``vcov=``)
    * ``asymptotic``: C = (XᵀV⁻¹X)⁻¹.
    * ``kenward-roger``: Φ_A = C + 2C [Σ_kl W_kl (Q_kl − P_k C P_l − ¼ R_kl)] C with W = H⁻¹ the inverse
      Hessian of −log L in mmrm's θ (``h_var_adj``); Q_kl and R_kl vanish between groups.
      ``kenward-roger-linear`` drops R (the linear-covariance form, parameterisation free).
    * ``empirical``: C (Σ_i z_i z_iᵀ) C with z_i = X̃_iᵀ A_i ẽ_i, X̃_i, ẽ_i the whitened rows and residuals
      of subject i; A_i = I (sandwich), (I − H_ii)⁻¹ (``empirical-jackknife``) or (I − H_ii)^{-1/2}
      (``empirical-bias-reduced``, pseudo-inverse square root), H_ii = X̃_i C X̃_iᵀ.

Degrees of freedom (``method=``) for a contrast l
    * ``satterthwaite``: ν = 2 (lᵀΦl)² / (gᵀ W g), g_k = lᵀ ∂C/∂θ_k l (asymptotic); with an empirical
      covariance ν = tr(M)² / ‖M‖²_F where M = diag(‖v_i‖²) − Bᵀ C B, v_i = A_iᵀ X̃_i C l, B = [X̃_iᵀ v_i]_i
      (mmrm's ``g_mat`` form, reduced to p × p algebra).
    * ``kenward-roger``: Kenward & Roger's m and scale λ from P_k and W (``h_kr_df``), with the unadjusted C.
    * ``residual``: n − p; ``between-within``: n_subjects − (between-subject columns) − 1 for the
      between-subject columns, n − n_subjects − (within-subject columns) otherwise (the smallest over
      the columns a contrast involves).

Multi-row contrasts (F tests) follow ``df_md``: Satterthwaite on the eigen-decomposition of LΦLᵀ
(``h_md_denom_df``), Kenward–Roger's F scaled by λ.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

__all__ = ["METHODS", "VCOV_METHODS", "resolve_methods", "Inference", "kenward_roger_vcov", "empirical_terms"]

METHODS = ("satterthwaite", "kenward-roger", "residual", "between-within")
VCOV_METHODS = ("asymptotic", "empirical", "empirical-jackknife", "empirical-bias-reduced",
                "kenward-roger", "kenward-roger-linear")
_DEFAULT_VCOV = {"satterthwaite": "asymptotic", "kenward-roger": "kenward-roger", "residual": "empirical",
                 "between-within": "asymptotic"}
R_NAMES = {"satterthwaite": "Satterthwaite", "kenward-roger": "Kenward-Roger", "residual": "Residual",
           "between-within": "Between-Within", "asymptotic": "Asymptotic", "empirical": "Empirical",
           "empirical-jackknife": "Empirical-Jackknife", "empirical-bias-reduced": "Empirical-Bias-Reduced",
           "kenward-roger-linear": "Kenward-Roger-Linear"}


def resolve_methods(method: str, vcov: str | None, reml: bool) -> tuple[str, str]:
    """Normalise ``method`` and ``vcov`` and check they go together (mmrm ``mmrm_control``).

    ``method="kenward-roger-linear"`` is short for ``method="kenward-roger", vcov="kenward-roger-linear"``.
    """
    m = str(method).lower().replace("_", "-").replace(" ", "-")
    if m == "kenward-roger-linear":
        if vcov is not None and str(vcov).lower() != "kenward-roger-linear":
            raise ValueError(f"method='kenward-roger-linear' implies vcov='kenward-roger-linear', not {vcov!r}")
        m, vcov = "kenward-roger", "kenward-roger-linear"
    if m not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS + ('kenward-roger-linear',))}, not {method!r}")
    v = _DEFAULT_VCOV[m] if vcov is None else str(vcov).lower().replace("_", "-").replace(" ", "-")
    if v not in VCOV_METHODS:
        raise ValueError(f"vcov must be one of {', '.join(VCOV_METHODS)}, not {vcov!r}")
    if (m == "kenward-roger") != v.startswith("kenward-roger"):
        raise ValueError("Kenward-Roger degrees of freedom go with vcov='kenward-roger' or 'kenward-roger-linear' "
                         f"and only with them (got method={method!r}, vcov={vcov!r})")
    if m == "kenward-roger" and not reml:
        raise ValueError("Kenward-Roger needs a REML fit (reml=True)")
    return m, v


def kenward_roger_vcov(C: np.ndarray, W: np.ndarray, P: np.ndarray, WQ: np.ndarray, WR: np.ndarray | None) -> np.ndarray:
    """Φ_A = C + 2C [Σ_kl W_kl (Q_kl − P_k C P_l − ¼ R_kl)] C (mmrm ``h_var_adj``; WR = None: linear form).

    P holds P̃_k = XᵀV⁻¹∂V_kV⁻¹X (mmrm's P_k up to sign, which cancels in P_k C P_l); WQ and WR are
    Σ_kl W_kl Q_kl and Σ_kl W_kl R_kl (:meth:`~mixedmodels.mmrm.criterion.MmrmCriterion.kenward_roger_sums`).
    """
    PC = P @ C  # (k, p, p)
    inner = WQ - np.einsum("kl,kab,lbc->ac", W, PC, P, optimize=True)
    if WR is not None:
        inner -= 0.25 * WR
    return C + 2.0 * C @ inner @ C


def _pinv_sqrt(A: np.ndarray) -> np.ndarray:
    """Square root of the pseudo-inverse of a symmetric matrix (mmrm ``pseudoInverseSqrt``: SVD, tolerance ε·n·σ_max)."""
    U, s, Vt = np.linalg.svd(A)
    tol = np.finfo(float).eps * max(A.shape) * s[0]
    inv = np.where(s > tol, 1.0 / np.where(s > tol, s, 1.0), 0.0)
    return Vt.T @ (np.sqrt(inv)[:, None] * U.T)


def empirical_terms(blocks, state, vcov_method: str):
    """Empirical covariance of β̂ and the per-subject matrices its Satterthwaite df needs.

    Returns
    -------
    vcov : ndarray (p, p)
    F, Xt : ndarray (n_subjects_total_rows...) lists per block of (n_S, s, p): A_iᵀX̃_i and X̃_i
    """
    C, beta = state.C, state.beta
    p = len(beta)
    meat = np.zeros((p, p))
    Fs, Xts = [], []
    for block, L in zip(blocks, state.chol):
        Linv = np.linalg.inv(L)
        W = np.einsum("ab,ibq->iaq", Linv, block.Z)  # whitened [X̃ ỹ], (n_S, s, p + 1)
        Xt = W[..., :p]
        e = W[..., p] - Xt @ beta
        if vcov_method == "empirical":
            F = Xt
            z = np.einsum("iap,ia->ip", Xt, e)
        else:
            H = np.einsum("iap,pq,ibq->iab", Xt, C, Xt, optimize=True)
            A = np.eye(block.s)[None] - H
            A = np.linalg.inv(A) if vcov_method == "empirical-jackknife" else np.stack([_pinv_sqrt(a) for a in A])
            F = np.einsum("iba,ibp->iap", A, Xt)  # A_iᵀ X̃_i
            z = np.einsum("iap,ia->ip", F, e)  # X̃_iᵀ A_i ẽ_i
        meat += z.T @ z
        Fs.append(F)
        Xts.append(Xt)
    return C @ meat @ C, Fs, Xts


@dataclass
class Inference:
    """What the t and F tests of an mmrm fit need.

    Attributes
    ----------
    method, vcov_method : str
    beta : ndarray (p,)
    C : ndarray (p, p)             asymptotic covariance (XᵀV⁻¹X)⁻¹
    vcov : ndarray (p, p)          the covariance used for standard errors and Wald statistics
    theta_vcov : ndarray or None   W = H⁻¹
    jac : ndarray (k, p, p) or None  ∂C/∂θ_k (Satterthwaite, asymptotic)
    P : ndarray (k, p, p) or None    P̃_k (Kenward–Roger)
    empirical : (F list, Xt list) or None
    nobs, n_subjects : int
    between : ndarray of str (p,) or None   "intercept" / "between" / "within" per column
    """

    method: str
    vcov_method: str
    beta: np.ndarray
    C: np.ndarray
    vcov: np.ndarray
    theta_vcov: np.ndarray | None
    jac: np.ndarray | None
    P: np.ndarray | None
    empirical: tuple | None
    nobs: int
    n_subjects: int
    between: np.ndarray | None

    # -- one-dimensional contrasts ------------------------------------------------------------
    def _df_satterthwaite(self, l: np.ndarray) -> float:
        if self.empirical is None:
            g = np.einsum("a,kab,b->k", l, self.jac, l)
            return 2.0 * (l @ self.C @ l) ** 2 / (g @ self.theta_vcov @ g)
        return self._df_empirical(l)

    def _df_empirical(self, l: np.ndarray) -> float:
        Fs, Xts = self.empirical
        Cl = self.C @ l
        d, B = [], []
        for F, Xt in zip(Fs, Xts):
            v = F @ Cl  # (n_S, s)
            d.append((v * v).sum(axis=1))
            B.append(np.einsum("iap,ia->ip", Xt, v))
        d, B = np.concatenate(d), np.concatenate(B)  # (n,), (n, p)
        # M = diag(d) − K, K = B C Bᵀ (n_subjects²) is never formed: tr M = Σd − tr(C BᵀB) and
        # ‖M‖²_F = Σd² − 2 Σ d_i K_ii + tr((C BᵀB)²)
        CB = self.C @ (B.T @ B)
        diagK = np.einsum("ip,pq,iq->i", B, self.C, B, optimize=True)
        tr = d.sum() - np.trace(CB)
        ss = (d * d).sum() - 2 * (d * diagK).sum() + np.trace(CB @ CB)
        return tr ** 2 / ss

    def _kr(self, L: np.ndarray) -> tuple[float, float]:
        """Kenward–Roger's (m, λ) for the rows of L (mmrm ``h_kr_df``), with the unadjusted C."""
        C, W, P = self.C, self.theta_vcov, self.P
        nl = L.shape[0]
        Theta = L.T @ np.linalg.solve(L @ C @ L.T, L)
        MV = Theta @ C
        A = MV @ P @ C  # (k, p, p): Θ C P_k C
        tr = np.trace(A, axis1=1, axis2=2)
        a1 = tr @ W @ tr
        a2 = np.einsum("kl,kab,lba->", W, A, A, optimize=True)
        b = (a1 + 6 * a2) / (2 * nl)
        e_star = 1.0 / (1.0 - a2 / nl)
        g = ((nl + 1) * a1 - (nl + 4) * a2) / ((nl + 2) * a2)
        denom = 3 * nl + 2 - 2 * g
        c1, c2, c3 = g / denom, (nl - g) / denom, (nl + 2 - g) / denom
        v_star = 2.0 / nl * (1 + c1 * b) / (1 - c2 * b) ** 2 / (1 - c3 * b)
        rho = v_star / (2 * e_star ** 2)
        m = 4 + (nl + 2) / (nl * rho - 1)
        return m, m / (e_star * (m - 2))

    def _df_fixed(self, involved: np.ndarray) -> float:
        if self.method == "residual":
            return float(self.nobs - len(self.beta))
        n_between = int((self.between == "between").sum())
        n_within = int((self.between == "within").sum())
        n_int = int((self.between == "intercept").sum())
        ddf = {"between": self.n_subjects - n_between - n_int, "within": self.nobs - self.n_subjects - n_within}
        ddf["intercept"] = ddf["within"]
        return float(min(ddf[c] for c in self.between[involved]))

    def df(self, l: np.ndarray) -> float:
        """Denominator df of the t test of lᵀβ."""
        l = np.asarray(l, dtype=float)
        if self.method == "satterthwaite":
            return float(self._df_satterthwaite(l))
        if self.method == "kenward-roger":
            return float(self._kr(l[None])[0])
        return self._df_fixed(l != 0)

    def t_test(self, l: np.ndarray) -> dict:
        """Estimate, Std. Error, df, t value and two-sided p of lᵀβ (mmrm ``h_test_1d``)."""
        l = np.asarray(l, dtype=float)
        est = float(l @ self.beta)
        se = float(np.sqrt(l @ self.vcov @ l))
        df = self.df(l)
        t = est / se
        return {"Estimate": est, "Std. Error": se, "df": df, "t value": t,
                "Pr(>|t|)": float(2 * stats.t.sf(abs(t), df))}

    # -- several rows ----------------------------------------------------------------------------
    def f_test(self, L: np.ndarray) -> dict:
        """F test of Lβ = 0 (mmrm ``df_md``): NumDF, DenDF, F value, Pr(>F)."""
        L = np.atleast_2d(np.asarray(L, dtype=float))
        if L.shape[0] == 1:
            return self._from_1d(L[0])
        if self.method == "satterthwaite":
            return self._f_satterthwaite(L)
        if self.method == "kenward-roger":
            m, lam = self._kr(L)
            return self._wald(L, m, lam)
        return self._wald(L, self._df_fixed(np.any(L != 0, axis=0)), 1.0)

    def _from_1d(self, l):
        res = self.t_test(l)
        F = res["t value"] ** 2
        return {"NumDF": 1, "DenDF": res["df"], "F value": F, "Pr(>F)": float(stats.f.sf(F, 1, res["df"]))}

    def _wald(self, L, df, scale):
        b = L @ self.beta
        chisq = float(b @ np.linalg.solve(L @ self.vcov @ L.T, b))
        nd = L.shape[0]
        F = scale / nd * chisq
        return {"NumDF": nd, "DenDF": float(df), "F value": F, "Pr(>F)": float(stats.f.sf(F, nd, df))}

    def _f_satterthwaite(self, L):
        vals, vecs = np.linalg.eigh(L @ self.vcov @ L.T)
        vals, vecs = vals[::-1], vecs[:, ::-1]
        tol = max(np.sqrt(np.finfo(float).eps) * vals[0], 0.0)
        rank = int((vals > tol).sum())
        rows = vecs.T @ L
        if rank == 1:
            return self._from_1d(rows[0])
        rows = rows[:rank]
        t2 = (rows @ self.beta) ** 2 / vals[:rank]
        F = t2.sum() / rank
        if self.empirical is None:
            nu = np.array([2 * vals[i] ** 2 / self._theta_quad(rows[i]) for i in range(rank)])
        else:
            nu = np.array([self._df_empirical(rows[i]) for i in range(rank)])
        if rank == 1 or np.all(np.abs(np.diff(nu)) < np.sqrt(np.finfo(float).eps)):
            df = float(nu.mean())
        elif np.any(nu <= 2):
            df = 2.0
        else:
            e = (nu / (nu - 2)).sum()
            df = 2 * e / (e - rank)
        return {"NumDF": rank, "DenDF": df, "F value": float(F), "Pr(>F)": float(stats.f.sf(F, rank, df))}

    def _theta_quad(self, l):
        g = np.einsum("a,kab,b->k", l, self.jac, l)
        return g @ self.theta_vcov @ g
