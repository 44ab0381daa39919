"""Compiled (numba) kernels for the per-level work of one deviance evaluation.

For the term with the most levels, every evaluation computes, for each of its ℓ_0 levels j,
a p_0 × p_0 Cholesky factorisation and two small products. In numpy that is two dozen array
operations whose per-call overhead dominates small models (sleepstudy: 30 µs of a 47 µs
evaluation); one compiled loop does the same work in about a microsecond.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from ._jit import njit

__all__ = ["csc_times_rows", "csc_transpose_times", "dense_factor_kernel", "first_term_kernel",
           "level_quadratic_forms", "linear_predictor_kernel", "level_rows_times_v", "mirror_lower", "row_accumulator", "scaled_schur_rest_block",
           "solve_levels", "subtract_crossed_lower"]


@njit(cache=True, nogil=True)
def _first_term_levels(D0, Bw, T0, P, V, F, p0):  # pragma: no cover - compiled
    """Fill P, V and F for every level of term 0; return Σ_j log|P_j| (NaN if not pos. def.).

    P_j = T_0ᵀ D0_j T_0 + I;  L_j = chol(P_j);  V_j = T_0 L_j⁻ᵀ (so 𝒲_j = V_j V_jᵀ);
    F[w, j, :] = Bw[w, j, :] V_j.

    Shapes: D0, P, V (ℓ_0, p_0, p_0); Bw, F (n_w, ℓ_0, p_0); T0 (p_0, p_0), lower triangular.
    Called through :func:`first_term_kernel` and :func:`dense_factor_kernel`, which make p_0 a
    compile-time constant.
    """
    l0 = D0.shape[0]
    n_w = Bw.shape[0]
    DT = np.empty((p0, p0))
    L = np.empty((p0, p0))
    Linv = np.empty((p0, p0))
    logdet = 0.0
    for j in range(l0):
        # DT = D0_j T0, P_j = T0ᵀ DT + I
        for a in range(p0):
            for b in range(p0):
                s = 0.0
                for c in range(b, p0):  # T0 is lower triangular: T0[c, b] = 0 for c < b
                    s += D0[j, a, c] * T0[c, b]
                DT[a, b] = s
        for a in range(p0):
            for b in range(p0):
                s = 1.0 if a == b else 0.0
                for c in range(a, p0):
                    s += T0[c, a] * DT[c, b]
                P[j, a, b] = s
        # Cholesky P_j = L Lᵀ
        for a in range(p0):
            for b in range(a + 1):
                s = P[j, a, b]
                for c in range(b):
                    s -= L[a, c] * L[b, c]
                if a == b:
                    if s <= 0.0:
                        return math.nan
                    L[a, a] = math.sqrt(s)
                    logdet += 2.0 * math.log(L[a, a])
                else:
                    L[a, b] = s / L[b, b]
            for b in range(a + 1, p0):
                L[a, b] = 0.0
        # Linv = L⁻¹ (lower triangular)
        for a in range(p0):
            for b in range(p0):
                Linv[a, b] = 0.0
            Linv[a, a] = 1.0 / L[a, a]
            for b in range(a):
                s = 0.0
                for c in range(b, a):
                    s -= L[a, c] * Linv[c, b]
                Linv[a, b] = s / L[a, a]
        # V_j = T0 Linvᵀ
        for a in range(p0):
            for b in range(p0):
                s = 0.0
                for c in range(min(a, b) + 1):  # both T0 and Linv are lower triangular
                    s += T0[a, c] * Linv[b, c]
                V[j, a, b] = s
        for w in range(n_w):
            for b in range(p0):
                s = 0.0
                for a in range(p0):
                    s += Bw[w, j, a] * V[j, a, b]
                F[w, j, b] = s
    return logdet


@njit(cache=True, nogil=True)
def subtract_crossed_lower(S, indptr, indices, data, p0, W):  # pragma: no cover - compiled
    """Lower triangle of S[:q_r, :q_r] −= Bz 𝒲 Bzᵀ, straight from Bz in CSC form.

    Level j of term 0 owns the p_0 columns j·p_0 … j·p_0 + p_0 − 1 of Bz; every pair of their
    non-zeros (r1, a), (r2, b) with r1 ≥ r2 adds Bz[r1, (j,a)] 𝒲_j[a, b] Bz[r2, (j,b)]. The cost is
    Σ_j (non-zeros of level j)², independent of n.
    """
    n_levels = W.shape[0]
    if p0 == 1:  # one column per level, rows sorted: r2 ≤ r1 exactly when e2 ≤ e1
        for j in range(n_levels):
            w = W[j, 0, 0]
            for e1 in range(indptr[j], indptr[j + 1]):
                r1 = indices[e1]
                v1 = w * data[e1]
                for e2 in range(indptr[j], e1 + 1):
                    S[r1, indices[e2]] -= v1 * data[e2]
        return
    for j in range(n_levels):
        for a in range(p0):
            for e1 in range(indptr[j * p0 + a], indptr[j * p0 + a + 1]):
                r1 = indices[e1]
                v1 = data[e1]
                for b in range(p0):
                    wab = v1 * W[j, a, b]
                    for e2 in range(indptr[j * p0 + b], indptr[j * p0 + b + 1]):
                        r2 = indices[e2]
                        if r2 <= r1:
                            S[r1, r2] -= wab * data[e2]


@njit(cache=True, nogil=True)
def scaled_schur_rest_block(S, C, q_r, indptr, indices, data, p0, W, scale):  # pragma: no cover - compiled
    """Lower triangle of S[:q_r, :q_r] = diag(s) (C − Bz 𝒲 Bzᵀ) diag(s) + I, for scalar rest terms.

    ``scale`` holds the diagonal of Λ_r. The upper triangle is left untouched.
    """
    for i in range(q_r):
        for j in range(i + 1):
            S[i, j] = C[i, j]
    subtract_crossed_lower(S, indptr, indices, data, p0, W)
    for i in range(q_r):
        si = scale[i]
        for j in range(i + 1):
            S[i, j] *= si * scale[j]
        S[i, i] += 1.0


@njit(cache=True, nogil=True)
def solve_levels(P, rhs, out):  # pragma: no cover - compiled
    """out[j] = P_j⁻¹ rhs[j] for symmetric positive definite P_j (ℓ, p, p), by P_j's Cholesky factor."""
    p = P.shape[1]
    L = np.empty((p, p))
    for j in range(P.shape[0]):
        for a in range(p):
            for b in range(a + 1):
                s = P[j, a, b]
                for c in range(b):
                    s -= L[a, c] * L[b, c]
                L[a, b] = math.sqrt(s) if a == b else s / L[b, b]
        for a in range(p):  # L x = rhs
            s = rhs[j, a]
            for c in range(a):
                s -= L[a, c] * out[j, c]
            out[j, a] = s / L[a, a]
        for a in range(p - 1, -1, -1):  # Lᵀ u = x
            s = out[j, a]
            for c in range(a + 1, p):
                s -= L[c, a] * out[j, c]
            out[j, a] = s / L[a, a]


