"""The dense drivers of Algorithm 1, shared by the cpp, numba and cupy backends.

Each backend supplies two fused elementwise primitives (``mask_scale`` and ``relu_bias``,
see ``csrc/include/fastrep/onestep.hpp``) and a SYRK; the products themselves go to BLAS
(NumPy/SciPy on the CPU, cuBLAS through CuPy). Keeping the driver in one place means the
backends differ only where the arithmetic differs.
"""

from __future__ import annotations

from .._memory import scratch, workspace
from . import _blas

__all__ = ["Driver", "accumulate_gram", "workspace"]


def _scratch(xp, name: str, rows: int, cols: int, dtype):
    """A (rows, cols) work array of the drivers from the fit's pool (:func:`fastrep._memory.scratch`):
    reused from one chunk to the next, and from one fit to the next, inside a workspace; a fresh
    array outside one. Never returned to the drivers' callers."""
    return scratch(xp, name, (rows, cols), dtype)


def accumulate_gram(Phi, G):
    """G += Phi^T Phi for Phi (n, m) of any layout and C-ordered G (m, m), float32 or float64, in place.

    Only G's lower triangle is promised (callers symmetrize once at the end); this route fills
    both. NumPy's ``Phi.T @ Phi`` (NumPy detects the transposed pair and calls SYRK, then
    mirrors the triangle) is kept: against SciPy's ``?syrk`` in either layout and triangle, a
    GEMM, and blocked SYRK + GEMM updates with 128-1024-column blocks, at m = 500, 1000, 2000 in
    float32 and float64 on OpenBLAS, no alternative won at every shape by more than the spread
    between repeated runs of one call (benchmarks/RESULTS_ONESTEP.md,
    ``python benchmarks/compare_gram.py --only gram``). The (m, m) temporary costs little next
    to the product at those shapes (benchmarks/RESULTS_ONESTEP.md, "Phi^T Phi's temporary").
    Above ``_blas.GUARD_ORDER`` columns the product is assembled from GEMM tiles of the lower
    triangle instead (:func:`fastrep._kernels._blas.gram_tn`): OpenBLAS's threaded SYRK crashes
    at m = 16384 on its AVX-512 kernels.
    """
    return _blas.gram_tn(Phi, G, accumulate=True)


_syrk_cpu = accumulate_gram  # the name the Driver's default and older callers use


class Driver:
    """The contract's dense operations, given a backend's primitives.

    The step products X (n, d) @ W^T take W^T as a C-ordered (d, m) copy made in each call: with
    the inner dimension d of a few hundred, OpenBLAS ran the product on the contiguous copy
    faster than on the transposed view (benchmarks/RESULTS_ONESTEP.md, "W^T as a copy"), and
    the copy (m d entries) is 1/(2n) of the product's work, too little to be worth a cache that
    could go stale when W changes in place.
    """

    def __init__(self, xp, mask_scale, relu_bias, syrk=_syrk_cpu):
        self.xp = xp
        self.mask_scale = mask_scale
        self.relu_bias = relu_bias
        self.syrk = syrk

    def onestep_gradient(self, X, W, b, r, acc=None):
        xp = self.xp
        P = _scratch(xp, "step", X.shape[0], W.shape[0], xp.result_type(X, W))
        xp.matmul(X, xp.ascontiguousarray(W.T), out=P)
        self.mask_scale(P, xp.ascontiguousarray(b), xp.ascontiguousarray(r))
        G = P.T @ X
        if acc is None:
            return G
        acc += G
        return acc

    def relu_features(self, X, W, b, paired, out=None):
        xp = self.xp
        b = xp.ascontiguousarray(b)
        Wt = xp.ascontiguousarray(W.T)
        if not paired and out is None:  # P is the result: the caller's to keep
            P = X @ Wt
            self.relu_bias(P, b, False, P)
            return P
        P = xp.matmul(X, Wt, out=_scratch(xp, "pre", X.shape[0], W.shape[0], xp.result_type(X, W)))
        m = 2 * W.shape[0] if paired else W.shape[0]
        if out is None:
            out = xp.empty((X.shape[0], m), dtype=X.dtype)
        self.relu_bias(P, b, paired, out)
        return out

    def feature_moments(self, X, W, b, y, paired, G=None, h=None):
        xp = self.xp
        m = 2 * W.shape[0] if paired else W.shape[0]
        Phi = self.relu_features(X, W, b, paired, out=_scratch(xp, "features", X.shape[0], m, X.dtype))
        m = Phi.shape[1]
        if G is None:
            G = xp.zeros((m, m), dtype=X.dtype)
        if h is None:
            h = xp.zeros(m, dtype=X.dtype)
        self.syrk(Phi, G)
        h += Phi.T @ y.astype(X.dtype, copy=False)
        return G, h
