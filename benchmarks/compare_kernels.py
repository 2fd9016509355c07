"""NTK kernels and kernel ridge: fastrep against plain NumPy, SciPy and scikit-learn (issue 5).

    python benchmarks/compare_kernels.py            # every part at the issue's sizes
    python benchmarks/compare_kernels.py --quick    # small sizes, to check the script
    python benchmarks/compare_kernels.py --parts gram exact

Parts:
  gram   Gram block, n = 16384, d = 128, float32: fastrep.ntk_kernel against a plain NumPy
         composition of the same formula; the fused pass alone in ns per entry against a
         large copy (memory bandwidth) and the BLAS product.
  exact  Exact solve, n = 16384, float64: NTKRegressor(solver='cholesky').fit end to end
         against scipy.linalg.cho_factor + cho_solve on a precomputed Gram matrix, and
         sklearn.kernel_ridge.KernelRidge(kernel='precomputed') with a NumPy Gram matrix,
         timed end to end.
  large  Nystrom, n = 2^18, d = 64, M = 16384, the degree-3 separation target: wall time, peak
         memory (VmHWM of a child process) and excess error, and the same at n = 2^15.

Large LAPACK factorizations (part exact) run with the environment as shipped: this script
never changes OPENBLAS_* variables, and it prints them.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import numpy as np  # noqa: E402

from benchmarks._common import blas_setting, machine, md_table, median_time  # noqa: E402


def numpy_ntk(X, beta=1.0):
    """The NTK in plain NumPy (the paper), in X's dtype: a matmul, then whole-array
    ufuncs written in place where NumPy allows (four (n, n) arrays at the peak), so the
    baseline is as strong as NumPy gets without a compiled kernel."""
    dt = X.dtype.type
    d = X.shape[1]
    b2 = dt(beta * beta)
    c = X @ X.T
    c /= dt(d)
    c += b2  # c = x.x'/d + beta^2
    r = np.sqrt(np.einsum("ij,ij->i", X, X) / dt(d) + b2)
    s = np.multiply.outer(r, r)  # sqrt(q q')
    u = np.divide(c, s)
    np.clip(u, -1, 1, out=u)
    t = np.multiply(u, u)
    np.subtract(dt(1), t, out=t)
    np.sqrt(t, out=t)
    t *= s  # sqrt(q q') sin(theta)
    phi = np.arccos(u, out=s)
    np.subtract(dt(np.pi), phi, out=phi)  # pi - arccos(u)
    phi *= c
    phi *= dt(2)
    t += phi
    t *= dt(0.5 / np.pi)  # 1/2 [sqrt(q q') kappa_1 + c kappa_0] = (s sin + 2 (pi - theta) c) / (2 pi)
    return t


def part_gram(n, d, repeats):
    import fastrep
    from fastrep import _ext
    from fastrep._kernels import numba as nbk

    rng = np.random.default_rng(0)
    X = rng.standard_normal((n, d)).astype(np.float32)
    rows = []
    t_np, _ = median_time(lambda: numpy_ntk(X), repeat=max(1, repeats // 2), warmup=0)
    rows.append(["NumPy composition (matmul + in-place ufunc passes)", f"{t_np:.3f}", "1.00"])
    t_fr, _ = median_time(lambda: fastrep.ntk_kernel(X), repeat=repeats)
    rows.append(["fastrep.ntk_kernel (cpp: matmul + fused pass)", f"{t_fr:.3f}", f"{t_np / t_fr:.2f}"])
    t_nb, _ = median_time(lambda: fastrep.ntk_kernel(X, backend="numba"), repeat=repeats)
    rows.append(["fastrep.ntk_kernel, backend='numba'", f"{t_nb:.3f}", f"{t_np / t_nb:.2f}"])
    err = float(np.max(np.abs(fastrep.ntk_kernel(X[:2000]).astype(np.float64)
                              - fastrep.ntk_kernel(X[:2000].astype(np.float64), backend="reference"))))

    G = X @ X.T
    t_mm, _ = median_time(lambda: np.matmul(X, X.T, out=G), repeat=repeats)
    q = (np.einsum("ij,ij->i", X, X) + np.float32(d)) / np.float32(d)
    H = np.empty_like(G)
    inv_d, b2 = np.float32(1.0 / d), np.float32(1.0)

    def fused_cpp():
        _ext.kernel_from_inner(H, q, q, inv_d, b2, True)

    def fused_nb():
        nbk._kernel_from_inner(H, q, q, inv_d, b2, True)

    times = {}
    for name, fn in (("cpp", fused_cpp), ("numba", fused_nb)):
        ts = []
        fn()  # warm-up (and numba compile)
        for _ in range(repeats):
            np.copyto(H, G)
            t0 = time.perf_counter()
            fn()
            ts.append(time.perf_counter() - t0)
        times[name] = float(np.median(ts))
    t_copy, _ = median_time(lambda: np.copyto(H, G), repeat=repeats)
    entries = n * n
    pass_rows = [
        ["BLAS product X @ X.T (sgemm)", f"{t_mm:.3f}", f"{t_mm / entries * 1e9:.3f}"],
        ["fused pass, cpp (in place)", f"{times['cpp']:.3f}", f"{times['cpp'] / entries * 1e9:.3f}"],
        ["fused pass, numba (in place)", f"{times['numba']:.3f}", f"{times['numba'] / entries * 1e9:.3f}"],
        ["np.copyto of the same array (read + write)", f"{t_copy:.3f}", f"{t_copy / entries * 1e9:.3f}"],
    ]
    out = [f"### Gram block: n = {n}, d = {d}, float32, NTK, beta = 1 (median of {repeats})", "",
           md_table(["method", "seconds", "speed-up"], rows), "",
           f"max |fastrep float32 - reference float64| on a 2000 x 2000 corner: {err:.2e}", "",
           md_table(["step", "seconds", "ns per entry"], pass_rows)]
    return "\n".join(out)


def part_exact(n, d, ridge, repeats):
    import scipy.linalg
    from sklearn.kernel_ridge import KernelRidge

    import fastrep

    rng = np.random.default_rng(1)
    X = rng.standard_normal((n, d))
    y = np.sin(X[:, 0]) + X[:, 1] * X[:, 2] + 0.1 * rng.standard_normal(n)
    shift = n * ridge

    ts_fr = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        model = fastrep.NTKRegressor(ridge=ridge, solver="cholesky").fit(X, y)
        ts_fr.append(time.perf_counter() - t0)
    t_fr = float(np.median(ts_fr))

    K = fastrep.ntk_kernel(X)
    K.flat[:: n + 1] += shift

    from fastrep._kernels._linalg import safe_threads as _safe_threads

    def scipy_solve():
        A = K.copy()  # cho_factor overwrites its input; the copy is not timed below
        t0 = time.perf_counter()
        # the same thread rule as fastrep: OpenBLAS's threaded float64 potrf crashes here at this n
        with _safe_threads(A.dtype, n):
            c = scipy.linalg.cho_factor(A, lower=True, overwrite_a=True, check_finite=False)
        alpha = scipy.linalg.cho_solve(c, y, check_finite=False)
        return time.perf_counter() - t0, alpha

    ts_sp = []
    for _ in range(repeats):
        t, alpha = scipy_solve()
        ts_sp.append(t)
    t_sp = float(np.median(ts_sp))
    K = None  # free the 2 GiB before sklearn's turn

    def sklearn_fit():
        Kn = numpy_ntk(X)
        with _safe_threads(Kn.dtype, n):
            return KernelRidge(alpha=shift, kernel="precomputed").fit(Kn, y)

    t_sk, _ = median_time(sklearn_fit, repeat=max(1, repeats - 1), warmup=0)
    rel = float(np.max(np.abs(model.dual_coef_ - alpha)) / np.max(np.abs(alpha)))
    rows = [
        ["scipy cho_factor + cho_solve (Gram precomputed, not timed)", f"{t_sp:.2f}", "1.00"],
        ["fastrep NTKRegressor(solver='cholesky').fit (Gram + factor + solve + residual)",
         f"{t_fr:.2f}", f"{t_fr / t_sp:.2f}"],
        ["sklearn KernelRidge(kernel='precomputed'), NumPy Gram, end to end", f"{t_sk:.2f}",
         f"{t_sk / t_sp:.2f}"],
    ]
    from fastrep._kernels._linalg import SAFE_THREADED_N
    from fastrep._kernels._linalg import safe_threads as st

    one = not isinstance(st(np.float64, n), contextlib.nullcontext)
    note = (f"Every float64 factorization above n = {SAFE_THREADED_N} ran on one BLAS thread (fastrep's "
            "rule on OpenBLAS AVX-512 kernels, which crash multithreaded here); the Gram matrices used both."
            if one else "All steps used every BLAS thread.")
    out = [f"### Exact solve: n = {n}, d = {d}, float64, ridge = {ridge} (median of {repeats})", "", note, "",
           md_table(["method", "seconds", "x scipy"], rows), "",
           f"fastrep / scipy = {t_fr / t_sp:.2f} (goal <= 1.3); sklearn / fastrep = {t_sk / t_fr:.2f}; "
           f"max |alpha_fastrep - alpha_scipy| / max |alpha| = {rel:.1e}; "
           f"fastrep residual {model.residual_:.1e}"]
    return "\n".join(out)


def _large_child(n, d, M, dtype, ridge, tol, seed):
    """Run one Nystrom fit in this process and print a JSON line with its peak memory (VmHWM)."""
    import fastrep
    from benchmarks._common import peak_rss_mb

    target = fastrep.MultiIndexTarget.separation(d, seed=seed)
    stream = fastrep.GaussianStream(target, seed, dtype=dtype)
    X, y = stream.take(n)
    t0 = time.perf_counter()
    model = fastrep.NTKRegressor(ridge=ridge, solver="nystrom", n_centers=M, dtype=dtype, tol=tol,
                                 max_iter=100, seed=seed)
    model.fit(X, y)
    t_fit = time.perf_counter() - t0
    t0 = time.perf_counter()
    err = fastrep.metrics.excess_error(model, target, n_test=10_000, seed=seed)
    t_pred = time.perf_counter() - t0
    peak = peak_rss_mb() * 2**20  # VmHWM: ru_maxrss would include the parent's size (it survives exec)
    print(json.dumps({"n": n, "fit_s": t_fit, "predict_s": t_pred, "iters": model.n_iter_,
                      "residual": model.residual_, "excess": err, "peak_bytes": peak}))


def part_large(ns, d, M, dtype, ridge, tol):
    rows = []
    for n in ns:
        cmd = [sys.executable, __file__, "--child", json.dumps([n, d, M, dtype, ridge, tol, 0])]
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        wall = time.perf_counter() - t0
        if proc.returncode != 0:
            raise RuntimeError(f"the Nystrom child failed:\n{proc.stderr[-3000:]}")
        res = json.loads(proc.stdout.strip().splitlines()[-1])
        rows.append([f"{n:,}", f"{res['fit_s']:.1f}", f"{wall:.1f}", res["iters"], f"{res['residual']:.1e}",
                     f"{res['peak_bytes'] / 1e9:.2f}", f"{res['excess']:.3f}"])
    out = [f"### Large n: Nystrom, d = {d}, M = {M}, {dtype}, ridge = {ridge}, CG tol = {tol}, "
           "separation target (degree 3, r = 2)", "",
           md_table(["n", "fit s", "whole child process s", "CG iterations", "final residual", "peak RSS GB",
                     "excess error"], rows)]
    return "\n".join(out)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parts = ["gram", "exact", "large"]
    ap.add_argument("--parts", nargs="+", default=parts, choices=parts)
    ap.add_argument("--quick", action="store_true", help="small sizes, to check the script")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--large-dtype", default="float32", choices=["float32", "float64"])
    ap.add_argument("--large-tol", type=float, default=1e-3)
    ap.add_argument("--exact-n", type=int,
                    help="n of part exact (default 16384; 1024 with --quick). A float64 potrf above 8192 "
                    "has crashed OpenBLAS's SkylakeX kernels here: benchmarks/report.py uses 8192")
    ap.add_argument("--large-n", type=int, nargs="+", help="n values of part large (default 2^15 2^18)")
    ap.add_argument("--large-m", type=int,
                    help="Nystrom centers M of part large (default 16384; 512 with --quick)")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        n, d, M, dtype, ridge, tol, seed = json.loads(args.child)
        _large_child(n, d, M, np.dtype(dtype), ridge, tol, seed)
        return
    print(f"machine: {machine()}")
    print(blas_setting())
    print(f"OMP_NUM_THREADS: {os.environ.get('OMP_NUM_THREADS', 'not set')}, "
          f"OMP_WAIT_POLICY: {os.environ.get('OMP_WAIT_POLICY', 'not set')}")
    try:
        print(f"load average at start: {os.getloadavg()}")
    except OSError:
        pass
    q = args.quick
    if "gram" in args.parts:
        print(part_gram(2048 if q else 16384, 128, args.repeats), flush=True)
        print()
    if "exact" in args.parts:
        print(part_exact(args.exact_n or (1024 if q else 16384), 128, 1e-3, 1 if not q else args.repeats),
              flush=True)
        print()
    if "large" in args.parts:
        ns = args.large_n or ([2**12, 2**15] if q else [2**15, 2**18])
        M = args.large_m or (512 if q else 16384)
        print(part_large(ns, 64, M, args.large_dtype, 1e-6, args.large_tol), flush=True)
    try:
        print(f"\nload average at end: {os.getloadavg()}")
    except OSError:
        pass


if __name__ == "__main__":
    main()
