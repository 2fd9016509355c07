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

import math
import numbers
import warnings
from typing import NamedTuple

import numpy as np

from ._arrays import place
from ._kernels import symmetrize_lower
from ._memory import check_allocation
from ._validation import check_int, check_positive
from ._warnings import user_stacklevel
from .backend import resolve

__all__ = [
    "EigenRidge", "RidgeGridEdgeWarning", "RidgePath", "lambda_grid", "resolve_ridge", "ridge_path",
    "symmetrize_lower",
]


class RidgeGridEdgeWarning(UserWarning):
    """Validation chose the smallest or largest lambda of its grid: the best one may lie beyond it.

    Noiseless targets usually end at the grid's minimum (any tiny lambda interpolates equally
    well); labels that are mostly noise end at its maximum (predicting the mean is best). A
    ``UserWarning``; the fitted ``ridge_path_.edge`` records the same.

    Parameters
    ----------
    message : str
        The warning's text (names the estimator, the parameter, the lambda and the grid).
    edge : {'min', 'max'} or None, default None
        Which end of the grid was chosen.
    ridge : float or None, default None
        The lambda chosen.

    Examples
    --------
    >>> import warnings
    >>> from fastrep.ridge import RidgeGridEdgeWarning, ridge_path
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     path = ridge_path([1e-3, 1.0], [0.1, 0.2], who="Example")
    >>> caught[0].category is RidgeGridEdgeWarning, caught[0].message.edge
    (True, 'min')
    """

    def __init__(self, message: str, edge: str | None = None, ridge: float | None = None):
        super().__init__(message)
        self.edge, self.ridge = edge, ridge


class RidgePath(NamedTuple):
    """The lambdas a validated fit tried and each one's score (a fitted model's ``ridge_path_``).

    Lower scores are better; unpacks as ``lams, scores = model.ridge_path_``.

    Parameters
    ----------
    ridge : numpy.ndarray
        (L,) float64, the lambdas, increasing.
    score : numpy.ndarray
        (L,) float64: the validation MSE, or the generalized cross-validation score when no
        validation data was given.

    Examples
    --------
    >>> import numpy as np
    >>> from fastrep.ridge import RidgePath
    >>> path = RidgePath(np.array([1e-6, 1e-3, 1.0]), np.array([0.3, 0.1, 0.2]))
    >>> path.best, path.edge
    (0.001, None)
    """

    ridge: np.ndarray
    score: np.ndarray

    @property
    def best(self) -> float:
        """The chosen lambda: the one with the lowest score."""
        return float(self.ridge[int(np.argmin(self.score))])

    @property
    def edge(self) -> str | None:
        """``'min'`` or ``'max'`` when the chosen lambda is the grid's smallest or largest, else None."""
        if len(self.ridge) < 2:
            return None
        k = int(np.argmin(self.score))
        return "min" if k == 0 else ("max" if k == len(self.ridge) - 1 else None)

    def to_frame(self):
        """The path as a table.

        Returns
        -------
        pandas.DataFrame
            One row per lambda tried, with columns ``ridge`` and ``score``.
        """
        import pandas as pd

        return pd.DataFrame({"ridge": self.ridge, "score": self.score})


def ridge_path(grid, scores, *, who: str | None = None, param: str = "ridge") -> RidgePath:
    """The :class:`RidgePath` of a validated fit, as float64 NumPy arrays on the host.

    Every learner that validates lambda records its path here, so this is where a choice at
    an end of the grid is reported.

    Parameters
    ----------
    grid : array
        (L,) the lambdas tried, increasing (any array library).
    scores : array
        (L,) each lambda's score, lower is better.
    who : str or None, default None
        The estimator's name; when given, a choice at an end of the grid warns.
    param : str, default 'ridge'
        The parameter's name in the warning.

    Returns
    -------
    RidgePath
        The path, on the host.

    Warns
    -----
    RidgeGridEdgeWarning
        With ``who``, when the best score is at the grid's smallest or largest lambda.

    Examples
    --------
    >>> from fastrep.ridge import ridge_path
    >>> ridge_path([1e-3, 1e-2, 1e-1], [0.5, 0.2, 0.4]).best
    0.01
    """
    grid = np.asarray(place(grid).host(grid), dtype=np.float64)
    path = RidgePath(grid, np.asarray(place(scores).host(scores), dtype=np.float64))
    edge = path.edge
    if who is not None and edge is not None:
        lo, hi = float(grid.min()), float(grid.max())
        end, side = (("smallest", "below") if edge == "min" else ("largest", "above"))
        wider = (f"lambda_grid(20, {lo / 1e4:.0e}, {lo:.0e})" if edge == "min"
                 else f"lambda_grid(20, {hi:.0e}, {hi * 1e4:.0e})")
        warnings.warn(RidgeGridEdgeWarning(
            f"{who}: validation chose {param}={path.best:.3g}, the {end} value of its grid "
            f"[{lo:.3g}, {hi:.3g}]; the best {param} may lie {side} it. To search further, fit with "
            f"fixed {param}= values from fastrep.ridge.{wider} and compare their validation errors "
            "(ridge_path_.edge records this)",
            edge, path.best), stacklevel=user_stacklevel())
    return path


