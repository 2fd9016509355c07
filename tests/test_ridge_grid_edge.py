"""Validation that picks an end of the lambda grid says so (fastrep.RidgeGridEdgeWarning), at both
ends, for every learner that validates lambda; an interior choice says nothing; a sweep cell
records it in ``extra`` instead of warning, and the report counts those cells per method."""

import warnings

import numpy as np
import pytest

import fastrep
from fastrep.ridge import RidgeGridEdgeWarning, lambda_grid, ridge_path


def _linear(n, d=5, noise=0.0, seed=0):
    rng = np.random.default_rng(seed)
    w = rng.standard_normal(d)
    X, Xv = rng.standard_normal((n, d)), rng.standard_normal((200, d))
    return X, X @ w + noise * rng.standard_normal(n), Xv, Xv @ w + noise * rng.standard_normal(200)


def test_warning_is_public_and_a_userwarning():
    assert fastrep.RidgeGridEdgeWarning is RidgeGridEdgeWarning
    assert issubclass(RidgeGridEdgeWarning, UserWarning)
    assert "RidgeGridEdgeWarning" in fastrep.__all__


def test_ridge_path_reports_each_end_and_not_the_interior():
    grid = lambda_grid(5)
    with pytest.warns(RidgeGridEdgeWarning, match=r"^Est: validation chose ridge=1e-10, the smallest") as rec:
        p = ridge_path(grid, [1.0, 2.0, 3.0, 4.0, 5.0], who="Est")
    assert p.edge == "min" and rec[0].message.edge == "min" and rec[0].message.ridge == 1e-10
    assert "[1e-10, 1e+15]" in str(rec[0].message) and "lambda_grid(20, 1e-14, 1e-10)" in str(rec[0].message)
    with pytest.warns(RidgeGridEdgeWarning, match=r"the largest value of its grid") as rec:
        p = ridge_path(grid, [5.0, 4.0, 3.0, 2.0, 1.0], who="Est")
    assert p.edge == "max" and "lambda_grid(20, 1e+15, 1e+19)" in str(rec[0].message)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert ridge_path(grid, [3.0, 2.0, 1.0, 2.0, 3.0], who="Est").edge is None
        assert ridge_path(grid, [1.0, 2.0, 3.0, 4.0, 5.0]).edge == "min"  # no owner named: no warning


@pytest.mark.parametrize("cls, kw, low, with_val", [
    (fastrep.NTKRegressor, {}, 1e-10, True),
    (fastrep.NNGPRegressor, {}, 1e-10, True),
    # the Nystrom grid, on validation data and on its held-out slice of the training rows
    (fastrep.NTKRegressor, {"solver": "nystrom", "n_centers": 100}, 1e-9, True),
    (fastrep.NTKRegressor, {"solver": "nystrom", "n_centers": 100}, 1e-9, False),
])
def test_noiseless_target_warns_at_the_grid_minimum(cls, kw, low, with_val):
    X, y, Xv, yv = _linear(400)
    with pytest.warns(RidgeGridEdgeWarning, match=rf"^{cls.__name__}: validation chose ridge={low:.0e}, "
                                                  "the smallest value of its grid"):
        model = cls(**kw).fit(X, y, *((Xv, yv) if with_val else ()))
    assert model.ridge_path_.edge == "min" and model.ridge_ == low


def test_oracle_on_a_noiseless_target_warns_at_the_minimum():  # chosen by GCV
    t = fastrep.MultiIndexTarget.separation(d=6, seed=0, noise=0.0)
    X, y = fastrep.GaussianStream(t, seed=1, dtype=np.float64).take(300)
    with pytest.warns(RidgeGridEdgeWarning, match=r"^OracleRegressor: .* the smallest"):
        assert fastrep.OracleRegressor(t).fit(X, y).ridge_path_.edge == "min"


@pytest.mark.parametrize("cls", [fastrep.OneStepNetwork, fastrep.RandomFeaturesRegressor])
def test_pure_noise_labels_warn_at_the_grid_maximum(cls):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((200, 5))
    with pytest.warns(RidgeGridEdgeWarning, match=rf"^{cls.__name__}: validation chose ridge=1e\+15, "
                                                  "the largest value of its grid"):
        model = cls(width=100).fit(X, rng.standard_normal(200))
    assert model.ridge_path_.edge == "max" and model.ridge_ == 1e15


def test_transfer_refit_warns_but_not_its_source_fit():
    rng = np.random.default_rng(0)
    target = fastrep.MultiIndexTarget.separation(d=6, seed=0, noise=0.0)
    source = fastrep.shared_source(target, {(2, 0): 1.0, (0, 2): -1.0})
    # pure-noise target labels, fewer rows than features: the refit's GCV goes to the largest ridge
    X = rng.standard_normal((50, 6))
    with pytest.warns(RidgeGridEdgeWarning) as rec:
        net = fastrep.fit_transfer(source, X, rng.standard_normal(50), n_source=300, n_val=200, width=100)
    assert len(rec) == 1 and rec[0].message.edge == "max" and net.ridge_path_.edge == "max"


def test_interior_choice_does_not_warn():
    X, y, Xv, yv = _linear(300, noise=1.0, seed=2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for model in (fastrep.NTKRegressor().fit(X, y, Xv, yv), fastrep.OneStepNetwork(width=50).fit(X, y)):
            assert model.ridge_path_.edge is None


def _params(method, options):
    return {"target": {"preset": "separation", "noise": 0.0}, "d": 6, "n": 300, "method": method,
            "label": method, "seed": 0, "options": options, "evaluation": {"n_val": 200, "n_test": 200}}


def test_sweep_cells_record_the_edge_instead_of_warning():
    from fastrep.experiments import methods as M

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # as under the test suite's filterwarnings=error: nothing escapes
        out = M.run_ntk(_params("ntk", {"ridge": "validate"}))
        fixed = M.run_ntk(_params("ntk", {"ridge": 1e-3}))
    assert out["extra"]["ridge_at_grid_edge"] == "min" and out["extra"]["ridge"] == 1e-10
    assert "ridge_at_grid_edge" not in fixed["extra"]


def test_report_counts_edge_cells_per_method():
    import pandas as pd

    from fastrep.experiments.report import grid_edge_lines

    df = pd.DataFrame({"label": ["ntk"] * 4 + ["onestep"] * 2, "method": ["ntk"] * 4 + ["onestep"] * 2,
                       "extra": [{"ridge_at_grid_edge": "min"}] * 3 + [{}] + [{"ridge": 1.0}, {}]})
    lines = grid_edge_lines(df)
    assert lines == ["- NTK ridge: validation chose λ at the grid's lower end in 3 of 4 cells"]
