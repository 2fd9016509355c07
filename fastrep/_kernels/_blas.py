"""The one guarded place for the large symmetric products and factorizations of the CPU backends.

OpenBLAS's threaded SYRK and the LAPACK routines built on it crash with SIGSEGV at large orders
on its AVX-512 (SkylakeX) kernels (compare OpenBLAS issues #2562, #2821). Measured on Intel
Sapphire Rapids with 2 BLAS threads, each plain call alone in a child process (NumPy 2.4 with
OpenBLAS 0.3.31, SciPy 1.17 with OpenBLAS 0.3.30; benchmarks/RESULTS_KERNELS.md, "Which plain
threaded calls crash"): at order 16384 float64 ``A.T @ A`` (NumPy's SYRK, A 2048 x 16384),
``potrf`` and ``eigh`` die; float32 ``A.T @ A``, ``potrf`` and ``lauum`` and float64 ``lauum``
run; at order 12288 everything ran. One thread avoids the crash, but only through a
process-wide thread limit (threadpoolctl), and a limit set by one fit changes the products of
another fit running in another thread.

So above :data:`GUARD_ORDER` every call not measured to run (:data:`PLAIN_SAFE`) is assembled
here from BLAS calls no dimension of which exceeds GUARD_ORDER, and whose SYRK/POTRF/LAUUM are
of order at most :data:`TILE`, on whatever thread count the caller has:

``gram_tn(A, G, accumulate)``   lower triangle of G (=/+=) A^T A, from NumPy GEMM tiles (as fast
                                as NumPy's SYRK, the same bits whatever the thread count);
``potrf(AF, lower)``            in-place Cholesky of the F-ordered AF's lower (L L^T) or upper
                                (U^T U) triangle, LAPACK's convention; returns LAPACK's info;
                                blocked: right-looking, POTRF/TRSM/SYRK/GEMM on TILE blocks;
``lauum(AF, upper)``            U U^T (upper) or L^T L (lower) in place of the triangle; blocked:
                                LAPACK's own ?lauum loop on TILE blocks.

The blocked factorizations call SciPy's BLAS and LAPACK in place on blocks of the caller's
array (its C entry points, through ctypes, with the array's leading dimension), as LAPACK's own
blocked code does: no panel is copied, and every call goes to one OpenBLAS and one thread pool.
Up to GUARD_ORDER (and where PLAIN_SAFE allows) the plain LAPACK/BLAS call runs. The routines
touch only the triangle they are asked for, so the other triangle can hold a second matrix (the
Nystrom preconditioner's packed layout). ``eigh`` cannot be blocked this way: see
:func:`fastrep._kernels._linalg.eigh`.
"""

from __future__ import annotations

import ctypes

import numpy as np
import scipy.linalg.cython_blas as cython_blas
import scipy.linalg.cython_lapack as cython_lapack
import scipy.linalg.lapack as lapack

__all__ = ["GUARD_ORDER", "TILE", "gram_tn", "lauum", "potrf"]

#: Orders up to this run as one plain BLAS/LAPACK call (12288 measured safe, 16384 not), and no
#: BLAS call of the blocked routines has a dimension above it.
GUARD_ORDER = 8192
#: The block size of the blocked routines: the order of their SYRK, POTRF and LAUUM calls.
TILE = 2048
#: rows per strip when only one triangle of a tile is updated
STRIP = 256
#: (routine_triangle, dtype) -> an order up to which the plain call runs above GUARD_ORDER: the
#: plain threaded call was seen to run there on the crashing kernels (benchmarks/RESULTS_KERNELS.md,
#: "Which plain threaded calls crash"). Blocked against plain measured 0.70-1.53x in two single
#: runs under different loads, no consistent winner, so the safe plain call is taken. Upper
#: potrf and lower lauum were not probed and stay blocked.
PLAIN_SAFE: dict = {("potrf_lower", "float32"): 16384, ("lauum_upper", "float32"): 16384,
                    ("lauum_upper", "float64"): 16384}


def _plain_is_safe(routine, dtype, n):
    return n <= PLAIN_SAFE.get((routine, np.dtype(dtype).name), 0)


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


