"""Kernel ridge regression with the NTK and NNGP kernels: exact (Cholesky) and large-n (Nystrom).

Both solve  min_alpha (1/n) |y - K alpha|^2 + lam alpha^T K alpha  (the ridge of the paper
section 2, written for a kernel), whose solution is alpha = (K + n lam I)^-1 y, and predict
f(x) = K(x, X_fit) alpha.

``solver='cholesky'``
    The n x n Gram matrix (float64 by default) is formed once and factorized in place (no
    copy on the CPU) by the backend's ``cholesky``. A failed factorization is retried with
    jitter added to the diagonal, escalating by 100x, with a :class:`JitterWarning`. With
    ``ridge='validate'`` the Gram matrix is eigendecomposed once
    (:class:`fastrep.ridge.EigenRidge`) and every lambda of the grid costs O(n) (validation
    data) or O(n) (generalized cross-validation).
    Refuses, naming ``solver='nystrom'``, when the Gram matrix would not fit ``max_memory``.

``solver='nystrom'``
    Falkon with M centres drawn from the training rows (:class:`fastrep.nystrom.Nystrom`).
    On the CPU one M x M buffer holds both preconditioner factors (in the data's dtype, at
    most 80% of ``max_memory``); K_nM (n x M) is computed once and kept where it fits the
    rest (``store_kernel='auto'``), else recomputed block by block at every iteration
    (memory O(n d + M^2 + block M)). An n_centers that cannot fit is refused before anything
    is allocated. With M = n it is exact kernel ridge regression. The default M is the centre rule
    (``fastrep.nystrom.centers_needed``): the dimension of the kernel's eigenspaces that n
    samples resolve (47840 at d = 64, n = 10^5), capped by memory; ``centers_limited_`` records
    when M, not n, limits the error (with a warning when the cap came from ``max_memory``).

``solver='auto'``
    cholesky when n <= 20000 and the Gram matrix fits the memory budget, else nystrom.

Predictions are blocked the same way, so a 10^6-row test set never allocates 10^6 x n.
The data's array library is kept: with CuPy inputs (or NumPy inputs and ``backend='cupy'``,
which moves them to the device once) the Gram matrix,
the factorization (cuSOLVER), the eigendecomposition of the lambda path, the blocked Nystrom
products and the predictions stay on the device. Fitted arrays (``X_fit_``, ``dual_coef_``)
are kept on the host too, so a fitted model pickles and predicts anywhere.
"""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.exceptions import ConvergenceWarning  # noqa: F401 (raised by the Nystrom solver)
from sklearn.utils.validation import check_is_fitted, validate_data

from ._arrays import place
from ._kernels import JitterWarning
from ._memory import resolve_max_memory
from ._progress import Progress
from ._validation import (
    MEMORY_RULES,
    RIDGE_RULES,
    SEED_RULES,
    Boolean,
    FloatDType,
    Interval,
    NoneRule,
    Options,
    RuleChecked,
    as_float_array,
    check_dtype,
    check_finite_output,
    naming,
    public_init,
)
from ._warnings import user_stacklevel
from .backend import FAMILIES, Portable, context
from .ntk import MAX_BETA, check_kernel_scale
from .nystrom import (
    Nystrom,
    centers_needed,
    centers_within,
    kernel_rows_bytes,
    preconditioner_bytes,
    preconditioner_matrices,
)
from .ridge import EigenRidge, lambda_grid, resolve_ridge, ridge_path

__all__ = ["JitterWarning", "NNGPRegressor", "NTKRegressor"]

#: solver='auto' uses the exact solver up to this many samples (when the Gram matrix fits)
AUTO_EXACT_MAX_N = 20_000
#: bytes of one kernel block (block rows x M) when block_size is not given: it stays in L3 cache,
#: so the two matrix-vector products that read it after the fused pass do not go to memory
DEFAULT_BLOCK_BYTES = 16 * 2**20
#: lambda grid for ridge='validate' with the Nystrom solver (each value costs a factorization
#: and a CG solve, so the grid is short; the kernel values are O(1) with beta = 1)
NYSTROM_GRID = np.logspace(-9, -1, 9)
#: the Nystrom preconditioner's base jitter per dtype (``fastrep.nystrom.Nystrom``'s pc_epsilon;
#: a dtype not named: its machine epsilon)
NYSTROM_PC_EPSILON: dict = {}
#: share of the training rows held out to choose lambda when nystrom validates without X_val
HOLDOUT_FRACTION = 0.1

_FAMILIES = {k: v for k, v in FAMILIES["NTKRegressor"].items() if k != "nystrom"}


def _rows(xp, X, idx):
    return xp.take(X, xp.asarray(idx), axis=0)


