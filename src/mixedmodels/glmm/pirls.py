"""Penalised iteratively reweighted least squares for the conditional modes (lme4's ``pwrssUpdate``).

At given θ each PIRLS step solves the weighted penalised least-squares problem

    min_{u[, β]}  ‖W^{1/2}(z̃ − ZΛu [− Xβ])‖² + ‖u‖²

for the IRLS working weights W and working response z̃ (``family.irls``, :mod:`.families`). That
is the linear mixed model's penalised least-squares problem with prior weights W and response z̃,
so a step is the LMM's machinery, unchanged (MixedModels.jl's ``reweight!`` + ``updateL!``):

    A(W)  = [Z X z̃]ᵀ W [Z X z̃]           one weighted compiled pass over the rows (:mod:`mixedmodels.blocks`)
    L_θ   = blocked Cholesky of A(W) at θ  (:mod:`mixedmodels.cholesky`, :mod:`mixedmodels.objective`)
    [u β] = back-substitution               (``DevianceProblem.modes``)

Large data (:data:`PARTED_ROWS`) are handled in two fixed halves of the rows — η, the family's
working state and A(W) = A₁(W) + A₂(W) — the second on a thread of its own when a core is free.

log|L_θ|² of the Laplace criterion is the factor's ``logdet_L``; Var(β̂) of nAGQ = 0 its
(R_XᵀR_X)⁻¹; the conditional covariances of the random effects the LMM's. Nothing of size n × q
is formed.

The iteration (lme4): from the current η compute W and z̃ (Fisher scoring, or Newton steps for a
family with ``newton_iteration`` — a Fisher scoring step wherever its observed information leaves
the system indefinite — whose Laplace matrix is then factored once more at the mode with the
family's Laplace weights), solve for x = [u, β], and halve the step while the penalised
deviance Σ dᵢ + ‖u‖² does not decrease; stop when the next step would be below ``tol`` (x, its
rows and the factor at its weights are then the result: all at the same point). Stage 2 of the fit
solves for u only (β fixed, Xβ in the offset): a system without X.
"""

from __future__ import annotations

import functools
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from .._kernels import add_term_effects
from ..blocks import CrossProductsAccumulator, TermData, stacked_codes, stacked_columns
from .._threads import free_cores
from ..cholesky import BlockedFactor
from ..covariance import relative_effects
from ..objective import DevianceProblem
from .families import Family

__all__ = ["PirlsSystem", "PirlsResult"]


@dataclass
class PirlsResult:
    """Converged PIRLS state: unknowns, linear predictor, mean, penalised deviance pieces.

    ``problem`` is the penalised least-squares problem at the weights of the last step (Newton
    families: the Laplace weights at the mode) and ``factor`` its blocked factor at θ
    (``factor.logdet_L`` = log|L_θ|²).
    """

    x: np.ndarray  # [u (q,), β (p,)] (β only when X is among the unknowns)
    eta: np.ndarray
    mu: np.ndarray
    dev_resid: np.ndarray
    ussq: float
    problem: DevianceProblem
    factor: BlockedFactor
    iterations: int


PARTED_ROWS = 20_000
"""From this many rows on, the rows are handled in two fixed halves, on two threads when a second
core is free (:func:`mixedmodels._threads.free_cores`). The halves are the same whatever the
threads, so the sums — and the fit — do not depend on the machine's load."""


@functools.lru_cache(maxsize=1)
def _rows_thread() -> ThreadPoolExecutor:
    """The thread that handles the second half of the rows (the caller does the first)."""
    return ThreadPoolExecutor(max_workers=1, thread_name_prefix="mixedmodels-pirls")


@dataclass(frozen=True, eq=False)  # parts compare by identity
class _Part:
    """A contiguous run of rows and its copies of the design, laid out as the compiled passes read them."""

    rows: slice
    codes: list[np.ndarray]  # per term
    z: list[np.ndarray]
    codes0: np.ndarray
    rest_codes: np.ndarray
    z0: np.ndarray
    rest_z: np.ndarray
    X: np.ndarray  # column-major


