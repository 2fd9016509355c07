"""The proportional regime (n, width and d of the same order): published random-features theory.

Two predictions of the ridge head's excess error on a two-layer ReLU network's features
phi_j(x) = relu(w_j . x + b_j), x ~ N(0, I_d), the head fitted as fastrep fits it,
``a = (Phi^T Phi / n + ridge I)^-1 Phi^T y / n`` (no intercept, labels not centred):

:func:`random_features_risk`
    Mei and Montanari (2019), "The generalization error of random features regression:
    precise asymptotics and the double descent curve" (CPAM 2022, arXiv 1908.05355), Definition 1
    and Theorem 1: bias-free ReLU features at a random first layer (rows N(0, I_d / d)), in the
    limit n/d -> psi2, width/d -> psi1. This is the eta = 0 point of Ba, Erdogdu, Suzuki,
    Wang, Wu and Yang (NeurIPS 2022, arXiv 2205.01445), whose small-learning-rate analysis
    starts from the same Gaussian equivalence. Closed form: two coupled scalar equations.
:func:`gaussian_equivalent_risk`
    The same equivalence for a *given* first layer (W, b): each feature is replaced by its
    Gaussian equivalent mu0_j + mu1_j w_j . x + nu_j g_j (Mei-Montanari; Hu and Lu 2020; Ba et
    al. 2022, Theorem 1 for the trained features at small eta), and the ridge's risk on
    Gaussian features of that covariance is the deterministic equivalent of Loureiro et al.
    (NeurIPS 2021, the Gaussian covariate model) -- the omniscient-risk equation
    (:func:`fastrep.theory.eigenlearning`) on the features' m x m second moment, with the part
    of the target outside the features' span as noise. It applies to any first layer: the
    initial one (then it is Mei-Montanari's prediction at finite size), the one a fitted
    :class:`fastrep.OneStepNetwork` learned (``W_``, ``b_``), or any other.

Choices written down (``docs/guide/theory-network.md``, "The proportional regime"):

- ``order`` = 1 (default) is the published equivalence: features' cross-covariances are
  mu0_j mu0_k + mu1_j mu1_k w_j . w_k, their own variances exact. Higher orders add the Mehler
  terms of degree 2 .. ``order`` (needed when the rows are strongly correlated, as after a
  large step); the diagonal and exact +- pairs (rows j and j + m/2 of the symmetric
  initialization: w negated, same b) are always exact.
- The target's correlation with each feature is exact (Stein's lemma, every Hermite degree),
  not only its linear part: a trained row aligned with span(U) carries degree-2 and higher
  information that the linearized feature would lose.
"""

from __future__ import annotations

import math

import numpy as np

from .._validation import Interval, Options, check_array, check_param
from ..ridge import lambda_grid
from ._rules import MAX_POINTS, check_args, check_target, n_array
from .network_curves import _head_spectrum, _ridge_errors
from .network_equivalent import relu_moments, relu_pair, relu_square
from .network_representation import _monomials

__all__ = ["gaussian_equivalent_risk", "random_features_risk"]

#: most neurons of a first layer (the m x m second moment and its eigendecomposition)
MAX_WIDTH = 20_000
#: the highest Mehler order of the cross-covariances
MAX_ORDER = 12

PROPORTIONAL_RULES = {
    "width": [Interval("integer", 1, MAX_WIDTH)],
    "ridge": [Options("validate"), Interval("real", 0, None)],
    "order": [Interval("integer", 1, MAX_ORDER)],
}

# ReLU on N(0, 1): E relu, E[relu G], E relu^2 (Mei-Montanari's mu0, mu1 and mu_*^2)
_RELU_MU0 = 1.0 / math.sqrt(2.0 * math.pi)
_RELU_MU1 = 0.5
_RELU_MUSTAR2 = 0.5 - _RELU_MU0**2 - _RELU_MU1**2


def _check(**kw):
    for k, v in kw.items():
        check_param(k, v, PROPORTIONAL_RULES[k])
    return list(kw.values())


def _noise(target, noise):
    return target.noise if noise is None else check_args(noise=noise)


def _degree_energies(target):
    """(constant c0, linear energy F1^2, the rest F*^2) of the target's Hermite expansion."""
    energy = target.energy_by_degree()
    c0 = float(sum(c for a, c in target.terms.items() if sum(a) == 0))
    f1 = float(energy.get(1, 0.0))
    rest = float(sum(v for k, v in energy.items() if k >= 2))
    return c0, f1, rest


# --------------------------------------------------------------------------- Mei-Montanari