class _KernelRidgeBase(RuleChecked, Portable, RegressorMixin, BaseEstimator):
    _kind = "ntk"
    _parameter_rules = {
        "ridge": RIDGE_RULES,
        "solver": [Options("auto", "cholesky", "nystrom")],
        "beta": [Interval("real", 0, MAX_BETA, desc=f"a finite number >= 0 and <= {MAX_BETA:g} "
                                                     "(beta^2 enters every kernel value)")],
        "n_centers": [Interval("integer", 1, None), NoneRule()],
        "max_memory": MEMORY_RULES,
        "store_kernel": [Options("auto"), Boolean()],
        "dtype": [FloatDType(auto=True)],
        "seed": SEED_RULES,
        "block_size": [Interval("integer", 1, None), NoneRule()],
        "tol": [Interval("real", 0, 1, closed="neither"), NoneRule()],
        "max_iter": [Interval("integer", 1, None)],
        "verbose": [Boolean()],
    }

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "__init__" not in cls.__dict__:
            public_init(cls)  # a mistyped option names NTKRegressor, not _KernelRidgeBase

    def __init__(self, *, ridge="validate", solver="auto", beta=1.0, n_centers=None, max_memory=None,
                 store_kernel="auto", dtype=np.float64, backend="auto", seed=0, block_size=None, tol=None,
                 max_iter=100, verbose=False):
        self.ridge = ridge
        self.verbose = verbose
        self.solver = solver
        self.beta = beta
        self.n_centers = n_centers
        self.max_memory = max_memory
        self.store_kernel = store_kernel
        self.dtype = dtype
        self.backend = backend
        self.seed = seed
        self.block_size = block_size
        self.tol = tol
        self.max_iter = max_iter

    # ----- parameters --------------------------------------------------------------------
    def _check_params(self):
        """The rule table's check (:meth:`check_params`), then (ridge, dtype or None for 'auto', beta)."""
        self.check_params()
        dtype = None if (isinstance(self.dtype, str) and self.dtype == "auto") else check_dtype(self.dtype)
        return resolve_ridge(self.ridge), dtype, float(self.beta)

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

    # ----- validation ------------------------------------------------------------------------
    def _validate_x(self, X, name="X"):
        """X (n, d) with the d seen at fit, in its own library: scikit-learn's checks for host data."""
        if place(X).on_host:
            with naming(name):
                return validate_data(self, X, reset=False, dtype=[np.float64, np.float32])
        X = as_float_array(X, name, ndim=2)
        if X.shape[1] != self.n_features_in_:
            raise ValueError(f"{name} has {X.shape[1]} features, but {type(self).__name__} is expecting "
                             f"{self.n_features_in_} features as input")
        return X

    def _validate_xy(self, X, y):
        if place(X, y).on_host:  # place refuses a mix of libraries
            with naming("X", "y"):
                return validate_data(self, X, y, dtype=[np.float64, np.float32], y_numeric=True)
        X = as_float_array(X, "X", ndim=2)
        y = as_float_array(y, "y", ndim=1)
        if y.shape[0] != X.shape[0]:
            raise ValueError(f"y has {y.shape[0]} entries but X has {X.shape[0]} rows; they must match")
        self.n_features_in_ = X.shape[1]
        return X, y

    # ----- fit -----------------------------------------------------------------------------
    def fit(self, X, y, X_val=None, y_val=None):
        """Fit the kernel ridge regression on X and y.

        Fitted attributes: ``solver_`` ('cholesky' or 'nystrom'), ``ridge_`` (the lambda
        used), ``n_iter_`` (CG iterations; 1 for the direct cholesky solve), ``residual_``
        (relative residual ``|(K + n lam I) alpha - y| / |y|`` for cholesky, with K represented by
        its factorization when the ridge is fixed; of the preconditioned system for nystrom),
        ``X_fit_`` (the training rows or the centres) and ``dual_coef_`` (alpha), both NumPy
        arrays, ``dtype_`` (the precision that ran: ``dtype``, or what ``dtype='auto'``
        chose), ``backend_`` (the backend of each family).

        Parameters
        ----------
        X : array of shape (n, d), float32 or float64
            The training inputs: a NumPy, CuPy or other array-API array.
        y : array of shape (n,), float32 or float64
            The training labels.
        X_val : array of shape (n_val, d) or None, default None
            Validation inputs for ``ridge='validate'``; without them the ridge is chosen by
            generalized cross-validation.
        y_val : array of shape (n_val,) or None, default None
            Validation labels; given together with ``X_val``.

        Returns
        -------
        self
            The fitted estimator.

        Raises
        ------
        ValueError
            For an invalid parameter (named in the message), y whose length is not X's number
            of rows, NaN or inf in y or y_val, only one of ``X_val`` and ``y_val``, inputs
            whose kernel values overflow ``dtype``, or ``solver='cholesky'`` when the n x n
            Gram matrix does not fit the memory budget (``max_memory``).
        TypeError
            For X or y that is not a real float array, or a mix of array libraries.

        Examples
        --------
        >>> import fastrep
        >>> target = fastrep.MultiIndexTarget.separation(d=6, seed=0)
        >>> X, y = fastrep.GaussianStream(target, seed=1, dtype="float64").take(300)
        >>> model = fastrep.NTKRegressor().fit(X, y)
        >>> model.solver_, model.dual_coef_.shape
        ('cholesky', (300,))
        """
        ridge, dtype, beta = self._check_params()
        X, y = self._validate_xy(X, y)
        families = dict(_FAMILIES)
        n = X.shape[0]
        budget = self._budget()

        def exact_need(itemsize):
            # fixed ridge: the Gram matrix, factorized in place, and as much again for LAPACK/BLAS;
            # validate: the Gram matrix, its float64 version (a copy if float32), eigh's working
            # copy and the eigenvectors
            if ridge == "validate":
                return n * n * (itemsize + 8 * (2 + (itemsize == 4)))
            return n * n * 2 * itemsize

        solver = self.solver
        if dtype is None:  # 'auto': the most precise exact solve that fits, else float64 Nystrom
            exact_ok = solver == "cholesky" or (solver == "auto" and n <= AUTO_EXACT_MAX_N)
            fits = [dt for dt in map(np.dtype, (np.float64, np.float32))
                    if exact_ok and exact_need(dt.itemsize) <= budget]
            dtype = fits[0] if fits else np.dtype(np.float64)
        self.dtype_ = dtype
        check_kernel_scale(X, beta, dtype, "X")
        exact_bytes = exact_need(dtype.itemsize)
        if solver == "auto":
            solver = "cholesky" if (n <= AUTO_EXACT_MAX_N and exact_bytes <= budget) else "nystrom"
        if solver == "cholesky" and exact_bytes > budget:
            raise ValueError(
                f"the exact solver needs about {exact_bytes / 2**30:.3g} GiB for n={n} "
                f"(the {n}x{n} Gram matrix and its workspace) but the memory budget is "
                f"{budget / 2**30:.3g} GiB (max_memory); use solver='nystrom' with n_centers << n"
            )
        if solver == "nystrom":
            families["nystrom"] = "kernel_normal_matvec"
        elif ridge == "validate":
            families["ridge"] = "eigh"
        ctx = context(self.backend, families, X, y, dtype=dtype, move_host_data=True)
        xp = ctx.xp
        X = ctx.asarray(X)
        y = ctx.asarray(y, np.float64)
        if not bool(xp.all(xp.isfinite(y))):
            raise ValueError("y contains NaN or inf")
        val = None
        if (X_val is None) != (y_val is None):
            raise ValueError("X_val and y_val must be given together")
        if X_val is not None:
            X_val = ctx.asarray(self._validate_x(X_val, "X_val"))
            check_kernel_scale(X_val, beta, dtype, "X_val")
            y_val = ctx.asarray(as_float_array(y_val, "y_val", finite=False), np.float64)
            if tuple(y_val.shape) != (X_val.shape[0],):
                raise ValueError(
                    f"y_val must be 1-D with {X_val.shape[0]} entries; got shape {tuple(y_val.shape)}"
                )
            if not bool(xp.all(xp.isfinite(y_val))):
                raise ValueError("y_val contains NaN or inf")
            val = (X_val, y_val)
        self._beta, self._dtype, self._budget_bytes = beta, dtype, budget
        self._exact_bytes = exact_bytes
        self.solver_ = solver
        self._ctx = ctx
        self._progress = Progress(self.verbose, type(self).__name__)
        if solver == "cholesky":
            X_fit, alpha = self._fit_cholesky(ctx, X, y, val, ridge)
        else:
            X_fit, alpha = self._fit_nystrom(ctx, X, y, val, ridge)
        self._keep(X_fit, alpha)
        self.backend_ = ctx.backend_
        return self

    def _keep(self, X_fit, alpha):
        """The fitted arrays: on the host (``X_fit_``, ``dual_coef_``), and where they were made."""
        ctx = self._ctx
        alpha = ctx.xp.astype(alpha, ctx.xdtype)
        self.X_fit_, self.dual_coef_ = ctx.host(X_fit), ctx.host(alpha)
        self._device = None if ctx.on_host else (ctx.xp, X_fit, alpha)

    def _fitted_on(self, ctx):
        dev = getattr(self, "_device", None)
        if dev is not None and dev[0] is ctx.xp:
            return dev[1:]
        return ctx.asarray(self.X_fit_), ctx.asarray(self.dual_coef_)

    def _fit_cholesky(self, ctx, X, y, val, ridge):
        xp, la = ctx.xp, ctx["ridge"]
        n = X.shape[0]
        progress = self._progress
        with progress.stage(f"Gram matrix ({n} x {n})"):
            K = ctx["gram"].kernel_gram(X, None, self._beta, self._kind)
        if ridge == "validate":
            K *= 1.0 / n  # in place: A = K/n, b = y/n (EigenRidge's convention)
            with progress.stage(f"eigendecomposition ({n} x {n})"):
                er = EigenRidge(K, y / n, rcond=10 * float(xp.finfo(K.dtype).eps), ops=la)
            del K
            lams = lambda_grid()
            if val is not None:
                # validation predictions for every lambda, block by block: never the (n_val, n) matrix
                Xv, yv = val
                rows = self._block_rows(Xv.shape[0], n, 8, self._budget_bytes - self._exact_bytes)
                blocks = ((ctx["gram"].kernel_gram(Xv[s:min(s + rows, Xv.shape[0]), ...], X, self._beta,
                                                   self._kind), yv[s:min(s + rows, Xv.shape[0])])
                          for s in range(0, Xv.shape[0], rows))
                with progress.stage(f"validation of {len(lams)} lambdas on {Xv.shape[0]} rows"):
                    lam, scores = er.select_blocks(blocks, lams)
            else:
                lam, scores = er.gcv(n, float(y @ y), lams, kernel=True)
            alpha = er.coef(lam)
            self.ridge_path_ = ridge_path(lams, scores, who=type(self).__name__)
            self.ridge_ = lam
            self.jitter_ = 0.0  # an eigendecomposition needs none
            # residual of (K + n lam I) alpha = y, with K alpha recomputed block by block
            r = self._gram_matvec(ctx, X, alpha) + (n * lam) * alpha - y
        else:
            shift = n * ridge
            kdiag_max = float(xp.max(xp.linalg.diagonal(K)))
            eps = float(xp.finfo(K.dtype).eps)
            try:
                with progress.stage(f"Cholesky factorization ({n} x {n})"):
                    L, used = la.cholesky(K, jitter=shift, escalate=ridge > 0, overwrite_a=True,
                                          what="the Gram matrix")
            except np.linalg.LinAlgError as exc:
                if ridge > 0:
                    raise
                raise ValueError(
                    "the Gram matrix is singular to working precision and ridge=0 adds nothing to its "
                    "diagonal; use ridge > 0 or ridge='validate'"
                ) from exc
            del K  # L is K's own memory on the CPU; on a device this frees the Gram matrix
            if ridge == 0:
                pivot = float(xp.min(xp.linalg.diagonal(L))) ** 2
                if pivot <= n * eps * kdiag_max:
                    raise ValueError(
                        f"the Gram matrix is singular to working precision (smallest Cholesky pivot "
                        f"{pivot:.3g} vs largest diagonal {kdiag_max:.3g}) and ridge=0 adds nothing to "
                        "its diagonal; use ridge > 0 or ridge='validate'"
                    )
            alpha = xp.astype(la.cho_solve(L, xp.astype(y, L.dtype)), xp.float64)
            # residual of (K + n lam I) alpha = y with K + n lam I = L L^T - jitter I: two
            # triangular products, O(n^2) (the Gram matrix itself is gone, factorized in place)
            a_dt = xp.astype(alpha, L.dtype)
            LLa = xp.astype(L @ (L.T @ a_dt), xp.float64)
            r = LLa - (used - shift) * alpha - y
            del L
            self.ridge_ = ridge
            self.jitter_ = used - shift
        self.residual_ = float(xp.linalg.vector_norm(r)) / max(float(xp.linalg.vector_norm(y)), 1e-300)
        self.n_iter_ = 1  # one direct solve (scikit-learn wants n_iter_ >= 1)
        return X, alpha

    def _gram_matvec(self, ctx, X, alpha):
        """K(X, X) @ alpha, (n,) float64, computed a block of rows at a time (never n x n), each
        diagonal block by the symmetric formula so that the diagonal is the Gram matrix's own,
        exact one (off the diagonal the two formulas agree to rounding)."""
        xp, gram, n = ctx.xp, ctx["gram"], X.shape[0]
        rows = self._block_rows(n, n, 8, self._budget_bytes - self._exact_bytes)
        alpha = xp.astype(alpha, ctx.xdtype)
        parts = []
        for s in range(0, n, rows):
            e = min(s + rows, n)
            Kb = gram.kernel_gram(X[s:e, ...], X, self._beta, self._kind)
            Kb[:, s:e] = gram.kernel_gram(X[s:e, ...], None, self._beta, self._kind)
            parts.append(xp.astype(Kb @ alpha, xp.float64))
        return xp.concat(parts)

    # ----- Nystrom / Falkon ------------------------------------------------------------------
    def _plan_centers(self, ctx, n, d, needed):
        """(M, preconditioner dtype): n_centers or the centre rule; the data's dtype (Falkon's).

        The preconditioner (``fastrep.nystrom.preconditioner_bytes``) may take 80% of the
        budget, the rest is for K_nM or its blocks; an explicit n_centers that cannot fit is
        refused here, before anything is allocated. A float64 preconditioner for float32 data
        costs twice the memory and about 1.9x the factorization time for an excess error
        0.1% closer to the float64 fit's (d = 32, n = 2e4, M = 12,000, ridge 1e-6;
        benchmarks/RESULTS_KERNELS.md, "Preconditioner precision").
        """
        budget, x_dt = self._budget_bytes, np.dtype(self._dtype)
        mats = preconditioner_matrices(ctx)
        if self.n_centers is not None:
            M = int(self.n_centers)
            if M > n:
                raise ValueError(f"n_centers={M} must be <= the number of training samples n={n}")
            need = preconditioner_bytes(ctx, M, d, x_dt.itemsize)
            if need <= 0.8 * budget:
                return M, x_dt
            raise ValueError(
                f"max_memory={int(budget)} bytes is too small for n_centers={M}: the Nystrom "
                f"preconditioner alone needs {need} bytes ({need / 2**30:.3g} GiB, "
                f"{mats} x {M}^2 {x_dt.name} and its work space), and at most 80% of max_memory goes "
                "to it (the rest to the kernel blocks); lower n_centers or raise max_memory"
            )
        return centers_within(needed, d, x_dt.itemsize, budget, mats), x_dt

    def _fit_nystrom(self, ctx, X, y, val, ridge):
        xp = ctx.xp
        n, d = X.shape
        needed, degree = centers_needed(n, d, self._kind, self._beta)
        M, pc_dtype = self._plan_centers(ctx, n, d, needed)
        self.n_centers_, self.n_centers_needed_, self.preconditioner_dtype_ = M, needed, pc_dtype
        self.centers_limited_ = M < needed
        if self.centers_limited_ and self.n_centers is None:
            warnings.warn(
                f"the centre rule asks for M={needed} centres at n={n}, d={d} (the kernel's "
                f"eigenspaces up to degree {degree} that n samples resolve), but max_memory="
                f"{self._budget_bytes:.4g} bytes holds M={M}: M, not n, limits the error; raise "
                "max_memory", UserWarning, stacklevel=user_stacklevel())
        itemsize = self._dtype.itemsize
        fixed = preconditioner_bytes(ctx, M, d, pc_dtype.itemsize)
        store = self._plan_storage(n, M, itemsize, fixed)
        self.kernel_stored_ = store
        rows = self._block_rows(n, M, itemsize, self._budget_bytes - fixed
                                - (kernel_rows_bytes(n, M, itemsize) if store else 0))
        rng = np.random.default_rng(self.seed)
        tol = self.tol if self.tol is not None else (1e-7 if self._dtype == np.float64 else 1e-4)
        solve_opts = dict(tol=tol, max_iter=int(self.max_iter))

        def factorize(C):
            return Nystrom(ctx, C, beta=self._beta, kind=self._kind, block_rows=rows, pc_dtype=pc_dtype,
                           pc_epsilon=NYSTROM_PC_EPSILON.get(np.dtype(pc_dtype).name),
                           progress=self._progress)

        def keep(res):
            self.n_iter_, self.residual_, self.jitter_ = res.n_iter, res.residual, res.jitter

        if ridge != "validate":
            self.ridge_ = ridge
            C = _rows(xp, X, np.sort(rng.choice(n, size=M, replace=False)))
            ny = factorize(C)
            res = ny.solve(ny.kernel_rows(X, store=store), y, ridge, **solve_opts)
            keep(res)
            return C, res.alpha
        if val is None:  # hold out a slice of the training rows to choose lambda
            perm = rng.permutation(n)
            n_hold = max(1, int(round(HOLDOUT_FRACTION * n)))
            if n - n_hold < M:
                raise ValueError(
                    f"ridge='validate' without X_val holds out {n_hold} of {n} rows, leaving fewer than "
                    f"n_centers={M}; pass X_val, y_val or a fixed ridge"
                )
            # the kept rows first, the held-out ones last: K(X, C) is computed (or stored) once
            # for all rows, the lambdas read its first n_sel rows, the refit all of them
            order = np.concatenate([np.sort(perm[n_hold:]), np.sort(perm[:n_hold])])
            X, y = _rows(xp, X, order), _rows(xp, y, order)
            n_sel = n - n_hold
        else:
            n_sel = n
        C = _rows(xp, X[:n_sel, ...], np.sort(rng.choice(n_sel, size=M, replace=False)))
        ny = factorize(C)  # K_MM and its factor, shared by every lambda (and by the refit)
        K_all = ny.kernel_rows(X, store=store)
        K_sel = K_all.rows(0, n_sel)
        y_sel = y[:n_sel]
        if val is None:
            K_chk, y_chk = K_all.rows(n_sel, n), y[n_sel:]
        else:
            K_chk, y_chk = None, val[1]
        scores = np.empty(len(NYSTROM_GRID))
        best = None
        for k, lam in enumerate(NYSTROM_GRID):
            res = ny.solve(K_sel, y_sel, float(lam), warn=False, **solve_opts)
            pred = self._matvec(ctx, val[0], C, res.alpha) if K_chk is None else K_chk.matvec(res.alpha)
            scores[k] = float(xp.mean((pred - y_chk) ** 2))
            if best is None or scores[k] < scores[best]:
                best, kept = k, res
        lam = float(NYSTROM_GRID[best])
        self.ridge_path_ = ridge_path(NYSTROM_GRID.copy(), scores, who=type(self).__name__)
        self.ridge_ = lam
        if val is None:  # refit on every training row with the chosen lambda (same centres)
            kept = ny.solve(K_all, y, lam, **solve_opts)
        keep(kept)
        return C, kept.alpha

    def _plan_storage(self, n, M, itemsize, fixed):
        """Whether to keep K_nM (n x M): store_kernel, and for 'auto' whether it fits the budget
        beside the preconditioner's ``fixed`` bytes and one row of kernel block; True that
        does not fit is refused here, before anything is allocated."""
        need = kernel_rows_bytes(n, M, itemsize)
        fits = fixed + need + 2 * M * itemsize <= self._budget_bytes
        if isinstance(self.store_kernel, str):  # 'auto'
            return bool(fits)
        if self.store_kernel and not fits:
            raise ValueError(
                f"max_memory={int(self._budget_bytes)} bytes is too small for store_kernel=True: "
                f"K_nM ({n} x {M} {np.dtype(self._dtype).name}) needs {need} bytes "
                f"({need / 2**30:.3g} GiB) beside the preconditioner's {fixed} bytes; use "
                "store_kernel='auto' or False (recompute it at every iteration), lower n_centers or "
                "raise max_memory"
            )
        return bool(self.store_kernel)

    # ----- predict ---------------------------------------------------------------------------
    def _matvec(self, ctx, X, X_fit, alpha):
        """K(X, X_fit) @ alpha, (n,) float64, a block of rows at a time."""
        M = X_fit.shape[0]
        rows = self._block_rows(X.shape[0], M, self._dtype.itemsize, self._budget())
        alpha = ctx.xp.astype(alpha, ctx.xdtype)
        pred = ctx["predict"].kernel_matvec(X, X_fit, alpha, self._beta, self._kind, rows)
        return ctx.xp.astype(pred, ctx.xp.float64)

    def predict(self, X):
        """Predict the labels of X, a block of rows at a time.

        Parameters
        ----------
        X : array of shape (n, d), float32 or float64
            Inputs with the d seen at fit.

        Returns
        -------
        array of shape (n,), float64
            The predictions, in X's array library.

        Raises
        ------
        sklearn.exceptions.NotFittedError
            Before :meth:`fit`.
        ValueError
            For X with another number of features than at fit, NaN or inf in X, or inputs
            whose kernel values overflow the fitted dtype.
        TypeError
            For X that is not a real float array.

        Examples
        --------
        >>> import fastrep
        >>> target = fastrep.MultiIndexTarget.separation(d=6, seed=0)
        >>> X, y = fastrep.GaussianStream(target, seed=1, dtype="float64").take(300)
        >>> fastrep.NNGPRegressor().fit(X, y).predict(X[:3]).dtype
        dtype('float64')
        """
        check_is_fitted(self, "dual_coef_")
        X = self._validate_x(X)
        ctx = context(self.backend, {"predict": "kernel_matvec"}, X, dtype=self._dtype, move_host_data=True)
        X_fit, alpha = self._fitted_on(ctx)
        X = ctx.asarray(X)
        check_kernel_scale(X, self._beta, self._dtype, "X")
        return check_finite_output(self._matvec(ctx, X, X_fit, alpha), "the predictions", "X")


