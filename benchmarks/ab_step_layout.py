"""Canonical fit (h_2, d=200, n=4e5, width 1000, float32): the Driver's old X @ W.T view against the
contiguous W^T copy, swapped in alternately in one process.

    python benchmarks/ab_step_layout.py [ROUNDS]
"""
import os
import sys
import types

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import compare_onestep as co  # noqa: E402
from _common import blas_setting, machine  # noqa: E402

from fastrep._kernels import _dense, cpp  # noqa: E402
from fastrep._kernels import numba as nbk  # noqa: E402

new_og, new_rf = _dense.Driver.onestep_gradient, _dense.Driver.relu_features

def old_og(self, X, W, b, r, acc=None):
    xp = self.xp
    P = xp.ascontiguousarray(X @ W.T)
    self.mask_scale(P, xp.ascontiguousarray(b), xp.ascontiguousarray(r))
    G = P.T @ X
    if acc is None:
        return G
    acc += G
    return acc

def old_rf(self, X, W, b, paired, out=None):
    xp = self.xp
    P = xp.ascontiguousarray(X @ W.T)
    b = xp.ascontiguousarray(b)
    if not paired and out is None:
        self.relu_bias(P, b, False, P)
        return P
    m = 2 * W.shape[0] if paired else W.shape[0]
    if out is None:
        out = xp.empty((X.shape[0], m), dtype=X.dtype)
    self.relu_bias(P, b, paired, out)
    return out

def use(og, rf):
    _dense.Driver.onestep_gradient, _dense.Driver.relu_features = og, rf
    for mod in (cpp, nbk):
        mod.onestep_gradient = types.MethodType(og, mod._driver)
        mod.relu_features = types.MethodType(rf, mod._driver)



def main(rounds):
    print(machine())
    print(co.isa())
    print(blas_setting())
    print("load before", os.getloadavg(), flush=True)
    variants = {"old (X @ W.T view)": (old_og, old_rf), "new (X @ contiguous W.T)": (new_og, new_rf)}
    times = {k: [] for k in variants}
    use(new_og, new_rf)
    co.one_fit(50_000, 200, 1000)  # warm-up (numba/JIT, caches)
    for _ in range(rounds):
        for k, (og, rf) in variants.items():
            use(og, rf)
            net, _target, dt = co.one_fit(400_000, 200, 1000)
            times[k].append(dt)
            print(k, f"{dt:.2f} s", "backends", getattr(net, "backend_", "?"),
                  "load", os.getloadavg(), flush=True)
    use(new_og, new_rf)
    o, n = (float(np.median(v)) for v in times.values())
    print(f"median old {o:.2f} s, new {n:.2f} s, new/old {n / o:.3f}")
    print("load after", os.getloadavg())


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 3)
