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


# ----------------------------------------------------------------- large batches: BLAS + fused passes
@nb.njit(cache=True, fastmath=_FAST)
def _residual_mask(P, b, c, y):
    """In place on P = X_b W^T (B, m): P[i, j] <- r_i 1[P[i, j] + b_j > 0] with the residual
    r_i = y_i - sum_j c_j relu(P[i, j] + b_j); returns sum_i r_i^2 (float64). One pass per row,
    the row in cache: the bias, the ReLU, the readout product, the residual and the mask."""
    B, m = P.shape
    sq = 0.0
    for i in range(B):
        f = 0.0
        for j in range(m):
            p = P[i, j] + b[j]
            P[i, j] = p
            if p > 0.0:
                f += p * c[j]
        r = y[i] - f
        sq += r * r
        for j in range(m):
            P[i, j] = r if P[i, j] > 0.0 else 0.0
    return sq


@nb.njit(cache=True, fastmath=_FAST)
def _update_rows(W, Wc, cast, G, c, step, keep, inverse, spherical, norms):
    """W (m, d) float64 in place: w_j <- keep w_j + step c_j g_j (``inverse``: step c_j g_j),
    optionally back to the unit sphere; with ``cast``, Wc <- W in the products' dtype (the
    next step's operand); norms[j] <- |w_j|^2 before the projection (NaN/inf flag an
    overflow). One pass over each row, on one thread: at (m, d) = (1024, 512) 0.22 ms, where a
    parallel loop measured a 22 ms median on the loaded 2-core machine (its threads wait to be
    scheduled; RESULTS_MULTISTEP.md)."""
    m, d = W.shape
    for j in range(m):
        s = step * c[j]
        nrm = 0.0
        for k in range(d):
            v = 0.0 if inverse else W[j, k]
            if keep != 1.0:
                v *= keep
            v += s * G[j, k]
            W[j, k] = v
            nrm += v * v
        norms[j] = nrm
        if spherical and nrm > 0.0 and np.isfinite(nrm):
            inv = 1.0 / np.sqrt(nrm)
            for k in range(d):
                W[j, k] *= inv
        if cast:
            for k in range(d):
                Wc[j, k] = W[j, k]


class BatchSGD:
    """Online SGD with large batches on the host: per step two BLAS products into buffers kept
    for the whole run (X_b W^T, then (mask r)^T X_b) and two compiled passes (the residual with
    its mask over (B, m), the float64 update of W fused with its cast for the next products,
    its squared row norms and the optional projection over (m, d)); no per-step allocation.

    The arithmetic is the generic step's (``MultiStepNetwork._step`` with a given lr): the
    products in the data's dtype, the update in float64, the readout scaling each row of the
    gradient in float64; sums in another order, so it agrees to rounding, not bit for bit."""

    def __init__(self, W, b, c, B, dtype):
        m, d = W.shape
        self.W = W  # float64, updated in place
        self.Wc = W if dtype == np.float64 else np.empty((m, d), dtype=dtype)
        if self.Wc is not W:
            self.Wc[...] = W
        self.b, self.c = b.astype(dtype), c.astype(np.float64)
        self.c_res = c.astype(dtype)  # the readout in the residual's (products') dtype
        self.P = np.empty((B, m), dtype=dtype)
        self.G = np.empty((m, d), dtype=dtype)
        self.norms = np.empty(m)
        self.B = B

    def run(self, X, y, eta, lam, t0, inverse, spherical, loss):
        """Every whole batch of (X, y) (rows in the products' dtype), steps t0, t0 + 1, ...;
        returns -1 or the first step whose W is not finite (the loop stops there)."""
        B = self.B
        for s in range(X.shape[0] // B):
            t = t0 + s
            Xb = X[s * B:(s + 1) * B]
            np.matmul(Xb, self.Wc.T, out=self.P)
            sq = _residual_mask(self.P, self.b, self.c_res, y[s * B:(s + 1) * B])
            loss[t] = sq / B
            if not np.isfinite(sq):
                return t
            np.matmul(self.P.T, Xb, out=self.G)
            keep = 1.0 if inverse else 1.0 - eta[t] * lam[t]
            _update_rows(self.W, self.Wc, self.Wc is not self.W, self.G, self.c, eta[t] * (2.0 / B), keep,
                         inverse, spherical, self.norms)
            if not np.isfinite(self.norms.sum()):
                return t
        return -1


@nb.njit(cache=True)
def mask_rows(P, r):
    """In place on the ReLU features P (n, m): P[i, j] <- r_i 1[P[i, j] > 0], the same products
    as ``(P > 0).astype(P.dtype) * r[:, None]`` (bit for bit, signed zeros included), in one
    pass and without its (n, m) temporary, on one thread (as the NumPy passes were; see
    ``_update_rows``). A step's residual mask away from the symmetric initialisation
    (``network._residual_gradient``)."""
    n, m = P.shape
    for i in range(n):
        ri = r[i]
        for j in range(m):
            P[i, j] = ri if P[i, j] > 0.0 else ri * 0.0
