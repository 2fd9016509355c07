"""Metrics refuse what they cannot score: wrong-shape or non-finite predictions, a U without
orthonormal rows."""

import math

import numpy as np
import pytest

from fastrep import MultiIndexTarget
from fastrep.metrics import excess_error, principal_angles, subspace_alignment


class _Model:
    """Predicts f* exactly, in the shape ``shape(n)`` returns."""

    def __init__(self, target, shape=lambda n: (n,), value=None):
        self.target, self.shape, self.value = target, shape, value

    def predict(self, X):
        f = np.asarray(self.target.f(X), dtype=np.float64)
        if self.value is not None:
            f = np.full_like(f, self.value)
        return f.reshape(self.shape(len(f)))


@pytest.fixture
def target():
    return MultiIndexTarget.separation(8, seed=1)


def test_a_perfect_model_scores_zero(target):
    assert excess_error(_Model(target), target, n_test=500) == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize(
    "shape", [lambda n: (n, 1), lambda n: (1, n), lambda n: (n // 2, 2)], ids=["n1", "1n", "half"]
)
def test_excess_error_refuses_wrong_shapes(target, shape):
    with pytest.raises(ValueError, match=r"shape \(500,\)"):
        excess_error(_Model(target, shape), target, n_test=500)


@pytest.mark.parametrize("value", [math.nan, math.inf])
def test_excess_error_refuses_non_finite_predictions(target, value):
    with pytest.raises(ValueError, match="finite"):
        excess_error(_Model(target, value=value), target, n_test=100)


def test_alignment_and_angles_need_orthonormal_rows(target):
    rng = np.random.default_rng(0)
    W = rng.standard_normal((30, target.d))
    U = np.asarray(target.U)
    assert 0 <= subspace_alignment(W, U) <= 1
    assert subspace_alignment(U, U) == pytest.approx(1.0)
    for bad in (2.5 * U, U + 0.1 * rng.standard_normal(U.shape), np.vstack([U[0], U[0]])):
        with pytest.raises(ValueError, match="orthonormal"):
            subspace_alignment(W, bad)
        with pytest.raises(ValueError, match="orthonormal"):
            principal_angles(W, bad)
    assert np.allclose(principal_angles(U, U), 0, atol=1e-7)


@pytest.mark.parametrize("scale", [1e200, 1e-200])
def test_alignment_and_angles_of_large_and_small_finite_weights(target, scale):
    """Scaling W does not change its alignment or its angles: finite for any finite W (the
    squared norms once overflowed to inf, or underflowed to 0, giving NaN or 'no non-zero row')."""
    W = np.random.default_rng(0).standard_normal((10, target.d))
    want = subspace_alignment(W, target.U)
    assert subspace_alignment(scale * W, target.U) == pytest.approx(want, rel=1e-12)
    angles = principal_angles(W, target.U)
    np.testing.assert_allclose(principal_angles(scale * W, target.U), angles, atol=1e-10)
