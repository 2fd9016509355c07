"""The NTK/NNGP Gram drivers shared by the cpp, numba and cupy backends.

A Gram block is one BLAS product ``G = X1 @ X2.T`` (NumPy/SciPy BLAS on the CPU, cuBLAS
through CuPy) followed by one fused elementwise pass, supplied by the backend, that turns
G into kernel values in place (``csrc/include/fastrep/ntk.hpp`` has the formulas). The
backends differ only in that pass.

The pass primitive has the signature ``fused(G, q1, q2, inv_d, beta2, ntk)`` with q1 (n1,)
and q2 (n2,) holding |x|^2/d + beta^2 in G's dtype, or both ``None`` for a symmetric G (the
pass then reads q from G's diagonal, which makes the diagonal exact).

A CPU backend also supplies ``fused_lower(G, inv_d, beta2, ntk)``: G (n, n) C-contiguous whose
lower triangle (diagonal included) holds X X^T becomes the whole symmetric K(X, X), each tile
turned into kernel values while in cache and written transposed to its mirror. The symmetric
block then costs half a GEMM (row panels of the lower triangle) and half the elementwise pass:
a full GEMM on a copy of X plus a pass over n^2 entries measured well above this route, on
OpenBLAS (benchmarks/RESULTS_ONESTEP.md, "Symmetric Gram route"). Without it (the CuPy
backend, where the GEMM is cheap next to the launches a tile loop costs) the symmetric block is
the GEMM on a copy.
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

    #: Rows of X per product of the lower triangle, at most: a panel X[i:i+p] @ X[:i+p].T also
    #: computes the p^2/2 entries above its diagonal block, p/n extra in all, and thinner panels
    #: ran below the BLAS's full rate (benchmarks/RESULTS_ONESTEP.md, "Symmetric Gram route").
    #: ``_lower_products`` uses n/16 rows, between 256 and this, so the waste stays near 1/16.
    panel_rows = 1024

    def __init__(self, xp, fused, fused_lower=None):
        self.xp = xp
        self.fused = fused
        self.fused_lower = fused_lower

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
        inv_d, beta2 = self._constants(X1, beta)
        if symmetric and self.fused_lower is not None:
            self._lower_products(X1, out)
            self.fused_lower(out, inv_d, beta2, ntk)
            return out
        # A copy for the symmetric call: NumPy turns X @ X.T (same buffer) into SYRK, which at
        # these inner dimensions runs at half GEMM's rate (benchmarks/RESULTS_ONESTEP.md); the
        # GEMM computes both triangles, so K is symmetric up to the last bits of each product.
        xp.matmul(X1, xp.array(X1, copy=True).T if symmetric else X2.T, out=out)
        if symmetric:
            self.fused(out, None, None, inv_d, beta2, ntk)
        else:
            self.fused(out, self.q(X1, inv_d, beta2), self.q(X2, inv_d, beta2), inv_d, beta2, ntk)
        return out

    def _lower_products(self, X, out):
        """out[i, j] = x_i . x_j for j <= i (and some entries above the diagonal), by row panels.

        Each panel's product goes straight into out's rows (a strided view the BLAS writes
        through its leading dimension), so nothing but the lower triangle is ever computed.
        """
        n = X.shape[0]
        p = max(256, min(self.panel_rows, n // 16))
        for i0 in range(0, n, p):
            i1 = min(i0 + p, n)
            self.xp.matmul(X[i0:i1], X[:i1].T, out=out[i0:i1, :i1])

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

