"""The Falkon-style Nystrom solver for kernel ridge regression.

Falkon (Rudi, Carratino, Rosasco 2017; Meanti et al. 2020): with M centres C drawn from the
training rows, alpha in R^M solves (K_nM^T K_nM + n lam K_MM) alpha = K_nM^T y by conjugate
gradient, preconditioned with T (T^T T = K_MM + jitter I) and A (A^T A = T T^T / M + lam I).
With M = n it is exact kernel ridge regression.

K_nM: :class:`KernelRows`. Stored (``store=True``): computed once, ``block_rows`` rows at a
time through the backend's ``kernel_gram``, into one n x M array of the data's dtype; each
conjugate-gradient iteration is then two matrix-vector products per block, no kernel entry
recomputed (the NTK's elementwise pass, arccos and sqrt, costs more than the GEMM at small d).
On the fly (``store=False``, Falkon's ``never_store_kernel``): every product recomputes the
blocks (``kernel_normal_matvec`` on ``block_rows`` rows at a time), never n x M in memory. Both
read the same blocks in the same order, so they give the same alpha. Falkon stores K_nM when
it fits the available memory and d exceeds its ``store_kernel_d_threshold`` (its cheap kernels
are worth recomputing at small d); the NTK's entry (arccos, sqrt) costs more than its share
of the GEMM at any d, so the estimator stores K_nM whenever it fits ``max_memory`` beside the
preconditioner (one CG iteration's product 5x faster in float32, 8x in float64, at d = 32,
n = 2e4, M = 12,000: benchmarks/RESULTS_KERNELS.md).

Memory: on the CPU both factors live in one M x M buffer (Falkon's layout: T^T in the lower
triangle, A in the upper, the two diagonals kept apart; T T^T by LAUUM in place), so the solver
holds M^2 numbers of the preconditioner's dtype, one (block_rows, M) kernel block and O(M + n d)
besides; other backends hold two M x M arrays. :func:`preconditioner_bytes` is that count,
which the estimator checks against ``max_memory`` before allocating anything. The
preconditioner is factorized in ``pc_dtype`` (the estimator passes the data's dtype, as Falkon
does; its jitter is the dtype's machine epsilon, Falkon's larger ``PC_EPSILON`` regularizes
the problem measurably at small ridges: benchmarks/RESULTS_KERNELS.md).

:class:`Nystrom` factorizes K_MM once per set of centres and solves for any number of ridges
(each costs one LAUUM, one Cholesky and the conjugate gradient; with a stored
:class:`KernelRows`, no kernel entry either); :func:`falkon` is one solve.

All linear algebra goes through the Ops of the fit's Context (``nystrom_preconditioner``,
``kernel_gram``, ``kernel_normal_matvec``), so the same code runs on the CPU and, with CuPy
arrays, on the device.
"""

from __future__ import annotations

import math
import warnings
from typing import NamedTuple

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from ._progress import SILENT
from ._warnings import user_stacklevel

__all__ = ["PC_EPSILON", "FalkonResult", "KernelRows", "Nystrom", "centers_needed", "centers_within",
           "falkon", "kernel_rows_bytes", "packed_bytes", "preconditioner_bytes", "preconditioner_matrices"]


class FalkonResult(NamedTuple):
    """The result of :func:`falkon`.

    Parameters
    ----------
    alpha : array
        (M,) float64 coefficients of the centres, in the data's array library.
    n_iter : int
        Conjugate-gradient iterations.
    residual : float
        The relative residual of the preconditioned system.
    jitter : float
        Jitter added to K_MM beyond its base jitter.
    """

    alpha: object
    n_iter: int
    residual: float
    jitter: float


def _pcg(xp, op, rhs, tol, max_iter, bar=None):
    """Conjugate gradient on op(x) = rhs (float64 vectors). Returns (x, iterations, rel. residual).

    ``bar``: a progress bar advanced once per iteration (closed by the caller), or None."""
    x = xp.zeros_like(rhs)
    bnorm = math.sqrt(float(rhs @ rhs))
    if bnorm == 0.0:
        return x, 0, 0.0
    r = xp.asarray(rhs, copy=True)
    p = xp.asarray(r, copy=True)
    rs = float(r @ r)
    it = 0
    for it in range(1, max_iter + 1):  # noqa: B007 (it is the iteration count returned)
        Ap = op(p)
        if bar is not None:
            bar.update(1)
        pAp = float(p @ Ap)
        if not pAp > 0:  # breakdown: the operator is not positive definite in this direction
            break
        step = rs / pAp
        x = x + step * p
        r = r - step * Ap
        rs_new = float(r @ r)
        if math.sqrt(rs_new) <= tol * bnorm:
            rs = rs_new
            break
        p = r + (rs_new / rs) * p
        rs = rs_new
    return x, it, math.sqrt(rs) / bnorm


