"""The dense drivers of Algorithm 1, shared by the cpp, numba and cupy backends.

Each backend supplies two fused elementwise primitives (``mask_scale`` and ``relu_bias``,
see ``csrc/include/fastrep/onestep.hpp``) and a SYRK; the products themselves go to BLAS
(NumPy/SciPy on the CPU, cuBLAS through CuPy). Keeping the driver in one place means the
backends differ only where the arithmetic differs.
"""

from __future__ import annotations


def accumulate_gram(Phi, G):
    """G += Phi^T Phi for C-ordered Phi (n, m) and G (m, m), float32 or float64, in place.

    Only G's lower triangle is promised (callers symmetrize once at the end); this route fills
    both. NumPy's ``Phi.T @ Phi`` (NumPy detects the transposed pair and calls SYRK, then
    mirrors the triangle) measured faster than SciPy's ``?syrk`` on the same buffers, than a
    GEMM and than a blocked SYRK + GEMM update at (16384, 1000) and (16384, 500) float32 on
    OpenBLAS (benchmarks/RESULTS_ONESTEP.md, ``python benchmarks/compare_gram.py``). The (m, m)
    temporary costs about 1% of the product at those shapes.
    """
    G += Phi.T @ Phi
    return G


_syrk_cpu = accumulate_gram  # the name the Driver's default and older callers use


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
