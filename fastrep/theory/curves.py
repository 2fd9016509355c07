"""The omniscient-risk (eigenlearning) equation and the kernels' predicted learning curves,
learnabilities and n*(d); see :mod:`fastrep.theory`."""

from __future__ import annotations

import math

import numpy as np
from scipy.special import logsumexp

from .._memory import check_allocation
from .._validation import Interval, check_array, check_param
from ._rules import (
    DEFAULT_MAX_DEGREE,
    DEFAULT_RADIAL_NODES,
    MAX_DIMENSIONS,
    MAX_POINTS,
    RULES,
    check_args,
    check_gaussian_size,
    check_target,
    n_array,
    ridge_array,
)
from .energies import _energies
from .spectra import kernel_spectrum

__all__ = ["eigenlearning", "kernel_learnability", "kernel_learning_curve", "kernel_n_star"]


# --------------------------------------------------------------------------- the equation


def eigenlearning(n, log_multiplicity, log_eigenvalue, energy, *, delta, noise: float = 0.0):
    """The omniscient-risk equation for a kernel with a known spectrum (any kernel, any measure).

    Parameters
    ----------
    n : float or array of float of any shape
        Sample sizes, > 0.
    log_multiplicity : array of shape (K,), float64
        log N_k, the log dimension of each eigenspace.
    log_eigenvalue : array of shape (K,), float64
        log lambda_k (-inf for a zero eigenvalue).
    energy : array of shape (K,), float64
        The target's energy e_k in eigenspace k, >= 0.
    delta : float or array broadcastable to n
        The ridge in ``sum (y - f)^2 + delta |f|^2`` (fastrep's ridge times n, plus any tail),
        >= 0. delta = 0 needs n != sum N_k.
    noise : float, default 0.0
        The label-noise variance sigma^2, >= 0.

    Returns
    -------
    error : ndarray of n's shape, float64
        The excess error (not divided by E[f*^2]).
    learnability : ndarray of shape n.shape + (K,), float64
        L_k = lambda_k / (lambda_k + kappa).
    E0 : ndarray of n's shape, float64
        The overfitting coefficient n / (n - sum_k N_k L_k^2).

    Raises
    ------
    ValueError
        For an argument out of range (named in the message), spectra of different lengths,
        or a ``delta`` that does not broadcast to ``n``.
    TypeError
        For a non-numeric argument (named in the message).

    Examples
    --------
    >>> import fastrep
    >>> from fastrep.theory import eigenlearning, kernel_spectrum, target_energies
    >>> spec = kernel_spectrum(10, max_degree=3)
    >>> e = target_energies(fastrep.MultiIndexTarget.separation(d=10, seed=0), spec)
    >>> err, L, E0 = eigenlearning([10, 100], spec.log_multiplicity, spec.log_eigenvalue, e, delta=1e-3)
    >>> err.shape, L.shape, bool(err[1] < err[0])
    ((2,), (2, 4), True)
    """
    n_arr = n_array(n)
    logN = check_array(log_multiplicity, "log_multiplicity", Interval("real")).reshape(-1)
    # a zero eigenvalue is -inf; NaN or +inf is no eigenvalue
    logl = check_array(log_eigenvalue, "log_eigenvalue", Interval("real"), allow_neg_inf=True).reshape(-1)
    e = check_array(energy, "energy", Interval("real", 0, None)).reshape(-1)
    if not (logN.shape == logl.shape == e.shape):
        raise ValueError("log_multiplicity, log_eigenvalue and energy must have the same length")
    noise = check_args(noise=noise)
    delta = check_array(delta, "delta", Interval("real", 0, None), max_size=MAX_POINTS)
    try:
        delta = np.broadcast_to(delta, n_arr.shape)
    except ValueError:
        raise ValueError(
            f"delta of shape {delta.shape} does not broadcast to n of shape {n_arr.shape}") from None
    return _eigenlearning(n_arr, logN, logl, e, delta, noise)