@njit(cache=True, nogil=True)
def csc_times_rows(indptr, indices, data, G, out):  # pragma: no cover - compiled
    """out (q_r, n_w) = B Gᵀ for B (q_r × q_0) in CSC form and G (n_w, q_0): out is overwritten."""
    out[:, :] = 0.0
    n_w = G.shape[0]
    for c in range(indptr.shape[0] - 1):
        for e in range(indptr[c], indptr[c + 1]):
            r, v = indices[e], data[e]
            for w in range(n_w):
                out[r, w] += v * G[w, c]


@njit(cache=True, nogil=True)
def csc_transpose_times(indptr, indices, data, v, out):  # pragma: no cover - compiled
    """out (q_0,) = Bᵀ v for B (q_r × q_0) in CSC form: out is overwritten."""
    for c in range(indptr.shape[0] - 1):
        total = 0.0
        for e in range(indptr[c], indptr[c + 1]):
            total += data[e] * v[indices[e]]
        out[c] = total


@njit(cache=True, nogil=True)
def level_rows_times_v(Bz, V, start, stop, out):  # pragma: no cover - compiled
    """out[(j − start)p_0 + b, r] = Σ_a Bz[j, r, a] V[j, a, b] for the levels start ≤ j < stop.

    The rows of F_jᵀ = (Bz_j V_j)ᵀ for a chunk of levels of the dense level-major Bz
    (ℓ_0, q_r, p_0), written straight in the layout of the rank-k update (10⁴ levels × 10³:
    0.09 s an evaluation, against 0.31 s for a batched matmul and a transposing copy).
    """
    q_r, p0 = Bz.shape[1], Bz.shape[2]
    for j in range(start, stop):
        row = (j - start) * p0
        for r in range(q_r):
            for b in range(p0):
                s = 0.0
                for a in range(p0):
                    s += Bz[j, r, a] * V[j, a, b]
                out[row + b, r] = s


