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
    """Excess test error: mean (model(x) - f*(x))^2 over fresh test inputs, divided by E[f*^2].

    The test inputs are the first ``n_test`` rows of the target's test split
    (``GaussianStream(target, seed, split='test')``), in the model's dtype (float64 if the
    model has none), so every method evaluated with the same seed sees the same inputs. They are
    generated where the model was fitted (its Context: the device, the array library), or on
    the host for a model without one (never fitted here, or unpickled).
    Label noise never enters: this is the test MSE minus sigma^2, normalized (the paper).

    ``model.predict(X)`` must return one finite prediction per row, shape (rows,): any other
    shape (an (n, 1) column would broadcast against f*) or a NaN/inf raises ``ValueError``.
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
    """Mean over neurons of ||U w_j||^2 / ||w_j||^2, in [0, 1].

    W : (m, d) first-layer weights; U : (r, d) with orthonormal rows. 1 means every neuron
    lies in span(U); a random direction scores r/d. Zero rows are ignored. A U whose rows
    are not orthonormal raises ``ValueError`` (the score would not be a fraction).
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
    """(r,) principal angles in radians, ascending, between the top-r right singular
    subspace of W (m, d) and span(U) for U (r, d) with orthonormal rows (else ``ValueError``).
    All zeros means W found span(U) exactly."""
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
    """For each term alpha of the target, the fraction of c_alpha the model reproduces.

    Estimates the model's Hermite coefficient E[model(x) h_alpha(U x)] by Monte Carlo on ``n``
    fresh samples (``target.hermite_coefficients``) and divides by the target's c_alpha.
    Returns {alpha (tuple): fraction}; 1 means the term is learned, 0 that it is missed.
    The Monte Carlo error of each fraction is about 1/(|c_alpha| sqrt(n)).
    """
    est = target.hermite_coefficients(model, n, seed)
    return {alpha: float(est[alpha]) / float(c) for alpha, c in target.terms.items()}
