"""Kernel ridge regression with the NTK and NNGP kernels: exact (Cholesky) and large-n (Nystrom).

Both solve  min_alpha (1/n) |y - K alpha|^2 + lam alpha^T K alpha  (the ridge of paper.md
section 2, written for a kernel), whose solution is alpha = (K + n lam I)^-1 y, and predict
f(x) = K(x, X_fit) alpha.

``solver='cholesky'``
    The n x n Gram matrix (float64 by default) is formed once and factorized in place by
    LAPACK (no copy). A failed factorization is retried with jitter added to the diagonal,
    escalating by 100x, with a :class:`JitterWarning`. With ``ridge='validate'`` the Gram
    matrix is eigendecomposed once (:class:`fastrep.ridge.EigenRidge`) and every lambda of
    the grid costs O(n) (validation data) or O(n) (generalized cross-validation).
    Refuses, naming ``solver='nystrom'``, when the Gram matrix would not fit ``max_memory``.

``solver='nystrom'``
    Falkon (Rudi, Carratino, Rosasco 2017; Meanti et al. 2020): M centres C drawn from the
    training rows, alpha in R^M solving (K_nM^T K_nM + n lam K_MM) alpha = K_nM^T y by
    conjugate gradient, preconditioned with T = chol(K_MM) and A = chol(T T^T / M + lam I).
    Every K_nM product is computed block by block (kernel_gram on ``block`` rows at a time),
    so memory is O(n d + M^2 + block M): the two M x M factors and one block, never n x M.
    With M = n it is exact kernel ridge regression.

``solver='auto'``
    cholesky when n <= 20000 and the Gram matrix fits the memory budget, else nystrom.

Predictions are blocked the same way, so a 10^6-row test set never allocates 10^6 x n.
NumPy arrays only (the solvers call SciPy's LAPACK).
"""

from __future__ import annotations

import contextlib
import math
import numbers
import warnings

import numpy as np
import scipy.linalg.blas as blas
import scipy.linalg.lapack as lapack
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.validation import check_is_fitted, validate_data

from ._memory import resolve_max_memory
from ._validation import check_dtype, check_finite_output, naming
from .backend import resolve
from .kernels import check_beta, check_kernel_scale
from .ridge import EigenRidge, lambda_grid

__all__ = ["JitterWarning", "NNGPRegressor", "NTKRegressor"]

#: solver='auto' uses the exact solver up to this many samples (when the Gram matrix fits)
AUTO_EXACT_MAX_N = 20_000
#: bytes of one kernel block (block rows x M) when block_size is not given: it stays in L3 cache,
#: so the two matrix-vector products that read it after the fused pass do not go to memory
DEFAULT_BLOCK_BYTES = 16 * 2**20
#: lambda grid for ridge='validate' with the Nystrom solver (each value costs a factorization
#: and a CG solve, so the grid is short; the kernel values are O(1) with beta = 1)
NYSTROM_GRID = np.logspace(-9, -1, 9)
#: share of the training rows held out to choose lambda when nystrom validates without X_val
HOLDOUT_FRACTION = 0.1


class JitterWarning(RuntimeWarning):
    """A Cholesky factorization failed and was retried with jitter added to the diagonal."""


def _lapack(names, arr):
    return lapack.get_lapack_funcs(names, (arr,))


#: OpenBLAS kernels whose multithreaded float64 factorizations have crashed here (SIGSEGV in
#: potrf at n = 16384 with 2 threads, an AVX-512 AMD machine; fine at n = 8192, on one thread, or
#: with OPENBLAS_CORETYPE=Haswell; compare OpenBLAS issues #1413 and #2562).
_FRAGILE_OPENBLAS = {"skylakex", "cooperlake", "sapphirerapids"}
#: float64 factorizations above this order run on one BLAS thread on those kernels
SAFE_THREADED_N = 8192


