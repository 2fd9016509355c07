"""What one step of Algorithm 1 learns: the distribution over neurons of the learned rows.

A prediction, derived in ``docs/guide/theory-network.md`` (every formula there has its Monte Carlo
check in ``tests/test_theory_network.py``). Notation: inputs x ~ N(0, I_d), z = U x (r-dim),
labels y = f*(x) + noise, f*(x) = sum_alpha c_alpha h_alpha(z); a neuron at initialization has
w ~ N(0, I_d / d), b ~ N(0, 1); u = U w (r-dim), s = |w_perp| (the norm outside span(U)),
rho = |w| = sqrt(|u|^2 + s^2), u~ = u / rho, beta = b / rho.

Step 1 of :class:`fastrep.OneStepNetwork` sets w_j <- a_j G_j / scale with
G_j = (1/n) sum_i yhat_i 1[w_j . x_i + b_j > 0] x_i and scale = sqrt(mean_j |G_j|^2). Per neuron:

- the population part (Stein's lemma): E G_j = U^T A(u~, beta) + C(u~, beta, rho) w_j with
  A = E[grad g~(z) 1[.]] and C = E[g~(z) delta(w . x + b)], both closed-form polynomials in u~
  (Hermite expansions along the neuron's own pre-activation, :func:`_gaussian_moment`);
- the fluctuation: (1/n) sum_i (e_ij x_i - E[e_j x]) with e_ij = g~_i 1_ij - Phi(beta_j) y_i
  (``center=True``: the sample beta_hat's error enters as -Phi(beta_j) (beta_hat - beta)) or
  e_ij = y_i 1_ij (``center=False``); its covariance is (K_j / n) I to leading order, with
  K_j = E[e_j^2] computed exactly in r dimensions.

Nothing here costs more than O(samples x terms): d enters only through chi-square laws.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy.special import ndtr, ndtri
from scipy.stats import chi2, qmc

from ..hermite import hermite_features, multi_indices

__all__ = ["NeuronSample", "fluctuation_variance", "learned_neurons", "population_gradient", "reduce_target"]

_SQRT2PI = math.sqrt(2.0 * math.pi)


def _phi(x):
    return np.exp(-0.5 * x * x) / _SQRT2PI


def _hermite_prob(k: int, x):
    """He_k(x), the probabilists' Hermite polynomial, elementwise (k >= 0)."""
    h0, h1 = np.ones_like(x), x
    if k == 0:
        return h0
    for j in range(1, k):
        h0, h1 = h1, x * h1 - j * h0
    return h1


def _mu(k: int, beta):
    """E[1[t > -beta] He_k(t)], t ~ N(0, 1): Phi(beta) (k = 0), He_{k-1}(-beta) phi(beta) (k >= 1)."""
    if k == 0:
        return ndtr(beta)
    return _hermite_prob(k - 1, -beta) * _phi(beta)


def _nu(k: int, beta):
    """E[delta(t + beta) He_k(t)] = He_k(-beta) phi(beta)."""
    return _hermite_prob(k, -beta) * _phi(beta)


def _monomials(ut, alphas):
    """(N, K): u~^gamma / sqrt(gamma!) for each multi-index gamma (rows of ``alphas``)."""
    out = np.ones((ut.shape[0], alphas.shape[0]))
    for i in range(alphas.shape[1]):
        for k in np.unique(alphas[:, i]):
            if k == 0:
                continue
            cols = alphas[:, i] == k
            out[:, cols] *= (ut[:, i:i + 1] ** k) / math.sqrt(math.factorial(int(k)))
    return out


def _gaussian_moment(alphas, coefs, ut, beta, kernel):
    """sum_gamma c_gamma E[h_gamma(z) F(t)] for t ~ N(0, 1) with E[z t] = u~ (|u~| <= 1):

    E[h_gamma(z) F(t)] = E[F(t) He_{|gamma|}(t)] u~^gamma / sqrt(gamma!) (Mehler), so the sum is
    sum_gamma c_gamma kernel(|gamma|, beta) u~^gamma / sqrt(gamma!), with kernel(k, beta) the
    k-th Hermite moment of F (``_mu`` for F = 1[t > -beta], ``_nu`` for F = delta(t + beta)).
    """
    if alphas.shape[0] == 0:
        return np.zeros(ut.shape[0])
    mono = _monomials(ut, alphas)
    deg = alphas.sum(axis=1)
    out = np.zeros(ut.shape[0])
    for k in np.unique(deg):
        cols = deg == k
        out += kernel(int(k), beta) * (mono[:, cols] @ coefs[cols])
    return out