# --- in-place BLAS/LAPACK on sub-blocks ---------------------------------------------------------
#
# SciPy's f2py wrappers copy any operand that is not contiguous, so a blocked factorization
# written with them copies every panel (and ran 2.5-4.4x the plain call). SciPy also exports
# its BLAS and LAPACK as C function pointers (``scipy.linalg.cython_blas``/``cython_lapack``,
# LP64, one OpenBLAS with one thread pool); called through ctypes with a leading dimension they
# update the blocks of the caller's array in place, as LAPACK's own blocked code does.

_CAPI_NAMES = {"gemm": cython_blas, "syrk": cython_blas, "trsm": cython_blas, "trmm": cython_blas,
               "potrf": cython_lapack, "lauum": cython_lapack}
_PINT = ctypes.POINTER(ctypes.c_int)
_CHAR = ctypes.c_char_p
_PTR = ctypes.c_void_p


def _capsule_pointer(capsule):
    api = ctypes.pythonapi
    api.PyCapsule_GetName.restype = ctypes.c_char_p
    api.PyCapsule_GetName.argtypes = [ctypes.py_object]
    api.PyCapsule_GetPointer.restype = ctypes.c_void_p
    api.PyCapsule_GetPointer.argtypes = [ctypes.py_object, ctypes.c_char_p]
    return api.PyCapsule_GetPointer(capsule, api.PyCapsule_GetName(capsule))


class _Routines:
    """SciPy's BLAS/LAPACK of one dtype as ctypes functions on (array, row, column) blocks of a
    Fortran-ordered square array (its leading dimension is its order)."""

    _cache: dict = {}

    def __new__(cls, dtype):
        dtype = np.dtype(dtype)
        if dtype not in cls._cache:
            self = super().__new__(cls)
            self._init(dtype)
            cls._cache[dtype] = self
        return cls._cache[dtype]

    def _init(self, dtype):
        if dtype == np.float32:
            prefix, self.scalar = "s", ctypes.c_float
        elif dtype == np.float64:
            prefix, self.scalar = "d", ctypes.c_double
        else:
            raise TypeError(f"the guarded routines need float32 or float64 arrays; got {dtype}")
        S = ctypes.POINTER(self.scalar)
        sigs = {
            "gemm": [_CHAR, _CHAR, _PINT, _PINT, _PINT, S, _PTR, _PINT, _PTR, _PINT, S, _PTR, _PINT],
            "syrk": [_CHAR, _CHAR, _PINT, _PINT, S, _PTR, _PINT, S, _PTR, _PINT],
            "trsm": [_CHAR, _CHAR, _CHAR, _CHAR, _PINT, _PINT, S, _PTR, _PINT, _PTR, _PINT],
            "trmm": [_CHAR, _CHAR, _CHAR, _CHAR, _PINT, _PINT, S, _PTR, _PINT, _PTR, _PINT],
            "potrf": [_CHAR, _PINT, _PTR, _PINT, _PINT],
            "lauum": [_CHAR, _PINT, _PTR, _PINT, _PINT],
        }
        for name, module in _CAPI_NAMES.items():
            ptr = _capsule_pointer(module.__pyx_capi__[prefix + name])
            setattr(self, "_" + name, ctypes.CFUNCTYPE(None, *sigs[name])(ptr))


def _i(v):
    return ctypes.byref(ctypes.c_int(int(v)))