def _mm_nu(psi1: float, psi2: float, zeta2: float, xi_im: float):
    """nu1, nu2 of Mei-Montanari's Definition 1 at xi = i xi_im (xi_im > 0).

    On the imaginary axis both are purely imaginary, nu = i a with a > 0; the pair is the
    analytic continuation from large Im xi (where nu_k ~ psi_k / (-xi)), followed down by
    damped fixed-point iteration along a geometric path of xi_im values."""
    a1, a2 = psi1 / 1e3, psi2 / 1e3
    path = np.geomspace(max(1e3, 10 * xi_im), xi_im, 60)
    for x in path:
        for _ in range(4000):
            # nu1 = psi1 / (-xi - nu2 - zeta^2 nu2 / (1 - zeta^2 nu1 nu2)), nu = i a, xi = i x:
            # 1 - zeta^2 nu1 nu2 = 1 + zeta^2 a1 a2, the denominator is -i (x + a2 + zeta^2 a2 / (...))
            q = 1.0 + zeta2 * a1 * a2
            n1 = psi1 / (x + a2 + zeta2 * a2 / q)
            n2 = psi2 / (x + a1 + zeta2 * a1 / q)
            if abs(n1 - a1) <= 1e-14 * n1 and abs(n2 - a2) <= 1e-14 * n2:
                a1, a2 = n1, n2
                break
            a1, a2 = 0.5 * (a1 + n1), 0.5 * (a2 + n2)
    return a1, a2


def _mm_bias_variance(psi1: float, psi2: float, zeta2: float, lam_bar: float):
    """Mei-Montanari's B and V (Definition 1) at lambda_bar > 0."""
    a1, a2 = _mm_nu(psi1, psi2, zeta2, math.sqrt(psi1 * psi2 * lam_bar))
    chi = -a1 * a2  # nu1 nu2 = (i a1)(i a2)
    z2, z4, z6 = zeta2, zeta2**2, zeta2**3
    p = psi1 * psi2
    E0 = (-chi**5 * z6 + 3 * chi**4 * z4 + (p - psi2 - psi1 + 1) * chi**3 * z6 - 2 * chi**3 * z4
          - 3 * chi**3 * z2 + (psi1 + psi2 - 3 * p + 1) * chi**2 * z4 + 2 * chi**2 * z2 + chi**2
          + 3 * p * chi * z2 - p)
    E1 = psi2 * chi**3 * z4 - psi2 * chi**2 * z2 + p * chi * z2 - p
    E2 = (chi**5 * z6 - 3 * chi**4 * z4 + (psi1 - 1) * chi**3 * z6 + 2 * chi**3 * z4 + 3 * chi**3 * z2
          + (-psi1 - 1) * chi**2 * z4 - 2 * chi**2 * z2 - chi**2)
    return E1 / E0, E2 / E0


