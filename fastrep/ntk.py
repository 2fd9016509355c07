"""The NTK and NNGP (random-features) kernels of the two-layer ReLU network (the paper).

Standard NTK parametrization with a first-layer bias: h = w.x/sqrt(d) + beta b, with
w ~ N(0, I_d), b ~ N(0, 1). With exact norms,

    q(x) = |x|^2/d + beta^2,   c(x, x') = x.x'/d + beta^2,   u = c / sqrt(q(x) q(x')),
    kappa_0(u) = (pi - arccos u)/pi,   kappa_1(u) = (sqrt(1 - u^2) + (pi - arccos u) u)/pi,

    NNGP:  K(x, x')     = E[relu(h) relu(h')]     = 1/2 sqrt(q q') kappa_1(u)
    NTK:   Theta(x, x') = 1/2 [sqrt(q q') kappa_1(u) + c kappa_0(u)]

(the NTK counts the gradients in a, w and b of f(x) = m^-1/2 sum_j a_j relu(h_j)).
Normalizations differ between libraries: neural-tangents' ``stax.Relu`` NTK uses x.x'/d as
here; EigenPro's ``ntk_relu`` has no 1/d and no bias inside the angle. Compare after
normalizing.

Each Gram block is one BLAS product X1 @ X2.T followed by one fused elementwise pass (C++
with OpenMP, Numba prange, or a CUDA kernel), in float32 arithmetic for float32 input.
"""

from __future__ import annotations

import numbers

import numpy as np

from ._arrays import place
from ._memory import check_allocation
from ._validation import as_float_array, check_finite_output
from .backend import resolve

__all__ = ["ntk_kernel", "nngp_kernel"]


#: Largest beta accepted: beta^2 must stay finite in float64 with room to spare.
MAX_BETA = 1e150


def check_beta(beta) -> float:
    """The first-layer bias scale: a finite number in [0, MAX_BETA] (0 means no bias)."""
    if isinstance(beta, bool) or not isinstance(beta, numbers.Real):
        raise TypeError(f"beta must be a non-negative number; got {beta!r}")
    beta = float(beta)
    if not np.isfinite(beta) or beta < 0:
        raise ValueError(f"beta must be a finite number >= 0; got {beta}")
    if beta > MAX_BETA:
        raise ValueError(f"beta must be <= {MAX_BETA:g} (beta^2 enters every kernel value); got {beta:g}")
    return beta


def check_kernel_scale(X, beta: float, dtype, name: str = "X") -> None:
    """Refuse inputs whose kernel values would overflow ``dtype``.

    Every kernel value is bounded by d (max |x_ij|^2 + beta^2), the largest intermediate of
    the inner products (before the 1/d); if that is not safely below the dtype's largest
    value, the kernel would come out inf or NaN from finite inputs.
    """
    xp = place(X).xp
    xmax = float(xp.max(xp.abs(X))) if X.size else 0.0
    d = max(int(X.shape[1]), 1)
    limit = float((np if isinstance(dtype, np.dtype) else xp).finfo(dtype).max) / 16
    if not d * beta * beta < limit:
        raise ValueError(f"beta = {beta:g} is too large for {dtype}: d beta^2 overflows the kernel; "
                         "lower beta or use float64")
    if not d * (xmax * xmax + beta * beta) < limit:
        raise ValueError(f"{name} is too large for {dtype}: its inner products (max |x_ij| = {xmax:.3g}, "
                         f"d = {d}) overflow the kernel; scale {name} down (the kernels scale as |x|^2)")


