"""MultiStepNetwork(loss='smoothed', smoothing_draws=0): the average over z in closed form."""

from __future__ import annotations

import numpy as np
import pytest

from fastrep import MultiIndexTarget, MultiStepNetwork
from fastrep.multistep import _smoothed_point, _smoothed_terms

D = 24


@pytest.fixture(scope="module")
def data():
    X, y = MultiIndexTarget.single_index(D, "he3").sample(600, 0)
    return X.astype(np.float64), (y - np.mean(y)).astype(np.float64)


def _kw(**kw):
    return {"width": 6, "steps": 4, "protocol": "reuse", "lr": 0.05, "weight_decay": 0.0, "loss": "smoothed",
            "smoothing": 0.8, "smoothing_draws": 0, "readout": "gaussian", "ridge": 1e-3, "dtype": np.float64,
            "seed": 3, **kw}


def _point(width, d, seed=1, scale=1.0):
    rng = np.random.default_rng(seed)
    return scale * rng.standard_normal((width, d)) / np.sqrt(d)


def test_closed_form_is_the_monte_carlo_average_over_z():
    """E_z relu(w~ . x + b) and the gradient of sum_i r_i E_z relu(.) against many draws of z
    (``_smoothed_point``: the definition, z uniform on w's orthogonal unit sphere)."""
    rng = np.random.default_rng(0)
    d, m, n, lam, K = 64, 4, 40, 1.3, 20000
    X = rng.standard_normal((n, d))
    W = rng.standard_normal((m, d)) * np.array([0.1, 0.3, 1.0, 2.0])[:, None]
    b = np.array([0.8, -0.5, 0.0, 0.3])
    rho = np.linalg.norm(W, axis=1)
    g, A, B = _smoothed_terms(X @ W.T, np.sum(X * X, axis=1), rho, b, lam, d)
    W_eval, pull = _smoothed_point(W, lam, rng, draws=K)
    P = np.einsum("nd,kmd->knm", X, W_eval) + b
    relu = np.maximum(P, 0.0)
    se = relu.std(axis=0) / np.sqrt(K)
    # Monte Carlo error plus the O(1/d) of zeta's non-Gaussian law (about 1% of tau here)
    gap = np.abs(relu.mean(axis=0) - g)
    assert np.all(gap <= 4 * se + 0.01 * np.abs(g).max()), gap.max()
    # the Z-average is not the network at w (the smoothing moves it): the test can tell them apart
    assert np.abs(np.maximum(X @ W.T + b, 0.0) - g).max() > 0.3
    r = rng.standard_normal(n)
    G = (A * r[:, None]).T @ X + (r @ B)[:, None] * (W / rho[:, None])
    G_mc = pull(np.einsum("knm,nd->kmd", (P > 0) * r[None, :, None], X)).mean(axis=0)
    np.testing.assert_allclose(G_mc, G, atol=0.01 * np.abs(G).max())


def test_step_is_the_gradient_of_the_averaged_loss(data):
    """(W - W_next) / lr against central finite differences of the loss ``gradient_step`` returns
    (the squared loss of the Z-averaged network), on one neuron's whole row."""
    X, y = data
    X, y = X[:200], y[:200]
    net = MultiStepNetwork(**_kw())
    W = _point(6, D, scale=1.5)
    W_next, loss = net.gradient_step(X, y, W)
    grad = (W - W_next) / 0.05
    h = 1e-5
    fd = np.empty(D)
    for k in range(D):
        E = np.zeros_like(W)
        E[2, k] = h
        fd[k] = (net.gradient_step(X, y, W + E)[1] - net.gradient_step(X, y, W - E)[1]) / (2 * h)
    np.testing.assert_allclose(grad[2], fd, rtol=1e-5, atol=1e-8 * np.abs(fd).max())
    # the loss is the squared residual of fbar = sum_j c_j E_z relu(.)
    init = net.initialization(D)
    rho = np.linalg.norm(W, axis=1)
    g, _, _ = _smoothed_terms(X @ W.T, np.sum(X * X, axis=1), rho, init["b"], 0.8, D)
    assert loss == pytest.approx(np.mean((y - g @ init["a"]) ** 2), rel=1e-12)


def test_chunks_and_dtypes_agree(data):
    X, y = data
    W = _point(6, D)
    one = MultiStepNetwork(**_kw()).gradient_step(X, y, W)
    chunked = MultiStepNetwork(**_kw(chunk_size=64)).gradient_step(X, y, W)
    X32, y32 = X.astype(np.float32), y.astype(np.float32)
    single = MultiStepNetwork(**_kw(dtype=np.float32)).gradient_step(X32, y32, W)
    np.testing.assert_allclose(chunked[0], one[0], rtol=1e-12, atol=1e-14)
    assert chunked[1] == pytest.approx(one[1], rel=1e-12)
    np.testing.assert_allclose(single[0], one[0], rtol=1e-4, atol=1e-6)


