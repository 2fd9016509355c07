"""Hermite features: every backend against the float64 reference, the reference against
numpy.polynomial.hermite_e and Gauss-Hermite orthonormality, and bad input."""

from __future__ import annotations

import math

import hypothesis.extra.numpy as hnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from numpy.polynomial import hermite_e

import fastrep
from fastrep._kernels import reference
from tests.conftest import RTOL, to_backend, to_numpy


def _scaled_err(got, want):
    """max |got - want| relative to max(1, |want|) entrywise."""
    return float(np.max(np.abs(got - want) / np.maximum(1.0, np.abs(want)))) if want.size else 0.0


@pytest.mark.parametrize("r,p", [(1, 6), (2, 4), (4, 4), (3, 7)])
def test_backend_matches_reference(backend, dtype, rng, r, p):
    Z = rng.standard_normal((257, r)).astype(dtype)
    alphas = fastrep.multi_indices(r, p)
    want = reference.hermite_features(Z.astype(np.float64), alphas)
    got = fastrep.hermite_features(to_backend(Z, backend), alphas, backend=backend)
    assert got.dtype == dtype
    assert got.shape == (257, len(alphas))
    assert _scaled_err(to_numpy(got), want) <= 50 * RTOL[dtype]


def test_reference_matches_numpy_hermite_e(rng):
    z = rng.uniform(-6, 6, size=200)
    table = reference.hermite_table(z, 12)
    for k in range(13):
        coef = np.zeros(k + 1)
        coef[k] = 1.0
        He = hermite_e.hermeval(z, coef)
        np.testing.assert_allclose(table[k], He / math.sqrt(math.factorial(k)), rtol=1e-10, atol=1e-10)
        np.testing.assert_allclose(fastrep.hermite(z, k, backend="reference"), He, rtol=1e-10, atol=1e-9)


def test_orthonormal_under_gauss_hermite_quadrature():
    # E[h_a h_b] = delta_ab for |a|, |b| <= 6, r = 2, by a 2-D tensor Gauss-Hermite rule
    # (exact for polynomials of degree <= 2*20-1 in each coordinate).
    x, w = hermite_e.hermegauss(20)
    w = w / w.sum()
    Z = np.stack(np.meshgrid(x, x, indexing="ij"), -1).reshape(-1, 2)
    weights = np.outer(w, w).ravel()
    alphas = fastrep.multi_indices(2, 6)
    H = reference.hermite_features(Z, alphas)
    gram = H.T @ (H * weights[:, None])
    np.testing.assert_allclose(gram, np.eye(len(alphas)), atol=1e-10)


def test_high_degree_does_not_overflow(backend):
    z = np.linspace(-10, 10, 41).reshape(-1, 1)
    alphas = np.arange(31).reshape(-1, 1)
    want = reference.hermite_features(z, alphas)
    got = to_numpy(fastrep.hermite_features(to_backend(z, backend), alphas, backend=backend))
    assert np.all(np.isfinite(got))
    # relative to each degree's largest value on the grid: large-degree values reach 1e13
    scale = np.abs(want).max(axis=0)
    assert np.max(np.abs(got - want) / scale) < 1e-12


def test_hermite_unnormalized_and_normalized(backend):
    z = np.linspace(-3, 3, 13)
    for k in range(6):
        He = fastrep.hermite(to_backend(z, backend), k, backend=backend)
        h = fastrep.hermite(to_backend(z, backend), k, normalized=True, backend=backend)
        coef = np.zeros(k + 1)
        coef[k] = 1
        np.testing.assert_allclose(to_numpy(He), hermite_e.hermeval(z, coef), rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(to_numpy(h) * math.sqrt(math.factorial(k)), to_numpy(He), rtol=1e-12)


def test_multi_indices_order_and_count():
    assert fastrep.multi_indices(2, 2).tolist() == [[0, 0], [1, 0], [0, 1], [2, 0], [1, 1], [0, 2]]
    for r, p in [(1, 5), (3, 4), (4, 4), (5, 3)]:
        a = fastrep.multi_indices(r, p)
        assert len(a) == math.comb(r + p, p)
        assert len({tuple(x) for x in a}) == len(a)
        deg = a.sum(1)
        assert np.all(np.diff(deg) >= 0) and deg.max() == p
        ex = fastrep.multi_indices(r, p, exact=True)
        assert len(ex) == math.comb(r + p - 1, p) and np.all(ex.sum(1) == p)
    assert len(fastrep.multi_indices(4, 4)) == 70


@given(
    Z=hnp.arrays(
        dtype=st.sampled_from([np.float32, np.float64]),
        shape=hnp.array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=9),
        elements=st.floats(-5, 5, width=32),
    ),
    p=st.integers(0, 5),
    transpose=st.booleans(),
    step=st.integers(1, 2),
)
def test_property_shapes_dtypes_noncontiguous(Z, p, transpose, step):
    if transpose:
        Z = Z.T
    Z = Z[::step]
    alphas = fastrep.multi_indices(Z.shape[1], p)
    want = reference.hermite_features(Z.astype(np.float64), alphas)
    for b in [b for b, s in fastrep.backends().items() if s == "available" and b != "cupy"]:
        got = fastrep.hermite_features(Z, alphas, backend=b)
        assert got.shape == (Z.shape[0], len(alphas)) and got.dtype == Z.dtype
        assert _scaled_err(got, want) <= 50 * RTOL[Z.dtype]


def test_integer_input_becomes_float64():
    got = fastrep.hermite_features(np.array([[1, 2], [0, -1]]), [[1, 1], [2, 0]])
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, [[2.0, 0.0], [0.0, -1 / math.sqrt(2)]])


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_rejects_nonfinite(bad):
    Z = np.zeros((4, 2))
    Z[2, 1] = bad
    with pytest.raises(ValueError, match="Z contains NaN or inf"):
        fastrep.hermite_features(Z, [[1, 0]])


def test_rejects_bad_alphas():
    Z = np.zeros((4, 2))
    with pytest.raises(ValueError, match="non-negative"):
        fastrep.hermite_features(Z, [[1, -1]])
    with pytest.raises(ValueError, match="non-negative integers"):
        fastrep.hermite_features(Z, [[1.5, 0]])
    with pytest.raises(ValueError, match="alphas has 3 columns but Z has 2"):
        fastrep.hermite_features(Z, [[1, 0, 0]])
    with pytest.raises(TypeError, match="alphas must be an integer array"):
        fastrep.hermite_features(Z, [["a", "b"]])


def test_rejects_bad_shapes_and_backend():
    with pytest.raises(ValueError, match=r"Z must be 2-D; got an array of shape \(2, 2, 2\)"):
        fastrep.hermite_features(np.zeros((2, 2, 2)), [[1, 0]])
    with pytest.raises(ValueError, match="backend must be one of"):
        fastrep.hermite_features(np.zeros((2, 2)), [[1, 0]], backend="fortran")
    with pytest.raises(TypeError, match="Z must be a real float array"):
        fastrep.hermite_features(np.zeros((2, 2), dtype=complex), [[1, 0]])
    with pytest.raises(ValueError, match="k must be >= 0"):
        fastrep.hermite(np.zeros(3), -1)


def test_missing_backend_is_a_clear_error():
    if fastrep.backends()["cupy"] == "available":
        pytest.skip("CuPy works here")
    with pytest.raises(fastrep.BackendUnavailableError, match="cupy"):
        fastrep.hermite_features(np.zeros((2, 2)), [[1, 0]], backend="cupy")
