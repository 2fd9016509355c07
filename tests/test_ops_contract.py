"""The Ops contract: every backend module exports every name of CONTRACT, and the array handling
and dense linear algebra agree with the reference (which itself runs on any array-API library)."""

from __future__ import annotations

import numpy as np
import pytest

from fastrep import backend as B
from fastrep._kernels import CONTRACT, HOT_OPS, JitterWarning, reference

xs = pytest.importorskip("array_api_strict")
StrictArray = type(xs.asarray(0.0))


def _modules():
    out = []
    for name in B.BACKENDS:
        try:
            out.append(B.get_backend(name))
        except B.BackendUnavailableError:
            continue
    return out


CPU = [m for m in _modules() if m.name != "cupy"]
ALL = _modules()  # cupy too where a device exists: inputs go through mod.asarray, outputs mod.to_host


def _spd(n, rng, dtype=np.float64):
    A = rng.standard_normal((n, n + 3))
    return ((A @ A.T) / n + 0.1 * np.eye(n)).astype(dtype)


@pytest.mark.parametrize("mod", _modules(), ids=lambda m: m.name)
def test_every_backend_module_exports_the_whole_contract(mod):
    missing = [n for n in CONTRACT if not hasattr(mod, n)]
    assert not missing, f"{mod.name} lacks {missing}"
    assert mod.name in B.BACKENDS
    assert all(callable(getattr(mod, n)) for n in CONTRACT if n != "name")


def test_contract_lists_the_eight_hot_operations():
    assert len(HOT_OPS) == 8 and set(HOT_OPS) <= set(CONTRACT)
    for op in ("onestep_gradient", "relu_features", "feature_moments"):
        assert op in CONTRACT


@pytest.mark.parametrize("mod", CPU, ids=lambda m: m.name)
def test_cpu_array_handling(mod):
    a = np.arange(6.0).reshape(2, 3)
    assert mod.to_host(a) is a or np.array_equal(mod.to_host(a), a)
    assert mod.asarray(a, dtype=np.float32).dtype == np.float32
    with mod.precision("highest"):
        pass
    with pytest.raises(ValueError, match="precision='tf32' needs backend='cupy'"):
        mod.precision("tf32")
    with pytest.raises(ValueError, match="precision must be"):
        mod.precision("fp8")
    if mod.name != "reference":
        with pytest.raises(TypeError, match="NumPy"):
            mod.namespace(xs.asarray([1.0]))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("mod", ALL, ids=lambda m: m.name)
def test_linear_algebra_matches_the_reference(mod, dtype):
    rng = np.random.default_rng(3)
    tol = 1e-4 if dtype == np.float32 else 1e-10
    A = _spd(7, rng, dtype)
    Bm = rng.standard_normal((7, 2)).astype(dtype)
    dev, host = mod.asarray, mod.to_host
    L, j = mod.cholesky(dev(A.copy()))
    Lr, jr = reference.cholesky(A)
    assert j == jr == 0.0
    np.testing.assert_allclose(host(L), Lr, atol=tol)
    assert np.all(np.triu(host(L), 1) == 0), "L must be lower triangular"
    for trans in (False, True):
        np.testing.assert_allclose(host(mod.solve_triangular(L, dev(Bm), trans=trans)),
                                   reference.solve_triangular(Lr, Bm, trans=trans), rtol=tol, atol=tol)
    np.testing.assert_allclose(host(mod.cho_solve(L, dev(Bm))), np.linalg.solve(A.astype(np.float64), Bm),
                               rtol=10 * tol, atol=10 * tol)
    w, V = mod.eigh(dev(A))
    wr, _ = reference.eigh(A)
    np.testing.assert_allclose(host(w), wr, rtol=tol, atol=tol)
    np.testing.assert_allclose((host(V) * host(w)) @ host(V).T, A, atol=10 * tol)


@pytest.mark.parametrize("mod", ALL, ids=lambda m: m.name)
def test_cholesky_overwrite_factorizes_in_place(mod):
    rng = np.random.default_rng(5)
    A = _spd(50, rng)
    K = mod.asarray(A.copy())
    L, _ = mod.cholesky(K, overwrite_a=True)
    Lh = mod.to_host(L)
    np.testing.assert_allclose(Lh @ Lh.T, A, atol=1e-10)
    if mod.name in ("cpp", "numba"):
        assert np.shares_memory(L, K)


@pytest.mark.parametrize("mod", ALL, ids=lambda m: m.name)
def test_cholesky_escalates_jitter_with_a_warning_or_raises(mod):
    rng = np.random.default_rng(4)
    n = 40
    V = np.linalg.qr(rng.standard_normal((n, n)))[0]
    s = rng.uniform(0.5, 2.0, n)
    s[-1] = -1e-13  # a rounding-sized negative eigenvalue: not numerically positive definite
    A = (V * s) @ V.T
    A = (A + A.T) / 2
    with pytest.warns(JitterWarning, match="retrying with jitter"):
        L, j = mod.cholesky(mod.asarray(A.copy()), what="the test matrix")
    assert j > 1e-13
    Lh = mod.to_host(L)
    np.testing.assert_allclose(Lh @ Lh.T, A + j * np.eye(n), atol=1e-12)
    with pytest.raises(np.linalg.LinAlgError, match="not numerically positive definite"):
        mod.cholesky(mod.asarray(A.copy()), escalate=False)
    with pytest.warns(JitterWarning), pytest.raises(np.linalg.LinAlgError, match="even with jitter"):
        mod.cholesky(mod.asarray(-np.eye(3)))  # hopeless: never silent NaN


