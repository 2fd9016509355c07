"""The one-step network's theory (fastrep.theory network_*): each expectation against Monte Carlo
on a small case, the head's prediction against a direct simulation, and the functions' contracts.
Derivation: docs/guide/theory-network.md."""

import math

import numpy as np
import pytest
from scipy.special import ndtr

import fastrep
from fastrep import MultiIndexTarget, OneStepNetwork
from fastrep.metrics import excess_error, subspace_alignment
from fastrep.theory import (
    kernel_n_star,
    network_alignment,
    network_learning_curve,
    network_n_star,
    separation,
)
from fastrep.theory.network_representation import fluctuation_variance, population_gradient


def _mc(target, n, seed):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, target.d))
    y = target.f(X)
    if target.noise:
        y = y + math.sqrt(target.noise) * rng.standard_normal(n)
    return X, y


def _neurons(d, m, seed, scale=1.0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((m, d)) * scale / math.sqrt(d), rng.standard_normal(m)


@pytest.mark.parametrize("preset", ["separation", "giant_step"])
@pytest.mark.parametrize("center", [True, False])
def test_population_gradient_matches_monte_carlo(preset, center):
    # rows of norm ~3 (not 1 as at initialization) so the nonlinear terms in u~ are large
    d, n = 6, 400_000
    t = getattr(MultiIndexTarget, preset)(d)
    W, b = _neurons(d, 5, 1, scale=3.0)
    X, y = _mc(t, n, 2)
    if center:  # the population centring: remove the degree-0 and degree-1 parts exactly
        Z = X @ t.U.T
        for alpha, c in t.terms.items():
            if sum(alpha) == 1:
                y = y - c * Z[:, alpha.index(1)]
            elif sum(alpha) == 0:
                y = y - c
    mc = ((X @ W.T + b > 0) * y[:, None]).T @ X / n
    se = math.sqrt(float(np.mean(y**2)) / n)
    np.testing.assert_allclose(population_gradient(t, W, b, center=center), mc, atol=5 * se)


@pytest.mark.parametrize("center", [True, False])
def test_fluctuation_variance_matches_monte_carlo(center):
    d, n = 6, 400_000
    t = MultiIndexTarget.giant_step(d, noise=0.3)
    W, b = _neurons(d, 4, 3, scale=2.0)
    X, y = _mc(t, n, 4)
    ind = X @ W.T + b > 0
    if center:
        Z = X @ t.U.T
        gt = y.copy()
        for alpha, c in t.terms.items():
            if sum(alpha) == 1:
                gt = gt - c * Z[:, alpha.index(1)]
        Phi = ndtr(b / np.linalg.norm(W, axis=1))
        e = gt[:, None] * ind - Phi[None, :] * y[:, None]
    else:
        e = y[:, None] * ind
    mc = np.mean(e**2, axis=0)
    np.testing.assert_allclose(fluctuation_variance(t, W, b, center=center), mc, rtol=0.03)


def test_alignment_matches_the_step():
    # the step itself (fastrep's OneStepNetwork), mean of 8 seeds
    d, n, width = 24, 1152, 400
    t = MultiIndexTarget.separation(d)
    got = []
    for seed in range(8):
        X, y = t.sample(n, seed, dtype=np.float64)
        m = OneStepNetwork(width, ridge=1e-3, seed=seed, dtype=np.float64).fit(X, y)
        got.append(subspace_alignment(m.W_, t.U))
    pred = float(network_alignment(t, n, width=width))
    assert abs(pred - np.mean(got)) <= 0.1 * np.mean(got), (pred, got)


def test_alignment_monotone_and_limits():
    t = MultiIndexTarget.random(40, 2, 3)
    ns = np.array([100.0, 400, 1600, 6400, 25600, 1e6])
    a = network_alignment(t, ns, method="neurons", samples=4096)
    assert a.shape == ns.shape and np.all(np.isfinite(a))
    assert np.all(np.diff(a) > 0)
    assert a[0] < 0.25 and a[-1] > 0.9  # chance level r/d = 0.05 far below, span(U) as n grows


def test_realized_alignment_matches_many_steps():
    # the expectation over seeds of one fit's alignment: 30 independent steps (numpy, the
    # learner's arithmetic: same centring, same indicator), against the realized prediction
    d, n, m = 24, 400, 400
    t = MultiIndexTarget.giant_step(d)  # degree-1 terms: the shared centring vector matters
    rng = np.random.default_rng(5)
    vals = []
    for _ in range(30):
        W, b = _neurons(d, m, int(rng.integers(1 << 30)))
        X, y = _mc(t, n, int(rng.integers(1 << 30)))
        yh = y - y.mean() - X @ (X.T @ y / n)
        G = ((X @ W.T + b > 0) * yh[:, None]).T @ X / n
        s2 = np.sum((G @ t.U.T) ** 2, axis=1)
        tot = np.sum(G**2, axis=1)
        vals.append(np.mean(s2[tot > 0] / tot[tot > 0]))
    pred = float(network_alignment(t, n, width=m, method="realized", realizations=8))
    se = np.std(vals) / math.sqrt(len(vals))
    assert abs(pred - np.mean(vals)) <= max(0.05 * np.mean(vals), 3 * se), (pred, np.mean(vals), se)


def test_head_prediction_matches_a_direct_simulation():
    # split=True: the head sees fresh samples (what the equivalent models exactly)
    d, width = 20, 300
    t = MultiIndexTarget.separation(d)
    for n in (400, 1600):
        meas = []
        for seed in range(3):
            X, y = t.sample(n, seed, dtype=np.float64)
            Xv, yv = t.sample(1000, seed, split="val", dtype=np.float64)
            m = OneStepNetwork(width, seed=seed, dtype=np.float64, split=True).fit(X, y, Xv, yv)
            meas.append(excess_error(m, t, 4000, seed))
        # both head models: the realized rows (section 5) and the deterministic equivalent (6)
        pred = float(network_learning_curve(t, n, width=width, split=True, realizations=2))
        assert 1 / 1.5 <= pred / np.mean(meas) <= 1.5, (n, pred, meas)
        eq = float(network_learning_curve(t, n, width=width, split=True, head="equivalent"))
        assert 1 / 1.5 <= eq / np.mean(meas) <= 1.5, (n, eq, meas)


def test_learning_curve_finite_and_decreasing():
    t = MultiIndexTarget.giant_step(24, noise=0.5)
    ns = np.array([150.0, 600, 2400, 9600])
    e = network_learning_curve(t, ns, width=200)
    assert e.shape == ns.shape and np.all(np.isfinite(e)) and np.all(e > 0)
    assert e[0] > e[1] > e[-1]


def test_fixed_ridge_and_eta():
    t = MultiIndexTarget.separation(16)
    a = network_learning_curve(t, 800, width=100, ridge=1e-3, eta1=0.5)
    assert a.shape == () and 0 < float(a) < 2


def test_separation_returns_both_sides():
    t = MultiIndexTarget.separation(16)
    out = separation(t, [24], 0.25, width=100)
    assert set(out) == {"d", "network", "kernel"}
    np.testing.assert_array_equal(out["d"], [24])
    np.testing.assert_allclose(out["kernel"], kernel_n_star(t, [24], 0.25, ridge=0.0))
    assert np.all(out["network"] < out["kernel"])
    np.testing.assert_allclose(out["network"], network_n_star(t, [24], 0.25, width=100))


def test_arguments_are_checked():
    t = MultiIndexTarget.separation(16)
    with pytest.raises(ValueError, match="width"):
        network_alignment(t, 100, width=101)
    with pytest.raises(ValueError, match="ridge"):
        network_learning_curve(t, 100, width=100, ridge=-1.0)
    with pytest.raises(ValueError, match="n must be"):
        network_learning_curve(t, 0, width=100)
    with pytest.raises(TypeError, match="target"):
        network_alignment("separation", 100)
    with pytest.raises(TypeError, match="d_values"):
        network_n_star(t, [16.5], 0.25)
    with pytest.raises(ValueError, match="epsilon"):
        network_n_star(t, [16], -1.0)


def test_public_names():
    for name in ("network_alignment", "network_learning_curve", "network_n_star", "separation"):
        assert name in fastrep.theory.__all__


def test_large_d_branch_agrees_with_the_exact_one(monkeypatch):
    # beyond n d^2 = EXACT_OMEGA_WORK the rows are drawn in C_hat's eigenbasis (a Wigner matrix)
    # instead of from the samples; where both run they must tell the same story (the large-d
    # branch leaves out the labels' heavy tails: 1.08x here, n* 0.76-0.96x at d = 128)
    from fastrep.theory import network_curves

    t = MultiIndexTarget.separation(96)
    exact = float(network_learning_curve(t, 96 * 96, width=300, realizations=2, head="realized"))
    monkeypatch.setattr(network_curves, "EXACT_OMEGA_WORK", 0)
    large = float(network_learning_curve(t, 96 * 96, width=300, realizations=2, head="realized"))
    assert 1 / 1.3 <= large / exact <= 1.3, (exact, large)


def test_wigner_eigenvalues_follow_the_semicircle():
    from fastrep.theory.network_curves import _wigner_eigenvalues

    D = 400
    lam = _wigner_eigenvalues(D, np.random.default_rng(0)) / math.sqrt(D)
    # semicircle of radius 2: mean 0, second moment 1, fourth moment 2 (Catalan numbers)
    assert abs(lam.mean()) < 0.05
    assert abs(np.mean(lam**2) - 1) < 0.05
    assert abs(np.mean(lam**4) - 2) < 0.15
    assert lam.max() < 2.2 and lam.min() > -2.2


def test_array_in_array_out_and_deterministic():
    t = MultiIndexTarget.separation(16)
    n = np.array([[300.0], [900.0]])
    a = network_alignment(t, n, width=100)
    e = network_learning_curve(t, n, width=100)
    assert a.shape == e.shape == (2, 1) and a.dtype == e.dtype == np.float64
    np.testing.assert_array_equal(e, network_learning_curve(t, n, width=100))
    np.testing.assert_array_equal(a, network_alignment(t, n, width=100))
    assert np.asarray(network_n_star(t, np.array([[16]]), 0.3, width=100)).shape == (1, 1)


def test_n_star_of_one_d_does_not_depend_on_the_others():
    # the realized head's error carries its draw's jitter: a search warm-started from another d
    # stopped at another crossing (1336 against 1784 at d = 8, width 60)
    t = MultiIndexTarget.separation(8)
    together = network_n_star(t, [8, 12], 0.25, width=60)
    alone = [network_n_star(t, [d], 0.25, width=60)[0] for d in (8, 12)]
    np.testing.assert_array_equal(together, alone)


# --------------------------------------------------------------------------- the head's equivalent


def test_even_and_odd_features_are_uncorrelated():
    # section 6.1: rotating each +- pair into (phi+ + phi-)/sqrt2, (phi+ - phi-)/sqrt2 makes the
    # realized feature covariance block diagonal (x -> -x preserves the Gaussian law)
    from fastrep.theory import network_curves as nc
    from fastrep.theory.network_representation import learned_neurons, reduce_target

    t = MultiIndexTarget.giant_step(20)
    red = reduce_target(t, noise=0.0, center=True)
    n, h = 400.0, 40
    nb = learned_neurons(red, t.d, n, samples=h, seed=1, pop_only=True, shrink=False, n_labels=n)
    V, gram = nc._realized_rows(red, nb, t.d, n, n, True, np.random.default_rng(2))
    Sigma, _, _ = nc._head_moments(red, V, gram, 1.0 / math.sqrt(np.mean(np.diag(gram))), nb.b, nb.b)
    rot = np.block([[np.eye(h), np.eye(h)], [np.eye(h), -np.eye(h)]]) / math.sqrt(2)
    S = rot @ Sigma @ rot.T
    assert np.linalg.norm(S[:h, h:]) <= 1e-10 * np.linalg.norm(S)
    total = np.linalg.norm(S)
    assert np.linalg.norm(S[:h, :h]) > 0.1 * total and np.linalg.norm(S[h:, h:]) > 0.1 * total


def _fake_group(h, D, rank, rng):
    a = rng.standard_normal((h, rank)) * rng.uniform(0.2, 1.0, (h, 1))
    share = rng.uniform(0.2, 3.0, (h, D))
    share /= share.sum(axis=1, keepdims=True)
    tau = rng.uniform(0.05, 0.3, h)
    aa = (a[:, :, None] * a[:, None, :]).reshape(h, -1)
    M = (share[:, :, None] * aa[:, None, :]).reshape(h, -1)
    group = dict(h=float(h), w=1.0, a=a, tau=tau, M=M, multv=np.ones(D * rank * rank), rank=rank, dirs=D)
    return group, share


def test_fixed_point_matches_monte_carlo_resolvent():
    # section 6.4: diag((X X^T + tau + kappa)^-1) for independent rows a_j (x) p_j,
    # p_j ~ N(0, diag(share_j)), against its deterministic equivalent q_bar
    from fastrep.theory.network_equivalent import HeadModel

    rng = np.random.default_rng(0)
    h, D, rank = 60, 90, 3
    g, share = _fake_group(h, D, rank, rng)
    model = HeadModel.__new__(HeadModel)
    kappa = np.array([0.01, 0.1])
    qbar = model._group(g, kappa)
    mc = np.zeros((len(kappa), h))
    reps = 40
    for _ in range(reps):
        P = rng.standard_normal((h, D)) * np.sqrt(share)
        X = (g["a"][:, :, None] * P[:, None, :]).reshape(h, -1)
        Gram = X @ X.T
        for k, kv in enumerate(kappa):
            mc[k] += np.diag(np.linalg.inv(Gram + np.diag(g["tau"] + kv))) / reps
    # per neuron within the Monte Carlo and finite-size scatter, on average much closer
    np.testing.assert_allclose(qbar, mc, rtol=0.1)
    np.testing.assert_allclose(qbar.mean(axis=1), mc.mean(axis=1), rtol=0.02)
    # and it is not the naive diag(1 / (tau + kappa + |a|^2)): the fixed point matters here
    naive = 1.0 / (g["tau"][None, :] + kappa[:, None] + np.sum(g["a"] ** 2, axis=1)[None, :])
    assert np.max(np.abs(naive / mc - 1)) > 0.1


def test_woodbury_traces_and_derivatives_are_exact():
    # with no order-1 part (a = 0) Q = diag(1 / (tau + kappa)) exactly, so t, q and their
    # derivatives must equal the direct ones for Sigma = Psi0 Psi0^T + diag(tau)
    from fastrep.theory.network_equivalent import HeadModel

    rng = np.random.default_rng(3)
    h, K = 50, 6
    g, _ = _fake_group(h, 4, 1, rng)
    g["M"] = np.zeros_like(g["M"])
    psi0 = rng.standard_normal((h, K)) * 0.3
    c = rng.standard_normal(K)
    g.update(psi0=psi0, PP=(psi0[:, :, None] * psi0[:, None, :]).reshape(h, -1), cg=c)
    model = HeadModel.__new__(HeadModel)
    model.groups = [g]
    kappa = np.array([0.02, 0.3])
    (_, t, dt, q, dq), = model._quantities(kappa)
    Sigma = psi0 @ psi0.T + np.diag(g["tau"])
    b = psi0 @ c
    for k, kv in enumerate(kappa):
        R = np.linalg.inv(Sigma + kv * np.eye(h))
        np.testing.assert_allclose(t[k], np.trace(R), rtol=1e-4)  # via d log det / d kappa
        np.testing.assert_allclose(dt[k], -np.trace(R @ R), rtol=2e-3)
        np.testing.assert_allclose(q[k], b @ R @ b, rtol=1e-6)
        np.testing.assert_allclose(dq[k], -b @ R @ R @ b, rtol=2e-3)


@pytest.mark.parametrize("preset", ["separation", "giant_step"])
def test_equivalent_head_matches_the_realized_head(preset):
    # the two head models on the same (d, n, width): d = 48, n = d^2, width 300
    t = getattr(MultiIndexTarget, preset)(48)
    n = 48.0 * 48
    eq = float(network_learning_curve(t, n, width=300, head="equivalent"))
    real = float(network_learning_curve(t, n, width=300, head="realized", realizations=2))
    assert 1 / 1.35 <= eq / real <= 1.35, (eq, real)


def test_equivalent_finite_monotone_and_cheap_in_d():
    t = MultiIndexTarget.separation(16)
    for d in (64, 4096):
        td = MultiIndexTarget(d, dict(t.terms), normalize=False, seed=0)
        ns = np.array([0.25, 0.5, 1.0, 2.0, 4.0, 8.0]) * d * d
        e = network_learning_curve(td, ns, width=500, head="equivalent")
        assert np.all(np.isfinite(e)) and np.all(e > 0) and np.all(np.diff(e) < 0), (d, e)
    with pytest.raises(ValueError, match="head"):
        network_learning_curve(t, 100, width=100, head="exact")
