"""NTK and NNGP kernels: the analytic formulas against a wide random network (Monte Carlo),
the empirical NTK of finite networks, every backend's Gram block and blocked product against
the float64 reference, the ill-conditioned corners u -> +-1, and bad input."""

from __future__ import annotations

import hypothesis.extra.numpy as hnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import fastrep
from fastrep._kernels import reference
from tests.conftest import RTOL, to_backend, to_numpy

KINDS = ["ntk", "nngp"]
PUBLIC = {"ntk": fastrep.ntk_kernel, "nngp": fastrep.nngp_kernel}


def _q(X, beta):
    X = np.asarray(X, dtype=np.float64)
    return np.sum(X * X, axis=1) / X.shape[1] + beta**2


def _scale(X1, X2, beta):
    """sqrt(q(x) q(x')): the natural size of every kernel entry (both kernels are O(1) times it)."""
    return np.sqrt(np.outer(_q(X1, beta), _q(X2, beta)))


def _inputs(rng, n, d, dtype):
    # rows of very different norms, so q and the angle both vary
    return (rng.standard_normal((n, d)) * rng.uniform(0.2, 3.0, size=(n, 1))).astype(dtype)


# --- the formulas against a wide network ----------------------------------------------------


def _mc_terms(X, beta, width, seed):
    """Per-neuron terms of both kernels for all pairs of rows of X, from one random network.

    h_j(x) = w_j.x/sqrt(d) + beta b_j with w_j ~ N(0, I_d), b_j ~ N(0, 1) (the paper).
    NNGP = E[relu(h) relu(h')]; NTK adds E[1[h > 0] 1[h' > 0]] (x.x'/d + beta^2) (a_j^2 = 1).
    Returns the means and the standard errors of both, each (P, P).
    """
    rng = np.random.default_rng(seed)
    d = X.shape[1]
    W = rng.standard_normal((width, d))
    b = rng.standard_normal(width)
    H = X @ W.T / np.sqrt(d) + beta * b  # (P, width)
    R = np.maximum(H, 0.0)
    S = (H > 0).astype(np.float64)
    C = X @ X.T / d + beta**2
    P = X.shape[0]
    out = {}
    for kind in KINDS:
        mean = np.empty((P, P))
        se = np.empty((P, P))
        for i in range(P):
            t = R[i] * R  # (P, width)
            if kind == "ntk":
                t = t + S[i] * S * C[i][:, None]
            mean[i] = t.mean(axis=1)
            se[i] = t.std(axis=1) / np.sqrt(width)
        out[kind] = (mean, se)
    return out


@pytest.mark.parametrize("beta", [1.0, 0.3, 0.0])
def test_analytic_kernels_match_a_wide_network(beta):
    rng = np.random.default_rng(20240501)
    d = 6
    x = rng.standard_normal(d)
    y = rng.standard_normal(d) * 1.7
    pts = [
        x,  # x = x' on the diagonal
        y,  # a generic pair
        x + 1e-3 * rng.standard_normal(d),  # u -> 1
        -x,  # u -> -1 (exactly -1 when beta = 0)
        -x + 1e-3 * rng.standard_normal(d),
        0.05 * y,  # small norm: q dominated by beta^2
    ]
    X = np.array(pts)
    mc = _mc_terms(X, beta, width=200_000, seed=7)
    for kind in KINDS:
        want = reference.kernel_gram(X, None, beta, kind)
        mean, se = mc[kind]
        # 5 standard errors, plus a floor for the entries whose terms are all but zero (u = -1)
        assert np.all(np.abs(mean - want) <= 5 * se + 1e-9 * _scale(X, X, beta)), kind
        got = PUBLIC[kind](X, beta=beta)
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)


