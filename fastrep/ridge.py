"""The ridge path: one eigendecomposition, every lambda.

Both learners end in a ridge problem. For the network's second layer,
``a = (Phi^T Phi / n + lam I)^-1 Phi^T y / n``; for kernel ridge,
``alpha = (K + n lam I)^-1 y = (K/n + lam I)^-1 y/n``. Writing A = V diag(s) V^T once, every
lambda costs O(m) for the coefficients (in the eigenbasis) and O(n_val m) for validation
predictions, so the 100-point grid of the first author's code is nearly free.

The eigendecomposition is always in float64 (float32 Gram matrices lose the small
eigenvalues that a small lambda exposes).
"""

from __future__ import annotations

import numpy as np
import scipy.linalg

from ._memory import check_allocation
from ._validation import check_int, check_positive
from .backend import array_module

__all__ = ["EigenRidge", "lambda_grid", "resolve_ridge"]


def lambda_grid(num: int = 100, low: float = 1e-10, high: float = 1e15) -> np.ndarray:
    """(num,) float64 log-spaced grid; the default is the first author's 100 values in [1e-10, 1e15]."""
    num = check_int(num, "num", low=1)
    check_allocation(8.0 * num, what=f"a grid of {num} values", argument="num")
    low, high = check_positive(low, "low"), check_positive(high, "high")
    if high < low:
        raise ValueError(f"high must be >= low; got low={low}, high={high}")
    return np.logspace(np.log10(low), np.log10(high), num)


def resolve_ridge(ridge, name: str = "ridge"):
    """Validate a user's ``ridge`` argument: ``'validate'`` or a positive number."""
    if isinstance(ridge, str):
        if ridge != "validate":
            raise ValueError(f"{name} must be 'validate' or a positive number; got {ridge!r}")
        return ridge
    return check_positive(ridge, name)


def _eigh_cpu(A):
    """Symmetric eigendecomposition (lower triangle), tuned for the sizes fastrep meets.

    Divide and conquer ('evd') is the fastest driver up to a few thousand; above 4096 'evr'
    needs far less workspace. Below 1024, OpenBLAS's threads cost more than they give: on this
    2-core machine under load a 1000 x 1000 eigh took 2.6 s with 2 threads and 0.15 s with 1.
    """
    m = A.shape[0]
    driver = "evd" if m <= 4096 else "evr"
    if m <= 1024:
        from threadpoolctl import threadpool_limits

        with threadpool_limits(1, user_api="blas"):
            return scipy.linalg.eigh(A, lower=True, check_finite=False, driver=driver)
    return scipy.linalg.eigh(A, lower=True, check_finite=False, driver=driver)


def _host(v):
    return v.get() if hasattr(v, "get") else np.asarray(v)


