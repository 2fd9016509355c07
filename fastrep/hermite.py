"""Orthonormal Hermite polynomials, the basis every fastrep target is written in.

Notation (the paper): He_k is the probabilists' Hermite polynomial
(He_0 = 1, He_1 = z, He_{k+1} = z He_k - k He_{k-1}); h_k = He_k / sqrt(k!) is its
normalized version, orthonormal under N(0, 1); for a multi-index alpha in N^r,
``h_alpha(z) = prod_j h_{alpha_j}(z_j)``.

Degrees are capped at :data:`MAX_DEGREE` (1000; see ``fastrep._validation``) everywhere.
Results are finite or the call raises ``ValueError``: where finite inputs would overflow the
output dtype, the error says so and suggests scaling the inputs (or float64).
"""

from __future__ import annotations

import math
import os

import numpy as np

from ._arrays import place
from ._memory import check_allocation
from ._validation import (
    MAX_DEGREE,
    as_float_array,
    as_multi_indices,
    check_finite_output,
    check_int,
    check_out,
)
from .backend import resolve

__all__ = ["MAX_DEGREE", "count_multi_indices", "hermite", "hermite_features", "multi_indices"]


def count_multi_indices(r: int, p: int, exact: bool = False) -> int:
    """The number K of multi-indices :func:`multi_indices` would return, counted, not enumerated.

    Parameters
    ----------
    r : int
        The number of variables, >= 1.
    p : int
        The largest total degree, >= 0.
    exact : bool, default False
        Count the multi-indices of total degree exactly ``p`` instead of at most ``p``.

    Returns
    -------
    int
        ``C(r + p, p)``, or ``C(r + p - 1, p)`` when ``exact``.

    Raises
    ------
    ValueError
        If ``r < 1`` or ``p < 0``.
    TypeError
        If ``r`` or ``p`` is not an integer.

    Examples
    --------
    >>> from fastrep.hermite import count_multi_indices
    >>> count_multi_indices(2, 3), count_multi_indices(2, 3, exact=True)
    (10, 4)
    """
    r = check_int(r, "r", low=1)
    p = check_int(p, "p", low=0)
    return math.comb(r + p - 1, p) if exact else math.comb(r + p, p)


def _exact_block(r: int, deg: int, memo: dict) -> np.ndarray:
    """All alpha in N^r with |alpha| == deg, lexicographically descending, (C(r+deg-1, deg), r) int32."""
    key = (r, deg)
    if key not in memo:
        if r == 1:
            memo[key] = np.array([[deg]], dtype=np.int32)
        else:
            parts = []
            for a0 in range(deg, -1, -1):
                rest = _exact_block(r - 1, deg - a0, memo)
                part = np.empty((rest.shape[0], r), dtype=np.int32)
                part[:, 0] = a0
                part[:, 1:] = rest
                parts.append(part)
            memo[key] = np.concatenate(parts)
    return memo[key]


def multi_indices(r: int, p: int, exact: bool = False, *, max_memory=None) -> np.ndarray:
    """All multi-indices alpha in N^r of total degree at most p (or exactly p when ``exact``).

    Order: by total degree ascending; within a degree, lexicographically *descending*, so
    ``(p, 0, ..., 0)`` comes first and ``(0, ..., 0, p)`` last. K is counted before anything
    is enumerated (:func:`count_multi_indices`).

    Parameters
    ----------
    r : int
        The number of variables, >= 1.
    p : int
        The largest total degree, 0 <= p <= :data:`MAX_DEGREE`.
    exact : bool, default False
        Only the multi-indices of total degree exactly ``p``.
    max_memory : int or None, default None
        The memory budget in bytes (None: ``FASTREP_MAX_MEMORY``, else half the available RAM).

    Returns
    -------
    numpy.ndarray
        (K, r) int32, ``K = C(r + p, p)`` (or ``C(r + p - 1, p)`` when ``exact``).

    Raises
    ------
    ValueError
        If ``r < 1``, or ``p`` is negative or above :data:`MAX_DEGREE`.
    TypeError
        If ``r`` or ``p`` is not an integer.
    MemoryError
        If the enumeration would not fit ``max_memory``.

    Examples
    --------
    >>> import fastrep
    >>> fastrep.multi_indices(2, 2).tolist()
    [[0, 0], [1, 0], [0, 1], [2, 0], [1, 1], [0, 2]]
    """
    r = check_int(r, "r", low=1)
    p = check_int(p, "p", low=0, high=MAX_DEGREE)
    K = count_multi_indices(r, p, exact)
    # the result, and the memoized blocks of the recursion (at most about as much again)
    check_allocation(2.0 * K * r * 4, what=f"the {K} multi-indices of N^{r} up to degree {p}",
                     argument="p", max_memory=max_memory)
    memo: dict = {}
    blocks = [_exact_block(r, deg, memo) for deg in ([p] if exact else range(p + 1))]
    return np.ascontiguousarray(np.concatenate(blocks), dtype=np.int32).reshape(-1, r)


