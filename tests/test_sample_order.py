"""A row's prediction and the other rows of the call (issue 28).

float64: scikit-learn's ``check_methods_sample_order_invariance`` passes on every CPU backend.
float32: a row's prediction may change in its last bits with its position among the rows (the
BLAS rounds a row's products differently by where it falls in its blocks); making it
position-independent bit for bit (fixed 16-row GEMM tiles) cost 9x in predict here, so the
learners declare the check as an expected failure (``expected_failed_checks()``) and state the
bound that holds instead, tested here on every CPU backend.
"""

import numpy as np
import pytest
from sklearn.utils.estimator_checks import check_estimator, check_methods_sample_order_invariance

import fastrep

CPU_BACKENDS = [b for b in ("reference", "cpp", "numba") if fastrep.backends().get(b) == "available"]
CLASSES = [fastrep.OneStepNetwork, fastrep.RandomFeaturesRegressor]


def _bound(model, X):
    """4 (d + m + 2) eps times the sum of the magnitudes of every term of each row's prediction."""
    eps = np.finfo(np.dtype(model.dtype)).eps
    X64 = np.asarray(X, np.float64)
    pre = np.abs(X64) @ np.abs(model.W_).T + np.abs(model.b_)
    phi = np.maximum(X64 @ model.W_.T + model.b_, 0)
    linear = np.abs(X64) @ np.abs(model.label_linear_) + abs(model.label_mean_)
    terms = (pre + phi) @ np.abs(model.a_) + linear
    d, m = X.shape[1], model.W_.shape[0]
    return 4 * (d + m + 2) * eps * terms


@pytest.mark.parametrize("backend", CPU_BACKENDS)
@pytest.mark.parametrize("cls", CLASSES)
def test_float32_rows_agree_within_the_stated_bound_in_any_order(cls, backend):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((311, 7)).astype(np.float32)
    y = (X[:, 0] * X[:, 1] + X[:, 2] ** 2).astype(np.float32)
    model = cls(width=64, backend=backend, ridge=1e-4).fit(X, y)
    ref = model.predict(X)
    bound = _bound(model, X)
    for seed in range(5):
        p = np.random.default_rng(seed).permutation(len(X))
        got = model.predict(X[p])
        diff = np.abs(got.astype(np.float64) - ref[p].astype(np.float64))
        assert np.all(diff <= bound[p]), float(np.max(diff / bound[p]))
    for k in (1, 2, 17):  # a row alone, or among a few others
        diff = np.abs(model.predict(X[:k]).astype(np.float64) - ref[:k])
        np.testing.assert_array_less(diff, bound[:k] + 1e-300)


@pytest.mark.filterwarnings("ignore::fastrep.ridge.RidgeGridEdgeWarning")
@pytest.mark.parametrize("backend", CPU_BACKENDS)
@pytest.mark.parametrize("cls", CLASSES)
def test_float64_passes_the_sample_order_check_and_float32_declares_it(cls, backend):
    est64 = cls(width=16, dtype=np.float64, backend=backend)
    check_methods_sample_order_invariance(cls.__name__, est64)
    assert est64.expected_failed_checks() == {}
    declared = cls(width=16, backend=backend).expected_failed_checks()
    assert list(declared) == ["check_methods_sample_order_invariance"]
    assert "4 (d + m + 2) eps" in declared["check_methods_sample_order_invariance"]


@pytest.mark.filterwarnings("ignore::fastrep.ridge.RidgeGridEdgeWarning")
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.SkipTestWarning")
def test_check_estimator_with_the_declared_failures_passes():
    est = fastrep.RandomFeaturesRegressor(width=16, backend=CPU_BACKENDS[-1])
    check_estimator(est, expected_failed_checks=est.expected_failed_checks())