def random_features_risk(target, n, *, width: int, ridge, noise: float | None = None) -> np.ndarray:
    """Mei and Montanari's (2019) asymptotic excess error of ridge on random ReLU features.

    The features are relu(w_j . x), j = 1..``width``, without biases, at a random first layer
    (rows N(0, I_d / d); Mei-Montanari's rows uniform on the sphere, the same in the limit),
    x ~ N(0, I_d), and the head is fastrep's ridge ``(Phi^T Phi / n + ridge I)^-1 Phi^T y / n``
    on n samples. With psi1 = width/d, psi2 = n/d, ReLU's mu1 = 1/2 and
    mu_*^2 = 1/4 - 1/(2 pi), zeta = mu1 / mu_*, Mei-Montanari's ridge lambda = ridge d / width
    and lambda_bar = lambda / mu_*^2, their Theorem 1 gives the test error
    F1^2 B + (tau^2 + F*^2) V + F*^2, with F1^2 the target's degree-1 energy, F*^2 its energy of
    degree >= 2 (which random features cannot learn when n and width are O(d)) and tau^2 the
    label noise; the excess error is that minus tau^2, over E[f*^2]. A degree-0 term is
    learned for free in the limit (the features' mean) and counted as learned.

    Parameters
    ----------
    target : MultiIndexTarget
        The target: its d, terms and, unless ``noise`` is given, noise.
    n : float or array_like of float
        The head's sample sizes, > 0 (psi2 = n / d).
    width : int
        The number of features, 1 .. 20000 (psi1 = width / d).
    ridge : 'validate', float or array_like of float
        fastrep's ridge, > 0 (the formula needs lambda > 0; a value below 1e-12 is taken as
        1e-12); 'validate' is the best of every other ridge of
        :func:`fastrep.ridge.lambda_grid` (the grid's spacing is a factor 1.8) for the
        predicted error, as :func:`fastrep.theory.network_learning_curve` models the
        validated ridge. An array broadcasts against ``n``.
    noise : float or None, default None
        The label-noise variance tau^2, >= 0; None is ``target.noise``.

    Returns
    -------
    ndarray of the broadcast shape of n and ridge, float64
        The predicted excess error over E[f*^2] (what :func:`fastrep.metrics.excess_error`
        measures).

    Raises
    ------
    ValueError
        For an argument out of its range or options (named in the message).
    TypeError
        For a ``target`` that is not a :class:`fastrep.MultiIndexTarget`, or an argument of
        the wrong type (named in the message).

    Examples
    --------
    >>> import fastrep
    >>> from fastrep.theory import random_features_risk
    >>> target = fastrep.MultiIndexTarget(64, {(1,): 1.0, (2,): 0.5}, seed=0)
    >>> err = random_features_risk(target, [64, 256, 1024], width=128, ridge=1e-3)
    >>> err.shape, bool(err[2] < err[1] < err[0]), bool(err[2] > 0.2)  # degree 2: 20% unlearnable
    ((3,), True, True)
    """
    check_target(target)
    _check(width=width)
    noise = _noise(target, noise)
    n_arr = n_array(n)
    validate = isinstance(ridge, str)
    if validate:
        _check(ridge=ridge)
        ridges = lambda_grid()
    else:
        ridges = check_array(ridge, "ridge", Interval("real", 0, None), max_size=MAX_POINTS)
    c0, f1, rest = _degree_energies(target)
    d = target.d
    psi1 = width / d
    zeta2 = _RELU_MU1**2 / _RELU_MUSTAR2

    def risk(nv, lam):
        lam_bar = max(lam, 1e-12) * d / width / _RELU_MUSTAR2
        B, V = _mm_bias_variance(psi1, nv / d, zeta2, lam_bar)
        return (f1 * B + (noise + rest) * V + rest) / target.variance

    if validate:
        out = np.empty(n_arr.shape)
        for idx, nv in np.ndenumerate(n_arr):
            out[idx] = min(risk(float(nv), float(lam)) for lam in ridges[::2])
        return out
    try:
        nb, rb = np.broadcast_arrays(n_arr, ridges)
    except ValueError:
        raise ValueError(f"ridge of shape {ridges.shape} does not broadcast to n of shape {n_arr.shape}") from None
    out = np.empty(nb.shape)
    for idx in np.ndindex(nb.shape):
        out[idx] = risk(float(nb[idx]), float(rb[idx]))
    return out


# --------------------------------------------------------------------------- any first layer


def _feature_moments(target, W, b, order: int):
    """(M, p, t2): the features' second moment E[phi phi^T] (m, m) in the Gaussian equivalence of
    ``order``, their exact correlation with f* (m,), and E[f*^2]."""
    m = W.shape[0]
    s = np.sqrt(np.sum(W * W, axis=1))
    s_safe = np.where(s > 0, s, 1.0)
    beta = np.where(s > 0, b / s_safe, np.where(b > 0, np.inf, -np.inf))
    beta_f = np.clip(beta, -40.0, 40.0)
    mean, var = beta_f * s_safe, s_safe**2  # the pre-activation b + s t (b clipped to +-40 s)
    A = relu_moments(mean, var, order)  # A[k] = E[relu(b + s t) He_k(t)]
    mu0 = np.where(s > 0, A[0], np.maximum(b, 0.0))
    # exact second moment of each feature
    sq = np.where(s > 0, relu_square(mean, var), np.maximum(b, 0.0) ** 2)
    C = (W / s_safe[:, None]) @ (W / s_safe[:, None]).T  # correlations of the pre-activations
    M = np.outer(mu0, mu0)
    for k in range(1, order + 1):
        a_k = np.where(s > 0, A[k], 0.0)
        M += np.outer(a_k, a_k) * C**k / math.factorial(k)
    # exact diagonal
    M[np.diag_indices(m)] = sq
    # exact +- pairs: w_k = -w_j, b_k = b_j (the symmetric initialization's rows j, j + m/2)
    if m % 2 == 0:
        h = m // 2
        pair = np.all(W[h:] == -W[:h], axis=1) & (b[h:] == b[:h]) & (s[:h] > 0)
        j = np.flatnonzero(pair)
        if j.size:
            # E[relu(b + s t) relu(b - s t)]
            val = relu_pair(mean[j], mean[j], var[j])
            M[j, j + h] = val
            M[j + h, j] = val
    # E[phi_j f*]: sum_alpha c_alpha E[relu(s t + b) He_|alpha|(t)] u~^alpha / sqrt(alpha!)
    ut = (W @ target.U.T) / s_safe[:, None]  # (m, r), E[t z]
    mono = _monomials(ut, target.alphas)
    deg = target.alphas.sum(axis=1)
    p = np.zeros(m)
    for k in np.unique(deg):
        if k > order:  # in the equivalence of this order, higher degrees are uncorrelated noise
            continue
        cols = deg == k
        a_k = np.where(s > 0, A[int(k)], 0.0 if k else np.maximum(b, 0.0))
        p += a_k * (mono[:, cols] @ target.coefs[cols])
    return M, p, float(target.variance)


