"""The proportional regime (fastrep.theory.proportional): Mei-Montanari's closed form and the
Gaussian equivalence of a given first layer, each against a direct simulation at small size, each
against the other, and their contracts. Derivation and choices: docs/guide/theory-network.md,
"The proportional regime"."""

import math

import numpy as np
import pytest

from fastrep import MultiIndexTarget, OneStepNetwork
from fastrep.metrics import excess_error
from fastrep.theory import gaussian_equivalent_risk, random_features_risk


def _ridge_head_error(target, W, b, n, ridge, seeds, n_test=10_000):
    """fastrep's head (Phi^T Phi / n + ridge I)^-1 Phi^T y / n on relu(X W^T + b), uncentred labels,
    fitted on ``seeds`` independent samples of n; the mean excess error over E[f*^2]."""
    errs = []
    rng_t = np.random.default_rng(12345)
    Xt = rng_t.standard_normal((n_test, target.d))
    ft = target.f(Xt)
    Pt = np.maximum(Xt @ W.T + b, 0.0)
    for s in seeds:
        rng = np.random.default_rng(s)
        X = rng.standard_normal((n, target.d))
        y = target.f(X) + math.sqrt(target.noise) * rng.standard_normal(n)
        P = np.maximum(X @ W.T + b, 0.0)
        a = np.linalg.solve(P.T @ P / n + ridge * np.eye(W.shape[0]), P.T @ y / n)
        errs.append(np.mean((Pt @ a - ft) ** 2) / target.variance)
    return float(np.mean(errs))


@pytest.mark.parametrize(("n", "ridge"), [(100, 1e-1), (200, 1e-3), (400, 1e-1), (800, 1e-3)])
def test_mei_montanari_matches_direct_simulation(n, ridge):
    # d = 200, width 400 (psi1 = 2), psi2 = 0.5 .. 4; the simulation averages 3 draws of the
    # data on one draw of W (the conditional risk concentrates in W at this size)
    d, m = 200, 400
    target = MultiIndexTarget(d, {(1,): 1.0, (2,): 0.5}, noise=0.1, seed=0)
    W = np.random.default_rng(7).standard_normal((m, d)) / math.sqrt(d)
    sim = _ridge_head_error(target, W, np.zeros(m), n, ridge, seeds=(1, 2, 3))
    mm = float(random_features_risk(target, n, width=m, ridge=ridge))
    assert mm == pytest.approx(sim, rel=0.08)


def test_mei_montanari_shows_the_interpolation_peak():
    # at small ridge the error peaks where n = width (the double descent), and not at large ridge
    target = MultiIndexTarget(100, {(1,): 1.0, (2,): 0.5}, noise=0.1, seed=0)
    ns = np.array([100.0, 200.0, 400.0])
    small = random_features_risk(target, ns, width=200, ridge=1e-6)
    large = random_features_risk(target, ns, width=200, ridge=1e-1)
    assert small[1] > 2 * max(small[0], small[2])
    assert large[0] > large[1] > large[2]


def test_the_two_routes_agree_at_a_random_first_layer():
    # the closed form (averaged over W) and the equivalence on one draw of W (d = 200)
    d, m = 200, 400
    target = MultiIndexTarget(d, {(1,): 1.0, (3,): 0.6}, noise=0.2, seed=1)
    W = np.random.default_rng(3).standard_normal((m, d)) / math.sqrt(d)
    ns = np.array([100.0, 400.0, 1600.0])
    for ridge in (1e-3, 1e-1):
        mm = random_features_risk(target, ns, width=m, ridge=ridge)
        ge = gaussian_equivalent_risk(target, ns, W, ridge=ridge)
        np.testing.assert_allclose(ge, mm, rtol=0.05)


def test_gaussian_equivalence_with_biases_matches_simulation():
    # biases b ~ N(0, 1), as fastrep's networks draw them: no closed form, the equivalence holds
    # (away from the interpolation peak n ~ width, where 3 draws of the data do not settle the mean)
    d, m, n = 120, 240, 720
    target = MultiIndexTarget(d, {(1,): 1.0, (2,): 0.7}, noise=0.25, seed=2)
    rng = np.random.default_rng(4)
    W, b = rng.standard_normal((m, d)) / math.sqrt(d), rng.standard_normal(m)
    for ridge in (1e-3, 1e-1):
        sim = _ridge_head_error(target, W, b, n, ridge, seeds=(5, 6, 7))
        ge = float(gaussian_equivalent_risk(target, n, W, b, ridge=ridge))
        assert ge == pytest.approx(sim, rel=0.08)


