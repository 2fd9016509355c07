"""NTKRegressor / NNGPRegressor: the exact solver against SciPy on the same Gram matrix, the
Nystrom solver against the exact one, the lambda path, jitter, blocked memory, bad input,
scikit-learn compatibility and the kernel half of the separation phenomenon."""

from __future__ import annotations

import tracemalloc
import warnings

import numpy as np
import pytest
import scipy.linalg

import fastrep
from fastrep import kernel_ridge as kr
from fastrep.ridge import lambda_grid

REGRESSORS = {"ntk": fastrep.NTKRegressor, "nngp": fastrep.NNGPRegressor}
GRAM = {"ntk": fastrep.ntk_kernel, "nngp": fastrep.nngp_kernel}


def _data(n, d, seed=0, noise=0.1):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    f = np.sin(X[:, 0]) + X[:, 1] * X[:, 2] + 0.5 * X[:, -1] ** 2
    return X, f + noise * rng.standard_normal(n), f


# --- exact solver -----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["ntk", "nngp"])
@pytest.mark.parametrize("ridge", [1e-2, 1e-6])
def test_cholesky_matches_scipy_solve(kind, ridge):
    X, y, _ = _data(300, 6)
    n = len(y)
    model = REGRESSORS[kind](ridge=ridge, solver="cholesky", beta=0.8).fit(X, y)
    K = GRAM[kind](X, beta=0.8)
    alpha = scipy.linalg.solve(K + n * ridge * np.eye(n), y, assume_a="pos")
    assert model.solver_ == "cholesky" and model.ridge_ == ridge and model.n_iter_ == 1
    np.testing.assert_allclose(model.dual_coef_, alpha, rtol=1e-8, atol=1e-10 * np.abs(alpha).max())
    assert model.residual_ < 1e-10
    Xt = np.random.default_rng(9).standard_normal((50, 6))
    np.testing.assert_allclose(model.predict(Xt), GRAM[kind](Xt, X, beta=0.8) @ alpha, rtol=1e-8, atol=1e-10)


def test_cholesky_float32_matches_scipy_on_float32_gram():
    X, y, _ = _data(200, 5)
    model = fastrep.NTKRegressor(ridge=1e-3, solver="cholesky", dtype=np.float32).fit(X, y)
    K = fastrep.ntk_kernel(X.astype(np.float32)).astype(np.float64)
    alpha = scipy.linalg.solve(K + 200 * 1e-3 * np.eye(200), y, assume_a="pos")
    assert model.dual_coef_.dtype == np.float32
    np.testing.assert_allclose(model.dual_coef_, alpha, rtol=2e-3, atol=2e-4 * np.abs(alpha).max())
    assert model.predict(X).dtype == np.float64


# a noiseless target: the chosen lambda is the grid's minimum
@pytest.mark.filterwarnings("ignore::fastrep.ridge.RidgeGridEdgeWarning")
def test_validate_path_equals_a_direct_solve_at_the_chosen_lambda():
    X, y, f = _data(300, 6, seed=1)
    Xv, yv, _ = _data(200, 6, seed=2)
    model = fastrep.NTKRegressor().fit(X, y, Xv, yv)
    lams, scores = model.ridge_path_
    assert np.array_equal(lams, lambda_grid())
    assert model.ridge_ == lams[np.argmin(scores)]
    K = fastrep.ntk_kernel(X)
    alpha = scipy.linalg.solve(K + 300 * model.ridge_ * np.eye(300), y, assume_a="pos")
    np.testing.assert_allclose(model.predict(Xv), fastrep.ntk_kernel(Xv, X) @ alpha, rtol=1e-6, atol=1e-8)
    # the validation scores are the validation MSEs of those solutions
    np.testing.assert_allclose(scores.min(), np.mean((model.predict(Xv) - yv) ** 2), rtol=1e-6)
    assert model.residual_ < 1e-6


