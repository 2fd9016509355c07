"""A kernel's eigenvalues on inputs of dimension d, per harmonic degree (and radial index).

The NTK's and NNGP's spectra for the sphere and Gaussian input models, by the Taylor series
of the kernel in t (``method="series"``), its leading term (``"asymptotic"``) or Gauss-Jacobi
quadrature (``"quadrature"``, a check); see :mod:`fastrep.theory`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy.linalg import eigh_tridiagonal
from scipy.special import gammaln

from .._validation import Interval, check_param
from ._rules import DEFAULT_MAX_DEGREE, DEFAULT_RADIAL_NODES, MAX_DIMENSION, SERIES_TERMS, check_args

__all__ = ["KernelSpectrum", "kernel_spectrum", "log_multiplicity"]

# --------------------------------------------------------------------------- harmonic bookkeeping


def log_multiplicity(d: int, degrees) -> np.ndarray:
    """log N(d, l): the log dimension of the degree-l spherical harmonics on S^(d-1).

    N(d, 0) = 1 and N(d, l) = (2l + d - 2)/l * C(l + d - 3, l - 1) for l >= 1, via gammaln
    (no overflow at any d).

    Parameters
    ----------
    d : int
        The input dimension, 2 <= d <= 2**53.
    degrees : int or array of int of any shape
        The harmonic degrees l >= 0.

    Returns
    -------
    ndarray of degrees' shape, float64
        log N(d, l) for each degree.

    Raises
    ------
    ValueError
        For ``d`` out of range or a negative degree (each named in the message).
    TypeError
        For a ``d`` that is not an integer, or ``degrees`` that are not integers.

    Examples
    --------
    >>> import numpy as np
    >>> from fastrep.theory import log_multiplicity
    >>> np.exp(log_multiplicity(5, [0, 1, 2])).round(6)  # 1, d, d(d+1)/2 - 1
    array([ 1.,  5., 14.])
    """
    d = int(check_param("d", d, [Interval("integer", 2, MAX_DIMENSION)]))
    ls = np.asarray(degrees)
    if ls.dtype.kind not in "iu" or np.any(ls < 0):
        raise ValueError("degrees must be non-negative integers")
    ls = ls.astype(np.float64)
    safe = np.maximum(ls, 1.0)
    out = (np.log(2 * safe + d - 2) - np.log(safe) + gammaln(safe + d - 2) - gammaln(safe) - gammaln(d - 1))
    return np.where(ls == 0, 0.0, out)


def _log_moment(d: int, ell: int, j: np.ndarray) -> np.ndarray:
    """log E[t^j P_l(t)] on S^(d-1) for j = l + 2m (m >= 0); -inf for other j."""
    j = np.asarray(j)
    m = (j - ell) // 2
    ok = (j >= ell) & ((j - ell) % 2 == 0)
    mm = np.where(ok, m, 0)
    val = (gammaln(j + 1.0) - j * math.log(2.0) - gammaln(mm + 1.0) + gammaln(d / 2.0)
           - gammaln(ell + mm + d / 2.0))
    return np.where(ok, val, -np.inf)


# --------------------------------------------------------------------------- kernel Taylor series


def _kappa(u):
    u = np.clip(u, -1.0, 1.0)
    k0 = (math.pi - np.arccos(u)) / math.pi
    k1 = (np.sqrt(1.0 - u * u) + (math.pi - np.arccos(u)) * u) / math.pi
    return k0, k1


def _taylor(kernel: str, beta: float, rho1, rho2, J: int) -> np.ndarray:
    """Taylor coefficients in t of k(rho1 sqrt(d) theta, rho2 sqrt(d) theta') with t = theta.theta'.

    rho1, rho2: (P,) radii (|x|/sqrt(d)). Returns (P, J + 1) float64, all >= 0.
    With q = rho^2 + beta^2, c = beta^2 + rho1 rho2 t and u = c / sqrt(q1 q2) = u0 + s t:
    (1 - u^2)^(-1/2) = sum g_j t^j obeys (1 - u0^2)(j+1) g_{j+1} = s u0 (2j+1) g_j + s^2 j g_{j-1};
    kappa_0' = (1 - u^2)^(-1/2)/pi and kappa_1' = kappa_0 give the rest.
    """
    rho1 = np.asarray(rho1, dtype=np.float64)
    rho2 = np.asarray(rho2, dtype=np.float64)
    sq = np.sqrt((rho1**2 + beta**2) * (rho2**2 + beta**2))
    pr = rho1 * rho2
    u0 = beta**2 / sq
    s = pr / sq
    den = 1.0 - u0 * u0
    P = rho1.shape[0]
    g = np.zeros((P, J + 1))
    g[:, 0] = 1.0 / np.sqrt(den)
    if J >= 1:
        g[:, 1] = s * u0 * g[:, 0] / den
    for j in range(1, J):
        g[:, j + 1] = (s * u0 * (2 * j + 1) * g[:, j] + s * s * j * g[:, j - 1]) / (den * (j + 1))
    jj = np.arange(1, J + 1)
    k0c, k1c = _kappa(u0)
    K0 = np.empty((P, J + 1))
    K0[:, 0] = k0c
    K0[:, 1:] = s[:, None] * g[:, :-1] / (math.pi * jj)
    K1 = np.empty((P, J + 1))
    K1[:, 0] = k1c
    K1[:, 1:] = s[:, None] * K0[:, :-1] / jj
    A = 0.5 * sq[:, None] * K1
    if kernel == "ntk":
        A += 0.5 * beta**2 * K0
        A[:, 1:] += 0.5 * pr[:, None] * K0[:, :-1]
    return A


def _series_log_eigs(A: np.ndarray, d: int, degrees) -> np.ndarray:
    """log sum_m A_{l+2m} E[t^(l+2m) P_l] for each row of A (P, J+1) and degree: (P, L+1)."""
    J = A.shape[1] - 1
    j = np.arange(J + 1)
    with np.errstate(divide="ignore"):
        logA = np.log(np.maximum(A, 0.0))
    out = np.empty((A.shape[0], len(degrees)))
    for k, ell in enumerate(degrees):
        lm = _log_moment(d, int(ell), j)
        cols = np.isfinite(lm)  # j = l + 2m only: a plain max-shifted sum (scipy's logsumexp costs 3x)
        x = logA[:, cols] + lm[None, cols]
        top = np.max(x, axis=1, initial=-np.inf)
        safe = np.where(np.isfinite(top), top, 0.0)
        with np.errstate(divide="ignore"):
            out[:, k] = safe + np.log(np.sum(np.exp(x - safe[:, None]), axis=1))
    return out


def _sphere_kernel(kernel, beta, t):
    q = 1.0 + beta**2
    c = t + beta**2
    k0, k1 = _kappa(c / q)
    return 0.5 * (q * k1 + c * k0) if kernel == "ntk" else 0.5 * q * k1


def _quadrature_eigs(kernel, beta, d, degrees, nodes=400):
    from scipy.special import eval_gegenbauer, roots_jacobi

    a = (d - 3) / 2.0
    t, w = roots_jacobi(nodes, a, a)
    w = w / w.sum()
    kt = _sphere_kernel(kernel, beta, t)
    lam = (d - 2) / 2.0
    out = []
    for ell in degrees:
        if d == 2:
            P = np.cos(ell * np.arccos(t))
        else:
            P = eval_gegenbauer(int(ell), lam, t) / eval_gegenbauer(int(ell), lam, 1.0)
        out.append(float(np.sum(w * kt * P)))
    return np.array(out)


def _asymptotic_log_eigs(kernel, beta, d, degrees):
    # k^(l)(0) / d^l = l! a_l / d^l with a_l the Taylor coefficients at t = 0
    A = _taylor(kernel, beta, np.ones(1), np.ones(1), int(max(degrees)))[0]
    ls = np.asarray(degrees, dtype=np.float64)
    with np.errstate(divide="ignore"):
        return np.log(A[np.asarray(degrees)]) + gammaln(ls + 1) - ls * math.log(d)


# --------------------------------------------------------------------------- the spectrum


@dataclass(frozen=True, eq=False)
class KernelSpectrum:
    """A kernel's eigenvalues on the inputs of dimension d, grouped into eigenspaces.

    Made by :func:`kernel_spectrum` (frozen; compared by identity, so it can key a cache).

    Parameters
    ----------
    d : int
        The input dimension.
    kernel : {'ntk', 'nngp'}
        The kernel.
    beta : float
        The kernel's first-layer bias scale.
    measure : {'sphere', 'gaussian'}
        The input model.
    degree : ndarray of shape (K,), int
        The harmonic degree l of each eigenspace.
    radial : ndarray of shape (K,), int
        Its radial index (always 0 for the sphere model).
    log_multiplicity : ndarray of shape (K,), float64
        log N(d, l), the log dimension of each eigenspace.
    log_eigenvalue : ndarray of shape (K,), float64
        The log eigenvalues (-inf for a zero eigenvalue).
    trace : float
        E[k(x, x)].
    tail : float
        The trace not in the K eigenspaces (the extra ridge of ``tail="ridge"``).
    radial_vectors : tuple of ndarray, default ()
        Gaussian model: per degree, the (Q, Q) eigenvectors of the weighted radial kernel.
    radial_nodes : ndarray of shape (Q,) or None, default None
        Gaussian model: the radius nodes ``rho = |x| / sqrt(d)``.
    radial_weights : ndarray of shape (Q,) or None, default None
        Gaussian model: their probabilities.

    Attributes
    ----------
    eigenvalue : ndarray of shape (K,), float64
        ``exp(log_eigenvalue)``; may underflow to 0 at extreme d (use ``log_eigenvalue``).

    Examples
    --------
    >>> import numpy as np
    >>> from fastrep.theory import kernel_spectrum
    >>> spec = kernel_spectrum(10, max_degree=3)
    >>> spec.degree, spec.trace
    (array([0, 1, 2, 3]), 2.0)
    >>> bool(np.isclose(np.exp(spec.log_multiplicity) @ spec.eigenvalue + spec.tail, spec.trace))
    True
    """

    d: int
    kernel: str
    beta: float
    measure: str
    degree: np.ndarray
    radial: np.ndarray
    log_multiplicity: np.ndarray
    log_eigenvalue: np.ndarray
    trace: float
    tail: float
    radial_vectors: tuple = ()  # per degree: (Q, Q) eigenvectors of the weighted radial kernel
    radial_nodes: np.ndarray | None = None  # (Q,) rho nodes (Gaussian model)
    radial_weights: np.ndarray | None = None  # (Q,) their probabilities

    @property
    def eigenvalue(self) -> np.ndarray:
        """The eigenvalues, ``exp(log_eigenvalue)``: (K,) float64 (0 where they underflow)."""
        return np.exp(self.log_eigenvalue)


def _radial_rule(d: int, Q: int):
    """Gauss rule for rho = |x|/sqrt(d), x ~ N(0, I_d): |x|^2/2 ~ Gamma(d/2), generalized
    Laguerre nodes by Golub-Welsch (weights normalized to 1, no Gamma(d/2) overflow)."""
    a = d / 2.0 - 1.0
    i = np.arange(Q, dtype=np.float64)
    diag = 2 * i + a + 1
    off = np.sqrt((i[1:]) * (i[1:] + a))
    x, V = eigh_tridiagonal(diag, off)
    w = V[0] ** 2
    w = w / w.sum()
    return np.sqrt(2.0 * x / d), w


@lru_cache(maxsize=256)
def _spectrum_cached(d, kernel, beta, max_degree, measure, method, Q):
    degrees = np.arange(max_degree + 1)
    logN = log_multiplicity(d, degrees)
    trace = (1.0 + beta**2) * (1.0 if kernel == "ntk" else 0.5)
    if measure == "sphere":
        if method == "series":
            A = _taylor(kernel, beta, np.ones(1), np.ones(1), SERIES_TERMS)
            logl = _series_log_eigs(A, d, degrees)[0]
        elif method == "asymptotic":
            logl = _asymptotic_log_eigs(kernel, beta, d, degrees)
        else:
            with np.errstate(all="ignore"):
                lam = _quadrature_eigs(kernel, beta, d, degrees)
            if not np.all(np.isfinite(lam)) or np.any(lam <= 0):
                raise ValueError(
                    f"Gauss-Jacobi quadrature breaks down at d = {d} (non-finite or non-positive eigenvalues "
                    "from cancellation); use method='series', exact at any d")
            with np.errstate(divide="ignore", invalid="ignore"):
                logl = np.log(np.maximum(lam, 0.0))
        resolved = float(np.sum(np.exp(logN + logl)))
        return KernelSpectrum(d, kernel, beta, measure, degrees, np.zeros_like(degrees), logN, logl, trace,
                              max(trace - resolved, 0.0))
    if method != "series":
        raise ValueError("measure='gaussian' supports method='series' only")
    rho, w = _radial_rule(d, Q)
    ia, ib = np.triu_indices(Q)
    A = _taylor(kernel, beta, rho[ia], rho[ib], SERIES_TERMS)
    logK = _series_log_eigs(A, d, degrees)  # (pairs, L+1)
    sw = np.sqrt(w)
    deg, rad, lN, ll, vecs = [], [], [], [], []
    resolved = 0.0
    for k, ell in enumerate(degrees):
        M = np.zeros((Q, Q))
        M[ia, ib] = np.exp(logK[:, k])
        M[ib, ia] = M[ia, ib]
        B = sw[:, None] * M * sw[None, :]
        mu, V = np.linalg.eigh(B)
        order = np.argsort(mu)[::-1]
        mu, V = mu[order], V[:, order]
        resolved += math.exp(logN[k]) * float(np.sum(np.maximum(mu, 0.0)))
        with np.errstate(divide="ignore"):
            lmu = np.log(np.maximum(mu, 0.0))
        deg.extend([ell] * Q)
        rad.extend(range(Q))
        lN.extend([logN[k]] * Q)
        ll.extend(lmu)
        vecs.append(V)
    trace = float(np.sum(w * (rho**2 + beta**2))) * (1.0 if kernel == "ntk" else 0.5)
    return KernelSpectrum(d, kernel, beta, measure, np.array(deg), np.array(rad), np.array(lN), np.array(ll),
                          trace, max(trace - resolved, 0.0), tuple(vecs), rho, w)


def kernel_spectrum(d: int, *, kernel: str = "ntk", beta: float = 1.0, max_degree: int = DEFAULT_MAX_DEGREE,
                    measure: str = "sphere", method: str = "series",
                    radial_nodes: int = DEFAULT_RADIAL_NODES) -> KernelSpectrum:
    """The NTK's or NNGP's eigenvalues per harmonic degree 0..max_degree at dimension d.

    See :mod:`fastrep.theory` for ``measure`` and ``method``. Results are cached per
    arguments. Check: sum_l N_l lambda_l + tail = k(1) (the trace; E[k(x, x)] for the
    Gaussian model).

    Parameters
    ----------
    d : int
        The input dimension, 3 <= d <= 2**53.
    kernel : {'ntk', 'nngp'}, default 'ntk'
        The kernel of :class:`fastrep.NTKRegressor` or :class:`fastrep.NNGPRegressor`.
    beta : float, default 1.0
        The kernel's first-layer bias scale, 0 <= beta <= 1e4.
    max_degree : int, default 12
        The highest harmonic degree resolved, >= 0 (at most half the series' terms).
    measure : {'sphere', 'gaussian'}, default 'sphere'
        The input model: the sphere of radius sqrt(d), or N(0, I_d) exactly (each degree
        then has ``radial_nodes`` eigenspaces).
    method : {'series', 'asymptotic', 'quadrature'}, default 'series'
        How the eigenvalues are computed: the exact Taylor series, its leading term, or
        Gauss-Jacobi quadrature (a check for small d; sphere model only, as is
        'asymptotic').
    radial_nodes : int, default 12
        Gaussian model: the Gauss nodes of the radius distribution, 1 to 64.

    Returns
    -------
    KernelSpectrum
        The eigenspaces: K = max_degree + 1 (sphere) or (max_degree + 1) * radial_nodes
        (Gaussian).

    Raises
    ------
    ValueError
        For an argument out of its range or options (named in the message), a ``method``
        other than 'series' with ``measure='gaussian'``, or quadrature that breaks down at
        large d.
    TypeError
        For an argument of the wrong type (named in the message).

    Examples
    --------
    >>> from fastrep.theory import kernel_spectrum
    >>> spec = kernel_spectrum(10, max_degree=3)
    >>> (spec.eigenvalue * 1e4).round().astype(int)  # decreasing like d**-l
    array([9582,  768,   27,    1])
    >>> kernel_spectrum(10, max_degree=2, measure="gaussian", radial_nodes=4).degree
    array([0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2])
    """
    d, kernel, beta, max_degree, measure, method, radial_nodes = check_args(
        d=d, kernel=kernel, beta=beta, max_degree=max_degree, measure=measure, method=method,
        radial_nodes=radial_nodes)
    return _spectrum_cached(d, kernel, beta, max_degree, measure, method, radial_nodes)


