"""The specification: float64 arithmetic written for clarity, not speed, on any array library.

Every other backend (cpp, numba, cupy) is tested against these functions. The code uses only
the array API standard, with the namespace taken from the inputs
(``array_api_compat.array_namespace``), so the same file runs on NumPy, on CuPy and on
``array_api_strict``. Inputs of any float dtype are computed in float64; results are cast
back to the input dtype, so that the reference obeys the same "float32 stays float32"
contract as the others. ``gaussian_block`` takes no array and returns NumPy.
"""

from __future__ import annotations

import math

import array_api_compat
import numpy as np

from .._arrays import to_host  # noqa: F401 (a contract name: the one move to the host)
from .._validation import check_out as _check_out
from . import cholesky_with_jitter as _cholesky_with_jitter
from . import cpu_precision as _cpu_precision

name = "reference"


# --- array handling ------------------------------------------------------------------------


def namespace(*arrays):
    """The (array-api-compat) namespace of the arrays; NumPy's when none is an array.

    ``None`` and Python scalars are ignored; arrays of two libraries raise ``TypeError``.
    """
    arrays = [a for a in arrays if a is not None and array_api_compat.is_array_api_obj(a)]
    if not arrays:
        return array_api_compat.array_namespace(np.empty(0))
    return array_api_compat.array_namespace(*arrays)


def asarray(a, dtype=None):
    return namespace(a).asarray(a, dtype=dtype)


def precision(mode):
    return _cpu_precision(name, mode)


def _f64(x):
    xp = namespace(x)
    return xp.astype(x, xp.float64)


# --- dense linear algebra: the array API's linalg extension ----------------------------------


def cholesky(A, *, jitter=0.0, escalate=True, overwrite_a=False, what="the matrix"):
    """Lower L with L L^T = A + jitter_used I (``xp.linalg.cholesky``); see the contract.

    A failure is an exception or a non-finite L (CuPy reports failure by NaN); ``overwrite_a``
    is accepted and ignored.
    """
    xp = namespace(A)
    n = A.shape[0]
    eye = xp.eye(n, dtype=A.dtype)
    scale = float(xp.mean(xp.linalg.diagonal(A))) if n else 1.0
    eps = float(xp.finfo(A.dtype).eps)

    def factor(j):
        try:
            L = xp.linalg.cholesky(A + j * eye)
        except np.linalg.LinAlgError:
            return None
        return L if bool(xp.all(xp.isfinite(L))) else None

    return _cholesky_with_jitter(factor, n, scale, eps, jitter, escalate=escalate, what=what)


def solve_triangular(L, B, *, lower=True, trans=False):
    """L^-1 B (or L^-T B): the array API has no triangular solve, so a general one serves."""
    xp = namespace(L, B)
    T = L if lower else L.T
    T = xp.tril(T)
    return xp.linalg.solve(T.T if trans else T, B)


def cho_solve(L, B):
    return solve_triangular(L, solve_triangular(L, B), trans=True)


def nystrom_preconditioner(K, *, jitter, what="the centres' kernel matrix K_MM"):
    """Falkon's preconditioner as two M x M arrays (:class:`_falkon.TwoFactorPreconditioner`)."""
    import sys

    from ._falkon import TwoFactorPreconditioner

    return TwoFactorPreconditioner(namespace(K), sys.modules[__name__], K, jitter=jitter, what=what)


nystrom_preconditioner.matrices = 2


def eigh(A):
    xp = namespace(A)
    A = xp.tril(A) + xp.tril(A, k=-1).T  # the lower triangle, like the other backends
    w, V = xp.linalg.eigh(A)
    return w, V


# --- Hermite features ----------------------------------------------------------------------


def hermite_table(z, p: int):
    """(p+1, *z.shape) float64 table of h_k(z) = He_k(z)/sqrt(k!), k = 0..p.

    Uses h_{k+1} = (z h_k - sqrt(k) h_{k-1}) / sqrt(k+1): no monomials, no factorials.
    """
    z = asarray(z)
    xp = namespace(z)
    z = xp.astype(z, xp.float64)
    table = [xp.ones_like(z), z]
    for k in range(1, p):
        table.append((z * table[k] - math.sqrt(k) * table[k - 1]) / math.sqrt(k + 1))
    return xp.stack(table[: p + 1])


