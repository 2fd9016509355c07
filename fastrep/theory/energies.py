"""A target's energy in each eigenspace of a kernel spectrum.

The sphere model puts the Hermite energy of degree l on harmonic degree l; the Gaussian
model decomposes the target exactly into harmonic degree and radial eigenfunction.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

from ._rules import check_gaussian_size, check_target
from .spectra import KernelSpectrum

__all__ = ["target_energies"]


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
    from ..hermite import multi_indices

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


def target_energies(target, spectrum: KernelSpectrum) -> np.ndarray:
    """The target's energy e_k in each eigenspace of ``spectrum``.

    What :func:`fastrep.theory.eigenlearning` takes as ``energy``; they sum to E[f*^2] when
    the spectrum resolves the target's degree. The sphere model puts the Hermite energy of
    degree l on harmonic degree l; the Gaussian model decomposes the target exactly, and
    needs r < d.

    Parameters
    ----------
    target : MultiIndexTarget
        The target (its terms and r; the spectrum's d is used).
    spectrum : KernelSpectrum
        A spectrum of :func:`~fastrep.theory.kernel_spectrum`.

    Returns
    -------
    ndarray of shape (K,), float64
        The energy in each of the spectrum's K eigenspaces, >= 0.

    Raises
    ------
    TypeError
        For a ``target`` that is not a :class:`fastrep.MultiIndexTarget`, or a ``spectrum``
        that is not a :class:`~fastrep.theory.KernelSpectrum`.
    ValueError
        With ``measure='gaussian'``: for r >= d, or a target with too many monomials for the
        exact decomposition.

    Examples
    --------
    >>> import fastrep
    >>> from fastrep.theory import kernel_spectrum, target_energies
    >>> target = fastrep.MultiIndexTarget.separation(d=10, seed=0)
    >>> target_energies(target, kernel_spectrum(10, max_degree=3)).round(6)
    array([0. , 0. , 0.5, 0.5])
    """
    check_target(target)
    if not isinstance(spectrum, KernelSpectrum):
        raise TypeError(f"spectrum must be a fastrep.theory.KernelSpectrum; got {type(spectrum).__name__}")
    if spectrum.measure == "gaussian":
        check_gaussian_size(target.r, target.degree)
    # squared norms: a negative entry is rounding (about 1e-20) in an eigenspace the target misses
    return np.maximum(_energies(target, spectrum), 0.0)


def _energies(target, spectrum: KernelSpectrum) -> np.ndarray:
    """:func:`target_energies` of checked arguments, as computed (rounding may leave -1e-20)."""
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


