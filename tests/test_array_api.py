"""The whole science layer on array_api_strict arrays (the reference backend): the CPU stand-in for
a device. Every output keeps the input's array type, any accidental NumPy mixing fails (the
strict library refuses NumPy operands), and the numbers equal those of the same fit on NumPy.
A fitted model pickles with its arrays on the host and predicts on plain NumPy data."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

import fastrep
from fastrep.backend import to_host
from fastrep.metrics import excess_error, subspace_alignment

xs = pytest.importorskip("array_api_strict")
Strict = type(xs.asarray(0.0))

D, N = 5, 300


@pytest.fixture(autouse=True)
def _auto_means_auto(monkeypatch):
    # FASTREP_BACKEND=cpp would replace 'auto' by a backend that cannot take these arrays
    monkeypatch.delenv("FASTREP_BACKEND", raising=False)


def _s(a):
    return xs.asarray(np.asarray(a))


class StrictStream:
    """A stream (the documented protocol: d, dtype, chunks, val) whose chunks are strict arrays."""

    def __init__(self, inner):
        self.inner, self.d, self.dtype, self.target = inner, inner.d, inner.dtype, inner.target

    def chunks(self, start, stop, chunk_size=None):
        for X, y in self.inner.chunks(start, stop, chunk_size):
            yield _s(X), _s(y)

    def val(self):
        return StrictStream(self.inner.val())

    def take(self, n, *, start=0):
        X, y = self.inner.take(n, start=start)
        return _s(X), _s(y)


@pytest.fixture(scope="module")
def problem():
    target = fastrep.MultiIndexTarget(D, {(2, 0): 1.0, (1, 1): 0.5}, noise=0.01, seed=3)
    stream = fastrep.GaussianStream(target, 1, dtype=np.float64, backend="reference")
    X, y = stream.take(N)
    Xv, yv = stream.val().take(100)
    return target, stream, X, y, Xv, yv


def _close(got, want, tol=1e-9):
    assert isinstance(got, Strict), type(got)
    np.testing.assert_allclose(to_host(got), to_host(want), rtol=tol, atol=tol)


def _net(**kw):
    return fastrep.OneStepNetwork(width=16, dtype=np.float64, backend="reference", seed=2, **kw)


@pytest.mark.parametrize("val", [False, True])
def test_array_api_onestep_fit_predict(problem, val):
    _, _, X, y, Xv, yv = problem
    args = (Xv, yv) if val else ()
    ref = _net().fit(X, y, *args)
    net = _net().fit(_s(X), _s(y), *map(_s, args))
    _close(net.predict(_s(Xv)), ref.predict(Xv))
    assert net.ridge_ == ref.ridge_
    assert set(net.backend_.values()) == {"reference"}
    assert isinstance(net.a_, np.ndarray) and isinstance(net.W_, np.ndarray)  # fitted arrays: host


def test_array_api_random_features(problem):
    _, _, X, y, Xv, _ = problem
    ref = fastrep.RandomFeaturesRegressor(width=12, dtype=np.float64, backend="reference").fit(X, y)
    rf = fastrep.RandomFeaturesRegressor(width=12, dtype=np.float64, backend="reference").fit(_s(X), _s(y))
    _close(rf.predict(_s(Xv)), ref.predict(Xv))


# noiseless-looking small fits end at the grid's minimum; the test compares backends
@pytest.mark.filterwarnings("ignore::fastrep.ridge.RidgeGridEdgeWarning")
def test_array_api_fit_stream_and_refit(problem):
    target, stream, X, y, Xv, yv = problem
    ref = _net().fit_stream(stream, N, n_val=50)
    net = _net().fit_stream(StrictStream(stream), N, n_val=50)
    _close(net.predict(_s(Xv)), ref.predict(Xv))
    assert net.backend_ == {"onestep": "reference", "features": "reference", "ridge": "reference"}
    ref.refit(Xv, yv, rebias=True)
    net.refit(_s(Xv), _s(yv), rebias=True)
    _close(net.predict(_s(X)), ref.predict(X))
    assert excess_error(net, target, n_test=200) == pytest.approx(excess_error(ref, target, n_test=200),
                                                                  rel=1e-9)


def test_array_api_fit_transfer(problem):
    target, _, _, _, Xv, yv = problem
    source = fastrep.shared_source(target, {(2, 0): 1.0, (0, 2): -1.0})
    opts = dict(n_source=400, width=16, dtype=np.float64, backend="reference", n_val=50, seed=4)
    ref = fastrep.fit_transfer(source, Xv, yv, **opts)
    net = fastrep.fit_transfer(source, _s(Xv), _s(yv), **opts)
    _close(net.predict(_s(Xv)), ref.predict(Xv))
    assert subspace_alignment(_s(net.W_), _s(target.U)) == pytest.approx(
        subspace_alignment(ref.W_, target.U), rel=1e-12)


def test_array_api_ntk_kernel(problem):
    _, _, X, _, Xv, _ = problem
    for fn in (fastrep.ntk_kernel, fastrep.nngp_kernel):
        _close(fn(_s(X[:20]), backend="reference"), fn(X[:20], backend="reference"), 1e-12)
        _close(fn(_s(X[:20]), _s(Xv[:7]), 0.5), fn(X[:20], Xv[:7], 0.5), 1e-12)  # 'auto' -> reference


@pytest.mark.parametrize("solver,ridge", [("cholesky", 1e-3), ("cholesky", "validate"),
                                          ("nystrom", 1e-3), ("nystrom", "validate")])
# the validate cases end at the grid's minimum; the test compares backends
@pytest.mark.filterwarnings("ignore::fastrep.ridge.RidgeGridEdgeWarning")
def test_array_api_ntk_regressor(problem, solver, ridge):
    target, _, X, y, Xv, yv = problem
    kw = dict(solver=solver, ridge=ridge, backend="reference", n_centers=60 if solver == "nystrom" else None)
    ref = fastrep.NTKRegressor(**kw).fit(X, y, Xv, yv)
    got = fastrep.NTKRegressor(**kw).fit(_s(X), _s(y), _s(Xv), _s(yv))
    assert got.ridge_ == ref.ridge_ and got.solver_ == solver
    _close(got.predict(_s(Xv)), ref.predict(Xv), 1e-7)
    assert isinstance(got.dual_coef_, np.ndarray) and isinstance(got.X_fit_, np.ndarray)
    assert set(got.backend_.values()) == {"reference"}
    assert excess_error(got, target, n_test=100) == pytest.approx(excess_error(ref, target, n_test=100),
                                                                  rel=1e-6)


# the oracle's exact features end at the grid's minimum; the test compares backends
@pytest.mark.filterwarnings("ignore::fastrep.ridge.RidgeGridEdgeWarning")
def test_array_api_oracle(problem):
    target, stream, X, y, Xv, yv = problem
    ref = fastrep.OracleRegressor(target, backend="reference").fit(X, y)
    got = fastrep.OracleRegressor(target, backend="reference").fit(_s(X), _s(y))
    _close(got.predict(_s(Xv)), ref.predict(Xv))
    oracle = fastrep.OracleRegressor(target, backend="reference")
    streamed = oracle.fit_stream(StrictStream(stream), N, n_val=50).predict(_s(Xv))
    _close(streamed, oracle.fit_stream(stream, N, n_val=50).predict(Xv))
    assert excess_error(got, target, n_test=200) < 0.05


def test_array_api_targets_and_hermite(problem):
    target, _, X, _, _, _ = problem
    _close(target.f(_s(X)), target.f(X), 1e-12)
    _close(fastrep.hermite(_s(X[:, 0]), 3, backend="reference"), fastrep.hermite(X[:, 0], 3), 1e-10)


def test_array_api_mixing_numpy_fails(problem):
    _, _, X, y, _, _ = problem
    with pytest.raises(TypeError, match="mix"):
        _net().fit(_s(X), y)
    with pytest.raises(TypeError):
        fastrep.ntk_kernel(_s(X), X)
    with pytest.raises(TypeError, match="backend='reference'"):
        fastrep.OneStepNetwork(width=16, backend="cpp").fit(_s(X), _s(y))


@pytest.mark.parametrize("make", ["onestep", "ntk", "nystrom", "oracle"])
def test_array_api_fitted_models_pickle_to_the_host(problem, make):
    """Fitted on the stand-in device, pickled, predicting on plain NumPy (and the reverse)."""
    target, _, X, y, Xv, _ = problem
    model = {
        "onestep": lambda: _net(),
        "ntk": lambda: fastrep.NTKRegressor(ridge=1e-3, backend="reference"),
        "nystrom": lambda: fastrep.NTKRegressor(ridge=1e-3, solver="nystrom", n_centers=50,
                                                backend="reference"),
        "oracle": lambda: fastrep.OracleRegressor(target, backend="reference"),
    }[make]()
    model.fit(_s(X), _s(y))
    on_device = to_host(model.predict(_s(Xv)))
    back = pickle.loads(pickle.dumps(model))
    assert not hasattr(back, "_ctx") and getattr(back, "_device", None) is None
    host = back.predict(Xv)  # a NumPy array: no strict array anywhere in the unpickled model
    assert isinstance(host, np.ndarray)
    np.testing.assert_allclose(host, on_device, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(to_host(back.predict(_s(Xv))), on_device, rtol=1e-10, atol=1e-12)
    assert excess_error(back, target, n_test=100) >= 0  # evaluated on the host


# The multi-step trainer's device path (issue 24): every protocol's generic step, the K-draw smoothed
# gradient and the large-batch online loop go through the Context's xp; on strict arrays they must
# give the NumPy fit's numbers (a NumPy call slipped into any of them fails: strict refuses NumPy).
@pytest.mark.filterwarnings("ignore::fastrep.ridge.RidgeGridEdgeWarning")
@pytest.mark.parametrize("kw", [
    dict(steps=3, protocol="fresh"),
    dict(steps=2, protocol="reuse", readout="gaussian", bias=False, weight_decay=0.0, lr=0.3),
    dict(steps=3, protocol="online", batch_size=80, lr=0.05, weight_decay=0.0, spherical=True),
    dict(steps=2, protocol="reuse", loss="smoothed", smoothing=0.5, smoothing_draws=3, lr=0.2,
         weight_decay=0.0, readout="gaussian"),
    dict(steps=2, protocol="reuse", loss="smoothed", smoothing=0.5, lr=0.2, weight_decay=0.0,
         readout="gaussian"),
], ids=["fresh", "reuse", "online-B80", "smoothed-K3", "smoothed-K1"])
def test_array_api_multistep(problem, kw):
    _, _, X, y, Xv, _ = problem
    opts = dict(width=16, dtype=np.float64, backend="reference", seed=2, ridge=1e-3, **kw)
    ref = fastrep.MultiStepNetwork(**opts).fit(X, y)
    net = fastrep.MultiStepNetwork(**opts).fit(_s(X), _s(y))
    assert isinstance(net.W_, np.ndarray)
    np.testing.assert_allclose(net.W_, ref.W_, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(net.trajectory_.loss, ref.trajectory_.loss, rtol=1e-10)
    _close(net.predict(_s(Xv)), ref.predict(Xv))