def _safe_threads(dtype, n):
    """A context that runs a LAPACK factorization on one thread where OpenBLAS is known to crash.

    A segfault takes the user's process down with no message; half the speed on two cores does
    not. Applies only to float64, n > SAFE_THREADED_N, OpenBLAS running AVX-512 kernels.
    """
    if np.dtype(dtype) != np.float64 or n <= SAFE_THREADED_N:
        return contextlib.nullcontext()
    from threadpoolctl import threadpool_info, threadpool_limits

    fragile = any(
        i.get("internal_api") == "openblas" and str(i.get("architecture", "")).lower() in _FRAGILE_OPENBLAS
        for i in threadpool_info()
    )
    return threadpool_limits(limits=1, user_api="blas") if fragile else contextlib.nullcontext()


def _restore_upper(K, kdiag, block=512):
    """Undo a failed in-place factorization: copy the untouched strict lower triangle of the
    C-ordered K into its upper triangle and put the diagonal back."""
    n = K.shape[0]
    for s in range(0, n, block):
        e = min(s + block, n)
        blk = K[s:e, s:e]
        iu = np.triu_indices(e - s, 1)
        blk[iu] = blk.T[iu]
        if e < n:
            K[s:e, e:] = K[e:, s:e].T
    K.flat[:: n + 1] = kdiag


def _mirror_upper_to_lower(K, block=512):
    """Copy the upper triangle of the C-ordered square K into its strict lower triangle."""
    n = K.shape[0]
    for s in range(0, n, block):
        e = min(s + block, n)
        blk = K[s:e, s:e]
        il = np.tril_indices(e - s, -1)
        blk[il] = blk.T[il]
        if e < n:
            K[e:, s:e] = K[s:e, e:].T


def _cholesky_in_place(K, shift, *, what, allow_jitter=True):
    """Factorize K + shift I in place, escalating jitter on failure.

    K is a C-ordered symmetric (n, n) array; LAPACK works on its Fortran view K.T (the same
    matrix), writes L into the Fortran-lower (C-upper) triangle and leaves the C-lower
    triangle holding K, so a failed attempt can be undone without a copy.
    Returns (KF, kdiag, jitter) with KF = K.T holding L (K + shift I + jitter I = L L^T).
    """
    n = K.shape[0]
    (potrf,) = _lapack(("potrf",), K)
    KF = K.T
    kdiag = np.diagonal(K).copy()
    scale = float(np.mean(kdiag)) if n else 1.0
    eps = float(np.finfo(K.dtype).eps)
    jitter = 0.0
    for attempt in range(5):
        K.flat[:: n + 1] = kdiag + (shift + jitter)
        with _safe_threads(K.dtype, n):
            c, info = potrf(KF, lower=1, clean=0, overwrite_a=1)
        if not np.may_share_memory(c, K):  # never expected for an F-ordered view of the right dtype
            raise RuntimeError("LAPACK copied the Gram matrix instead of factorizing it in place")
        if info == 0:
            return KF, kdiag, jitter
        if info < 0:
            raise RuntimeError(f"LAPACK potrf rejected argument {-info}")
        _restore_upper(K, kdiag)
        if not allow_jitter or attempt == 4:
            break
        jitter = max(n * eps * scale, 1e-300) if jitter == 0.0 else jitter * 100.0
        warnings.warn(
            f"the Cholesky factorization of {what} failed (not numerically positive definite); "
            f"retrying with jitter {jitter:.3g} added to the diagonal",
            JitterWarning,
            stacklevel=3,
        )
    if not allow_jitter:
        raise ValueError(
            f"{what} is singular to working precision and ridge=0 adds nothing to its diagonal; "
            "use ridge > 0 or ridge='validate'"
        )
    raise ValueError(f"the Cholesky factorization of {what} failed even with jitter {jitter:.3g}")


def _kernel_gcv(er: EigenRidge, n: int, y_sq_sum: float, lams):
    """Generalized cross-validation for kernel ridge from the eigendecomposition of K/n.

    With K/n = V diag(s) V^T and c = V^T y / n: K alpha = V (n s c / (s + lam)), so
    RSS = (|y|^2 - n^2 |c|^2) + sum n^2 c^2 (lam / (s + lam))^2, tr(H) = sum s / (s + lam),
    GCV = (RSS/n) / (1 - tr(H)/n)^2. (EigenRidge.gcv is the same for feature ridge, where the
    training predictions are Phi a instead of K alpha.)
    """
    lams = np.asarray(lams, dtype=np.float64)
    s, c = er.eigvals, er.c
    proj = (n * c) ** 2
    shrink = lams[:, None] / (s[None, :] + lams[:, None])
    rss = max(y_sq_sum - proj.sum(), 0.0) + (shrink**2) @ proj
    dof = (s[None, :] / (s[None, :] + lams[:, None])).sum(1)
    scores = (rss / n) / np.maximum(1.0 - dof / n, 1e-12) ** 2
    return float(lams[int(np.argmin(scores))]), scores


