"""The Nystrom solver's stored K_nM (``store_kernel``): the same alpha as the on-the-fly path,
computed once per fit, decided by the memory budget, refused before allocating when forced
and unaffordable."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

import fastrep
from fastrep._kernels import reference
from fastrep.nystrom import kernel_rows_bytes, preconditioner_bytes

# small problems validate to the grid's edge; that is not what these tests check
pytestmark = pytest.mark.filterwarnings("ignore::fastrep.ridge.RidgeGridEdgeWarning")


def _data(n, d, seed=0, dtype=np.float64):
    target = fastrep.MultiIndexTarget.separation(d=d, seed=seed)
    X, y = fastrep.GaussianStream(target, seed=seed + 1, dtype=dtype).take(n)
    return X, y


@pytest.mark.parametrize("ridge", [1e-5, "validate"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_stored_and_on_the_fly_kernels_give_the_same_alpha(ridge, dtype):
    X, y = _data(700, 5, dtype=dtype)
    tol = 1e-10 if dtype == np.float64 else 1e-5
    kw = dict(ridge=ridge, solver="nystrom", n_centers=100, tol=tol, max_iter=200, dtype=dtype)
    fly = fastrep.NTKRegressor(store_kernel=False, **kw).fit(X, y)  # validate: a held-out 10%
    kept = fastrep.NTKRegressor(store_kernel=True, **kw).fit(X, y)
    assert (fly.kernel_stored_, kept.kernel_stored_) == (False, True)
    assert kept.ridge_ == fly.ridge_
    np.testing.assert_array_equal(kept.X_fit_, fly.X_fit_)
    scale = np.max(np.abs(fly.dual_coef_))
    np.testing.assert_allclose(kept.dual_coef_, fly.dual_coef_, rtol=0, atol=100 * tol * scale)
    if ridge == "validate":
        np.testing.assert_allclose(kept.ridge_path_.score, fly.ridge_path_.score, rtol=1e-6)


def test_with_validation_data_the_stored_kernel_serves_every_lambda():
    X, y = _data(900, 4)
    Xv, yv = _data(300, 4, seed=5)
    kw = dict(solver="nystrom", n_centers=120, tol=1e-10, max_iter=200)
    fly = fastrep.NTKRegressor(store_kernel=False, **kw).fit(X, y, Xv, yv)
    kept = fastrep.NTKRegressor(store_kernel=True, **kw).fit(X, y, Xv, yv)
    assert kept.ridge_ == fly.ridge_
    np.testing.assert_allclose(kept.predict(Xv), fly.predict(Xv), rtol=1e-7, atol=1e-9)


def _count_normal_products(monkeypatch):
    calls = []
    real = reference.kernel_normal_matvec

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(reference, "kernel_normal_matvec", counting)
    return calls


def test_a_stored_kernel_is_never_recomputed_by_the_iterations(monkeypatch):
    X, y = _data(400, 4)
    calls = _count_normal_products(monkeypatch)
    kw = dict(ridge="validate", solver="nystrom", n_centers=60, backend="reference", max_iter=30)
    fastrep.NTKRegressor(store_kernel=False, **kw).fit(X, y)
    assert len(calls) > 9  # every iteration of the 9 lambdas and of the refit recomputes K_nM
    calls.clear()
    fastrep.NTKRegressor(store_kernel=True, **kw).fit(X, y)
    assert calls == []


def test_the_budget_decides_whether_the_kernel_is_stored(monkeypatch):
    n, d, M = 1500, 4, 100
    X, y = _data(n, d)
    pc = preconditioner_bytes({"ridge": reference}, M, d, 8)
    store = kernel_rows_bytes(n, M, 8)
    assert store > 4 * pc
    kw = dict(ridge=1e-4, solver="nystrom", n_centers=M, max_iter=30, backend="reference")
    calls = _count_normal_products(monkeypatch)
    tight = fastrep.NTKRegressor(max_memory=pc + store // 2, **kw).fit(X, y)  # the preconditioner fits
    assert tight.kernel_stored_ is False and calls
    calls.clear()
    roomy = fastrep.NTKRegressor(max_memory=2 * (pc + store), **kw).fit(X, y)
    assert roomy.kernel_stored_ is True and calls == []
    np.testing.assert_allclose(roomy.predict(X[:50]), tight.predict(X[:50]), rtol=1e-6, atol=1e-8)


def test_store_kernel_true_that_cannot_fit_is_refused_before_any_allocation():
    n, d, M = 40_000, 3, 2000
    X, y = _data(n, d)
    budget = 100e6  # the preconditioner (32 MB) fits 80% of it, K_nM (640 MB) does not
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        with pytest.raises(ValueError, match=r"max_memory=100000000 bytes is too small for "
                                             r"store_kernel=True: K_nM \(40000 x 2000 float64\) "
                                             r"needs 640000000 bytes"):
            fastrep.NTKRegressor(ridge=1e-3, solver="nystrom", n_centers=M, max_memory=budget,
                                 store_kernel=True).fit(X, y)
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    assert peak < 20 * X.nbytes  # the data's validation copies; nothing of K_nM's or K_MM's size


@pytest.mark.parametrize("value", ["yes", 1, None])
def test_store_kernel_accepts_auto_true_or_false(value):
    X, y = _data(50, 3)
    with pytest.raises((ValueError, TypeError), match="store_kernel must be"):
        fastrep.NTKRegressor(solver="nystrom", n_centers=10, store_kernel=value).fit(X, y)
