"""The specification: plain NumPy in float64, written for clarity, not speed.

Every other backend (cpp, numba, cupy) is tested against these functions. Inputs of
any float dtype are computed in float64; results are cast back to the input dtype so
that the reference obeys the same "float32 stays float32" contract as the others.
"""

from __future__ import annotations

import numpy as np

name = "reference"


def hermite_table(z: np.ndarray, p: int) -> np.ndarray:
    """(p+1, *z.shape) float64 table of h_k(z) = He_k(z)/sqrt(k!), k = 0..p.

    Uses h_{k+1} = (z h_k - sqrt(k) h_{k-1}) / sqrt(k+1): no monomials, no factorials.
    """
    z = np.asarray(z, dtype=np.float64)
    table = np.empty((p + 1,) + z.shape)
    table[0] = 1.0
    if p >= 1:
        table[1] = z
    for k in range(1, p):
        table[k + 1] = (z * table[k] - np.sqrt(k) * table[k - 1]) / np.sqrt(k + 1)
    return table


def hermite_features(Z, alphas, out=None):
    Z64 = np.asarray(Z, dtype=np.float64)
    alphas = np.asarray(alphas)
    p = int(alphas.max()) if alphas.size else 0
    tables = [hermite_table(Z64[:, j], p) for j in range(Z64.shape[1])]
    res = np.ones((Z64.shape[0], alphas.shape[0]))
    for a, alpha in enumerate(alphas):
        for j, k in enumerate(alpha):
            res[:, a] *= tables[j][k]
    if out is None:
        return res.astype(Z.dtype, copy=False)
    out[...] = res
    return out


# --- Algorithm 1 (paper.md section 2) ----------------------------------------------------


def onestep_gradient(X, W, b, r, acc=None):
    """sum_i r_i 1[w_j . x_i + b_j > 0] x_i for every row w_j of W.

    X (n, d), W (k, d), b (k,), r (n,) -> (k, d); added into ``acc`` when given. The network
    turns this into the gradient -(2/n) a_j (...) of the squared loss at a zero network.
    """
    X64, W64 = np.asarray(X, np.float64), np.asarray(W, np.float64)
    active = (X64 @ W64.T + np.asarray(b, np.float64)) > 0  # (n, k)
    G = (active * np.asarray(r, np.float64)[:, None]).T @ X64
    if acc is None:
        return G.astype(X.dtype, copy=False)
    acc += G
    return acc


def relu_features(X, W, b, paired, out=None):
    """Phi = relu(X W^T + b), (n, m).

    With ``paired``, W holds only the first half (m/2, d) of a weight matrix whose second half
    is its negation (the state after one step from a symmetric initialization); b is (m,).
    """
    P = np.asarray(X, np.float64) @ np.asarray(W, np.float64).T
    b = np.asarray(b, np.float64)
    if paired:
        h = P.shape[1]
        Phi = np.concatenate([np.maximum(P + b[:h], 0), np.maximum(-P + b[h:], 0)], axis=1)
    else:
        Phi = np.maximum(P + b, 0)
    if out is None:
        return Phi.astype(X.dtype, copy=False)
    out[...] = Phi
    return out


def feature_moments(X, W, b, y, paired, G=None, h=None):
    """Accumulate G += Phi^T Phi and h += Phi^T y for Phi = relu_features(X, W, b, paired).

    G (m, m) and h (m,) are created in X's dtype when not given. Every backend guarantees the
    lower triangle of G (G[i, j], i >= j); the reference fills all of it.
    """
    Phi = relu_features(np.asarray(X, np.float64), W, b, paired)
    m = Phi.shape[1]
    G = np.zeros((m, m), dtype=X.dtype) if G is None else G
    h = np.zeros(m, dtype=X.dtype) if h is None else h
    G += Phi.T @ Phi
    h += Phi.T @ np.asarray(y, np.float64)
    return G, h


