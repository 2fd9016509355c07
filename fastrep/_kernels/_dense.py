"""The dense drivers of Algorithm 1, shared by the cpp, numba and cupy backends.

Each backend supplies two fused elementwise primitives (``mask_scale`` and ``relu_bias``,
see ``csrc/include/fastrep/onestep.hpp``) and a SYRK; the products themselves go to BLAS
(NumPy/SciPy on the CPU, cuBLAS through CuPy). Keeping the driver in one place means the
backends differ only where the arithmetic differs.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg.blas as blas


def _syrk_cpu(Phi, G):
    """G[lower] += Phi^T Phi for C-ordered Phi (n, m) and G (m, m), in place, one BLAS call.

    Fortran sees Phi as the (m, n) matrix Phi^T and G as G^T; SYRK's upper triangle of the
    Fortran matrix is the lower triangle of the C-ordered G.
    """
    f = blas.ssyrk if Phi.dtype == np.float32 else blas.dsyrk
    res = f(1.0, Phi.T, beta=1.0, c=G.T, trans=0, lower=0, overwrite_c=1)
    if not np.shares_memory(res, G):  # SciPy copied (should not happen for F-ordered c)
        G[...] = res.T
    return G


class Driver:
    """The contract's dense operations, given a backend's primitives."""

    def __init__(self, xp, mask_scale, relu_bias, syrk=_syrk_cpu):
        self.xp = xp
        self.mask_scale = mask_scale
        self.relu_bias = relu_bias
        self.syrk = syrk

    def onestep_gradient(self, X, W, b, r, acc=None):
        xp = self.xp
        P = xp.ascontiguousarray(X @ W.T)
        self.mask_scale(P, xp.ascontiguousarray(b), xp.ascontiguousarray(r))
        G = P.T @ X
        if acc is None:
            return G
        acc += G
        return acc

    def relu_features(self, X, W, b, paired, out=None):
        xp = self.xp
        P = xp.ascontiguousarray(X @ W.T)
        b = xp.ascontiguousarray(b)
        if not paired and out is None:
            self.relu_bias(P, b, False, P)
            return P
        m = 2 * W.shape[0] if paired else W.shape[0]
        if out is None:
            out = xp.empty((X.shape[0], m), dtype=X.dtype)
        self.relu_bias(P, b, paired, out)
        return out

    def feature_moments(self, X, W, b, y, paired, G=None, h=None):
        xp = self.xp
        Phi = self.relu_features(X, W, b, paired)
        m = Phi.shape[1]
        if G is None:
            G = xp.zeros((m, m), dtype=X.dtype)
        if h is None:
            h = xp.zeros(m, dtype=X.dtype)
        self.syrk(Phi, G)
        h += Phi.T @ y.astype(X.dtype, copy=False)
        return G, h
