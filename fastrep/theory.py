"""The kernel's learning curve at any d: eigenvalues per harmonic degree and the omniscient risk.

A prediction, not an experiment, and not from Damian, Lee and Soltanolkotabi (COLT 2022,
arXiv 2206.15144). For kernel ridge regression with fastrep's convention -- minimize
(1/n)|y - K a|^2 + ridge a^T K a, i.e. ridge strength delta = n * ridge in
sum_i (y_i - f(x_i))^2 + delta |f|_H^2 -- and kernel eigenvalues lambda_k (with respect to
the input distribution) of multiplicity N_k, the omniscient-risk (eigenlearning) equation of
Bordelon, Canatar and Pehlevan (2020) and Simon et al. (2021) reads

    kappa > 0 solves  n = sum_k N_k lambda_k / (lambda_k + kappa) + delta / kappa,
    L_k = lambda_k / (lambda_k + kappa),   E_0 = n / (n - sum_k N_k L_k^2),
    excess error = [E_0 sum_k (1 - L_k)^2 e_k + (E_0 - 1) sigma^2] / E[f*^2],

with e_k the target's energy in eigenspace k and sigma^2 the label-noise variance.

The kernels are the NTK and NNGP of :mod:`fastrep.kernels`. Two input models:

``measure="sphere"`` (the large-d model of Mei, Misiakiewicz and Montanari; the default of
:func:`kernel_spectrum`)
    x on the sphere of radius sqrt(d): the kernels are dot-product kernels k(t) of
    t = x.x'/d, their eigenspaces are the spherical harmonics of degree l, of dimension
    N(d, l) = (2l + d - 2)/l * C(l + d - 3, l - 1), with eigenvalue
    lambda_l = E_t[k(t) P_l(t)] (P_l the Gegenbauer polynomial of index (d - 2)/2 with
    P_l(1) = 1, t with density proportional to (1 - t^2)^((d-3)/2)). The target's Hermite
    energy of degree l is put on harmonic degree l.
``measure="gaussian"`` (the default of the predictions: fastrep's inputs are Gaussian)
    x ~ N(0, I_d) exactly: x = rho sqrt(d) theta with rho^2 ~ chi^2_d / d independent of
    theta. Each harmonic degree l carries a radial kernel K_l(rho, rho') = E_t[k(rho, rho', t)
    P_l(t)], discretized on ``radial_nodes`` Gauss nodes of the rho distribution and
    diagonalized: eigenvalues lambda_{l,i}, each of multiplicity N(d, l). The target is
    decomposed exactly into harmonic degree and radial eigenfunction: a Hermite term of
    degree p puts energy on harmonic degrees p, p - 2, ... (with radial profiles that the
    sphere model ignores).

Eigenvalues. ``method="series"`` (default) expands k in powers of t around 0 (a three-term
recurrence for the Taylor coefficients of the arccos kernels, all non-negative) and uses the
closed form E[t^(l+2m) P_l(t)] = (l+2m)! / (2^(l+2m) m!) * Gamma(d/2) / Gamma(l + m + d/2),
summed in logarithms: exact to rounding at any d and degree, no cancellation, and its
leading term is the large-d asymptotics lambda_l ~ k^(l)(0) / d^l (``method="asymptotic"``).
``method="quadrature"`` is Gauss-Jacobi quadrature against Gegenbauer polynomials: a check,
accurate for small d and degree only (the integrand is O(d^(-l/2)) and its integral O(d^-l),
so it cancels catastrophically as d grows).

Degrees above ``max_degree`` are not resolved; their trace, k(1) - sum_{l <= L} N_l lambda_l
(E[k(x, x)] - ... for the Gaussian model), is kept as an extra ridge (``tail="ridge"``, the
Mei-Misiakiewicz-Montanari effective regularization) or dropped (``tail="drop"``).

Every function costs microseconds to milliseconds: nothing scales with n or d beyond the
logarithms of Gamma functions.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy.linalg import eigh_tridiagonal
from scipy.special import gammaln, logsumexp

__all__ = [
    "KernelSpectrum",
    "eigenlearning",
    "kernel_learnability",
    "kernel_learning_curve",
    "kernel_n_star",
    "kernel_spectrum",
    "log_multiplicity",
]

KERNELS = ("ntk", "nngp")
MEASURES = ("sphere", "gaussian")
METHODS = ("series", "quadrature", "asymptotic")
TAILS = ("ridge", "drop")
#: default number of harmonic degrees resolved (the rest is the tail)
DEFAULT_MAX_DEGREE = 12
#: Taylor terms of the kernel in t; the terms decay like j^(-d/2), so this is plenty for d >= 3
SERIES_TERMS = 600
#: Gauss nodes of the radial distribution in the Gaussian model
DEFAULT_RADIAL_NODES = 12


# --------------------------------------------------------------------------- validation


def _check_kernel(kernel):
    if kernel not in KERNELS:
        raise ValueError(f"kernel must be one of {', '.join(map(repr, KERNELS))}; got {kernel!r}")
    return kernel


def _check_choice(value, name, choices):
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}; got {value!r}")
    return value


def _check_real(value, name, *, low=0.0, strict=False):
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number; got {value!r}")
    value = float(value)
    if not math.isfinite(value) or value < low or (strict and value == low):
        raise ValueError(f"{name} must be a finite number {'>' if strict else '>='} {low:g}; got {value}")
    return value


def _check_int(value, name, low):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer; got {value!r}")
    if value < low:
        raise ValueError(f"{name} must be an integer >= {low}; got {value}")
    return int(value)


def _check_n(n):
    arr = np.asarray(n)
    if arr.dtype.kind not in "iuf" or arr.dtype == np.bool_:
        raise TypeError(f"n must be a number or an array of numbers of samples; got dtype {arr.dtype}")
    arr = arr.astype(np.float64)
    if not np.all(np.isfinite(arr)) or np.any(arr <= 0):
        raise ValueError("n must hold finite sample sizes > 0")
    return arr


# --------------------------------------------------------------------------- harmonic bookkeeping


def log_multiplicity(d: int, degrees) -> np.ndarray:
    """log N(d, l): the log dimension of the degree-l spherical harmonics on S^(d-1).

    N(d, 0) = 1 and N(d, l) = (2l + d - 2)/l * C(l + d - 3, l - 1) for l >= 1, via gammaln
    (no overflow at any d). ``degrees``: int array of any shape; returns float64 of that shape.
    """
    d = _check_int(d, "d", 2)
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
        out[:, k] = logsumexp(logA + _log_moment(d, int(ell), j)[None, :], axis=1)
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

    ``degree``: (K,) int, the harmonic degree l of each eigenspace; ``radial``: (K,) int, its
    radial index (always 0 for the sphere model); ``log_multiplicity``: (K,) float64,
    log N(d, l); ``eigenvalue``: (K,) float64 (may underflow to 0 at extreme d: use
    ``log_eigenvalue``); ``log_eigenvalue``: (K,) float64; ``trace``: E[k(x, x)];
    ``tail``: the trace not in the K eigenspaces (the extra ridge of ``tail="ridge"``).
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
    """The NTK's or NNGP's eigenvalues per harmonic degree 0..max_degree at dimension d >= 3.

    See the module docstring for ``measure`` and ``method``. Results are cached per arguments.
    Check: sum_l N_l lambda_l + tail = k(1) (the trace; E[k(x, x)] for the Gaussian model).
    """
    d = _check_int(d, "d", 3)
    _check_kernel(kernel)
    beta = _check_real(beta, "beta")
    max_degree = _check_int(max_degree, "max_degree", 0)
    _check_choice(measure, "measure", MEASURES)
    _check_choice(method, "method", METHODS)
    radial_nodes = _check_int(radial_nodes, "radial_nodes", 1)
    return _spectrum_cached(d, kernel, beta, max_degree, measure, method, radial_nodes)


# --------------------------------------------------------------------------- the target's energies


def _hermite_monomials(terms: dict, d: int):
    """f(sqrt(d) zeta) for f = sum c_alpha h_alpha(z) as {exponent tuple: coefficient} in zeta."""
    from numpy.polynomial import hermite_e

    poly: dict[tuple[int, ...], float] = {}
    for alpha, c in terms.items():
        factors = []
        for a in alpha:
            coef = hermite_e.herme2poly([0] * a + [1]) / math.sqrt(math.factorial(a))
            factors.append({(e,): float(v) * d ** (e / 2.0) for e, v in enumerate(coef) if v != 0})
        prod = {(): float(c)}
        for fac in factors:
            prod = {k + e: v * w for k, v in prod.items() for e, w in fac.items()}
        for k, v in prod.items():
            poly[k] = poly.get(k, 0.0) + v
    return poly


def _sphere_moment(e, d):
    """E[theta^e] for theta uniform on S^(d-1) (e a multi-index over the first coordinates)."""
    if any(x % 2 for x in e):
        return 0.0
    num = 1.0
    for x in e:
        for i in range(1, x, 2):
            num *= i
    den = 1.0
    for i in range(sum(e) // 2):
        den *= d + 2 * i
    return num / den


def _harmonic_parts(terms: dict, r: int, d: int):
    """C[l] (p+1, p+1): E_theta[phi_{l,k} phi_{l,k'}] where f(R sqrt(d) theta) = sum_k R^k B_k(U theta)
    and phi_{l,k} is the degree-l spherical-harmonic part of B_k (exact, by the spectral
    projectors of the Laplace-Beltrami operator on polynomials in U theta)."""
    from .hermite import multi_indices

    poly = _hermite_monomials(terms, d)
    p = max(sum(a) for a in poly) if poly else 0
    basis = [tuple(int(v) for v in a) for a in multi_indices(r, p)]
    index = {a: i for i, a in enumerate(basis)}
    D = len(basis)
    deg = np.array([sum(a) for a in basis])
    # Laplace-Beltrami on monomials: Delta_z z^a - |a|(|a| + d - 2) z^a
    Lap = np.zeros((D, D))
    for i, a in enumerate(basis):
        Lap[i, i] -= deg[i] * (deg[i] + d - 2)
        for k in range(r):
            if a[k] >= 2:
                b = list(a)
                b[k] -= 2
                Lap[index[tuple(b)], i] += a[k] * (a[k] - 1)
    G = np.array([[_sphere_moment(tuple(x + y for x, y in zip(a, b, strict=True)), d) for b in basis]
                  for a in basis])
    ev = {ell: -ell * (ell + d - 2) for ell in range(p + 1)}
    proj = {}
    for ell in range(p + 1):
        Pm = np.eye(D)
        for other in range(p + 1):
            if other != ell:
                Pm = (Lap - ev[other] * np.eye(D)) @ Pm / (ev[ell] - ev[other])
        proj[ell] = Pm
    B = np.zeros((p + 1, D))
    for a, v in poly.items():
        B[sum(a), index[a]] += v
    C = {}
    for ell in range(p + 1):
        PB = B @ proj[ell].T  # (p+1, D): the degree-l part of each B_k
        C[ell] = PB @ G @ PB.T
    return C, p


def _energies(target, spectrum: KernelSpectrum) -> np.ndarray:
    """The target's energy e_k in each eigenspace of ``spectrum`` (K,)."""
    return _energies_of(tuple(target.terms.items()), target.r, spectrum).copy()


@lru_cache(maxsize=512)
def _energies_of(terms: tuple, r: int, spectrum: KernelSpectrum) -> np.ndarray:
    if spectrum.measure == "sphere":
        e = np.zeros(len(spectrum.degree))
        for alpha, c in terms:
            e[sum(alpha)] += c * c
        return e
    if r >= spectrum.d:
        raise ValueError(f"measure='gaussian' needs r < d; the target has r = {r}, d = {spectrum.d}")
    C, p = _harmonic_parts(dict(terms), r, spectrum.d)
    rho, w = spectrum.radial_nodes, spectrum.radial_weights
    Q = len(rho)
    V = np.vander(rho, p + 1, increasing=True)  # (Q, p+1): R^k
    sw = np.sqrt(w)
    e = np.zeros(len(spectrum.degree))
    for ell in range(min(p, int(spectrum.degree.max())) + 1):
        F = V @ C[ell] @ V.T  # (Q, Q): radial covariance of the degree-l part
        vecs = spectrum.radial_vectors[ell]
        e[ell * Q:(ell + 1) * Q] = np.einsum("qi,qr,ri->i", vecs, sw[:, None] * F * sw[None, :], vecs)
    return e


# --------------------------------------------------------------------------- the equation


def eigenlearning(n, log_multiplicity, log_eigenvalue, energy, *, delta, noise: float = 0.0):
    """The omniscient-risk equation for a kernel with a known spectrum (any kernel, any measure).

    Parameters
    ----------
    n : float or array of any shape, sample sizes > 0.
    log_multiplicity, log_eigenvalue, energy : (K,) float64: log N_k, log lambda_k (-inf for a
        zero eigenvalue) and the target's energy e_k in eigenspace k.
    delta : float or array broadcastable to n, >= 0: the ridge in sum (y - f)^2 + delta |f|^2
        (fastrep's ridge times n, plus any tail). delta = 0 needs n != sum N_k.
    noise : label-noise variance sigma^2 >= 0.

    Returns
    -------
    (error, learnability, E0): error of n's shape (excess error, not divided by E[f*^2]),
    learnability (n.shape + (K,)) L_k = lambda_k / (lambda_k + kappa), E0 of n's shape.
    """
    n_arr = _check_n(n)
    logN = np.asarray(log_multiplicity, dtype=np.float64).reshape(-1)
    logl = np.asarray(log_eigenvalue, dtype=np.float64).reshape(-1)
    e = np.asarray(energy, dtype=np.float64).reshape(-1)
    if not (logN.shape == logl.shape == e.shape):
        raise ValueError("log_multiplicity, log_eigenvalue and energy must have the same length")
    noise = _check_real(noise, "noise")
    delta = np.broadcast_to(np.asarray(delta, dtype=np.float64), n_arr.shape)
    if not np.all(np.isfinite(delta)) or np.any(delta < 0):
        raise ValueError("delta must be finite and >= 0")
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
    for _ in range(64):
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
    from .targets import MultiIndexTarget

    if not isinstance(target, MultiIndexTarget):
        raise TypeError(f"target must be a fastrep.MultiIndexTarget; got {type(target).__name__}")
    L = DEFAULT_MAX_DEGREE if max_degree is None else _check_int(max_degree, "max_degree", 0)
    L = max(L, target.degree) if max_degree is None else L
    if L < target.degree:
        raise ValueError(f"max_degree = {L} is below the target's degree {target.degree}")
    spec = kernel_spectrum(d, kernel=kernel, beta=beta, max_degree=L, measure=measure, method=method,
                           radial_nodes=radial_nodes)
    return spec, _energies(target, spec)


def _curve(target, d, n, kernel, ridge, beta, max_degree, measure, radial_nodes, method, tail, noise):
    spec, e = _prepare(target, d, kernel, beta, max_degree, measure, radial_nodes, method)
    n_arr = _check_n(n)
    extra = spec.tail if tail == "ridge" else 0.0
    try:
        delta = np.broadcast_to(n_arr * ridge + extra, n_arr.shape)
    except ValueError:
        raise ValueError(
            f"ridge of shape {np.shape(ridge)} does not broadcast to n of shape {n_arr.shape}") from None
    err, L, E0 = eigenlearning(n_arr, spec.log_multiplicity, spec.log_eigenvalue, e, delta=delta, noise=noise)
    return err / target.variance, L, spec


def _check_ridge(ridge):
    if isinstance(ridge, (numbers.Real, np.floating)) and not isinstance(ridge, bool):
        return _check_real(ridge, "ridge")
    arr = np.asarray(ridge)
    if arr.dtype.kind not in "iuf" or arr.dtype == np.bool_:
        raise TypeError(f"ridge must be a number >= 0 or an array of them broadcastable to n; got {ridge!r}")
    arr = arr.astype(np.float64)
    if not np.all(np.isfinite(arr)) or np.any(arr < 0):
        raise ValueError("ridge must hold finite numbers >= 0")
    return arr


def _common(kernel, ridge, beta, measure, method, tail, noise, target):
    from .targets import MultiIndexTarget

    if not isinstance(target, MultiIndexTarget):
        raise TypeError(f"target must be a fastrep.MultiIndexTarget; got {type(target).__name__}")
    _check_kernel(kernel)
    ridge = _check_ridge(ridge)
    beta = _check_real(beta, "beta")
    _check_choice(measure, "measure", MEASURES)
    _check_choice(method, "method", METHODS)
    _check_choice(tail, "tail", TAILS)
    noise = target.noise if noise is None else _check_real(noise, "noise")
    return ridge, beta, noise


def kernel_learning_curve(target, n, *, kernel: str = "ntk", ridge: float, beta: float = 1.0,
                          noise: float | None = None, max_degree: int | None = None,
                          measure: str = "gaussian", tail: str = "ridge", method: str = "series",
                          radial_nodes: int = DEFAULT_RADIAL_NODES):
    """Predicted excess test error of NTK or NNGP kernel ridge regression on ``target``.

    Parameters
    ----------
    target : fastrep.MultiIndexTarget (its d, terms and, unless ``noise`` is given, noise).
    n : float or array of any shape: training sample sizes.
    kernel : 'ntk' or 'nngp' (the kernels of :class:`fastrep.NTKRegressor` / ``NNGPRegressor``).
    ridge : the regressors' ``ridge`` (lambda in (1/n)|y - K a|^2 + lambda a^T K a), >= 0; a
        number or an array broadcastable to n (e.g. a fixed diagonal shift s as ridge = s / n).
    beta : first-layer bias scale of the kernel.
    noise : label-noise variance (default: ``target.noise``).
    max_degree : harmonic degrees resolved (default max(12, target.degree)).
    measure : 'gaussian' (default: exact N(0, I_d) inputs, the inputs fastrep draws; radial
        fluctuations and the leak of Hermite degree l into harmonic degrees l - 2, l - 4, ...) or
        'sphere' (the large-d model: Hermite energy of degree l on harmonic degree l, inputs of norm
        sqrt(d); cheaper, and the same as d grows).
    tail : 'ridge' (the trace above max_degree acts as extra ridge) or 'drop'.
    method, radial_nodes : see :func:`kernel_spectrum`.

    Returns
    -------
    float64 array of n's shape: the predicted excess error (test MSE against the noiseless f*,
    over E[f*^2]), what :func:`fastrep.metrics.excess_error` measures.
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
    is the expectation of :func:`fastrep.diagnostics.degree_learning`'s fraction. Degrees with
    no energy get NaN. Returns float64 of shape n.shape + (target.degree + 1,).
    """
    ridge, beta, _ = _common(kernel, ridge, beta, measure, method, tail, 0.0, target)
    spec, e = _prepare(target, target.d, kernel, beta, max_degree, measure, radial_nodes, method)
    n_arr = _check_n(n)
    extra = spec.tail if tail == "ridge" else 0.0
    _, L, _ = eigenlearning(n_arr, spec.log_multiplicity, spec.log_eigenvalue, e, delta=n_arr * ridge + extra)
    out = np.full(n_arr.shape + (target.degree + 1,), np.nan)
    if measure == "sphere":
        energy = target.energy_by_degree()
        for ell in range(target.degree + 1):
            if energy[ell] > 0:
                out[..., ell] = L[..., ell]
        return out
    # Gaussian model: project each Hermite degree separately onto the eigenspaces
    from .targets import MultiIndexTarget

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

    ``target``: a MultiIndexTarget whose terms (and noise) are used at every d of ``d_values``
    (its own d and U are ignored: the prediction depends on the coefficients only).
    ``d_values``: int or array of ints >= 3 (and > r for measure='gaussian'). Other arguments
    as for :func:`kernel_learning_curve`. Returns float64 of d_values' shape; inf where the
    error stays above epsilon up to ``n_max`` (e.g. a noise floor).
    """
    from .targets import MultiIndexTarget

    if not isinstance(target, MultiIndexTarget):
        raise TypeError(f"target must be a fastrep.MultiIndexTarget; got {type(target).__name__}")
    ridge, beta, noise = _common(kernel, ridge, beta, measure, method, tail, noise, target)
    epsilon = _check_real(epsilon, "epsilon", strict=True)
    n_max = _check_real(n_max, "n_max", low=1.0)
    ds = np.asarray(d_values)
    if ds.dtype.kind not in "iu":
        raise TypeError(f"d_values must be integers; got dtype {ds.dtype}")
    out = np.empty(ds.shape)
    grid = np.logspace(0, math.log10(n_max), 241)
    for idx, d in np.ndenumerate(ds):
        d = _check_int(int(d), "d_values", 3)

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
        fine = np.exp(np.linspace(math.log(grid[k - 1]), math.log(grid[k]), 257))
        ef = f(fine)
        j = int(np.flatnonzero(ef <= epsilon)[0])
        # linear in (log n, log error) between the two fine points around the crossing
        e0, e1 = math.log(max(ef[j - 1], 1e-300)), math.log(max(ef[j], 1e-300))
        w = 1.0 if e0 == e1 else (math.log(epsilon) - e0) / (e1 - e0)
        hi = math.log(fine[j - 1]) + min(max(w, 0.0), 1.0) * (math.log(fine[j]) - math.log(fine[j - 1]))
        out[idx] = math.exp(hi)
    return out
