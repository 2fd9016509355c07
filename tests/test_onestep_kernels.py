"""Algorithm 1's kernel operations on every backend against the float64 reference."""

from __future__ import annotations

import importlib

import numpy as np
import pytest

from fastrep._kernels import reference
from fastrep.backend import get_backend
from tests.conftest import RTOL, to_backend, to_numpy


def _problem(rng, dtype, n=700, d=24, k=10, paired=True, margin=1e-3):
    """Random inputs whose pre-activations stay `margin` away from 0, so float32 rounding
    cannot flip a ReLU mask (a flipped mask is a discrete, not a rounding, difference)."""
    X = rng.standard_normal((n, d)).astype(dtype)
    W = (rng.standard_normal((k, d)) / np.sqrt(d)).astype(dtype)
    m = 2 * k if paired else k
    b = rng.standard_normal(m).astype(dtype)
    P = X.astype(np.float64) @ W.astype(np.float64).T
    pre = np.concatenate([P + b[:k], -P + b[k:]], 1) if paired else P + b
    keep = np.abs(pre).min(1) > margin
    X = np.ascontiguousarray(X[keep])
    r = rng.standard_normal(X.shape[0]).astype(dtype)
    return X, W, b, r


def _rel(got, want):
    return float(np.max(np.abs(to_numpy(got) - want)) / np.max(np.abs(want)))


def test_onestep_gradient(backend, dtype, rng):
    X, W, b, r = _problem(rng, dtype, paired=False)
    be = get_backend(backend)
    want = reference.onestep_gradient(X.astype(np.float64), W, b, r)
    got = be.onestep_gradient(*(to_backend(a, backend) for a in (X, W, b, r)))
    assert got.dtype == dtype and got.shape == W.shape
    assert _rel(got, want) < 20 * RTOL[dtype]
    # accumulation into an existing array adds
    acc = to_backend(np.ones(W.shape, dtype), backend)
    be.onestep_gradient(*(to_backend(a, backend) for a in (X, W, b, r)), acc=acc)
    assert _rel(to_numpy(acc) - 1.0, want) < 20 * RTOL[dtype]


@pytest.mark.parametrize("paired", [True, False])
def test_relu_features_and_moments(backend, dtype, rng, paired):
    X, W, b, y = _problem(rng, dtype, paired=paired)
    be = get_backend(backend)
    args = [to_backend(a, backend) for a in (X, W, b)]
    Phi0 = reference.relu_features(X.astype(np.float64), W, b, paired)
    Phi = be.relu_features(*args, paired)
    assert Phi.shape == Phi0.shape and Phi.dtype == dtype
    assert _rel(Phi, Phi0) < 10 * RTOL[dtype]
    G0, h0 = reference.feature_moments(X.astype(np.float64), W, b, y, paired)
    G, h = be.feature_moments(*args, to_backend(y, backend), paired)
    G, h = to_numpy(G), to_numpy(h)
    assert G.dtype == dtype and h.dtype == dtype
    # backends guarantee the lower triangle
    assert _rel(np.tril(G), np.tril(G0)) < 20 * RTOL[dtype]
    assert _rel(h, h0) < 20 * RTOL[dtype]
    # a second call accumulates
    G2, h2 = be.feature_moments(*args, to_backend(y, backend), paired, G=to_backend(G.copy(), backend),
                                h=to_backend(h.copy(), backend))
    assert _rel(np.tril(to_numpy(G2)), 2 * np.tril(G0)) < 20 * RTOL[dtype]
    assert _rel(to_numpy(h2), 2 * h0) < 20 * RTOL[dtype]