# --- Gaussian stream: Philox4x32-10 + Box-Muller (issue 3) ---------------------------------
# Constants of Philox4x32 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC11;
# the Random123 library). All arithmetic below is on uint64 arrays holding 32-bit values.
PHILOX_M0, PHILOX_M1 = 0xD2511F53, 0xCD9E8D57
PHILOX_W0, PHILOX_W1 = 0x9E3779B9, 0xBB67AE85
_MASK32 = np.uint64(0xFFFFFFFF)


def philox4x32(counter, key, rounds: int = 10):
    """Philox4x32-``rounds`` of a batch of counters: the Random123 algorithm, written out.

    counter: 4 integer arrays (broadcastable) of 32-bit words; key: 2 integers (32-bit words).
    Returns 4 uint64 arrays holding the 32-bit output words.
    """
    c0, c1, c2, c3 = (np.asarray(c, dtype=np.uint64) & _MASK32 for c in counter)
    k0, k1 = (np.uint64(int(k) & 0xFFFFFFFF) for k in key)
    m0, m1 = np.uint64(PHILOX_M0), np.uint64(PHILOX_M1)
    s32 = np.uint64(32)
    for rnd in range(rounds):
        if rnd:  # the key is bumped between rounds
            k0 = np.uint64((int(k0) + PHILOX_W0) & 0xFFFFFFFF)
            k1 = np.uint64((int(k1) + PHILOX_W1) & 0xFFFFFFFF)
        p0 = m0 * c0  # < 2**64: the full 32x32 -> 64-bit product
        p1 = m1 * c2
        c0, c1, c2, c3 = (p1 >> s32) ^ c1 ^ k0, p1 & _MASK32, (p0 >> s32) ^ c3 ^ k1, p0 & _MASK32
    return c0, c1, c2, c3


def gaussian_block(seed, stream, start, n, d, dtype):
    """Rows ``start .. start+n-1`` of the standard-normal stream ``(seed, stream)``: (n, d) of ``dtype``.

    Entry (i, j) comes from one Philox4x32-10 call with key = (seed & 0xffffffff, seed >> 32)
    and counter = (i & 0xffffffff, i >> 32, j // 4, stream). Its four words x_0..x_3 become
    uniforms u_k = (x_k + 0.5) 2^-32 in (0, 1), and Box-Muller gives columns 4(j//4) + 0..3:
    sqrt(-2 ln u_0) (cos, sin)(2 pi u_1) and sqrt(-2 ln u_2) (cos, sin)(2 pi u_3).
    Computed in float64 and cast to ``dtype`` at the end. Row i depends on (seed, stream, i)
    only, and column j does not depend on d.
    """
    out = np.empty((n, d), dtype=dtype)
    for lo in range(0, n, _ROWS_PER_BLOCK):  # blocks of rows: temporaries stay small whatever n is
        hi = min(lo + _ROWS_PER_BLOCK, n)
        out[lo:hi] = _gaussian_rows(seed, stream, start + lo, hi - lo, d)
    return out


_ROWS_PER_BLOCK = 64


def _gaussian_rows(seed, stream, start, n, d):
    """float64 (n, d) rows of :func:`gaussian_block`, all at once."""
    G = (d + 3) // 4
    rows = np.uint64(start) + np.arange(n, dtype=np.uint64)
    c0 = (rows & _MASK32)[:, None]
    c1 = (rows >> np.uint64(32))[:, None]
    c2 = np.arange(G, dtype=np.uint64)[None, :]
    x = philox4x32((c0, c1, c2, np.uint64(stream)), (seed & 0xFFFFFFFF, seed >> 32))
    u = [(w.astype(np.float64) + 0.5) * 2.0**-32 for w in x]
    out = np.empty((n, G, 4))
    for k in (0, 2):
        radius = np.sqrt(-2.0 * np.log(u[k]))
        out[:, :, k] = radius * np.cos(2.0 * np.pi * u[k + 1])
        out[:, :, k + 1] = radius * np.sin(2.0 * np.pi * u[k + 1])
    return out.reshape(n, 4 * G)[:, :d]