class EigenRidge:
    """Ridge solutions ``(A + lam I)^-1 b`` for many ``lam`` from one eigendecomposition.

    Parameters
    ----------
    A : (m, m) symmetric positive semi-definite array (any float dtype; used in float64).
    b : (m,) right-hand side.
    rcond : float, default 0
        Eigenvalues at or below ``rcond * max eigenvalue`` are treated as exactly zero (their
        directions are dropped). A Gram matrix accumulated in float32 carries relative errors
        of about 1e-7 in its spectrum; below that its eigenvectors are noise, and a tiny lambda
        would amplify them. The learners pass ``10 * eps`` of their accumulation dtype.
    """

    def __init__(self, A, b, rcond: float = 0.0):
        xp = array_module(A, b)
        self.xp = xp
        A = xp.asarray(A, dtype=xp.float64)
        b = xp.asarray(b, dtype=xp.float64)
        if A.ndim != 2 or A.shape[0] != A.shape[1]:
            raise ValueError(f"A must be a square 2-D array; got shape {A.shape}")
        if b.shape != (A.shape[0],):
            raise ValueError(f"b must have shape ({A.shape[0]},); got {b.shape}")
        if not (bool(xp.isfinite(A).all()) and bool(xp.isfinite(b).all())):
            raise ValueError("the ridge system contains NaN or inf (check the inputs for overflow)")
        if xp is np:
            s, V = _eigh_cpu(A)
        else:  # cuSOLVER syevd on the device; the (m, m) matrix never crosses PCIe
            s, V = xp.linalg.eigh(A, UPLO="L")
        s = xp.clip(s, 0.0, None)  # round-off can leave -1e-17 on a PSD matrix
        keep = s > rcond * (float(s.max()) if s.size else 0.0)
        self.eigvals = s[keep]
        self.eigvecs = V[:, keep]
        self.c = self.eigvecs.T @ b
        self.rank = int(keep.sum())
        self.m = A.shape[0]

    def coef(self, lam: float) -> np.ndarray:
        """(m,) float64 solution of (A + lam I) x = b."""
        lam = check_positive(lam, "lam")
        return self.eigvecs @ (self.c / (self.eigvals + lam))

    def coefs(self, lams) -> np.ndarray:
        """(m, len(lams)) float64: the solution for every lambda, one column each."""
        lams = self.xp.asarray(lams, dtype=self.xp.float64)
        return self.eigvecs @ (self.c[:, None] / (self.eigvals[:, None] + lams[None, :]))

    def predictions(self, P, lams) -> np.ndarray:
        """(len(lams), nv) predictions ``P @ coef(lam)`` for every lambda, P (nv, m).

        Costs m^2 L + nv m L for L lambdas: cheaper than projecting P onto the eigenbasis
        (nv m^2) whenever L < m.
        """
        P = self.xp.asarray(P)
        if P.ndim != 2 or P.shape[1] != self.eigvecs.shape[0]:
            raise ValueError(f"P must be (n_val, {self.eigvecs.shape[0]}); got shape {P.shape}")
        C = self.coefs(lams)
        return (P @ C.astype(P.dtype, copy=False)).T.astype(self.xp.float64, copy=False)

    def select(self, P_val, y_val, lams=None):
        """Choose lambda on validation data. Returns (best_lam, mse) with mse (len(lams),)."""
        xp = self.xp
        lams = lambda_grid() if lams is None else np.asarray(lams, dtype=np.float64)
        y_val = xp.asarray(y_val, dtype=xp.float64)
        if y_val.ndim != 1 or y_val.shape[0] != P_val.shape[0]:
            raise ValueError(f"y_val must be 1-D with {P_val.shape[0]} entries; got shape {y_val.shape}")
        preds = self.predictions(P_val, lams)
        mse = _host(xp.mean((preds - y_val[None, :]) ** 2, axis=1))
        return float(lams[int(np.argmin(mse))]), mse

    def gcv(self, n: int, y_sq_sum: float, lams=None):
        """Generalized cross-validation from the same eigendecomposition.

        With A = Phi^T Phi / n, b = Phi^T y / n and ``y_sq_sum`` = ||y||^2, the training residual
        ||y - Phi x||^2 = ||y||^2 - 2 n x^T b + n x^T A x and the effective degrees of freedom
        tr(H) = sum s/(s + lam) need no n-sized array. Returns (best_lam, scores).
        GCV(lam) = (RSS/n) / (1 - tr(H)/n)^2.

        RSS is written as the least-squares residual ||y||^2 - sum n c^2/s (independent of lam)
        plus sum n c^2/s (lam/(s + lam))^2, which avoids the cancellation of the direct
        expansion when lam is tiny.
        """
        lams = lambda_grid() if lams is None else np.asarray(lams, dtype=np.float64)
        s, c = _host(self.eigvals), _host(self.c)  # O(m) numbers: the path is cheap on the host
        proj = n * c**2 / np.where(s > 0, s, 1.0) * (s > 0)  # squared norm of y in each direction
        shrink = lams[:, None] / (s[None, :] + lams[:, None])
        rss = max(y_sq_sum - proj.sum(), 0.0) + (shrink**2) @ proj
        dof = (s[None, :] / (s[None, :] + lams[:, None])).sum(1)
        denom = np.maximum(1.0 - dof / n, 1e-12) ** 2
        scores = (rss / n) / denom
        return float(lams[int(np.argmin(scores))]), scores