def test_gcv_without_validation_data_matches_brute_force():
    X, y, _ = _data(120, 4, seed=3)
    n = len(y)
    model = fastrep.NNGPRegressor(ridge="validate", solver="cholesky").fit(X, y)
    K = fastrep.nngp_kernel(X)
    lams, scores = model.ridge_path_
    for k in (10, 40, 60, 90):
        H = K @ np.linalg.inv(K + n * lams[k] * np.eye(n))  # the hat matrix
        rss = np.sum((y - H @ y) ** 2)
        gcv = (rss / n) / (1 - np.trace(H) / n) ** 2
        assert gcv == pytest.approx(scores[k], rel=1e-5)
    assert model.ridge_ == lams[np.argmin(scores)]


def test_jitter_escalates_with_a_warning():
    rng = np.random.default_rng(4)
    n = 60
    V = np.linalg.qr(rng.standard_normal((n, n)))[0]
    s = rng.uniform(0.5, 2.0, n)
    s[-1] = -1e-13  # a rounding-sized negative eigenvalue: not numerically positive definite
    K = np.ascontiguousarray((V * s) @ V.T)
    K = (K + K.T) / 2
    K0 = K.copy()
    cpp = fastrep.backend.get_backend("cpp")  # the factorization is an Op of the backend now
    with pytest.warns(kr.JitterWarning, match="retrying with jitter"):
        L, jitter = cpp.cholesky(K, overwrite_a=True, what="the test matrix")
    assert jitter > 1e-13
    np.testing.assert_array_equal(L, np.tril(L))
    np.testing.assert_allclose(L @ L.T, K0 + jitter * np.eye(n), atol=1e-12)


def test_jitter_warning_through_fit(monkeypatch):
    X, y, _ = _data(80, 4)
    K = fastrep.ntk_kernel(X)
    w, V = np.linalg.eigh(K)
    w[0] = -1e-12 * w[-1]
    bad = np.ascontiguousarray((V * w) @ V.T)
    bad = (bad + bad.T) / 2

    cpp = fastrep.backend.get_backend("cpp")
    monkeypatch.setattr(cpp, "kernel_gram", lambda X1, X2, beta, kind, out=None: bad.copy())
    with pytest.warns(kr.JitterWarning):
        model = fastrep.NTKRegressor(ridge=1e-16, solver="cholesky", backend="cpp").fit(X, y)
    assert model.jitter_ > 0


def test_large_float64_factorizations_avoid_the_crashing_openblas_threads():
    import contextlib

    from threadpoolctl import threadpool_info

    from fastrep._kernels import _linalg as la  # the CPU backends' LAPACK calls live there

    assert isinstance(la.safe_threads(np.float32, 50_000), contextlib.nullcontext)
    assert isinstance(la.safe_threads(np.float64, la.SAFE_THREADED_N), contextlib.nullcontext)
    fragile = [i for i in threadpool_info() if i.get("internal_api") == "openblas"
               and str(i.get("architecture", "")).lower() in la.FRAGILE_OPENBLAS]
    before = [i["num_threads"] for i in threadpool_info() if i.get("user_api") == "blas"]
    ctx = la.safe_threads(np.float64, la.SAFE_THREADED_N + 1)  # threadpool_limits acts on creation
    if not fragile:
        assert isinstance(ctx, contextlib.nullcontext)
        return
    with ctx:
        assert all(i["num_threads"] == 1 for i in threadpool_info() if i.get("user_api") == "blas")
    assert [i["num_threads"] for i in threadpool_info() if i.get("user_api") == "blas"] == before


# --- Nystrom ----------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["ntk", "nngp"])
def test_nystrom_with_all_centres_agrees_with_cholesky(kind):
    X, y, _ = _data(400, 6, seed=5)
    Xt, _, _ = _data(100, 6, seed=6)
    exact = REGRESSORS[kind](ridge=1e-4, solver="cholesky").fit(X, y)
    nys = REGRESSORS[kind](ridge=1e-4, solver="nystrom", n_centers=400, tol=1e-12, max_iter=50).fit(X, y)
    assert nys.solver_ == "nystrom" and nys.n_iter_ >= 1 and nys.residual_ <= 1e-12
    pe, pn = exact.predict(Xt), nys.predict(Xt)
    assert np.max(np.abs(pe - pn)) <= 1e-6 * np.max(np.abs(pe))