@functools.lru_cache(maxsize=None)
def row_accumulator(p0: int, n_w: int, s: int, weighted: bool = False):
    """The compiled passes that add rows to A, for p_0 columns of term 0, n_w of [X y], s of Z_r.

    The sizes are compile-time constants of the returned kernels (one pair per shape, cached on
    disk): their loops unroll, and a row costs about 20 ns where loops over sizes read from the
    arrays cost 60 ns. Two kernels, which touch disjoint sums and may run at the same time:

        rows_kernel(codes0, z0, rest_codes, rest_z, entry_term, entry_base, entry_size, X, y, weights,
                    records, rest_rest, rest_w, ww)
        bz_kernel(codes0, z0, rest_codes, rest_z, entry_term, entry_base, entry_size, weights, bz)

    add, for every row i with level j = codes0[i] of term 0, W_i = [X_i y_i] and weight ωᵢ
    (``weights[i]`` when ``weighted``, else 1 and ``weights`` is not read),

        records[j] += ωᵢ [lower(z0_i z0_iᵀ) (p_0² slots), W_i ⊗ z0_i (n_w p_0)]    D0_j, (WᵀZ_0)_j
        ww         += ωᵢ lower(W_i W_iᵀ)                                             WᵀW
        rest_rest[r1, r2] += ωᵢ v1 v2   for rest entries (r1, v1), (r2, v2), r2 ≤ r1   Z_rᵀZ_r
        rest_w[r]  += ωᵢ v W_i                                                       Z_rᵀW
        bz[j, r]   += ωᵢ v z0_i                                                      Z_rᵀZ_0 (dense)

    where row i's rest entries t = 0 … s − 1 have values v = rest_z[i, t] at positions
    r = entry_base[t] + rest_codes[i, entry_term[t]] · entry_size[t] of Z_r's columns. The
    weights may have any sign (a PIRLS Newton step's observed information). Bz, the one block
    too large for the caches, has a tight loop of its own, which keeps more of its cache misses
    in flight (15 ns a row instead of 60 inside the other loop). Rows are added in order, so a
    pass over the same rows in any number of blocks gives the same sums to the last bit. Cost
    O(n (p_0 + s)(p_0 + s + n_w)).
    """

    @njit(cache=True, nogil=True)
    def rows_kernel(codes0, z0, rest_codes, rest_z, entry_term, entry_base, entry_size, X, y, weights,
                    records, rest_rest, rest_w, ww):  # pragma: no cover
        base = p0 * p0
        Wi = np.empty(n_w)
        for i in range(z0.shape[0]):
            j = codes0[i]
            omega = weights[i] if weighted else 1.0
            for w in range(n_w - 1):
                Wi[w] = X[i, w]
            Wi[n_w - 1] = y[i]
            for a in range(p0):
                za = omega * z0[i, a]
                for b in range(a + 1):
                    records[j, a * p0 + b] += za * z0[i, b]
            for w in range(n_w):
                wi = omega * Wi[w]
                for a in range(p0):
                    records[j, base + w * p0 + a] += wi * z0[i, a]
                for w2 in range(w + 1):
                    ww[w, w2] += wi * Wi[w2]
            for t in range(s):
                r1 = entry_base[t] + rest_codes[i, entry_term[t]] * entry_size[t]
                v1 = omega * rest_z[i, t]
                for t2 in range(s):
                    r2 = entry_base[t2] + rest_codes[i, entry_term[t2]] * entry_size[t2]
                    if r2 <= r1:
                        rest_rest[r1, r2] += v1 * rest_z[i, t2]
                for w in range(n_w):
                    rest_w[r1, w] += v1 * Wi[w]

    @njit(cache=True, nogil=True)
    def bz_kernel(codes0, z0, rest_codes, rest_z, entry_term, entry_base, entry_size, weights, bz):  # pragma: no cover
        for i in range(z0.shape[0]):
            j = codes0[i]
            omega = weights[i] if weighted else 1.0
            for t in range(s):
                r1 = entry_base[t] + rest_codes[i, entry_term[t]] * entry_size[t]
                v1 = omega * rest_z[i, t]
                for a in range(p0):
                    bz[j, r1, a] += v1 * z0[i, a]

    return rows_kernel, bz_kernel


