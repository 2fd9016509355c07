"""MultiIndexTarget: analytic quantities against exact quadrature and Monte Carlo, f against an
independent evaluation with numpy.polynomial.hermite_e, every preset, and every validation error."""

from __future__ import annotations

import math
import pickle

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from numpy.polynomial import hermite_e

import fastrep
from fastrep import MultiIndexTarget
from tests.conftest import RTOL, to_backend, to_numpy


def h(z, k):
    """h_k(z) = He_k(z)/sqrt(k!), from numpy's HermiteE series (independent of fastrep)."""
    coef = np.zeros(k + 1)
    coef[k] = 1.0
    return hermite_e.hermeval(z, coef) / math.sqrt(math.factorial(k))


def g_direct(terms, Z):
    """g(Z) = sum_alpha c_alpha prod_i h_{alpha_i}(Z[:, i]) with numpy's Hermite polynomials."""
    out = np.zeros(Z.shape[0])
    for alpha, c in terms.items():
        term = np.full(Z.shape[0], c)
        for i, k in enumerate(alpha):
            term *= h(Z[:, i], k)
        out += term
    return out


def quadrature(r, points=16):
    """Tensor Gauss-Hermite nodes (N, r) and weights (N,) for E over N(0, I_r); exact for
    polynomials of degree <= 2 * points - 1 in each coordinate."""
    x, w = hermite_e.hermegauss(points)
    w = w / w.sum()
    grids = np.meshgrid(*([x] * r), indexing="ij")
    Z = np.stack([gr.ravel() for gr in grids], -1)
    wgrids = np.meshgrid(*([w] * r), indexing="ij")
    W = np.prod(np.stack([gr.ravel() for gr in wgrids], -1), axis=1)
    return Z, W


def mc_bound(samples, k=6.0):
    """k standard errors of the mean of ``samples`` along axis 0."""
    return k * samples.std(axis=0) / math.sqrt(samples.shape[0])


# ---- analytic quantities ------------------------------------------------------------------


@pytest.mark.parametrize("make", [
    lambda: MultiIndexTarget.separation(6, seed=1),
    lambda: MultiIndexTarget.random(7, 3, 3, seed=2),
    lambda: MultiIndexTarget.giant_step(5, seed=3),
    lambda: MultiIndexTarget(6, {(2, 0): 1.0, (1, 1): -0.7, (0, 2): 0.2, (4, 0): 0.5}, seed=4),
], ids=["separation", "random", "giant_step", "custom"])
def test_expected_hessian_and_energy_against_monte_carlo(make):
    t = make()
    X, _ = t.sample(200_000, seed=11, dtype=np.float64)
    f = t.f(X)
    # Stein: H = E[f (x x^T - I)], estimated entry by entry with its own standard error
    n, d = X.shape
    prods = f[:, None, None] * (X[:, :, None] * X[:, None, :] - np.eye(d))
    est = prods.mean(0)
    H = t.expected_hessian()
    assert H.shape == (d, d)
    assert np.all(np.abs(est - H) <= mc_bound(prods) + 1e-12)
    # energy: sum over degrees = E[f^2] = 1 (normalized)
    energy = t.energy_by_degree()
    assert sum(energy.values()) == pytest.approx(1.0, abs=1e-12)
    assert abs(np.mean(f**2) - sum(energy.values())) <= mc_bound(f**2)
    assert t.variance == pytest.approx(1.0, abs=1e-12)


def test_energy_by_degree_against_monte_carlo_projections():
    # the energy of degree k is the variance of the degree-k part, estimated by projecting
    # the sampled f onto every h_alpha with a Monte Carlo inner product
    t = MultiIndexTarget.random(5, 2, 4, seed=5)
    n = 200_000
    est = t.hermite_coefficients(t.f, n, seed=3)
    energy = t.energy_by_degree()
    for k in range(t.degree + 1):
        e_k = sum(c * c for a, c in est.items() if sum(a) == k)
        # each coefficient estimate has standard error <= sqrt(E[f^2 h_a^2] / n); bound loosely
        assert abs(e_k - energy[k]) < 0.03, (k, e_k, energy[k])
    assert energy == pytest.approx({0: 0.0, 1: 0.0, 2: 1 / 3, 3: 1 / 3, 4: 1 / 3}, abs=1e-12)