def preconditioner_bytes(ctx, M, d, itemsize) -> int:
    """Bytes the preconditioner of M centres (d features, ``itemsize`` bytes per entry) holds:
    its M x M arrays, the centres in its dtype and O(M) vectors (the blocked factorizations
    above order 8192 work in place, without scratch tiles)."""
    return packed_bytes(preconditioner_matrices(ctx), M, d, itemsize)


def preconditioner_matrices(ctx) -> int:
    """How many M x M arrays the preconditioner of ``ctx``'s 'ridge' family holds (1: packed)."""
    return int(getattr(ctx["ridge"].nystrom_preconditioner, "matrices", 2))


def packed_bytes(matrices, M, d, itemsize) -> int:
    """:func:`preconditioner_bytes` for a layout of ``matrices`` M x M arrays."""
    return int(matrices * M * M * itemsize + M * d * itemsize + 16 * M * 8)


def centers_within(M, d, itemsize, budget, matrices) -> int:
    """M, or the largest M' < M found whose preconditioner fits 80% of ``budget`` bytes (the
    rest is for K_nM or its blocks): from the M x M arrays' bound down in steps of 0.1%."""
    def fits(m):
        return packed_bytes(matrices, m, d, itemsize) <= 0.8 * budget

    if fits(M):
        return int(M)
    M = math.isqrt(int(0.8 * budget / (matrices * itemsize)))
    while M > 1 and not fits(M):
        M -= max(1, M // 1000)
    return max(1, M)


def _dtype_name(dtype) -> str:
    """'float32' for a dtype of any array library (the array API's dtypes are not NumPy's and
    print as e.g. ``array_api_strict.float32``)."""
    return str(dtype).rsplit(".", 1)[-1].rstrip("'>")


def kernel_rows_bytes(n, M, itemsize) -> int:
    """Bytes a stored :class:`KernelRows` of n rows and M centres holds (its n x M array)."""
    return int(n) * int(M) * int(itemsize)


class KernelRows:
    """K(X, C) for the rows X (n, d) and centres C (M, d), as the conjugate gradient reads it.

    ctx : the fit's :class:`fastrep.backend.Context` (families 'gram' and 'nystrom').
    ``store=True`` computes the n x M matrix once (``block_rows`` rows per ``kernel_gram``
    call, written in place) and keeps it; ``store=False`` keeps only X and recomputes the
    blocks at each product. :meth:`normal` is K^T (K V + W); :meth:`rows` a contiguous range
    of rows (a view of the stored matrix, or of X); :meth:`matvec` K V.
    """

    def __init__(self, ctx, X, C, *, beta, kind, block_rows, store, progress=SILENT, _K=None):
        xp = ctx.xp
        self.ctx, self.X, self.C = ctx, X, C
        self.beta, self.kind, self.block_rows = beta, kind, max(1, int(block_rows))
        self.n, self.M = int(X.shape[0]), int(C.shape[0])
        self.K = _K
        if store and _K is None:
            n, M, rows = self.n, self.M, self.block_rows
            name = _dtype_name(X.dtype)
            gram = ctx["gram"]
            with progress.stage(f"kernel matrix of the rows and the centres ({n} x {M}, {name}), stored"):
                K = xp.empty((n, M), dtype=X.dtype)
                for s in range(0, n, rows):
                    e = min(s + rows, n)
                    gram.kernel_gram(X[s:e, ...], C, beta, kind, out=K[s:e, ...])
            self.K = K

    @property
    def stored(self) -> bool:
        """Whether the n x M matrix is held (else each product recomputes it)."""
        return self.K is not None

    def rows(self, start, stop):
        """The rows start..stop (a view: nothing is copied or recomputed)."""
        K = None if self.K is None else self.K[start:stop, ...]
        return KernelRows(self.ctx, self.X[start:stop, ...], self.C, beta=self.beta, kind=self.kind,
                          block_rows=self.block_rows, store=K is not None, _K=K)

    def normal(self, V=None, W=None):
        """K^T (K V + W), float64 (M,) or (M, k), accumulated in float64 over blocks of rows."""
        if self.K is None:
            return self.ctx["nystrom"].kernel_normal_matvec(self.X, self.C, V, self.beta, self.kind,
                                                           self.block_rows, W=W)
        xp, K = self.ctx.xp, self.K
        V = None if V is None else xp.asarray(V, dtype=K.dtype)
        W = None if W is None else xp.asarray(W, dtype=K.dtype)
        tail = tuple((V if V is not None else W).shape[1:])
        res = xp.zeros((self.M,) + tail, dtype=xp.float64)
        # the on-the-fly path's blocks and order (GramDriver._blocks), so both give the same bits
        for s in range(0, self.n, self.block_rows):
            G = K[s:min(s + self.block_rows, self.n), ...]
            t = G @ V if V is not None else xp.zeros((G.shape[0],) + tail, dtype=K.dtype)
            if W is not None:
                t += W[s:s + G.shape[0], ...]
            res += G.T @ t
        return res

    def matvec(self, V):
        """K V, float64 (n,), from the stored matrix or block by block."""
        xp = self.ctx.xp
        if self.K is None:
            out = self.ctx["predict"].kernel_matvec(self.X, self.C, xp.asarray(V, dtype=self.X.dtype),
                                                    self.beta, self.kind, self.block_rows)
        else:
            out = self.K @ xp.asarray(V, dtype=self.K.dtype)
        return xp.astype(out, xp.float64)


#: Falkon's preconditioner jitter per dtype (its pc_epsilon_32, pc_epsilon_64): K_MM + M eps I,
#: here relative to K_MM's mean diagonal (the NTK's is |x|^2/d + beta^2, about 2, not 1)
PC_EPSILON = {"float32": 1e-5, "float64": 1e-13}

#: the floor of the default centre rule: max(FLOOR_CENTERS, 16 sqrt(n))
FLOOR_CENTERS = 1024
#: harmonic degrees looked at by :func:`centers_needed` at most
MAX_RULE_DEGREE = 200


def centers_needed(n, d, kind="ntk", beta=1.0):
    """(M, L): the centres that represent what kernel ridge on n samples can learn at dimension d.

    The kernel's eigenspaces (spherical harmonics of degree l, multiplicity N(d, l), the sphere
    model of :func:`fastrep.theory.kernel_spectrum`) are taken in decreasing eigenvalue order
    while their total dimension stays <= n: those are the degrees n samples can resolve, and
    a Nystrom fit needs M at least that total to represent them (at d = 64, n = 10^5 the NTK
    resolves the harmonics of degrees 0..3: M = 1 + 64 + 2079 + 45696 = 47840, close to the
    C(67, 3) = 47905 polynomials of degree <= 3). L is the highest degree taken. For d < 3
    (no harmonic bookkeeping) M is the floor rule's.

    It is a floor for what n resolves, not a match for the exact solve at a small ridge: there
    the exact solve uses nearly all of its n directions (it also learns part of degree L + 1),
    and the Nystrom fit's excess error comes within 2% of the exact solve's only as M nears n.
    Measured at d = 32, n = 2e4, ridge 1e-6 (the rule's M: 6512), float32, CG converged: +82%,
    +45%, +24%, +9.5% and +0.2% above the exact solve at M = 4000, 8000, 12000, 16000 and
    20000 = n, so the 2% needs M of about 19,000 (0.96 n); with each solver's validated ridge
    (both chose 1e-9) +94%, +51%, +26%, +10% and +0.0% (benchmarks/RESULTS_KERNELS.md,
    "Excess error against M"). The gap is the estimator (M), not the solver. For that goal pass
    ``n_centers`` near n; where the n x n Gram matrix fits, the exact solve is then cheaper.
    """
    floor = max(FLOOR_CENTERS, 16 * math.isqrt(int(n)))
    if d < 3:
        return min(n, floor), None
    from .theory import kernel_spectrum, log_multiplicity

    degrees = np.arange(MAX_RULE_DEGREE + 1)
    cum = np.cumsum(np.exp(log_multiplicity(d, degrees)))
    top = int(min(MAX_RULE_DEGREE, np.searchsorted(cum, n, side="right") + 1))
    sp = kernel_spectrum(d, kernel=kind, beta=float(beta), max_degree=top, measure="sphere")
    order = np.argsort(-sp.log_eigenvalue, kind="stable")
    total, L = 0.0, 0
    for k in order:
        if not np.isfinite(sp.log_eigenvalue[k]):
            break
        mult = math.exp(sp.log_multiplicity[k])
        if total + mult > n:
            break
        total += mult
        L = max(L, int(sp.degree[k]))
    return int(min(n, max(floor, round(total)))), L


class Nystrom:
    """K_MM of the centres C and its factor T, ready to solve for any ridge.

    ctx : the fit's :class:`fastrep.backend.Context` (families 'gram', 'ridge', 'nystrom').
    C (M, d) in the data's dtype; beta, kind ('ntk' or 'nngp') of the kernel; block_rows rows
    per kernel block; pc_dtype the preconditioner's dtype (default C's); pc_epsilon: T's base
    jitter is M pc_epsilon mean(diag K_MM) (None: the dtype's machine epsilon; Falkon's values
    are :data:`PC_EPSILON`);
    ``progress`` (a :class:`fastrep._progress.Progress`) shows each stage.
    """

    def __init__(self, ctx, C, *, beta, kind, block_rows, pc_dtype=None, pc_epsilon=None, progress=SILENT):
        xp = ctx.xp
        self.ctx, self.C = ctx, C
        self.beta, self.kind, self.block_rows, self.progress = beta, kind, int(block_rows), progress
        M = C.shape[0]
        # the preconditioner's dtype as the data's library spells it (array-API dtypes are not NumPy's)
        name = _dtype_name(C.dtype) if pc_dtype is None else np.dtype(pc_dtype).name
        pc = C.dtype if pc_dtype is None else getattr(xp, name)
        with progress.stage(f"kernel matrix of the centres ({M} x {M}, {name})"):
            K = xp.empty((M, M), dtype=pc)
            ctx["gram"].kernel_gram(xp.astype(C, pc), None, beta, kind, out=K)
        # a base jitter, as in Falkon (K_MM is often numerically singular): M eps mean(diag), eps
        # pc_epsilon (Falkon's pc_epsilon_32/64: PC_EPSILON) or the dtype's machine epsilon
        eps = float(xp.finfo(K.dtype).eps) if pc_epsilon is None else float(pc_epsilon)
        self.base_jitter = M * eps * float(xp.mean(xp.linalg.diagonal(K)))
        with progress.stage(f"Cholesky factorization of the centres' kernel matrix ({M} x {M})"):
            self.P = ctx["ridge"].nystrom_preconditioner(K, jitter=self.base_jitter)
        del K
        self.jitter = self.P.jitter - self.base_jitter

    def kernel_rows(self, X, *, store=False) -> KernelRows:
        """K(X, C) for the rows X (n, d) (C's dtype), stored (computed here, once) or not."""
        return KernelRows(self.ctx, X, self.C, beta=self.beta, kind=self.kind, block_rows=self.block_rows,
                          store=store, progress=self.progress)

    def solve(self, X, y, lam, *, tol, max_iter, warn=True) -> FalkonResult:
        """alpha for the rows X (n, d) (C's dtype; or their :class:`KernelRows`, stored or not),
        labels y (n,) float64 and ridge lam >= 0, by preconditioned conjugate gradient; warns
        with ``ConvergenceWarning`` (when ``warn``) if it stops above ``tol``."""
        xp, P, progress = self.ctx.xp, self.P, self.progress
        rows = X if isinstance(X, KernelRows) else self.kernel_rows(X)
        n, M = rows.n, self.C.shape[0]
        with progress.stage(f"preconditioner for lambda = {lam:.3g} (LAUUM and Cholesky, {M} x {M})"):
            P.set_ridge(lam)
        sqrt_n = math.sqrt(n)

        def op(v):  # B^T (K_nM^T K_nM + n lam K_MM) B v with B = T^-1 A^-1 / sqrt(n):
            u = P.solve_A(v)  # A^-T [T^-T K^T K T^-1 A^-1 v / n + lam A^-1 v]
            g = rows.normal(P.solve_T(u))
            return P.solve_A(P.solve_T(g, trans=True) / n + lam * u, trans=True)

        rhs = P.solve_A(P.solve_T(rows.normal(None, W=y), trans=True), trans=True) / sqrt_n
        bar = progress.iterations(int(max_iter), f"conjugate gradient, lambda = {lam:.3g}")
        try:
            sol, it, res = _pcg(xp, op, rhs, tol, int(max_iter), bar)
        finally:
            if bar is not None:
                bar.close()
        if progress.on:
            progress.line(f"conjugate gradient, lambda = {lam:.3g}: {it} iterations, residual {res:.3g}")
        if warn and res > tol:
            warnings.warn(
                f"the Nystrom conjugate gradient stopped after {it} iterations at relative residual "
                f"{res:.3g} > tol={tol:.3g}; raise max_iter or tol",
                ConvergenceWarning,
                stacklevel=user_stacklevel(),
            )
        alpha = P.solve_T(P.solve_A(sol)) / sqrt_n
        return FalkonResult(alpha, it, res, self.jitter + getattr(P, "ridge_jitter", 0.0))


def falkon(ctx, X, y, C, lam, *, beta, kind, block_rows, tol, max_iter, warn=True,
           progress=SILENT, pc_dtype=None, pc_epsilon=None, store=False) -> FalkonResult:
    """Solve the Nystrom kernel ridge problem for centres C and one ridge lam; nothing is mutated.

    X (n, d), y (n,) float64, C (M, d) in X's dtype; lam >= 0; ``store``: keep K_nM (n x M)
    for the conjugate gradient (:class:`KernelRows`); the rest as for :class:`Nystrom` and
    :meth:`Nystrom.solve`.
    """
    solver = Nystrom(ctx, C, beta=beta, kind=kind, block_rows=block_rows, pc_dtype=pc_dtype,
                     pc_epsilon=pc_epsilon, progress=progress)
    return solver.solve(solver.kernel_rows(X, store=store), y, lam, tol=tol, max_iter=max_iter, warn=warn)