class _Moments:
    """E[P(z) F(t)] = sum_gamma p_gamma kernel(|gamma|, beta) u~^gamma / sqrt(gamma!) (Mehler,
    :func:`_gaussian_moment`) for many polynomials P at the same neurons: the monomials and the
    Hermite moments are computed once, each P is then one matrix-vector product."""

    def __init__(self, ut, beta, kernel, degree: int):
        r = ut.shape[1]
        self.alphas = np.asarray(multi_indices(r, degree), dtype=np.int64).reshape(-1, r)
        self.index = {tuple(a): k for k, a in enumerate(self.alphas.tolist())}
        deg = self.alphas.sum(axis=1)
        kern = {int(k): kernel(int(k), beta) for k in np.unique(deg)}
        self.table = _monomials(ut, self.alphas) * np.stack([kern[int(k)] for k in deg], axis=1)

    def __call__(self, poly):
        alphas, coefs = poly
        vec = np.zeros(len(self.alphas))
        if len(coefs):
            np.add.at(vec, [self.index[tuple(a)] for a in np.asarray(alphas).tolist()], coefs)
        return self.table @ vec


def _max_degree(*polys) -> int:
    return int(max((int(np.asarray(a).sum(axis=1).max(initial=0)) for a, _ in polys if len(a)), default=0))


def _gauss_hermite(r: int, q: int):
    """Tensor Gauss-Hermite rule for N(0, I_r): nodes (q^r, r), weights (q^r,)."""
    x, w = np.polynomial.hermite_e.hermegauss(q)
    w = w / w.sum()
    grids = np.meshgrid(*([x] * r), indexing="ij")
    wgrids = np.meshgrid(*([w] * r), indexing="ij")
    nodes = np.stack([g.reshape(-1) for g in grids], axis=1)
    weights = np.prod(np.stack([g.reshape(-1) for g in wgrids], axis=1), axis=1)
    return nodes, weights


def _project(values, nodes, weights, r: int, degree: int):
    """Hermite coefficients (alphas, coefs) up to ``degree`` of a function given at quadrature nodes."""
    alphas = np.asarray(multi_indices(r, degree), dtype=np.int64).reshape(-1, r)
    H = np.asarray(hermite_features(nodes, alphas), dtype=np.float64)
    coefs = H.T @ (weights * values)
    keep = np.abs(coefs) > 1e-14 * max(1.0, float(np.max(np.abs(coefs))))
    return alphas[keep], coefs[keep]


@dataclass(frozen=True)
class ReducedTarget:
    """The target in r dimensions: the step's population label g~ and the polynomials of K_j."""

    r: int
    alphas: np.ndarray  # (K, r) terms of g~ (the label the step sees, population-centred)
    coefs: np.ndarray  # (K,)
    grad: tuple  # r pairs (alphas, coefs): d g~ / d z_i
    sq: tuple  # (alphas, coefs) of g~^2 + sigma^2
    cross: tuple  # (alphas, coefs) of g~ y + sigma^2 (center) or None
    y2: float  # E[y^2] (with noise)
    sq_zz: tuple  # {(a, b): poly} of (g~^2 + sigma^2) z_a z_b, a <= b
    cross_zz: tuple  # the same for g~ y + sigma^2 (center) or None
    y2_zz: np.ndarray  # (r, r) E[y^2 z z^T]
    head: tuple  # (alphas, coefs) of what the ridge head fits (g~ as a function of z)
    full: tuple  # (alphas, coefs) of f* (all terms)
    Mzz: np.ndarray  # (r, r) E[g~ z z^T]
    gmean: float  # E[g~]
    gt2: float  # E[g~^2] + sigma^2
    linear_energy: float  # |c_1|^2 + c_0^2 removed by centering (estimated from samples)
    noise: float
    center: bool


