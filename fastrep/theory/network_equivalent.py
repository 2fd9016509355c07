"""The one-step network's head by a deterministic equivalent: no realized matrix, cost flat in d.

Derivation: ``docs/guide/theory-network.md``, section 6. The head is ridge regression on the
m = 2h features relu(+-w_j . x + b_j). Three steps, each in r dimensions or in closed form:

1. **The pairs.** Rotate each +- pair into its even and odd parts
   e_j = (relu(b_j + t_j) + relu(b_j - t_j)) / sqrt 2, o_j = (relu(b_j + t_j) - relu(b_j - t_j)) / sqrt 2
   (t_j = w_j . x): an orthogonal map, so ridge is unchanged, and since x -> -x preserves the
   Gaussian law, every even feature is uncorrelated with every odd one. The head is two
   random-features models of h features each, on orthogonal kernels.
2. **Each model's kernel operator** K = E_theta[phi_theta phi_theta^T] over the law of one learned
   neuron (:func:`~fastrep.theory.network_representation.learned_neurons`), expanded in the
   Hermite functions of z = Ux (degree <= L) and of the row's noise outside span(U),
   eps = p . zeta ~ N(0, N): the order-0 part is an r-dimensional kernel; the order-1 part is
   that kernel times p^ p^T, whose spectrum outside span(U) follows C_hat's semicircle
   (the realized matrix shared by all neurons, in its eigenbasis); orders 2 .. 4 spread over
   the C(D + l - 1, l) polynomials of degree l in zeta; the rest is a ridge.
3. **Random features, n samples.** For h features drawn from a kernel of eigenvalues xi_k^2
   (multiplicities M_k) the feature covariance is G Lambda G^T; with nu solving
   kappa = nu (h - df1(nu)) (df1 = sum M xi^2 / (xi^2 + nu)) its resolvent's traces and
   quadratic forms are those of Lambda at nu (Bach 2024; Defilippis, Loureiro and
   Misiakiewicz 2024), and the omniscient-risk equation on n samples, with
   kappa = lambda + (kappa / n) sum_groups df1, gives the excess error in closed form.

The cost is O(S Q L + groups x bins x |basis|^3 + grid x blocks), independent of d and n.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
from scipy.special import ndtr

from ..hermite import hermite_features, multi_indices
from .network_representation import _SQRT2PI, _gauss_hermite, _mu, learned_neurons

#: neurons in the quasi-Monte Carlo average that forms the kernel operator
EQ_NEURONS = 128
#: Hermite orders of the noise outside span(U) resolved one by one (the rest is a ridge)
EQ_ORDER = 4
#: equal-probability bins of C_hat's semicircle law outside span(U)
EQ_BINS = 5
#: multiplicity of the lumped remainder (eigenvalues far below any ridge the head uses)
_LUMP = 1e15


def relu_moments(mu, N, order: int):
    """A_l = E[relu(mu + sqrt(N) g) He_l(g)], l = 0 .. order (g ~ N(0, 1)), elementwise."""
    sN = np.sqrt(N)
    beta = mu / sN
    A = [sN * (beta * ndtr(beta) + np.exp(-0.5 * beta * beta) / _SQRT2PI)]
    for ell in range(1, order + 1):
        A.append(sN * _mu(ell - 1, beta))
    return A


def relu_square(mu, N):
    """E[relu(mu + sqrt(N) g)^2] = N [(beta^2 + 1) Phi(beta) + beta phi(beta)]."""
    beta = mu / np.sqrt(N)
    return N * ((beta * beta + 1.0) * ndtr(beta) + beta * np.exp(-0.5 * beta * beta) / _SQRT2PI)


def relu_pair(mu, mu2, N):
    """E[relu(mu + e) relu(mu2 - e)], e ~ N(0, N): the +- pair's exact product moment."""
    eps = np.sqrt(N)
    lo, hi = -mu / eps, mu2 / eps
    live = hi > lo
    lo, hi = np.where(live, lo, 0.0), np.where(live, hi, 0.0)
    Pd = ndtr(hi) - ndtr(lo)
    plo, phi_ = np.exp(-0.5 * lo * lo) / _SQRT2PI, np.exp(-0.5 * hi * hi) / _SQRT2PI
    val = mu * mu2 * Pd + eps * (mu2 - mu) * (plo - phi_) - N * (Pd + lo * plo - hi * phi_)
    return np.where(live, val, 0.0)