def _eigenlearning(n_arr, logN, logl, e, delta, noise):
    """:func:`eigenlearning` on checked arguments (float64 arrays, ``delta`` of n's shape)."""
    # the learnabilities and the bisection's work arrays: a few (n.size, K) float64 arrays
    check_allocation(8.0 * 4 * n_arr.size * max(logl.size, 1), what=f"{n_arr.size:,} sample sizes x "
                     f"{logl.size:,} eigenspaces", argument="n (or the spectrum's length)")
    shape = n_arr.shape
    nf, df = n_arr.reshape(-1), delta.reshape(-1)
    live = np.isfinite(logl)
    lN, ll = logN[live], logl[live]
    dim = float(np.sum(np.exp(lN)))

    def lhs(x):  # sum N lambda / (lambda + kappa) + delta / kappa, kappa = exp(x)
        z = x[:, None] - ll[None, :]
        return np.sum(np.exp(lN[None, :] - np.logaddexp(0.0, z)), axis=1) + df * np.exp(-x)

    logT = float(logsumexp(lN + ll)) if lN.size else -np.inf
    hi = np.log((np.exp(logT) + df) / nf)
    lo = np.where(df > 0, np.log(np.maximum(df, 1e-300) / nf), (ll.min() if ll.size else 0.0) - 80.0)
    interp = (df == 0) & (nf >= dim)  # no ridge and more samples than dimensions: kappa = 0
    lo = np.minimum(lo, hi)
    for _ in range(48):  # the bracket (< 100 wide in log kappa) to 4e-13
        mid = 0.5 * (lo + hi)
        big = lhs(mid) > nf
        lo = np.where(big, mid, lo)
        hi = np.where(big, hi, mid)
    logk = 0.5 * (lo + hi)
    L = np.zeros((nf.size, logl.size))
    L[:, live] = np.exp(-np.logaddexp(0.0, logk[:, None] - ll[None, :]))
    L[interp[:, None] & live[None, :]] = 1.0
    used = np.sum(np.exp(logN[None, :]) * L**2, axis=1)
    with np.errstate(divide="ignore"):
        E0 = np.where(nf - used > 0, nf / np.maximum(nf - used, 1e-300), np.inf)
    err = E0 * np.sum((1.0 - L) ** 2 * e[None, :], axis=1) + (E0 - 1.0) * noise
    return err.reshape(shape), L.reshape(shape + (logl.size,)), E0.reshape(shape)


def _prepare(target, d, kernel, beta, max_degree, measure, radial_nodes, method):
    check_target(target)
    L = DEFAULT_MAX_DEGREE if max_degree is None else check_args(max_degree=max_degree)
    L = max(L, target.degree) if max_degree is None else L
    if L < target.degree:
        raise ValueError(f"max_degree = {L} is below the target's degree {target.degree}")
    spec = kernel_spectrum(d, kernel=kernel, beta=beta, max_degree=L, measure=measure, method=method,
                           radial_nodes=radial_nodes)
    return spec, _energies(target, spec)


def _delta(n_arr, ridge, extra):
    """The ridge in sum (y - f)^2 + delta |f|^2 at each n: n ridge, plus the tail's trace."""
    try:
        return np.broadcast_to(n_arr * ridge + extra, n_arr.shape)
    except ValueError:
        raise ValueError(
            f"ridge of shape {np.shape(ridge)} does not broadcast to n of shape {n_arr.shape}") from None


def _curve(target, d, n, kernel, ridge, beta, max_degree, measure, radial_nodes, method, tail, noise):
    spec, e = _prepare(target, d, kernel, beta, max_degree, measure, radial_nodes, method)
    n_arr = n_array(n)
    delta = _delta(n_arr, ridge, spec.tail if tail == "ridge" else 0.0)
    err, L, E0 = _eigenlearning(n_arr, spec.log_multiplicity, spec.log_eigenvalue, e, delta, noise)
    return err / target.variance, L, spec