def test_small_radius_gives_the_squared_loss_step(data):
    X, y = data
    W = _point(6, D)
    kw = _kw()
    plain = MultiStepNetwork(**{**kw, "loss": "squared", "smoothing": None, "smoothing_draws": 1})
    tiny = MultiStepNetwork(**{**kw, "smoothing": 1e-7})
    wide = MultiStepNetwork(**kw)
    (Wp, lp), (Wt, lt), (Ww, lw) = (m.gradient_step(X, y, W) for m in (plain, tiny, wide))
    np.testing.assert_allclose(Wt, Wp, rtol=1e-6, atol=1e-8)
    assert lt == pytest.approx(lp, rel=1e-6)
    assert np.abs(Ww - Wp).max() > 1e-3 and abs(lw - lp) > 1e-3


def test_fit_descends_the_averaged_loss_and_records_it(data):
    X, y = data
    target = MultiIndexTarget.single_index(D, "he3")
    net = MultiStepNetwork(**_kw(steps=6, center=False, target=target)).fit(X, y)
    tr = net.trajectory_
    assert tr.loss.shape == (6,) and np.all(np.isfinite(tr.loss))
    assert np.all(np.diff(tr.loss) < 0), tr.loss  # gradient descent with a small step on one batch
    assert tr.step.tolist() == list(range(7)) and tr.alignment.shape == (7,)
    W0 = net.initialization(D)["W"]
    assert tr.loss[0] == pytest.approx(net.gradient_step(X, y, W0)[1], rel=1e-12)
    # deterministic: no draws of z, so a refit is the same bits whatever the seed stream gives z
    again = MultiStepNetwork(**_kw(steps=6, center=False)).fit(X, y)
    np.testing.assert_array_equal(again.W_, net.W_)
    one_draw = MultiStepNetwork(**_kw(steps=6, center=False, smoothing_draws=1)).fit(X, y)
    assert np.abs(one_draw.W_ - net.W_).max() > 1e-4


def test_online_closed_form_fit(data):
    X, y = data
    net = MultiStepNetwork(**_kw(protocol="online", batch_size=8, steps=50, spherical=True, lr=0.5,
                                 readout="symmetric", record_every=10)).fit(X, y)
    assert net.trajectory_.step.tolist() == [0, 10, 20, 30, 40, 50]
    np.testing.assert_allclose(np.linalg.norm(net.W_, axis=1), 1.0)
    assert np.all(np.isfinite(net.trajectory_.loss))


@pytest.mark.parametrize("kw,error,match", [
    ({"smoothing_draws": -1}, ValueError, "smoothing_draws must be"),
    ({"smoothing_draws": 0.5}, (ValueError, TypeError), "smoothing_draws must be"),
    ({"loss": "squared", "smoothing": None}, ValueError,
     "smoothing_draws must be 1 unless loss='smoothed'.*got 0"),
    ({"smoothing": None}, ValueError, "smoothing must be a number > 0"),
])
def test_bad_input_is_named(data, kw, error, match):
    X, y = data
    with pytest.raises(error, match=match):
        MultiStepNetwork(**_kw(**kw)).fit(X, y)


def test_one_dimension_is_refused():
    X = np.random.default_rng(0).standard_normal((50, 1))
    with pytest.raises(ValueError, match=r"smoothing_draws=0 needs d >= 2.*got d = 1"):
        MultiStepNetwork(**_kw()).fit(X, X[:, 0] ** 2)


@pytest.mark.filterwarnings("ignore::fastrep.ridge.RidgeGridEdgeWarning")
def test_closed_form_runs_through_the_contexts_namespace(data):
    """The closed form on array_api_strict arrays (the CPU stand-in for a device: a NumPy W in
    its product, or a method strict arrays lack, fails) gives the NumPy fit's numbers, in
    several chunks."""
    xs = pytest.importorskip("array_api_strict")
    X, y = data
    X, y = X[:300], y[:300]
    kw = _kw(steps=2, backend="reference", chunk_size=128)
    ref = MultiStepNetwork(**kw).fit(X, y)
    net = MultiStepNetwork(**kw).fit(xs.asarray(X), xs.asarray(y))
    np.testing.assert_allclose(net.W_, ref.W_, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(net.trajectory_.loss, ref.trajectory_.loss, rtol=1e-10)
