"""The one-step network's predicted excess error, n*(d), and both sides of the separation.

Derivation: ``docs/guide/theory-network.md``, sections 5 and 6. The ridge head of
:class:`fastrep.OneStepNetwork` is ridge regression on the m features
phi_{j,+-}(x) = relu(+-(v_j . z + eps_j) + b_j), where v_j = U w_j (r-dim) and
eps_j = w_j,perp . x ~ N(0, N_j), with the eps_j of different neurons correlated by the
realized correlation matrix R of the rows' components outside span(U) (a random Gram matrix of
rank <= d - r) and rows j, j + m/2 exact negatives with the same b. Given the neurons
(:func:`~fastrep.theory.network_representation.learned_neurons`) two head models:

- ``head='equivalent'`` (:mod:`~fastrep.theory.network_equivalent`): a deterministic
  equivalent, the pairs' even and odd parts as two random-features blocks whose noise outside
  span(U) enters through its spectrum; about 20 ms per prediction at any d and n;
- ``head='realized'`` (default): one drawn realization of the rows and of R, the features' second moments
  E[phi phi^T] and E[phi f~] as r-dimensional Gaussian integrals (Mehler's expansion in R, exact
  on the diagonal and within each +- pair), and the omniscient-risk equation
  (:func:`fastrep.theory.eigenlearning`) on their spectrum; O(n d^2) up to n d^2 = 2e10, then
  O(width d), plus an m x m eigendecomposition.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.special import ndtr

from .._validation import Boolean, Interval, Options, check_param
from ..ridge import lambda_grid
from ._rules import MAX_DIMENSIONS, RULES, check_args, check_target, n_array
from .curves import _eigenlearning, kernel_n_star
from .network_equivalent import HeadModel, relu_moments, relu_pair, relu_square
from .network_representation import (  # noqa: F401
    _SQRT2PI,
    _gauss_hermite,
    _mu,
    learned_neurons,
    reduce_target,
)

__all__ = ["network_alignment", "network_learning_curve", "network_n_star", "separation"]

#: the rules of the network theory's own arguments (the learner's names and meanings)
NETWORK_THEORY_RULES = {
    "width": [Interval("integer", 2, 20_000, multiple_of=2,
                       why="the symmetric initialization pairs neuron j with j + width/2")],
    "eta1": [Options("normalized"), Interval("real", 0, None, closed="neither")],
    "ridge": [Options("validate"), Interval("real", 0, None)],
    "center": [Boolean()],
    "split": [Boolean()],
    "rebias": [Boolean()],
    "samples": [Interval("integer", 64, 2**20)],
    "seed": [Interval("integer", 0, 2**31 - 1)],
    "realizations": [Interval("integer", 1, 64)],
}

#: Mehler terms kept off the diagonal (|R_jk| ~ d^-1/2 there; the diagonal and the pairs are exact)
MEHLER_ORDER = 4


def _check(**kw):
    out = []
    for k, v in kw.items():
        check_param(k, v, NETWORK_THEORY_RULES[k])
        out.append(v)
    return out


def _noise(target, noise):
    return target.noise if noise is None else check_args(noise=noise)


def _stage_sizes(n: float, split: bool):
    """(step-1 samples, head samples): halves with ``split`` (as ``OneStepNetwork._stages``)."""
    if split:
        n1 = math.floor(n / 2)
        return max(n1, 1.0), max(n - n1, 1.0)
    return n, n


# --------------------------------------------------------------------------- alignment


def network_alignment(target, n, *, width: int = 1000, noise: float | None = None, center: bool = True,
                      split: bool = False, method: str = "neurons", realizations: int = 4,
                      samples: int = 16384, seed: int = 0) -> np.ndarray:
    """Predicted ``subspace_alignment(W_, U)`` of :class:`fastrep.OneStepNetwork` after its step.

    The mean over neurons of ``|U w_j|^2 / |w_j|^2`` (``docs/guide/theory-network.md``).
    ``eta1`` and ``rebias`` do not change W's directions; ``width`` only sets the number of
    neurons of a realization.

    Parameters
    ----------
    target : MultiIndexTarget
        The target: its d, terms and noise.
    n : float or array_like of float
        The training sample sizes, > 0: a number or an array (the step sees n, or n // 2
        with ``split``).
    width : int, default 1000
        m, the learner's number of neurons; even, at most 20000. Used by
        ``method='realized'`` only (min(width/2, 500) neuron pairs per realization).
    noise : float or None, default None
        The label-noise variance, >= 0; None is ``target.noise``.
    center : bool, default True
        The learner's ``center``: remove the degree-0 and degree-1 label components first.
    split : bool, default False
        The learner's ``split``: the step sees the first n/2 samples, the ridge the rest.
    method : {'neurons', 'realized'}, default 'neurons'
        'neurons': the per-neuron distribution (section 3 of the derivation) averaged by
        quasi-Monte Carlo over ``samples`` neurons: O(samples) work at any d and n. Against
        30-60 simulated steps per point: within 2.5% on the separation target (d = 24 .. 64,
        n = d^2/2 .. 2 d^2), 6% high on giant_step (d = 32, n = d^2).
        'realized': the mean over ``realizations`` draws of the rows as the head model draws
        them (section 4: one realized matrix C_hat shared by all neurons, the shared centring
        vector), min(width/2, 500) neuron pairs each; cost n d^2 up to 2e10, then width d. It
        reads 3-11% low (its rows' component outside span(U) is too large; see the docs).
    realizations : int, default 4
        The number of draws averaged by ``method='realized'``, 1 .. 64.
    samples : int, default 16384
        The number of quasi-Monte Carlo neurons of ``method='neurons'``, 64 .. 2**20.
    seed : int, default 0
        Seed of the draws (0 .. 2**31 - 1): the prediction is deterministic.

    Returns
    -------
    ndarray of n's shape, float64
        The predicted mean alignment, in [0, 1].

    Raises
    ------
    ValueError
        For an argument out of its range or options (named in the message), or an ``n`` that is not > 0.
    TypeError
        For a ``target`` that is not a :class:`fastrep.MultiIndexTarget`, or an argument
        of the wrong type.

    Examples
    --------
    >>> import numpy as np
    >>> import fastrep
    >>> from fastrep.theory import network_alignment
    >>> target = fastrep.MultiIndexTarget.separation(d=16, seed=0)
    >>> a = network_alignment(target, [256, 1024], width=100)
    >>> a.shape, bool(np.all((0 < a) & (a < 1))), bool(a[1] > a[0])
    ((2,), True, True)
    """
    check_target(target)
    _check(width=width, center=center, split=split, samples=samples, seed=seed, realizations=realizations)
    check_param("method", method, [Options("realized", "neurons")])
    noise = _noise(target, noise)
    n_arr = n_array(n)
    red = reduce_target(target, noise=noise, center=center)
    out = np.empty(n_arr.shape)
    for idx, nv in np.ndenumerate(n_arr):
        if method == "realized":
            out[idx] = _realized_alignment(red, target.d, float(nv), int(width), center, split, int(seed),
                                           int(realizations))
        else:
            n1, _ = _stage_sizes(float(nv), split)
            out[idx] = float(np.mean(learned_neurons(red, target.d, n1, samples=samples, seed=seed,
                                                     n_labels=float(nv)).alignment))
    return out


# --------------------------------------------------------------------------- feature moments


#: the exact realized covariance of the noise outside span(U) is built while n (d - r)^2 stays below this
EXACT_OMEGA_WORK = 2e10
#: samples per chunk when the labels' weights are drawn
_CHUNK = 1 << 16


def _label_draws(red, count, rng):
    """(y, g~) of ``count`` samples in r dimensions: y the label (with noise), g~ what the step sees."""
    from ..hermite import hermite_features

    z = rng.standard_normal((count, red.r))
    eps = math.sqrt(red.noise) * rng.standard_normal(count) if red.noise > 0 else 0.0
    ya, yc = red.full
    y = np.asarray(hermite_features(z, ya), dtype=np.float64) @ yc + eps
    ga, gc = red.alphas, red.coefs
    gt = (np.asarray(hermite_features(z, ga), dtype=np.float64) @ gc + eps) if len(gc) else eps + 0.0 * y
    return y, gt, z


def _exact_rows(red, nb, d: int, n1: float, n: float, center: bool) -> bool:
    """Whether :func:`_realized_rows` builds the step's sample matrices exactly (n1 d^2 work)."""
    return max(int(round(n1)), 1) * d * d <= EXACT_OMEGA_WORK


def _realized_rows(red, nb, d: int, n1: float, n: float, center: bool, rng):
    """The h learned rows (before normalization) as the head sees them, with their correlations.

    The fluctuations of all neurons sum over the same n1 samples:
    G_j - E G_j = (1/n1) sum_i (e_ij x_i - E[e_j x]), e_ij = yhat_i 1_ij. Write
    1_ij = Phi_j + phi(beta_j) t_ij + r_ij (t_ij = w_j . x_i / rho_j, the first Hermite term of
    the indicator, and a remainder r_ij nearly independent across neurons). Then

    - the first-order part is (phi(beta_j) / rho_j) (C_hat - E C_hat) w_j, with
      C_hat = (1/n1) sum_i yhat_i x_i x_i^T: ONE realized random matrix applied to every
      neuron's initial row (this is what correlates the neurons);
    - the remainder is, given the samples, i.i.d. across neurons,
      N(0, (K2_j / n1) Omega) with Omega = sum_i yhat_i^2 x_i x_i^T / sum_i yhat_i^2 and
      K2_j = K_j - phi(beta_j)^2 E[yhat^2];
    - without centring, every row also gets Phi_j (beta_hat - beta), one shared vector.

    Built exactly from n1 drawn samples in d dimensions while n1 d^2 <= EXACT_OMEGA_WORK
    (labels centred with their own sample alpha_hat, beta_hat); beyond, an approximation (see
    the code) whose corrections vanish as d grows.

    Returns (V (h, r), gram (h + 1, h + 1)): V the components in span(U); gram the Gram matrix
    of the components outside span(U) and, last, of -delta_beta (centring's error outside
    span(U), from all n label samples), which the head must fit.
    """
    h, r = nb.v.shape
    D = max(d - r, 1)
    n_int = max(int(round(n1)), 1)
    rho = np.sqrt(np.sum(nb.u**2, axis=1) + nb.s**2)
    phib = np.exp(-0.5 * (nb.b / rho) ** 2) / _SQRT2PI
    Phib = ndtr(nb.b / rho)
    g = rng.standard_normal((h, D))
    wperp = g * (nb.s / np.linalg.norm(g, axis=1))[:, None]
    if _exact_rows(red, nb, d, n1, n, center):
        W0 = np.concatenate([nb.u, wperp], axis=1)
        seeds = rng.integers(0, 2**63 - 1, size=2)
        sum_y, sum_yx = 0.0, np.zeros(d)
        chunks = [(lo, min(_CHUNK, n_int - lo)) for lo in range(0, n_int, _CHUNK)]

        def draw(k, c):
            crng = np.random.default_rng([int(seeds[0]), k])
            y, _, z = _label_draws(red, c, crng)
            return y, np.concatenate([z, crng.standard_normal((c, D))], axis=1)

        for k, (_, c) in enumerate(chunks):
            y, X = draw(k, c)
            sum_y += float(np.sum(y))
            sum_yx += X.T @ y
        alpha_hat, beta_hat = sum_y / n_int, sum_yx / n_int
        Chat = np.zeros((d, d))
        Omega = np.zeros((d, d))
        mean_yx = np.zeros(d)
        wsum = 0.0
        for k, (_, c) in enumerate(chunks):
            y, X = draw(k, c)
            yh = y - alpha_hat - X @ beta_hat if center else y
            Chat += X.T @ (yh[:, None] * X)
            mean_yx += X.T @ yh
            w = yh**2
            Omega += X.T @ (w[:, None] * X)
            wsum += float(np.sum(w))
        Chat /= n_int
        Omega /= max(wsum, 1e-300)
        Hpop = np.zeros((d, d))
        Hpop[:r, :r] = red.Mzz
        Hpop[np.arange(r, d), np.arange(r, d)] = red.gmean
        F = (phib / rho)[:, None] * (W0 @ (Chat - Hpop))
        ev, vec = np.linalg.eigh(Omega)
        root = (vec * np.sqrt(np.maximum(ev, 0.0))) @ vec.T
        F += np.sqrt(nb.K2 / n_int)[:, None] * (rng.standard_normal((h, d)) @ root)
        # the indicator's mean: one shared vector Phi_j ((1/n) sum yhat_i x_i - E[yhat x])
        pop_yx = np.zeros(d)
        if not center:
            ya, yc = red.full
            lin = ya.sum(axis=1) == 1
            for a_, c_ in zip(ya[lin], yc[lin], strict=True):
                pop_yx[int(np.argmax(a_))] = c_
        F += Phib[:, None] * (mean_yx / n_int - pop_yx)[None, :]
        V = nb.v + F[:, :r]
        P = nb.C[:, None] * wperp + F[:, r:]
        dvec = -beta_hat[r:] * math.sqrt(n_int / n) if center else np.zeros(D)
        rows = np.vstack([P, dvec[None, :]])
        return V, rows @ rows.T
    # Large n1 d^2: the same three parts, in the eigenbasis of C_hat's block outside span(U).
    # There C_hat_perp = (1/n1) sum_i yhat_i zeta_i zeta_i^T is a Wigner matrix (mean E[yhat] I,
    # entries of variance E[yhat^2] / n1; its eigenvalues from the tridiagonal Hermite model of
    # Dumitriu and Edelman, O(D^2)) with Haar eigenvectors, so every isotropic vector (the initial
    # w_perp, the i.i.d. remainders, delta_beta) is again i.i.d. Gaussian in that basis and no
    # D x D matrix is formed: O(h D). Left out here (kept by the exact branch): the labels'
    # heavy tails in Omega and C_hat, and the dependence between C_hat's blocks.
    y, gt, z = _label_draws(red, min(n_int, 1 << 16), rng)
    yh = gt if center else y
    m2 = float(np.mean(yh**2))
    lam = red.gmean + math.sqrt(m2 / n_int) * _wigner_eigenvalues(D, rng)
    Szz = (z * (yh**2)[:, None]).T @ z / len(yh)
    ev, vec = np.linalg.eigh(Szz)
    rootz = (vec * np.sqrt(np.maximum(ev, 0.0))) @ vec.T
    B = rootz @ rng.standard_normal((r, D)) / math.sqrt(n_int)  # C_hat's cross block (r, D)
    prods = np.stack([yh * z[:, a_] * z[:, b2] for a_ in range(r) for b2 in range(r)], axis=1)
    cov = np.cov(prods, rowvar=False).reshape(r * r, r * r) if len(yh) > 1 else np.zeros((r * r, r * r))
    ev2, vec2 = np.linalg.eigh(cov)
    E = (vec2 * np.sqrt(np.maximum(ev2, 0.0))) @ rng.standard_normal(r * r) / math.sqrt(n_int)
    E = E.reshape(r, r)
    E = 0.5 * (E + E.T)  # C_hat's block in span(U) minus its mean
    coef = (phib / rho)[:, None]
    F_u = coef * (nb.u @ E.T + wperp @ B.T)
    F_p = coef * (wperp * lam[None, :] + nb.u @ B)
    sc = np.sqrt(nb.K2 / n_int)[:, None]
    w = yh**2
    wm = float(np.mean(w)) or 1.0
    Szw = Szz / wm
    evw, vecw = np.linalg.eigh(Szw)
    rootw = (vecw * np.sqrt(np.maximum(evw, 0.0))) @ vecw.T
    F_u += sc * (rng.standard_normal((h, r)) @ rootw)
    F_p += sc * rng.standard_normal((h, D))
    y2 = float(np.mean(y**2))
    # one shared vector Phi_j ((1/n) sum yhat_i x_i - E[yhat x]): without centring the error of
    # beta_hat (covariance E[y^2 x x^T] / n); with it (1/n) sum (g~_i - y_i) x_i + E[y z]
    # (covariance E[(y - g~)^2 x x^T] / n, the removed degree-0 and -1 parts)
    common = y if not center else y - gt
    Syy = (z * (common**2)[:, None]).T @ z / len(y)
    evy, vecy = np.linalg.eigh(Syy)
    common_u = ((vecy * np.sqrt(np.maximum(evy, 0.0))) @ vecy.T) @ rng.standard_normal(r)
    F_u += Phib[:, None] * common_u[None, :] / math.sqrt(n_int)
    F_p += Phib[:, None] * (rng.standard_normal(D) * math.sqrt(float(np.mean(common**2)) / n_int))[None, :]
    V = nb.v + F_u
    P = nb.C[:, None] * wperp + F_p
    dvec = rng.standard_normal(D) * math.sqrt(y2 / n) if center else np.zeros(D)
    out = np.empty((h + 1, h + 1))
    out[:h, :h] = P @ P.T
    out[:h, h] = out[h, :h] = P @ dvec
    out[h, h] = float(dvec @ dvec)
    return V, out


def _wigner_eigenvalues(D: int, rng) -> np.ndarray:
    """Eigenvalues of a D x D GOE matrix with off-diagonal entries of variance 1 (diagonal 2):
    the tridiagonal model of Dumitriu and Edelman (2002), O(D^2)."""
    from scipy.linalg import eigvalsh_tridiagonal

    diag = rng.standard_normal(D) * math.sqrt(2.0)
    if D == 1:
        return diag
    off = np.sqrt(rng.chisquare(np.arange(D - 1, 0, -1)))
    return eigvalsh_tridiagonal(diag, off)


def _quadrature(r: int):
    q = {1: 48, 2: 24, 3: 12}.get(r, 6)
    return _gauss_hermite(r, q)


def _head_moments(red, V, gram, factor, b_plus, b_minus):
    """Sigma = E[phi phi^T] (m, m), the target vector E[phi target] (m,) and E[target^2].

    Features 0..h-1 are the '+' rows (w_j = factor (V_j in span(U), perp_j outside)), h..m-1
    their negatives, with the biases ``b_plus``/``b_minus``; ``gram`` is the Gram matrix of the
    perp_j and, last, of -delta_beta (:func:`_realized_rows`)."""
    from ..hermite import hermite_features

    h, r = V.shape
    v = V * factor
    N = np.maximum(np.diag(gram)[:h] * factor**2, 1e-30)
    nodes, weights = _quadrature(r)
    proj = nodes @ v.T  # (Q, h)
    mu = np.concatenate([proj + b_plus[None, :], -proj + b_minus[None, :]], axis=1)  # (Q, m)
    NN = np.concatenate([N, N])
    A = relu_moments(mu, NN[None, :], MEHLER_ORDER)
    sw = np.sqrt(weights)[:, None]
    # realized correlations of the components outside span(U), and of -delta_beta (the last row)
    sd = np.sqrt(np.maximum(np.diag(gram), 1e-300))
    R = gram / sd[:, None] / sd[None, :]
    Rd = R[:h, h]
    R = R[:h, :h]
    # |delta_beta|^2 (d - r components): centring's error, part of what the head must fit
    dbeta2 = float(gram[h, h]) if red.center else 0.0
    sign = np.concatenate([np.ones(h), -np.ones(h)])
    Rf = np.block([[R, -R], [-R, R]])
    Sigma = np.zeros((2 * h, 2 * h))
    Rl = np.ones_like(Rf)
    fact = 1.0
    for ell in range(MEHLER_ORDER + 1):
        F = A[ell] * sw
        if ell > 0:
            Rl = Rl * Rf
            fact *= ell
        Sigma += (F.T @ F) * Rl / fact
    # exact diagonal and exact +- pairs
    diag = weights @ relu_square(mu, NN[None, :])
    pair = weights @ relu_pair(mu[:, :h], mu[:, h:], N[None, :])
    Sigma[np.diag_indices(2 * h)] = diag
    idx = np.arange(h)
    Sigma[idx, idx + h] = Sigma[idx + h, idx] = pair
    # the head's target: g~(z) (Gauss-Hermite projection) and, with centring, -delta_beta . x
    ga, gc = red.head
    tz = np.zeros(len(weights))
    if len(gc):
        tz = np.asarray(hermite_features(nodes, ga), dtype=np.float64) @ gc
    bvec = (weights * tz) @ A[0]
    t2 = float(np.sum(gc**2))
    if dbeta2 > 0:
        bvec = bvec + math.sqrt(dbeta2) * (sign * np.concatenate([Rd, Rd])) * (weights @ A[1])
        t2 += dbeta2
    return Sigma, bvec, t2


def _head_spectrum(Sigma, bvec, t2):
    """(log eigenvalues, energies) of the head's ridge problem: Sigma's spectrum with the
    target's energy on each eigenvector, and the part outside the features' span as a zero
    eigenvalue (unlearnable)."""
    mu, Q = np.linalg.eigh(Sigma)
    top = float(mu[-1]) if mu.size else 0.0
    keep = mu > 1e-12 * max(top, 1e-300)
    mu, Q = mu[keep], Q[:, keep]
    e = (Q.T @ bvec) ** 2 / mu
    res = max(t2 - float(np.sum(e)), 0.0)
    return np.append(np.log(mu), -np.inf), np.append(e, res)


def _ridge_errors(spectrum, n2, noise, ridges):
    """Predicted excess error of ridge (each value of ``ridges``) on n2 samples (Gaussian design);
    n2 a number or one value per ridge."""
    logl, energy = spectrum
    logN = np.zeros_like(logl)
    ridges = np.asarray(ridges, dtype=np.float64).reshape(-1)
    n_arr = np.broadcast_to(np.asarray(n2, dtype=np.float64).reshape(-1), ridges.shape).copy()
    err, _, _ = _eigenlearning(n_arr, logN, logl, energy, n_arr * ridges, noise)
    return err


def _predict_error(red, target_variance, d, n, width, eta1, ridge, noise, center, split, rebias, seed,
                   realizations, head="realized"):
    n1, n2 = _stage_sizes(n, split)
    if head == "equivalent":
        errs = [HeadModel(red, d, n1, n, width, eta1, center, rebias, seed + 7919 * rep).error(
                    n2, noise, ridge)
                for rep in range(realizations)]
        return float(np.mean(errs)) / target_variance
    h = width // 2
    errs = []
    for rep in range(realizations):
        exact = _exact_rows(red, None, d, n1, n, center)
        neurons = learned_neurons(red, d, n1, samples=h, seed=seed + 7919 * rep, pop_only=True,
                                  shrink=not exact, n_labels=n)
        rng = np.random.default_rng([seed, rep, 25])
        V, gram = _realized_rows(red, neurons, d, n1, n, center, rng)
        scale2 = float(np.mean(np.sum(V**2, axis=1) + np.diag(gram)[:h]))
        factor = 1.0 / math.sqrt(scale2) if eta1 == "normalized" else 2.0 * float(eta1)
        b_minus = rng.standard_normal(h) if rebias else neurons.b
        b_plus = rng.standard_normal(h) if rebias else neurons.b
        Sigma, bvec, t2 = _head_moments(red, V, gram, factor, b_plus, b_minus)
        spec = _head_spectrum(Sigma, bvec, t2)
        if ridge == "validate":  # the best of the learner's grid: every 4th value, then its neighbours
            grid = lambda_grid()
            coarse = _ridge_errors(spec, n2, noise, grid[::4])
            k = 4 * int(np.argmin(coarse))
            fine = grid[max(k - 3, 0):k + 4]
            e = min(float(np.min(coarse)), float(np.min(_ridge_errors(spec, n2, noise, fine))))
        else:
            e = float(_ridge_errors(spec, n2, noise, [float(ridge)])[0])
        errs.append(e)
    return float(np.mean(errs)) / target_variance


def network_learning_curve(target, n, *, width: int = 1000, eta1="normalized", ridge="validate",
                           noise: float | None = None, center: bool = True, split: bool = False,
                           rebias: bool = False, seed: int = 0, realizations: int = 1,
                           head: str = "realized") -> np.ndarray:
    """Predicted excess test error of :class:`fastrep.OneStepNetwork` on ``target``.

    The prediction draws one realization of the width-m network's neurons and of the
    correlations of their components outside span(U) (``seed``); ``realizations`` > 1
    averages over several.

    Parameters
    ----------
    target : MultiIndexTarget
        The target: its d, terms and noise.
    n : float or array_like of float
        The training sample sizes, > 0: a number or an array (the step sees n, or n // 2
        with ``split``).
    width : int, default 1000
        m, the learner's number of neurons; even, at most 20000.
    eta1 : 'normalized' or float, default 'normalized'
        The learner's step size (> 0); 'normalized' scales the step to mean squared row
        norm 1, as the learner does.
    ridge : 'validate' or float, default 'validate'
        The learner's second-stage ridge lambda, >= 0; 'validate' is modelled as the best
        ridge of the learner's grid (:func:`fastrep.ridge.lambda_grid`) for the predicted
        error.
    noise : float or None, default None
        The label-noise variance, >= 0; None is ``target.noise``.
    center : bool, default True
        The learner's ``center``: remove the degree-0 and degree-1 label components first.
    split : bool, default False
        The learner's ``split``: the step sees the first n/2 samples, the ridge the rest.
    rebias : bool, default False
        The learner's ``rebias``: re-draw the biases after the step.
    seed : int, default 0
        Seed of the drawn realizations (0 .. 2**31 - 1): the prediction is deterministic.
    realizations : int, default 1
        The number of realizations of the network's neurons and of their correlations
        outside span(U) averaged over, 1 .. 64.
    head : {'realized', 'equivalent'}, default 'realized'
        How the ridge head is predicted. 'realized': one drawn realization of the rows and
        the m x m feature covariance (section 5 of ``docs/guide/theory-network.md``; O(n d^2)
        up to n d^2 = 2e10, then O(width d + width^3)). 'equivalent': the deterministic
        equivalent of section 6 (the +- pairs' even and odd parts as two random-features
        blocks, the noise outside span(U) through its spectrum), about 20 ms per prediction
        at any d and n; as accurate on the 4-seed fits from d = 64 on, 0.6-0.8x of the
        measured n* below d = 128 in the large study (``benchmarks/RESULTS_THEORY.md``).

    Returns
    -------
    ndarray of n's shape, float64
        The predicted excess error over E[f*^2] (what :func:`fastrep.metrics.excess_error`
        measures).

    Raises
    ------
    ValueError
        For an argument out of its range or options (named in the message), or an ``n`` that is not > 0.
    TypeError
        For a ``target`` that is not a :class:`fastrep.MultiIndexTarget`, or an argument
        of the wrong type.

    Examples
    --------
    >>> import fastrep
    >>> from fastrep.theory import network_learning_curve
    >>> target = fastrep.MultiIndexTarget.separation(d=16, seed=0)
    >>> err = network_learning_curve(target, [1024, 4096], width=100)
    >>> err.shape, bool(err[1] < err[0])
    ((2,), True)
    """
    check_target(target)
    _check(width=width, eta1=eta1, ridge=ridge, center=center, split=split, rebias=rebias, seed=seed,
           realizations=realizations)
    check_param("head", head, [Options("realized", "equivalent")])
    noise = _noise(target, noise)
    n_arr = n_array(n)
    red = reduce_target(target, noise=noise, center=center)
    out = np.empty(n_arr.shape)
    for idx, nv in np.ndenumerate(n_arr):
        out[idx] = _predict_error(red, target.variance, target.d, float(nv), int(width), eta1, ridge, noise,
                                  center, split, rebias, int(seed), int(realizations), head)
    return out


# --------------------------------------------------------------------------- n*(d) and the separation


def _at_dimension(target, d: int):
    """The target's terms (unchanged, not renormalized) at input dimension d."""
    from ..targets import MultiIndexTarget

    return MultiIndexTarget(d, dict(target.terms), noise=target.noise, normalize=False, seed=target.seed)


def _d_values(d_values):
    ds = np.asarray(d_values)
    if ds.dtype.kind not in "iu":
        raise TypeError(f"d_values must be integers; got dtype {ds.dtype}")
    if ds.size > MAX_DIMENSIONS:
        raise ValueError(f"d_values must have at most {MAX_DIMENSIONS} entries; got {ds.size:,}")
    for d in ds.reshape(-1):
        check_param("d_values", int(d), RULES["d"])
    return ds


def network_n_star(target, d_values, epsilon: float, *, width: int = 1000, eta1="normalized",
                   ridge="validate", noise: float | None = None, center: bool = True, split: bool = False,
                   rebias: bool = False, seed: int = 0, realizations: int = 1, n_max: float = 1e12,
                   rtol: float = 0.05, head: str = "realized") -> np.ndarray:
    """Predicted n*(d) of :class:`fastrep.OneStepNetwork`: the smallest n whose predicted excess
    error (:func:`network_learning_curve`) is <= ``epsilon``.

    The search brackets n on a grid n = d^2 2^(k/2) and bisects in log n to relative
    precision ``rtol``; each step is one prediction (about a second at width 1000).

    Parameters
    ----------
    target : MultiIndexTarget
        The target whose terms (and noise) are used at every d of ``d_values`` (its own d and
        U are ignored).
    d_values : int or array of int
        The dimensions, >= 3, at most 1000 of them.
    epsilon : float
        The excess-error level, > 0.
    width : int, default 1000
        m, the learner's number of neurons; even, at most 20000.
    eta1 : 'normalized' or float, default 'normalized'
        The learner's step size (> 0); 'normalized' scales the step to mean squared row
        norm 1, as the learner does.
    ridge : 'validate' or float, default 'validate'
        The learner's second-stage ridge lambda, >= 0; 'validate' is modelled as the best
        ridge of the learner's grid (:func:`fastrep.ridge.lambda_grid`) for the predicted
        error.
    noise : float or None, default None
        The label-noise variance, >= 0; None is ``target.noise``.
    center : bool, default True
        The learner's ``center``: remove the degree-0 and degree-1 label components first.
    split : bool, default False
        The learner's ``split``: the step sees the first n/2 samples, the ridge the rest.
    rebias : bool, default False
        The learner's ``rebias``: re-draw the biases after the step.
    seed : int, default 0
        Seed of the drawn realizations (0 .. 2**31 - 1): the prediction is deterministic.
    realizations : int, default 1
        The number of realizations of the network's neurons and of their correlations
        outside span(U) averaged over, 1 .. 64.
    n_max : float, default 1e12
        The largest n searched, >= 1.
    rtol : float, default 0.05
        The relative precision of n*, in (1e-4, 1).
    head : {'realized', 'equivalent'}, default 'realized'
        How the ridge head is predicted. 'realized': one drawn realization of the rows and
        the m x m feature covariance (section 5 of ``docs/guide/theory-network.md``; O(n d^2)
        up to n d^2 = 2e10, then O(width d + width^3)). 'equivalent': the deterministic
        equivalent of section 6 (the +- pairs' even and odd parts as two random-features
        blocks, the noise outside span(U) through its spectrum), about 20 ms per prediction
        at any d and n; as accurate on the 4-seed fits from d = 64 on, 0.6-0.8x of the
        measured n* below d = 128 in the large study (``benchmarks/RESULTS_THEORY.md``).

    Returns
    -------
    ndarray of d_values' shape, float64
        n*(d); inf where the error stays above ``epsilon`` up to ``n_max`` (e.g. under a
        noise floor).

    Raises
    ------
    ValueError
        For an argument out of its range or options (named in the message), or more than 1000 ``d_values``.
    TypeError
        For a ``target`` that is not a :class:`fastrep.MultiIndexTarget`, ``d_values`` that
        are not integers, or an argument of the wrong type.

    Examples
    --------
    >>> import fastrep
    >>> from fastrep.theory import network_n_star
    >>> target = fastrep.MultiIndexTarget.separation(d=16, seed=0)
    >>> n_star = network_n_star(target, [16], 0.25, width=100)
    >>> n_star.shape, bool(256 < n_star[0] < 16 * 256)
    ((1,), True)
    """
    check_target(target)
    _check(width=width, eta1=eta1, ridge=ridge, center=center, split=split, rebias=rebias, seed=seed,
           realizations=realizations)
    check_param("head", head, [Options("realized", "equivalent")])
    epsilon, n_max = check_args(epsilon=epsilon, n_max=n_max)
    check_param("rtol", rtol, [Interval("real", 1e-4, 1, closed="neither")])
    noise = _noise(target, noise)
    ds = _d_values(d_values)
    out = np.empty(ds.shape)
    ratio = 1.0  # n*/d^2 of the previous d: where the next search starts
    for idx, d in np.ndenumerate(ds):
        t = _at_dimension(target, int(d))
        red = reduce_target(t, noise=noise, center=center)

        def err(n, t=t, red=red):
            return _predict_error(red, t.variance, t.d, float(n), int(width), eta1, ridge, noise, center,
                                  split, rebias, int(seed), int(realizations), head)

        out[idx] = _crossing(err, ratio * float(d) ** 2, epsilon, n_max, rtol,
                             first_step=2.0 if ratio == 1.0 else 1.3)
        # The equivalent head's error is smooth and monotone in n, so the previous d's n*/d^2 is
        # a safe warm start there; the realized head's error carries its draw's jitter, and a
        # search from another start can stop at another crossing: each d then starts afresh, so
        # n*(d) does not depend on which other d are asked for.
        if head == "equivalent" and np.isfinite(out[idx]):
            ratio = float(out[idx]) / float(d) ** 2
    return out


def _crossing(err, start, epsilon, n_max, rtol, first_step: float = 2.0):
    """The n where err(n) crosses epsilon: a bracket by steps from ``start`` (``first_step``, then
    doubling), then regula falsi in (log n, log err) with the Illinois modification (a handful
    of predictions, against about a dozen for bisection), stopping when the bracket is within
    ``rtol`` or the interpolated point moves by less than rtol / 4."""
    lo = hi = start
    e = err(start)
    step = first_step
    if e <= epsilon:
        e_hi = e
        while True:
            if lo / step < 1.0:
                return lo
            lo /= step
            step = 2.0
            e_lo = err(lo)
            if e_lo > epsilon:
                break
            hi, e_hi = lo, e_lo
    else:
        e_lo = e
        while True:
            hi *= step
            step = 2.0
            if hi > n_max:
                return np.inf
            e_hi = err(hi)
            if e_hi <= epsilon:
                break
            lo, e_lo = hi, e_hi
    le = math.log(epsilon)
    fl, fh = math.log(e_lo) - le, math.log(max(e_hi, 1e-300)) - le  # fl > 0 >= fh
    x_lo, x_hi = math.log(lo), math.log(hi)
    side = 0
    guess = x_hi
    for _ in range(30):
        if x_hi - x_lo <= math.log1p(rtol):
            break
        x = x_lo + fl * (x_hi - x_lo) / (fl - fh) if fl != fh else 0.5 * (x_lo + x_hi)
        x = min(max(x, x_lo + 0.01 * (x_hi - x_lo)), x_hi - 0.01 * (x_hi - x_lo))
        if abs(x - guess) <= 0.25 * math.log1p(rtol):
            guess = x
            break
        guess = x
        fx = math.log(max(err(math.exp(x)), 1e-300)) - le
        if fx > 0:
            x_lo, fl = x, fx
            if side == -1:
                fh *= 0.5
            side = -1
        else:
            x_hi, fh = x, fx
            if side == 1:
                fl *= 0.5
            side = 1
    return math.exp(guess)


def separation(target, d_values, epsilon: float, *, width: int = 1000, kernel: str = "ntk",
               kernel_ridge: float = 0.0, noise: float | None = None, split: bool = False, seed: int = 0,
               head: str = "realized", **kernel_options) -> dict:
    """Both sides' predicted n*(d): the one-step network and a kernel.

    The network's is :func:`network_n_star` (validated ridge, the learner's other defaults),
    the kernel's :func:`fastrep.theory.kernel_n_star` with ridge ``kernel_ridge`` (default
    ridgeless: a fixed ridge is not small at large d).

    Parameters
    ----------
    target : MultiIndexTarget
        The target whose terms (and noise) are used at every d of ``d_values`` (its own d and
        U are ignored).
    d_values : int or array of int
        The dimensions, >= 3, at most 1000 of them.
    epsilon : float
        The excess-error level, > 0.
    width : int, default 1000
        m, the learner's number of neurons; even, at most 20000.
    kernel : {'ntk', 'nngp'}, default 'ntk'
        The kernel of the other side.
    kernel_ridge : float, default 0.0
        The kernel regressor's ridge, >= 0.
    noise : float or None, default None
        The label-noise variance, >= 0; None is ``target.noise``.
    split : bool, default False
        The network's ``split``: the step sees the first n/2 samples, the ridge the rest.
    seed : int, default 0
        Seed of the network prediction's realization.
    head : {'realized', 'equivalent'}, default 'realized'
        The network's head model (:func:`network_n_star`); 'equivalent' gives both sides at
        ten d up to 4096 in about a second.
    **kernel_options
        Further arguments of :func:`~fastrep.theory.kernel_n_star` (``beta``, ``measure``,
        ``max_degree``, ...).

    Returns
    -------
    dict
        ``{'d': int64 array, 'network': float64 array, 'kernel': float64 array}``, each of
        d_values' shape: the dimensions and both sides' n*(d).

    Raises
    ------
    ValueError
        For an argument out of its range or options (named in the message), or more than 1000 ``d_values``.
    TypeError
        For a ``target`` that is not a :class:`fastrep.MultiIndexTarget`, ``d_values`` that
        are not integers, or an argument of the wrong type.

    Examples
    --------
    >>> import fastrep
    >>> from fastrep.theory import separation
    >>> target = fastrep.MultiIndexTarget.separation(d=16, seed=0)
    >>> out = separation(target, [16], 0.25, width=100)
    >>> sorted(out), bool(out["kernel"][0] > out["network"][0])
    (['d', 'kernel', 'network'], True)
    """
    check_target(target)
    ds = _d_values(d_values)
    net = network_n_star(target, ds, epsilon, width=width, noise=noise, split=split, seed=seed, head=head)
    ker = kernel_n_star(target, ds, epsilon, kernel=kernel, ridge=kernel_ridge, noise=noise, **kernel_options)
    return {"d": ds.astype(np.int64), "network": net, "kernel": ker}


def _realized_alignment(red, d, n, width, center, split, seed, realizations):
    """Mean over realizations of mean_j |U w_j|^2 / |w_j|^2 from the realized rows (section 4 of
    docs/guide/theory-network.md): the shared matrix C_hat and the shared centring vector make the
    alignment of one fit vary from seed to seed, and its mean is not the per-neuron average."""
    n1, _ = _stage_sizes(n, split)
    h = min(width // 2, 500)
    exact = _exact_rows(red, None, d, n1, n, center)
    vals = []
    for rep in range(realizations):
        nb = learned_neurons(red, d, n1, samples=h, seed=seed + 7919 * rep, pop_only=True, shrink=not exact,
                             n_labels=n)
        V, gram = _realized_rows(red, nb, d, n1, n, center, np.random.default_rng([seed, rep, 26]))
        s2 = np.sum(V**2, axis=1)
        vals.append(float(np.mean(s2 / (s2 + np.diag(gram)[:h]))))
    return float(np.mean(vals))