def _common(kernel, ridge, beta, measure, method, tail, noise, target):
    check_target(target)
    check_args(kernel=kernel)
    ridge = ridge_array(ridge)
    beta, measure, method, tail = check_args(beta=beta, measure=measure, method=method, tail=tail)
    noise = target.noise if noise is None else check_args(noise=noise)
    if measure == "gaussian":  # the exact decomposition's size, before any spectrum is computed
        check_gaussian_size(target.r, target.degree)
    return ridge, beta, noise


def kernel_learning_curve(target, n, *, kernel: str = "ntk", ridge: float, beta: float = 1.0,
                          noise: float | None = None, max_degree: int | None = None,
                          measure: str = "gaussian", tail: str = "ridge", method: str = "series",
                          radial_nodes: int = DEFAULT_RADIAL_NODES):
    """Predicted excess test error of NTK or NNGP kernel ridge regression on ``target``.

    Parameters
    ----------
    target : MultiIndexTarget
        The target: its d, terms and, unless ``noise`` is given, noise.
    n : float or array of float of any shape
        Training sample sizes, > 0.
    kernel : {'ntk', 'nngp'}, default 'ntk'
        The kernel of :class:`fastrep.NTKRegressor` or :class:`fastrep.NNGPRegressor`.
    ridge : float or array broadcastable to n
        The regressors' ``ridge`` (lambda in ``(1/n)|y - K a|^2 + lambda a^T K a``), >= 0; e.g.
        a fixed diagonal shift s as ridge = s / n. Required.
    beta : float, default 1.0
        The kernel's first-layer bias scale.
    noise : float or None, default None
        The label-noise variance; None is ``target.noise``.
    max_degree : int or None, default None
        The harmonic degrees resolved; None is max(12, target.degree).
    measure : {'gaussian', 'sphere'}, default 'gaussian'
        'gaussian': exact N(0, I_d) inputs, the inputs fastrep draws (radial fluctuations
        and the leak of Hermite degree l into harmonic degrees l - 2, l - 4, ...); 'sphere':
        the large-d model (Hermite energy of degree l on harmonic degree l, inputs of norm
        sqrt(d); cheaper, and the same as d grows).
    tail : {'ridge', 'drop'}, default 'ridge'
        Whether the trace above ``max_degree`` acts as extra ridge or is dropped.
    method : {'series', 'asymptotic', 'quadrature'}, default 'series'
        See :func:`kernel_spectrum`.
    radial_nodes : int, default 12
        See :func:`kernel_spectrum`.

    Returns
    -------
    ndarray of n's shape, float64
        The predicted excess error (test MSE against the noiseless f*, over E[f*^2]), what
        :func:`fastrep.metrics.excess_error` measures.

    Raises
    ------
    ValueError
        For an argument out of its range or options (named in the message), or a target too
        large for the Gaussian model's exact decomposition.
    TypeError
        For a ``target`` that is not a :class:`fastrep.MultiIndexTarget`, or an argument of
        the wrong type (named in the message).

    Examples
    --------
    >>> import fastrep
    >>> from fastrep.theory import kernel_learning_curve
    >>> target = fastrep.MultiIndexTarget.separation(d=10, seed=0)
    >>> err = kernel_learning_curve(target, [100, 10_000], ridge=1e-6)
    >>> err.shape, bool(err[0] > 0.5 > 0.1 > err[1])
    ((2,), True)
    """
    ridge, beta, noise = _common(kernel, ridge, beta, measure, method, tail, noise, target)
    err, _, _ = _curve(target, target.d, n, kernel, ridge, beta, max_degree, measure, radial_nodes, method,
                       tail, noise)
    return err