@lru_cache(maxsize=16)
def semicircle_points(bins: int) -> np.ndarray:
    """One point per equal-probability bin of the semicircle law on [-2, 2] (its medians), rescaled
    so that their mean square is 1, the law's variance."""
    p = (np.arange(bins) + 0.5) / bins
    lo, hi = np.full(bins, -2.0), np.full(bins, 2.0)
    for _ in range(60):
        x = 0.5 * (lo + hi)
        F = 0.5 + x * np.sqrt(np.maximum(4.0 - x * x, 0.0)) / (4.0 * math.pi) + np.arcsin(x / 2.0) / math.pi
        below = F < p
        lo, hi = np.where(below, x, lo), np.where(below, hi, x)
    x = 0.5 * (lo + hi)
    return x / math.sqrt(float(np.mean(x * x)))


def _basis(r: int, degree: int):
    """Multi-indices of the z-Hermite basis and the tensor Gauss-Hermite rule that projects on it."""
    alphas = np.asarray(multi_indices(r, degree), dtype=np.int64).reshape(-1, r)
    q = {1: 40, 2: 14, 3: 10}.get(r, 8)
    nodes, weights = _gauss_hermite(r, max(q, degree + 4) if r <= 2 else q)
    H = np.asarray(hermite_features(nodes, alphas), dtype=np.float64)
    return alphas, nodes, weights, H


_BASES: dict = {}


def _cached_basis(r: int, degree: int):
    key = (r, degree)
    if key not in _BASES:
        _BASES[key] = _basis(r, degree)
    return _BASES[key]


#: the z-degree resolved beyond the target's degree (r <= 2, r = 3, r >= 4)
EQ_MARGIN = (3, 2, 1)


def basis_degree(red) -> int:
    """The z-degree L resolved: the target's degree plus a margin (smaller for r >= 3)."""
    p = int(max(red.full[0].sum(axis=1).max(initial=0), 1))
    return p + EQ_MARGIN[min(max(red.r - 2, 0), 2)]


def _constant(poly) -> float:
    """The constant term (degree-0 coefficient) of a Hermite polynomial (alphas, coefs)."""
    alphas, coefs = poly
    zero = np.flatnonzero(alphas.sum(axis=1) == 0)
    return float(coefs[zero].sum()) if zero.size else 0.0


def _coefficients(red, alphas):
    """The head's target g~ in the basis (multi-indices ``alphas``)."""
    ga, gc = red.head
    index = {tuple(a): k for k, a in enumerate(alphas.tolist())}
    c = np.zeros(len(alphas))
    for a, v in zip(ga.tolist(), gc, strict=True):
        c[index[tuple(a)]] += v
    return c


_TAILS: dict = {}


def _tail_table(red, center: bool, seed: int):
    """yhat^2 sorted decreasingly, P(yhat^2 >= each) and E[yhat^4] / E[yhat^2]^2, importance-sampled
    in r dimensions (z ~ N(0, 2.5^2 I), 2^15 scrambled Sobol points): tail probabilities down to
    about 1e-9."""
    from scipy.special import ndtri
    from scipy.stats import qmc

    alphas, coefs = (red.alphas, red.coefs) if center else red.full
    key = (red.r, alphas.tobytes(), coefs.tobytes(), red.noise, seed)
    if key not in _TAILS:
        r, sc = red.r, 2.5
        pts = qmc.Sobol(r, scramble=True, seed=seed).random_base2(15)
        z = sc * ndtri(np.clip(pts, 1e-12, 1 - 1e-12))
        w = np.exp(-0.5 * np.sum(z * z, axis=1) * (1.0 - 1.0 / sc**2) + r * math.log(sc)) / len(z)
        y = np.zeros(len(z))
        if len(coefs):
            y = np.asarray(hermite_features(z, alphas), dtype=np.float64) @ coefs
        y2 = y * y + red.noise  # the noise's share on average (its own tail is light)
        order = np.argsort(-y2)
        if len(_TAILS) > 64:
            _TAILS.clear()
        g2 = y * y  # E[yhat^4] with Gaussian noise: E g^4 + 6 s^2 E g^2 + 3 s^4
        m2 = float(w @ g2) + red.noise
        m4 = float(w @ (g2 * g2)) + 6.0 * red.noise * float(w @ g2) + 3.0 * red.noise**2
        _TAILS[key] = (y2[order], np.cumsum(w[order]), m4 / m2**2)
    return _TAILS[key]