def hermite_features(Z, alphas, out=None):
    xp = namespace(Z)
    Z64 = _f64(Z)
    alphas = np.asarray(alphas)  # (K, r) small integers on the host: they index Python loops
    p = int(alphas.max()) if alphas.size else 0
    tables = [hermite_table(Z64[:, j], p) for j in range(Z64.shape[1])]
    cols = []
    for alpha in alphas:
        col = xp.ones(Z64.shape[0], dtype=xp.float64)
        for j, k in enumerate(alpha):
            col = col * tables[j][int(k), ...]
        cols.append(col)
    res = xp.stack(cols, axis=1) if cols else xp.ones((Z64.shape[0], 0), dtype=xp.float64)
    if out is None:
        return xp.astype(res, Z.dtype)
    out[...] = xp.astype(res, out.dtype)
    return out


def _add_into(acc, G):
    """acc + G computed in float64, stored into acc (in place, acc's dtype)."""
    xp = namespace(acc)
    acc[...] = xp.astype(xp.astype(acc, xp.float64) + G, acc.dtype)
    return acc


# --- Algorithm 1 (the paper) ----------------------------------------------------


def onestep_gradient(X, W, b, r, acc=None):
    """sum_i r_i 1[w_j . x_i + b_j > 0] x_i for every row w_j of W.

    X (n, d), W (k, d), b (k,), r (n,) -> (k, d); added into ``acc`` when given. The network
    turns this into the gradient -(2/n) a_j (...) of the squared loss at a zero network.
    """
    xp = namespace(X, W, b, r)
    X64 = _f64(X)
    active = (X64 @ _f64(W).T + _f64(b)) > 0  # (n, k)
    G = (xp.astype(active, xp.float64) * _f64(r)[:, None]).T @ X64
    if acc is None:
        return xp.astype(G, X.dtype)
    return _add_into(acc, G)


def relu_features(X, W, b, paired, out=None):
    """Phi = relu(X W^T + b), (n, m).

    With ``paired``, W holds only the first half (m/2, d) of a weight matrix whose second half
    is its negation (the state after one step from a symmetric initialization); b is (m,).
    """
    xp = namespace(X, W, b)
    P = _f64(X) @ _f64(W).T
    b = _f64(b)
    zero = xp.zeros((), dtype=xp.float64)
    if paired:
        h = P.shape[1]
        Phi = xp.concat([xp.maximum(P + b[:h], zero), xp.maximum(-P + b[h:], zero)], axis=1)
    else:
        Phi = xp.maximum(P + b, zero)
    if out is None:
        return xp.astype(Phi, X.dtype)
    out[...] = xp.astype(Phi, out.dtype)
    return out


def feature_moments(X, W, b, y, paired, G=None, h=None):
    """Accumulate G += Phi^T Phi and h += Phi^T y for Phi = relu_features(X, W, b, paired).

    G (m, m) and h (m,) are created in X's dtype when not given. Every backend guarantees the
    lower triangle of G (G[i, j], i >= j); the reference fills all of it.
    """
    xp = namespace(X, W, b, y)
    Phi = relu_features(_f64(X), W, b, paired)
    m = Phi.shape[1]
    G = xp.zeros((m, m), dtype=X.dtype) if G is None else G
    h = xp.zeros(m, dtype=X.dtype) if h is None else h
    _add_into(G, Phi.T @ Phi)
    _add_into(h, Phi.T @ _f64(y))
    return G, h


# --- Gaussian stream: Philox4x32-10 + Box-Muller --------------------------------------------
# Constants of Philox4x32 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC11;
# the Random123 library). All arithmetic below is on uint64 arrays holding 32-bit values.
PHILOX_M0, PHILOX_M1 = 0xD2511F53, 0xCD9E8D57
PHILOX_W0, PHILOX_W1 = 0x9E3779B9, 0xBB67AE85
_MASK32 = 0xFFFFFFFF