def test_unit_sphere_shortcut_is_measurably_wrong():
    # The exact norms matter. Replacing q by its expectation 1 + beta^2 (the
    # unit-sphere shortcut) must disagree with the network by many standard errors.
    rng = np.random.default_rng(3)
    d = 6
    X = rng.standard_normal((4, d)) * np.array([[0.5], [1.0], [1.5], [2.0]])
    mean, se = _mc_terms(X, 1.0, width=200_000, seed=11)["nngp"]
    # the right formula agrees...
    assert np.all(np.abs(mean - reference.kernel_gram(X, None, 1.0, "nngp")) <= 5 * se + 1e-12)
    # ...and the shortcut (every x rescaled to |x|^2 = d, so q = 1 + beta^2) does not
    Xs = X / np.linalg.norm(X, axis=1, keepdims=True) * np.sqrt(d)
    wrong = reference.kernel_gram(Xs, None, 1.0, "nngp")
    assert np.max(np.abs(mean - wrong) / se) > 20


def test_empirical_ntk_of_finite_networks_converges():
    """Theta_m(x, x') = grad f(x) . grad f(x') for f(x) = m^-1/2 sum_j a_j relu(w_j.x/sqrt(d) + beta b_j),
    from its Jacobians (dense products), converges to the analytic NTK as the width grows."""
    rng = np.random.default_rng(5)
    d, beta = 8, 1.0
    X = _inputs(rng, 5, d, np.float64)
    want = reference.kernel_gram(X, None, beta, "ntk")
    C = X @ X.T / d + beta**2
    errs = {}
    for m in (100, 1_000, 10_000, 100_000):
        e = []
        for seed in range(3):
            g = np.random.default_rng(1000 * seed + m)
            W, b, a = g.standard_normal((m, d)), g.standard_normal(m), g.standard_normal(m)
            H = X @ W.T / np.sqrt(d) + beta * b
            J_a = np.maximum(H, 0) / np.sqrt(m)  # df/da_j
            D = a * (H > 0) / np.sqrt(m)  # df/dh_j; df/dw_j = D x/sqrt(d), df/db_j = D beta
            theta = J_a @ J_a.T + (D @ D.T) * C
            e.append(np.max(np.abs(theta - want) / _scale(X, X, beta)))
        errs[m] = np.mean(e)
    # O(m^-1/2): a factor of 1000 in width is about 30 in error
    assert errs[100_000] < errs[100] / 10
    assert errs[10_000] < errs[100] / 3
    assert errs[100_000] < 0.03


# --- backends against the reference ---------------------------------------------------------


def _tol(dtype):
    return 5 * RTOL[np.dtype(dtype)]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("beta", [1.0, 0.4, 0.0])
@pytest.mark.parametrize("symmetric", [True, False], ids=["sym", "cross"])
def test_backend_gram_matches_reference(backend, dtype, rng, kind, beta, symmetric):
    X1 = _inputs(rng, 157, 13, dtype)
    X2 = None if symmetric else _inputs(rng, 93, 13, dtype)
    X2_64 = None if X2 is None else X2.astype(np.float64)
    want = reference.kernel_gram(X1.astype(np.float64), X2_64, beta, kind)
    got = PUBLIC[kind](to_backend(X1, backend), None if X2 is None else to_backend(X2, backend), beta=beta,
                       backend=backend)
    assert got.dtype == dtype and got.shape == want.shape
    err = np.abs(to_numpy(got) - want) / _scale(X1, X1 if X2 is None else X2, beta)
    assert err.max() <= _tol(dtype)


@pytest.mark.parametrize("kind", KINDS)
def test_backend_gram_out_and_noncontiguous(backend, dtype, rng, kind):
    from fastrep.backend import get_backend

    mod = get_backend(backend)
    X1 = np.asfortranarray(_inputs(rng, 40, 9, dtype))[::2]  # neither C- nor F-contiguous
    X2 = _inputs(rng, 31, 9, dtype).T.copy().T
    want = reference.kernel_gram(X1.astype(np.float64), X2.astype(np.float64), 0.8, kind)
    out = to_backend(np.full((20, 31), np.nan, dtype=dtype), backend)
    got = mod.kernel_gram(to_backend(X1, backend), to_backend(X2, backend), 0.8, kind, out=out)
    assert got is out
    assert np.max(np.abs(to_numpy(out) - want) / _scale(X1, X2, 0.8)) <= _tol(dtype)
    with pytest.raises(ValueError, match="out must have shape"):
        mod.kernel_gram(to_backend(X1, backend), to_backend(X2, backend), 0.8, kind,
                        out=to_backend(np.empty((20, 30), dtype=dtype), backend))