def _log_feature_bound(zmax: float, alphas: np.ndarray) -> float:
    """An upper bound on log max |h_alpha(z)| over |z_j| <= zmax and the rows alpha of ``alphas``.

    From the recurrence, |h_{k+1}| <= (|z| + sqrt(k)) / sqrt(k + 1) max(|h_k|, |h_{k-1}|), so
    max_{j <= k} |h_j| <= prod_{j=1..k} max(1, (|z| + sqrt(j - 1)) / sqrt(j)).
    """
    if alphas.size == 0:
        return 0.0
    p = int(alphas.max())
    j = np.arange(1, p + 1, dtype=np.float64)
    steps = np.log(np.maximum(1.0, (zmax + np.sqrt(j - 1.0)) / np.sqrt(j)))
    logb = np.concatenate([[0.0], np.cumsum(steps)])  # logb[k] bounds log max_{j<=k} |h_j|
    return float(np.max(logb[alphas].sum(axis=1)))


def _features(Z, alphas, backend, out, name):
    """hermite_features on validated Z and alphas; ``name`` is what error messages call Z."""
    xp = place(Z).xp
    n, K = Z.shape[0], alphas.shape[0]
    out = check_out(out, (n, K), Z.dtype, Z)
    p = int(alphas.max()) if alphas.size else 0
    item = xp.finfo(Z.dtype).bits // 8
    if out is None:
        check_allocation(float(n) * K * item, what=f"the ({n}, {K}) feature matrix", argument="alphas")
    mod = resolve(backend, "hermite_features", Z, out)
    r = Z.shape[1]
    if mod.name == "reference":  # float64 (p + 1, n) tables per column, and a float64 result
        tables = float(n) * (r * (p + 1) + K) * 8
    else:  # per-thread (r, p + 1) tables and the (K, r) offsets of the compiled kernels
        tables = float(r) * ((p + 1) * item * (os.cpu_count() or 1) + 8 * K)
    check_allocation(tables, what="the Hermite tables", argument="alphas")
    zmax = float(xp.max(xp.abs(Z))) if Z.size else 0.0
    with np.errstate(over="ignore", invalid="ignore"):  # overflow is reported below, as a ValueError
        H = mod.hermite_features(Z, alphas, out)
    # a cheap bound first: it proves the result finite for every ordinary input, so only
    # inputs near overflow pay for a pass over the output
    if _log_feature_bound(zmax, alphas) >= math.log(float(xp.finfo(Z.dtype).max)) - 1.0:
        check_finite_output(H, "the Hermite features", name,
                            f"scale {name} down (Gaussian data stays below |z| = 10) or use float64")
    return H


