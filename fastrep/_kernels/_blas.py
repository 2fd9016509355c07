"""The one guarded place for the large symmetric products and factorizations of the CPU backends.

OpenBLAS's threaded SYRK and the LAPACK routines built on it (POTRF, LAUUM) crash with SIGSEGV
at large orders on its AVX-512 (SkylakeX) kernels: ``A.T @ A`` for a 16384 x 16384 float64
matrix (NumPy turns it into SYRK) kills the process with 2 BLAS threads on Intel Sapphire
Rapids (NumPy 2.4, OpenBLAS 0.3.31), and so did ``potrf`` at order 16384 (compare OpenBLAS
issues #2562, #2821). Order 12288 runs; so does one thread, which cannot be had without a
process-wide thread limit (threadpoolctl), and a limit set by one fit changes the products of
another fit running in another thread.

So every symmetric product and factorization above :data:`GUARD_ORDER` is assembled here from
BLAS calls whose every dimension is at most :data:`TILE` (GEMM tiles, and SYRK/POTRF/LAUUM/TRSM
of order at most TILE), far below the failing sizes, on whatever thread count the caller has.
Each tile's result is the same whatever the thread count (OpenBLAS splits a GEMM's output, not
its inner dimension). Below GUARD_ORDER the plain LAPACK/BLAS call runs, as before.

The routines work in place on square arrays and touch only the triangle they are asked for, so
the other triangle can hold a second matrix (the Nystrom preconditioner's packed layout):

``gram_tn(A, G, accumulate)``   lower triangle of G (=/+=) A^T A;
``potrf(AF, lower)``            in-place Cholesky of the F-ordered AF's lower (L L^T) or upper
                                (U^T U) triangle, LAPACK's convention; returns LAPACK's info;
``lauum(AF, upper)``            U U^T (upper) or L^T L (lower) in place of the triangle.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg.blas as blas
import scipy.linalg.lapack as lapack

__all__ = ["GUARD_ORDER", "TILE", "gram_tn", "lauum", "potrf"]

#: Orders up to this run as one plain BLAS/LAPACK call (12288 measured safe, 16384 not).
GUARD_ORDER = 8192
#: The largest dimension of any BLAS call made by the blocked routines, and their block size.
TILE = 2048
#: rows per strip when only one triangle of a tile is updated
STRIP = 256


def _tiles(start, stop, step=None):
    step = step or TILE
    for a in range(start, stop, step):
        yield a, min(a + step, stop)


class _Scratch:
    """One reusable flat buffer for the tiles' products (a (TILE, TILE) product at most)."""

    def __init__(self, dtype):
        self.buf = np.empty(TILE * TILE, dtype=dtype)

    def take(self, rows, cols):
        return self.buf[: rows * cols].reshape(rows, cols)


def _update_lower(C, T, sign):
    """C's lower triangle (diagonal included) (+/-)= T's, a strip of STRIP rows at a time (no
    index arrays, no (b, b) mask)."""
    n = C.shape[0]
    for s in range(0, n, STRIP):
        e = min(s + STRIP, n)
        if sign > 0:
            C[s:e, :s] += T[s:e, :s]
            C[s:e, s:e] += np.tril(T[s:e, s:e])
        else:
            C[s:e, :s] -= T[s:e, :s]
            C[s:e, s:e] -= np.tril(T[s:e, s:e])


def _set_lower(C, T):
    """C's lower triangle (diagonal included) := T's, the rest of C untouched."""
    n = C.shape[0]
    for s in range(0, n, STRIP):
        e = min(s + STRIP, n)
        C[s:e, :s] = T[s:e, :s]
        blk = C[s:e, s:e]
        blk[...] = np.where(np.tri(e - s, dtype=bool), T[s:e, s:e], blk)


def _sub_product(C, A, B, scratch, sign=-1.0, lower_only=False):
    """C (+/-)= A @ B for a tile C (a view), through a contiguous scratch product: the inner
    dimension in pieces of TILE, so no BLAS call sees a dimension above TILE. ``lower_only``:
    update C's lower triangle (diagonal included) only."""
    k = A.shape[1]
    tmp = scratch.take(C.shape[0], C.shape[1])
    for k0, k1 in _tiles(0, k):
        np.matmul(A[:, k0:k1], B[k0:k1], out=tmp)
        if lower_only:
            _update_lower(C, tmp, sign)
        elif sign > 0:
            C += tmp
        else:
            C -= tmp


def gram_tn(A, G, accumulate=False):
    """G's lower triangle (diagonal included) (+)= A^T A, for A (k, m), G (m, m) of A's dtype.

    Up to GUARD_ORDER the plain ``A.T @ A`` (NumPy's SYRK, both triangles); above it GEMM tiles
    of the lower triangle with TILE columns and TILE rows of A at a time, so the upper
    triangle of G is left as it was. Returns G.
    """
    m = A.shape[1]
    if m <= GUARD_ORDER:
        if accumulate:
            G += A.T @ A
        else:
            np.matmul(A.T, A, out=G)
        return G
    scratch = _Scratch(G.dtype)
    for i0, i1 in _tiles(0, m):
        for j0, j1 in _tiles(0, i1):
            C = G[i0:i1, j0:j1]
            diag = j0 == i0
            if not accumulate:
                if diag:
                    _set_lower(C, np.zeros_like(C))
                else:
                    C[...] = 0
            for r0, r1 in _tiles(0, A.shape[0]):
                _sub_product(C, A[r0:r1, i0:i1].T, A[r0:r1, j0:j1], scratch, sign=1.0, lower_only=diag)
    return G


