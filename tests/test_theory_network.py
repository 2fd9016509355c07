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
        pred = float(network_learning_curve(t, n, width=width, split=True, realizations=2))
        assert 1 / 1.5 <= pred / np.mean(meas) <= 1.5, (n, pred, meas)


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
    exact = float(network_learning_curve(t, 96 * 96, width=300, realizations=2))
    monkeypatch.setattr(network_curves, "EXACT_OMEGA_WORK", 0)
    large = float(network_learning_curve(t, 96 * 96, width=300, realizations=2))
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
