"""fastrep's ridge=λ is scikit-learn's alpha = n·λ, for every estimator (as the docstrings and the
README say): kernel ridge against sklearn.kernel_ridge.KernelRidge on the same Gram matrix, the
second layer of Algorithm 1 and the oracle against sklearn.linear_model.Ridge on the same features."""

import numpy as np
import pytest
from sklearn.kernel_ridge import KernelRidge
from sklearn.linear_model import Ridge

import fastrep
from fastrep.hermite import hermite_features

LAM = 1e-3


@pytest.fixture(scope="module")
def data():
    t = fastrep.MultiIndexTarget.separation(d=6, seed=0, noise=0.1)
    s = fastrep.GaussianStream(t, seed=3, dtype=np.float64)
    X, y = s.take(300)
    Xt, _ = s.test().take(50)
    return t, X, y, Xt


@pytest.mark.parametrize("cls, kernel", [(fastrep.NTKRegressor, fastrep.ntk_kernel),
                                         (fastrep.NNGPRegressor, fastrep.nngp_kernel)])
def test_kernel_ridge_is_kernelridge_with_alpha_n_lambda(data, cls, kernel):
    _, X, y, Xt = data
    ours = cls(ridge=LAM, solver="cholesky").fit(X, y).predict(Xt)
    ref = KernelRidge(alpha=len(y) * LAM, kernel="precomputed").fit(kernel(X), y).predict(kernel(Xt, X))
    np.testing.assert_allclose(ours, ref, rtol=1e-9, atol=1e-12)
    other = KernelRidge(alpha=LAM, kernel="precomputed").fit(kernel(X), y).predict(kernel(Xt, X))
    assert np.max(np.abs(ours - other)) > 1e-3  # the factor n matters


@pytest.mark.parametrize("cls", [fastrep.OneStepNetwork, fastrep.RandomFeaturesRegressor])
def test_second_layer_is_ridge_with_alpha_n_lambda(data, cls):
    _, X, y, _ = data
    net = cls(width=40, ridge=LAM, dtype=np.float64, seed=1).fit(X, y)
    W = np.asarray(net.W_, dtype=np.float64)
    Phi = np.maximum(X @ W.T + net.b_, 0.0)
    y_hat = y - net.label_mean_ - X @ net.label_linear_  # Algorithm 1's centered labels
    ref = Ridge(alpha=len(y) * LAM, fit_intercept=False, solver="cholesky").fit(Phi, y_hat).coef_
    np.testing.assert_allclose(net.a_, ref, rtol=1e-7, atol=1e-9)


def test_oracle_is_ridge_with_alpha_n_lambda(data):
    t, X, y, _ = data
    oracle = fastrep.OracleRegressor(t, ridge=LAM).fit(X, y)
    H = hermite_features(X @ t.U.T, oracle.alphas_)
    ref = Ridge(alpha=len(y) * LAM, fit_intercept=False, solver="cholesky").fit(H, y).coef_
    np.testing.assert_allclose(oracle.coef_, ref, rtol=1e-9, atol=1e-12)


# the oracle's exact features end at the grid's minimum; the test is about the structure
@pytest.mark.filterwarnings("ignore::fastrep.ridge.RidgeGridEdgeWarning")
def test_ridge_path_is_a_named_structure(data):
    from fastrep.ridge import RidgePath, lambda_grid

    t, X, y, _ = data
    Xv, yv = fastrep.GaussianStream(t, seed=3, dtype=np.float64).val().take(200)
    for model in (fastrep.NTKRegressor().fit(X, y, Xv, yv), fastrep.OneStepNetwork(width=20).fit(X, y),
                  fastrep.OracleRegressor(t).fit(X, y)):
        path = model.ridge_path_
        assert isinstance(path, RidgePath)
        np.testing.assert_array_equal(path.ridge, lambda_grid())
        assert path.score.shape == path.ridge.shape and path.best == model.ridge_
        lams, scores = path  # still unpacks as before
        frame = path.to_frame()
        assert list(frame.columns) == ["ridge", "score"] and len(frame) == len(lams)
    assert getattr(fastrep.NTKRegressor(ridge=LAM).fit(X, y), "ridge_path_", None) is None


@pytest.mark.parametrize("n", [0, 1, 5, 256, 300, 513])
def test_symmetrize_lower_copies_the_lower_triangle_exactly(n):
    from fastrep.ridge import symmetrize_lower

    rng = np.random.default_rng(n)
    A = rng.standard_normal((n, n))
    want = np.tril(A) + np.tril(A, k=-1).T
    got = symmetrize_lower(np, A.copy(), block=128)
    np.testing.assert_array_equal(got, want)
    strict = pytest.importorskip("array_api_strict")
    S = symmetrize_lower(strict, strict.asarray(A), block=128)
    np.testing.assert_array_equal(np.asarray(S), want)