@functools.lru_cache(maxsize=None)
def first_term_kernel(p0: int):
    """``first_term_blocks(D0, Bw, T0, P, V, F)`` for term-0 blocks of size p_0 (:func:`_first_term_levels`).

    p_0 is a compile-time constant of the returned kernel (one per size, cached on disk): its
    loops over the p_0 × p_0 blocks unroll, which halves the cost per level (sleepstudy's 18
    levels: 1.9 µs instead of 3.6), with the same operations in the same order (the same bits).
    """

    @njit(cache=True, nogil=True)
    def first_term_blocks(D0, Bw, T0, P, V, F):  # pragma: no cover - compiled
        return _first_term_levels(D0, Bw, T0, P, V, F, p0)

    return first_term_blocks


@functools.lru_cache(maxsize=None)
def dense_factor_kernel(p0: int):
    """``dense_factor(D0, B, T0, C, scale, q_r, P, V, F, M)`` for term-0 blocks of size p_0
    (:func:`_dense_factor`, p_0 a compile-time constant as in :func:`first_term_kernel`)."""

    @njit(cache=True, nogil=True)
    def dense_factor(D0, B, T0, C, scale, q_r, P, V, F, M):  # pragma: no cover - compiled
        return _dense_factor(D0, B, T0, C, scale, q_r, P, V, F, M, p0)

    return dense_factor


@njit(cache=True, nogil=True)
def _dense_factor(D0, B, T0, C, scale, q_r, P, V, F, M, p0):  # pragma: no cover - compiled
    """The whole factorisation of a small model in one call (no BLAS, no temporaries).

    B = [Bz; Bw] (m, ℓ_0, p_0) holds the rows coupled to term 0: the rest-term columns (dense,
    scalar terms only) and [X y]. Fills P, V, F as :func:`_first_term_levels` (F = B V), then
    M = chol(diag(s)(C − F Fᵀ)diag(s) + diag(I_{q_r}, 0)), lower, s = ``scale`` (Λ_r's diagonal,
    1 for [X y]). Returns (log|L_θ|², log|R_X|², r²); NaN first when not positive definite (r² = 0
    when only the response's pivot fails: a perfect fit).
    Small models and bootstrap refits spend most of their time here (through :func:`dense_factor_kernel`).
    """
    logdet = _first_term_levels(D0, B, T0, P, V, F, p0)
    if math.isnan(logdet):
        return math.nan, math.nan, math.nan
    m = C.shape[0]
    l0 = D0.shape[0]
    for a in range(m):
        for b in range(a + 1):
            s = C[a, b]
            for j in range(l0):
                for c in range(p0):
                    s -= F[a, j, c] * F[b, j, c]
            M[a, b] = s * scale[a] * scale[b]
        if a < q_r:
            M[a, a] += 1.0
        for b in range(a + 1, m):
            M[a, b] = 0.0
    logdet_rx = 0.0
    for a in range(m):
        for b in range(a + 1):
            s = M[a, b]
            for c in range(b):
                s -= M[a, c] * M[b, c]
            if a == b:
                if s <= 0.0 and a == m - 1:  # only the response's pivot: a perfect fit, r² = 0
                    s = 0.0
                elif s <= 0.0:
                    return math.nan, math.nan, math.nan
                M[a, a] = math.sqrt(s)
                if a < q_r:
                    logdet += 2.0 * math.log(M[a, a])
                elif a < m - 1:
                    logdet_rx += 2.0 * math.log(M[a, a])
            else:
                M[a, b] = s / M[b, b]
    return logdet, logdet_rx, M[m - 1, m - 1] ** 2