class PirlsSystem:
    """The fixed structure of the PIRLS system for one design.

    Parameters
    ----------
    codes, z : list of ndarray
        Per random-effects term (lme4 order): level codes (n,) and model columns (n, p_k).
    n_levels : list of int
    X : ndarray (n, p) or None
        Fixed-effects matrix when β is among the unknowns (stage 1), else None.
    structures : sequence, optional
        Each term's covariance structure (:mod:`mixedmodels.covariance`).

    Notes
    -----
    Everything a step does to the rows — η, the family's working state, A(W) — is done part by
    part (:data:`PARTED_ROWS`): A(W) = A₁(W) + A₂(W) and Σᵢ dᵢ = Σ₁ + Σ₂ in that order.
    """

    def __init__(self, codes, z, n_levels, X: np.ndarray | None, structures=None):
        self.terms = [TermData(np.ascontiguousarray(c, dtype=np.int64), np.asarray(zk, float), int(l))
                      for c, zk, l in zip(codes, z, n_levels)]
        self.n_levels = [t.n_levels for t in self.terms]
        self.sizes = [t.z.shape[1] for t in self.terms]
        self.n = len(self.terms[0].codes)
        X = np.zeros((self.n, 0)) if X is None else np.asarray(X, dtype=float)
        self.p = X.shape[1]
        self.q = sum(l * s for l, s in zip(self.n_levels, self.sizes))
        self.structures = structures
        self._problem: DevianceProblem | None = None  # the first one: its factorisation strategy is kept
        self._accumulator: CrossProductsAccumulator | None = None  # the layout of A, for renewed sums
        half = self.n // 2
        bounds = [slice(0, self.n)] if self.n < PARTED_ROWS else [slice(0, half), slice(half, self.n)]
        self.parts = [self._part(rows, X) for rows in bounds]
        self._threads = False  # whether the second part runs on its own thread (decided per PIRLS run)

    def _part(self, rows: slice, X: np.ndarray) -> _Part:
        terms = [TermData(t.codes[rows], t.z[rows], t.n_levels) for t in self.terms]
        codes0, rest_codes = stacked_codes(terms)
        z0, rest_z = (np.ascontiguousarray(a, dtype=float) for a in stacked_columns(terms))
        return _Part(rows, [np.ascontiguousarray(t.codes) for t in terms], [np.ascontiguousarray(t.z) for t in terms],
                     codes0, rest_codes, z0, rest_z, np.asfortranarray(X[rows]))

    @property
    def m(self) -> int:
        """Order of the dense part of the factor (rest terms and X): the size BLAS threads are chosen by."""
        return self.q - self.n_levels[0] * self.sizes[0] + self.p

    def _each_part(self, work) -> list:
        """[work(part) for each part], the second on the rows thread when :attr:`_threads`."""
        if len(self.parts) == 1 or not self._threads:
            return [work(part) for part in self.parts]
        second = _rows_thread().submit(work, self.parts[1])
        return [work(self.parts[0]), second.result()]

    def problem(self, w: np.ndarray, working: np.ndarray) -> DevianceProblem:
        """The penalised least-squares problem with weights W and response z̃: A(W) is formed in
        one weighted pass over the rows (a Newton step's weights, the observed information, may
        be negative in some rows away from the mode)."""
        return self._problem_of(lambda part: (w[part.rows], working[part.rows]))

    def _problem_of(self, rows_state) -> DevianceProblem:
        """:meth:`problem` with ``rows_state(part)`` giving each part's (W, z̃), on the part's thread."""
        if self._accumulator is None:
            self._accumulator = CrossProductsAccumulator(self.n_levels, self.sizes, self.p + 1, self.n,
                                                         concurrent=False)

        def add(part: _Part):
            w, working = rows_state(part)
            return self._accumulator.renewed().add_stacked(part.codes0, part.z0, part.rest_codes, part.rest_z, part.X,
                                                           working, w).result()

        sums = self._each_part(add)
        cross = sums[0] if len(sums) == 1 else sums[0] + sums[1]
        if self._problem is None:
            self._problem = DevianceProblem(cross, self.sizes, self.n_levels, self.p, reml=False,
                                            structures=self.structures)
            return self._problem
        return self._problem.with_cross(cross)

    def effects(self, x: np.ndarray, templates: list[np.ndarray]) -> list[np.ndarray]:
        """b = Λu per term, (ℓ_k, p_k) each, for unknowns x."""
        u, start = [], 0
        for term, size in zip(self.terms, self.sizes):
            u.append(x[start:start + term.n_levels * size].reshape(term.n_levels, size))
            start += term.n_levels * size
        return relative_effects(u, templates)

    def linear_predictor(self, part: _Part, x: np.ndarray, b: list[np.ndarray], offset: np.ndarray) -> np.ndarray:
        """offset + ZΛu (+ Xβ) over a part's rows, for unknowns x with relative effects b."""
        eta = part.X @ x[self.q:] + offset if self.p else np.array(offset)
        for codes, z, bk in zip(part.codes, part.z, b):
            add_term_effects(eta, codes, z, bk)
        return eta

    # ------------------------------------------------------------------ the iteration
    def run(self, family: Family, y: np.ndarray, weights: np.ndarray, offset: np.ndarray,
            theta: np.ndarray, templates: list[np.ndarray], x0: np.ndarray | None = None,
            eta0: np.ndarray | None = None, tol: float = 1e-10, max_iter: int = 100,
            saturated_part: np.ndarray | float | None = None) -> PirlsResult | None:
        """PIRLS to convergence from unknowns ``x0`` (or, when ``x0`` is None or gives an invalid μ, with
        a first step from the linear predictor ``eta0``).

        ``offset`` is everything in η that is not an unknown (offset, plus Xβ in stage 2).
        ``saturated_part`` is ``family.saturated_deviance_part(y, weights)`` when the caller keeps it.
        Returns None when the system cannot be factored.
        """
        if saturated_part is None:
            saturated_part = family.saturated_deviance_part(y, weights)
        n, parts = self.n, self.parts
        offset = np.broadcast_to(offset, (n,))
        saturated_part = np.broadcast_to(saturated_part, (n,))
        self._threads = len(parts) > 1 and free_cores() >= 2

        # a state: per part (η, μ, dᵢ, W, z̃ − η), and the penalised deviance Σ dᵢ + ‖u‖²
        def state(x):
            b = self.effects(x, templates)

            def rows(part: _Part):
                r = part.rows
                eta = self.linear_predictor(part, x, b, offset[r])
                return (eta, *family.working_state(y[r], eta, weights[r], saturated_part[r]))

            at = self._each_part(rows)
            return at, sum(float(a[2].sum()) for a in at) + float(x[:self.q] @ x[:self.q])

        def working(at, weights_of=None):  # (W, z̃) of each part, for A(W)
            def of(part: _Part):
                eta, mu, _, w, resid = at[parts.index(part)]
                if weights_of is not None:
                    w, resid = weights_of(y[part.rows], eta, mu, weights[part.rows])
                return w, eta - offset[part.rows] + resid
            return of

        if x0 is not None:
            x = x0
            at, pdev = state(x)
        if x0 is None or not np.isfinite(pdev):  # no (valid) warm start: the first step from η₀
            x = None
            at = [(eta0[p.rows], *family.working_state(y[p.rows], eta0[p.rows], weights[p.rows],
                                                       saturated_part[p.rows])) for p in parts]
            pdev = np.inf
        for iteration in range(1, max_iter + 1):
            problem = self._problem_of(working(at))
            try:
                factor, u, beta = problem.modes(theta)
            except np.linalg.LinAlgError:
                if not family.newton_iteration:
                    return None
                # the observed information is not positive definite here: a Fisher scoring step
                problem = self._problem_of(working(at, family.irls))
                try:
                    factor, u, beta = problem.modes(theta)
                except np.linalg.LinAlgError:
                    return None
            x_new = np.concatenate([uk.ravel() for uk in u] + [beta])  # [u (term by term, level-major), β]
            if x is None:
                x = x_new
                at, pdev = state(x)
                if not np.isfinite(pdev):
                    return None
                continue
            step = x_new - x
            if np.max(np.abs(step), initial=0.0) < tol:  # x is the mode: its state and this factor stand
                break
            for _ in range(12):  # step halving while the penalised deviance rises (or leaves the valid μ)
                trial = state(x + step)
                if trial[1] <= pdev + 1e-10 * (1 + abs(pdev)):
                    break
                step *= 0.5
            if not np.isfinite(trial[1]):  # no valid step left: x is as far as PIRLS gets
                break
            x = x + step
            at, pdev = trial
        eta, mu, dev = (at[0][k] if len(at) == 1 else np.concatenate([a[k] for a in at]) for k in range(3))
        if family.newton_iteration:  # the Laplace matrix at the mode with the family's Laplace weights
            problem = self.problem(family.laplace_weights(y, eta, mu, weights), np.zeros(n))
            factor = problem.factor(theta)
            if factor is None:
                return None
        return PirlsResult(x=x, eta=eta, mu=mu, dev_resid=dev, ussq=float(x[:self.q] @ x[:self.q]),
                           problem=problem, factor=factor, iterations=iteration)
