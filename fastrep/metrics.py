"""Diagnostics: how well a model learned f*, and how well its first layer found span(U).

Notation: U (r, d) has orthonormal rows spanning the relevant directions; W (m, d) is a
first layer; f* is the noiseless target.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg

from ._arrays import place
from ._validation import as_float_array, check_int, check_target, model_dtype

__all__ = ["excess_error", "hermite_recovery", "principal_angles", "subspace_alignment"]


def excess_error(model, target, n_test: int = 10_000, seed: int = 0, *, chunk_size: int = 65_536) -> float:
    """Excess test error: the mean of (model(x) - f*(x))**2 over fresh test inputs, divided by E[f*²].

    The test inputs are the first ``n_test`` rows of the target's test split
    (``GaussianStream(target, seed, split='test')``), in the model's dtype (float64 if the
    model has none), so every method evaluated with the same seed sees the same inputs. They
    are generated where the model was fitted (its device and array library), or on the host
    for a model without one (never fitted here, or unpickled). Label noise never enters: this
    is the test MSE minus sigma², normalized (the paper's measure).

    Parameters
    ----------
    model : estimator
        A fitted model with ``predict(X)`` returning one finite value per row, shape (rows,).
    target : fastrep.MultiIndexTarget
        The target f*.
    n_test : int, default 10000
        The number of test inputs, >= 1.
    seed : int, default 0
        The test stream's seed, in 0 .. 2**63 - 1.
    chunk_size : int, default 65536
        Rows per block (memory is one block).

    Returns
    -------
    float
        E[(model - f*)²] / E[f*²] >= 0; 0 is a perfect fit, about 1 a model that learned nothing.

    Raises
    ------
    TypeError
        If ``model`` has no ``predict`` method or ``target`` is not a MultiIndexTarget.
    ValueError
        If ``n_test < 1``, or ``model.predict`` returns another shape (an (n, 1) column
        would broadcast against f*) or a NaN or inf.

    Examples
    --------
    >>> import fastrep
    >>> from fastrep.metrics import excess_error
    >>> target = fastrep.MultiIndexTarget.single_index(8, "he2")
    >>> X, y = fastrep.GaussianStream(target, seed=1).take(500)
    >>> oracle = fastrep.OracleRegressor(target, ridge=1e-8).fit(X, y)
    >>> excess_error(oracle, target) < 1e-6
    True
    """
    from .data import GaussianStream

    if not callable(getattr(model, "predict", None)):
        raise TypeError("model must be a fitted estimator with a predict(X) method; "
                        f"got {type(model).__name__}")
    check_target(target)
    n_test = check_int(n_test, "n_test", low=1)
    dtype = model_dtype(model)
    ctx = getattr(model, "_ctx", None)  # where the model was fitted; None once unpickled: the host
    backend = ctx.stream_backend() if ctx is not None else "auto"
    stream = GaussianStream(target, seed, split="test", dtype=dtype, backend=backend)
    sq = 0.0
    for X, _ in stream.chunks(0, n_test, chunk_size):
        if ctx is not None:
            X = ctx.asarray(X, dtype)  # the model's array library (a no-op where the stream made it)
        where = place(X)
        pred = where.host(model.predict(X))
        rows = X.shape[0]
        if getattr(pred, "shape", None) != (rows,):
            raise ValueError(
                f"model.predict returned shape {getattr(pred, 'shape', type(pred).__name__)}; excess_error "
                f"needs shape ({rows},), one prediction per test input"
            )
        pred = np.asarray(pred, dtype=np.float64)
        if not np.isfinite(pred).all():
            raise ValueError("model.predict returned NaN or inf; excess_error needs finite predictions")
        fx = where.host(target.f(X)).astype(np.float64)
        sq += float(np.sum((pred - fx) ** 2))
    return sq / n_test / float(target.variance)


def _orthonormal_rows(U, name: str = "U"):
    """``U`` (r, d) as float64 after checking U U^T = I (the metrics are defined for an
    orthonormal basis of span(U); orthonormalize first, e.g. ``np.linalg.qr(U.T)[0].T``)."""
    from .targets import ORTHONORMAL_TOL

    U = as_float_array(place(U).host(U), name, ndim=2).astype(np.float64)
    if U.shape[0] > U.shape[1]:
        raise ValueError(f"{name} must be (r, d) with r <= d; got shape {U.shape}")
    dev = float(np.max(np.abs(U @ U.T - np.eye(U.shape[0])))) if U.size else 0.0
    if not dev <= ORTHONORMAL_TOL:
        raise ValueError(
            f"{name}'s rows must be orthonormal: max |U U^T - I| = {dev:.3g} > {ORTHONORMAL_TOL:g}; "
            "orthonormalize it first (e.g. np.linalg.qr(U.T)[0].T)"
        )
    return U


def _power_of_two_scale(peak):
    """2^-e with peak = m 2^e, 0.5 <= m < 1 (1 where peak is 0): multiplying by it is exact."""
    _, e = np.frexp(peak)
    return np.ldexp(1.0, -e)


def subspace_alignment(W, U) -> float:
    """The mean over neurons of the fraction of each row's squared norm that lies in span(U).

    ``mean_j ||U w_j||² / ||w_j||²``, in [0, 1]: 1 means every neuron lies in span(U); a
    random direction scores r/d. Zero rows are ignored.

    Parameters
    ----------
    W : array, shape (m, d)
        First-layer weights (NumPy or CuPy), e.g. a fitted network's ``W_``.
    U : array, shape (r, d)
        Orthonormal rows spanning the relevant directions, e.g. ``target.U``.

    Returns
    -------
    float
        The alignment, in [0, 1].

    Raises
    ------
    ValueError
        If ``U``'s rows are not orthonormal (the score would not be a fraction), the column
        counts differ, or ``W`` has no non-zero row.

    Examples
    --------
    >>> import numpy as np
    >>> from fastrep.metrics import subspace_alignment
    >>> U = np.eye(4)[:1]
    >>> subspace_alignment(np.array([[1.0, 1.0, 0.0, 0.0], [2.0, 0.0, 0.0, 0.0]]), U)
    0.75
    """
    W = as_float_array(place(W).host(W), "W", ndim=2).astype(np.float64)
    U = _orthonormal_rows(U)
    if W.shape[1] != U.shape[1]:
        raise ValueError(f"W has {W.shape[1]} columns but U has {U.shape[1]}; both must be (., d)")
    # each row scaled by a power of 2 near its largest entry: exact, the score unchanged, and no
    # square overflows (W ~ 1e200) or underflows (W ~ 1e-200)
    W = W * _power_of_two_scale(np.max(np.abs(W), axis=1))[:, None]
    norms = np.sum(W**2, axis=1)
    keep = norms > 0
    if not keep.any():
        raise ValueError("W has no non-zero row; alignment is undefined")
    return float(np.mean(np.sum((W[keep] @ U.T) ** 2, axis=1) / norms[keep]))


def principal_angles(W, U) -> np.ndarray:
    """The principal angles between the top-r right singular subspace of W and span(U).

    Parameters
    ----------
    W : array, shape (m, d)
        First-layer weights, m >= r.
    U : array, shape (r, d)
        Orthonormal rows.

    Returns
    -------
    numpy.ndarray
        (r,) float64 angles in radians, ascending; all zeros means W found span(U) exactly.

    Raises
    ------
    ValueError
        If ``U``'s rows are not orthonormal, the column counts differ, or W has fewer than r rows.

    Examples
    --------
    >>> import numpy as np
    >>> from fastrep.metrics import principal_angles
    >>> principal_angles(np.array([[3.0, 0.0, 0.0], [0.0, 0.0, 1.0]]), np.eye(3)[:1])
    array([0.])
    """
    W = as_float_array(place(W).host(W), "W", ndim=2).astype(np.float64)
    U = _orthonormal_rows(U)
    if W.shape[1] != U.shape[1]:
        raise ValueError(f"W has {W.shape[1]} columns but U has {U.shape[1]}; both must be (., d)")
    r = U.shape[0]
    if W.shape[0] < r:
        raise ValueError(f"W needs at least r = {r} rows; got {W.shape[0]}")
    if W.size:  # one power of 2 for all of W: exact, and the singular vectors unchanged
        W = W * _power_of_two_scale(np.max(np.abs(W)))
    _, _, Vt = np.linalg.svd(W, full_matrices=False)
    return np.sort(scipy.linalg.subspace_angles(Vt[:r].T, U.T))


def hermite_recovery(model, target, n: int = 100_000, seed: int = 0) -> dict:
    """For each term alpha of the target, the fraction of its coefficient c_alpha the model reproduces.

    Estimates the model's Hermite coefficient ``E[model(x) h_alpha(U x)]`` by Monte Carlo on
    ``n`` fresh samples (:meth:`fastrep.MultiIndexTarget.hermite_coefficients`) and divides by
    c_alpha. The Monte Carlo error of each fraction is about ``1 / (abs(c_alpha) sqrt(n))``.

    Parameters
    ----------
    model : estimator or callable
        A fitted model (``predict(X)``) or a function of X (n, d) returning (n,) values.
    target : fastrep.MultiIndexTarget
        The target whose terms are measured.
    n : int, default 100000
        Monte Carlo samples.
    seed : int, default 0
        The samples' seed.

    Returns
    -------
    dict
        ``{alpha (tuple): fraction}``; 1 means the term is learned, 0 that it is missed.

    Raises
    ------
    ValueError
        If ``n`` is out of range, or the model's predictions have the wrong shape.

    Examples
    --------
    >>> import fastrep
    >>> from fastrep.metrics import hermite_recovery
    >>> target = fastrep.MultiIndexTarget.single_index(8, "he2")
    >>> {a: round(v, 1) for a, v in hermite_recovery(target.f, target, n=20_000).items()}
    {(2,): 1.0}
    """
    est = target.hermite_coefficients(model, n, seed)
    return {alpha: float(est[alpha]) / float(c) for alpha, c in target.terms.items()}