def kernel_learnability(target, n, *, kernel: str = "ntk", ridge: float, beta: float = 1.0,
                        max_degree: int | None = None, measure: str = "gaussian", tail: str = "ridge",
                        method: str = "series", radial_nodes: int = DEFAULT_RADIAL_NODES) -> np.ndarray:
    """The predicted fraction L_l of the target's degree-l part that the kernel has learned.

    For each n and each Hermite degree l = 0..target.degree: sum_k L_k e_k / sum_k e_k over the
    eigenspaces k carrying the degree-l energy (the sphere model: L of harmonic degree l). This
    is the expectation of :func:`fastrep.diagnostics.degree_learning`'s fraction.

    Parameters
    ----------
    target : MultiIndexTarget
        The target.
    n : float or array of float of any shape
        Training sample sizes, > 0.
    kernel : {'ntk', 'nngp'}, default 'ntk'
        The kernel.
    ridge : float or array broadcastable to n
        The regressors' ``ridge``, >= 0. Required.
    beta : float, default 1.0
        The kernel's first-layer bias scale.
    max_degree : int or None, default None
        The harmonic degrees resolved; None is max(12, target.degree).
    measure : {'gaussian', 'sphere'}, default 'gaussian'
        The input model, as in :func:`kernel_learning_curve`.
    tail : {'ridge', 'drop'}, default 'ridge'
        As in :func:`kernel_learning_curve`.
    method : {'series', 'asymptotic', 'quadrature'}, default 'series'
        See :func:`kernel_spectrum`.
    radial_nodes : int, default 12
        See :func:`kernel_spectrum`.

    Returns
    -------
    ndarray of shape n.shape + (target.degree + 1,), float64
        The fraction learned per n and degree; NaN for a degree with no energy.

    Raises
    ------
    ValueError
        For an argument out of its range or options (named in the message).
    TypeError
        For a ``target`` that is not a :class:`fastrep.MultiIndexTarget`, or an argument of
        the wrong type.

    Examples
    --------
    >>> import fastrep
    >>> from fastrep.theory import kernel_learnability
    >>> target = fastrep.MultiIndexTarget.separation(d=10, seed=0)  # degrees 2 and 3
    >>> kernel_learnability(target, [100, 10_000], ridge=1e-6).round(2)
    array([[ nan,  nan, 0.56, 0.08],
           [ nan,  nan, 0.99, 0.87]])
    """
    ridge, beta, _ = _common(kernel, ridge, beta, measure, method, tail, 0.0, target)
    spec, e = _prepare(target, target.d, kernel, beta, max_degree, measure, radial_nodes, method)
    n_arr = n_array(n)
    delta = _delta(n_arr, ridge, spec.tail if tail == "ridge" else 0.0)
    _, L, _ = _eigenlearning(n_arr, spec.log_multiplicity, spec.log_eigenvalue, e, delta, 0.0)
    out = np.full(n_arr.shape + (target.degree + 1,), np.nan)
    if measure == "sphere":
        energy = target.energy_by_degree()
        for ell in range(target.degree + 1):
            if energy[ell] > 0:
                out[..., ell] = L[..., ell]
        return out
    # Gaussian model: project each Hermite degree separately onto the eigenspaces
    from ..targets import MultiIndexTarget

    for ell in range(target.degree + 1):
        part = {a: c for a, c in target.terms.items() if sum(a) == ell}
        if not part or sum(c * c for c in part.values()) == 0:
            continue
        sub = MultiIndexTarget(target.d, part, U=target.U, normalize=False)
        rest = {a: c for a, c in target.terms.items() if sum(a) != ell}
        # <P_k f, P_k f_l> by polarization: (|P_k f|^2 + |P_k f_l|^2 - |P_k (f - f_l)|^2) / 2
        cross = e + _energies(sub, spec)
        if rest:
            cross = cross - _energies(MultiIndexTarget(target.d, rest, U=target.U, normalize=False), spec)
        out[..., ell] = np.sum(L * (0.5 * cross), axis=-1) / sub.variance
    return out