def reduce_target(target, *, noise: float, center: bool) -> ReducedTarget:
    """The r-dimensional polynomials the theory needs (exact: Gauss-Hermite projections)."""
    r, p = target.r, target.degree
    alphas = np.asarray(list(target.terms.keys()), dtype=np.int64).reshape(-1, r)
    coefs = np.asarray(list(target.terms.values()), dtype=np.float64)
    deg = alphas.sum(axis=1)
    low = deg <= 1
    lin = float(np.sum(coefs[low] ** 2)) if center else 0.0
    ga, gc = (alphas[~low], coefs[~low]) if center else (alphas, coefs)
    grad = []
    for i in range(r):
        has = ga[:, i] > 0
        a = ga[has].copy()
        a[:, i] -= 1
        grad.append((a, gc[has] * np.sqrt(ga[has, i].astype(np.float64))))
    nodes, weights = _gauss_hermite(r, 2 * p + 3)
    H = np.asarray(hermite_features(nodes, alphas), dtype=np.float64)
    y_vals = H @ coefs
    gt_vals = H @ (coefs * (~low if center else np.ones_like(low)))
    sq = _project(gt_vals**2 + noise, nodes, weights, r, 2 * p)
    cross = _project(gt_vals * y_vals + noise, nodes, weights, r, 2 * p) if center else sq
    y2 = float(np.sum(coefs**2)) + noise
    pairs = [(a, b) for a in range(r) for b in range(a, r)]
    zz = {ab: nodes[:, ab[0]] * nodes[:, ab[1]] for ab in pairs}
    sq_zz = {ab: _project((gt_vals**2 + noise) * zz[ab], nodes, weights, r, 2 * p + 2) for ab in pairs}
    cross_zz = ({ab: _project((gt_vals * y_vals + noise) * zz[ab], nodes, weights, r, 2 * p + 2)
                 for ab in pairs} if center else None)
    y2_zz = np.zeros((r, r))
    for (a, b_), v in zz.items():
        y2_zz[a, b_] = y2_zz[b_, a] = float(np.sum(weights * (y_vals**2 + noise) * v))
    return ReducedTarget(r, ga, gc, tuple(grad), sq, cross, y2, sq_zz, cross_zz, y2_zz, (ga, gc),
                         (alphas, coefs),
                         (nodes * (weights * gt_vals)[:, None]).T @ nodes, float(weights @ gt_vals),
                         float(weights @ gt_vals**2) + noise, lin,
                         noise, center)


@dataclass(frozen=True)
class NeuronSample:
    """Samples of the learned rows (before the global normalization ``scale``), one per neuron pair.

    ``v`` (N, r): the row's component in span(U) (coordinates U w); ``perp_mean`` (N,): the
    population part outside span(U) along the neuron's own initial w_perp (C s); ``K`` (N,):
    the fluctuation's variance per coordinate times n (so the fluctuation is N(0, K/n I));
    ``perp2`` (N,): |component outside span(U)|^2 with the fluctuation drawn; ``b`` (N,);
    ``scale2``: mean over neurons of |G_j|^2 (the step's normalization, squared)."""

    v: np.ndarray
    perp_mean: np.ndarray
    K: np.ndarray
    perp2: np.ndarray
    b: np.ndarray
    n1: float
    d: int
    scale2: float
    u: np.ndarray = None  # (N, r) U w at initialization
    s: np.ndarray = None  # (N,) |w_perp| at initialization
    C: np.ndarray = None  # (N,) the population part along w (E[g~ delta(w . x + b)])
    Kc: np.ndarray = None  # (N,) E[e_j^2] with e = g~ 1_j - Phi_j y (centred signs)
    K2: np.ndarray = None  # (N,) E[g~^2 r_j^2]: the remainder 1_j - Phi_j - phi_j t_j's share

    @property
    def signal2(self):
        return np.sum(self.v**2, axis=1)

    @property
    def alignment(self):
        """Per neuron |U w|^2 / |w|^2."""
        s = self.signal2
        return s / (s + self.perp2)