def lambda_grid(num: int = 100, low: float = 1e-10, high: float = 1e15) -> np.ndarray:
    """A log-spaced grid of lambdas; the default is the first author's 100 values in [1e-10, 1e15].

    Parameters
    ----------
    num : int, default 100
        The number of values, >= 1.
    low : float, default 1e-10
        The smallest value, > 0.
    high : float, default 1e15
        The largest value, >= ``low``.

    Returns
    -------
    numpy.ndarray
        (num,) float64, increasing.

    Raises
    ------
    ValueError
        If ``num < 1``, ``low`` or ``high`` is not positive and finite, or ``high < low``.
    TypeError
        If ``num`` is not an integer.

    Examples
    --------
    >>> from fastrep.ridge import lambda_grid
    >>> lambda_grid(3, 1e-2, 1.0)
    array([0.01, 0.1 , 1.  ])
    """
    num = check_int(num, "num", low=1)
    check_allocation(8.0 * num, what=f"a grid of {num} values", argument="num")
    low, high = check_positive(low, "low"), check_positive(high, "high")
    if high < low:
        raise ValueError(f"high must be >= low; got low={low}, high={high}")
    return np.logspace(np.log10(low), np.log10(high), num)


def resolve_ridge(ridge, name: str = "ridge"):
    """Validate a user's ``ridge`` argument: ``'validate'`` or a finite number >= 0.

    The one rule of every learner. ridge = 0 is allowed; a system that is then singular is
    refused with a clear error where it is solved (:meth:`EigenRidge.coef`, the Cholesky solver).

    Parameters
    ----------
    ridge : str or float
        ``'validate'`` or a finite number >= 0.
    name : str, default 'ridge'
        The argument's name in error messages.

    Returns
    -------
    str or float
        ``'validate'``, or the number as a float.

    Raises
    ------
    ValueError
        If ``ridge`` is another string, negative, NaN or infinite.
    TypeError
        If ``ridge`` is neither a string nor a real number (a bool included).

    Examples
    --------
    >>> from fastrep.ridge import resolve_ridge
    >>> resolve_ridge(0), resolve_ridge("validate")
    (0.0, 'validate')
    """
    if isinstance(ridge, str):
        if ridge != "validate":
            raise ValueError(f"{name} must be 'validate' or a finite number >= 0; got {ridge!r}")
        return ridge
    if isinstance(ridge, bool) or not isinstance(ridge, numbers.Real):
        raise TypeError(f"{name} must be 'validate' or a finite number >= 0; got {ridge!r}")
    ridge = float(ridge)
    if not math.isfinite(ridge) or ridge < 0:
        raise ValueError(f"{name} must be 'validate' or a finite number >= 0; got {ridge}")
    return ridge


def gcv_scores(s, proj, y_sq_sum: float, n: int, lams):
    """Generalized cross-validation scores for every lambda, from an eigendecomposition.

    ``RSS = (|y|² - sum proj) + sum proj (lam / (s + lam))²``, ``tr(H) = sum s / (s + lam)``,
    ``GCV(lam) = (RSS / n) / (1 - tr(H) / n)²``. Writing RSS as the least-squares residual
    (independent of lam) plus the shrinkage term avoids the cancellation of the direct
    expansion when lam is tiny.

    Parameters
    ----------
    s : numpy.ndarray
        (k,) float64 eigenvalues.
    proj : numpy.ndarray
        (k,) float64, the squared norm of y in each eigendirection of the training predictions.
    y_sq_sum : float
        The squared norm of y.
    n : int
        The number of training rows.
    lams : array
        The lambdas to score.

    Returns
    -------
    best : float
        The lambda with the lowest score.
    scores : numpy.ndarray
        (len(lams),) float64.

    Examples
    --------
    >>> import numpy as np
    >>> from fastrep.ridge import gcv_scores
    >>> best, scores = gcv_scores(np.array([4.0, 1.0]), np.array([2.0, 0.5]), 3.0, 10, [1e-3, 1.0])
    >>> scores.shape
    (2,)
    """
    lams = np.asarray(lams, dtype=np.float64)
    shrink = lams[:, None] / (s[None, :] + lams[:, None])
    rss = max(y_sq_sum - proj.sum(), 0.0) + (shrink**2) @ proj
    dof = (s[None, :] / (s[None, :] + lams[:, None])).sum(1)
    scores = (rss / n) / np.maximum(1.0 - dof / n, 1e-12) ** 2
    return float(lams[int(np.argmin(scores))]), scores