def _pcg(op, rhs, tol, max_iter):
    """Conjugate gradient on op(x) = rhs (float64 vectors). Returns (x, iterations, rel. residual)."""
    x = np.zeros_like(rhs)
    bnorm = float(np.linalg.norm(rhs))
    if bnorm == 0.0:
        return x, 0, 0.0
    r = rhs.copy()
    p = r.copy()
    rs = float(r @ r)
    it = 0
    for it in range(1, max_iter + 1):  # noqa: B007 (it is the iteration count returned)
        Ap = op(p)
        pAp = float(p @ Ap)
        if not pAp > 0:  # breakdown: the operator is not positive definite in this direction
            break
        step = rs / pAp
        x += step * p
        r -= step * Ap
        rs_new = float(r @ r)
        if math.sqrt(rs_new) <= tol * bnorm:
            rs = rs_new
            break
        p = r + (rs_new / rs) * p
        rs = rs_new
    return x, it, math.sqrt(rs) / bnorm


class _KernelRidgeBase(RegressorMixin, BaseEstimator):
    _kind = "ntk"

    def __init__(self, *, ridge="validate", solver="auto", beta=1.0, n_centers=None, max_memory=None,
                 dtype=np.float64, backend="auto", seed=0, block_size=None, tol=None, max_iter=100):
        self.ridge = ridge
        self.solver = solver
        self.beta = beta
        self.n_centers = n_centers
        self.max_memory = max_memory
        self.dtype = dtype
        self.backend = backend
        self.seed = seed
        self.block_size = block_size
        self.tol = tol
        self.max_iter = max_iter

    # ----- parameters --------------------------------------------------------------------
    def _check_params(self):
        ridge = self.ridge
        if isinstance(ridge, str):
            if ridge != "validate":
                raise ValueError(f"ridge must be 'validate' or a number >= 0; got {ridge!r}")
        elif isinstance(ridge, bool) or not isinstance(ridge, numbers.Real):
            raise TypeError(f"ridge must be 'validate' or a number >= 0; got {ridge!r}")
        elif not np.isfinite(ridge) or ridge < 0:
            raise ValueError(f"ridge must be 'validate' or a finite number >= 0; got {ridge}")
        else:
            ridge = float(ridge)
        if self.solver not in ("auto", "cholesky", "nystrom"):
            raise ValueError(f"solver must be 'auto', 'cholesky' or 'nystrom'; got {self.solver!r}")
        if self.max_memory is not None:
            mm = self.max_memory
            if isinstance(mm, bool) or not isinstance(mm, numbers.Real) or not mm > 0:
                raise ValueError(f"max_memory must be a positive number of bytes or None; got {mm!r}")
        for name in ("n_centers", "block_size"):
            v = getattr(self, name)
            if v is not None and (isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 1):
                raise ValueError(f"{name} must be a positive integer or None; got {v!r}")
        mi = self.max_iter
        if isinstance(mi, bool) or not isinstance(mi, numbers.Integral) or mi < 1:
            raise ValueError(f"max_iter must be a positive integer; got {mi!r}")
        if self.tol is not None and (not isinstance(self.tol, numbers.Real) or not 0 < self.tol < 1):
            raise ValueError(f"tol must be a number in (0, 1) or None; got {self.tol!r}")
        return ridge, check_dtype(self.dtype), check_beta(self.beta)

    def _budget(self) -> float:
        return float(resolve_max_memory(self.max_memory))

    def _block_rows(self, n_rows, M, itemsize, budget_left):
        """Rows per kernel block: block_size, else DEFAULT_BLOCK_BYTES, within what the budget leaves."""
        row_bytes = 2 * M * itemsize  # the block and BLAS's room for the product it feeds
        if budget_left < row_bytes:
            raise ValueError(
                f"max_memory={self._budget():.4g} bytes is too small for even one block of the kernel "
                f"(one row of {M} kernel values needs {row_bytes} bytes beyond the "
                f"{self._budget() - budget_left:.4g} already committed); raise max_memory"
            )
        want = self.block_size
        if want is None:
            want = max(1, DEFAULT_BLOCK_BYTES // (M * itemsize))
        return int(max(1, min(want, n_rows, budget_left // row_bytes)))

    def _gram_module(self, X):
        return resolve(self.backend, "kernel_gram", X)

    # ----- fit -----------------------------------------------------------------------------
    def fit(self, X, y, X_val=None, y_val=None):
        """Fit on X (n, d) and y (n,). X_val, y_val: validation data for ridge='validate'.

        Returns self. Fitted attributes: ``solver_`` ('cholesky' or 'nystrom'), ``ridge_``
        (the lambda used), ``n_iter_`` (CG iterations; 1 for the direct cholesky solve),
        ``residual_`` (relative residual: |(K + n lam I) alpha - y| / |y| for cholesky, of the
        preconditioned system for nystrom), ``X_fit_`` (the training rows or the centres),
        ``dual_coef_`` (alpha).
        """
        ridge, dtype, beta = self._check_params()
        with naming("X", "y"):
            X, y = validate_data(self, X, y, dtype=[np.float64, np.float32], y_numeric=True)
        X = np.ascontiguousarray(X, dtype=dtype)
        check_kernel_scale(X, beta, dtype, "X")
        y = np.asarray(y, dtype=np.float64)
        if (X_val is None) != (y_val is None):
            raise ValueError("X_val and y_val must be given together")
        if X_val is not None:
            with naming("X_val"):
                X_val = validate_data(self, X_val, reset=False, dtype=[np.float64, np.float32])
            X_val = np.ascontiguousarray(X_val, dtype=dtype)
            check_kernel_scale(X_val, beta, dtype, "X_val")
            y_val = np.asarray(y_val, dtype=np.float64)
            if y_val.shape != (X_val.shape[0],):
                raise ValueError(f"y_val must be 1-D with {X_val.shape[0]} entries; got shape {y_val.shape}")
            if not np.all(np.isfinite(y_val)):
                raise ValueError("y_val contains NaN or inf")
        n = X.shape[0]
        itemsize = dtype.itemsize
        budget = self._budget()
        # fixed ridge: the Gram matrix, factorized in place, and as much again for LAPACK/BLAS;
        # validate: the Gram matrix, its float64 version (a copy if float32), eigh's working copy
        # and the eigenvectors
        exact_bytes = n * n * (itemsize + 8 * (2 + (itemsize == 4)) if ridge == "validate" else 2 * itemsize)
        solver = self.solver
        if solver == "auto":
            solver = "cholesky" if (n <= AUTO_EXACT_MAX_N and exact_bytes <= budget) else "nystrom"
        if solver == "cholesky" and exact_bytes > budget:
            raise ValueError(
                f"the exact solver needs about {exact_bytes / 2**30:.3g} GiB for n={n} "
                f"(the {n}x{n} Gram matrix and its workspace) but the memory budget is "
                f"{budget / 2**30:.3g} GiB (max_memory); use solver='nystrom' with n_centers << n"
            )
        self._beta, self._dtype, self._budget_bytes = beta, dtype, budget
        self._exact_bytes = exact_bytes
        self.solver_ = solver
        if solver == "cholesky":
            self._fit_cholesky(X, y, X_val, y_val, ridge)
        else:
            self._fit_nystrom(X, y, X_val, y_val, ridge)
        return self

    def _fit_cholesky(self, X, y, X_val, y_val, ridge):
        n = X.shape[0]
        mod = self._gram_module(X)
        K = mod.kernel_gram(X, None, self._beta, self._kind)
        if ridge == "validate":
            K *= K.dtype.type(1.0 / n)  # in place: A = K/n, b = y/n (EigenRidge's convention)
            er = EigenRidge(K, y / n, rcond=10 * float(np.finfo(K.dtype).eps))
            del K
            lams = lambda_grid()
            if X_val is not None:
                # validation predictions for every lambda, block by block: never the (n_val, n) matrix
                rows = self._block_rows(X_val.shape[0], n, 8, self._budget_bytes - self._exact_bytes)
                coefs = er.coefs(lams).astype(X.dtype)  # (n, L)
                sq = np.zeros(len(lams))
                for s in range(0, X_val.shape[0], rows):
                    pred = mod.kernel_gram(X_val[s : s + rows], X, self._beta, self._kind) @ coefs
                    sq += np.sum((pred - y_val[s : s + rows, None]) ** 2, axis=0)
                scores = sq / X_val.shape[0]
                lam = float(lams[int(np.argmin(scores))])
            else:
                lam, scores = _kernel_gcv(er, n, float(y @ y), lams)
            alpha = er.coef(lam)
            self.ridge_path_ = (lams, scores)
            self.ridge_ = lam
            self.jitter_ = 0.0  # an eigendecomposition needs none
            self.dual_coef_ = alpha.astype(self._dtype)
            self.X_fit_ = X
            Ka = self._matvec(X, alpha)
            self.residual_ = float(np.linalg.norm(Ka + n * lam * alpha - y) / max(np.linalg.norm(y), 1e-300))
            self.n_iter_ = 1  # one direct solve (scikit-learn wants n_iter_ >= 1)
            return
        shift = n * ridge
        KF, kdiag, jitter = _cholesky_in_place(K, shift, what="the Gram matrix", allow_jitter=ridge > 0)
        Ldiag = np.diagonal(KF).copy()
        if ridge == 0:
            eps = float(np.finfo(K.dtype).eps)
            if Ldiag.min() ** 2 <= n * eps * kdiag.max():
                raise ValueError(
                    "the Gram matrix is singular to working precision (smallest Cholesky pivot "
                    f"{Ldiag.min() ** 2:.3g} vs largest diagonal {kdiag.max():.3g}) and ridge=0 adds "
                    "nothing to its diagonal; use ridge > 0 or ridge='validate'"
                )
        (potrs,) = _lapack(("potrs",), K)
        rhs = y.astype(K.dtype)
        alpha, info = potrs(KF, rhs, lower=1)
        if info != 0:
            raise RuntimeError(f"LAPACK potrs failed with info={info}")
        # residual of (K + n lam I) alpha = y from the untouched triangle (Fortran-upper of KF)
        symv = blas.dsymv if K.dtype == np.float64 else blas.ssymv
        Ka = symv(1.0, KF, alpha, lower=0) + (kdiag - Ldiag) * alpha
        r = Ka.astype(np.float64) + shift * alpha - y
        self.residual_ = float(np.linalg.norm(r) / max(np.linalg.norm(y), 1e-300))
        self.ridge_ = ridge
        self.jitter_ = jitter
        self.n_iter_ = 1  # one direct solve (scikit-learn wants n_iter_ >= 1)
        self.dual_coef_ = alpha.astype(self._dtype)
        self.X_fit_ = X

    # ----- Nystrom / Falkon ------------------------------------------------------------------
    def _default_centers(self, n):
        """min(n, max(1024, 16 sqrt(n))), shrunk so that the two M x M factors take at most 80% of
        the memory budget (the rest is for the data and one block)."""
        fit = math.isqrt(int(0.8 * self._budget_bytes / (2 * self._dtype.itemsize)))
        return max(1, min(n, max(1024, 16 * math.isqrt(n)), fit))

    def _fit_nystrom(self, X, y, X_val, y_val, ridge):
        n = X.shape[0]
        M = self.n_centers if self.n_centers is not None else self._default_centers(n)
        if M > n:
            raise ValueError(f"n_centers={M} must be <= the number of training samples n={n}")
        itemsize = self._dtype.itemsize
        fixed = 2 * M * M * itemsize  # T and A
        if fixed > self._budget_bytes:
            raise ValueError(
                f"max_memory={self._budget_bytes:.4g} bytes is too small for even one block: the Nystrom "
                f"preconditioner alone needs 2 M^2 = {fixed:.4g} bytes for n_centers={M}; "
                "raise max_memory or lower n_centers"
            )
        self._rows = self._block_rows(n, M, itemsize, self._budget_bytes - fixed)
        rng = np.random.default_rng(self.seed)
        tol = self.tol if self.tol is not None else (1e-7 if self._dtype == np.float64 else 1e-4)
        if ridge != "validate":
            centers = np.sort(rng.choice(n, size=M, replace=False))
            self._falkon(X, y, X[centers], ridge, tol)
            self.ridge_ = ridge
            return
        if X_val is None:  # hold out a slice of the training rows to choose lambda
            perm = rng.permutation(n)
            n_hold = max(1, int(round(HOLDOUT_FRACTION * n)))
            if n - n_hold < M:
                raise ValueError(
                    f"ridge='validate' without X_val holds out {n_hold} of {n} rows, leaving fewer than "
                    f"n_centers={M}; pass X_val, y_val or a fixed ridge"
                )
            tr, ho = np.sort(perm[n_hold:]), np.sort(perm[:n_hold])
            X_sel, y_sel, X_chk, y_chk = X[tr], y[tr], X[ho], y[ho]
        else:
            X_sel, y_sel, X_chk, y_chk = X, y, X_val, y_val
        centers = np.sort(rng.choice(X_sel.shape[0], size=M, replace=False))
        C = X_sel[centers]
        scores = np.empty(len(NYSTROM_GRID))
        best = None
        for k, lam in enumerate(NYSTROM_GRID):
            self._falkon(X_sel, y_sel, C, float(lam), tol, warn=False)
            scores[k] = float(np.mean((self._matvec(X_chk, self.dual_coef_) - y_chk) ** 2))
            if best is None or scores[k] < scores[best]:
                best = k
                kept = (self.dual_coef_, self.n_iter_, self.residual_)
        lam = float(NYSTROM_GRID[best])
        self.ridge_path_ = (NYSTROM_GRID.copy(), scores)
        self.ridge_ = lam
        if X_val is None:  # refit on every training row with the chosen lambda
            C = X[np.sort(rng.choice(n, size=M, replace=False))]
            self._falkon(X, y, C, lam, tol)
        else:
            self.dual_coef_, self.n_iter_, self.residual_ = kept
            self.X_fit_ = C

    def _falkon(self, X, y, C, lam, tol, warn=True):
        n, M = X.shape[0], C.shape[0]
        mod = self._gram_module(X)
        KMM = mod.kernel_gram(C, None, self._beta, self._kind)
        # T: K_MM + jitter = T^T T (a small base jitter as in Falkon; K_MM is often numerically
        # singular). TF = KMM.T holds L = T^T in its Fortran-lower triangle.
        eps = float(np.finfo(KMM.dtype).eps)
        base = M * eps * float(np.mean(np.diagonal(KMM)))
        TF, _, jit = _cholesky_in_place(KMM, base, what="the centres' kernel matrix K_MM")
        # A: T T^T / M + lam I = A^T A. W starts as a copy of L's storage; LAPACK's lauum turns
        # its Fortran-lower triangle into that of L^T L = T T^T in place.
        lauum, trtrs = _lapack(("lauum", "trtrs"), KMM)
        W = KMM.copy()
        with _safe_threads(W.dtype, M):
            res, info = lauum(W.T, lower=1, overwrite_c=1)
        if not np.may_share_memory(res, W):
            raise RuntimeError("LAPACK copied the preconditioner instead of working in place")
        if info != 0:
            raise RuntimeError(f"LAPACK lauum failed with info={info}")
        _mirror_upper_to_lower(W)  # the C-upper triangle is valid; _cholesky_in_place wants both
        W *= W.dtype.type(1.0 / M)
        LA, _, _ = _cholesky_in_place(W, lam, what="the Nystrom preconditioner T T^T/M + lam I")
        dt = KMM.dtype
        sqrt_n = math.sqrt(n)

        def tri(F, v, trans):
            x, info = trtrs(F, v.astype(dt), lower=1, trans=trans)
            if info != 0:
                raise RuntimeError(f"LAPACK trtrs failed with info={info}")
            return x.astype(np.float64)

        def B(v):  # T^-1 A^-1 v / sqrt(n): T^-1 = L^-T, A^-1 = LA^-T
            return tri(TF, tri(LA, v, 1), 1) / sqrt_n

        def Bt(w):  # A^-T T^-T w / sqrt(n)
            return tri(LA, tri(TF, w, 0), 0) / sqrt_n

        nmv = resolve(self.backend, "kernel_normal_matvec", X).kernel_normal_matvec

        def op(v):  # B^T (K_nM^T K_nM + n lam K_MM) B v, with B^T n lam K_MM B = lam A^-T A^-1
            return Bt(nmv(X, C, B(v), self._beta, self._kind, self._rows)) + lam * tri(LA, tri(LA, v, 1), 0)

        rhs = Bt(nmv(X, C, None, self._beta, self._kind, self._rows, W=y))
        beta, it, res = _pcg(op, rhs, tol, int(self.max_iter))
        if warn and res > tol:
            warnings.warn(
                f"the Nystrom conjugate gradient stopped after {it} iterations at relative residual "
                f"{res:.3g} > tol={tol:.3g}; raise max_iter or tol",
                ConvergenceWarning,
                stacklevel=3,
            )
        self.dual_coef_ = B(beta).astype(self._dtype)
        self.X_fit_ = C
        self.n_iter_ = it
        self.residual_ = res
        self.jitter_ = jit

    # ----- predict ---------------------------------------------------------------------------
    def _matvec(self, X, alpha):
        M = self.X_fit_.shape[0]
        rows = self._block_rows(X.shape[0], M, self._dtype.itemsize, self._budget())
        mod = resolve(self.backend, "kernel_matvec", X)
        pred = mod.kernel_matvec(X, self.X_fit_, alpha.astype(self._dtype), self._beta, self._kind, rows)
        return pred.astype(np.float64)

    def predict(self, X):
        """Predictions (n,) float64 for X (n, d), computed a block of rows at a time."""
        check_is_fitted(self, "dual_coef_")
        with naming("X"):
            X = validate_data(self, X, reset=False, dtype=[np.float64, np.float32])
        X = np.ascontiguousarray(X, dtype=self._dtype)
        check_kernel_scale(X, self._beta, self._dtype, "X")
        pred = self._matvec(X, self.dual_coef_)
        return check_finite_output(pred, "the predictions", "X")


class NTKRegressor(_KernelRidgeBase):
    """Kernel ridge regression with the two-layer ReLU NTK (:func:`fastrep.ntk_kernel`).

    Parameters
    ----------
    ridge : 'validate' or float >= 0
        lambda in (1/n)|y - K alpha|^2 + lambda alpha^T K alpha. 'validate' chooses it on
        (X_val, y_val) when given; otherwise by generalized cross-validation (cholesky) or on
        a held-out 10% of the training rows, followed by a refit on all rows (nystrom).
        The cholesky grid is :func:`fastrep.ridge.lambda_grid` (100 values in [1e-10, 1e15],
        one eigendecomposition); the nystrom grid is ``NYSTROM_GRID`` (1e-9 .. 1e-1).
        ridge=0 is exact interpolation and fails with a clear error on a singular Gram matrix.
    solver : 'auto', 'cholesky' or 'nystrom' (see the module docstring).
    beta : first-layer bias scale of the kernel, >= 0.
    n_centers : Nystrom centres M (default min(n, max(1024, 16 sqrt(n))), fewer if the two
        M x M factors would pass 80% of max_memory); must be <= n.
    max_memory : bytes the solver may use (default: half of the available RAM at fit time).
    dtype : float64 (default) or float32, for the Gram matrix and its factorization.
    backend : kernel backend, as for :func:`fastrep.ntk_kernel`.
    seed : chooses the Nystrom centres and the held-out rows.
    block_size : rows per kernel block (default: blocks of about 16 MiB).
    tol, max_iter : conjugate-gradient stopping rule (relative residual of the preconditioned
        system; default tol 1e-7 for float64, 1e-4 for float32).
    """

    _kind = "ntk"


class NNGPRegressor(_KernelRidgeBase):
    """Kernel ridge regression with the two-layer ReLU NNGP kernel (:func:`fastrep.nngp_kernel`),
    i.e. the infinite-width limit of random-features ridge regression. Parameters as for
    :class:`NTKRegressor`."""

    _kind = "nngp"