def test_symmetric_pairs_are_exact():
    # rows j and j + m/2 negated with the same bias (Algorithm 1's initialization): the pair's
    # features are strongly correlated (relu(b + t) and relu(b - t)); with the pair's covariance
    # taken from the linearization, as for two unrelated rows, the prediction here reads 16% high
    d, m, n = 100, 200, 3000
    target = MultiIndexTarget(d, {(1,): 1.0, (2,): 0.7}, noise=0.25, seed=2)
    rng = np.random.default_rng(8)
    half, bh = rng.standard_normal((m // 2, d)) / math.sqrt(d), rng.standard_normal(m // 2)
    W, b = np.vstack([half, -half]), np.concatenate([bh, bh])
    sim = _ridge_head_error(target, W, b, n, 1e-3, seeds=(5, 6, 7))
    ge = float(gaussian_equivalent_risk(target, n, W, b, ridge=1e-3))
    assert ge == pytest.approx(sim, rel=0.06)


def test_predicts_the_one_step_network_after_a_small_step():
    # Ba et al.'s regime: a small step, labels not centred, the head on the second half
    d, width, n = 48, 96, 4 * 48
    target = MultiIndexTarget.giant_step(d)
    meas, pred = [], []
    for seed in range(4):
        X, y = target.sample(n, seed=seed, dtype=np.float64)
        Xv, yv = target.sample(2000, seed=seed, split="val", dtype=np.float64)
        net = OneStepNetwork(width, eta1=0.1, center=False, split=True, seed=seed, dtype=np.float64)
        net.fit(X, y, Xv, yv)
        meas.append(excess_error(net, target, n_test=20_000, seed=seed))
        pred.append(float(gaussian_equivalent_risk(target, n - n // 2, net.W_, net.b_, ridge="validate")))
    assert np.mean(pred) == pytest.approx(np.mean(meas), rel=0.15)


def test_finite_decreasing_and_shaped():
    target = MultiIndexTarget(64, {(1,): 1.0, (2,): 0.5}, seed=0)
    ns = np.array([[64.0, 256.0], [1024.0, 4096.0]])
    rf = random_features_risk(target, ns, width=128, ridge="validate")
    assert rf.shape == (2, 2) and np.all(np.isfinite(rf))
    assert np.all(np.diff(rf.reshape(-1)) < 0)
    # never below the part random features cannot learn (degree 2: 0.2 of the variance)
    assert np.all(rf > 0.2)
    W = np.random.default_rng(0).standard_normal((128, 64)) / 8.0
    ge = gaussian_equivalent_risk(target, ns, W, ridge="validate")
    assert ge.shape == (2, 2) and np.all(np.diff(ge.reshape(-1)) < 0)
    # an array of ridges broadcasts against n
    assert random_features_risk(target, [100.0], width=128, ridge=[1e-3, 1e-1]).shape == (2,)


@pytest.mark.parametrize(("call", "name"), [
    (lambda t: random_features_risk(t, 100, width=0, ridge=1e-3), "width"),
    (lambda t: random_features_risk(t, 100, width=10, ridge=-1.0), "ridge"),
    (lambda t: random_features_risk(t, 100, width=10, ridge="best"), "ridge"),
    (lambda t: random_features_risk(t, -5, width=10, ridge=1e-3), "n"),
    (lambda t: random_features_risk(t, 100, width=10, ridge=1e-3, noise=-1.0), "noise"),
    (lambda t: gaussian_equivalent_risk(t, 100, np.ones((4, 3)), ridge=1e-3), "W"),
    (lambda t: gaussian_equivalent_risk(t, 100, np.ones((4, 8)), np.ones(3), ridge=1e-3), "b"),
    (lambda t: gaussian_equivalent_risk(t, 100, np.ones((4, 8)), ridge=1e-3, order=0), "order"),
    (lambda t: gaussian_equivalent_risk(t, 100, np.full((4, 8), np.nan), ridge=1e-3), "W"),
])
def test_bad_arguments_are_named(call, name):
    t = MultiIndexTarget(8, {(1,): 1.0}, seed=0)
    with pytest.raises(ValueError, match=rf"^{name} must"):
        call(t)


def test_target_type_is_checked():
    with pytest.raises(TypeError, match="target must be"):
        random_features_risk("he2", 100, width=10, ridge=1e-3)
    with pytest.raises(TypeError, match="target must be"):
        gaussian_equivalent_risk(None, 100, np.ones((2, 3)), ridge=1e-3)