def hermite_features(Z, alphas, *, backend: str = "auto", out=None):
    """The matrix of products of orthonormal Hermite polynomials, one column per multi-index.

    ``H[i, a] = prod_j h_{alphas[a, j]}(Z[i, j])``, with ``h_k = He_k / sqrt(k!)`` the
    Hermite polynomials orthonormal under N(0, 1). Accurate to about 1e-14 (relative to the
    largest ``h_j``, j <= k) up to degree 1000 for inputs of magnitude up to 40 in float64
    (the three-term recurrence on the normalized polynomials).

    Parameters
    ----------
    Z : array, shape (n, r)
        float32 or float64 (NumPy or CuPy), finite. Integer and boolean input becomes
        float64, float16 becomes float32.
    alphas : array, shape (K, r)
        Non-negative integers <= :data:`MAX_DEGREE` (multi-indices), e.g. from
        :func:`multi_indices`.
    backend : {'auto', 'reference', 'cpp', 'numba', 'cupy'}, default 'auto'
        The compute backend (``'auto'``: ``FASTREP_BACKEND``, else the measured choice).
    out : array or None, default None
        An (n, K) C-contiguous array of Z's dtype and library to write into (no copy); it may
        not overlap Z.

    Returns
    -------
    array, shape (n, K)
        Z's dtype and array library (``out`` itself when given).

    Raises
    ------
    TypeError
        If ``Z`` is complex or of object dtype.
    ValueError
        If ``Z`` is not finite or not 2-d, ``alphas`` does not match ``Z``'s columns or holds
        negative degrees, ``out`` has the wrong shape, dtype or layout, or finite inputs
        overflow the dtype (inputs of 1e30 at degree 10 in float32).
    fastrep.BackendUnavailableError
        If the named backend cannot run here.

    Examples
    --------
    >>> import numpy as np, fastrep
    >>> Z = np.array([[0.5, -1.0]])
    >>> H = fastrep.hermite_features(Z, fastrep.multi_indices(2, 2))
    >>> H.shape
    (1, 6)
    """
    Z = as_float_array(Z, "Z", ndim=2)
    alphas = as_multi_indices(alphas, "alphas", r=Z.shape[1])
    return _features(Z, alphas, backend, out, "Z")


def hermite(z, k: int, *, normalized: bool = False, backend: str = "auto"):
    """The probabilists' Hermite polynomial He_k(z), elementwise (h_k = He_k / sqrt(k!) if ``normalized``).

    Parameters
    ----------
    z : array
        Any shape, float32 or float64 (NumPy or CuPy; converted as in
        :func:`hermite_features`).
    k : int
        The degree, 0 <= k <= :data:`MAX_DEGREE`.
    normalized : bool, default False
        Return ``h_k = He_k / sqrt(k!)``, orthonormal under N(0, 1).
    backend : {'auto', 'reference', 'cpp', 'numba', 'cupy'}, default 'auto'
        The compute backend.

    Returns
    -------
    array
        z's shape, dtype and array library.

    Raises
    ------
    ValueError
        If ``k`` is out of range, ``z`` is not finite, or He_k overflows the dtype (He_k grows
        like sqrt(k!), 10^154 at k = 171: use ``normalized=True``).
    TypeError
        If ``k`` is not an integer or ``z`` is complex.

    Examples
    --------
    >>> import numpy as np, fastrep
    >>> fastrep.hermite(np.array([0.0, 1.0, 2.0]), 2)   # He_2(z) = z**2 - 1
    array([-1.,  0.,  3.])
    """
    k = check_int(k, "k", low=0, high=MAX_DEGREE)
    xp = place(z).xp
    zarr = as_float_array(z, "z", xp=xp)
    shape = tuple(zarr.shape)
    flat = _features(xp.reshape(zarr, (-1, 1)), np.array([[k]], dtype=np.int32), backend, None, "z")
    vals = xp.reshape(flat, shape)
    if not normalized:
        # sqrt(k!) from lgamma: math.factorial(k) is an integer too large for a float past k = 170
        log_scale = 0.5 * math.lgamma(k + 1.0)
        scale = math.exp(log_scale) if log_scale < math.log(float(xp.finfo(vals.dtype).max)) else math.inf
        with np.errstate(over="ignore", invalid="ignore"):  # reported below, as a ValueError
            # exact zeros of h_k stay zero (0 * inf would be NaN); a 0-d z stays a 0-d array
            vals = xp.where(vals == 0, vals, vals * xp.asarray(scale, dtype=vals.dtype))
        check_finite_output(vals, f"the values of He_{k} (it grows like sqrt(k!))", "z",
                            "use normalized=True, a smaller k, or scale z down")
    return vals
