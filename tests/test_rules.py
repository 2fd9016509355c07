"""The learners' rule tables: one declaration per learner, one checker, strict booleans, public
checks for sweeps, refit against the parameters that learned W, and the runner's lane bounds."""

import numpy as np
import pytest

import fastrep
from fastrep import NNGPRegressor, NTKRegressor, OneStepNetwork, OracleRegressor, RandomFeaturesRegressor
from fastrep.experiments.methods import OptionError, check_options
from fastrep.experiments.spec import SpecError, load_spec

LEARNERS = (OneStepNetwork, RandomFeaturesRegressor, NTKRegressor, NNGPRegressor)


def _data(n=40, d=4, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    return X, X[:, 0] * X[:, 1] + 0.1 * rng.standard_normal(n)


@pytest.mark.parametrize("option", ["rebias", "split", "center", "verbose"])
@pytest.mark.parametrize("bad", ["no", "false", 0, 1, None, 1.0])
def test_network_booleans_are_strict(option, bad):
    X, y = _data()
    with pytest.raises(TypeError, match=rf"^{option} must be True or False; got "):
        OneStepNetwork(width=8, **{option: bad}).fit(X, y)
    with pytest.raises(TypeError, match=rf"^{option} must be True or False"):
        OneStepNetwork(width=8, **{option: bad}).check_params()


@pytest.mark.parametrize("good", [True, False, np.bool_(True), np.bool_(False)])
def test_network_booleans_take_bools(good):
    OneStepNetwork(width=8, rebias=good, split=good, center=good).check_params()


def test_spec_boolean_strings_are_refused():
    raw = {"name": "net", "seeds": 1, "target": {"preset": "separation"}, "grid": {"d": [4], "n": [32]},
           "evaluation": {"n_val": 50, "n_test": 50}, "methods": {"onestep": {"rebias": "false"}}}
    with pytest.raises(SpecError, match=r"^methods\.onestep\.rebias: rebias must be True or False"):
        load_spec(raw)


@pytest.mark.parametrize("cls", LEARNERS + (OracleRegressor,))
def test_every_learner_declares_every_parameter(cls):
    """One table per learner, covering each constructor parameter but ``backend`` (resolved
    by the backend registry, which knows what this machine can run)."""
    names = set(cls._get_param_names()) - {"backend"}
    assert set(cls._parameter_rules) == names


@pytest.mark.parametrize("cls", LEARNERS)
def test_defaults_pass_their_own_table(cls):
    assert cls().check_params() is not None


@pytest.mark.parametrize("cls, params, name, exc", [
    (OneStepNetwork, {"width": 7}, "width", ValueError),
    (OneStepNetwork, {"steps": 0}, "steps", ValueError),
    (OneStepNetwork, {"seed": -1}, "seed", ValueError),
    (OneStepNetwork, {"seed": 2**63}, "seed", ValueError),
    (OneStepNetwork, {"chunk_size": 2.0}, "chunk_size", TypeError),
    (OneStepNetwork, {"max_memory": -1}, "max_memory", ValueError),
    (RandomFeaturesRegressor, {"width": 1}, "width", ValueError),
    (NTKRegressor, {"max_iter": True}, "max_iter", TypeError),
    (NTKRegressor, {"seed": -1, "solver": "nystrom"}, "seed", ValueError),  # once a raw NumPy error
    (NTKRegressor, {"verbose": "yes"}, "verbose", TypeError),
    (NNGPRegressor, {"tol": float("nan")}, "tol", ValueError),
])
def test_check_params_names_the_parameter(cls, params, name, exc):
    with pytest.raises(exc, match=rf"^{name} must be .*; got ") as info:
        cls(**params).check_params()
    assert info.value.parameter == name


def test_random_features_width_may_be_odd():
    RandomFeaturesRegressor(width=7).check_params()


def test_sweep_options_are_blamed_by_the_table_not_the_message():
    # 'seed' and 'ridge' appear in the message of the width rule's neighbours: the option is the
    # one the table refused
    with pytest.raises(OptionError) as info:
        check_options("onestep", {"ridge": 1.0, "steps": 0})
    assert info.value.option == "steps"
    with pytest.raises(OptionError) as info:
        check_options("ntk", {"solver": "auto", "ridge": "validate", "n_centers": 0})
    assert info.value.option == "n_centers"


def test_oracle_degree_too_large_for_memory_is_an_option_error():
    target = fastrep.MultiIndexTarget.random(6, 3, 2, seed=0)
    with pytest.raises(OptionError, match="degree") as info:
        check_options("oracle", {"degree": 400, "max_memory": 2**24}, target=target, n=100)
    assert info.value.option == "degree"
    est = OracleRegressor(target, degree=400, max_memory=2**24)
    with pytest.raises(MemoryError, match="degree"):
        est.check_fit(6, 100)
    assert OracleRegressor(target).check_fit(6, 100) == target.degree
    with pytest.raises(ValueError, match="X has 5 features but the target has d = 6"):
        OracleRegressor(target).check_fit(5)


# --------------------------------------------------------------------------- refit


@pytest.mark.parametrize("cls, change", [
    (OneStepNetwork, {"width": 16}), (OneStepNetwork, {"eta1": 0.5}), (OneStepNetwork, {"steps": 2}),
    (OneStepNetwork, {"split": True}), (OneStepNetwork, {"seed": 3}),
    (RandomFeaturesRegressor, {"width": 10}), (RandomFeaturesRegressor, {"seed": 3}),
])
def test_refit_refuses_changed_first_layer_parameters(cls, change):
    X, y = _data(60)
    net = cls(width=8, ridge=1e-3).fit(X, y)
    net.set_params(**change)
    name = next(iter(change))
    with pytest.raises(ValueError, match=rf"refit keeps the first layer W_ learned with {name}="):
        net.refit(X, y)
    stream = fastrep.GaussianStream(fastrep.MultiIndexTarget.separation(4, seed=0), seed=1)
    with pytest.raises(ValueError, match=rf"learned with {name}="):
        net.refit_stream(stream, 40)


def test_refit_honours_second_layer_parameters():
    X, y = _data(60)
    net = OneStepNetwork(width=8, ridge=1e-3).fit(X, y)
    net.set_params(ridge=0.5)
    net.refit(X, y)
    assert net.ridge_ == 0.5 and net.get_params()["ridge"] == 0.5
    fresh = OneStepNetwork(width=8, ridge=1e-3).fit(X, y)
    fresh.set_params(width=8)  # the same value again: nothing changed
    fresh.refit(X, y)


# --------------------------------------------------------------------------- the runner's lanes


def test_lanes_are_bounded():
    import os

    from fastrep.experiments.runner import lanes, run

    cpus = os.cpu_count() or 1
    with pytest.raises(ValueError, match=r"^threads must be a positive integer <= \d+"):
        lanes("serial", None, 1_000_000)
    with pytest.raises(ValueError, match=r"^workers must be a positive integer <= \d+"):
        lanes("processes", 10**6, None)
    with pytest.raises(TypeError, match=r"^threads must be"):
        lanes("serial", None, 2.0)
    assert lanes("serial", None, cpus) == (1, cpus)
    assert lanes("dask", None, 64) == (None, 64)
    spec = {"name": "net", "seeds": 1, "target": {"preset": "separation"}, "grid": {"d": [4], "n": [32]},
            "evaluation": {"n_val": 50, "n_test": 50}, "methods": {"onestep": {"width": 8}}}
    with pytest.raises(ValueError, match="threads must be a positive integer <="):
        run(spec, store=":memory:", executor="serial", threads=1_000_000, progress=False)


def test_cli_threads_bound_is_one_line(tmp_path, capsys):
    from fastrep.cli import main

    assert main(["demo", "--quick", "--serial", "--threads", "1000000", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert err.strip().splitlines()[-1].startswith("fastrep: error: threads must be a positive integer <=")


def test_refit_and_fit_transfer_booleans_are_strict():
    from fastrep.transfer import fit_transfer, shared_source

    X, y = _data(60)
    net = OneStepNetwork(width=8, ridge=1e-3).fit(X, y)
    with pytest.raises(TypeError, match=r"^rebias must be True or False; got 'no'"):
        net.refit(X, y, rebias="no")
    with pytest.raises(ValueError, match=r"^seed must be >= 0"):
        net.refit(X, y, seed=-1)
    target = fastrep.MultiIndexTarget.separation(4, seed=0)
    source = shared_source(target, fastrep.MultiIndexTarget.random(4, 2, 2, seed=1))
    with pytest.raises(TypeError, match=r"^rebias must be True or False; got 'false'"):
        fit_transfer(source, X, y, n_source=100, width=8, rebias="false")


def test_nystrom_seed_is_named_at_fit():
    X, y = _data(60)
    with pytest.raises(ValueError, match=r"^seed must be >= 0; got -1"):
        NTKRegressor(solver="nystrom", n_centers=10, ridge=1e-3, seed=-1).fit(X, y)
