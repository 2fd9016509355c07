"""The Numba backend: ``@njit(parallel=True, cache=True)`` kernels.

Kernels are decorated once at module level, never built inside a function (that would
recompile on every call). ``cache=True`` writes to ``__pycache__`` or, when that is
read-only, to ``NUMBA_CACHE_DIR``.
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np

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

name = "numba"


def precision(mode):
    """The dense products' precision: 'highest' only on the CPU."""
    return _cpu_precision(name, mode)


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
    shape = (Z.shape[0], alphas.shape[0])
    out = np.empty(shape, dtype=Z.dtype) if out is None else check_out(out, shape, Z.dtype, Z)
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


# Philox4x32-10 on uint64 scalars holding 32-bit words; every constant is a np.uint64 so that
# numba never promotes the mixed-sign arithmetic to float64.
_PHILOX_M0, _PHILOX_M1 = np.uint64(0xD2511F53), np.uint64(0xCD9E8D57)
_PHILOX_W0, _PHILOX_W1 = np.uint64(0x9E3779B9), np.uint64(0xBB67AE85)
_MASK32 = np.uint64(0xFFFFFFFF)
_SHIFT32 = np.uint64(32)
_TWO_M32 = 2.0**-32


@nb.njit(parallel=True, cache=True, fastmath=False)
def _gaussian_block(key0, key1, stream, start, out):
    n, d = out.shape
    G = (d + 3) // 4
    for i in nb.prange(n):
        row = start + np.uint64(i)
        for g in range(G):
            x0 = row & _MASK32
            x1 = row >> _SHIFT32
            x2 = np.uint64(g)
            x3 = stream
            k0 = key0
            k1 = key1
            for rnd in range(10):
                if rnd > 0:
                    k0 = (k0 + _PHILOX_W0) & _MASK32
                    k1 = (k1 + _PHILOX_W1) & _MASK32
                p0 = _PHILOX_M0 * x0
                p1 = _PHILOX_M1 * x2
                n0 = (p1 >> _SHIFT32) ^ x1 ^ k0
                n2 = (p0 >> _SHIFT32) ^ x3 ^ k1
                x0 = n0
                x1 = p1 & _MASK32
                x2 = n2
                x3 = p0 & _MASK32
            r01 = math.sqrt(-2.0 * math.log((np.float64(x0) + 0.5) * _TWO_M32))
            r23 = math.sqrt(-2.0 * math.log((np.float64(x2) + 0.5) * _TWO_M32))
            t1 = 2.0 * math.pi * ((np.float64(x1) + 0.5) * _TWO_M32)
            t3 = 2.0 * math.pi * ((np.float64(x3) + 0.5) * _TWO_M32)
            col = 4 * g
            out[i, col] = r01 * math.cos(t1)
            if col + 1 < d:
                out[i, col + 1] = r01 * math.sin(t1)
            if col + 2 < d:
                out[i, col + 2] = r23 * math.cos(t3)
            if col + 3 < d:
                out[i, col + 3] = r23 * math.sin(t3)
    return out


def gaussian_block(seed, stream, start, n, d, dtype, out=None):
    """Rows start .. start+n-1 of the normal stream (seed, stream): see reference.gaussian_block."""
    out = np.empty((n, d), dtype=dtype) if out is None else check_out(out, (n, d), dtype)
    return _gaussian_block(np.uint64(seed & 0xFFFFFFFF), np.uint64(seed >> 32), np.uint64(stream),
                           np.uint64(start), out)


# --- NTK / NNGP Gram blocks: a BLAS product, then this fused pass (see _gram.py) --------------
@nb.njit(cache=True, fastmath=False, inline="always")
def _kernel_entry(g, qi, qj, inv_d, beta2, one, w, inv_2pi):
    c = g * inv_d + beta2
    s = math.sqrt(qi * qj)
    u = c / s if s > one - one else one - one
    u = min(max(u, -one), one)
    a = abs(u)
    return (s * math.sqrt((one - a) * (one + a)) + w * math.acos(-u) * c) * inv_2pi


@nb.njit(parallel=True, cache=True, fastmath=False)
def _kernel_from_inner_nb(G, q1, q2, k):
    # k holds the constants in G's dtype (a float literal here would promote float32 to float64):
    # inv_d, beta^2, 1, weight of the c kappa_0 term (2 for the NTK, 1 for the NNGP), 1/(2 pi)
    inv_d, beta2, one, w, inv_2pi = k[0], k[1], k[2], k[3], k[4]
    n1, n2 = G.shape
    if q1.shape[0] == 0:  # symmetric: q from the diagonal, with the arithmetic used for c below
        q1 = np.empty(n1, dtype=G.dtype)
        for i in range(n1):
            q1[i] = G[i, i] * inv_d + beta2
        q2 = q1
    for i in nb.prange(n1):
        qi = q1[i]
        for j in range(n2):
            G[i, j] = _kernel_entry(G[i, j], qi, q2[j], inv_d, beta2, one, w, inv_2pi)


@nb.njit(parallel=True, cache=True, fastmath=False)
def _kernel_from_inner_lower_nb(G, k):
    # G's lower triangle (diagonal included) holds X X^T; each 64-row block of the lower triangle
    # becomes K and is copied to its mirror, so K is exactly symmetric (see ntk.hpp)
    inv_d, beta2, one, w, inv_2pi = k[0], k[1], k[2], k[3], k[4]
    n = G.shape[0]
    q = np.empty(n, dtype=G.dtype)
    for i in range(n):
        q[i] = G[i, i] * inv_d + beta2
    nb_ = (n + 63) // 64
    for t in nb.prange(nb_):
        i0 = (nb_ - 1 - t) * 64  # the largest row blocks first
        i1 = min(i0 + 64, n)
        for i in range(i0, i1):
            qi = q[i]
            for j in range(i + 1):
                G[i, j] = _kernel_entry(G[i, j], qi, q[j], inv_d, beta2, one, w, inv_2pi)
        for j in range(i1):
            for i in range(max(i0, j + 1), i1):
                G[j, i] = G[i, j]


def _constants(dtype, inv_d, beta2, ntk):
    return np.array([inv_d, beta2, 1.0, 2.0 if ntk else 1.0, 1.0 / (2.0 * np.pi)], dtype=dtype)


def _kernel_from_inner(G, q1, q2, inv_d, beta2, ntk):
    if q1 is None:
        q1 = q2 = np.empty(0, dtype=G.dtype)
    _kernel_from_inner_nb(G, q1, q2, _constants(G.dtype, inv_d, beta2, ntk))


def _kernel_from_inner_lower(G, inv_d, beta2, ntk):
    _kernel_from_inner_lower_nb(G, _constants(G.dtype, inv_d, beta2, ntk))


_gram_driver = _gram.GramDriver(np, _kernel_from_inner, _kernel_from_inner_lower)
kernel_gram = _gram_driver.kernel_gram
kernel_matvec = _gram_driver.kernel_matvec
kernel_normal_matvec = _gram_driver.kernel_normal_matvec