def test_hermite_coefficients_recover_terms():
    t = MultiIndexTarget.separation(8, seed=2)
    n = 100_000
    est = t.hermite_coefficients(t.f, n, seed=7)
    assert set(est) == {tuple(a) for a in fastrep.multi_indices(2, 3).tolist()}
    for alpha, c in est.items():
        assert abs(c - t.terms.get(alpha, 0.0)) < 6 * math.sqrt(3.0 / n), alpha

    class Model:  # anything with .predict, like a fitted learner
        def predict(self, X):
            return 2.0 * t.f(X)

    est2 = t.hermite_coefficients(Model(), n, seed=7)
    assert all(est2[a] == pytest.approx(2 * est[a], rel=1e-6, abs=1e-9) for a in est)
    with pytest.raises(TypeError, match="model_or_fn"):
        t.hermite_coefficients(3.0, 10, seed=0)
    with pytest.raises(ValueError, match="returned 1 values"):
        t.hermite_coefficients(lambda X: np.zeros(1), 10, seed=0)


@given(
    r=st.integers(1, 2),
    raw=st.lists(st.tuples(st.integers(0, 4), st.integers(0, 4), st.floats(-3, 3)), min_size=1, max_size=8),
    normalize=st.booleans(),
)
def test_property_random_terms_against_quadrature(r, raw, normalize):
    terms = {}
    for a0, a1, c in raw:
        terms[(a0, a1)[:r]] = c
    if all(c == 0.0 for c in terms.values()):
        with pytest.raises(ValueError, match="zero"):
            MultiIndexTarget(4, terms)
        return
    t = MultiIndexTarget(4, terms, normalize=normalize, seed=1)
    Z, W = quadrature(r)
    g = g_direct(t.terms, Z)
    # E[g^2] = sum c^2, split by degree
    assert np.dot(W, g * g) == pytest.approx(t.variance, rel=1e-10, abs=1e-12)
    assert sum(t.energy_by_degree().values()) == pytest.approx(t.variance, rel=1e-12)
    if normalize:
        assert t.variance == pytest.approx(1.0, rel=1e-12)
        norm = math.hypot(*terms.values())
        assert all(t.terms[a] == pytest.approx(c / norm, rel=1e-12) for a, c in terms.items())
    # M = E[g(z)(z z^T - I)] exactly, and H = U^T M U
    M = np.einsum("n,n,ni,nj->ij", W, g, Z, Z) - np.dot(W, g) * np.eye(r)
    np.testing.assert_allclose(t.hessian_core(), M, atol=1e-10)
    np.testing.assert_allclose(t.expected_hessian(), t.U.T @ M @ t.U, atol=1e-10)
    assert t.hessian_rank() == np.linalg.matrix_rank(M, tol=1e-8 * math.hypot(*t.terms.values()))
    assert t.nondegenerate == (t.hessian_rank() == r)
    assert t.degree == max(sum(a) for a in t.terms)
    assert t.alphas.shape == (len(t.terms), r) and t.alphas.dtype == np.int32
    assert [tuple(a) for a in t.alphas.tolist()] == list(t.terms)
    np.testing.assert_array_equal(t.coefs, list(t.terms.values()))


# ---- f ----------------------------------------------------------------------------------


@pytest.mark.parametrize("make", [
    lambda: MultiIndexTarget.separation(9, seed=3),
    lambda: MultiIndexTarget.random(9, 3, 4, seed=1),
    lambda: MultiIndexTarget.single_index(9, "he4"),
])
def test_f_every_backend_matches_direct_evaluation(backend, dtype, rng, make):
    t = make()
    X = rng.standard_normal((301, t.d))
    want = g_direct(t.terms, X @ t.U.T)
    got = t.f(to_backend(X.astype(dtype), backend), backend=backend)
    assert got.dtype == dtype and got.shape == (301,)
    scale = np.maximum(1.0, np.abs(want))
    assert np.max(np.abs(to_numpy(got) - want) / scale) <= 200 * RTOL[dtype]
    ref = t.f(X, backend="reference")
    assert np.max(np.abs(ref - want) / scale) <= 1e-12


def test_f_rows_do_not_depend_on_their_neighbours(rng):
    t = MultiIndexTarget.random(50, 3, 3, seed=4)
    for dt in (np.float32, np.float64):
        X = rng.standard_normal((97, 50)).astype(dt)
        full = t.f(X)
        parts = np.concatenate([t.f(X[a:a + k]) for a, k in [(0, 1), (1, 2), (3, 7), (10, 87)]])
        np.testing.assert_array_equal(parts, full)


def test_f_rejects_bad_input():
    t = MultiIndexTarget.separation(5)
    with pytest.raises(ValueError, match="X has 4 columns but the target has d = 5"):
        t.f(np.zeros((3, 4)))
    with pytest.raises(ValueError, match="X must be 2-D"):
        t.f(np.zeros(5))
    with pytest.raises(ValueError, match="NaN or inf"):
        t.f(np.full((2, 5), np.nan))


