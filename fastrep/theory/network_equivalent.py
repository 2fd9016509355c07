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

import numpy as np
from scipy.special import ndtr

from ..hermite import hermite_features, multi_indices
from .network_representation import _SQRT2PI, _gauss_hermite, _mu, learned_neurons

#: neurons in the quasi-Monte Carlo average that forms the kernel operator
EQ_NEURONS = 256
#: Hermite orders of the noise outside span(U) resolved one by one (the rest is a ridge)
EQ_ORDER = 4
#: equal-probability bins of C_hat's semicircle law outside span(U)
EQ_BINS = 12
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
    q = {1: 40, 2: 18, 3: 12}.get(r, 8)
    nodes, weights = _gauss_hermite(r, max(q, degree + 4) if r <= 2 else q)
    H = np.asarray(hermite_features(nodes, alphas), dtype=np.float64)
    return alphas, nodes, weights, H


_BASES: dict = {}


def _cached_basis(r: int, degree: int):
    key = (r, degree)
    if key not in _BASES:
        _BASES[key] = _basis(r, degree)
    return _BASES[key]


def basis_degree(red) -> int:
    """The z-degree L resolved: the target's degree plus a margin (smaller for r >= 3)."""
    p = int(max(red.full[0].sum(axis=1).max(initial=0), 1))
    return p + (5 if red.r <= 2 else 3 if red.r == 3 else 1)


def _coefficients(red, alphas):
    """The head's target g~ in the basis (multi-indices ``alphas``)."""
    ga, gc = red.head
    index = {tuple(a): k for k, a in enumerate(alphas.tolist())}
    c = np.zeros(len(alphas))
    for a, v in zip(ga.tolist(), gc, strict=True):
        c[index[tuple(a)]] += v
    return c


