"""Penalised iteratively reweighted least squares for the conditional modes (lme4's ``pwrssUpdate``).

At given θ each PIRLS step solves the weighted penalised least-squares problem

    min_{u[, β]}  ‖W^{1/2}(z̃ − ZΛu [− Xβ])‖² + ‖u‖²

for the IRLS working weights W and working response z̃ (``family.irls``, :mod:`.families`). That
is the linear mixed model's penalised least-squares problem with prior weights W and response z̃,
so a step is the LMM's machinery, unchanged (MixedModels.jl's ``reweight!`` + ``updateL!``):

    A(W)  = [Z X z̃]ᵀ W [Z X z̃]           one weighted compiled pass over the rows (:mod:`mixedmodels.blocks`)
    L_θ   = blocked Cholesky of A(W) at θ  (:mod:`mixedmodels.cholesky`, :mod:`mixedmodels.objective`)
    [u β] = back-substitution               (``DevianceProblem.modes``)

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

The work per step is three compiled passes over the rows: η = offset + Xβ + Zb, the family's rows
(μ, dᵢ, W, z̃ − offset) and A(W). Their arrays are kept between steps and runs (fresh ones made
glibc fault memory in at every step), and from :data:`HALVES_FROM` rows on each pass runs on the two
halves of the rows, the second on a worker thread when a core is free; the halves' sums are added in
one order, so that the numbers do not depend on the threads.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._kernels import linear_predictor_kernel
from .._threads import free_cores, worker_thread
from ..blocks import CrossProductsAccumulator, TermData, rest_entries, stacked_codes, stacked_columns
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
    (``factor.logdet_L`` = log|L_θ|²). The arrays η, μ and dᵢ of a run made with ``keep=False``
    are the system's working arrays, which its next run overwrites.
    """

    x: np.ndarray  # [u (q,), β (p,)] (β only when X is among the unknowns)
    eta: np.ndarray
    mu: np.ndarray
    dev_resid: np.ndarray
    dev_sum: float  # Σ dᵢ
    ussq: float
    problem: DevianceProblem
    factor: BlockedFactor
    iterations: int


HALVES_FROM = 20_000
"""From this many rows on PIRLS works on its rows in two halves (:class:`_RowBlock`), the second on a
worker thread when a second core is free (:func:`mixedmodels._threads.free_cores`, asked once per
run). The halves' sums of A(W) are added in the same order either way, so the criterion does not
depend on the threads; the row passes (η, the family's rows, A(W)) are compiled loops that release
the GIL. The 10⁵-row binomial fit of benchmarks/bench_glmm.py: 0.86–1.07 s on one thread, 0.74 s
on two."""


