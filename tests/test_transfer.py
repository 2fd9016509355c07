"""Transfer learning: W learned on a source head, frozen, second layer refit on a few target samples."""

import numpy as np
import pytest

from fastrep import GaussianStream, MultiIndexTarget, OneStepNetwork, RandomFeaturesRegressor
from fastrep.metrics import excess_error, subspace_alignment
from fastrep.transfer import fit_transfer, shared_source

D = 12


@pytest.fixture(scope="module")
def tasks():
    target = MultiIndexTarget.separation(D, seed=3)
    source = shared_source(target, MultiIndexTarget.random(D, 2, 2, seed=5))
    return source, target


def test_shared_source_keeps_the_head_and_takes_the_target_U(tasks):
    source, target = tasks
    head = MultiIndexTarget.random(D, 2, 2, seed=5)
    assert np.array_equal(source.U, target.U)
    assert source.terms == head.terms and source.noise == head.noise
    from_terms = shared_source(target, {(2, 0): 1.0, (0, 2): -1.0})
    assert np.array_equal(from_terms.U, target.U) and from_terms.r == 2
    with pytest.raises(ValueError, match="r = 1 directions but the target has r = 2"):
        shared_source(target, MultiIndexTarget.single_index(D, "he2"))
    with pytest.raises(ValueError, match="d = 8"):
        shared_source(target, MultiIndexTarget.random(8, 2, 2))


def test_transfer_freezes_W_and_beats_random_features(tasks):
    source, target = tasks
    n_s, n_t, width = 3000, 150, 200
    stream = GaussianStream(target, seed=11)
    X, y = stream.take(n_t)
    Xv, yv = stream.val().take(1000)
    net = fit_transfer(
        source, X, y, n_source=n_s, X_val=Xv, y_val=yv, seed=7, source_seed=9, n_val=500, width=width
    )
    # W is exactly what Algorithm 1 learns on the source alone
    ref = OneStepNetwork(width=width, seed=7).fit_stream(GaussianStream(source, 9), n_s, n_val=500)
    assert np.array_equal(net.W_, ref.W_)
    assert not np.array_equal(net.b_, ref.b_)  # biases re-drawn
    assert net.n_source_ == n_s and "total" in net.source_timings_
    assert subspace_alignment(net.W_, target.U) > 0.5  # it found span(U) on the source (random: 2/12)
    err_transfer = excess_error(net, target, n_test=2000, seed=1)
    rf = RandomFeaturesRegressor(width=width, seed=7).fit(X, y, Xv, yv)
    err_rf = excess_error(rf, target, n_test=2000, seed=1)
    assert err_transfer < 0.6 * err_rf, (err_transfer, err_rf)


def test_fit_transfer_arguments(tasks):
    source, target = tasks
    X, y = GaussianStream(target, seed=1).take(50)
    with pytest.raises(ValueError, match="n_source"):
        fit_transfer(source, X, y, n_source=0, width=20)
    with pytest.raises(TypeError, match="widht"):
        fit_transfer(source, X, y, n_source=100, widht=20)


def test_a_mistyped_option_names_fit_transfer(tasks):
    source, target = tasks
    X, y = GaussianStream(target, seed=1).take(20)
    msg = r"^fit_transfer\(\) got unknown option\(s\) widht; OneStepNetwork options are .*width"
    with pytest.raises(TypeError, match=msg) as exc:
        fit_transfer(source, X, y, n_source=100, widht=8)
    assert "_TwoLayerBase" not in str(exc.value)


def test_the_refit_estimates_no_d_dimensional_label_part():
    """Transfer refits the second layer only (the paper's protocol): nothing of size d is
    estimated from the n_t target samples. Re-estimating beta_hat = mean(y x) in R^d, as the
    source fit's label centring does, costs about d / n_t of excess error and made transfer's
    n*_t grow like d (slope 1.07 over d = 64 .. 256 in `fastrep demo --large`)."""
    d, n_t = 96, 16
    target = MultiIndexTarget.separation(d, seed=3)
    source = shared_source(target, MultiIndexTarget.random(d, 2, 2, seed=5))
    stream = GaussianStream(target, seed=11)
    X, y = stream.take(n_t)
    Xv, yv = stream.val().take(2000)
    net = fit_transfer(source, X, y, n_source=8 * d * d, X_val=Xv, y_val=yv, seed=7, source_seed=9,
                       n_val=500, width=100)
    assert net.label_mean_ == pytest.approx(float(np.mean(y)), rel=1e-6)
    assert not np.any(net.label_linear_)
    # with a head this poor, validation can always fall back to (about) the training mean
    assert excess_error(net, target, n_test=4000, seed=1) < 1.2


@pytest.mark.parametrize("backend", ["reference", "cpp", "numba", "cupy"])
def test_a_transfer_cell_and_fit_transfer_agree(backend):
    """The sweeps' transfer cell and fit_transfer run one source fit (fastrep.transfer.fit_source):
    the same numbers on every backend (the cell once built its source stream without the
    network's backend, so on 'cupy' a host stream that the device path refuses)."""
    import fastrep
    from fastrep.experiments.methods import build_target, derive_seed, run_transfer
    from fastrep.experiments.spec import load_spec

    if fastrep.backends().get(backend) != "available":
        pytest.skip(str(fastrep.backends().get(backend)))
    source = {"target": {"preset": "random", "r": 2, "p": 2}, "n": 400}
    spec = load_spec({"name": "tr", "seeds": 1, "target": {"preset": "separation"},
                      "grid": {"d": [6], "n": [60]}, "evaluation": {"n_val": 80, "n_test": 200},
                      "methods": {"transfer": {"width": 16, "backend": backend, "source": source}}})
    (cell,) = spec.cells()
    p = cell.params
    got = run_transfer(p)
    d, seed = p["d"], p["seed"]
    target = build_target(p["target"], d, seed)
    src = build_target(p["source"]["target"], d, seed, U=target.U)
    stream = GaussianStream(target, seed=derive_seed(seed, "data"))
    X, y = stream.take(p["n"])
    Xv, yv = stream.val().take(p["evaluation"]["n_val"])
    opts = dict(p["options"])
    net = fit_transfer(src, X, y, n_source=p["n_source"], X_val=Xv, y_val=yv, seed=derive_seed(seed, "model"),
                       source_seed=derive_seed(seed, "source_data"), n_val=p["evaluation"]["n_val"], **opts)
    assert net.backend_["onestep"] == backend
    import json

    assert json.loads(got["backend"]) == net.backend_  # the source stream included
    want = excess_error(net, target, n_test=p["evaluation"]["n_test"], seed=derive_seed(seed, "test"))
    assert got["excess_error"] == want
    assert got["alignment"] == subspace_alignment(net.W_, target.U)
