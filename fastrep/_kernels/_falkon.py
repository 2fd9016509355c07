"""Falkon's preconditioner: the contract's ``nystrom_preconditioner`` in two layouts.

For the centres' kernel matrix K (M, M) and a ridge lam, Falkon (Rudi, Carratino, Rosasco 2017;
Meanti et al. 2020) preconditions its conjugate gradient with two triangular factors:

    T upper with  T^T T = K + jitter I          (jitter: a small multiple of M eps mean(diag K))
    A upper with  A^T A = T T^T / M + lam I     (one per lam; T is shared by every lam)

An object made by ``nystrom_preconditioner(K, *, jitter, what)`` (K is consumed: its memory
holds the factors where the layout allows) has ``jitter`` (what T's factorization added),
``set_ridge(lam)`` (factorizes A; retried with more jitter, with a JitterWarning, if it fails),
``solve_T(v, trans)`` (T^-1 v, or T^-T v) and ``solve_A(v, trans)`` (A^-1 v, or A^-T v) for
float64 vectors (M,) in and out, and ``matrices``: how many M x M arrays it holds.

:class:`PackedPreconditioner` (the CPU backends, NumPy): Falkon's layout, one M x M buffer. T^T is
the lower triangle, A (scaled by sqrt(M)) the upper one, and their two diagonals are kept apart
(swapped in before each triangular solve). T T^T comes from LAUUM on the upper triangle, never
from a full product, and every factorization goes through :mod:`._blas` (safe at any order).

:class:`TwoFactorPreconditioner` (reference, cupy): two M x M arrays, T T^T by one product;
the backend's own ``cholesky`` and ``solve_triangular``.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.linalg.lapack as lapack

from . import _blas, cholesky_with_jitter, symmetrize_lower

__all__ = ["PackedPreconditioner", "TwoFactorPreconditioner"]


class PackedPreconditioner:
    """Falkon's packed preconditioner on one C-contiguous NumPy buffer K (M, M), consumed."""

    matrices = 1

    def __init__(self, K, *, jitter, what="the centres' kernel matrix K_MM"):
        K = np.asarray(K)
        if K.ndim != 2 or K.shape[0] != K.shape[1] or not K.flags.c_contiguous:
            raise ValueError("the preconditioner needs a square C-contiguous kernel matrix")
        self.buf = K
        self.F = F = K.T  # Fortran-ordered view: LAPACK's lower triangle is C's upper one
        M = self.M = K.shape[0]
        adiag = np.diagonal(K).copy()
        scale = float(np.mean(adiag)) if M else 1.0
        eps = float(np.finfo(K.dtype).eps)
        self._diag = None

        def factor(j):  # L with L L^T = K + j I in F's lower triangle; F's upper keeps K
            F.flat[:: M + 1] = adiag + j
            info = _blas.potrf(F, lower=True)
            if info > 0:  # undo: F's lower triangle from its untouched upper one (C's lower)
                symmetrize_lower(np, K, block=512)
                F.flat[:: M + 1] = adiag
                return None
            return F

        _, self.jitter = cholesky_with_jitter(factor, M, scale, eps, jitter, what=what)
        self._wscale = (float(np.sum(adiag, dtype=np.float64)) + M * self.jitter) / max(M, 1) ** 2
        self.dT = np.diagonal(F).copy()
        self.dA = None
        self._tr = lapack.get_lapack_funcs(("trtrs",), (F,))[0]

    def _lower_to_upper(self):
        """F's strict upper triangle := its strict lower one transposed (T = L^T), diagonal dT."""
        symmetrize_lower(np, self.F, block=512)
        self.F.flat[:: self.M + 1] = self.dT

    def set_ridge(self, lam, what="the Nystrom preconditioner T T^T/M + lam I"):
        """A' upper with A'^T A' = T T^T + M lam I (= M A^T A) in F's upper triangle."""
        F, M = self.F, self.M
        lam = float(lam)
        self._diag = None

        def factor(j):
            self._lower_to_upper()
            _blas.lauum(F, upper=True)  # F's upper := T T^T
            F.flat[:: M + 1] += M * j
            info = _blas.potrf(F, lower=False)
            return None if info > 0 else F

        # the jitter schedule of T T^T/M + lam I, whose mean diagonal is trace(K + jitter I)/M^2
        eps = float(np.finfo(F.dtype).eps)
        _, used = cholesky_with_jitter(factor, M, self._wscale, eps, lam, what=what)
        self.ridge_jitter = used - lam
        self.dA = np.diagonal(F).copy()
        self._diag = "A"

    def _use(self, which):
        if self._diag != which:
            self.F.flat[:: self.M + 1] = self.dT if which == "T" else self.dA
            self._diag = which

    def _solve(self, v, lower, trans):
        b = np.asarray(v, dtype=self.F.dtype)
        x, info = self._tr(self.F, b, lower=int(lower), trans=int(trans))
        if info != 0:
            raise np.linalg.LinAlgError(f"triangular solve failed (LAPACK trtrs info {info})")
        return x.astype(np.float64, copy=False)

    def solve_T(self, v, trans=False):
        """T^-1 v (T = L^T: L^-T v), or T^-T v (L^-1 v)."""
        self._use("T")
        return self._solve(v, True, not trans)

    def solve_A(self, v, trans=False):
        """A^-1 v, or A^-T v, with A = A' / sqrt(M)."""
        if self.dA is None:
            raise RuntimeError("set_ridge first")
        self._use("A")
        return self._solve(v, False, trans) * math.sqrt(self.M)


class TwoFactorPreconditioner:
    """T and A as two M x M arrays of K's library (any backend with ``cholesky`` and
    ``solve_triangular``): T T^T by one matrix product."""

    matrices = 2

    def __init__(self, xp, ops, K, *, jitter, what="the centres' kernel matrix K_MM"):
        self.xp, self.ops = xp, ops
        self.M = K.shape[0]
        # lower L = T^T in TF (L L^T = K + jitter I)
        self.TF, self.jitter = ops.cholesky(K, jitter=jitter, overwrite_a=True, what=what)
        self.LA = None

    def set_ridge(self, lam, what="the Nystrom preconditioner T T^T/M + lam I"):
        W = self.TF.T @ self.TF  # T T^T = L^T L
        W *= 1.0 / self.M
        self.LA = None
        self.LA, used = self.ops.cholesky(W, jitter=float(lam), overwrite_a=True, what=what)
        self.ridge_jitter = used - float(lam)

    def _tri(self, F, v, trans):
        xp = self.xp
        return xp.astype(self.ops.solve_triangular(F, xp.astype(v, F.dtype), lower=True, trans=trans),
                         xp.float64)

    def solve_T(self, v, trans=False):
        return self._tri(self.TF, v, not trans)

    def solve_A(self, v, trans=False):
        if self.LA is None:
            raise RuntimeError("set_ridge first")
        return self._tri(self.LA, v, not trans)