# ---- the reference on array_api_strict: the same file, another library ---------------------------


def _strict(a):
    return xs.asarray(a)


def test_array_api_reference_hot_ops_match_numpy():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((9, 5))
    W = rng.standard_normal((4, 5)) / 3
    b = rng.standard_normal(8)
    r = rng.standard_normal(9)
    C = rng.standard_normal((3, 5))
    V = rng.standard_normal(3)
    alphas = np.array([[0, 0], [2, 1], [1, 3]], dtype=np.int32)
    cases = [
        ("hermite_features", (X[:, :2], alphas), (_strict(X[:, :2]), alphas)),
        ("onestep_gradient", (X, W, b[:4], r), (_strict(X), _strict(W), _strict(b[:4]), _strict(r))),
        ("relu_features", (X, W, b, True), (_strict(X), _strict(W), _strict(b), True)),
        ("kernel_gram", (X, None, 1.0, "ntk"), (_strict(X), None, 1.0, "ntk")),
        ("kernel_gram", (X, C, 0.5, "nngp"), (_strict(X), _strict(C), 0.5, "nngp")),
        ("kernel_matvec", (X, C, V, 1.0, "ntk", 4), (_strict(X), _strict(C), _strict(V), 1.0, "ntk", 4)),
        ("kernel_normal_matvec", (X, C, V, 1.0, "ntk", 4, r),
         (_strict(X), _strict(C), _strict(V), 1.0, "ntk", 4, _strict(r))),
    ]
    for op, args_np, args_x in cases:
        want = getattr(reference, op)(*args_np)
        got = getattr(reference, op)(*args_x)
        assert isinstance(got, StrictArray), op
        np.testing.assert_allclose(reference.to_host(got), want, rtol=1e-13, atol=1e-13, err_msg=op)
    G, h = reference.feature_moments(_strict(X), _strict(W), _strict(b), _strict(r), True)
    Gn, hn = reference.feature_moments(X, W, b, r, True)
    assert isinstance(G, StrictArray)
    np.testing.assert_allclose(reference.to_host(G), Gn, rtol=1e-13)
    np.testing.assert_allclose(reference.to_host(h), hn, rtol=1e-13)


def test_array_api_reference_linear_algebra():
    rng = np.random.default_rng(1)
    A = _spd(6, rng)
    L, _ = reference.cholesky(_strict(A))
    assert isinstance(L, StrictArray)
    np.testing.assert_allclose(reference.to_host(L), np.linalg.cholesky(A), atol=1e-12)
    x = reference.cho_solve(L, _strict(np.ones(6)))
    np.testing.assert_allclose(reference.to_host(x), np.linalg.solve(A, np.ones(6)), atol=1e-10)
    w, _ = reference.eigh(_strict(A))
    np.testing.assert_allclose(reference.to_host(w), np.linalg.eigvalsh(A), atol=1e-12)


def test_array_api_reference_refuses_a_mix_of_libraries():
    with pytest.raises(TypeError):
        reference.kernel_gram(_strict(np.ones((2, 2))), np.ones((2, 2)), 1.0, "ntk")
    with pytest.raises(TypeError, match="mix"):
        B.namespace(_strict(np.ones(2)), np.ones(2))


def test_resolve_sends_other_array_libraries_to_the_reference(monkeypatch):
    monkeypatch.delenv("FASTREP_BACKEND", raising=False)
    a = _strict(np.ones((2, 2)))
    assert B.resolve("auto", "kernel_gram", a).name == "reference"
    with pytest.raises(TypeError, match="backend='reference'"):
        B.resolve("cpp", "kernel_gram", a)


def test_the_extension_stub_matches_the_compiled_module():
    import ast
    from pathlib import Path

    import fastrep

    ext = pytest.importorskip("fastrep._ext")
    stub = ast.parse((Path(fastrep.__file__).parent / "_ext.pyi").read_text())
    names = {n.name for n in stub.body if isinstance(n, ast.FunctionDef)}
    names |= {n.target.id for n in stub.body if isinstance(n, ast.AnnAssign)}
    public = {n for n in dir(ext) if not n.startswith("_")}
    assert {n for n in names if not n.startswith("_")} == public
    # the stub's private hooks (tests and benchmarks only) exist too
    assert all(hasattr(ext, n) for n in names if n.startswith("_"))
    assert (Path(fastrep.__file__).parent / "py.typed").exists()
