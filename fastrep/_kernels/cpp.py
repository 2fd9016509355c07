"""The C++ backend: thin calls into the compiled module ``fastrep._ext``.

The heavy lifting is in ``csrc/include/fastrep/*.hpp``; this module only arranges
contiguous inputs of the right dtype and allocates outputs.
"""

from __future__ import annotations

import numpy as np

from .. import _ext
from .._validation import check_out
from . import _dense, _gram
from . import cpu_precision as _cpu_precision
from ._linalg import (  # noqa: F401 (the contract's array handling and LAPACK, shared with the other CPU backend)
    asarray,
    cho_solve,
    cholesky,
    eigh,
    namespace,
    nystrom_preconditioner,
    solve_triangular,
    to_host,
)

name = "cpp"


def precision(mode):
    """The dense products' precision: 'highest' only on the CPU."""
    return _cpu_precision(name, mode)


def hermite_features(Z, alphas, out=None):
    Z = np.ascontiguousarray(Z)
    shape = (Z.shape[0], alphas.shape[0])
    out = np.empty(shape, dtype=Z.dtype) if out is None else check_out(out, shape, Z.dtype, Z)
    _ext.hermite_features(Z, np.ascontiguousarray(alphas, dtype=np.int32), out)
    return out


# --- Algorithm 1: BLAS products around the fused C++ passes (see _dense.py) ------------
_driver = _dense.Driver(np, _ext.mask_scale, _ext.relu_bias)
onestep_gradient = _driver.onestep_gradient
relu_features = _driver.relu_features
feature_moments = _driver.feature_moments


def gaussian_block(seed, stream, start, n, d, dtype, out=None):
    """Rows start .. start+n-1 of the normal stream (seed, stream): see reference.gaussian_block."""
    out = np.empty((n, d), dtype=dtype) if out is None else check_out(out, (n, d), dtype)
    _ext.gaussian_block(int(seed), int(stream), int(start), out)
    return out


# --- NTK / NNGP Gram blocks: a BLAS product, then the fused pass of ntk.hpp (see _gram.py) -----
def _kernel_from_inner(G, q1, q2, inv_d, beta2, ntk):
    if q1 is None:  # symmetric: the C++ pass reads q from G's diagonal
        q1 = q2 = np.empty(0, dtype=G.dtype)
    _ext.kernel_from_inner(G, q1, q2, inv_d, beta2, ntk)


_gram_driver = _gram.GramDriver(np, _kernel_from_inner, _ext.kernel_from_inner_lower)
kernel_gram = _gram_driver.kernel_gram
kernel_matvec = _gram_driver.kernel_matvec
kernel_normal_matvec = _gram_driver.kernel_normal_matvec
