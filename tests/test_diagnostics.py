"""fastrep.diagnostics.degree_learning: the fraction of each degree of f* that a model learned."""

from __future__ import annotations

import math

import numpy as np
import pytest

from fastrep import MultiIndexTarget, NTKRegressor
from fastrep import theory as T
from fastrep.diagnostics import degree_learning, degree_learning_record
from fastrep.hermite import hermite_features


def _within(res, expected, k=4.0):
    for ell, want in expected.items():
        got = res[ell]
        assert abs(got.fraction - want) <= k * got.stderr + 1e-9, (ell, got, want)


def _part(target, degrees):
    """The callable x -> the target's part in ``degrees``."""
    keep = np.isin(target.alphas.sum(axis=1), list(degrees))

    def fn(X):
        return hermite_features(np.asarray(X) @ target.U.T, target.alphas) @ (target.coefs * keep)

    return fn


def test_target_itself_and_zero_are_exact():
    t = MultiIndexTarget.separation(10, seed=1)
    full = degree_learning(t.f, t, n=20_000)
    assert sorted(full) == [2, 3]  # only the degrees with energy
    for v in full.values():
        assert v.fraction == pytest.approx(1.0, abs=1e-9) and v.energy == pytest.approx(0.5)
    zero = degree_learning(lambda X: np.zeros(X.shape[0]), t, n=20_000)
    for v in zero.values():
        assert v.fraction == pytest.approx(0.0, abs=1e-9)


def test_target_plus_an_orthogonal_term_learns_everything_within_the_errors():
    t = MultiIndexTarget.separation(10, seed=2)
    # a term in three directions orthogonal to span(U): orthogonal to every h_alpha(Ux) with alpha != 0
    Q, _ = np.linalg.qr(np.column_stack([t.U.T, np.random.default_rng(9).standard_normal((10, 3))]))
    other = MultiIndexTarget(10, {(1, 0, 0): 1.0, (0, 2, 1): 0.7}, U=Q[:, 2:5].T)

    res = degree_learning(lambda X: t.f(X) + 0.5 * other.f(X), t, n=40_000, seed=3)
    _within(res, {2: 1.0, 3: 1.0})
    assert all(0 < v.stderr < 0.05 for v in res.values())
    half = degree_learning(lambda X: 0.5 * t.f(X) + 0.5 * other.f(X), t, n=40_000, seed=3)
    _within(half, {2: 0.5, 3: 0.5})


@pytest.mark.parametrize("preset", ["separation", "giant_step", "staircase"])
def test_one_degree_part_is_learned_alone(preset):
    t = {"separation": lambda: MultiIndexTarget.separation(12, seed=4),
         "giant_step": lambda: MultiIndexTarget.giant_step(12, seed=4),
         "staircase": lambda: MultiIndexTarget.staircase(12, 3, seed=4)}[preset]()
    degrees = sorted(ell for ell, e in t.energy_by_degree().items() if e > 0)
    ell0 = 2
    res = degree_learning(_part(t, [ell0]), t, n=60_000, seed=5)
    _within(res, {ell: (1.0 if ell == ell0 else 0.0) for ell in degrees})
    assert all(v.stderr < 0.05 for v in res.values())


def test_agrees_with_the_plain_hermite_coefficient_estimate():
    # F_l = sum_{|alpha| = l} c_hat_alpha c_alpha / E_l with c_hat from target.hermite_coefficients
    rng = np.random.default_rng(0)
    t = MultiIndexTarget.separation(8, seed=6)
    X = rng.standard_normal((600, 8))
    model = NTKRegressor(ridge=1e-8).fit(X, t.f(X))
    res = degree_learning(model, t, n=30_000, seed=11)
    chat = t.hermite_coefficients(model, 30_000, 11)
    for ell, v in res.items():
        plain = sum(chat[a] * c for a, c in t.terms.items() if sum(a) == ell) / v.energy
        # the plain estimator's own error is larger (no control variate): allow 0.05
        assert v.fraction == pytest.approx(plain, abs=0.05)
        assert 0.0 < v.fraction < 1.05
    assert res[2].fraction > res[3].fraction  # the kernel learns degree 2 first
    rec = degree_learning_record(res)
    assert set(rec) == {"2", "3"} and all(len(x) == 2 for x in rec.values())


@pytest.mark.slow
def test_ntk_fraction_matches_the_theory_learnability():
    t = MultiIndexTarget.separation(12, seed=7)
    n = 1500
    fr = {2: [], 3: []}
    for s in range(4):
        X = np.random.default_rng(s).standard_normal((n, 12))
        m = NTKRegressor(ridge=1e-8).fit(X, t.f(X))
        for ell, v in degree_learning(m, t, n=30_000, seed=100 + s).items():
            fr[ell].append(v.fraction)
    L = T.kernel_learnability(t, n, ridge=1e-8, measure="gaussian")
    for ell in (2, 3):
        assert np.mean(fr[ell]) == pytest.approx(L[ell], abs=0.08)


def test_argument_errors():
    t = MultiIndexTarget.separation(6)
    with pytest.raises(TypeError, match="model"):
        degree_learning(42, t)
    with pytest.raises(TypeError, match="target"):
        degree_learning(t.f, {2: 1.0})
    with pytest.raises(ValueError, match="n must"):
        degree_learning(t.f, t, n=1)
    with pytest.raises(ValueError, match="shape"):
        degree_learning(lambda X: np.zeros((X.shape[0], 2)), t, n=100)
    with pytest.raises(ValueError, match="NaN"):
        degree_learning(lambda X: np.full(X.shape[0], math.nan), t, n=100)


@pytest.mark.parametrize("scale", [1e160, 1e-160])
def test_large_and_small_finite_models_give_finite_fractions(scale):
    """A model c f* has learned the fraction c of every degree: finite for any finite c (the
    squares of c f* f_l once overflowed to inf, and the variances to NaN)."""
    t = MultiIndexTarget.separation(6, seed=1)
    got = degree_learning(lambda X: scale * t.f(X), t, n=2000, seed=3)
    for v in got.values():
        assert math.isfinite(v.fraction) and math.isfinite(v.stderr)
        assert v.fraction == pytest.approx(scale, rel=1e-9)