def test_nystrom_error_decreases_with_more_centres():
    X, y, _ = _data(500, 6, seed=7)
    Xt, _, _ = _data(200, 6, seed=8)
    exact = fastrep.NTKRegressor(ridge=1e-5, solver="cholesky").fit(X, y).predict(Xt)
    errs = []
    for M in (20, 80, 300):
        e = [np.mean((fastrep.NTKRegressor(ridge=1e-5, solver="nystrom", n_centers=M, seed=s, tol=1e-8,
                                           max_iter=300).fit(X, y).predict(Xt) - exact) ** 2) for s in (0, 1)]
        errs.append(np.mean(e))
    assert errs[0] > errs[1] > errs[2]
    assert errs[2] < 0.2 * errs[0]


def test_nystrom_reports_iterations_and_warns_when_not_converged():
    X, y, _ = _data(300, 5)
    with pytest.warns(fastrep.kernel_ridge.ConvergenceWarning, match="stopped after 1 iterations"):
        model = fastrep.NTKRegressor(ridge=1e-8, solver="nystrom", n_centers=100, tol=1e-14, max_iter=1)
        model.fit(X, y)
    assert model.n_iter_ == 1 and model.residual_ > 1e-14


# a noiseless target: the chosen lambda is the Nystrom grid's minimum
@pytest.mark.filterwarnings("ignore::fastrep.ridge.RidgeGridEdgeWarning")
def test_nystrom_validate_with_and_without_validation_data():
    X, y, f = _data(400, 5, seed=9)
    Xv, yv, fv = _data(200, 5, seed=10)
    a = fastrep.NTKRegressor(solver="nystrom", n_centers=100).fit(X, y, Xv, yv)
    lams, scores = a.ridge_path_
    assert a.ridge_ == lams[np.argmin(scores)] and len(lams) == len(kr.NYSTROM_GRID)
    b = fastrep.NTKRegressor(solver="nystrom", n_centers=100).fit(X, y)
    assert b.ridge_ in kr.NYSTROM_GRID
    for m in (a, b):  # both learn the target well
        assert np.mean((m.predict(Xv) - fv) ** 2) < 0.2 * np.var(fv)


def test_nystrom_fit_and_predict_never_form_n_by_m():
    X, y, _ = _data(10_000, 5, seed=11)
    M = 200
    model = fastrep.NTKRegressor(ridge=1e-4, solver="nystrom", n_centers=M, block_size=256, max_iter=50,
                                 tol=1e-3, store_kernel=False)
    tracemalloc.start()
    try:
        model.fit(X, y)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        Xt = np.random.default_rng(0).standard_normal((20_000, 5))
        base = tracemalloc.get_traced_memory()[0]
        model.predict(Xt)
        _, peak_pred = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    full = 10_000 * M * 8  # what one K_nM would take: 16 MB
    assert peak < full / 4, peak
    assert peak_pred - base < 20_000 * M * 8 / 4, peak_pred - base


def test_exact_predictions_are_blocked():
    X, y, _ = _data(2_000, 4)
    model = fastrep.NNGPRegressor(ridge=1e-3, solver="cholesky", block_size=500).fit(X, y)
    Xt = np.random.default_rng(1).standard_normal((10_000, 4))
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        p = model.predict(Xt)
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    assert peak < 10_000 * 2_000 * 8 / 5  # the full (n_test, n) matrix would be 160 MB
    np.testing.assert_allclose(p[:300], fastrep.nngp_kernel(Xt[:300], X) @ model.dual_coef_, rtol=1e-10)


