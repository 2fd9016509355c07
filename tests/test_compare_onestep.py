"""benchmarks/compare_onestep.py's peers: skipped cleanly without JAX/PyTorch, right answers with them.

The peers are benchmark code, not fastrep, but a peer that computes something else would make the
ratios meaningless: each one, when installed, fits a tiny problem and must match fastrep's own
fit of the same problem to within what different random draws allow.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent


def _module():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        return importlib.import_module("compare_onestep")
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))


@pytest.mark.parametrize("lib, maker", [("jax", "make_jax"), ("torch", "make_torch")])
def test_peer_is_skipped_without_its_library(monkeypatch, lib, maker):
    mod = _module()
    monkeypatch.setitem(sys.modules, lib, None)  # import raises ImportError
    assert getattr(mod, maker)(400, 8, 16, 200, 100) is None


def _fastrep_error(mod, n, d, m):
    import fastrep
    from fastrep.metrics import excess_error

    target = fastrep.MultiIndexTarget.single_index(d, "he2", noise=mod.NOISE, seed=0)
    net = fastrep.OneStepNetwork(width=m, seed=0).fit_stream(fastrep.GaussianStream(target, 5), n, n_val=500)
    return target, excess_error(net, target, 2000, seed=0)


@pytest.mark.slow  # JAX's compile and import take most of a minute on a shared 2-core machine
@pytest.mark.parametrize("lib", ["jax", "torch"])
def test_peer_fits_like_fastrep(lib):
    pytest.importorskip(lib)
    from fastrep.metrics import excess_error

    mod = _module()
    n, d, m = 4000, 8, 64
    target, err_fastrep = _fastrep_error(mod, n, d, m)
    u = np.asarray(target.U[0], dtype=np.float32)
    if lib == "jax":
        _, run = mod.make_jax(n, d, m, 1000, 500)
    else:
        run = mod.make_torch(n, d, m, 1000, 500)
    peer, seconds = run(1, u)
    err = excess_error(peer, target, 2000, seed=0)
    assert seconds > 0 and np.isfinite(err)
    # h_2 at d = 8 with 4000 samples is learned well by Algorithm 1; a peer that got the
    # algorithm wrong (no centering, wrong sign, no step) stays near the null error 1
    assert err < max(3 * err_fastrep, 0.2), (err, err_fastrep)
