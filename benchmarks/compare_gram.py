"""The symmetric products of fastrep timed against the BLAS's other ways of computing them.

    python benchmarks/compare_gram.py            # Phi^T Phi at (16384, 1000) and (16384, 500) float32;
                                                 # the NTK Gram at n = 16384, d = 128 float32
    python benchmarks/compare_gram.py --quick    # smaller shapes, for a smoke test

In one process, the candidates of each shape run in alternation (A, B, C, A, B, C, ...) and the
table gives the median of ``--repeats`` rounds, so a loaded machine slows every candidate alike.
The load average is printed before and after.

Phi^T Phi accumulated into G (m, m), what ``feature_moments`` does per chunk:

- ``fastrep``: the route ``fastrep._kernels._dense.accumulate_gram`` takes (lower triangle valid);
- ``ssyrk F-view``: SciPy's ``ssyrk`` on Phi.T (no copy), the old route;
- ``numpy A.T@A``: ``G += Phi.T @ Phi`` (NumPy detects the transpose and calls SYRK, then mirrors);
- ``sgemm``: SciPy's ``sgemm`` into G with beta = 1 (both triangles, twice the FLOPs);
- ``blocked b``: diagonal blocks by SYRK, the blocks below them by GEMM, in column blocks of b.

The NTK Gram block K(X, X) (n, n), ``fastrep.kernel_gram(X, None, ...)`` on the cpp backend,
against ``kernel_gram(X, X.copy())`` (the asymmetric route) and a bare ``X @ X.copy().T``
(the GEMM of its size: the goal is within 1.3x of it).

Thin products X (16384, d) @ W^T (d, 500), d = 100, 200, 400 (the fit's step-1 and step-2
shapes at d = 200): as fastrep calls them, with W^T made contiguous, as SciPy's sgemm on the
Fortran views, and with four chunks' rows in one call (time per chunk).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import scipy.linalg.blas as blas

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import blas_setting, machine, md_table  # noqa: E402

import fastrep  # noqa: E402
from fastrep._kernels import _dense  # noqa: E402


def alternate(cands: dict, repeats: int) -> dict:
    """Median seconds of each candidate, run in alternation after one warm-up round."""
    times = {k: [] for k in cands}
    for rnd in range(repeats + 1):
        for k, fn in cands.items():
            t0 = time.perf_counter()
            fn()
            dt = time.perf_counter() - t0
            if rnd:
                times[k].append(dt)
    return {k: float(np.median(v)) for k, v in times.items()}


def blocked_syrk(Phi, G, b):
    """G[lower] += Phi^T Phi: SYRK on each diagonal block of b columns, GEMM below it."""
    m = Phi.shape[1]
    for j in range(0, m, b):
        e = min(j + b, m)
        Pj = Phi[:, j:e]
        blas.ssyrk(1.0, Pj.T, beta=1.0, c=G[j:e, j:e].T, trans=0, lower=0, overwrite_c=1)
        if e < m:  # rows e.. of columns j..e: G[e:, j:e] += Phi[:, e:]^T Phi[:, j:e]
            sub = G[e:, j:e]
            res = blas.sgemm(1.0, Pj.T, Phi[:, e:], beta=1.0, c=sub.T, overwrite_c=1)
            if not np.shares_memory(res, G):
                sub[...] = res.T


def gram_rows(n, m, repeats):
    rng = np.random.default_rng(0)
    Phi = np.maximum(rng.standard_normal((n, m), dtype=np.float32), 0)
    G = {k: np.zeros((m, m), np.float32) for k in ("fastrep", "ssyrk", "numpy", "sgemm", "b256", "b512")}
    Gf = np.zeros((m, m), np.float32, order="F")

    def old(Phi=Phi, Gc=G["ssyrk"]):
        blas.ssyrk(1.0, Phi.T, beta=1.0, c=Gc.T, trans=0, lower=0, overwrite_c=1)

    cands = {
        "fastrep": lambda: _dense.accumulate_gram(Phi, G["fastrep"]),
        "ssyrk F-view": old,
        "numpy A.T@A": lambda: G["numpy"].__iadd__(Phi.T @ Phi),
        "sgemm": lambda: blas.sgemm(1.0, Phi.T, Phi.T, beta=1.0, c=Gf, trans_b=1, overwrite_c=1),
        "blocked 256": lambda: blocked_syrk(Phi, G["b256"], 256),
        "blocked 512": lambda: blocked_syrk(Phi, G["b512"], 512),
    }
    t = alternate(cands, repeats)
    flops = n * m * (m + 1)  # one triangle
    best = min(t.values())
    return [[f"Phi^T Phi ({n}, {m})", k, f"{v * 1e3:.1f}", f"{flops / v / 1e9:.0f}", f"{v / best:.2f}"]
            for k, v in t.items()]


def ntk_rows(n, d, repeats):
    rng = np.random.default_rng(1)
    X = rng.standard_normal((n, d), dtype=np.float32)
    Xc = X.copy()
    out = np.empty((n, n), np.float32)
    from fastrep._kernels import cpp

    cands = {
        "kernel_gram(X) symmetric": lambda: cpp.kernel_gram(X, None, 1.0, "ntk", out=out),
        "kernel_gram(X, X.copy())": lambda: cpp.kernel_gram(X, Xc, 1.0, "ntk", out=out),
        "GEMM X @ X.copy().T": lambda: np.matmul(X, Xc.T, out=out),
    }
    t = alternate(cands, repeats)
    gemm = t["GEMM X @ X.copy().T"]
    flops = 2 * n * n * d
    return [[f"NTK Gram n={n} d={d}", k, f"{v * 1e3:.1f}", f"{flops / v / 1e9:.0f}", f"{v / gemm:.2f}"]
            for k, v in t.items()]


def thin_rows(d, repeats, rows=16384, h=500):
    """X @ W^T with inner dimension d, as the fit's step 1 and step 2 compute it, and alternatives."""
    rng = np.random.default_rng(2)
    X4 = rng.standard_normal((4 * rows, d), dtype=np.float32)
    X = X4[:rows]
    W = rng.standard_normal((h, d), dtype=np.float32)
    WT = np.ascontiguousarray(W.T)
    out = np.empty((rows, h), np.float32)
    out4 = np.empty((4 * rows, h), np.float32)
    cands = {
        "X @ W.T (fastrep)": lambda: np.matmul(X, W.T, out=out),
        "X @ W.T, W.T contiguous": lambda: np.matmul(X, WT, out=out),
        "sgemm on the F views": lambda: blas.sgemm(1.0, W, X, trans_a=0, trans_b=1),
        "4x the rows per call (/4)": lambda: np.matmul(X4, W.T, out=out4),
    }
    t = alternate(cands, repeats)
    t["4x the rows per call (/4)"] /= 4
    flops = 2 * rows * d * h
    ref = t["X @ W.T (fastrep)"]
    return [[f"({rows}, {d}) @ ({d}, {h})", k, f"{v * 1e3:.1f}", f"{flops / v / 1e9:.0f}", f"{v / ref:.2f}"]
            for k, v in t.items()]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--repeats", type=int, default=7)
    args = ap.parse_args(argv)
    print(f"machine: {machine()}\n{blas_setting()}\nload average before: {os.getloadavg()}\n")
    n = 4096 if args.quick else 16384
    rows = gram_rows(n, 1000, args.repeats) + gram_rows(n, 500, args.repeats)
    print(md_table(["shape", "route", "ms (median)", "GFLOP/s (1 triangle)", "x fastest"], rows))
    print()
    nk = 4096 if args.quick else 16384
    heads = ["shape", "route", "ms (median)", "GFLOP/s (2 n^2 d)", "x GEMM"]
    print(md_table(heads, ntk_rows(nk, 128, args.repeats)))
    print()
    heads = ["shape", "route", "ms (median)", "GFLOP/s", "x fastrep's"]
    print(md_table(heads, [r for d in (100, 200, 400) for r in thin_rows(d, args.repeats, rows=n)]))
    print(f"\nload average after: {os.getloadavg()}; fastrep {fastrep.__version__}")


if __name__ == "__main__":
    main()
