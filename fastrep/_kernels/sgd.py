"""The compiled loop of online minibatch SGD on the first layer (small batches, on the host).

One call runs every whole batch of a chunk of rows: for batch i (rows i B .. i B + B - 1) at
step t = t0 + i,

    pre = X_b W^T + b,  r = y_b - pre.relu @ c,
    w_j <- (1 - eta_t lam_t) w_j + eta_t (2 / B) sum_i r_i c_j 1[pre_ij > 0] x_i,

(``inverse``: the decay cancels w_j, so w_j <- eta_t (2 / B) sum_i ...), then optionally
w_j <- w_j / |w_j| (``spherical``). ``c`` is the readout a_j times its scale. This is the
squared-loss gradient step of :class:`fastrep.multistep.MultiStepNetwork` with the gradient of
``onestep_gradient`` written out, fused so that a step of batch size 1 costs one (m, d)
matrix-vector product (one vectorised dot per neuron, summed in any order) and one
(m, d) update, without the per-call overhead of the Ops contract or of a BLAS call (microseconds
at these sizes). W is float64 and updated in place; the products are float64.

Returns the first step whose update was not finite (an overflow: the learning rate is too
large), or -1; the loop stops there, with W holding the last finite rows it wrote.
"""

from __future__ import annotations

import numba as nb
import numpy as np

name = "numba"


#: Reassociation and contraction only: LLVM vectorises the sums (in any order) and fuses
#: multiply-adds, while NaN and inf keep their meaning (the overflow check below needs them).
_FAST = {"reassoc", "contract"}


@nb.njit(cache=True, fastmath=_FAST)
def _dot(a, b):
    """a . b of two contiguous rows, summed in any order."""
    s = 0.0
    for k in range(a.shape[0]):
        s += a[k] * b[k]
    return s


@nb.njit(cache=True, fastmath=_FAST)
def online_sgd(X, y, W, b, c, eta, lam, t0, B, inverse, spherical, loss):
    """X (n, d) float64, y (n,), W (m, d) float64 in place, b (m,), c (m,); eta, lam (T,) per
    step; ``loss[t]`` receives mean r^2 of step t's batch (at W_t). Returns -1 or the bad step."""
    n, d = X.shape
    m = W.shape[0]
    steps = n // B
    pre = np.empty((B, m))
    coef = np.empty((B, m))
    for s in range(steps):
        t = t0 + s
        lo = s * B
        Xb = X[lo:lo + B]
        sq = 0.0
        for i in range(B):
            f = 0.0
            for j in range(m):
                p = _dot(Xb[i], W[j]) + b[j]
                pre[i, j] = p
                if p > 0.0:
                    f += p * c[j]
            r = y[lo + i] - f
            sq += r * r
            for j in range(m):
                coef[i, j] = r * c[j] if pre[i, j] > 0.0 else 0.0
        loss[t] = sq / B
        step = eta[t] * (2.0 / B)
        keep = 0.0 if inverse else 1.0 - eta[t] * lam[t]
        for j in range(m):
            if B == 1:  # one fused pass: decay, update and the row's squared norm
                g = coef[0, j] * step
                if g == 0.0 and keep == 1.0 and not spherical:
                    continue  # an inactive neuron without decay does not move
                x = Xb[0]
                nrm = 0.0
                for k in range(d):
                    v = keep * W[j, k] + g * x[k]
                    W[j, k] = v
                    nrm += v * v
            else:
                if keep != 1.0:
                    for k in range(d):
                        W[j, k] *= keep
                for i in range(B):
                    g = coef[i, j]
                    if g != 0.0:
                        g *= step
                        for k in range(d):
                            W[j, k] += g * Xb[i, k]
                nrm = _dot(W[j], W[j])
            if not np.isfinite(nrm):
                return t
            if spherical and nrm > 0.0:
                inv = 1.0 / np.sqrt(nrm)
                for k in range(d):
                    W[j, k] *= inv
    return -1
