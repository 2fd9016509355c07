"""The symmetric and thin products of fastrep timed against the BLAS's other ways of computing them.

    python benchmarks/compare_gram.py            # the fit's shapes (16384-row chunks), float32 and float64
    python benchmarks/compare_gram.py --quick    # smaller shapes, for a smoke test
    python benchmarks/compare_gram.py --only ntk # one section: gram, ntk or thin
    python benchmarks/compare_gram.py --only ntk --n 8192 --d 128   # other sizes
    python benchmarks/compare_gram.py --only ntk --ntk-path avx2    # the NTK pass's AVX2 path

In one process, the candidates of each shape run in alternation (A, B, C, A, B, C, ...) and the
table gives the median of ``--repeats`` rounds, so a loaded machine slows every candidate alike.
The load average is printed before and after each section.

Phi^T Phi accumulated into G (m, m), what ``feature_moments`` does per chunk, m = 500, 1000, 2000:

- ``fastrep``: ``fastrep._kernels._dense.accumulate_gram`` (lower triangle valid);
- ``numpy A.T@A``: ``G += Phi.T @ Phi`` on C-ordered Phi, and on an F-ordered copy (NumPy detects
  the transposed pair and calls SYRK, then mirrors);
- ``syrk``: SciPy's ``?syrk`` on the F view Phi.T (trans = 0) or an F-ordered Phi (trans = 1),
  upper or lower triangle of the F-ordered G;
- ``gemm``: SciPy's ``?gemm`` into G with beta = 1 (both triangles, twice the FLOPs);
- ``blocked b``: column blocks of b, the diagonal block by NumPy's SYRK route, the block below it by
  one GEMM (lower triangle only), b = 128 .. 1024.

The NTK Gram block K(X, X) (n, n), n = 16384, d = 64, 128, 256: ``kernel_gram(X, None, ...)`` on
the cpp backend (lower-triangle panels + the lower pass), the GEMM-on-a-copy route it replaced,
``kernel_gram(X, X.copy())`` (the asymmetric route) and a bare ``X @ X.copy().T`` (the
GEMM of its size: the goal is within 1.3x of it).

Thin products X (16384, d) @ W^T (d, h), d = 50, 100, 200, 400, h = 500, 1000 (the fit's step-1 and
step-2 shapes): as the transposed view, with W^T made contiguous once, with W^T made contiguous
in every call (what the Driver does), and with 2x or 4x the rows per call (time per 16384 rows);
and the gradient product P^T X (P (16384, h)) three ways.
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
# the fastrep of this checkout, not whichever one the environment installed
sys.path.insert(1, str(Path(__file__).resolve().parents[1]))
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


def blocked(Phi, G, b):
    """G[lower] += Phi^T Phi: NumPy's SYRK route on each diagonal block of b columns, GEMM below it."""
    m = Phi.shape[1]
    for j in range(0, m, b):
        e = min(j + b, m)
        Pj = Phi[:, j:e]
        G[j:e, j:e] += Pj.T @ Pj
        if e < m:
            G[e:, j:e] += Phi[:, e:].T @ Pj


