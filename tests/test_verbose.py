"""verbose= on the learners: progress on stderr when True, nothing when False (the default); a
plain scikit-learn parameter; never part of a results store's cell identity."""

import numpy as np
import pytest
from sklearn.base import clone

import fastrep
from fastrep.experiments.methods import check_options

LEARNERS = [(fastrep.OneStepNetwork, {"width": 40}), (fastrep.RandomFeaturesRegressor, {"width": 40}),
            (fastrep.NTKRegressor, {}), (fastrep.NNGPRegressor, {})]


@pytest.fixture(scope="module")
def data():
    t = fastrep.MultiIndexTarget.separation(d=6, seed=0, noise=0.1)
    return t, *fastrep.GaussianStream(t, seed=1, dtype=np.float64).take(400)


@pytest.mark.parametrize("cls, kw", LEARNERS)
def test_verbose_writes_progress_to_stderr_and_quiet_writes_nothing(data, cls, kw, capsys):
    _, X, y = data
    assert cls(**kw).get_params()["verbose"] is False
    cls(**kw, ridge=1e-3).fit(X, y)
    quiet = capsys.readouterr()
    assert quiet.out == "" and quiet.err == ""
    cls(**kw, ridge=1e-3, verbose=True).fit(X, y)
    loud = capsys.readouterr()
    assert loud.out == ""
    assert f"{cls.__name__}: " in loud.err and " s\n" in loud.err  # stage lines with their times


def test_fit_stream_shows_a_row_bar_with_its_total(data, capsys):
    t, _, _ = data
    fastrep.OneStepNetwork(width=40, verbose=True).fit_stream(fastrep.GaussianStream(t, seed=2), 3000, n_val=200)
    err = capsys.readouterr().err
    for what in ("label statistics", "step 1 gradient", "feature moments"):
        assert f"OneStepNetwork: {what}" in err
    assert "3.00k" in err  # rows done against the known total
    assert "ridge path" in err


def test_nystrom_shows_its_conjugate_gradient(data, capsys):
    _, X, y = data
    fastrep.NTKRegressor(solver="nystrom", n_centers=50, ridge=1e-4, verbose=True).fit(X, y)
    err = capsys.readouterr().err
    assert "NTKRegressor: conjugate gradient, lambda = 0.0001" in err and "iterations, residual" in err


def test_refit_of_a_verbose_network_reports_too(data, capsys):
    _, X, y = data
    net = fastrep.OneStepNetwork(width=40, ridge=1e-3, verbose=True).fit(X, y)
    capsys.readouterr()
    net.refit(X, y)
    assert "OneStepNetwork.refit: label statistics" in capsys.readouterr().err


@pytest.mark.parametrize("cls, kw", LEARNERS)
def test_verbose_round_trips_and_is_checked(cls, kw):
    est = cls(**kw, verbose=True)
    assert est.get_params()["verbose"] is True and clone(est).get_params() == est.get_params()
    assert est.set_params(verbose=False).verbose is False
    with pytest.raises(TypeError, match="verbose must be True or False; got 'yes'"):
        cls(**kw, verbose="yes").fit(np.ones((10, 3)), np.arange(10.0))


@pytest.mark.parametrize("method", ["onestep", "random_features", "ntk", "nngp", "transfer"])
def test_verbose_is_not_part_of_a_cells_identity(method):
    quiet = check_options(method, {})
    assert check_options(method, {"verbose": True}) == quiet == check_options(method, {"verbose": False})
    assert "verbose" not in quiet


def test_specs_differing_only_in_verbose_have_the_same_cells():
    from fastrep.experiments.spec import load_spec

    def spec(opts):
        return load_spec({"name": "v", "epsilon": 0.25, "seeds": 1, "target": {"preset": "separation"},
                          "grid": {"d": [6], "n": [64]}, "methods": {"ntk": opts, "onestep": {"width": 20, **opts}}})

    a, b = spec({}), spec({"verbose": True})
    assert [c.params for c in a.cells()] == [c.params for c in b.cells()]
