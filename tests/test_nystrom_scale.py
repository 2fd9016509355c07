"""The Nystrom solver at scale: the guarded BLAS layer, Falkon's packed preconditioner, the
centre rule and the memory plan. The crash reproductions (orders of 16384) are ``slow``."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import tracemalloc

import numpy as np
import pytest

import fastrep
from fastrep._kernels import _blas, _falkon, reference
from fastrep.nystrom import centers_needed


@pytest.fixture
def small_tiles(monkeypatch):
    """The blocked routines at small orders: every order above 50 blocked by 32 x 32 tiles."""
    monkeypatch.setattr(_blas, "GUARD_ORDER", 50)
    monkeypatch.setattr(_blas, "TILE", 32)
    monkeypatch.setattr(_blas, "STRIP", 8)


def _spd(n, rng, dtype=np.float64):
    A = rng.standard_normal((n, n + 5))
    return ((A @ A.T) / n + 0.5 * np.eye(n)).astype(dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_blocked_products_match_lapack_and_keep_the_other_triangle(small_tiles, dtype):
    rng = np.random.default_rng(0)
    n = 203  # not a multiple of the tile
    tol = 1e-10 if dtype == np.float64 else 2e-4
    A = rng.standard_normal((150, n)).astype(dtype)
    G = np.full((n, n), 7.0, dtype)
    _blas.gram_tn(A, G)
    ref = A.T.astype(np.float64) @ A.astype(np.float64)
    np.testing.assert_allclose(np.tril(G), np.tril(ref), atol=tol * 150)
    assert np.all(np.triu(G, 1) == np.triu(np.full((n, n), 7.0, dtype), 1))
    _blas.gram_tn(A, G, accumulate=True)
    np.testing.assert_allclose(np.tril(G), 2 * np.tril(ref), atol=tol * 300)

    S = _spd(n, rng, dtype)
    L = np.linalg.cholesky(S.astype(np.float64))
    for lower in (True, False):
        F = np.asfortranarray(S)
        other = np.triu_indices(n, 1) if lower else np.tril_indices(n, -1)
        F[other] = 99.0
        assert _blas.potrf(F, lower=lower) == 0
        got = np.tril(F) if lower else np.triu(F).T
        np.testing.assert_allclose(got, L, atol=tol)
        assert np.all(F[other] == 99.0)
    U = np.triu(rng.standard_normal((n, n))).astype(dtype)
    want = U.astype(np.float64) @ U.T.astype(np.float64)
    for upper in (True, False):
        F = np.asfortranarray(U if upper else U.T)
        other = np.tril_indices(n, -1) if upper else np.triu_indices(n, 1)
        F[other] = 5.0
        _blas.lauum(F, upper=upper)
        got = np.triu(F) if upper else np.tril(F).T
        np.testing.assert_allclose(got, np.triu(want), atol=tol * n)
        assert np.all(F[other] == 5.0)
    bad = np.asfortranarray(S)
    bad[100, 100] = -1.0
    assert _blas.potrf(bad) == 101  # LAPACK's info: the first minor that is not positive definite


def test_calls_measured_to_run_take_the_plain_route_and_the_rest_the_blocked_one(small_tiles, monkeypatch):
    calls = []
    monkeypatch.setattr(_blas, "_potrf_blocked", lambda B, lower: calls.append(("potrf", B.n)) or 0)
    monkeypatch.setattr(_blas, "_lauum_blocked", lambda B, upper: calls.append(("lauum", B.n)))
    monkeypatch.setattr(_blas, "PLAIN_SAFE", {("potrf_lower", "float32"): 80, ("lauum_upper", "float64"): 80})
    rng = np.random.default_rng(4)
    for n, dtype, blocked in [(70, np.float32, False), (90, np.float32, True), (70, np.float64, True)]:
        calls.clear()
        S = np.asfortranarray(_spd(n, rng, dtype))
        want = np.linalg.cholesky(S.astype(np.float64))
        assert _blas.potrf(S) == 0
        assert calls == ([("potrf", n)] if blocked else [])
        if not blocked:
            np.testing.assert_allclose(np.tril(S), want, atol=2e-4)
        calls.clear()
        assert _blas.potrf(np.asfortranarray(_spd(n, rng, dtype)), lower=False) == 0  # the upper one: blocked
        assert calls == [("potrf", n)]
    for n, dtype, blocked in [(70, np.float64, False), (90, np.float64, True), (70, np.float32, True)]:
        calls.clear()
        _blas.lauum(np.asfortranarray(np.triu(_spd(n, rng, dtype))))
        assert calls == ([("lauum", n)] if blocked else [])


def test_the_blocked_routines_refuse_what_they_cannot_do_in_place():
    with pytest.raises(ValueError, match="Fortran-ordered"):
        _blas.potrf(np.eye(3))  # C-ordered
    with pytest.raises(ValueError, match="Fortran-ordered"):
        _blas._Blocks(np.zeros((4, 4), order="C")[:, :3])
    with pytest.raises(TypeError, match="float32 or float64"):
        _blas._Blocks(np.zeros((4, 4), dtype=np.int64, order="F"))


def test_the_guarded_paths_never_set_a_blas_thread_limit(small_tiles, monkeypatch):
    """A thread limit is process-wide: set by one fit it would change a concurrent fit's products."""
    import threadpoolctl

    from fastrep._kernels import _dense, _linalg

    def refuse(*args, **kwargs):
        raise AssertionError("a BLAS thread limit was set")

    monkeypatch.setattr(threadpoolctl, "threadpool_limits", refuse)
    monkeypatch.setattr(threadpoolctl, "ThreadpoolController", refuse)
    monkeypatch.setattr(_linalg, "SAFE_THREADED_N", 50)  # the old one-thread rule's order, scaled down
    rng = np.random.default_rng(3)
    S = _spd(120, rng)
    L, _ = _linalg.cholesky(S.copy(), overwrite_a=True)
    np.testing.assert_allclose(L @ L.T, S, atol=1e-10)
    G = np.zeros((120, 120))
    Phi = rng.standard_normal((70, 120))
    _dense.accumulate_gram(Phi, G)
    np.testing.assert_allclose(np.tril(G), np.tril(Phi.T @ Phi), atol=1e-10)
    assert not np.triu(G, 1).any()  # the blocked route (the plain one fills both triangles)
    P = _linalg.nystrom_preconditioner(S.copy(), jitter=0.0)
    P.set_ridge(1e-3)


