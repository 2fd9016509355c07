"""The kernel's learning curve at any d: eigenvalues per harmonic degree and the omniscient risk.

A prediction, not an experiment, and not from Damian, Lee and Soltanolkotabi (COLT 2022,
arXiv 2206.15144). For kernel ridge regression with fastrep's convention -- minimize
``(1/n)|y - K a|^2 + ridge a^T K a``, i.e. ridge strength delta = n * ridge in
``sum_i (y_i - f(x_i))^2 + delta |f|_H^2`` -- and kernel eigenvalues lambda_k (with respect to
the input distribution) of multiplicity N_k, the omniscient-risk (eigenlearning) equation of
Bordelon, Canatar and Pehlevan (2020) and Simon et al. (2021) reads::

    kappa > 0 solves  n = sum_k N_k lambda_k / (lambda_k + kappa) + delta / kappa,
    L_k = lambda_k / (lambda_k + kappa),   E_0 = n / (n - sum_k N_k L_k^2),
    excess error = [E_0 sum_k (1 - L_k)^2 e_k + (E_0 - 1) sigma^2] / E[f*^2],

with e_k the target's energy in eigenspace k and sigma^2 the label-noise variance.

The kernels are the NTK and NNGP of :mod:`fastrep.kernels`. Two input models:

``measure="sphere"`` (the large-d model of Mei, Misiakiewicz and Montanari; default of ``kernel_spectrum``)
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

A call costs microseconds to about a second: nothing scales with n or d beyond the logarithms
of Gamma functions. Every size a caller can give (``max_degree``, ``radial_nodes``,
the number of n and d values, the target's monomials under ``measure="gaussian"``) is bounded
before any work starts (:mod:`fastrep.theory._rules`).

The package, one responsibility per module:

- :mod:`~fastrep.theory.spectra`: a kernel's eigenvalues per harmonic degree
  (:func:`kernel_spectrum`, :class:`KernelSpectrum`, :func:`log_multiplicity`);
- :mod:`~fastrep.theory.energies`: a target's energy in each eigenspace
  (:func:`target_energies`);
- :mod:`~fastrep.theory.curves`: the omniscient-risk equation and what it predicts for the
  kernels (:func:`eigenlearning`, :func:`kernel_learning_curve`, :func:`kernel_learnability`,
  :func:`kernel_n_star`);
- :mod:`~fastrep.theory._rules`: the arguments' rules, written with the learners' rule
  vocabulary (:mod:`fastrep._validation`).

The network side (what one step of Algorithm 1 learns, and its head's error; derivation in
``docs/guide/theory-network.md``):

- :mod:`~fastrep.theory.network_representation`: the distribution over neurons of the learned
  rows (population step and finite-n fluctuation, in r dimensions);
- :mod:`~fastrep.theory.network_curves`: the predicted alignment, excess error and n*(d) of
  :class:`fastrep.OneStepNetwork` (:func:`network_alignment`, :func:`network_learning_curve`,
  :func:`network_n_star`) and both sides of the separation (:func:`separation`), on the same
  :func:`eigenlearning`;
- :mod:`~fastrep.theory.proportional`: the proportional regime (n, width ~ d), published theory:
  Mei-Montanari's random-features risk (:func:`random_features_risk`) and the Gaussian
  equivalence of any first layer's features (:func:`gaussian_equivalent_risk`).
"""

from .curves import eigenlearning, kernel_learnability, kernel_learning_curve, kernel_n_star
from .energies import target_energies
from .network_curves import network_alignment, network_learning_curve, network_n_star, separation
from .proportional import gaussian_equivalent_risk, random_features_risk
from .spectra import KernelSpectrum, kernel_spectrum, log_multiplicity

__all__ = [
    "KernelSpectrum",
    "eigenlearning",
    "gaussian_equivalent_risk",
    "kernel_learnability",
    "kernel_learning_curve",
    "kernel_n_star",
    "kernel_spectrum",
    "log_multiplicity",
    "network_alignment",
    "network_learning_curve",
    "network_n_star",
    "random_features_risk",
    "separation",
    "target_energies",
]