@pytest.mark.parametrize("kind", KINDS)
def test_backend_symmetric_gram_over_many_panels_and_tiles(backend, dtype, rng, kind):
    # n spans several product panels and lower-triangle tiles and is a multiple of neither,
    # and out starts as NaN, so every entry of both triangles must be written
    from fastrep.backend import get_backend

    mod = get_backend(backend)
    X = _inputs(rng, 1237, 11, dtype)
    want = reference.kernel_gram(X.astype(np.float64), None, 0.7, kind)
    out = to_backend(np.full((1237, 1237), np.nan, dtype=dtype), backend)
    got = to_numpy(mod.kernel_gram(to_backend(X, backend), None, 0.7, kind, out=out))
    assert np.max(np.abs(got - want) / _scale(X, X, 0.7)) <= _tol(dtype)
    if backend != "cupy":
        assert np.array_equal(got, got.T)  # exactly: one triangle is computed, the other copied


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("n", [1, 63, 64, 65, 300, 1000])
def test_cpp_lower_pass_reads_only_the_lower_triangle(dtype, rng, kind, n):
    _ext = pytest.importorskip("fastrep._ext")
    X = _inputs(rng, n, 7, dtype)
    G = np.tril(X @ X.T)
    G[np.triu_indices(n, 1)] = np.nan  # never read
    _ext.kernel_from_inner_lower(G, 1.0 / 7, 0.36, kind == "ntk")
    want = reference.kernel_gram(X.astype(np.float64), None, 0.6, kind)
    assert np.max(np.abs(G - want) / _scale(X, X, 0.6)) <= _tol(dtype)
    assert np.array_equal(G, G.T)
    q = np.einsum("ij,ij->i", X.astype(np.float64), X) / 7 + 0.36
    np.testing.assert_allclose(np.diag(G), q if kind == "ntk" else q / 2, rtol=4 * np.finfo(dtype).eps)


def test_cpp_lower_pass_rejects_bad_input():
    _ext = pytest.importorskip("fastrep._ext")
    with pytest.raises(ValueError, match="G must be square"):
        _ext.kernel_from_inner_lower(np.zeros((3, 4)), 0.5, 1.0, True)
    with pytest.raises(ValueError, match="inv_d"):
        _ext.kernel_from_inner_lower(np.zeros((3, 3)), 0.0, 1.0, True)
    with pytest.raises(ValueError, match="C-contiguous"):
        _ext.kernel_from_inner_lower(np.zeros((3, 3)).T, 0.5, 1.0, True)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("n", [300, 1000])