# ---- presets -----------------------------------------------------------------------------


def test_single_index_he2_is_the_demo_target(rng):
    t = MultiIndexTarget.single_index(20, "he2", seed=5)
    assert (t.r, t.degree, t.nondegenerate) == (1, 2, True)
    X = rng.standard_normal((50, 20))
    u = t.U[0]
    np.testing.assert_allclose(t.f(X), ((X @ u) ** 2 - 1) / math.sqrt(2), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(t.expected_hessian(), np.outer(u, u) * math.sqrt(2), atol=1e-14)
    for kind in ("he3", "he4"):
        s = MultiIndexTarget.single_index(20, kind)
        assert s.hessian_rank() == 0 and not s.nondegenerate
        np.testing.assert_array_equal(s.expected_hessian(), np.zeros((20, 20)))
    with pytest.raises(ValueError, match="kind must be one of"):
        MultiIndexTarget.single_index(20, "he5")


def test_staircase_and_sum_of_directions(rng):
    s = MultiIndexTarget.staircase(10, 3, seed=1)
    assert (s.r, s.degree, len(s.terms), s.hessian_rank()) == (3, 3, 3, 2)
    assert not s.nondegenerate
    X = rng.standard_normal((40, 10))
    Z = X @ s.U.T
    want = (Z[:, 0] + Z[:, 0] * Z[:, 1] + Z[:, 0] * Z[:, 1] * Z[:, 2]) / math.sqrt(3)
    np.testing.assert_allclose(s.f(X), want, rtol=1e-12, atol=1e-12)
    assert MultiIndexTarget.staircase(10, 2).nondegenerate

    a = MultiIndexTarget.sum_of_directions(10, 3, 4, seed=2)
    assert a.nondegenerate and a.degree == 4
    assert a.energy_by_degree() == pytest.approx({0: 0, 1: 0, 2: 1 / 3, 3: 1 / 3, 4: 1 / 3}, abs=1e-12)
    np.testing.assert_allclose(a.hessian_core(), np.eye(3) * math.sqrt(2) / 3, atol=1e-14)
    with pytest.raises(ValueError, match="p must be >= 2"):
        MultiIndexTarget.sum_of_directions(10, 3, 1)


@pytest.mark.parametrize("r,p", [(1, 2), (2, 3), (3, 4), (5, 3)])
def test_random_preset(r, p):
    t = MultiIndexTarget.random(12, r, p, seed=9, noise=0.25)
    assert (t.r, t.degree, t.noise) == (r, p, 0.25)
    assert t.nondegenerate
    energy = t.energy_by_degree()
    for k in range(2, p + 1):
        assert energy[k] == pytest.approx(1 / (p - 1), abs=1e-12)
    assert energy[0] == energy[1] == 0.0
    ev = np.abs(np.linalg.eigvalsh(t.hessian_core()))
    assert ev.max() / ev.min() <= 2.0 + 1e-12
    again = MultiIndexTarget.random(12, r, p, seed=9, noise=0.25)
    assert again == t
    other = MultiIndexTarget.random(12, r, p, seed=10)
    assert not np.array_equal(other.U, t.U)
    if len(t.terms) > 1:  # r = 1, p = 2 is +-h_2 whatever the seed
        assert other.terms != t.terms


def test_giant_step_matches_its_formula(rng):
    t = MultiIndexTarget.giant_step(7, normalize=False, seed=4)
    assert t.variance == pytest.approx(37 / 48, rel=1e-14)
    X = rng.standard_normal((60, 7))
    th = X @ t.U.T

    def f(z):
        return z + (z**2 - 1) / 2 + (z**4 - 6 * z**2 + 3) / 24

    np.testing.assert_allclose(t.f(X), 0.5 * (f(th[:, 0]) + f(th[:, 1])), rtol=1e-12, atol=1e-12)
    assert MultiIndexTarget.giant_step(7).variance == pytest.approx(1.0)


def test_separation_preset():
    t = MultiIndexTarget.separation(32, seed=0)
    assert (t.d, t.r, t.degree) == (32, 2, 3)
    assert t.nondegenerate
    energy = t.energy_by_degree()
    assert energy[3] >= 0.4 and sum(energy.values()) == pytest.approx(1.0, abs=1e-12)
    assert MultiIndexTarget.separation(32, seed=0) == t
    assert not np.array_equal(MultiIndexTarget.separation(32, seed=1).U, t.U)


def test_every_preset_documents_where_it_comes_from():
    for name in ("single_index", "staircase", "sum_of_directions", "random", "giant_step", "separation"):
        doc = getattr(MultiIndexTarget, name).__doc__
        assert doc and len(doc) > 200, name


# ---- U, pickling, rebuild ----------------------------------------------------------------


def test_U_drawn_from_seed_is_orthonormal_and_reproducible():
    t = MultiIndexTarget.random(40, 4, 2, seed=3)
    np.testing.assert_allclose(t.U @ t.U.T, np.eye(4), atol=1e-13)
    assert t.U.shape == (4, 40) and t.U.dtype == np.float64
    assert not t.U.flags.writeable
    rebuilt = MultiIndexTarget(t.d, t.terms, normalize=False, seed=t.seed)
    assert rebuilt == t
    assert not np.array_equal(MultiIndexTarget(40, t.terms, seed=4).U, t.U)


def test_given_U_is_used():
    Q = np.linalg.qr(np.random.default_rng(0).standard_normal((6, 2)))[0].T
    t = MultiIndexTarget(6, {(1, 1): 1.0}, U=Q)
    np.testing.assert_array_equal(t.U, Q)
    np.testing.assert_allclose(t.expected_hessian(), Q.T @ np.array([[0, 1], [1, 0]]) @ Q, atol=1e-15)


def test_pickle_round_trip():
    t = MultiIndexTarget.random(30, 3, 3, seed=8, noise=0.5)
    u = pickle.loads(pickle.dumps(t))
    assert u == t and u is not t
    assert not u.U.flags.writeable and not u.coefs.flags.writeable
    X = np.random.default_rng(1).standard_normal((10, 30))
    np.testing.assert_array_equal(u.f(X), t.f(X))
    assert "nondegenerate=True" in repr(u)


# ---- validation --------------------------------------------------------------------------


def test_validation_errors():
    with pytest.raises(ValueError, match="r = 3 entries but d = 2"):
        MultiIndexTarget(2, {(1, 1, 0): 1.0})
    with pytest.raises(ValueError, match="different lengths"):
        MultiIndexTarget(5, {(2, 0): 1.0, (1,): 1.0})
    with pytest.raises(ValueError, match="negative index"):
        MultiIndexTarget(5, {(2, -1): 1.0})
    U = np.ones((2, 5)) / math.sqrt(5)
    with pytest.raises(ValueError, match="not orthonormal"):
        MultiIndexTarget(5, {(2, 0): 1.0}, U=U)
    with pytest.raises(ValueError, match="U must have shape"):
        MultiIndexTarget(5, {(2, 0): 1.0}, U=np.eye(5)[:3])
    with pytest.raises(ValueError, match="all zero"):
        MultiIndexTarget(5, {(2, 0): 0.0, (1, 1): 0.0})
    with pytest.raises(ValueError, match="empty"):
        MultiIndexTarget(5, {})
    with pytest.raises(ValueError, match="NaN"):
        MultiIndexTarget(5, {(2, 0): 1.0, (1, 1): float("nan")})
    with pytest.raises(ValueError, match="infinite"):
        MultiIndexTarget(5, {(2, 0): float("inf")})
    with pytest.raises(ValueError, match="noise"):
        MultiIndexTarget(5, {(2, 0): 1.0}, noise=-1.0)
    with pytest.raises(TypeError, match="terms must be a mapping"):
        MultiIndexTarget(5, [((2, 0), 1.0)])
    with pytest.raises(TypeError, match="non-negative integers"):
        MultiIndexTarget(5, {(1.5, 0): 1.0})
    with pytest.raises(TypeError, match="real number"):
        MultiIndexTarget(5, {(2, 0): "1"})
    with pytest.raises(ValueError, match="d must be >= 1"):
        MultiIndexTarget(0, {(2,): 1.0})
    with pytest.raises(ValueError, match="seed must be >= 0"):
        MultiIndexTarget(3, {(2,): 1.0}, seed=-1)
    with pytest.raises(ValueError, match="r = 4 but d = 3"):
        MultiIndexTarget.random(3, 4, 2)
    # a slightly perturbed but orthonormal-to-tolerance U is accepted
    Q = np.linalg.qr(np.random.default_rng(0).standard_normal((5, 2)))[0].T
    MultiIndexTarget(5, {(2, 0): 1.0}, U=Q + 1e-9)
    # an int key is shorthand for a 1-tuple
    assert MultiIndexTarget(5, {2: 1.0}).terms == {(2,): 1.0}