def kernel_n_star(target, d_values, epsilon: float, *, kernel: str = "ntk", ridge: float = 1e-8,
                  beta: float = 1.0, noise: float | None = None, max_degree: int | None = None,
                  measure: str = "gaussian", tail: str = "ridge", method: str = "series",
                  radial_nodes: int = DEFAULT_RADIAL_NODES, n_max: float = 1e15) -> np.ndarray:
    """Predicted n*(d): the smallest n at which the predicted excess error is <= ``epsilon``.

    Parameters
    ----------
    target : MultiIndexTarget
        The target whose terms (and noise) are used at every d of ``d_values`` (its own d and
        U are ignored: the prediction depends on the coefficients only).
    d_values : int or array of int
        The dimensions, >= 3 (and > r for ``measure='gaussian'``), at most 1000 of them.
    epsilon : float
        The excess-error level, > 0.
    kernel : {'ntk', 'nngp'}, default 'ntk'
        The kernel.
    ridge : float, default 1e-8
        The regressors' ``ridge``, >= 0.
    beta : float, default 1.0
        The kernel's first-layer bias scale.
    noise : float or None, default None
        The label-noise variance; None is ``target.noise``.
    max_degree : int or None, default None
        The harmonic degrees resolved; None is max(12, target.degree).
    measure : {'gaussian', 'sphere'}, default 'gaussian'
        The input model, as in :func:`kernel_learning_curve`.
    tail : {'ridge', 'drop'}, default 'ridge'
        As in :func:`kernel_learning_curve`.
    method : {'series', 'asymptotic', 'quadrature'}, default 'series'
        See :func:`kernel_spectrum`.
    radial_nodes : int, default 12
        See :func:`kernel_spectrum`.
    n_max : float, default 1e15
        The largest n searched, >= 1.

    Returns
    -------
    ndarray of d_values' shape, float64
        n*(d); inf where the error stays above ``epsilon`` up to ``n_max`` (e.g. a noise
        floor).

    Raises
    ------
    ValueError
        For an argument out of its range or options (named in the message), or more than
        1000 ``d_values``.
    TypeError
        For ``d_values`` that are not integers, a ``target`` that is not a
        :class:`fastrep.MultiIndexTarget`, or an argument of the wrong type.

    Examples
    --------
    >>> import fastrep
    >>> from fastrep.theory import kernel_n_star
    >>> target = fastrep.MultiIndexTarget.separation(d=10, seed=0)
    >>> n_star = kernel_n_star(target, [10, 20], 0.5)
    >>> n_star.shape, bool(n_star[1] > 3 * n_star[0])  # grows like d**2 (the degree-2 part)
    ((2,), True)
    """
    ridge, beta, noise = _common(kernel, ridge, beta, measure, method, tail, noise, target)
    epsilon, n_max = check_args(epsilon=epsilon, n_max=n_max)
    ds = np.asarray(d_values)
    if ds.dtype.kind not in "iu":
        raise TypeError(f"d_values must be integers; got dtype {ds.dtype}")
    if ds.size > MAX_DIMENSIONS:
        raise ValueError(f"d_values must have at most {MAX_DIMENSIONS} entries (each costs two curves); "
                         f"got {ds.size:,}")
    for d in ds.reshape(-1):
        check_param("d_values", int(d), RULES["d"])
    out = np.empty(ds.shape)
    grid = np.logspace(0, math.log10(n_max), 61)
    for idx, d in np.ndenumerate(ds):
        d = int(d)

        def f(n, d=d):
            return _curve(target, d, n, kernel, ridge, beta, max_degree, measure, radial_nodes, method, tail,
                          noise)[0]

        errs = f(grid)
        hit = np.flatnonzero(errs <= epsilon)
        if hit.size == 0:
            out[idx] = np.inf
            continue
        k = int(hit[0])
        if k == 0:
            out[idx] = grid[0]
            continue
        fine = np.exp(np.linspace(math.log(grid[k - 1]), math.log(grid[k]), 129))
        ef = f(fine)
        j = int(np.flatnonzero(ef <= epsilon)[0])
        # linear in (log n, log error) between the two fine points around the crossing
        e0, e1 = math.log(max(ef[j - 1], 1e-300)), math.log(max(ef[j], 1e-300))
        w = 1.0 if e0 == e1 else (math.log(epsilon) - e0) / (e1 - e0)
        hi = math.log(fine[j - 1]) + min(max(w, 0.0), 1.0) * (math.log(fine[j]) - math.log(fine[j - 1]))
        out[idx] = math.exp(hi)
    return out