def philox4x32(counter, key, rounds: int = 10):
    """Philox4x32-``rounds`` of a batch of counters: the Random123 algorithm, written out.

    counter: 4 integer arrays or integers (broadcastable) of 32-bit words; key: 2 integers
    (32-bit words). Returns 4 uint64 arrays holding the 32-bit output words.
    """
    xp = namespace(*counter)

    def u64(v):
        # every operand a uint64 array, never a Python int: a 0-d array with a Python int
        # promotes to float64 under NumPy's legacy (value-based) promotion, which Dask workers
        # were seen running with at the oldest supported versions
        return xp.asarray(v, dtype=xp.uint64)

    mask, m0, m1, s32 = u64(_MASK32), u64(PHILOX_M0), u64(PHILOX_M1), u64(32)
    c0, c1, c2, c3 = (u64(c) & mask for c in counter)
    k0, k1 = (int(k) & _MASK32 for k in key)
    for rnd in range(rounds):
        if rnd:  # the key is bumped between rounds
            k0 = (k0 + PHILOX_W0) & _MASK32
            k1 = (k1 + PHILOX_W1) & _MASK32
        p0 = m0 * c0  # < 2**64: the full 32x32 -> 64-bit product
        p1 = m1 * c2
        c0, c1, c2, c3 = (p1 >> s32) ^ c1 ^ u64(k0), p1 & mask, (p0 >> s32) ^ c3 ^ u64(k1), p0 & mask
    return c0, c1, c2, c3


def gaussian_block(seed, stream, start, n, d, dtype, out=None):
    """Rows ``start .. start+n-1`` of the standard-normal stream ``(seed, stream)``: (n, d) of ``dtype``,
    written into ``out`` when given (a C-contiguous, writeable (n, d) NumPy array of ``dtype``;
    every backend takes it, so a caller can generate straight into a buffer it keeps).

    Entry (i, j) comes from one Philox4x32-10 call with key = (seed & 0xffffffff, seed >> 32)
    and counter = (i & 0xffffffff, i >> 32, j // 4, stream). Its four words x_0..x_3 become
    uniforms u_k = (x_k + 0.5) 2^-32 in (0, 1), and Box-Muller gives columns 4(j//4) + 0..3:
    sqrt(-2 ln u_0) (cos, sin)(2 pi u_1) and sqrt(-2 ln u_2) (cos, sin)(2 pi u_3).
    Computed in float64 and cast to ``dtype`` at the end. Row i depends on (seed, stream, i)
    only, and column j does not depend on d. A NumPy array (no input names another library).
    """
    xp = namespace()
    if out is None:
        out = xp.empty((n, d), dtype=getattr(xp, np.dtype(dtype).name))
    else:
        out = _check_out(out, (n, d), dtype)
    dtype = out.dtype
    for lo in range(0, n, _ROWS_PER_BLOCK):  # blocks of rows: temporaries stay small whatever n is
        hi = min(lo + _ROWS_PER_BLOCK, n)
        out[lo:hi, :] = xp.astype(_gaussian_rows(xp, seed, stream, start + lo, hi - lo, d), dtype)
    return out


_ROWS_PER_BLOCK = 64


def _gaussian_rows(xp, seed, stream, start, n, d):
    """float64 (n, d) rows of :func:`gaussian_block`, all at once."""
    G = (d + 3) // 4
    rows = xp.arange(n, dtype=xp.uint64) + xp.asarray(start, dtype=xp.uint64)
    c0 = (rows & xp.asarray(_MASK32, dtype=xp.uint64))[:, None]
    c1 = (rows >> xp.asarray(32, dtype=xp.uint64))[:, None]
    c2 = xp.arange(G, dtype=xp.uint64)[None, :]
    x = philox4x32((c0, c1, c2, xp.asarray(stream, dtype=xp.uint64)), (seed & _MASK32, seed >> 32))
    u = [(xp.astype(w, xp.float64) + 0.5) * 2.0**-32 for w in x]
    cols = []
    for k in (0, 2):
        radius = xp.sqrt(-2.0 * xp.log(u[k]))
        cols += [radius * xp.cos(2.0 * math.pi * u[k + 1]), radius * xp.sin(2.0 * math.pi * u[k + 1])]
    return xp.reshape(xp.stack(cols, axis=2), (n, 4 * G))[:, :d]