@functools.lru_cache(maxsize=None)
def linear_predictor_kernel(p: int, p0: int, s: int):
    """``linear_predictor(offset, X, beta, codes0, z0, b0, rest_codes, rest_z, entry_term, entry_base,
    entry_size, b_rest, eta)``: in one pass over the rows, for p columns of X, p_0 of term 0 and s
    entries of the other terms (:func:`mixedmodels.blocks.rest_entries`),

        ηᵢ = offsetᵢ + Σ_j X[i, j] β_j + Σ_a z0[i, a] b0[codes0[i], a] + Σ_t rest_z[i, t] b_rest[r(i, t)],

    r(i, t) = entry_base[t] + rest_codes[i, entry_term[t]] · entry_size[t] (b_rest: the other terms'
    b side by side, each level-major, as Z_r's columns). The sizes are compile-time constants of the
    returned kernel (one per shape, cached on disk), so its loops unroll.
    """

    @njit(cache=True, nogil=True)
    def linear_predictor(offset, X, beta, codes0, z0, b0, rest_codes, rest_z, entry_term, entry_base,
                         entry_size, b_rest, eta):  # pragma: no cover - compiled
        for i in range(eta.shape[0]):
            v = offset[i]
            for j in range(p):
                v += X[i, j] * beta[j]
            c = codes0[i]
            for a in range(p0):
                v += z0[i, a] * b0[c, a]
            for t in range(s):
                v += rest_z[i, t] * b_rest[entry_base[t] + rest_codes[i, entry_term[t]] * entry_size[t]]
            eta[i] = v

    return linear_predictor


@njit(cache=True, nogil=True)
def level_quadratic_forms(indptr, indices, data, scale, n_rows, Sinv, out):  # pragma: no cover - compiled
    """out[j] = g_jᵀ S⁻¹ g_j for every column j of a CSC matrix G, g_j = diag(scale) G[:n_rows, j].

    Row indices must be sorted within each column; ``Sinv`` is read in its lower triangle only
    (row-major). The cost is Σ_j (non-zeros of column j)², the pairs of the Schur complement.
    """
    for j in range(out.shape[0]):
        total = 0.0
        for e1 in range(indptr[j], indptr[j + 1]):
            r1 = indices[e1]
            if r1 >= n_rows:
                break
            v1 = data[e1] * scale[r1]
            acc = 0.0
            for e2 in range(indptr[j], e1):
                r2 = indices[e2]
                acc += data[e2] * scale[r2] * Sinv[r1, r2]
            total += v1 * (2.0 * acc + v1 * Sinv[r1, r1])
        out[j] = total


@njit(cache=True, nogil=True)
def mirror_lower(C):  # pragma: no cover - compiled
    """In place: the upper triangle of the square C ← its lower triangle (C[j, i] = C[i, j], j < i)."""
    for i in range(C.shape[0]):
        for j in range(i):
            C[j, i] = C[i, j]