def _lapack(name, a):
    return lapack.get_lapack_funcs((name,), (a,))[0]


def potrf(AF, lower=True):
    """In-place Cholesky of the Fortran-ordered square AF: its lower triangle becomes L with
    A = L L^T (``lower``), or its upper one U with A = U^T U; the other strict triangle is not
    touched. Returns LAPACK's info (0: done; k > 0: the leading minor of order k is not positive
    definite, and the triangle is partly overwritten)."""
    n = AF.shape[0]
    if not AF.flags.f_contiguous:
        raise ValueError("potrf needs a Fortran-ordered array")
    if n <= GUARD_ORDER:
        c, info = _lapack("potrf", AF)(AF, lower=int(lower), clean=0, overwrite_a=1)
        if n and not np.may_share_memory(c, AF):
            raise RuntimeError("LAPACK copied the matrix instead of factorizing it in place")
        if info < 0:
            raise RuntimeError(f"LAPACK potrf rejected argument {-info}")
        return int(info)
    if not lower:  # U^T U of AF is L L^T of AF^T (C-ordered): work on its lower triangle
        return _potrf_lower(AF.T)
    return _potrf_lower(AF)


def _potrf_lower(A):
    """Right-looking blocked Cholesky of A's lower triangle (A any square layout), TILE at a time."""
    n = A.shape[0]
    f = _lapack("potrf", A)
    scratch = _Scratch(A.dtype)
    for k0, k1 in _tiles(0, n):
        D = np.asfortranarray(A[k0:k1, k0:k1])
        c, info = f(D, lower=1, clean=1, overwrite_a=1)
        if info < 0:
            raise RuntimeError(f"LAPACK potrf rejected argument {-info}")
        if info > 0:
            return k0 + int(info)
        _set_lower(A[k0:k1, k0:k1], c)
        if k1 == n:
            break
        # panel: L21 = A21 L11^-T, as L11 L21^T = A21^T (TILE rows of the panel at a time)
        trsm = blas.get_blas_funcs("trsm", (c,))
        for r0, r1 in _tiles(k1, n):
            P = np.asfortranarray(A[r0:r1, k0:k1])
            A[r0:r1, k0:k1] = trsm(1.0, c, P, side=1, lower=1, trans_a=1, overwrite_b=1)
        # trailing update of the lower triangle: A22 -= L21 L21^T, one GEMM tile at a time
        for i0, i1 in _tiles(k1, n):
            Li = A[i0:i1, k0:k1]
            for j0, j1 in _tiles(k1, i1):
                _sub_product(A[i0:i1, j0:j1], Li, A[j0:j1, k0:k1].T, scratch, lower_only=j0 == i0)
    return 0


def lauum(AF, upper=True):
    """In place of AF's upper triangle U: U U^T (``upper``), or of its lower one L: L^T L, as
    LAPACK's ?lauum; the other strict triangle is not touched. AF Fortran-ordered, square."""
    n = AF.shape[0]
    if not AF.flags.f_contiguous:
        raise ValueError("lauum needs a Fortran-ordered array")
    if n <= GUARD_ORDER:
        c, info = _lapack("lauum", AF)(AF, lower=int(not upper), overwrite_c=1)
        if n and not np.may_share_memory(c, AF):
            raise RuntimeError("LAPACK copied the matrix instead of working in place")
        if info != 0:
            raise RuntimeError(f"LAPACK lauum returned info {info}")
        return AF
    # L^T L of the lower triangle is U U^T with U = L^T, the upper triangle of AF^T
    _lauum_upper(AF if upper else AF.T)
    return AF


def _lauum_upper(A):
    """Blocked U U^T in place of A's upper triangle (LAPACK's ?lauum, upper), TILE at a time.

    Column block i of the result, rows above it: U[:i0, i] U_ii^T + U[:i0, i1:] U[i, i1:]^T; the
    diagonal block: U_ii U_ii^T + U[i, i1:] U[i, i1:]^T. Left to right, each step reads only
    columns not yet overwritten.
    """
    n = A.shape[0]
    f = _lapack("lauum", A)
    scratch = _Scratch(A.dtype)
    for i0, i1 in _tiles(0, n):
        Uii = np.asfortranarray(A[i0:i1, i0:i1])
        if i0 > 0:  # A[:i0, i] := A[:i0, i] U_ii^T (TRMM from the right, TILE rows at a time)
            trmm = blas.get_blas_funcs("trmm", (Uii,))
            for r0, r1 in _tiles(0, i0):
                B = np.asfortranarray(A[r0:r1, i0:i1])
                A[r0:r1, i0:i1] = trmm(1.0, Uii, B, side=1, lower=0, trans_a=1, overwrite_b=1)
        c, info = f(Uii, lower=0, overwrite_c=1)
        if info != 0:
            raise RuntimeError(f"LAPACK lauum returned info {info}")
        D = A[i0:i1, i0:i1]
        _set_lower(D.T, c.T)
        if i1 == n:
            break
        Ri = A[i0:i1, i1:]  # U[i, i1:]
        for r0, r1 in _tiles(0, i0):
            _sub_product(A[r0:r1, i0:i1], A[r0:r1, i1:], Ri.T, scratch, sign=1.0)
        # diagonal block, upper triangle: += U[i, i1:] U[i, i1:]^T (the lower one of its transpose)
        _sub_product(D.T, Ri, Ri.T, scratch, sign=1.0, lower_only=True)
    return A
