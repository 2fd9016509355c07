"""The oracle baseline: ridge on the Hermite features h_alpha(U x) with the true U.

It needs only about (number of Hermite terms) samples and no dependence on d, so it is the
floor every learning curve is drawn against (the paper).
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils.validation import check_is_fitted

from ._memory import check_allocation
from ._streams import as_stream, named_pass, stream_name, validation_rows
from ._validation import (
    MAX_DEGREE,
    MEMORY_RULES,
    RIDGE_RULES,
    FloatDType,
    HasAttributes,
    Interval,
    NoneRule,
    ParameterMemoryError,
    RuleChecked,
    as_float_array,
    check_dtype,
    check_int,
)
from .backend import FAMILIES, Portable, context, stream_context
from .hermite import count_multi_indices, multi_indices
from .ridge import EigenRidge, lambda_grid, resolve_ridge, ridge_path

__all__ = ["OracleRegressor"]


class OracleRegressor(RuleChecked, Portable, RegressorMixin, BaseEstimator):
    """Ridge regression on the Hermite features h_alpha(U x) up to a degree, with the target's true U.

    The floor of the comparison: it knows the relevant directions and needs about as many
    samples as g has terms. A scikit-learn regressor (``get_params``, ``clone``, ``score``).

    Parameters
    ----------
    target : fastrep.MultiIndexTarget
        Gives U and, by default, the degree.
    degree : int or None, default None
        The largest total degree of the features, <= 1000 (None: the target's degree).
    ridge : 'validate' or float, default 'validate'
        'validate' chooses lambda on validation data if given, else by generalized
        cross-validation; a number >= 0 is the lambda of ``(1/n)|y - H c|² + lambda |c|²``,
        i.e. scikit-learn's ``Ridge(alpha=n * lambda, fit_intercept=False)`` on the Hermite
        features H (n = the number of training rows).
    dtype : {numpy.float64, numpy.float32}, default numpy.float64
        The features' dtype.
    backend : {'auto', 'reference', 'cpp', 'numba', 'cupy'}, default 'auto'
        The Hermite features' backend.
    chunk_size : int, default 65536
        Rows per chunk of features.
    max_memory : int or None, default None
        Bytes the fit may use (fastrep's one budget: None is ``FASTREP_MAX_MEMORY`` or half of
        the available RAM). The K = C(r + degree, degree) features need K² float64 moments and
        chunk_size x K features; a degree whose K does not fit is refused with a
        ``MemoryError`` before anything is enumerated.

    Attributes
    ----------
    coef_ : numpy.ndarray
        (K,) float64, the coefficient of each feature.
    alphas_ : numpy.ndarray
        (K, r) int32, the multi-indices of the features.
    ridge_ : float
        The lambda used.
    ridge_path_ : fastrep.ridge.RidgePath
        The validation path (when ``ridge='validate'``).
    backend_ : dict
        The backends that ran, ``{'hermite': ..., 'ridge': ...}``.

    Raises
    ------
    ValueError
        At fit time, for an invalid ``degree``, ``ridge``, ``dtype`` or ``chunk_size``, or
        data that does not match the target's d.
    MemoryError
        At fit time, if the features do not fit ``max_memory``.

    Examples
    --------
    >>> import fastrep
    >>> target = fastrep.MultiIndexTarget.separation(d=10, seed=0)
    >>> X, y = fastrep.GaussianStream(target, seed=1).take(400)
    >>> oracle = fastrep.OracleRegressor(target, ridge=1e-8).fit(X, y)
    >>> oracle.coef_.shape, round(fastrep.metrics.excess_error(oracle, target), 4)
    ((10,), 0.0)
    """

    def __init__(self, target, *, degree=None, ridge="validate", dtype=np.float64, backend="auto",
                 chunk_size=65_536, max_memory=None):
        self.target = target
        self.max_memory = max_memory
        self.degree = degree
        self.ridge = ridge
        self.dtype = dtype
        self.backend = backend
        self.chunk_size = chunk_size

    _FAMILIES = {k: v for k, v in FAMILIES["OracleRegressor"].items() if k != "stream"}
    _parameter_rules = {
        "target": [HasAttributes("d", "r", "U", "degree", "noise", "f", desc="a fastrep.MultiIndexTarget")],
        "degree": [Interval("integer", 0, MAX_DEGREE), NoneRule()],
        "ridge": RIDGE_RULES,
        "dtype": [FloatDType()],
        "chunk_size": [Interval("integer", 1, None)],
        "max_memory": MEMORY_RULES,
    }

    def _features(self, ctx, X, name="X"):
        from .targets import hermite_projection

        try:
            return hermite_projection(X, self.target.U, self.alphas_, backend=ctx["hermite"].name)
        except ValueError as exc:  # hermite_features names its own argument, Z = X U^T
            if "overflow" not in str(exc):
                raise
            raise ValueError(f"{name} is too large: the Hermite features h_alpha(U x) of its rows overflow "
                             f"{X.dtype}; scale {name} down (Gaussian data stays below |x| = 10)") from None

    def check_fit(self, d: int, n: int = 1) -> int:
        """Check the parameters and what a fit on ``n`` rows of ``d`` features would need, before fitting.

        Checks the parameters (:meth:`check_params`), the target's d, and the
        K = C(r + degree, degree) features' moments against the memory budget. Nothing is
        enumerated or allocated.

        Parameters
        ----------
        d : int
            The number of features of the data, >= 1.
        n : int, default 1
            The number of rows, >= 1.

        Returns
        -------
        int
            The degree the fit would use.

        Raises
        ------
        ValueError
            If a parameter is invalid or ``d`` is not the target's d.
        MemoryError
            A ``ParameterMemoryError`` naming ``degree`` when the features' moments do not fit
            the memory budget.

        Examples
        --------
        >>> import fastrep
        >>> target = fastrep.MultiIndexTarget.separation(d=10, seed=0)
        >>> fastrep.OracleRegressor(target).check_fit(10, 1000)
        3
        """
        self.check_params()
        d, n = check_int(d, "d", low=1), check_int(n, "n", low=1)
        if d != self.target.d:
            raise ValueError(f"X has {d} features but the target has d = {self.target.d}")
        p = self.target.degree if self.degree is None else int(self.degree)
        K = count_multi_indices(self.target.r, p)
        # the (K, K) moments and their eigendecomposition (about 4 K^2 float64), and a chunk of features
        try:
            check_allocation(32.0 * K * K + 16.0 * min(int(self.chunk_size), n) * K,
                             what=f"the oracle's {K} features (degree {p})",
                             argument="degree (or chunk_size)", max_memory=self.max_memory)
        except MemoryError as exc:
            raise ParameterMemoryError("degree", str(exc)) from None
        return p

    def _prepare(self, d, n):
        p = self.check_fit(d, n)
        self._dtype = check_dtype(self.dtype)
        self.alphas_ = multi_indices(self.target.r, p, max_memory=self.max_memory)
        self.n_features_in_ = d

    def _solve(self, ctx, chunks, n, val):
        """Ridge on H = h_alpha(U x): H^T H and H^T y accumulated in float64 where the data lives."""
        xp = ctx.xp
        K = len(self.alphas_)
        G, b, yy = xp.zeros((K, K), dtype=xp.float64), xp.zeros(K, dtype=xp.float64), 0.0
        for X, y in chunks:
            H = xp.astype(self._features(ctx, X), xp.float64)
            yv = xp.astype(y, xp.float64)
            G = G + H.T @ H
            b = b + H.T @ yv
            yy += float(yv @ yv)
        er = EigenRidge(G / n, b / n, rcond=10 * np.finfo(np.float64).eps, ops=ctx["ridge"])
        ridge = resolve_ridge(self.ridge)
        self.ridge_path_ = None
        if ridge == "validate":
            if val is not None:
                Hv = xp.astype(self._features(ctx, val[0], "X_val"), xp.float64)
                ridge, scores = er.select(Hv, xp.astype(val[1], xp.float64), lambda_grid())
            else:
                ridge, scores = er.gcv(n, yy, lambda_grid())
            self.ridge_path_ = ridge_path(lambda_grid(), scores, who=type(self).__name__)
        self.ridge_ = float(ridge)
        self.coef_ = ctx.host(er.coef(ridge))
        self._ctx, self.backend_ = ctx, ctx.backend_
        return self

    def _xy(self, X, y, xn="X", yn="y", d=None):
        dt = check_dtype(self.dtype)
        X = as_float_array(X, xn, ndim=2, dtype=dt)
        y = as_float_array(y, yn, ndim=1, dtype=dt)
        if y.shape[0] != X.shape[0]:
            raise ValueError(f"{yn} has {y.shape[0]} entries but {xn} has {X.shape[0]} rows; they must match")
        if d is not None and X.shape[1] != d:
            raise ValueError(f"{xn} has {X.shape[1]} features but the model expects {d}")
        return X, y

    def fit(self, X, y, X_val=None, y_val=None):
        """Fit on in-memory data.

        Parameters
        ----------
        X : array, shape (n, d)
            Inputs.
        y : array, shape (n,)
            Labels.
        X_val : array or None, default None
            Validation inputs for ``ridge='validate'`` (else GCV).
        y_val : array or None, default None
            Validation labels.

        Returns
        -------
        OracleRegressor
            self, fitted.

        Raises
        ------
        ValueError
            If the shapes do not match each other or the target, or the data are not finite.
        """
        X, y = self._xy(X, y)
        self._prepare(X.shape[1], X.shape[0])
        val = None if X_val is None else self._xy(X_val, y_val, "X_val", "y_val", d=X.shape[1])
        c = check_int(self.chunk_size, "chunk_size", low=1)
        n = X.shape[0]
        ctx = context(self.backend, self._FAMILIES, X, y, dtype=self._dtype, chunk=c)
        chunks = ((X[i:min(i + c, n), ...], y[i:min(i + c, n)]) for i in range(0, n, c))
        return self._solve(ctx, chunks, n, val)

    def fit_stream(self, stream, n=None, *, n_val=10_000):
        """Fit on ``n`` rows of a stream, as :meth:`fastrep.OneStepNetwork.fit_stream` takes them.

        Parameters
        ----------
        stream : stream or iterable
            An object with ``d``, ``dtype`` and ``chunks(start, stop, chunk_size)`` (e.g.
            :class:`fastrep.GaussianStream`), or an iterable of (X, y) chunks.
        n : int or None, default None
            Rows to read (None: every row of an iterable).
        n_val : int, default 10000
            Validation rows drawn from the stream's ``val()`` for ``ridge='validate'``
            (without ``val()``: GCV).

        Returns
        -------
        OracleRegressor
            self, fitted.

        Raises
        ------
        ValueError
            If ``n`` is out of range or the stream does not match the target.
        TypeError
            If ``stream`` follows neither form.
        """
        stream, n = as_stream(stream, n, low=1)
        self.check_params()
        if stream.d != self.target.d:
            raise ValueError(f"{stream_name(stream)}.d is {stream.d} but the target has d = {self.target.d}")
        self._prepare(stream.d, n)
        val = validation_rows(stream, n_val, self.max_memory) if self.ridge == "validate" else None
        c = check_int(self.chunk_size, "chunk_size", low=1)
        ctx = stream_context(self.backend, self._FAMILIES, stream, dtype=self._dtype, chunk=c)
        return self._solve(ctx, named_pass(stream.chunks(0, n, c), "Hermite moments"), n, val)

    def predict(self, X):
        """Predict.

        Parameters
        ----------
        X : array, shape (n, d)
            Inputs.

        Returns
        -------
        array, shape (n,)
            Predictions, of the model's dtype.

        Raises
        ------
        ValueError
            If X has the wrong number of columns.
        sklearn.exceptions.NotFittedError
            If the model is not fitted.
        """
        check_is_fitted(self, "coef_")
        X = as_float_array(X, "X", ndim=2, dtype=check_dtype(self.dtype))
        if X.shape[1] != self.n_features_in_:
            raise ValueError(f"X has {X.shape[1]} features but the model expects {self.n_features_in_}")
        ctx = context(self.backend, {"hermite": "hermite_features"}, X, dtype=check_dtype(self.dtype))
        return self._features(ctx, X) @ ctx.asarray(self.coef_)