@lru_cache(maxsize=64)
def _uniforms(count: int, dim: int, seed: int):
    """Scrambled Sobol points in (0, 1)^dim (a fixed seed: the prediction is deterministic);
    cached (read-only): the n* searches draw the same neurons at every n."""
    m = int(math.ceil(math.log2(max(count, 2))))
    pts = qmc.Sobol(dim, scramble=True, seed=seed).random_base2(m)[:count]
    out = np.clip(pts, 1e-12, 1 - 1e-12)
    out.setflags(write=False)
    return out


def learned_neurons(red: ReducedTarget, d: int, n1: float, *, samples: int = 4096, seed: int = 0,
                    pop_only: bool = False, shrink: bool = True,
                    n_labels: float | None = None) -> NeuronSample:
    """Draw ``samples`` neurons from the predicted distribution of learned rows at (d, n1).

    n1 is the number of step-1 samples (n, or n // 2 with ``split``); ``n_labels`` the number
    of samples of the label statistics (all n; default n1). ``pop_only``: no fluctuation drawn;
    ``shrink``: apply the centring's first-order shrink 1 - (d - r + 1) / n1 to the mean.
    Quasi-Monte Carlo over the neuron's initialization (u, s, b) and its fluctuation (r
    Gaussians in span(U), one along w_perp, a chi-square with d - r - 1 degrees of freedom for
    the rest).

    Examples
    --------
    >>> import fastrep
    >>> from fastrep.theory.network_representation import learned_neurons, reduce_target
    >>> target = fastrep.MultiIndexTarget.separation(d=16, seed=0)
    >>> red = reduce_target(target, noise=target.noise, center=True)
    >>> few, many = (learned_neurons(red, target.d, n1, samples=256) for n1 in (1024, 4096))
    >>> few.v.shape, bool(0 < few.alignment.mean() < many.alignment.mean() < 1)
    ((256, 2), True)
    """
    r = red.r
    dims = r + 2 + r + 2
    U = _uniforms(samples, dims, seed)
    g = ndtri(U[:, : r + 1])
    u = g[:, :r] / math.sqrt(d)
    b = g[:, r]
    s = np.sqrt(chi2.ppf(U[:, r + 1], d - r) / d)
    rho = np.sqrt(np.sum(u**2, axis=1) + s**2)
    ut, beta = u / rho[:, None], b / rho
    A = np.stack([_gaussian_moment(a, c, ut, beta, _mu) for a, c in red.grad], axis=1)
    C = _gaussian_moment(red.alphas, red.coefs, ut, beta, _nu) / rho
    polys = [red.sq, red.cross, *red.sq_zz.values(), *(red.cross_zz.values() if red.cross_zz else ())]
    E1 = _Moments(ut, beta, _mu, _max_degree(*polys))  # E1(P) = E[P(z) 1_j]
    Phi = ndtr(beta)
    Kc = np.maximum(E1(red.sq) - 2.0 * Phi * E1(red.cross) + Phi**2 * red.y2, 0.0)
    K = Kc if red.center else E1(red.sq)
    phib = _phi(beta)
    K2 = np.maximum(E1(red.sq) * (1.0 - 2.0 * Phi) + (Phi**2 - phib**2) * red.gt2, 0.0)
    # centring with the sample beta_hat: (1/n1) sum_i 1_ij x_i x_i^T delta_beta fluctuates about
    # Phi_j delta_beta with per-coordinate variance Phi_j |delta_beta|^2 / n1, where
    # |delta_beta|^2 = d E[y^2] / n over the n label samples (relative size about 2 d / n)
    dbeta2 = d * red.y2 / (n1 if n_labels is None else float(n_labels)) if red.center else 0.0
    K = np.maximum(K, 0.0) + Phi * dbeta2
    K2 = K2 + (Phi * (1.0 - Phi) - phib**2) * dbeta2
    # the fluctuation's covariance in span(U): E[e_j^2 z z^T] / n1 (r x r per neuron)
    Szz = np.zeros((samples, r, r))
    for (a, b_), poly in red.sq_zz.items():
        val = E1(poly)
        if red.center:
            val = val - 2.0 * Phi * E1(red.cross_zz[(a, b_)]) + Phi**2 * red.y2_zz[a, b_]
        if a == b_:
            val = val + Phi * dbeta2
        Szz[:, a, b_] = Szz[:, b_, a] = val
    # centring with the sample beta_hat: its own-sample term shrinks the mean by (d - r + 1) / n1
    factor = max(1.0 - (d - r + 1) / n1, 0.0) if (red.center and shrink) else 1.0
    A, C = factor * A, factor * C
    v = A + C[:, None] * u
    perp_mean = C * s
    if pop_only:
        perp2 = perp_mean**2
    else:
        sd = np.sqrt(K / n1)
        fl = ndtri(U[:, r + 2 : 2 * r + 3])
        # a symmetric square root of each r x r covariance (eigendecomposition, clipped at 0)
        ev, evec = np.linalg.eigh(Szz / n1)
        root = np.einsum("nab,nb,ncb->nac", evec, np.sqrt(np.maximum(ev, 0.0)), evec)
        v = v + np.einsum("nab,nb->na", root, fl[:, :r])
        along = perp_mean + sd * fl[:, r]
        rest = chi2.ppf(U[:, 2 * r + 3], max(d - r - 1, 1)) if d - r - 1 > 0 else np.zeros(samples)
        perp2 = along**2 + (K / n1) * rest
    scale2 = float(np.mean(np.sum(v**2, axis=1) + perp2))
    return NeuronSample(v, perp_mean, K, perp2, b, float(n1), int(d), scale2, u, s, C, Kc, K2)