@pytest.mark.parametrize("blocked", [False, True])
def test_packed_preconditioner_agrees_with_two_factors(request, blocked):
    if blocked:
        request.getfixturevalue("small_tiles")
    rng = np.random.default_rng(1)
    M, lam = 180, 1e-3
    K = _spd(M, rng)
    packed = _falkon.PackedPreconditioner(K.copy(), jitter=1e-10)
    two = reference.nystrom_preconditioner(K.copy(), jitter=1e-10)
    assert (packed.matrices, two.matrices) == (1, 2)
    for lam_ in (lam, 0.3, lam):  # the ridge can change; T is kept
        packed.set_ridge(lam_)
        two.set_ridge(lam_)
        for _ in range(2):  # the diagonals are swapped in and out
            v = rng.standard_normal(M)
            for trans in (False, True):
                np.testing.assert_allclose(packed.solve_T(v, trans), two.solve_T(v, trans), rtol=1e-8)
                np.testing.assert_allclose(packed.solve_A(v, trans), two.solve_A(v, trans), rtol=1e-8)
    # the factors are the ones Falkon asks for: T^T T = K + jitter, A^T A = T T^T / M + lam I
    Tinv = np.column_stack([packed.solve_T(e) for e in np.eye(M)])
    np.testing.assert_allclose(np.linalg.inv(Tinv @ Tinv.T), K + packed.jitter * np.eye(M), atol=1e-8)