def label_kurtosis(red, center: bool, seed: int = 0) -> float:
    """E[yhat^4] / E[yhat^2]^2 of the label the step sees (noise included; with the tail table)."""
    return _tail_table(red, center, seed)[2]


def marchenko_pastur_points(c: float, bins: int) -> np.ndarray:
    """One point per equal-probability bin (its median) of the Marchenko-Pastur law of ratio c and
    mean 1 (variance c; an atom at 0 of mass 1 - 1/c when c > 1)."""
    a, b = (1.0 - math.sqrt(c)) ** 2, (1.0 + math.sqrt(c)) ** 2
    x = np.linspace(a, b, 801)
    dens = np.sqrt(np.maximum((b - x) * (x - a), 0.0)) / (2.0 * math.pi * c * np.maximum(x, 1e-300))
    cdf = np.concatenate([[0.0], np.cumsum(0.5 * (dens[1:] + dens[:-1]) * np.diff(x))])
    atom = max(1.0 - 1.0 / c, 0.0)
    cdf = atom + (1.0 - atom) * cdf / cdf[-1]
    p = (np.arange(bins) + 0.5) / bins
    return np.where(p <= atom, 0.0, np.interp(p, cdf, x))


def label_tail(red, center: bool, count: int, n1: float, seed: int = 0) -> np.ndarray:
    """The ``count`` largest of n1 labels' squares yhat^2 (what the step sees), by their expected
    quantiles 1 - (k - 1/2) / n1 (:func:`_tail_table`)."""
    y2, tail, _ = _tail_table(red, center, seed)
    p = (np.arange(1, count + 1) - 0.5) / max(n1, 1.0)
    return y2[np.minimum(np.searchsorted(tail, p), len(tail) - 1)]


def _inv_plus_identity(A):
    """(I + A)^-1 for a stack of small symmetric matrices A (..., k, k): closed form for k <= 3."""
    k = A.shape[-1]
    B = A + np.eye(k)
    if k == 1:
        return 1.0 / B
    if k == 2:
        a, b, d = B[..., 0, 0], B[..., 0, 1], B[..., 1, 1]
        det = a * d - b * b
        out = np.empty_like(B)
        out[..., 0, 0], out[..., 1, 1] = d / det, a / det
        out[..., 0, 1] = out[..., 1, 0] = -b / det
        return out
    if k == 3:
        a, b, c = B[..., 0, 0], B[..., 0, 1], B[..., 0, 2]
        d, e, f = B[..., 1, 1], B[..., 1, 2], B[..., 2, 2]
        A0, A1, A2 = d * f - e * e, c * e - b * f, b * e - c * d
        A3, A4, A5 = a * f - c * c, b * c - a * e, a * d - b * b
        det = a * A0 + b * A1 + c * A2
        out = np.empty_like(B)
        out[..., 0, 0], out[..., 0, 1], out[..., 0, 2] = A0 / det, A1 / det, A2 / det
        out[..., 1, 0], out[..., 1, 1], out[..., 1, 2] = A1 / det, A3 / det, A4 / det
        out[..., 2, 0], out[..., 2, 1], out[..., 2, 2] = A2 / det, A4 / det, A5 / det
        return out
    return np.linalg.inv(B)