def _neuron_geometry(target, W, b):
    from .._validation import as_float_array

    W = np.asarray(as_float_array(W, "W", ndim=2), dtype=np.float64)
    b = np.asarray(as_float_array(b, "b", ndim=1), dtype=np.float64)
    if W.shape[1] != target.d:
        raise ValueError(f"W must have d = {target.d} columns (the target's d); got {W.shape[1]}")
    if b.shape[0] != W.shape[0]:
        raise ValueError(f"b must have one entry per row of W ({W.shape[0]}); got {b.shape[0]}")
    u = W @ target.U.T
    rho = np.linalg.norm(W, axis=1)
    if np.any(rho == 0):
        raise ValueError("W must have no zero row")
    return W, b, u, rho


def population_gradient(target, W, b, *, center: bool = True) -> np.ndarray:
    """E[yhat 1[w_j . x + b_j > 0] x] for each row w_j of W (m, d), b (m,): (m, d) float64.

    yhat is the label the step sees at the population level (f* without its degree-0 and -1
    terms with ``center``; label noise has mean 0). Exact (Stein's lemma and Mehler's formula:
    ``docs/guide/theory-network.md``): U^T A(u~, beta) + C(u~, beta, rho) w_j.
    """
    from ._rules import check_target

    check_target(target)
    W, b, u, rho = _neuron_geometry(target, W, b)
    red = reduce_target(target, noise=0.0, center=center)
    ut, beta = u / rho[:, None], b / rho
    A = np.stack([_gaussian_moment(a, c, ut, beta, _mu) for a, c in red.grad], axis=1)
    C = _gaussian_moment(red.alphas, red.coefs, ut, beta, _nu) / rho
    return A @ target.U + C[:, None] * W


def fluctuation_variance(target, W, b, *, center: bool = True, noise: float | None = None) -> np.ndarray:
    """K_j (m,): n times the variance, per coordinate outside span(U), of the step's gradient
    row j: E[e_j^2] with e_j = g~ 1_j - Phi_j y (``center``) or y 1_j (``docs/guide/theory-network.md``)."""
    from ._rules import check_target

    check_target(target)
    W, b, u, rho = _neuron_geometry(target, W, b)
    red = reduce_target(target, noise=target.noise if noise is None else float(noise), center=center)
    ut, beta = u / rho[:, None], b / rho
    E1 = lambda poly: _gaussian_moment(poly[0], poly[1], ut, beta, _mu)  # noqa: E731
    if center:
        Phi = ndtr(beta)
        return np.maximum(E1(red.sq) - 2.0 * Phi * E1(red.cross) + Phi**2 * red.y2, 0.0)
    return E1(red.sq)