def test_packed_preconditioner_works_in_its_one_buffer():
    rng = np.random.default_rng(2)
    M = 1500  # above the (512, 512) blocks the triangles are copied by
    K = _spd(M, rng)
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        P = _falkon.PackedPreconditioner(K, jitter=0.0)
        P.set_ridge(1e-4)
        for trans in (False, True):
            P.solve_T(np.ones(M), trans)
            P.solve_A(np.ones(M), trans)
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    assert P.F.base is K or np.shares_memory(P.F, K)
    assert peak < 0.5 * M * M * 8  # no second M x M array, not even for a moment


def _data(n, d, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    y = np.tanh(X[:, 0]) + 0.5 * X[:, 1] * X[:, -1] + 0.1 * rng.standard_normal(n)
    return X, y, None


def test_a_fit_through_the_blocked_routines_matches_the_plain_one(monkeypatch):
    X, y, _ = _data(700, 5)
    kw = dict(ridge=1e-4, solver="nystrom", n_centers=260, tol=1e-12, max_iter=200)
    plain = fastrep.NTKRegressor(**kw).fit(X, y)
    monkeypatch.setattr(_blas, "GUARD_ORDER", 64)
    monkeypatch.setattr(_blas, "TILE", 48)
    blocked = fastrep.NTKRegressor(**kw).fit(X, y)
    np.testing.assert_allclose(blocked.predict(X[:50]), plain.predict(X[:50]), rtol=1e-7, atol=1e-9)


def test_the_preconditioner_is_in_the_data_dtype():
    X, y, _ = _data(1500, 4)
    M = 500
    single = fastrep.NTKRegressor(ridge=1e-4, solver="nystrom", n_centers=M, dtype=np.float32, tol=1e-6,
                                  max_iter=200).fit(X, y)
    assert single.preconditioner_dtype_ == np.float32 and single.dual_coef_.dtype == np.float32
    double = fastrep.NTKRegressor(ridge=1e-4, solver="nystrom", n_centers=M, tol=1e-10,
                                  max_iter=200).fit(X, y)
    assert double.preconditioner_dtype_ == np.float64
    np.testing.assert_allclose(single.predict(X[:100]), double.predict(X[:100]), rtol=0, atol=2e-3)
    # what float32 needs: its M x M buffer (and K_nM's blocks), not the float64 one's
    tight = fastrep.NTKRegressor(ridge=1e-4, solver="nystrom", n_centers=M, dtype=np.float32, tol=1e-6,
                                 max_iter=200, max_memory=M * M * 6 / 0.8).fit(X, y)
    assert tight.preconditioner_dtype_ == np.float32 and tight.kernel_stored_ is False


def test_an_unaffordable_n_centers_is_refused_before_any_allocation():
    X, y, _ = _data(48_000, 2)
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        with pytest.raises(ValueError, match=r"max_memory=1000000000 bytes is too small for n_centers=48000: "
                                             r"the Nystrom preconditioner alone needs 18\d{9} bytes"):
            fastrep.NTKRegressor(ridge=1e-3, solver="nystrom", n_centers=48_000, max_memory=1e9).fit(X, y)
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    assert peak < 20 * X.nbytes  # the data's validation copies, nothing of M x M's size (18 GB)


def test_centre_rule_counts_the_eigenspaces_n_samples_resolve():
    # d = 64, n = 1e5: the harmonics of degrees 0..3 (1 + 64 + 2079 + 45696), issue 26's ~C(67, 3)
    assert centers_needed(100_000, 64) == (47_840, 3)
    assert centers_needed(30_000, 32) == (1 + 32 + 527 + 5952, 3)
    assert centers_needed(20_000, 64)[1] == 2  # degree 3 (45696 harmonics) needs more samples
    assert centers_needed(500, 3)[0] == 500  # never more than n
    ms = [centers_needed(n, 16)[0] for n in (2_000, 10_000, 50_000, 200_000)]
    assert ms == sorted(ms) and ms[0] >= 1024
    assert centers_needed(10_000, 2) == (max(1024, 16 * 100), None)  # no harmonics below d = 3


def test_verbose_reports_every_long_stage(capsys):
    X, y, _ = _data(400, 4)
    fastrep.NTKRegressor(ridge=1e-4, solver="nystrom", n_centers=100, verbose=True).fit(X, y)
    err = capsys.readouterr().err
    for stage in ("kernel matrix of the centres (100 x 100, float64)",
                  "Cholesky factorization of the centres' kernel matrix", "LAUUM and Cholesky",
                  "conjugate gradient, lambda = 0.0001:"):
        assert stage in err


def _child(code):
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          timeout=1200)