def label_tail(red, center: bool, count: int, n1: float, seed: int = 0) -> np.ndarray:
    """The ``count`` largest of n1 labels' squares yhat^2 (what the step sees), by their expected
    quantiles 1 - (k - 1/2) / n1: importance-sampled in r dimensions (z ~ N(0, 2.5^2 I))."""
    from scipy.stats import qmc
    from scipy.special import ndtri

    r = red.r
    sc = 2.5
    pts = qmc.Sobol(r, scramble=True, seed=seed).random_base2(15)
    z = sc * ndtri(np.clip(pts, 1e-12, 1 - 1e-12))
    logw = -0.5 * np.sum(z * z, axis=1) * (1.0 - 1.0 / sc**2) + r * math.log(sc)
    w = np.exp(logw)
    w /= len(w)
    alphas, coefs = (red.alphas, red.coefs) if center else red.full
    y = (np.asarray(hermite_features(z, alphas), dtype=np.float64) @ coefs) if len(coefs) else np.zeros(len(z))
    y2 = y * y + red.noise  # the noise's share on average (its own tail is light)
    order = np.argsort(-y2)
    tail = np.cumsum(w[order])  # P(yhat^2 >= y2[order])
    k = np.arange(1, count + 1)
    p = (k - 0.5) / max(n1, 1.0)
    idx = np.minimum(np.searchsorted(tail, p), len(tail) - 1)
    return y2[order][idx]


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
        lam = math.sqrt(m2 * D / n1) * semicircle_points(bins)
        lin = (nb.s[:, None] * (nb.C[:, None] + (phib / rho)[:, None] * lam[None, :])) ** 2 / D
        iso = np.maximum(nb.K - (phib * nb.s / rho) ** 2 * m2, 0.0) / n1
        bulk = lin + iso[:, None]  # (S, bins): variance per direction
        # ... and the spikes: a sample with a large label puts its direction x_i into C_hat
        # (eigenvalue yhat_i D / n1) and into the remainders' covariance (yhat_i^2 D / (n1 m2))
        y2k = label_tail(red, center, spikes, n1, seed)
        rel = y2k * D / (n1 * m2)
        y2k = y2k[rel > 1.0]
        K2 = np.maximum(nb.K - phib**2 * m2, 0.0)
        spike = (y2k[None, :] * D / n1**2) * ((phib * nb.s / rho) ** 2 + K2 / m2)[:, None] \
            + np.mean(bulk, axis=1, keepdims=True)
        mult = np.concatenate([np.full(bins, (D - len(y2k)) / bins), np.ones(len(y2k))])
        var = np.concatenate([bulk, spike], axis=1)
        Ntot = var @ mult  # |p|^2 (before the step's normalization)
        scale2 = float(np.mean(np.sum(nb.v**2, axis=1) + Ntot))
        factor = 1.0 / math.sqrt(scale2) if eta1 == "normalized" else 2.0 * float(eta1)
        self.share = var / Ntot[:, None]  # per direction; sum with mult = 1
        self.mult = mult
        v = nb.v * factor
        N = np.maximum(Ntot * factor**2, 1e-30)

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
            specs = [(self.h, s2 * (Ap[0] + Am[0]), s2 * (Ap[1] - Am[1]), weights @ (0.5 * (sq_p + sq_m) + pair),
                      np.where(deg % 2 == 0, c, 0.0), 1),
                     (self.h, s2 * (Ap[0] - Am[0]), s2 * (Ap[1] + Am[1]), weights @ (0.5 * (sq_p + sq_m) - pair),
                      np.where(deg % 2 == 1, c, 0.0), 1)]
        self.groups = []
        for count, E0, E1, total, cg, reps in specs:
            psi0 = E0.T @ Hw  # (S', K) the z-Hermite coefficients of each feature's order-0 part
            psi1 = E1.T @ Hw  # (S', K) of its order-1 part (times p . zeta / |p|)
            ev, vec = np.linalg.eigh(psi1.T @ psi1)
            a = psi1 @ vec[:, ::-1][:, :rank]  # (S', K') its leading components
            tau = np.maximum(total - np.sum(psi0**2, axis=1) - np.sum(a**2, axis=1), 0.0)
            share = np.concatenate([self.share] * reps, axis=0)
            S = psi0.shape[0]
            aa = (a[:, :, None] * a[:, None, :]).reshape(S, -1)  # (S, K'^2)
            M = (share[:, :, None] * aa[:, None, :]).reshape(S, -1)  # (S, dirs * K'^2)
            PP = (psi0[:, :, None] * psi0[:, None, :]).reshape(S, -1)
            self.groups.append(dict(h=float(count), w=float(count) / S, psi0=psi0, PP=PP, a=a, tau=tau, M=M, cg=cg,
                                    rank=a.shape[1], dirs=share.shape[1]))
        self.t2 = float(np.sum(c**2)) + self.dbeta2

    def _group(self, g, kappa, iters: int = 60):
        """q_bar (nk, S): the deterministic equivalent of diag((X X^T + tau + kappa)^-1)."""
        K, nd = g["rank"], g["dirs"]
        Delta = g["tau"][None, :] + kappa[:, None]
        delta = np.zeros_like(Delta)
        eye = np.eye(K)
        multv = np.repeat(self.mult if nd == len(self.mult) else np.tile(self.mult, nd // len(self.mult)), K * K)
        for it in range(iters):
            A = (g["w"] / (Delta + delta)) @ g["M"]  # (nk, dirs K'^2)
            T = np.linalg.inv(eye + A.reshape(-1, nd, K, K)).reshape(len(kappa), -1)
            new = (T * multv[None, :]) @ g["M"].T
            done = np.max(np.abs(new - delta) / (Delta + new)) < 1e-6
            delta = new
            if done:
                break
        self.iterations = getattr(self, "iterations", 0) + it + 1
        return 1.0 / (Delta + delta)

    def _quantities(self, kappa):
        """Per group at each kappa: t = Tr (Sigma + kappa)^-1 and q = c^T Psi0^T (Sigma + kappa)^-1 Psi0 c,
        with their kappa-derivatives (central differences, relative step 1e-3)."""
        eps = 1e-3
        ks = np.concatenate([kappa * (1 - eps), kappa, kappa * (1 + eps)])
        out = []
        for g in self.groups:
            qb = self._group(g, ks)
            Kz = g["psi0"].shape[1]
            G = ((qb * g["w"]) @ g["PP"]).reshape(-1, Kz, Kz)
            nk = len(kappa)
            Gm, G0, Gp = G[:nk], G[nk:2 * nk], G[2 * nk:]
            Hm = -(Gp - Gm) / (2 * eps * kappa)[:, None, None]  # Psi0^T Q^2 Psi0
            trQ = g["w"] * np.sum(qb, axis=1)
            inv = np.linalg.inv(np.eye(Kz)[None] + G)
            t = trQ - np.einsum("kab,kba->k", np.concatenate([inv[:nk], inv[nk:2 * nk], inv[2 * nk:]]),
                                np.concatenate([Hm, Hm, Hm]))
            cg = g["cg"]
            GinvG = np.einsum("kab,kbc->kac", G, inv)
            q = np.einsum("a,kab,b->k", cg, GinvG, cg)
            tq = [(t[i * nk:(i + 1) * nk], q[i * nk:(i + 1) * nk]) for i in range(3)]
            dt = (tq[2][0] - tq[0][0]) / (2 * eps * kappa)
            dq = (tq[2][1] - tq[0][1]) / (2 * eps * kappa)
            out.append((g["h"], tq[1][0], dt, tq[1][1], dq))
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
        scale = max(float(np.max(g["tau"])) + float(np.max(np.sum(g["psi0"] ** 2, axis=1))) for g in self.groups)
        kappa = scale * np.logspace(-7, 2, 28)
        err, lam = self.errors(n2, noise, kappa)
        if ridge == "validate":
            err = np.where((lam >= 1e-10) & np.isfinite(err), err, np.inf)
            k = int(np.argmin(err))
            lo, hi = kappa[max(k - 1, 0)], kappa[min(k + 1, len(kappa) - 1)]
            fine = np.exp(np.linspace(math.log(lo), math.log(hi), 9))
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