class EigenRidge:
    """Ridge solutions ``(A + lam I)^-1 b`` for many ``lam`` from one eigendecomposition.

    Parameters
    ----------
    A : array, shape (m, m)
        Symmetric positive semi-definite (any float dtype; used in float64), in any array
        library the ``ops`` take; only its lower triangle is read.
    b : array, shape (m,)
        The right-hand side, same library.
    rcond : float, default 0.0
        Eigenvalues at or below ``rcond * max eigenvalue`` are treated as exactly zero (their
        directions are dropped). A Gram matrix accumulated in float32 carries relative errors
        of about 1e-7 in its spectrum; below that its eigenvectors are noise, and a tiny lambda
        would amplify them. The learners pass ``10 * eps`` of their accumulation dtype.
    ops : module or None, default None
        The kernel module whose ``eigh`` runs (None: resolved for A, 'auto').

    Raises
    ------
    ValueError
        For an ``A`` that is not square, a ``b`` of another length, or NaN or inf in either.

    Examples
    --------
    >>> import numpy as np
    >>> from fastrep.ridge import EigenRidge
    >>> er = EigenRidge(np.diag([2.0, 4.0]), np.array([2.0, 4.0]))
    >>> er.coef(0.0)
    array([1., 1.])
    """

    def __init__(self, A, b, rcond: float = 0.0, *, ops=None):
        self._place = place(A, b)
        self.xp = xp = self._place.xp
        A = xp.astype(xp.asarray(A), xp.float64, copy=False)  # no n x n copy of a float64 Gram matrix
        b = xp.astype(xp.asarray(b), xp.float64, copy=False)
        if A.ndim != 2 or A.shape[0] != A.shape[1]:
            raise ValueError(f"A must be a square 2-D array; got shape {A.shape}")
        if tuple(b.shape) != (A.shape[0],):
            raise ValueError(f"b must have shape ({A.shape[0]},); got {tuple(b.shape)}")
        if not (bool(xp.all(xp.isfinite(A))) and bool(xp.all(xp.isfinite(b)))):
            raise ValueError("the ridge system contains NaN or inf (check the inputs for overflow)")
        ops = resolve("auto", "eigh", A) if ops is None else ops
        s, V = ops.eigh(A)
        s = xp.clip(s, 0.0, None)  # round-off can leave -1e-17 on a PSD matrix
        top = float(xp.max(s)) if s.shape[0] else 0.0
        (idx,) = xp.nonzero(s > float(rcond) * top)
        self.eigvals = xp.take(s, idx, axis=0)
        self.eigvecs = xp.take(V, idx, axis=1)
        self.c = self.eigvecs.T @ b
        self.rank = int(idx.shape[0])
        self.m = A.shape[0]

    def coef(self, lam: float):
        """The solution of ``(A + lam I) x = b``.

        Parameters
        ----------
        lam : float
            The ridge, >= 0; 0 needs a non-singular A.

        Returns
        -------
        array
            (m,) float64, in A's array library.

        Raises
        ------
        ValueError
            If ``lam`` is negative or not finite, or 0 with a singular A.
        """
        lam = resolve_ridge(lam, "lam")
        if lam == 0.0 and self.rank < self.m:
            raise ValueError(
                f"the ridge system is singular to working precision (rank {self.rank} < {self.m}) and "
                "ridge=0 adds nothing to its diagonal; use ridge > 0 or ridge='validate'"
            )
        return self.eigvecs @ (self.c / (self.eigvals + lam))

    def coefs(self, lams):
        """The solution for every lambda, one column each.

        Parameters
        ----------
        lams : array
            The lambdas, >= 0.

        Returns
        -------
        array
            (m, len(lams)) float64.
        """
        lams = self.xp.asarray(np.asarray(lams, dtype=np.float64))
        return self.eigvecs @ (self.c[:, None] / (self.eigvals[:, None] + lams[None, :]))

    def predictions(self, P, lams):
        """The predictions ``P @ coef(lam)`` for every lambda.

        Costs ``m² L + nv m L`` for L lambdas: cheaper than projecting P onto the eigenbasis
        (``nv m²``) whenever L < m.

        Parameters
        ----------
        P : array, shape (nv, m)
            The features (or kernel columns) of the rows to predict.
        lams : array
            The lambdas.

        Returns
        -------
        array
            (len(lams), nv) float64.

        Raises
        ------
        ValueError
            If P is not (nv, m).
        """
        return self._predict(P, self.coefs(lams))

    def _predict(self, P, C):
        xp = self.xp
        P = xp.asarray(P)
        if P.ndim != 2 or P.shape[1] != self.eigvecs.shape[0]:
            raise ValueError(f"P must be (n_val, {self.eigvecs.shape[0]}); got shape {tuple(P.shape)}")
        return xp.astype((P @ xp.astype(C, P.dtype, copy=False)).T, xp.float64, copy=False)

    def select(self, P_val, y_val, lams=None):
        """Choose lambda on validation data.

        Parameters
        ----------
        P_val : array, shape (n_val, m)
            The validation rows' features.
        y_val : array, shape (n_val,)
            Their labels.
        lams : array or None, default None
            The lambdas (None: :func:`lambda_grid`'s 100 values).

        Returns
        -------
        best : float
            The lambda with the lowest validation MSE.
        mse : numpy.ndarray
            (len(lams),) float64.

        Raises
        ------
        ValueError
            If the shapes do not match.
        """
        return self.select_blocks([(P_val, y_val)], lams)

    def select_blocks(self, blocks, lams=None):
        """:meth:`select` over validation data given as blocks, so the whole (n_val, m) matrix never exists.

        Kernel ridge passes ``P = K(X_val, X_fit)`` one block at a time.

        Parameters
        ----------
        blocks : iterable of (array, array)
            ``(P_block, y_block)`` pairs, P_block (k, m) and y_block (k,).
        lams : array or None, default None
            The lambdas (None: :func:`lambda_grid`'s 100 values).

        Returns
        -------
        best : float
            The lambda with the lowest validation MSE.
        mse : numpy.ndarray
            (len(lams),) float64.

        Raises
        ------
        ValueError
            If a block's shapes do not match.
        """
        xp = self.xp
        lams = lambda_grid() if lams is None else np.asarray(lams, dtype=np.float64)
        C = self.coefs(lams)
        sq, count = np.zeros(len(lams)), 0
        for P, y in blocks:
            y = xp.astype(xp.asarray(y), xp.float64)
            if y.ndim != 1 or y.shape[0] != P.shape[0]:
                raise ValueError(f"y_val must be 1-D with {P.shape[0]} entries; got shape {tuple(y.shape)}")
            preds = self._predict(P, C)
            sq += self._place.host(xp.sum((preds - y[None, :]) ** 2, axis=1))
            count += y.shape[0]
        mse = sq / count
        if not np.any(np.isfinite(mse)):  # argmin would pick the grid's first lambda, silently
            raise ValueError("X_val, y_val: the validation error is not finite for any lambda (the "
                             "validation predictions or labels overflow float64); scale X_val and y_val down")
        return float(lams[int(np.nanargmin(np.where(np.isfinite(mse), mse, np.inf)))]), mse

    def gcv(self, n: int, y_sq_sum: float, lams=None, *, kernel: bool = False):
        """Generalized cross-validation from the same eigendecomposition (:func:`gcv_scores`).

        Feature ridge (``A = Phi^T Phi / n``, ``b = Phi^T y / n``): the training predictions are
        ``Phi x``, and y's squared norm along eigendirection k is ``n c_k² / s_k``. Kernel ridge
        (``kernel=True``, ``A = K / n``, ``b = y / n``): the predictions are ``K alpha`` and
        that norm is ``(n c_k)²``. Neither needs an n-sized array.

        Parameters
        ----------
        n : int
            The number of training rows.
        y_sq_sum : float
            The squared norm of the training labels.
        lams : array or None, default None
            The lambdas (None: :func:`lambda_grid`'s 100 values).
        kernel : bool, default False
            A kernel ridge problem instead of a feature ridge.

        Returns
        -------
        best : float
            The lambda with the lowest score.
        scores : numpy.ndarray
            (len(lams),) float64.
        """
        lams = lambda_grid() if lams is None else np.asarray(lams, dtype=np.float64)
        host = self._place.host  # O(m) numbers: the path is cheap on the host
        s, c = host(self.eigvals), host(self.c)
        if kernel:
            proj = (n * c) ** 2
        else:
            proj = n * c**2 / np.where(s > 0, s, 1.0) * (s > 0)
        return gcv_scores(s, proj, y_sq_sum, n, lams)