def test_cpp_lower_pass_same_bits_at_any_offset_from_a_cache_line(dtype, rng, kind, n):
    # the pass's row blocks and panels start where G's rows start a line; the bits must not move
    _ext = pytest.importorskip("fastrep._ext")
    X = _inputs(rng, n, 7, dtype)
    G = np.tril(X @ X.T)
    G[np.triu_indices(n, 1)] = np.nan
    raw = np.empty(n * n + 16, dtype)
    first = raw.ctypes.data // raw.itemsize
    got = {}
    for shift in range(6):  # every offset in float64, six of sixteen in float32
        s = (-first + shift) % (64 // raw.itemsize)
        buf = raw[s:s + n * n].reshape(n, n)
        buf[...] = G
        _ext.kernel_from_inner_lower(buf, 1.0 / 7, 0.36, kind == "ntk")
        got[shift] = buf.copy()
    for shift, K in got.items():
        assert np.array_equal(K.view(f"u{K.itemsize}"), got[0].view(f"u{K.itemsize}")), shift
    assert np.array_equal(got[0], got[0].T)


@pytest.mark.parametrize("kind", KINDS)
def test_cpp_symmetric_gram_does_not_depend_on_where_out_lies(dtype, rng, kind):
    # the product panels must not follow out's address (the BLAS's last bits can depend on a
    # panel's shape); only the pass aligns to out's cache lines
    from fastrep._kernels import cpp

    n = 600
    X = _inputs(rng, n, 13, dtype)
    want = cpp.kernel_gram(X, None, 0.7, kind)
    raw = np.empty(n * n + 16, dtype)
    for shift in (1, 3, 4):
        got = cpp.kernel_gram(X, None, 0.7, kind, out=raw[shift:shift + n * n].reshape(n, n))
        assert np.array_equal(got, want), shift


@pytest.mark.parametrize("kind", KINDS)
def test_cpp_symmetric_gram_same_bits_on_every_ntk_path(dtype, rng, kind):
    # the entry pass's AVX2 and AVX-512 paths, forced in turn, give the portable loop's bits
    _ext = pytest.importorskip("fastrep._ext")
    from fastrep._kernels import cpp

    X = _inputs(rng, 700, 9, dtype)
    paths = {}
    try:
        for path in (0, 1, 2):
            try:
                name = _ext._set_ntk_path(path)
            except ValueError:
                continue  # this CPU lacks it
            paths[name] = (cpp.kernel_gram(X, None, 0.7, kind), cpp.kernel_gram(X, X[:300], 0.7, kind))
    finally:
        _ext._set_ntk_path(-1)
    assert "generic" in paths and _ext.ntk_path() in ("avx512", "avx2", "generic")
    for name, (K, K2) in paths.items():
        assert np.array_equal(K, paths["generic"][0]), name
        assert np.array_equal(K2, paths["generic"][1]), name
    with pytest.raises(ValueError, match=r"path must be in \[-1, 2\]; got 3"):
        _ext._set_ntk_path(3)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("block_rows", [1, 7, 64, 1000])
@pytest.mark.parametrize("vshape", [(), (3,)], ids=["vec", "mat"])
def test_backend_matvec_matches_reference(backend, dtype, rng, kind, block_rows, vshape):
    from fastrep.backend import get_backend

    mod = get_backend(backend)
    X = _inputs(rng, 150, 11, dtype)
    C = _inputs(rng, 37, 11, dtype)
    V = rng.standard_normal((37,) + vshape).astype(dtype)
    K = reference.kernel_gram(X.astype(np.float64), C.astype(np.float64), 0.9, kind)
    want = K @ V.astype(np.float64)
    got = mod.kernel_matvec(to_backend(X, backend), to_backend(C, backend), to_backend(V, backend), 0.9, kind,
                            block_rows)
    assert got.dtype == dtype and got.shape == want.shape
    bound = (np.abs(K) @ np.abs(V.astype(np.float64))) * _tol(dtype) * 10
    assert np.all(np.abs(to_numpy(got) - want) <= bound)
    ref = reference.kernel_matvec(X, C, V, 0.9, kind, block_rows)
    assert ref.dtype == dtype
    assert np.all(np.abs(ref - want) <= bound)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("block_rows", [1, 16, 1000])
@pytest.mark.parametrize("which", ["V", "W", "VW"])
def test_backend_normal_matvec_matches_reference(backend, dtype, rng, kind, block_rows, which):
    from fastrep.backend import get_backend

    mod = get_backend(backend)
    X = _inputs(rng, 120, 7, dtype)
    C = _inputs(rng, 29, 7, dtype)
    V = rng.standard_normal(29).astype(dtype) if "V" in which else None
    W = rng.standard_normal(120).astype(dtype) if "W" in which else None
    K = reference.kernel_gram(X.astype(np.float64), C.astype(np.float64), 0.6, kind)
    t = (K @ V if V is not None else 0) + (W if W is not None else 0)
    want = K.T @ t
    got = mod.kernel_normal_matvec(to_backend(X, backend), to_backend(C, backend),
                                   None if V is None else to_backend(V, backend), 0.6, kind, block_rows,
                                   W=None if W is None else to_backend(W, backend))
    assert got.dtype == np.float64 and got.shape == (29,)
    absV = np.abs(V) if V is not None else 0
    absW = np.abs(W) if W is not None else 0
    bound = (np.abs(K).T @ (np.abs(K) @ absV + absW if V is not None else absW)) * _tol(dtype) * 10
    assert np.all(np.abs(to_numpy(got) - want) <= bound)
    ref = reference.kernel_normal_matvec(X, C, V, 0.6, kind, block_rows, W=W)
    assert np.all(np.abs(ref - want) <= bound)


# --- the ill-conditioned corners: u -> +-1 ---------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_stable_near_u_plus_minus_one(backend, dtype, rng, kind):
    """Near u = +-1 the kernels have an infinite slope in u (sqrt(1 - u^2)), so rounding in
    x.x' costs about sqrt(eps) there; the clamp must keep everything finite and the error at
    that level, and the symmetric diagonal must be exact."""
    d = 16
    X = _inputs(rng, 50, d, dtype)
    pairs = {
        "same": X.copy(),
        "near": X + (1e-3 * rng.standard_normal(X.shape) * np.abs(X)).astype(dtype),
        "tiny": X + (np.finfo(dtype).eps * 4 * X).astype(dtype),
        "opposite": -X,
    }
    sq = np.sqrt(np.finfo(dtype).eps)
    for beta in (1.0, 0.05, 0.0):
        for name, X2 in pairs.items():
            want = reference.kernel_gram(X.astype(np.float64), X2.astype(np.float64), beta, kind)
            got = to_numpy(PUBLIC[kind](to_backend(X, backend), to_backend(X2, backend), beta=beta,
                                        backend=backend))
            assert np.all(np.isfinite(got)), (name, beta)
            err = np.abs(got - want) / _scale(X, X2, beta)
            assert err.max() <= 4 * sq, (name, beta, err.max())
        # the symmetric call reads q off its own diagonal: the diagonal is the exact value at u = 1
        got = to_numpy(PUBLIC[kind](to_backend(X, backend), beta=beta, backend=backend)).astype(np.float64)
        q = _q(X.astype(dtype).astype(np.float64), beta)
        diag = q if kind == "ntk" else q / 2
        assert np.max(np.abs(np.diag(got) - diag) / diag) <= 8 * np.finfo(dtype).eps * d


def test_zero_input_without_bias_is_zero(backend):
    X = np.zeros((3, 4))
    X[1] = 1.0
    for kind in KINDS:
        K = to_numpy(PUBLIC[kind](to_backend(X, backend), beta=0.0, backend=backend))
        assert np.all(np.isfinite(K))
        assert np.all(K[0] == 0) and np.all(K[:, 0] == 0)
        assert K[1, 1] > 0


# --- the public functions ---------------------------------------------------------------------


def test_x2_none_equals_x1_and_same_object():
    rng = np.random.default_rng(1)
    X = rng.standard_normal((30, 5))
    for fn in PUBLIC.values():
        a = fn(X)
        b = fn(X, X)
        c = fn(X, X.copy())
        np.testing.assert_allclose(a, b, rtol=0, atol=0)
        np.testing.assert_allclose(a, c, rtol=1e-7)  # up to the sqrt(eps) slope at u = 1 (diagonal)
        np.testing.assert_allclose(a, a.T, rtol=1e-13)


def test_dtypes_promote_and_integers_become_float64():
    rng = np.random.default_rng(2)
    X32 = rng.standard_normal((6, 3)).astype(np.float32)
    X64 = rng.standard_normal((4, 3))
    assert fastrep.ntk_kernel(X32).dtype == np.float32
    assert fastrep.ntk_kernel(X32, X64).dtype == np.float64
    K = fastrep.nngp_kernel(np.array([[1, 0], [0, 2]]))
    assert K.dtype == np.float64
    np.testing.assert_allclose(K, reference.kernel_gram(np.array([[1.0, 0], [0, 2]]), None, 1.0, "nngp"))


def test_ntk_is_nngp_plus_the_gradient_term():
    # Theta = NNGP + 1/2 c kappa_0(u): checked through an independent route, kappa_0 from the
    # NNGP kernel of the step function, E[1[h > 0] 1[h' > 0]] = kappa_0(u)/2.
    rng = np.random.default_rng(4)
    X = rng.standard_normal((7, 5))
    ntk, nngp = fastrep.ntk_kernel(X, beta=0.7), fastrep.nngp_kernel(X, beta=0.7)
    C = X @ X.T / 5 + 0.49
    u = np.clip(C / _scale(X, X, 0.7), -1, 1)
    np.fill_diagonal(u, 1.0)  # exactly 1 for x = x' (the ratio can round to 1 - ulp: sqrt(eps) slope)
    np.testing.assert_allclose(ntk - nngp, 0.5 * C * (1 - np.arccos(u) / np.pi), rtol=1e-12, atol=1e-14)


@given(
    X=hnp.arrays(
        dtype=st.sampled_from([np.float32, np.float64]),
        shape=hnp.array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=9),
        elements=st.floats(-5, 5, width=32),
    ),
    beta=st.sampled_from([0.0, 0.5, 1.0]),
    transpose=st.booleans(),
)
def test_property_shapes_dtypes_finite(X, beta, transpose):
    if transpose:
        X = X.T
    want = reference.kernel_gram(X.astype(np.float64), None, beta, "ntk")
    for b in [b for b, s in fastrep.backends().items() if s == "available" and b != "cupy"]:
        got = fastrep.ntk_kernel(X, beta=beta, backend=b)
        assert got.shape == (X.shape[0], X.shape[0]) and got.dtype == X.dtype
        assert np.all(np.isfinite(got))
        scale = np.maximum(_scale(X, X, beta), 1e-30)
        # u -> +-1 costs sqrt(eps) (see test_stable_near_u_plus_minus_one)
        assert np.max(np.abs(got - want) / scale) <= 4 * np.sqrt(np.finfo(X.dtype).eps)