# --- NTK and NNGP kernels of the two-layer ReLU network (the paper) ---------------


def kernel_gram(X1, X2, beta, kind, out=None):
    """The (n1, n2) NTK or NNGP Gram block between the rows of X1 (n1, d) and X2 (n2, d).

    Standard parametrization with first-layer bias, exact norms (the paper):
    q(x) = |x|^2/d + beta^2, c = x.x'/d + beta^2, u = c / sqrt(q q'), and
    kappa_0(u) = (pi - arccos u)/pi, kappa_1(u) = (sqrt(1 - u^2) + (pi - arccos u) u)/pi;
    NNGP = 1/2 sqrt(q q') kappa_1(u), NTK = 1/2 [sqrt(q q') kappa_1(u) + c kappa_0(u)].
    ``X2 = None`` means X2 = X1 (q is then the diagonal of the same inner products, so u = 1
    exactly there). Computed in float64, returned in X1's dtype.
    """
    if kind not in ("ntk", "nngp"):
        raise ValueError(f"kind must be 'ntk' or 'nngp'; got {kind!r}")
    xp = namespace(X1, X2)
    A = _f64(X1)
    B = A if X2 is None else _f64(X2)
    d = A.shape[1]
    b2 = float(beta) ** 2
    c = A @ B.T / d + b2
    if X2 is None:
        q1 = q2 = xp.linalg.diagonal(c)
    else:
        q1 = xp.sum(A * A, axis=1) / d + b2
        q2 = xp.sum(B * B, axis=1) / d + b2
    s = xp.sqrt(q1[:, None] * q2[None, :])
    u = xp.clip(c / xp.where(s > 0, s, xp.ones_like(s)), -1.0, 1.0)  # s == 0 only for x = 0 with beta = 0
    theta = xp.acos(u)
    kappa0 = (math.pi - theta) / math.pi
    kappa1 = (xp.sqrt(1.0 - u * u) + (math.pi - theta) * u) / math.pi
    K = 0.5 * s * kappa1
    if kind == "ntk":
        K = K + 0.5 * c * kappa0
    if out is None:
        return xp.astype(K, X1.dtype)
    out[...] = xp.astype(K, out.dtype)
    return out


def kernel_matvec(X, C, V, beta, kind, block_rows):
    """K(X, C) @ V for X (n, d), C (M, d), V (M,) or (M, k), computed block_rows rows of X at a time."""
    xp = namespace(X, C, V)
    V64 = _f64(V)
    res = xp.empty((X.shape[0],) + tuple(V64.shape[1:]), dtype=xp.float64)
    step = max(1, int(block_rows))
    for start in range(0, X.shape[0], step):
        stop = min(start + step, X.shape[0])  # the array API leaves out-of-bounds slices unspecified
        res[start:stop, ...] = kernel_gram(_f64(X[start:stop, ...]), C, beta, kind) @ V64
    return xp.astype(res, X.dtype)


def kernel_normal_matvec(X, C, V, beta, kind, block_rows, W=None):
    """K^T (K V + W) for K = K(X, C) (n, M): V (M,) or (M, k) or None (zero), W (n,) or (n, k) or
    None (zero). Computed block_rows rows of X at a time; float64 result (the Nystrom solver's
    normal-equation product, accumulated over many blocks)."""
    xp = namespace(X, C, V, W)
    tail = tuple((V if V is not None else W).shape[1:])
    res = xp.zeros((C.shape[0],) + tail, dtype=xp.float64)
    step = max(1, int(block_rows))
    C64 = _f64(C)
    for start in range(0, X.shape[0], step):
        stop = min(start + step, X.shape[0])
        K = kernel_gram(_f64(X[start:stop, ...]), C64, beta, kind)
        t = K @ _f64(V) if V is not None else xp.zeros((K.shape[0],) + tail, dtype=xp.float64)
        if W is not None:
            t = t + _f64(W)[start:stop, ...]
        res = res + K.T @ t
    return res