class HeadModel:
    """The head's two random-features groups (even and odd parts of the +- pairs) at one (d, n).

    Per group: S representative neurons (each standing for h / S of the h features) with their
    z-parts Psi0 (S, K), the first-order parts outside span(U) a (S, K') and the rest's variance
    tau (S,); the directions outside span(U): ``bins`` semicircle bins (D / bins each) and the
    spikes of the labels' largest squares (one direction each), with the share of each neuron's
    noise per direction (S, bins + spikes); the target c (K,).
    """

    def __init__(self, red, d: int, n1: float, n: float, width: int, eta1, center: bool, rebias: bool,
                 seed: int, neurons: int = EQ_NEURONS, bins: int = EQ_BINS, rank: int = 3, spikes: int = 24):
        r = red.r
        D = max(d - r, 1)
        self.h = width // 2
        nb = learned_neurons(red, d, n1, samples=neurons, seed=seed, n_labels=n)
        rho = np.sqrt(np.sum(nb.u**2, axis=1) + nb.s**2)
        phib = np.exp(-0.5 * (nb.b / rho) ** 2) / _SQRT2PI
        m2 = red.gt2 if center else red.y2
        # per direction of C_hat's eigenbasis outside span(U): the bulk (semicircle) ...
        # (a) C_hat - E C_hat outside span(U): a semicircle of variance m2 D / n1 (the first-order part
        # (phi_j / rho_j) (C_hat - E C_hat) w_j, plus the population part C_j w_perp);
        # (b) the remainders' covariance Omega = sum yhat_i^2 x_i x_i^T / sum yhat_i^2: a weighted
        # Wishart matrix, its spectrum as Marchenko-Pastur's of the same variance
        # c = (D / n1) E[yhat^4] / E[yhat^2]^2 (the labels' heavy tails widen it); the two laws
        # taken independent (signed and squared weights of the same samples), ``bins`` each
        lam = math.sqrt(m2 * D / n1) * semicircle_points(bins)
        kurt = label_kurtosis(red, center, seed)
        c_mp = D / n1 * kurt
        omega = marchenko_pastur_points(c_mp, bins)
        lam, omega = np.repeat(lam, bins), np.tile(omega, bins)
        lin = (nb.s[:, None] * (nb.C[:, None] + (phib / rho)[:, None] * lam[None, :])) ** 2 / D
        K2 = np.maximum(nb.K - phib**2 * m2, 0.0)
        iso = np.maximum(nb.K - (phib * nb.s / rho) ** 2 * m2 - K2, 0.0) / n1
        bulk = lin + (K2 / n1)[:, None] * omega[None, :] + iso[:, None]  # (S, bins^2): variance per direction
        # ... and the spikes beyond Omega's edge: a sample with a large label puts its direction
        # x_i into C_hat (eigenvalue yhat_i D / n1) and into Omega (yhat_i^2 D / (n1 m2))
        y2k = label_tail(red, center, spikes, n1, seed)
        rel = y2k * D / (n1 * m2)
        y2k = y2k[rel > (1.0 + math.sqrt(c_mp)) ** 2]
        spike = (y2k[None, :] * D / n1**2) * ((phib * nb.s / rho) ** 2 + K2 / m2)[:, None] \
            + np.mean(bulk, axis=1, keepdims=True)
        mult = np.concatenate([np.full(bins * bins, (D - len(y2k)) / bins**2), np.ones(len(y2k))])
        var = np.concatenate([bulk, spike], axis=1)
        Ntot = var @ mult  # |p|^2 (before the step's normalization)
        scale2 = float(np.mean(np.sum(nb.v**2, axis=1) + Ntot))
        factor = 1.0 / math.sqrt(scale2) if eta1 == "normalized" else 2.0 * float(eta1)
        self.share = var / Ntot[:, None]  # per direction; sum with mult = 1
        self.mult = mult
        v = nb.v * factor
        N = np.maximum(Ntot * factor**2, 1e-30)
        # |b_a|^2 = D E[yhat^2 z_a^2] / n1: the cross block's columns; each row's share along them
        eyz = np.array([_constant(red.sq_zz[(k, k)]) for k in range(r)])
        cross_share = (phib / rho)[:, None] * nb.u * np.sqrt(D * eyz / n1)[None, :] / np.sqrt(Ntot)[:, None]

        L = basis_degree(red)
        alphas, nodes, weights, H = _cached_basis(r, L)
        Hw = H * weights[:, None]
        proj = nodes @ v.T  # (Q, S)
        c = _coefficients(red, alphas)
        deg = alphas.sum(axis=1)
        self.dbeta2 = D * red.y2 / n if center else 0.0
        if rebias:
            rng = np.random.default_rng([seed, 27])
            bp, bm = rng.standard_normal(len(nb.b)), rng.standard_normal(len(nb.b))
        else:
            bp = bm = nb.b
        Ap = relu_moments(bp[None, :] + proj, N[None, :], 1)
        Am = relu_moments(bm[None, :] - proj, N[None, :], 1)
        sq_p, sq_m = relu_square(bp[None, :] + proj, N[None, :]), relu_square(bm[None, :] - proj, N[None, :])
        if rebias:  # one group of m features: the + and - rows as draws of one law
            specs = [(width, np.concatenate([Ap[0], Am[0]], axis=1), np.concatenate([Ap[1], -Am[1]], axis=1),
                      weights @ np.concatenate([sq_p, sq_m], axis=1), c, 2)]
        else:
            pair = relu_pair(bp[None, :] + proj, bm[None, :] - proj, N[None, :])
            s2 = 1.0 / math.sqrt(2.0)
            half = 0.5 * (sq_p + sq_m)
            specs = [(self.h, s2 * (Ap[0] + Am[0]), s2 * (Ap[1] - Am[1]), weights @ (half + pair),
                      np.where(deg % 2 == 0, c, 0.0), 1),
                     (self.h, s2 * (Ap[0] - Am[0]), s2 * (Ap[1] + Am[1]), weights @ (half - pair),
                      np.where(deg % 2 == 1, c, 0.0), 1)]
        self.groups = []
        for count, E0, E1, total, cg, reps in specs:
            psi0 = E0.T @ Hw  # (S', K) the z-Hermite coefficients of each feature's order-0 part
            psi1 = E1.T @ Hw  # (S', K) of its order-1 part (times p . zeta / |p|)
            ev, vec = np.linalg.eigh(psi1.T @ psi1)
            a = psi1 @ vec[:, ::-1][:, :rank]  # (S', K') its leading components
            # C_hat's cross block (1/n1) sum_i yhat_i zeta_i z_i^T: r fixed directions outside span(U)
            # along which every row has the deterministic part (phi_j / rho_j) u_j,a |b_a|
            # (correlated with its signal): order-1 features with known loadings, part of the
            # low-rank z-part (they carry none of the target)
            cross = np.concatenate([cross_share] * reps, axis=0)  # (S', r)
            nuis = (a[:, None, :] * cross[:, :, None]).reshape(len(a), -1)
            tau = np.maximum(total - np.sum(psi0**2, axis=1) - np.sum(a**2, axis=1), 0.0)
            psi0 = np.concatenate([psi0, nuis], axis=1)
            cg = np.concatenate([cg, np.zeros(nuis.shape[1])])
            # the random directions carry the rest of each row's order-1 part
            share = np.concatenate([self.share] * reps, axis=0) * np.maximum(
                1.0 - np.sum(cross**2, axis=1), 0.0)[:, None]
            S = psi0.shape[0]
            aa = (a[:, :, None] * a[:, None, :]).reshape(S, -1)  # (S, K'^2)
            M = (share[:, :, None] * aa[:, None, :]).reshape(S, -1)  # (S, dirs * K'^2)
            PP = (psi0[:, :, None] * psi0[:, None, :]).reshape(S, -1)
            multv = np.repeat(self.mult, rank * rank)  # per entry of the stacked T_i
            self.groups.append(dict(h=float(count), w=float(count) / S, psi0=psi0, PP=PP, multv=multv, a=a,
                                    tau=tau, M=M, cg=cg, rank=a.shape[1], dirs=share.shape[1]))
        self.t2 = float(np.sum(c**2)) + self.dbeta2

    def _group(self, g, kappa, iters: int = 200, tol: float = 1e-6):
        """q_bar (nk, S): the deterministic equivalent of diag((X X^T + tau + kappa)^-1), X the
        features' first-order parts outside span(U) (rows a_s (x) p^_s, independent given the neurons):
        q_bar_s = 1 / (tau_s + kappa + delta_s), delta_s = sum_i mult_i share_si a_s^T T_i a_s,
        T_i = (I + sum_s w share_si a_s a_s^T q_bar_s)^-1 (Couillet and Liao 2022, ch. 2)."""
        K, nd = g["rank"], g["dirs"]
        Delta = g["tau"][None, :] + kappa[:, None]
        delta = np.zeros_like(Delta)
        multv = g["multv"]
        for it in range(iters):
            A = (g["w"] / (Delta + delta)) @ g["M"]  # (nk, dirs K'^2)
            T = _inv_plus_identity(A.reshape(len(kappa), nd, K, K)).reshape(len(kappa), -1)
            new = (T * multv[None, :]) @ g["M"].T
            done = np.max(np.abs(new - delta) / (Delta + new)) < tol
            delta = new
            if done:
                break
        return 1.0 / (Delta + delta)

    def _functions(self, kappa):
        """Per group at each kappa: (h, Tr Q, log det(I + G), c^T (I + G)^-1 c) with
        G = Psi0^T Q Psi0 and Q the equivalent of (X X^T + tau + kappa)^-1."""
        out = []
        for g in self.groups:
            qb = self._group(g, kappa)
            Kz = g["psi0"].shape[1]
            G = ((qb * g["w"]) @ g["PP"]).reshape(-1, Kz, Kz)
            G[:, np.arange(Kz), np.arange(Kz)] += 1.0
            C = np.linalg.cholesky(G)
            logdet = 2.0 * np.sum(np.log(np.diagonal(C, axis1=1, axis2=2)), axis=1)
            if np.any(g["cg"]):
                y = np.linalg.solve(C, np.broadcast_to(g["cg"], (len(kappa), Kz))[..., None])[..., 0]
                quad = np.sum(y * y, axis=1)
            else:
                quad = np.zeros(len(kappa))
            out.append((g["h"], g["w"] * np.sum(qb, axis=1), logdet, quad, float(g["cg"] @ g["cg"])))
        return out

    def _quantities(self, kappa, eps: float = 0.02):
        """Per group: t = Tr (Sigma + kappa)^-1 = Tr Q + d/dkappa log det(I + G) (Woodbury), its
        derivative, q = c^T Psi0^T (Sigma + kappa)^-1 Psi0 c = |c|^2 - c^T (I + G)^-1 c and its
        derivative; derivatives by central differences in log kappa (relative step ``eps``)."""
        nk = len(kappa)
        f = self._functions(np.concatenate([kappa * math.exp(-eps), kappa, kappa * math.exp(eps)]))
        out = []
        for h, trq, logdet, quad, c2 in f:
            tm, t0, tp = trq.reshape(3, nk)
            lm, l0, lp = logdet.reshape(3, nk)
            qm, q0, qp = quad.reshape(3, nk)
            dl = (lp - lm) / (2 * eps) / kappa  # d logdet / d kappa
            d2l = ((lp - 2 * l0 + lm) / eps**2 - (lp - lm) / (2 * eps)) / kappa**2
            t = t0 + dl
            dt = (tp - tm) / (2 * eps) / kappa + d2l
            q = c2 - q0
            dq = -(qp - qm) / (2 * eps) / kappa
            out.append((h, t, dt, q, dq))
        return out

    def errors(self, n2: float, noise: float, kappa):
        """(excess error, lambda) at each effective ridge ``kappa``."""
        kappa = np.asarray(kappa, dtype=np.float64)
        bias = np.full(kappa.shape, self.t2)
        gam = np.zeros(kappa.shape)
        used = np.zeros(kappa.shape)
        for h, t, dt, q, dq in self._quantities(kappa):
            df1 = h - kappa * t
            used += df1
            gam += h - 2 * kappa * t - kappa**2 * dt
            bias -= q - kappa * dq
        gam /= n2
        lam = kappa * (1.0 - used / n2)
        with np.errstate(divide="ignore", invalid="ignore"):
            err = np.where(gam < 1.0, (np.maximum(bias, 0.0) + gam * noise) / (1.0 - gam), np.inf)
        return err, lam

    def error(self, n2: float, noise: float, ridge) -> float:
        """The head's predicted excess error: ``ridge`` a lambda >= 0, or 'validate' (the best lambda)."""
        scale = max(float(np.max(g["tau"])) + float(np.max(np.sum(g["psi0"] ** 2, axis=1)))
                    for g in self.groups)
        kappa = scale * np.logspace(-7, 2, 8)
        err, lam = self.errors(n2, noise, kappa)
        if ridge == "validate":
            err = np.where((lam >= 1e-10) & np.isfinite(err), err, np.inf)
            k = int(np.argmin(err))
            lo, hi = kappa[max(k - 1, 0)], kappa[min(k + 1, len(kappa) - 1)]
            fine = np.exp(np.linspace(math.log(lo), math.log(hi), 5)[1:-1])
            ef, lf = self.errors(n2, noise, fine)
            ef = np.where((lf >= 1e-10) & np.isfinite(ef), ef, np.inf)
            return float(min(np.min(ef), err[k]))
        lam_t = float(ridge)
        good = np.isfinite(err) & (lam > 0)
        if not np.any(good):
            return float("inf")
        ll, kk = np.log(lam[good]), np.log(kappa[good])
        order = np.argsort(ll)
        if lam_t <= math.exp(ll[order][0]):
            return float(err[good][order][0])
        kz = math.exp(float(np.interp(math.log(lam_t), ll[order], kk[order])))
        return float(self.errors(n2, noise, np.array([kz]))[0][0])