@pytest.mark.slow
def test_the_crashing_openblas_orders_run_through_fastrep():
    """A.T @ A (2048 x 16384, float64) and potrf at 16384 segfault with 2 OpenBLAS threads on
    AVX-512 kernels; fastrep's routes for both run (in a child: a crash would kill pytest)."""
    r = _child("""
        import numpy as np
        from fastrep._kernels import _dense, _linalg
        rng = np.random.default_rng(0)
        A = rng.standard_normal((2048, 16384))
        G = np.zeros((16384, 16384))
        _dense.accumulate_gram(A, G)  # the features' Gram Phi^T Phi
        i = rng.integers(0, 16384, 5)
        assert np.allclose(G[i, i], np.einsum("ij,ij->j", A[:, i], A[:, i]))
        del A
        G.flat[::16385] += 1.0
        L, _ = _linalg.cholesky(G, overwrite_a=True)  # the exact solve's factorization
        print("ok", float(L[0, 0]) > 0)
    """)
    assert r.returncode == 0 and "ok True" in r.stdout, (r.returncode, r.stderr[-2000:])


@pytest.mark.slow
def test_nystrom_at_16384_centres_runs_where_it_crashed():
    """Issue 26's crash: NTKRegressor(solver='nystrom', n_centers=16384) at d = 64, n = 2e4."""
    r = _child("""
        import numpy as np, fastrep
        rng = np.random.default_rng(0)
        X = rng.standard_normal((20_000, 64))
        y = X[:, 0] * X[:, 1] + 0.1 * rng.standard_normal(20_000)
        m = fastrep.NTKRegressor(solver="nystrom", n_centers=16384, ridge=1e-4, max_iter=5, tol=0.5)
        m.fit(X, y)
        print("ok", m.preconditioner_dtype_, np.isfinite(m.predict(X[:10])).all())
    """)
    assert r.returncode == 0 and "ok float64 True" in r.stdout, (r.returncode, r.stderr[-2000:])


@pytest.mark.slow
def test_eigh_at_an_order_where_the_threaded_call_crashed():
    """SciPy's threaded ?syevr at order 16384 (float64) died with SIGSEGV on AVX-512 kernels; the
    backends' eigh runs it on one thread there (in a child: a crash would kill pytest). The child
    holds about 6.4 GB (the matrix, LAPACK's copy and the eigenvectors) and runs for many
    minutes on one thread."""
    r = _child("""
        import numpy as np
        from fastrep._kernels import _linalg
        rng = np.random.default_rng(0)
        X = rng.standard_normal((16384, 64))
        S = X @ X.T / 64
        S.flat[::16385] += 1.0
        w, V = _linalg.eigh(S)
        i = np.argmax(w)
        print("ok", bool(np.allclose(S @ V[:, i], w[i] * V[:, i], rtol=1e-6, atol=1e-6)), bool(w[0] > 0.5))
    """)
    assert r.returncode == 0 and "ok True True" in r.stdout, (r.returncode, r.stderr[-2000:])