# --- bad input --------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_rejects_nonfinite(bad):
    X = np.ones((3, 2))
    X[1, 1] = bad
    with pytest.raises(ValueError, match="X1 contains NaN or inf"):
        fastrep.ntk_kernel(X)
    with pytest.raises(ValueError, match="X2 contains NaN or inf"):
        fastrep.nngp_kernel(np.ones((2, 2)), X)


def test_rejects_bad_shapes_beta_kind_backend():
    with pytest.raises(ValueError, match="X2 has 3 columns but X1 has 2"):
        fastrep.ntk_kernel(np.ones((2, 2)), np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"X1 must be 2-D"):
        fastrep.ntk_kernel(np.ones(3))
    with pytest.raises(ValueError, match="at least one column"):
        fastrep.ntk_kernel(np.ones((3, 0)))
    with pytest.raises(ValueError, match="beta must be a finite number >= 0"):
        fastrep.ntk_kernel(np.ones((2, 2)), beta=-1.0)
    with pytest.raises(TypeError, match="beta must be a non-negative number"):
        fastrep.ntk_kernel(np.ones((2, 2)), beta="1")
    with pytest.raises(ValueError, match="backend must be one of"):
        fastrep.ntk_kernel(np.ones((2, 2)), backend="fortran")
    with pytest.raises(ValueError, match="kind must be 'ntk' or 'nngp'"):
        reference.kernel_gram(np.ones((2, 2)), None, 1.0, "rbf")
    with pytest.raises(TypeError, match="X1 must be a real float array"):
        fastrep.ntk_kernel(np.ones((2, 2), dtype=complex))