def _gram(X1, X2, beta, kind, backend):
    xp = place(X1, X2).xp
    X1 = as_float_array(X1, "X1", ndim=2, xp=xp)
    if X2 is not None and X2 is not X1:
        X2 = as_float_array(X2, "X2", ndim=2, xp=xp)
        if X2.shape[1] != X1.shape[1]:
            raise ValueError(f"X2 has {X2.shape[1]} columns but X1 has {X1.shape[1]}; they must match")
        dt = xp.result_type(X1.dtype, X2.dtype)
        X1, X2 = xp.astype(X1, dt, copy=False), xp.astype(X2, dt, copy=False)
    elif X2 is X1:
        X2 = None
    if X1.shape[1] == 0:
        raise ValueError("X1 must have at least one column (d >= 1)")
    beta = check_beta(beta)
    check_kernel_scale(X1, beta, X1.dtype, "X1")
    if X2 is not None:
        check_kernel_scale(X2, beta, X1.dtype, "X2")
    n2 = X1.shape[0] if X2 is None else X2.shape[0]
    check_allocation(float(X1.shape[0]) * n2 * (xp.finfo(X1.dtype).bits // 8),
                     what=f"the ({X1.shape[0]}, {n2}) Gram matrix", argument="X1" if X2 is None else "X1, X2")
    mod = resolve(backend, "kernel_gram", X1, X2)
    with np.errstate(over="ignore", invalid="ignore"):  # reported below, as a ValueError
        K = mod.kernel_gram(X1, X2, beta, kind)
    return check_finite_output(K, f"the {kind.upper()} Gram matrix entries", "X1" if X2 is None else "X1, X2")


def ntk_kernel(X1, X2=None, beta: float = 1.0, *, backend: str = "auto"):
    """The two-layer ReLU NTK Gram matrix Theta(X1, X2).

    ``Theta(x, x') = [sqrt(q q') kappa_1(u) + c kappa_0(u)] / 2`` with ``q = |x|²/d + beta²``,
    ``c = x.x'/d + beta²`` and ``u = c / sqrt(q q')`` (the user guide's Kernels page).

    Parameters
    ----------
    X1 : array, shape (n1, d)
        float32 or float64 (NumPy or CuPy); integers and booleans become float64, float16
        becomes float32. Finite, and small enough that ``d (max x_ij**2 + beta**2)`` fits the
        dtype.
    X2 : array, shape (n2, d), or None, default None
        None (or X1 itself) computes the symmetric matrix of X1, whose diagonal is then exact.
    beta : float, default 1.0
        The first-layer bias scale, in [0, 1e150] (the paper uses 1).
    backend : {'auto', 'reference', 'cpp', 'numba', 'cupy'}, default 'auto'
        The compute backend.

    Returns
    -------
    array, shape (n1, n2)
        The inputs' (common) dtype and array library.

    Raises
    ------
    TypeError
        If an input is complex or of object dtype, or X1 and X2 come from two array libraries.
    ValueError
        If an input is not finite or not 2-d, the column counts differ, ``beta`` is out of
        range, or the entries overflow the dtype (scale X1 down).
    MemoryError
        If the (n1, n2) result does not fit the memory budget.

    Examples
    --------
    >>> import numpy as np, fastrep
    >>> X = np.random.default_rng(0).standard_normal((4, 3))
    >>> K = fastrep.ntk_kernel(X)
    >>> K.shape, bool(np.allclose(K, K.T))
    ((4, 4), True)
    """
    return _gram(X1, X2, beta, "ntk", backend)


def nngp_kernel(X1, X2=None, beta: float = 1.0, *, backend: str = "auto"):
    """The two-layer ReLU NNGP (random-features) Gram matrix E[relu(h(x)) relu(h(x'))].

    ``K(x, x') = sqrt(q q') kappa_1(u) / 2``, in the notation of :func:`ntk_kernel`.

    Parameters
    ----------
    X1 : array, shape (n1, d)
        float32 or float64 (NumPy or CuPy); integers and booleans become float64, float16
        becomes float32. Finite, and small enough that ``d (max x_ij**2 + beta**2)`` fits the
        dtype.
    X2 : array, shape (n2, d), or None, default None
        None (or X1 itself) computes the symmetric matrix of X1, whose diagonal is then exact.
    beta : float, default 1.0
        The first-layer bias scale, in [0, 1e150] (the paper uses 1).
    backend : {'auto', 'reference', 'cpp', 'numba', 'cupy'}, default 'auto'
        The compute backend.

    Returns
    -------
    array, shape (n1, n2)
        The inputs' (common) dtype and array library.

    Raises
    ------
    TypeError
        If an input is complex or of object dtype, or X1 and X2 come from two array libraries.
    ValueError
        If an input is not finite or not 2-d, the column counts differ, ``beta`` is out of
        range, or the entries overflow the dtype (scale X1 down).
    MemoryError
        If the (n1, n2) result does not fit the memory budget.

    Examples
    --------
    >>> import numpy as np, fastrep
    >>> X = np.eye(2, 3, dtype=np.float32)
    >>> fastrep.nngp_kernel(X).dtype
    dtype('float32')
    """
    return _gram(X1, X2, beta, "nngp", backend)
