"""The Falkon-style Nystrom solver for kernel ridge regression, as a pure function.

Falkon (Rudi, Carratino, Rosasco 2017; Meanti et al. 2020): with M centres C drawn from the
training rows, alpha in R^M solves (K_nM^T K_nM + n lam K_MM) alpha = K_nM^T y by conjugate
gradient, preconditioned with T = chol(K_MM) and A = chol(T T^T / M + lam I). Every K_nM
product is computed block by block by the backend (``kernel_normal_matvec`` on ``block_rows``
rows at a time), so memory is O(n d + M^2 + block_rows M): the two M x M factors and one block,
never n x M. With M = n it is exact kernel ridge regression.

All linear algebra goes through the Ops of the fit's Context (``cholesky``,
``solve_triangular``), so the same code runs on the CPU and, with CuPy arrays, on the device.
"""

from __future__ import annotations

import math
import warnings
from typing import NamedTuple

from sklearn.exceptions import ConvergenceWarning

from ._progress import SILENT
from ._warnings import user_stacklevel

__all__ = ["FalkonResult", "falkon"]


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


def falkon(ctx, X, y, C, lam, *, beta, kind, block_rows, tol, max_iter, warn=True,
           progress=SILENT) -> FalkonResult:
    """Solve the Nystrom kernel ridge problem for centres C (Falkon); nothing is mutated.

    Conjugate gradient preconditioned with the Cholesky factors of K_MM and of
    ``T T^T / M + lam I``; every K_nM product is formed a block of rows at a time, so memory is
    O(nd + M² + block_rows M), never n x M. The learners call it through
    ``NTKRegressor(solver="nystrom")``.

    Parameters
    ----------
    ctx : fastrep.backend.Context
        The fit's context (families 'gram', 'ridge', 'nystrom').
    X : array, shape (n, d)
        Training inputs.
    y : array, shape (n,)
        float64 labels.
    C : array, shape (M, d)
        The centres, in X's dtype.
    lam : float
        The ridge, >= 0.
    beta : float
        The kernel's bias scale.
    kind : {'ntk', 'nngp'}
        The kernel.
    block_rows : int
        Rows per kernel block.
    tol : float
        The conjugate gradient's relative residual at which it stops.
    max_iter : int
        The conjugate gradient's largest number of iterations.
    warn : bool, default True
        Warn with ``ConvergenceWarning`` if the conjugate gradient stops above ``tol``.
    progress : fastrep._progress.Progress, default SILENT
        Shows the factorizations and the iterations.

    Returns
    -------
    FalkonResult
        The coefficients and the solve's record.

    Raises
    ------
    numpy.linalg.LinAlgError
        If K_MM or the preconditioner cannot be factorized even with jitter.

    Warns
    -----
    sklearn.exceptions.ConvergenceWarning
        With ``warn``, when the conjugate gradient stops above ``tol``.
    """
    xp, la = ctx.xp, ctx["ridge"]
    n, M = X.shape[0], C.shape[0]
    KMM = ctx["gram"].kernel_gram(C, None, beta, kind)
    dt = KMM.dtype
    # T: K_MM + jitter = T^T T, T = L^T (a small base jitter as in Falkon; K_MM is often
    # numerically singular)
    eps = float(xp.finfo(dt).eps)
    base = M * eps * float(xp.mean(xp.linalg.diagonal(KMM)))
    TF, jit = la.cholesky(KMM, jitter=base, overwrite_a=True, what="the centres' kernel matrix K_MM")
    # A: T T^T / M + lam I = A^T A, with T T^T = L^T L
    W = TF.T @ TF
    W *= 1.0 / M
    LA, _ = la.cholesky(W, jitter=lam, overwrite_a=True, what="the Nystrom preconditioner T T^T/M + lam I")
    del W
    sqrt_n = math.sqrt(n)

    def tri(F, v, trans):
        return xp.astype(la.solve_triangular(F, xp.astype(v, dt), lower=True, trans=trans), xp.float64)

    def B(v):  # T^-1 A^-1 v / sqrt(n): T^-1 = L^-T, A^-1 = LA^-T
        return tri(TF, tri(LA, v, True), True) / sqrt_n

    def Bt(w):  # A^-T T^-T w / sqrt(n)
        return tri(LA, tri(TF, w, False), False) / sqrt_n

    nmv = ctx["nystrom"].kernel_normal_matvec

    def op(v):  # B^T (K_nM^T K_nM + n lam K_MM) B v, with B^T n lam K_MM B = lam A^-T A^-1
        return Bt(nmv(X, C, B(v), beta, kind, block_rows)) + lam * tri(LA, tri(LA, v, True), False)

    rhs = Bt(nmv(X, C, None, beta, kind, block_rows, W=y))
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
    return FalkonResult(B(sol), it, res, jit - base)
