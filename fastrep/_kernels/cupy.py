"""The CuPy backend: CUDA kernels for CuPy arrays. Imported only when CuPy and a device work.

Dense algebra goes to cuBLAS/cuSOLVER through CuPy; the kernels do the fused elementwise
work. Their sources are fastrep/_kernels/cuda/*.cu, built on the C++ core's scalar formulas;
``_cuda`` says how they are compiled (for float and double, on first use; CuPy caches the
binaries on disk) and launched.
"""

from __future__ import annotations

import contextlib
import functools

import cupy as cp
import numpy as np

from . import _cuda

name = "cupy"


@functools.lru_cache(maxsize=None)
def _raw(fn: str, dtype_name: str) -> cp.RawKernel:
    """Kernel ``fn`` of fastrep/_kernels/cuda/ for real_t = ``dtype_name``."""
    return cp.RawKernel(_cuda.source(_cuda.KERNELS[fn], dtype_name), fn, options=_cuda.options())


def _launch(fn, dtype_name, total, args):
    blocks = _cuda.blocks(total)
    if blocks:
        _raw(fn, dtype_name)((blocks,), (_cuda.THREADS,), args)


_kernels = _cuda.Kernels(cp, _launch)
hermite_features = _kernels.hermite_features
gaussian_block = _kernels.gaussian_block


def _syrk_gpu(Phi, G):
    # A full GEMM rather than cupy.cublas.syrk: SYRK's triangle convention under C order could
    # not be verified on a device yet, and a GEMM fills both triangles whatever it is.
    G += Phi.T @ Phi
    return G


from . import _dense, _gram  # noqa: E402

_driver = _dense.Driver(cp, _kernels.mask_scale, _kernels.relu_bias, syrk=_syrk_gpu)
onestep_gradient = _driver.onestep_gradient
relu_features = _driver.relu_features
feature_moments = _driver.feature_moments


_gram_driver = _gram.GramDriver(cp, _kernels.kernel_from_inner)
kernel_gram = _gram_driver.kernel_gram
kernel_matvec = _gram_driver.kernel_matvec
kernel_normal_matvec = _gram_driver.kernel_normal_matvec


@contextlib.contextmanager
def tf32():
    """Let cuBLAS run float32 products on TF32 tensor cores inside the block (opt-in precision)."""
    from cupy._core import _routines_linalg as _linalg

    old = _linalg.get_compute_type(np.float32)
    _linalg.set_compute_type(np.float32, _linalg.COMPUTE_TYPE_TF32)
    try:
        yield
    finally:
        _linalg.set_compute_type(np.float32, old)


# --- array handling (the Ops contract) ----------------------------------------------------------
def namespace(*arrays):
    """CuPy (through array-api-compat), for CuPy arrays; TypeError for any other array."""
    for a in arrays:
        if a is None or isinstance(a, (int, float, bool)) or isinstance(a, cp.ndarray):
            continue
        raise TypeError(
            f"backend='cupy' runs on CuPy arrays; got {type(a).__module__}.{type(a).__name__} "
            "(pass cupy.asarray(x): the data stays on the device)"
        )
    import array_api_compat.cupy as xp

    return xp


def asarray(a, dtype=None):
    """A CuPy array: host arrays are copied to the device."""
    return cp.asarray(a, dtype=dtype)


def to_host(a) -> np.ndarray:
    return cp.asnumpy(a)


def precision(mode):
    if mode == "highest":
        return contextlib.nullcontext()
    if mode == "tf32":
        return tf32()
    raise ValueError(f"precision must be 'highest' or 'tf32'; got {mode!r}")


# --- dense linear algebra: cuSOLVER / cuBLAS through CuPy ---------------------------------------
def cholesky(A, *, jitter=0.0, escalate=True, overwrite_a=False, what="the matrix"):
    """Lower L with L L^T = A + jitter_used I by cuSOLVER potrf; see the contract.

    cuSOLVER reports a failed factorization through ``info``, which CuPy turns into NaN unless
    ``cupyx.errstate(linalg='raise')`` is set: both are checked, so failure is never silent.
    """
    import cupyx

    from . import cholesky_with_jitter

    n = A.shape[0]
    if not overwrite_a:
        A = A.copy()
    idx = cp.arange(n)
    adiag = A[idx, idx].copy()  # the jitter goes onto A's own diagonal: one n x n copy (L), not two
    scale = float(adiag.mean()) if n else 1.0
    eps = float(np.finfo(A.dtype).eps)

    def factor(j):
        A[idx, idx] = adiag + A.dtype.type(j)
        try:
            with cupyx.errstate(linalg="raise"):
                L = cp.linalg.cholesky(A)
        except np.linalg.LinAlgError:
            return None
        return L if bool(cp.isfinite(cp.diagonal(L)).all()) else None

    return cholesky_with_jitter(factor, n, scale, eps, jitter, escalate=escalate, what=what)


def solve_triangular(L, B, *, lower=True, trans=False):
    from cupyx.scipy.linalg import solve_triangular as _st

    return _st(L, B, lower=lower, trans=1 if trans else 0)


def cho_solve(L, B):
    return solve_triangular(L, solve_triangular(L, B), trans=True)


def nystrom_preconditioner(K, *, jitter, what="the centres' kernel matrix K_MM"):
    """Falkon's preconditioner as two M x M device arrays (:class:`_falkon.TwoFactorPreconditioner`)."""
    import sys

    from ._falkon import TwoFactorPreconditioner

    return TwoFactorPreconditioner(cp, sys.modules[__name__], K, jitter=jitter, what=what)


nystrom_preconditioner.matrices = 2


def eigh(A):
    """cuSOLVER syevd on the lower triangle; the (m, m) matrix never crosses PCIe."""
    return cp.linalg.eigh(A, UPLO="L")
