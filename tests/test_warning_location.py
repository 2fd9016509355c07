"""fastrep's warnings point at the user's line (the call into fastrep), not at fastrep's own
source, however deep inside fastrep they are raised."""

import importlib
import sys
import warnings

import numpy as np

import fastrep
from fastrep import GaussianStream, MultiIndexTarget, OneStepNetwork


def _caught(func, category):
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        func()
    hits = [w for w in rec if issubclass(w.category, category)]
    assert hits, [str(w.message) for w in rec]
    return hits


def test_ridge_grid_edge_points_at_the_fit_call():
    rng = np.random.default_rng(0)
    w = rng.standard_normal(5)
    X, Xv = rng.standard_normal((400, 5)), rng.standard_normal((200, 5))
    for kw in ({}, {"solver": "nystrom", "n_centers": 100}):
        model = fastrep.NTKRegressor(**kw)
        for w_ in _caught(lambda m=model: m.fit(X, X @ w, Xv, Xv @ w), fastrep.RidgeGridEdgeWarning):
            assert w_.filename == __file__, (w_.filename, w_.lineno)


def test_degenerate_target_points_at_the_fit_call():
    target = MultiIndexTarget.single_index(8, "he3", seed=0)
    hits = _caught(lambda: OneStepNetwork(width=20, ridge=1.0).fit_stream(GaussianStream(target, 0), 500),
                   fastrep.DegenerateTargetWarning)
    assert all(w.filename == __file__ for w in hits), [(w.filename, w.lineno) for w in hits]


def test_deprecated_module_points_at_the_import():
    sys.modules.pop("fastrep.kernels", None)
    hits = _caught(lambda: importlib.import_module("fastrep.kernels"), DeprecationWarning)
    # the first frame outside fastrep and the import machinery: this file's import call
    assert all(w.filename == __file__ for w in hits), [(w.filename, w.lineno) for w in hits]