class NTKRegressor(_KernelRidgeBase):
    """Kernel ridge regression with the two-layer ReLU NTK (:func:`fastrep.ntk_kernel`).

    A scikit-learn regressor (``check_estimator`` passes); predictions keep the input's array
    library, fitted arrays are NumPy.

    Parameters
    ----------
    ridge : 'validate' or float, default 'validate'
        lambda >= 0 in ``(1/n)|y - K alpha|² + lambda alpha^T K alpha``. 'validate' chooses
        it on (X_val, y_val) when given; otherwise by generalized cross-validation (cholesky)
        or on a held-out 10% of the training rows, followed by a refit on all rows (nystrom).
        The cholesky grid is :func:`fastrep.ridge.lambda_grid` (100 values in [1e-10, 1e15],
        one eigendecomposition); the nystrom grid is ``NYSTROM_GRID`` (1e-9 .. 1e-1).
        ridge=0 is exact interpolation and fails with a clear error on a singular Gram
        matrix. In scikit-learn's terms ridge=lambda is ``KernelRidge(alpha=n * lambda)`` with
        the same kernel (n = the number of training rows): ``alpha = (K + n lambda I)^-1 y``.
    solver : {'auto', 'cholesky', 'nystrom'}, default 'auto'
        'cholesky' is exact; 'nystrom' is Falkon-style (M centres, preconditioned conjugate
        gradient, memory O(nd + M² + block M)); 'auto' takes cholesky for n <= 20,000 when it
        fits ``max_memory``, else nystrom.
    beta : float, default 1.0
        The first-layer bias scale of the kernel, >= 0.
    n_centers : int or None, default None
        Nystrom centres M <= n. None: the centre rule (``fastrep.nystrom.centers_needed``:
        the kernel's eigenspaces in decreasing eigenvalue order while their dimension stays
        <= n, at least max(1024, 16 sqrt(n)), at most n), fewer if the preconditioner would
        pass 80% of ``max_memory``, with a UserWarning. After a Nystrom fit: ``n_centers_``
        (M), ``n_centers_needed_`` (the rule's M), ``centers_limited_`` (M < the rule's M: M,
        not n, limits the error) and ``preconditioner_dtype_``.
    max_memory : int or None, default None
        Bytes the solver may use (None: ``FASTREP_MAX_MEMORY``, else half of the available RAM
        at fit time). The Nystrom preconditioner may take 80% of it, the kernel blocks the rest.
    store_kernel : {'auto', True, False}, default 'auto'
        Nystrom: keep K_nM (n x M, the data's dtype) for the conjugate gradient, computed once,
        so that each iteration (and each lambda of the validation, and the refit) is two
        matrix-vector products instead of n M kernel entries recomputed. 'auto' stores it
        when it fits ``max_memory`` beside the preconditioner (Falkon's default); True
        refuses, before allocating, a fit where it does not; False never stores it (Falkon's
        ``never_store_kernel``: memory O(block M) for the kernel, every iteration recomputes
        it). ``kernel_stored_`` records what ran.
    dtype : {numpy.float64, numpy.float32, 'auto'}, default numpy.float64
        The Gram matrix's and its factorization's dtype. 'auto' takes the most precise exact
        solve that fits ``max_memory`` (float64, else float32) and, where neither fits (or
        ``solver='nystrom'``), float64 Nystrom; ``dtype_`` records what ran. float32 with a
        tiny fixed ridge may need jitter (:class:`fastrep.JitterWarning`).
    backend : {'auto', 'reference', 'cpp', 'numba', 'cupy'}, default 'auto'
        The kernel backend, as for :func:`fastrep.ntk_kernel`.
    seed : int, default 0
        Chooses the Nystrom centres and the held-out rows.
    block_size : int or None, default None
        Rows per kernel block (None: blocks of about 16 MiB).
    tol : float or None, default None
        The conjugate gradient's relative residual (of the preconditioned system) at which
        it stops (None: 1e-7 for float64, 1e-4 for float32).
    max_iter : int, default 100
        The conjugate gradient's largest number of iterations.
    verbose : bool, default False
        Progress on stderr: one line with the time of each stage (the Gram matrix, its
        Cholesky or eigendecomposition, the validation; the centres' kernel matrix, its
        Cholesky, each lambda's LAUUM and Cholesky) and a bar (tqdm) over the Nystrom
        conjugate-gradient iterations. Not part of the setting (a results store ignores it).

    Attributes
    ----------
    solver_ : {'cholesky', 'nystrom'}
        The solver that ran.
    ridge_ : float
        The lambda used.
    ridge_path_ : fastrep.ridge.RidgePath
        The lambdas tried and their scores (when validating).
    n_iter_ : int
        Conjugate-gradient iterations (0 for cholesky).
    residual_ : float
        The relative residual of the solve.
    X_fit_ : numpy.ndarray
        The training inputs (cholesky) or the Nystrom centres.
    dual_coef_ : numpy.ndarray
        The coefficients alpha of ``X_fit_``.
    dtype_ : numpy.dtype
        The dtype that ran.
    backend_ : dict
        The backend that ran each operation family.

    Raises
    ------
    ValueError
        At fit time, for an invalid parameter (named in the message) or mismatched data, or
        ``ridge=0`` with a singular Gram matrix.
    MemoryError
        At fit time, when the exact Gram matrix does not fit ``max_memory`` (the message
        names ``nystrom``).

    See Also
    --------
    NNGPRegressor : the same with the random-features (NNGP) kernel.

    Examples
    --------
    >>> import fastrep
    >>> target = fastrep.MultiIndexTarget.separation(d=8, seed=0)
    >>> X, y = fastrep.GaussianStream(target, seed=1, dtype="float64").take(1000)
    >>> model = fastrep.NTKRegressor(ridge=1e-6).fit(X, y)
    >>> model.solver_, fastrep.metrics.excess_error(model, target) < 0.5
    ('cholesky', True)
    """

    _kind = "ntk"