class _Blocks:
    """The blocks of one Fortran-ordered square array A for the routines of its dtype."""

    def __init__(self, A):
        if not (A.flags.f_contiguous and A.ndim == 2 and A.shape[0] == A.shape[1]):
            raise ValueError("the blocked routines need a square Fortran-ordered array")
        self.r = _Routines(A.dtype)
        self.A, self.n = A, A.shape[0]
        self.base, self.size = A.ctypes.data, A.itemsize
        self.ld = _i(max(self.n, 1))

    def at(self, i, j):
        return ctypes.c_void_p(self.base + (int(i) + int(j) * self.n) * self.size)

    def _s(self, v):
        return ctypes.byref(self.r.scalar(v))

    def gemm(self, ta, tb, m, n, k, alpha, a, b, beta, c):
        """C := alpha op(A) op(B) + beta C on the blocks at a, b, c ((row, column) pairs); every
        dimension cut to at most GUARD_ORDER (beta applied once)."""
        cap = GUARD_ORDER
        for k0 in range(0, k, cap):
            kb = min(cap, k - k0)
            bet = beta if k0 == 0 else 1.0
            for i0 in range(0, m, cap):
                mb = min(cap, m - i0)
                for j0 in range(0, n, cap):
                    nb = min(cap, n - j0)
                    pa = (a[0] + i0, a[1] + k0) if ta == b"N" else (a[0] + k0, a[1] + i0)
                    pb = (b[0] + k0, b[1] + j0) if tb == b"N" else (b[0] + j0, b[1] + k0)
                    self.r._gemm(ta, tb, _i(mb), _i(nb), _i(kb), self._s(alpha), self.at(*pa), self.ld,
                                 self.at(*pb), self.ld, self._s(bet), self.at(c[0] + i0, c[1] + j0), self.ld)

    def syrk(self, uplo, trans, n, k, alpha, a, beta, c):
        """C := alpha op(A) op(A)^T + beta C (op(A) n x k), k cut to at most TILE."""
        for k0 in range(0, k, TILE):
            kb = min(TILE, k - k0)
            pa = (a[0], a[1] + k0) if trans == b"N" else (a[0] + k0, a[1])
            self.r._syrk(uplo, trans, _i(n), _i(kb), self._s(alpha), self.at(*pa), self.ld,
                         self._s(beta if k0 == 0 else 1.0), self.at(*c), self.ld)

    def _tri(self, fn, side, uplo, trans, m, n, t, b):
        """B := op(T)^-1 B / op(T) B (side b"L") or B op(T)^-1 / B op(T) (b"R") on the block at b,
        its free dimension cut to at most GUARD_ORDER."""
        cap = GUARD_ORDER
        if side == b"R":
            for i0 in range(0, m, cap):
                fn(side, uplo, trans, b"N", _i(min(cap, m - i0)), _i(n), self._s(1.0), self.at(*t), self.ld,
                   self.at(b[0] + i0, b[1]), self.ld)
        else:
            for j0 in range(0, n, cap):
                fn(side, uplo, trans, b"N", _i(m), _i(min(cap, n - j0)), self._s(1.0), self.at(*t), self.ld,
                   self.at(b[0], b[1] + j0), self.ld)

    def trsm(self, *args):
        self._tri(self.r._trsm, *args)

    def trmm(self, *args):
        self._tri(self.r._trmm, *args)

    def potrf(self, uplo, n, a):
        info = ctypes.c_int(0)
        self.r._potrf(uplo, _i(n), self.at(*a), self.ld, ctypes.byref(info))
        return info.value

    def lauum(self, uplo, n, a):
        info = ctypes.c_int(0)
        self.r._lauum(uplo, _i(n), self.at(*a), self.ld, ctypes.byref(info))
        return info.value


def potrf(AF, lower=True):
    """In-place Cholesky of the Fortran-ordered square AF: its lower triangle becomes L with
    A = L L^T (``lower``), or its upper one U with A = U^T U; the other strict triangle is not
    touched. Returns LAPACK's info (0: done; k > 0: the leading minor of order k is not positive
    definite, and the triangle is partly overwritten)."""
    n = AF.shape[0]
    if not AF.flags.f_contiguous:
        raise ValueError("potrf needs a Fortran-ordered array")
    if n <= GUARD_ORDER or _plain_is_safe("potrf_lower" if lower else "potrf_upper", AF.dtype, n):
        c, info = _lapack("potrf", AF)(AF, lower=int(lower), clean=0, overwrite_a=1)
        if n and not np.may_share_memory(c, AF):
            raise RuntimeError("LAPACK copied the matrix instead of factorizing it in place")
        if info < 0:
            raise RuntimeError(f"LAPACK potrf rejected argument {-info}")
        return int(info)
    return _potrf_blocked(_Blocks(AF), lower)


