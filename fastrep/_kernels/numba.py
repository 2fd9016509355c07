"""The Numba backend: ``@njit(parallel=True, cache=True)`` kernels.

Kernels are decorated once at module level, never built inside a function (that would
recompile on every call). ``cache=True`` writes to ``__pycache__`` or, when that is
read-only, to ``NUMBA_CACHE_DIR``.
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np

from . import _dense

name = "numba"


@nb.njit(parallel=True, cache=True, fastmath=False)
def _hermite_features(Z, alphas, out):
    n, r = Z.shape
    K = alphas.shape[0]
    p = 0
    for a in range(K):
        for j in range(r):
            p = max(p, alphas[a, j])
    sk = np.empty(p + 1, dtype=Z.dtype)
    isk = np.empty(p + 1, dtype=Z.dtype)
    for k in range(p + 1):
        sk[k] = math.sqrt(k)
        isk[k] = 1.0 / math.sqrt(k + 1)
    for i in nb.prange(n):
        tab = np.empty((r, p + 1), dtype=Z.dtype)
        for j in range(r):
            z = Z[i, j]
            tab[j, 0] = 1.0
            if p >= 1:
                tab[j, 1] = z
            for k in range(1, p):
                tab[j, k + 1] = (z * tab[j, k] - sk[k] * tab[j, k - 1]) * isk[k]
        for a in range(K):
            v = tab[0, alphas[a, 0]]
            for j in range(1, r):
                v *= tab[j, alphas[a, j]]
            out[i, a] = v
    return out


def hermite_features(Z, alphas, out=None):
    Z = np.ascontiguousarray(Z)
    if out is None:
        out = np.empty((Z.shape[0], alphas.shape[0]), dtype=Z.dtype)
    return _hermite_features(Z, np.ascontiguousarray(alphas, dtype=np.int32), out)


# --- Algorithm 1: fused passes; BLAS products in _dense.Driver ---------------------------


@nb.njit(parallel=True, cache=True)
def _mask_scale(P, b, r):
    n, m = P.shape
    for i in nb.prange(n):
        ri = r[i]
        for j in range(m):
            P[i, j] = ri if P[i, j] + b[j] > 0 else 0.0


@nb.njit(parallel=True, cache=True)
def _relu_bias(P, b, paired, out):
    n, h = P.shape
    for i in nb.prange(n):
        for j in range(h):
            v = P[i, j] + b[j]
            out[i, j] = v if v > 0 else 0.0
        if paired:
            for j in range(h):
                v = b[h + j] - P[i, j]
                out[i, h + j] = v if v > 0 else 0.0


_driver = _dense.Driver(np, _mask_scale, _relu_bias)
onestep_gradient = _driver.onestep_gradient
relu_features = _driver.relu_features
feature_moments = _driver.feature_moments
