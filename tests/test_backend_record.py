"""backend_ records what really ran, the store records backend_, and `fastrep backends` reports what
a fit would use: checked by spying on every backend module while a fit runs."""

from __future__ import annotations

import json
import pickle
import warnings

import numpy as np
import pytest

import fastrep
from fastrep import backend as B
from fastrep.cli import main

SPIED = ("gaussian_block", "onestep_gradient", "relu_features", "feature_moments", "eigh", "cholesky",
         "kernel_gram", "kernel_matvec", "kernel_normal_matvec", "hermite_features")
#: which operations make up each family of backend_
FAMILY_OPS = {"stream": {"gaussian_block", "hermite_features"}, "onestep": {"onestep_gradient"},
              "features": {"feature_moments", "relu_features"}, "ridge": {"eigh", "cholesky"},
              "gram": {"kernel_gram"}, "predict": {"kernel_matvec"}, "nystrom": {"kernel_normal_matvec"},
              "hermite": {"hermite_features"}}


@pytest.fixture
def calls(monkeypatch):
    log = []
    for name in ("reference", "cpp", "numba"):
        try:
            mod = B.get_backend(name)
        except B.BackendUnavailableError:
            continue
        for op in SPIED:
            fn = getattr(mod, op)

            def spy(*a, _fn=fn, _name=name, _op=op, **k):
                log.append((_op, _name))
                return _fn(*a, **k)

            monkeypatch.setattr(mod, op, spy)
    return log


def _ran(log):
    out = {}
    for op, name in log:
        out.setdefault(op, set()).add(name)
    return out


def _check(backend_, log):
    ran = _ran(log)
    for family, name in backend_.items():
        for op in FAMILY_OPS[family] & set(ran):
            assert ran[op] == {name}, (family, op, ran[op], name)
    assert {op for op in ran} <= set().union(*(FAMILY_OPS[f] for f in backend_)), (ran, backend_)


def _problem():
    target = fastrep.MultiIndexTarget.single_index(6, "he2", seed=1)
    stream = fastrep.GaussianStream(target, 0)
    return target, stream


@pytest.mark.parametrize("order", [("numba", "cpp", "reference"), ("cpp", "numba", "reference")])
def test_onestep_backend_is_what_ran(monkeypatch, calls, order):
    pytest.importorskip("numba")
    try:
        B.get_backend("cpp")
    except B.BackendUnavailableError:
        pytest.skip("the compiled core is not built")
    monkeypatch.delenv("FASTREP_BACKEND", raising=False)
    monkeypatch.setitem(B.AUTO_PREFERENCE, "onestep_gradient", order)
    monkeypatch.setitem(B.AUTO_PREFERENCE, "feature_moments", (order[1], order[0], "reference"))
    target, stream = _problem()
    X, y = stream.take(600)
    calls.clear()
    net = fastrep.OneStepNetwork(width=16, backend="auto").fit(X, y)
    assert net.backend_["onestep"] == order[0]
    _check(net.backend_, calls)
    calls.clear()
    net = fastrep.OneStepNetwork(width=16, backend="auto").fit_stream(stream, 600, n_val=100)
    assert net.backend_["onestep"] == order[0] and net.backend_["stream"] == stream.ops.name
    fit_calls = list(calls)
    _check(net.backend_, fit_calls)
    assert {name for op, name in fit_calls if op == "gaussian_block"} == {stream.ops.name}
    # fastrep backends reports the same plan
    plan = B.fit_plan("auto")["OneStepNetwork"]
    assert plan["onestep"] == order[0] and plan["features"] == net.backend_["features"]


# validated fits may end at the grid's edge; the test is about backend_
@pytest.mark.filterwarnings("ignore::fastrep.ridge.RidgeGridEdgeWarning")
def test_every_learner_records_its_families(calls):
    target, stream = _problem()
    X, y = stream.take(300)
    models = [
        fastrep.NTKRegressor(ridge=1e-3),
        fastrep.NTKRegressor(ridge="validate"),
        fastrep.NTKRegressor(ridge=1e-3, solver="nystrom", n_centers=40),
        fastrep.OracleRegressor(target),
        fastrep.RandomFeaturesRegressor(width=10),
    ]
    for model in models:
        calls.clear()
        model.fit(X, y)
        _check(model.backend_, calls)
        assert set(model.backend_) <= set(B.FAMILIES[type(model).__name__])


def test_the_store_holds_backend_(monkeypatch):
    from fastrep.experiments import methods

    seen = {}
    finish = methods._finish

    def spy(model, *a, **k):
        out = finish(model, *a, **k)
        seen["model"], seen["out"] = model, out
        return out

    monkeypatch.setattr(methods, "_finish", spy)
    params = {"target": {"preset": "single_index", "kind": "he2"}, "d": 5, "n": 200, "method": "onestep",
              "label": "onestep", "seed": 0, "options": {"width": 16, "backend": "auto"},
              "evaluation": {"n_val": 100, "n_test": 100}}
    out = methods.run_onestep(params)
    assert out["backend"] == json.dumps(seen["model"].backend_, sort_keys=True)
    assert json.loads(out["backend"])["onestep"] == B.fit_plan("auto")["OneStepNetwork"]["onestep"]


def test_fastrep_backends_prints_the_fit_plan(capsys):
    assert main(["backends"]) == 0
    out = capsys.readouterr().out
    for learner, plan in B.fit_plan("auto").items():
        line = next(ln for ln in out.splitlines() if ln.strip().startswith(f"{learner}:"))
        for family, name in plan.items():
            assert f"{family} -> {name}" in line


def test_streams_and_models_pickle_without_modules():
    target, stream = _problem()
    s2 = pickle.loads(pickle.dumps(stream))
    np.testing.assert_array_equal(s2.take(5)[0], stream.take(5)[0])
    net = fastrep.OneStepNetwork(width=8).fit(*stream.take(200))
    back = pickle.loads(pickle.dumps(net))
    assert back.backend_ == net.backend_ and not hasattr(back, "_ctx")
    np.testing.assert_array_equal(back.predict(stream.take(7)[0]), net.predict(stream.take(7)[0]))


def test_fastrep_kernels_is_a_deprecated_alias():
    import importlib
    import sys

    sys.modules.pop("fastrep.kernels", None)
    with pytest.warns(DeprecationWarning, match="renamed fastrep.ntk"):
        mod = importlib.import_module("fastrep.kernels")
    assert mod.ntk_kernel is fastrep.ntk.ntk_kernel
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert fastrep.ntk_kernel is fastrep.ntk.ntk_kernel  # the new home warns about nothing


def test_the_science_layer_names_no_array_library():
    """Issue 11's acceptance grep: only _arrays.py, backend.py and fastrep/_kernels/ may name an
    array library."""
    import re
    from pathlib import Path

    root = Path(fastrep.__file__).parent
    pattern = re.compile(r"import cupy|cupy\.|[!=]= *[\"']cupy[\"']|\.get\(\)|hasattr\([a-zA-Z_]+, *[\"']get[\"']\)"
                         r"|is_cupy_array|xp is (not )?np")
    hits = []
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root).as_posix()
        if rel in ("backend.py", "_arrays.py") or rel.startswith("_kernels/"):
            continue
        hits += [f"{rel}:{i}: {line.strip()}" for i, line in enumerate(path.read_text().splitlines(), 1)
                 if pattern.search(line)]
    assert not hits, "\n".join(hits)