# --- NTK and NNGP kernels of the two-layer ReLU network (paper.md section 4; issue 5) ------


def kernel_gram(X1, X2, beta, kind, out=None):
    """The (n1, n2) NTK or NNGP Gram block between the rows of X1 (n1, d) and X2 (n2, d).

    Standard parametrization with first-layer bias, exact norms (paper.md section 4):
    q(x) = |x|^2/d + beta^2, c = x.x'/d + beta^2, u = c / sqrt(q q'), and
    kappa_0(u) = (pi - arccos u)/pi, kappa_1(u) = (sqrt(1 - u^2) + (pi - arccos u) u)/pi;
    NNGP = 1/2 sqrt(q q') kappa_1(u), NTK = 1/2 [sqrt(q q') kappa_1(u) + c kappa_0(u)].
    ``X2 = None`` means X2 = X1 (q is then the diagonal of the same inner products, so u = 1
    exactly there). Computed in float64, returned in X1's dtype.
    """
    if kind not in ("ntk", "nngp"):
        raise ValueError(f"kind must be 'ntk' or 'nngp'; got {kind!r}")
    A = np.asarray(X1, dtype=np.float64)
    B = A if X2 is None else np.asarray(X2, dtype=np.float64)
    d = A.shape[1]
    b2 = float(beta) ** 2
    c = A @ B.T / d + b2
    if X2 is None:
        q1 = q2 = np.diag(c).copy()
    else:
        q1 = np.sum(A * A, axis=1) / d + b2
        q2 = np.sum(B * B, axis=1) / d + b2
    s = np.sqrt(np.outer(q1, q2))
    u = np.clip(c / np.where(s > 0, s, 1.0), -1.0, 1.0)  # s == 0 only for x = 0 with beta = 0
    theta = np.arccos(u)
    kappa0 = (np.pi - theta) / np.pi
    kappa1 = (np.sqrt(1.0 - u * u) + (np.pi - theta) * u) / np.pi
    K = 0.5 * s * kappa1
    if kind == "ntk":
        K = K + 0.5 * c * kappa0
    if out is None:
        return K.astype(np.asarray(X1).dtype, copy=False)
    out[...] = K
    return out


def kernel_matvec(X, C, V, beta, kind, block_rows):
    """K(X, C) @ V for X (n, d), C (M, d), V (M,) or (M, k), computed block_rows rows of X at a time."""
    X = np.asarray(X)
    V64 = np.asarray(V, dtype=np.float64)
    res = np.empty((X.shape[0],) + V64.shape[1:])
    step = max(1, int(block_rows))
    for start in range(0, X.shape[0], step):
        res[start : start + step] = kernel_gram(X[start : start + step].astype(np.float64), C, beta, kind) @ V64
    return res.astype(X.dtype, copy=False)


def kernel_normal_matvec(X, C, V, beta, kind, block_rows, W=None):
    """K^T (K V + W) for K = K(X, C) (n, M): V (M,) or (M, k) or None (zero), W (n,) or (n, k) or
    None (zero). Computed block_rows rows of X at a time; float64 result (the Nystrom solver's
    normal-equation product, accumulated over many blocks)."""
    X = np.asarray(X)
    tail = np.shape(V if V is not None else W)[1:]
    res = np.zeros((np.shape(C)[0],) + tail)
    step = max(1, int(block_rows))
    for start in range(0, X.shape[0], step):
        K = kernel_gram(X[start : start + step].astype(np.float64), np.asarray(C, np.float64), beta, kind)
        t = K @ np.asarray(V, np.float64) if V is not None else np.zeros((K.shape[0],) + tail)
        if W is not None:
            t = t + np.asarray(W, np.float64)[start : start + step]
        res += K.T @ t
    return res