def test_reference_gradient_is_the_loss_gradient(rng):
    """The reference op, scaled as in network.py, is the gradient of the squared loss at a
    zero network: compare against central finite differences of L(W) = mean((f - y)^2)."""
    n, d, k = 60, 5, 3
    X = rng.standard_normal((n, d))
    W = rng.standard_normal((k, d))
    b = rng.standard_normal(k)
    a = np.array([1.0, -1.0, 1.0])
    y = rng.standard_normal(n)

    def loss(Wf):
        return np.mean((np.maximum(X @ Wf.T + b, 0) @ a - y) ** 2)

    # at W, f != 0, so use the residual r = y - f in the op: grad_j = -(2/n) a_j sum_i r_i 1[..] x_i
    r = y - np.maximum(X @ W.T + b, 0) @ a
    grad = -(2 / n) * a[:, None] * reference.onestep_gradient(X, W, b, r)
    eps = 1e-6
    fd = np.zeros_like(W)
    for j in range(k):
        for t in range(d):
            E = np.zeros_like(W)
            E[j, t] = eps
            fd[j, t] = (loss(W + E) - loss(W - E)) / (2 * eps)
    np.testing.assert_allclose(grad, fd, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("layout", ["C", "F", "strided"])
@pytest.mark.parametrize("shape", [(1, 1), (37, 7), (300, 513), (129, 1100)])
def test_accumulate_gram_lower_triangle(dtype, rng, layout, shape):
    # the CPU Gram update: G's lower triangle gains Phi^T Phi for any layout of Phi, widths
    # on both sides of the BLAS's block sizes; G starts nonzero (it accumulates over chunks)
    from fastrep._kernels import _dense

    n, m = shape
    base = np.maximum(rng.standard_normal((n, 2 * m)), 0).astype(dtype)
    Phi = {"C": np.ascontiguousarray(base[:, :m]), "F": np.asfortranarray(base[:, :m]),
           "strided": base[:, ::2]}[layout]
    G0 = rng.standard_normal((m, m)).astype(dtype)
    G = G0.copy()
    assert _dense.accumulate_gram(Phi, G) is G
    P64 = Phi.astype(np.float64)
    want = G0.astype(np.float64) + P64.T @ P64
    scale = np.abs(G0).astype(np.float64) + np.abs(P64).T @ np.abs(P64)
    err = np.tril(np.abs(G - want) / scale)
    assert err.max() <= 20 * RTOL[dtype] * max(1.0, np.sqrt(n) / 10)


@pytest.mark.parametrize("mod", ["cpp", "numba"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_driver_workspace_reuses_temporaries_without_changing_results(mod, dtype):
    """In a fit's workspace the drivers reuse their per-chunk temporaries: bit-identical results,
    nothing the caller keeps is overwritten by the next call, and the arrays go on exit."""
    from fastrep._kernels import _dense

    ops = importlib.import_module(f"fastrep._kernels.{mod}")
    rng = np.random.default_rng(7)
    h, d = 24, 9
    W = rng.standard_normal((h, d)).astype(dtype)
    b = rng.standard_normal(2 * h).astype(dtype)
    chunks = [rng.standard_normal((n, d)).astype(dtype) for n in (50, 37, 50)]
    ys = [rng.standard_normal(X.shape[0]).astype(dtype) for X in chunks]

    def run():
        G = h_ = acc = None
        feats = []
        for X, y in zip(chunks, ys, strict=True):
            G, h_ = ops.feature_moments(X, W, b, y, True, G=G, h=h_)
            acc = ops.onestep_gradient(X, W, b[:h], y, acc=acc)
            feats.append(ops.relu_features(X, W, b, True))
        return G, h_, acc, feats

    from fastrep import _memory

    _memory.release_memory()
    plain = run()
    assert _memory.kept_bytes() == 0  # outside a workspace nothing is pooled
    with _dense.workspace():
        reused = run()
        assert _memory.kept_bytes() > 0  # the temporaries were kept
    again = run()  # outside the scope again: fresh arrays, and the pool untouched
    assert _memory.release_memory() > 0 and _memory.kept_bytes() == 0
    for a, c in zip(plain[:3], again[:3], strict=True):
        np.testing.assert_array_equal(a, c)
    for a, c in zip(plain[:3], reused[:3], strict=True):
        np.testing.assert_array_equal(a, c)
    for a, c in zip(plain[3], reused[3], strict=True):  # each chunk's features are its own
        np.testing.assert_array_equal(a, c)