class NNGPRegressor(_KernelRidgeBase):
    """Kernel ridge regression with the two-layer ReLU NNGP kernel (:func:`fastrep.nngp_kernel`).

    The infinite-width limit of random-features ridge regression; everything else is as for
    :class:`NTKRegressor`.

    Parameters
    ----------
    ridge : 'validate' or float, default 'validate'
        lambda >= 0 in ``(1/n)|y - K alpha|² + lambda alpha^T K alpha``. 'validate' chooses
        it on (X_val, y_val) when given; otherwise by generalized cross-validation (cholesky)
        or on a held-out 10% of the training rows, followed by a refit on all rows (nystrom).
        The cholesky grid is :func:`fastrep.ridge.lambda_grid` (100 values in [1e-10, 1e15],
        one eigendecomposition); the nystrom grid is ``NYSTROM_GRID`` (1e-9 .. 1e-1).
        ridge=0 is exact interpolation and fails with a clear error on a singular Gram
        matrix. In scikit-learn's terms ridge=lambda is ``KernelRidge(alpha=n * lambda)`` with
        the same kernel (n = the number of training rows): ``alpha = (K + n lambda I)^-1 y``.
    solver : {'auto', 'cholesky', 'nystrom'}, default 'auto'
        'cholesky' is exact; 'nystrom' is Falkon-style (M centres, preconditioned conjugate
        gradient, memory O(nd + M² + block M)); 'auto' takes cholesky for n <= 20,000 when it
        fits ``max_memory``, else nystrom.
    beta : float, default 1.0
        The first-layer bias scale of the kernel, >= 0.
    n_centers : int or None, default None
        Nystrom centres M <= n (None: ``min(n, max(1024, 16 sqrt(n)))``, fewer if the two
        M x M factors would pass 80% of ``max_memory``).
    max_memory : int or None, default None
        Bytes the solver may use (None: ``FASTREP_MAX_MEMORY``, else half of the available RAM
        at fit time).
    store_kernel : {'auto', True, False}, default 'auto'
        Nystrom: keep K_nM for the conjugate gradient when it fits ``max_memory`` ('auto'),
        always (True: refused before allocating where it does not fit) or never (False), as
        for :class:`NTKRegressor`.
    dtype : {numpy.float64, numpy.float32, 'auto'}, default numpy.float64
        The Gram matrix's and its factorization's dtype. 'auto' takes the most precise exact
        solve that fits ``max_memory`` (float64, else float32) and, where neither fits (or
        ``solver='nystrom'``), float64 Nystrom; ``dtype_`` records what ran. float32 with a
        tiny fixed ridge may need jitter (:class:`fastrep.JitterWarning`).
    backend : {'auto', 'reference', 'cpp', 'numba', 'cupy'}, default 'auto'
        The kernel backend, as for :func:`fastrep.ntk_kernel`.
    seed : int, default 0
        Chooses the Nystrom centres and the held-out rows.
    block_size : int or None, default None
        Rows per kernel block (None: blocks of about 16 MiB).
    tol : float or None, default None
        The conjugate gradient's relative residual (of the preconditioned system) at which
        it stops (None: 1e-7 for float64, 1e-4 for float32).
    max_iter : int, default 100
        The conjugate gradient's largest number of iterations.
    verbose : bool, default False
        Progress on stderr: one line with the time of each stage (the Gram matrix, its
        Cholesky or eigendecomposition, the validation) and a bar (tqdm) over the Nystrom
        conjugate-gradient iterations. Not part of the setting (a results store ignores it).

    Attributes
    ----------
    solver_ : {'cholesky', 'nystrom'}
        The solver that ran.
    ridge_ : float
        The lambda used.
    ridge_path_ : fastrep.ridge.RidgePath
        The lambdas tried and their scores (when validating).
    n_iter_ : int
        Conjugate-gradient iterations (0 for cholesky).
    residual_ : float
        The relative residual of the solve.
    X_fit_ : numpy.ndarray
        The training inputs (cholesky) or the Nystrom centres.
    dual_coef_ : numpy.ndarray
        The coefficients alpha of ``X_fit_``.
    dtype_ : numpy.dtype
        The dtype that ran.
    backend_ : dict
        The backend that ran each operation family.

    Raises
    ------
    ValueError
        At fit time, for an invalid parameter (named in the message) or mismatched data, or
        ``ridge=0`` with a singular Gram matrix.
    MemoryError
        At fit time, when the exact Gram matrix does not fit ``max_memory`` (the message
        names ``nystrom``).

    Examples
    --------
    >>> import fastrep
    >>> target = fastrep.MultiIndexTarget.separation(d=8, seed=0)
    >>> X, y = fastrep.GaussianStream(target, seed=1, dtype="float64").take(500)
    >>> fastrep.NNGPRegressor(ridge=1e-6, solver="nystrom", n_centers=200).fit(X, y).solver_
    'nystrom'
    """

    _kind = "nngp"