def _potrf_blocked(B, lower):
    """Right-looking blocked Cholesky, TILE columns (rows) at a time: POTRF of the diagonal block,
    TRSM of the panel below (right of) it, then the trailing triangle's update: SYRK on each
    diagonal block and one GEMM per block column (row), in place."""
    n, nb = B.n, TILE
    uplo = b"L" if lower else b"U"
    for k0 in range(0, n, nb):
        kb = min(nb, n - k0)
        k1 = k0 + kb
        info = B.potrf(uplo, kb, (k0, k0))
        if info < 0:
            raise RuntimeError(f"LAPACK potrf rejected argument {-info}")
        if info > 0:
            return k0 + info
        if k1 == n:
            break
        m = n - k1
        if lower:  # L21 := A21 L11^-T
            B.trsm(b"R", b"L", b"T", m, kb, (k0, k0), (k1, k0))
        else:  # U12 := U11^-T A12
            B.trsm(b"L", b"U", b"T", kb, m, (k0, k0), (k0, k1))
        for j0 in range(k1, n, nb):
            jb = min(nb, n - j0)
            j1 = j0 + jb
            if lower:  # A22 -= L21 L21^T, lower triangle
                B.syrk(b"L", b"N", jb, kb, -1.0, (j0, k0), 1.0, (j0, j0))
                if j1 < n:
                    B.gemm(b"N", b"T", n - j1, jb, kb, -1.0, (j1, k0), (j0, k0), 1.0, (j1, j0))
            else:  # A22 -= U12^T U12, upper triangle
                B.syrk(b"U", b"T", jb, kb, -1.0, (k0, j0), 1.0, (j0, j0))
                if j1 < n:
                    B.gemm(b"T", b"N", jb, n - j1, kb, -1.0, (k0, j0), (k0, j1), 1.0, (j0, j1))
    return 0


def lauum(AF, upper=True):
    """In place of AF's upper triangle U: U U^T (``upper``), or of its lower one L: L^T L, as
    LAPACK's ?lauum; the other strict triangle is not touched. AF Fortran-ordered, square."""
    n = AF.shape[0]
    if not AF.flags.f_contiguous:
        raise ValueError("lauum needs a Fortran-ordered array")
    if n <= GUARD_ORDER or _plain_is_safe("lauum_upper" if upper else "lauum_lower", AF.dtype, n):
        c, info = _lapack("lauum", AF)(AF, lower=int(not upper), overwrite_c=1)
        if n and not np.may_share_memory(c, AF):
            raise RuntimeError("LAPACK copied the matrix instead of working in place")
        if info != 0:
            raise RuntimeError(f"LAPACK lauum returned info {info}")
        return AF
    _lauum_blocked(_Blocks(AF), upper)
    return AF


def _lauum_blocked(B, upper):
    """LAPACK's blocked ?lauum, TILE at a time, in place. Upper, block column i:
    U[:i0, i] := U[:i0, i] U_ii^T + U[:i0, i1:] U[i, i1:]^T and U_ii := U_ii U_ii^T +
    U[i, i1:] U[i, i1:]^T (the lower case is its transpose); left to right, each step reads
    only blocks not yet overwritten."""
    n, nb = B.n, TILE
    for i0 in range(0, n, nb):
        ib = min(nb, n - i0)
        i1 = i0 + ib
        if upper:
            if i0 > 0:
                B.trmm(b"R", b"U", b"T", i0, ib, (i0, i0), (0, i0))
            info = B.lauum(b"U", ib, (i0, i0))
        else:
            if i0 > 0:
                B.trmm(b"L", b"L", b"T", ib, i0, (i0, i0), (i0, 0))
            info = B.lauum(b"L", ib, (i0, i0))
        if info != 0:
            raise RuntimeError(f"LAPACK lauum returned info {info}")
        if i1 == n:
            continue
        if upper:
            if i0 > 0:
                B.gemm(b"N", b"T", i0, ib, n - i1, 1.0, (0, i1), (i0, i1), 1.0, (0, i0))
            B.syrk(b"U", b"N", ib, n - i1, 1.0, (i0, i1), 1.0, (i0, i0))
        else:
            if i0 > 0:
                B.gemm(b"T", b"N", ib, i0, n - i1, 1.0, (i1, i0), (i1, 0), 1.0, (i0, 0))
            B.syrk(b"L", b"T", ib, n - i1, 1.0, (i1, i0), 1.0, (i0, i0))