def gaussian_equivalent_risk(target, n, W, b=None, *, ridge, noise: float | None = None,
                             order: int = 1) -> np.ndarray:
    """Predicted excess error of the ridge head on the features relu(W x + b), given W and b.

    The Gaussian equivalence of the features (Mei-Montanari 2019; Hu-Lu 2020; Ba et al. 2022,
    Theorem 1 for the features after one small step) and the ridge's deterministic equivalent
    on Gaussian features (Loureiro et al. 2021): :func:`fastrep.theory.eigenlearning` on the
    features' second moment, the target's part outside their span acting as noise. The head
    is fastrep's, ``(Phi^T Phi / n + ridge I)^-1 Phi^T y / n`` with uncentred labels
    (``center=False``), fitted on n samples independent of W (``split=True``).

    Parameters
    ----------
    target : MultiIndexTarget
        The target: its d, U, terms and, unless ``noise`` is given, noise.
    n : float or array_like of float
        The head's sample sizes, > 0.
    W : array_like of shape (m, d)
        The first layer (e.g. ``OneStepNetwork.W_``); m at most 20000, d = target.d.
    b : array_like of shape (m,) or None, default None
        The biases; None is zero.
    ridge : 'validate', float or array_like of float
        The head's ridge, >= 0; 'validate' is the best of :func:`fastrep.ridge.lambda_grid`
        for the predicted error. An array broadcasts against ``n``.
    noise : float or None, default None
        The label-noise variance, >= 0; None is ``target.noise``.
    order : int, default 1
        The Mehler order of the features' cross-covariances, 1 .. 12: 1 is the published
        equivalence (linear part only off the diagonal).

    Returns
    -------
    ndarray of the broadcast shape of n and ridge, float64
        The predicted excess error over E[f*^2].

    Raises
    ------
    ValueError
        For an argument out of its range or options, or W, b of the wrong shape (named in
        the message).
    TypeError
        For a ``target`` that is not a :class:`fastrep.MultiIndexTarget`, or an argument of
        the wrong type (named in the message).

    Examples
    --------
    >>> import numpy as np
    >>> import fastrep
    >>> from fastrep.theory import gaussian_equivalent_risk
    >>> target = fastrep.MultiIndexTarget(32, {(1,): 1.0, (2,): 0.5}, seed=0)
    >>> W = np.random.default_rng(0).standard_normal((64, 32)) / np.sqrt(32)
    >>> err = gaussian_equivalent_risk(target, [32, 512], W, ridge=1e-3)
    >>> err.shape, bool(err[1] < err[0])
    ((2,), True)
    """
    check_target(target)
    (order,) = _check(order=order)
    noise = _noise(target, noise)
    n_arr = n_array(n)
    W = check_array(W, "W", Interval("real"), max_size=MAX_WIDTH * max(target.d, 1))
    if W.ndim != 2 or W.shape[1] != target.d or W.shape[0] < 1:
        raise ValueError(f"W must have shape (m, d) with d = target.d = {target.d} and m >= 1; got {W.shape}")
    if W.shape[0] > MAX_WIDTH:
        raise ValueError(f"W must have at most {MAX_WIDTH} rows; got {W.shape[0]}")
    if b is None:
        b = np.zeros(W.shape[0])
    else:
        b = check_array(b, "b", Interval("real"), max_size=MAX_WIDTH)
        if b.shape != (W.shape[0],):
            raise ValueError(f"b must have shape (m,) = ({W.shape[0]},); got {b.shape}")
    spec = _head_spectrum(*_feature_moments(target, W, b, int(order)))
    if isinstance(ridge, str):
        _check(ridge=ridge)
        grid = lambda_grid()
        out = np.empty(n_arr.shape)
        for idx, nv in np.ndenumerate(n_arr):
            out[idx] = float(np.min(_ridge_errors(spec, float(nv), noise, grid)))
        return out / target.variance
    ridges = check_array(ridge, "ridge", Interval("real", 0, None), max_size=MAX_POINTS)
    try:
        nb, rb = np.broadcast_arrays(n_arr, ridges)
    except ValueError:
        raise ValueError(f"ridge of shape {ridges.shape} does not broadcast to n of shape {n_arr.shape}") from None
    return _ridge_errors(spec, nb.reshape(-1), noise, rb.reshape(-1)).reshape(nb.shape) / target.variance
