"""The NTK/NNGP Gram drivers shared by the cpp, numba and cupy backends.

A Gram block is one BLAS product ``G = X1 @ X2.T`` (NumPy/SciPy BLAS on the CPU, cuBLAS
through CuPy) followed by one fused elementwise pass, supplied by the backend, that turns
G into kernel values in place (``csrc/include/fastrep/ntk.hpp`` has the formulas). The
backends differ only in that pass.

The pass primitive has the signature ``fused(G, q1, q2, inv_d, beta2, ntk)`` with q1 (n1,)
and q2 (n2,) holding |x|^2/d + beta^2 in G's dtype, or both ``None`` for a symmetric G (the
pass then reads q from G's diagonal, which makes the diagonal exact).
"""

from __future__ import annotations

import numpy as np

from .._validation import check_out

KINDS = ("ntk", "nngp")


def check_kind(kind: str) -> bool:
    """True for 'ntk', False for 'nngp'; anything else is a ValueError."""
    if kind not in KINDS:
        raise ValueError(f"kind must be 'ntk' or 'nngp'; got {kind!r}")
    return kind == "ntk"


class GramDriver:
    """``kernel_gram`` and ``kernel_matvec`` of the kernel contract, given a backend's fused pass."""

    def __init__(self, xp, fused):
        self.xp = xp
        self.fused = fused

    def q(self, X, inv_d, beta2):
        """|x|^2/d + beta^2 per row of X, in X's dtype."""
        xp = self.xp
        return xp.ascontiguousarray(xp.einsum("ij,ij->i", X, X) * inv_d + beta2, dtype=X.dtype)

    def _constants(self, X, beta):
        dt = X.dtype.type
        return dt(1.0 / X.shape[1]), dt(float(beta) ** 2)

    def kernel_gram(self, X1, X2, beta, kind, out=None):
        xp = self.xp
        ntk = check_kind(kind)
        X1 = xp.ascontiguousarray(X1)
        symmetric = X2 is None or X2 is X1
        X2 = X1 if symmetric else xp.ascontiguousarray(X2, dtype=X1.dtype)
        shape = (X1.shape[0], X2.shape[0])
        out = xp.empty(shape, dtype=X1.dtype) if out is None else check_out(out, shape, X1.dtype, X1, X2)
        # A copy for the symmetric call: NumPy turns X @ X.T (same buffer) into SYRK, which at
        # these inner dimensions runs at half GEMM's rate (benchmarks/RESULTS_ONESTEP.md); the
        # GEMM computes both triangles, so K is symmetric up to the last bits of each product.
        xp.matmul(X1, xp.array(X1, copy=True).T if symmetric else X2.T, out=out)
        inv_d, beta2 = self._constants(X1, beta)
        if symmetric:
            self.fused(out, None, None, inv_d, beta2, ntk)
        else:
            self.fused(out, self.q(X1, inv_d, beta2), self.q(X2, inv_d, beta2), inv_d, beta2, ntk)
        return out

    def _blocks(self, X, C, beta, kind, block_rows):
        """Yield (start, stop, G) with G = K(X[start:stop], C), reusing one (block_rows, M) buffer.

        X is C-contiguous; the yielded block is overwritten by the next one.
        """
        xp = self.xp
        ntk = check_kind(kind)
        C = xp.ascontiguousarray(C, dtype=X.dtype)
        n, M = X.shape[0], C.shape[0]
        block_rows = max(1, min(int(block_rows), n))
        inv_d, beta2 = self._constants(X, beta)
        qC = self.q(C, inv_d, beta2)
        buf = xp.empty((block_rows, M), dtype=X.dtype)
        for start in range(0, n, block_rows):
            stop = min(start + block_rows, n)
            G = buf[: stop - start]
            xp.matmul(X[start:stop], C.T, out=G)
            self.fused(G, self.q(X[start:stop], inv_d, beta2), qC, inv_d, beta2, ntk)
            yield start, stop, G

    def kernel_matvec(self, X, C, V, beta, kind, block_rows):
        """K(X, C) @ V block by block over rows of X; the largest temporary is (block_rows, M)."""
        xp = self.xp
        X = xp.ascontiguousarray(X)
        V = xp.asarray(V, dtype=X.dtype)
        res = xp.empty((X.shape[0],) + V.shape[1:], dtype=X.dtype)
        for start, stop, G in self._blocks(X, C, beta, kind, block_rows):
            res[start:stop] = G @ V
        return res

    def kernel_normal_matvec(self, X, C, V, beta, kind, block_rows, W=None):
        """K^T (K V + W) for K = K(X, C), block by block; float64 result (accumulated over blocks)."""
        xp = self.xp
        X = xp.ascontiguousarray(X)
        V = None if V is None else xp.asarray(V, dtype=X.dtype)
        W = None if W is None else xp.asarray(W, dtype=X.dtype)
        tail = (V if V is not None else W).shape[1:]
        res = xp.zeros((C.shape[0],) + tail, dtype=np.float64)
        for start, stop, G in self._blocks(X, C, beta, kind, block_rows):
            t = G @ V if V is not None else xp.zeros((stop - start,) + tail, dtype=X.dtype)
            if W is not None:
                t += W[start:stop]
            res += G.T @ t
        return res