def test_default_centres_follow_the_rule_within_the_memory_budget():
    from fastrep.nystrom import centers_needed

    X, y, _ = _data(3000, 3)
    budget = 1.3 * 500 * 500 * 8 / 0.8  # the rule wants 2916 centres; room for about 570
    with pytest.warns(UserWarning, match="M, not n, limits the error"):
        model = fastrep.NTKRegressor(ridge=1e-3, solver="nystrom", max_memory=budget).fit(X, y)
    M = model.X_fit_.shape[0]
    assert model.centers_limited_ and M == model.n_centers_ < model.n_centers_needed_ == 2916
    assert M * M * 8 <= 0.8 * budget < (M + M // 20) ** 2 * 8  # one M x M float64 buffer, nearly full
    unlimited = fastrep.NTKRegressor(ridge=1e-3, solver="nystrom").fit(X, y)
    assert unlimited.X_fit_.shape[0] == centers_needed(3000, 3)[0] == unlimited.n_centers_needed_
    assert not unlimited.centers_limited_
    explicit = fastrep.NTKRegressor(ridge=1e-3, solver="nystrom", n_centers=100).fit(X, y)  # no warning
    assert explicit.centers_limited_ and explicit.n_centers_ == 100


def test_auto_picks_by_size_and_memory():
    X, y, _ = _data(300, 4)
    assert fastrep.NTKRegressor(ridge=1e-3).fit(X, y).solver_ == "cholesky"
    # a budget below the 300 x 300 Gram matrix (and its workspace) sends auto to nystrom
    small = fastrep.NTKRegressor(ridge=1e-3, max_memory=1_000_000, n_centers=100).fit(X, y)
    assert small.solver_ == "nystrom"


# --- bad input --------------------------------------------------------------------------------


def test_rejects_nan():
    X, y, _ = _data(50, 3)
    Xb = X.copy()
    Xb[3, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        fastrep.NTKRegressor().fit(Xb, y)
    yb = y.copy()
    yb[0] = np.inf
    with pytest.raises(ValueError, match="inf|NaN"):
        fastrep.NTKRegressor().fit(X, yb)
    model = fastrep.NTKRegressor(ridge=1e-3).fit(X, y)
    with pytest.raises(ValueError, match="NaN"):
        model.predict(Xb)


def test_rejects_mismatched_d():
    X, y, _ = _data(50, 3)
    model = fastrep.NTKRegressor(ridge=1e-3).fit(X, y)
    with pytest.raises(ValueError, match="X has 4 features, but NTKRegressor is expecting 3"):
        model.predict(np.ones((5, 4)))
    with pytest.raises(ValueError, match="4 features"):
        fastrep.NTKRegressor().fit(X, y, np.ones((5, 4)), np.ones(5))
    with pytest.raises(ValueError, match="X_val and y_val must be given together"):
        fastrep.NTKRegressor().fit(X, y, X_val=X)


def test_rejects_nonpositive_ridge_with_singular_gram():
    X, y, _ = _data(40, 3)
    X = np.vstack([X, X[:5]])  # duplicated rows: a singular Gram matrix
    y = np.concatenate([y, y[:5]])
    with pytest.raises(ValueError, match="singular to working precision"):
        fastrep.NTKRegressor(ridge=0.0, solver="cholesky").fit(X, y)
    with pytest.raises(ValueError, match="ridge must be 'validate' or a finite number >= 0"):
        fastrep.NTKRegressor(ridge=-1e-3).fit(X, y)
    # a positive ridge handles the same data
    assert fastrep.NTKRegressor(ridge=1e-6, solver="cholesky").fit(X, y).residual_ < 1e-8


def test_ridge_zero_interpolates_a_nonsingular_gram():
    X, y, _ = _data(60, 4)
    model = fastrep.NTKRegressor(ridge=0.0, solver="cholesky").fit(X, y)
    np.testing.assert_allclose(model.predict(X), y, atol=1e-6)


def test_rejects_more_centres_than_samples():
    X, y, _ = _data(50, 3)
    with pytest.raises(ValueError, match="n_centers=60 must be <= the number of training samples n=50"):
        fastrep.NTKRegressor(ridge=1e-3, solver="nystrom", n_centers=60).fit(X, y)


def test_rejects_a_budget_too_small_for_one_block():
    X, y, _ = _data(500, 3)
    # the preconditioner (one 100 x 100 float64 buffer on the CPU) may take 80% of the budget
    with pytest.raises(ValueError, match=r"too small for n_centers=100: the Nystrom preconditioner alone "
                                         r"needs \d+ bytes"):
        fastrep.NTKRegressor(ridge=1e-3, solver="nystrom", n_centers=100,
                             max_memory=100 * 100 * 8 + 100).fit(X, y)
    with pytest.raises(ValueError, match="n_centers=100"):
        fastrep.NTKRegressor(ridge=1e-3, solver="nystrom", n_centers=100, max_memory=1000).fit(X, y)
    model = fastrep.NTKRegressor(ridge=1e-3, solver="cholesky").fit(X, y)
    model.set_params(max_memory=100)  # a budget set after fitting binds predictions too
    with pytest.raises(ValueError, match="too small for even one block"):
        model.predict(X)


def test_cholesky_refuses_a_gram_matrix_over_budget():
    X, y, _ = _data(400, 3)
    with pytest.raises(ValueError, match="use solver='nystrom'"):
        fastrep.NTKRegressor(ridge=1e-3, solver="cholesky", max_memory=400 * 400 * 8).fit(X, y)


@pytest.mark.parametrize(
    "params,match",
    [
        ({"ridge": "gcv"}, "ridge must be 'validate'"),
        ({"ridge": [1.0]}, "ridge must be 'validate'"),
        ({"solver": "qr"}, "solver must be 'auto', 'cholesky' or 'nystrom'"),
        ({"beta": -1.0}, "beta must be a finite number >= 0"),
        ({"n_centers": 0}, "n_centers must be >= 1"),
        ({"block_size": 2.5}, "block_size must be an integer"),
        ({"max_memory": -5}, "max_memory must be a positive number"),
        ({"dtype": np.int32}, "dtype must be float32 or float64"),
        ({"tol": 2.0}, "tol must be a number in"),
        ({"max_iter": 0}, "max_iter must be >= 1"),
    ],
)
def test_rejects_bad_parameters(params, match):
    X, y, _ = _data(20, 3)
    with pytest.raises((ValueError, TypeError), match=match):
        fastrep.NTKRegressor(**params).fit(X, y)


# --- scikit-learn -----------------------------------------------------------------------------


def test_scikit_learn_estimator_checks():
    from sklearn.utils.estimator_checks import check_estimator

    for cls in (fastrep.NTKRegressor, fastrep.NNGPRegressor):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # sklearn's own checks warn about themselves
            results = check_estimator(cls(), on_fail=None)
        failed = {r["check_name"]: r["exception"] for r in results if r["status"] == "failed"}
        assert not failed, failed


def test_clone_and_params():
    from sklearn.base import clone

    m = fastrep.NTKRegressor(ridge=0.5, solver="nystrom", n_centers=10, seed=3)
    c = clone(m)
    assert c.get_params() == m.get_params()


# --- the phenomenon, the kernel's half ----------------------------------------------------


@pytest.mark.slow
def test_ntk_does_not_reach_algorithm_1_at_d32_n16000():
    """The kernel half of the separation (the paper) at d = 32, n = 16000 = d^2.8:
    exact NTK ridge over a ridge grid (one Cholesky each, about a minute at this n on 2 cores;
    ridge='validate' would eigendecompose the 16000 x 16000 Gram matrix, tens of minutes) does not
    reach the excess error 0.15 that Algorithm 1 reaches on the same data (tests/test_network.py).

    Measured here (separation(32, seed=0), data seed 0): 0.219, 0.233, 0.491, 0.968 at ridge 1e-8,
    1e-6, 1e-4, 1e-2; and 0.425 at n = 4000, 0.322 at n = 8000 (ridge 1e-8). So issue 5's "stays
    above 0.3 at n = 16000" does not hold at d = 32: n = 16000 exceeds the C(34, 3) = 5984
    dimensions of the degree-3 polynomials, and the kernel has learned about half of that degree-3
    half of the energy. It does stay well above Algorithm 1, which is what is asserted.
    """
    target = fastrep.MultiIndexTarget.separation(32, seed=0)
    assert target.energy_by_degree()[3] >= 0.4
    stream = fastrep.GaussianStream(target, 0, dtype=np.float64)
    X, y = stream.take(16_000)
    errs = {}
    for lam in (1e-8, 1e-6, 1e-4, 1e-2):
        model = fastrep.NTKRegressor(ridge=lam, solver="cholesky").fit(X, y)
        errs[lam] = fastrep.metrics.excess_error(model, target, n_test=10_000, seed=0)
    assert min(errs.values()) > 0.15, errs  # never at Algorithm 1's level
    assert min(errs.values()) < 0.5, errs  # but it has learned the degree-2 half and more


# --- dtype='auto': the most precise exact solve that fits, else Nystrom -----------------------


@pytest.mark.parametrize("kind", ["ntk", "nngp"])
def test_dtype_auto_picks_the_most_precise_solve_that_fits(kind):
    X, y, _ = _data(300, 5)
    n = len(y)
    cls = REGRESSORS[kind]
    f64_need, f32_need = 2 * n * n * 8, 2 * n * n * 4  # fixed ridge: Gram + workspace
    roomy = cls(ridge=1e-3, dtype="auto").fit(X, y)
    assert (roomy.dtype_, roomy.solver_) == (np.float64, "cholesky")
    np.testing.assert_allclose(roomy.predict(X), cls(ridge=1e-3).fit(X, y).predict(X), rtol=1e-12, atol=1e-12)
    tight = cls(ridge=1e-3, dtype="auto", max_memory=(f64_need + f32_need) / 2).fit(X, y)
    assert (tight.dtype_, tight.solver_) == (np.float32, "cholesky")
    f32 = cls(ridge=1e-3, dtype=np.float32).fit(X, y)
    np.testing.assert_array_equal(tight.predict(X), f32.predict(X))
    # neither fits: float64 Nystrom (its own budget check still applies)
    small = cls(ridge=1e-3, dtype="auto", n_centers=50, max_memory=f32_need / 2).fit(X, y)
    assert (small.dtype_, small.solver_) == (np.float64, "nystrom")
    # an explicit solver is kept: cholesky falls back to float32, then refuses
    assert cls(ridge=1e-3, dtype="auto", solver="cholesky",
               max_memory=(f64_need + f32_need) / 2).fit(X, y).dtype_ == np.float32
    with pytest.raises(ValueError, match="use solver='nystrom'"):
        cls(ridge=1e-3, dtype="auto", solver="cholesky", max_memory=f32_need / 2).fit(X, y)
    assert cls(ridge=1e-3, dtype="auto", solver="nystrom", n_centers=50).fit(X, y).dtype_ == np.float64


def test_dtype_rejects_other_strings():
    X, y, _ = _data(20, 3)
    with pytest.raises(TypeError, match=r"dtype must be float32 or float64.*\(or 'auto'\)"):
        fastrep.NTKRegressor(dtype="automatic").fit(X, y)


def test_dtype_auto_models_evaluate_in_the_precision_that_ran():
    """excess_error and degree_learning draw test inputs in what the fit ran (dtype_), not the
    'auto' parameter (which is no dtype)."""
    from fastrep.diagnostics import degree_learning

    from fastrep.experiments.methods import build_target

    target = build_target({"preset": "separation", "noise": 0.0}, 6, 0)
    X, y = fastrep.GaussianStream(target, seed=1).take(300)
    model = fastrep.NTKRegressor(ridge=1e-6, dtype="auto").fit(X, y)
    from fastrep.metrics import excess_error

    err = excess_error(model, target, n_test=500, seed=2)
    ref = excess_error(fastrep.NTKRegressor(ridge=1e-6).fit(X, y), target, n_test=500, seed=2)
    assert err == pytest.approx(ref, rel=1e-10)
    assert degree_learning(model, target, n=500, seed=2)