def gram_rows(n, m, dtype, repeats):
    rng = np.random.default_rng(0)
    Phi = np.maximum(rng.standard_normal((n, m)), 0).astype(dtype)
    PhiF = np.asfortranarray(Phi)
    syrk, gemm = blas.get_blas_funcs(("syrk", "gemm"), (Phi,))
    G = np.zeros((m, m), dtype)
    GF = np.zeros((m, m), dtype, order="F")
    cands = {
        "fastrep": lambda: _dense.accumulate_gram(Phi, G),
        "numpy A.T@A (C Phi)": lambda: G.__iadd__(Phi.T @ Phi),
        "numpy A.T@A (F Phi)": lambda: G.__iadd__(PhiF.T @ PhiF),
        "syrk Phi.T, trans=0, upper": lambda: syrk(
            1.0, Phi.T, beta=1.0, c=G.T, trans=0, lower=0, overwrite_c=1),
        "syrk Phi.T, trans=0, lower": lambda: syrk(
            1.0, Phi.T, beta=1.0, c=G.T, trans=0, lower=1, overwrite_c=1),
        "syrk F Phi, trans=1, upper": lambda: syrk(
            1.0, PhiF, beta=1.0, c=GF, trans=1, lower=0, overwrite_c=1),
        "syrk F Phi, trans=1, lower": lambda: syrk(
            1.0, PhiF, beta=1.0, c=GF, trans=1, lower=1, overwrite_c=1),
        "gemm (both triangles)": lambda: gemm(1.0, Phi.T, Phi.T, beta=1.0, c=GF, trans_b=1, overwrite_c=1),
        **{f"blocked {b}": (lambda b=b: blocked(Phi, G, b)) for b in (128, 256, 512, 1024) if b < m},
    }
    t = alternate(cands, repeats)
    flops = n * m * (m + 1)  # one triangle
    best = min(t.values())
    name = np.dtype(dtype).name
    return [[f"Phi^T Phi ({n}, {m}) {name}", k, f"{v * 1e3:.1f}", f"{flops / v / 1e9:.0f}", f"{v / best:.2f}"]
            for k, v in t.items()]


def ntk_rows(n, d, repeats, parts=False):
    rng = np.random.default_rng(1)
    X = rng.standard_normal((n, d), dtype=np.float32)
    Xc = X.copy()
    out = np.empty((n, n), np.float32)
    from fastrep._kernels import _gram, cpp

    full = _gram.GramDriver(np, cpp._kernel_from_inner)  # no lower-triangle pass: GEMM on a copy
    cands = {
        "kernel_gram(X) (fastrep)": lambda: cpp.kernel_gram(X, None, 1.0, "ntk", out=out),
        "kernel_gram(X), GEMM on a copy": lambda: full.kernel_gram(X, None, 1.0, "ntk", out=out),
        "kernel_gram(X, X.copy())": lambda: cpp.kernel_gram(X, Xc, 1.0, "ntk", out=out),
        "GEMM X @ X.copy().T": lambda: np.matmul(X, Xc.T, out=out),
    }
    if parts:  # the symmetric route's stages alone (the passes on whatever out holds: same work)
        inv_d, beta2 = np.float32(1.0 / d), np.float32(1.0)
        cands.update({
            "stage: lower-triangle panel products": lambda: cpp._gram_driver._lower_products(X, out),
            "stage: lower pass (entries + mirror)":
                lambda: cpp._ext.kernel_from_inner_lower(out, inv_d, beta2, True),
            "stage: full pass": lambda: cpp._kernel_from_inner(out, None, None, inv_d, beta2, True),
        })
    t = alternate(cands, repeats)
    gemm = t["GEMM X @ X.copy().T"]
    flops = 2 * n * n * d
    return [[f"NTK Gram n={n} d={d}", k, f"{v * 1e3:.1f}", f"{flops / v / 1e9:.0f}", f"{v / gemm:.2f}"]
            for k, v in t.items()]