class _RowBlock:
    """Rows lo:hi of the design (``rows``, a slice) as the kernels read them: views of the row-major
    ``codes0``, ``z0``, ``rest_codes``, ``rest_z`` (contiguous), and ``X`` column-major (a copy of
    its rows unless the block is all rows)."""

    def __init__(self, lo: int, hi: int, codes0, z0, rest_codes, rest_z, X):
        self.rows = slice(lo, hi)
        self.codes0, self.z0, self.rest_codes, self.rest_z = (a[lo:hi] for a in (codes0, z0, rest_codes, rest_z))
        self.X = X if lo == 0 and hi == len(codes0) else np.asfortranarray(X[lo:hi])


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
    buffers : list, optional
        The pool of working arrays for :meth:`run` (another system's of the same rows, which never
        runs at the same time: stage 1's and stage 2's systems share theirs).
    """

    def __init__(self, codes, z, n_levels, X: np.ndarray | None, structures=None, buffers: list | None = None):
        self.terms = [TermData(np.ascontiguousarray(c, dtype=np.int64), np.ascontiguousarray(zk, dtype=float), int(l))
                      for c, zk, l in zip(codes, z, n_levels)]
        self.n_levels = [t.n_levels for t in self.terms]
        self.sizes = [t.z.shape[1] for t in self.terms]
        self.n = len(self.terms[0].codes)
        # column-major, as A's pass reads it
        self.X = np.zeros((self.n, 0), order="F") if X is None else np.asfortranarray(X, dtype=float)
        self.p = self.X.shape[1]
        self.q = sum(l * s for l, s in zip(self.n_levels, self.sizes))
        self.structures = structures
        codes0, rest_codes = stacked_codes(self.terms)
        z0, rest_z = (np.ascontiguousarray(a, dtype=float) for a in stacked_columns(self.terms))
        bounds = [0, self.n] if self.n < HALVES_FROM else [0, self.n // 2, self.n]
        self.blocks = [_RowBlock(lo, hi, codes0, z0, rest_codes, rest_z, self.X) for lo, hi in zip(bounds, bounds[1:])]
        self.entries = rest_entries(self.n_levels, self.sizes)
        self._eta_kernel = linear_predictor_kernel(self.p, self.sizes[0], rest_z.shape[1])
        self._problem: DevianceProblem | None = None  # the first one: its factorisation strategy is kept
        self.buffers: list[list[tuple[np.ndarray, ...]]] = [] if buffers is None else buffers  # free pairs for run
        self._accumulators: list[CrossProductsAccumulator] | None = None  # A's layout per block, for renewed sums
        self._two_threads = False

    @property
    def m(self) -> int:
        """Order of the dense part of the factor (rest terms and X): the size BLAS threads are chosen by."""
        return self.q - self.n_levels[0] * self.sizes[0] + self.p

    def _in_blocks(self, work) -> None:
        """``work(k)`` for every block of rows k: the second on the worker thread when the run
        found a second core free, else one after the other (the same sums either way)."""
        if len(self.blocks) == 1 or not self._two_threads:
            for k in range(len(self.blocks)):
                work(k)
            return
        second = worker_thread("pirls").submit(work, 1)
        try:
            work(0)
        finally:
            second.result()

    def problem(self, w: np.ndarray, working: np.ndarray) -> DevianceProblem:
        """The penalised least-squares problem with weights W and response z̃: A(W) is formed in
        one weighted pass over each block of rows, the blocks' sums then added in order (a Newton
        step's weights, the observed information, may be negative in some rows away from the mode)."""
        if self._accumulators is None:
            self._accumulators = [CrossProductsAccumulator(self.n_levels, self.sizes, self.p + 1, self.n,
                                                           concurrent=False) for _ in self.blocks]
        sums = [accumulator.renewed() for accumulator in self._accumulators]

        def add(k):
            block = self.blocks[k]
            sums[k].add_stacked(block.codes0, block.z0, block.rest_codes, block.rest_z, block.X,
                                working[block.rows], w[block.rows])

        self._in_blocks(add)
        for other in sums[1:]:
            sums[0].absorb(other)
        cross = sums[0].result()
        if self._problem is None:
            self._problem = DevianceProblem(cross, self.sizes, self.n_levels, self.p, reml=False,
                                            structures=self.structures)
            return self._problem
        return self._problem.with_cross(cross)

    def spherical_effects(self, x: np.ndarray) -> list[np.ndarray]:
        """u per term, (ℓ_k, p_k) each, from unknowns x = [u (term by term, level-major)[, β]]."""
        u, start = [], 0
        for term, size in zip(self.terms, self.sizes):
            u.append(x[start:start + term.n_levels * size].reshape(term.n_levels, size))
            start += term.n_levels * size
        return u

    def _effects(self, x: np.ndarray, templates: list[np.ndarray]):
        """(β, b of term 0, the other terms' b side by side) as the linear predictor's kernel reads them."""
        b = relative_effects(self.spherical_effects(x), templates)
        b_rest = np.concatenate([bk.ravel() for bk in b[1:]]) if len(b) > 1 else np.zeros(0)
        return np.ascontiguousarray(x[self.q:]), np.ascontiguousarray(b[0]), b_rest

    def _block_eta(self, k: int, effects, offset: np.ndarray, eta: np.ndarray) -> None:
        block = self.blocks[k]
        beta, b0, b_rest = effects
        self._eta_kernel(offset[block.rows], block.X, beta, block.codes0, block.z0, b0, block.rest_codes,
                         block.rest_z, *self.entries, b_rest, eta[block.rows])

    def linear_predictor(self, x: np.ndarray, templates: list[np.ndarray], offset: np.ndarray) -> np.ndarray:
        """offset + ZΛu (+ Xβ) for unknowns x, by compiled passes over the rows
        (:func:`mixedmodels._kernels.linear_predictor_kernel`); ``offset`` contiguous, (n,)."""
        effects, eta = self._effects(x, templates), np.empty(self.n)
        for k in range(len(self.blocks)):
            self._block_eta(k, effects, offset, eta)
        return eta

    # ------------------------------------------------------------------ the iteration
    def run(self, family: Family, y: np.ndarray, weights: np.ndarray, offset: np.ndarray,
            theta: np.ndarray, templates: list[np.ndarray], x0: np.ndarray | None = None,
            eta0: np.ndarray | None = None, tol: float = 1e-10, max_iter: int = 100,
            saturated_part: np.ndarray | float | None = None, keep: bool = True) -> PirlsResult | None:
        """PIRLS to convergence from unknowns ``x0`` (or, when ``x0`` is None or gives an invalid μ, with
        a first step from the linear predictor ``eta0``).

        ``offset`` is everything in η that is not an unknown (offset, plus Xβ in stage 2).
        ``saturated_part`` is ``family.saturated_deviance_part(y, weights)`` when the caller keeps it.
        ``keep=False``: the result's η, μ and dᵢ are the system's working arrays, valid until its next
        run (a criterion evaluation needs only Σ dᵢ and the factor at once; copies of three n-sized
        arrays per run cost 0.4 s of a 10⁶-row Poisson fit). Returns None when the system cannot be
        factored.
        """
        if saturated_part is None:
            saturated_part = family.saturated_deviance_part(y, weights)
        n = self.n
        offset = np.ascontiguousarray(np.broadcast_to(np.asarray(offset, dtype=float), (n,)))
        try:  # the current and the trial state are written into arrays kept between runs
            buffers = self.buffers.pop()
        except IndexError:
            buffers = [tuple(np.empty(n) for _ in range(5)) for _ in range(2)]
        self._two_threads = len(self.blocks) > 1 and free_cores() >= 2
        try:
            return self._iterate(family, y, weights, offset, theta, templates, x0, eta0, tol, max_iter,
                                 saturated_part, buffers, keep)
        finally:
            self.buffers.append(buffers)

    def _iterate(self, family, y, weights, offset, theta, templates, x0, eta0, tol, max_iter, saturated_part,
                 buffers, keep) -> PirlsResult | None:
        """:meth:`run`'s iteration. ``buffers`` are two sets of arrays (η, μ, dᵢ, W, z̃ − offset): the
        current state lives in one and each trial is written into the other, which becomes current
        when the trial is taken. New n-sized arrays at every step (five per state) made glibc hand
        memory back to the system and fault it in again: 3.5 × 10⁵ page faults and 0.5 s of system
        time in a 10⁵-row binomial fit, a third of its time. A result that is kept gets copies."""
        current, spare = buffers

        per_row = np.ndim(saturated_part) > 0

        def state(x, into):  # (η, μ, dᵢ, W, z̃ − offset), the penalised deviance Σ dᵢ + ‖u‖² and Σ dᵢ
            effects = self._effects(x, templates)

            def rows(k):
                r = self.blocks[k].rows
                self._block_eta(k, effects, offset, into[0])
                family.working_state(y[r], into[0][r], offset[r], weights[r],
                                     saturated_part[r] if per_row else saturated_part, out=[a[r] for a in into[1:]])

            self._in_blocks(rows)
            dev_sum = float(into[2].sum())
            return into, dev_sum + float(x[:self.q] @ x[:self.q]), dev_sum

        if x0 is not None:
            x = x0
            at, pdev, dev_sum = state(x, current)
        if x0 is None or not np.isfinite(pdev):  # no (valid) warm start: the first step from η₀
            x = None
            at = (eta0, *family.working_state(y, eta0, offset, weights, saturated_part, out=current[1:]))
            # (one pass over all rows: once per run without a warm start)
            pdev = np.inf
        for iteration in range(1, max_iter + 1):
            eta, mu, _, w, working = at
            problem = self.problem(w, working)
            try:
                factor, u, beta = problem.modes(theta)
            except np.linalg.LinAlgError:
                if not family.newton_iteration:
                    return None
                # the observed information is not positive definite here: a Fisher scoring step
                w, resid = family.irls(y, eta, mu, weights)
                problem = self.problem(w, eta - offset + resid)
                try:
                    factor, u, beta = problem.modes(theta)
                except np.linalg.LinAlgError:
                    return None
            x_new = np.concatenate([uk.ravel() for uk in u] + [beta])  # [u (term by term, level-major), β]
            if x is None:
                x = x_new
                at, pdev, dev_sum = state(x, current)
                if not np.isfinite(pdev):
                    return None
                continue
            step = x_new - x
            if np.max(np.abs(step), initial=0.0) < tol:  # x is the mode: its state and this factor stand
                break
            for _ in range(12):  # step halving while the penalised deviance rises (or leaves the valid μ)
                trial = state(x + step, spare)
                if trial[1] <= pdev + 1e-10 * (1 + abs(pdev)):
                    break
                step *= 0.5
            if not np.isfinite(trial[1]):  # no valid step left: x is as far as PIRLS gets
                break
            x = x + step
            at, pdev, dev_sum = trial
            current, spare = spare, current
        eta, mu, dev = (a.copy() for a in at[:3]) if keep else at[:3]
        if family.newton_iteration:  # the Laplace matrix at the mode with the family's Laplace weights
            spare[4].fill(0.0)  # z̃ = 0 (only the factor is wanted); the spare set is free here
            problem = self.problem(family.laplace_weights(y, eta, mu, weights), spare[4])
            factor = problem.factor(theta)
            if factor is None:
                return None
        return PirlsResult(x=x, eta=eta, mu=mu, dev_resid=dev, dev_sum=dev_sum, ussq=float(x[:self.q] @ x[:self.q]),
                           problem=problem, factor=factor, iterations=iteration)
