"""Array handling and dense linear algebra of the CPU backends (cpp and numba share them).

Both backends work on NumPy arrays and call the same SciPy LAPACK drivers, so this module is
their common half of the Ops contract (see ``fastrep/_kernels/__init__.py``).
"""

from __future__ import annotations

import contextlib

import numpy as np
import scipy.linalg

from . import _blas, _falkon, cholesky_with_jitter, symmetrize_lower

#: OpenBLAS kernels whose multithreaded float64 factorizations have crashed (SIGSEGV in potrf at
#: n = 16384 with 2 threads on an AVX-512 machine; fine at n = 8192, on one thread, or with
#: OPENBLAS_CORETYPE=Haswell; compare OpenBLAS issues #1413 and #2562). fastrep's own
#: factorizations avoid them by blocking (:mod:`fastrep._kernels._blas`); :func:`safe_threads`
#: is kept for the benchmarks' plain calls into other libraries.
FRAGILE_OPENBLAS = {"skylakex", "cooperlake", "sapphirerapids"}
#: float64 factorizations above this order run on one BLAS thread on those kernels
SAFE_THREADED_N = 8192


def namespace(*arrays):
    """NumPy, for NumPy arrays (``None`` and Python scalars are ignored); TypeError otherwise."""
    for a in arrays:
        if a is None or isinstance(a, (np.ndarray, np.generic, int, float, bool)):
            continue
        raise TypeError(
            f"this backend runs on NumPy arrays; got {type(a).__module__}.{type(a).__name__} "
            "(use backend='cupy' for CuPy arrays, backend='reference' for other array libraries)"
        )
    return np


def asarray(a, dtype=None):
    namespace(a)
    return np.asarray(a, dtype=dtype)


def to_host(a) -> np.ndarray:
    return np.asarray(a)


def safe_threads(dtype, n):
    """A context that runs a LAPACK factorization on one thread where OpenBLAS is known to crash.

    A segfault takes the user's process down with no message; half the speed on two cores does
    not. Applies only to float64, n > SAFE_THREADED_N, OpenBLAS running AVX-512 kernels.
    """
    if np.dtype(dtype) != np.float64 or n <= SAFE_THREADED_N:
        return contextlib.nullcontext()
    from threadpoolctl import threadpool_info, threadpool_limits

    fragile = any(
        i.get("internal_api") == "openblas" and str(i.get("architecture", "")).lower() in FRAGILE_OPENBLAS
        for i in threadpool_info()
    )
    return threadpool_limits(limits=1, user_api="blas") if fragile else contextlib.nullcontext()


def _zero_strict_lower(K, block: int = 512):
    """Zero the strict lower triangle of the C-ordered square K in place, a block of rows at a
    time: contiguous row segments, and one (block, block) temporary on the diagonal."""
    n = K.shape[0]
    for s in range(0, n, block):
        e = min(s + block, n)
        K[s:e, :s] = 0
        K[s:e, s:e] = np.triu(K[s:e, s:e])


def cholesky(A, *, jitter=0.0, escalate=True, overwrite_a=False, what="the matrix"):
    """Lower L (n, n) with L L^T = A + jitter_used I, by LAPACK potrf (:func:`_blas.potrf`,
    blocked above the order where OpenBLAS's threaded potrf crashes); see the contract.

    A: symmetric (n, n) float32/float64. With ``overwrite_a`` a C-contiguous A is factorized in
    its own memory (no n x n copy) and L is returned as a Fortran-ordered view of it. LAPACK
    writes L into the Fortran-lower (C-upper) triangle and leaves the C-lower triangle holding A,
    so a failed attempt is undone from that triangle, without a copy.
    """
    A = np.asarray(A)
    if not (overwrite_a and A.flags.c_contiguous):
        A = np.array(A, order="C", copy=True)
    n = A.shape[0]
    AF = A.T
    adiag = np.diagonal(A).copy()
    scale = float(np.mean(adiag)) if n else 1.0
    eps = float(np.finfo(A.dtype).eps)

    def factor(j):
        A.flat[:: n + 1] = adiag + j
        info = _blas.potrf(AF, lower=True)  # LAPACK's potrf, blocked above the crashing orders
        if info > 0:
            symmetrize_lower(np, A, block=512)  # undo the failed in-place factorization
            A.flat[:: n + 1] = adiag
            return None
        _zero_strict_lower(A)  # the C-lower triangle is the Fortran-upper one of L
        return AF

    return cholesky_with_jitter(factor, n, scale, eps, jitter, escalate=escalate, what=what)


def solve_triangular(L, B, *, lower=True, trans=False):
    return scipy.linalg.solve_triangular(L, B, lower=lower, trans=1 if trans else 0, check_finite=False)


def cho_solve(L, B):
    return scipy.linalg.cho_solve((L, True), B, check_finite=False)


def eigh(A):
    """Symmetric eigendecomposition (lower triangle), tuned for the sizes fastrep meets.

    Divide and conquer (LAPACK ?syevd) is the fastest driver up to a few thousand; above 4096
    'evr' needs far less workspace. Up to 4096 it runs in NumPy's LAPACK (``numpy.linalg.eigh``
    is ?syevd), not SciPy's: NumPy's wheels and SciPy's each bundle their own OpenBLAS with its
    own thread pool, and the Gram this factors was just made by NumPy's BLAS, whose idle threads
    spin for a while after each call, so SciPy's LAPACK threads shared the cores with them and
    ran slower after a NumPy GEMM than alone, where NumPy's did not (benchmarks/RESULTS_ONESTEP.md,
    "eigh's LAPACK and threads"). It runs on the BLAS threads the caller set: it used to drop to
    one thread below order 1024, but a BLAS thread limit is process-wide (threadpoolctl), so
    a fit in one thread changed the thread count of another thread's products mid-fit and
    concurrent fits differed in the last bits from serial ones; more threads measured as fast
    or faster at every order tried (same section).
    Above order SAFE_THREADED_N (8192) on OpenBLAS's AVX-512 kernels it is the one guarded call
    that runs on one BLAS thread (:func:`safe_threads`, float32 too): SciPy's threaded ?syevr
    died with SIGSEGV at order 16384, float64, and unlike the Cholesky and the products it
    cannot be assembled from smaller BLAS calls (the tridiagonal reduction is LAPACK's);
    one slow thread beats a killed process (benchmarks/RESULTS_KERNELS.md, "Which plain
    threaded calls crash").
    """
    m = A.shape[0]
    if m <= 4096:
        return np.linalg.eigh(A, UPLO="L")
    with safe_threads(np.float64, m):
        return scipy.linalg.eigh(A, lower=True, check_finite=False, driver="evr")


def nystrom_preconditioner(K, *, jitter, what="the centres' kernel matrix K_MM"):
    """Falkon's preconditioner in one M x M buffer, K's own (:class:`_falkon.PackedPreconditioner`)."""
    namespace(K)
    return _falkon.PackedPreconditioner(np.ascontiguousarray(K), jitter=jitter, what=what)


nystrom_preconditioner.matrices = _falkon.PackedPreconditioner.matrices