def thin_rows(d, h, dtype, repeats, rows=16384):
    """X @ W^T with inner dimension d, as the fit's step 1 and step 2 compute it, and alternatives."""
    rng = np.random.default_rng(2)
    X4 = rng.standard_normal((4 * rows, d)).astype(dtype)
    X, X2 = X4[:rows], X4[: 2 * rows]
    W = rng.standard_normal((h, d)).astype(dtype)
    WT = np.ascontiguousarray(W.T)
    P = rng.standard_normal((rows, h)).astype(dtype)
    out, out2, out4 = (np.empty((k * rows, h), dtype) for k in (1, 2, 4))
    gemm = blas.get_blas_funcs("gemm", (X,))
    cands = {
        "X @ W.T (view)": lambda: np.matmul(X, W.T, out=out),
        "X @ Wt, Wt made once": lambda: np.matmul(X, WT, out=out),
        "X @ Wt, Wt made per call (fastrep)": lambda: np.matmul(X, np.ascontiguousarray(W.T), out=out),
        "X @ Wt, 2x rows (/2)": lambda: np.matmul(X2, WT, out=out2),
        "X @ Wt, 4x rows (/4)": lambda: np.matmul(X4, WT, out=out4),
        "grad P.T @ X (fastrep)": lambda: P.T @ X,
        "grad (X.T @ P).T": lambda: (X.T @ P).T,
        "grad gemm on the F views": lambda: gemm(1.0, X.T, P.T, trans_b=1),
    }
    t = alternate(cands, repeats)
    t["X @ Wt, 2x rows (/2)"] /= 2
    t["X @ Wt, 4x rows (/4)"] /= 4
    flops = 2 * rows * d * h
    ref, gref = t["X @ W.T (view)"], t["grad P.T @ X (fastrep)"]
    name = np.dtype(dtype).name
    return [[f"({rows}, {d}) x ({d}, {h}) {name}", k, f"{v * 1e3:.1f}", f"{flops / v / 1e9:.0f}",
             f"{v / (gref if k.startswith('grad') else ref):.2f}"] for k, v in t.items()]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--only", choices=("gram", "ntk", "thin"), default=None)
    ap.add_argument("--stages", action="store_true", help="ntk: also time the symmetric route's stages alone")
    ap.add_argument("--n", type=int, default=None, help="rows (default 16384; 4096 with --quick)")
    ap.add_argument("--d", type=int, nargs="+", default=None,
                    help="input dimensions of the NTK block (default 64 128 256; 128 with --quick)")
    ap.add_argument("--ntk-path", choices=("best", "avx512", "avx2", "generic"), default="best",
                    help="ntk: the NTK entry pass's code path (default: the CPU's best)")
    args = ap.parse_args(argv)
    from fastrep._kernels import cpp

    ntk_path = cpp._ext._set_ntk_path({"best": -1, "generic": 0, "avx2": 1, "avx512": 2}[args.ntk_path])
    print(f"machine: {machine()}\n{blas_setting()}\nNTK entry pass: {ntk_path} path\n"
          f"load average before: {os.getloadavg()}\n")
    n = args.n if args.n is not None else 4096 if args.quick else 16384
    dtypes = (np.float32,) if args.quick else (np.float32, np.float64)
    if args.only in (None, "gram"):
        ms = (500,) if args.quick else (500, 1000, 2000)
        rows = [r for dt in dtypes for m in ms for r in gram_rows(n, m, dt, args.repeats)]
        print(md_table(["shape", "route", "ms (median)", "GFLOP/s (1 triangle)", "x fastest"], rows))
        print(f"load average: {os.getloadavg()}\n")
    if args.only in (None, "ntk"):
        heads = ["shape", "route", "ms (median)", "GFLOP/s (2 n^2 d)", "x GEMM"]
        ds = args.d if args.d is not None else (128,) if args.quick else (64, 128, 256)
        print(md_table(heads, [r for d in ds for r in ntk_rows(n, d, args.repeats, args.stages)]))
        print(f"load average: {os.getloadavg()}\n")
    if args.only in (None, "thin"):
        heads = ["shape", "route", "ms (median)", "GFLOP/s", "x the view (grad: x P.T @ X)"]
        ds, hs = ((100,), (500,)) if args.quick else ((50, 100, 200, 400), (500, 1000))
        print(md_table(heads, [r for dt in dtypes for d in ds for h in hs
                               for r in thin_rows(d, h, dt, args.repeats, rows=n)]))
    print(f"\nload average after: {os.getloadavg()}; fastrep {fastrep.__version__}")


if __name__ == "__main__":
    main()
