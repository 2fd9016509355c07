"""NTK kernel ridge at scale: the Nystrom solver against its FLOPs floor, the exact solve and
scikit-learn (issue 26).

    python benchmarks/compare_nystrom.py                  # every part at the issue's sizes
    python benchmarks/compare_nystrom.py --quick          # small sizes, to check the script
    python benchmarks/compare_nystrom.py --parts scale --scale-n 50000 --scale-m 24000

Parts:
  guard  The guarded BLAS layer (fastrep/_kernels/_blas.py) against the plain call at orders
         where the plain call does not crash: A^T A (2048 x 12288, float64), then potrf and
         lauum (default float32 at 16384, float64 at 12288; --guard-cases ROUTINE:DTYPE:ORDER),
         the blocked routine forced whatever the routing (--tile sets its block size).
  crash  (not in the default parts) Each plain threaded call (NumPy's A^T A, SciPy's potrf,
         lauum, eigh) alone in a child process at --crash-n (16384), float32 and float64: its
         exit status (-11: SIGSEGV) and time. Minutes per call at 16384.
  scale  One NTKRegressor(solver='nystrom') fit, d = 64, float32, fixed ridge, max_memory =
         16 GB (default n = 10^5, M = 48000), in a child process: the time of each stage
         (from verbose=True), CG iterations, peak RSS, and the ratio of the fit's time to its
         FLOPs floor: the three factorizations (M^3/3 each) and K_MM (M^2 d) at the measured
         GEMM rate of the preconditioner's dtype, plus every CG pass over the kernel blocks
         (2 n M d for the block and 4 n M for its two products) at the float32 GEMM rate,
         both rates measured in the same child.
  eigenpro  Falkon's preconditioned CG against EigenPro-style iterations on the same Nystrom
         problem (n = 6000, d = 16, M = 1500, ridge 1e-6; small, the kernel matrix K_nM kept):
         full-batch gradient descent preconditioned by flattening the top q = 160 eigen-
         directions of the Hessian (estimated on 4M rows), the step from power iteration.
         Both cost one pass over K_nM per iteration; the table is excess error against
         passes, and says how many passes each needs to come within 2% and 0.1% of Falkon's
         converged error.
  side   d = 32, n in {2e4, 3e4}, M = 1.2e4, fixed ridge, the separation target: fastrep's
         Nystrom (float32 data by default, --side-dtype; CG tol --side-tol, 1e-6; the
         estimator's own choice of preconditioner dtype and of storing K_nM), fastrep's exact
         solve (float64) and scikit-learn's KernelRidge on a precomputed float32 Gram matrix
         (float64 would need two 7 GB copies), each in a child process: fit time, peak RSS,
         excess error. scikit-learn's LAPACK call is the plain one: where it crashes (SIGSEGV)
         the run is repeated on one BLAS thread and says so.
  precision  (not in the default parts) The Nystrom fit at part side's first n and M, K_nM
         stored, in four settings (PRECISION_CASES): float64 data and preconditioner, float32
         data with a float64 or a float32 preconditioner, and float32 with Falkon's jitter
         (fastrep.nystrom.PC_EPSILON): fit and factorization time, CG iterations, excess error.
  product  (not in the default parts) One CG iteration's kernel product at part side's first n
         and M, float32 and float64: K_nM stored against recomputed (median, interleaved).
  centres  (not in the default parts) Excess error against M at part side's first n (M =
         4000 ... n, --centres-m; 0 is the exact solve), at a fixed ridge and validated (each
         solver choosing lambda on 2,000 rows of a second draw over --centres-exact-grid, the
         exact solve by one Cholesky fit per lambda; --centres-ridge): is the gap to the exact
         solve the estimator (M) or the solver? It must vanish at M = n.

The ISA, the BLAS libraries and their thread counts (threadpoolctl) are printed first. This
script never changes OPENBLAS_* variables.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import numpy as np  # noqa: E402

from benchmarks._common import blas_setting, machine, md_table, median_time, peak_rss_mb  # noqa: E402

GB = 1e9


def isa() -> str:
    flags = ""
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("flags"):
                    flags = line
                    break
    except OSError:
        pass
    have = [f for f in ("avx512f", "avx512_bf16", "amx_tile", "avx2", "fma") if re.search(rf"\b{f}\b", flags)]
    return "ISA flags: " + (", ".join(have) or "unknown")


def gemm_rate(dtype, n=4096):
    """GFLOP/s of a plain n x n x n GEMM (distinct operands), median of 3."""
    rng = np.random.default_rng(0)
    A = rng.standard_normal((n, n)).astype(dtype)
    B = rng.standard_normal((n, n)).astype(dtype)
    C = np.empty((n, n), dtype)
    t, _ = median_time(lambda: np.matmul(A, B, out=C), repeat=3, warmup=1)
    return 2.0 * n**3 / t / 1e9


# --- part guard --------------------------------------------------------------------------------

def _guard_gram(rng, k, m, repeats):
    from fastrep._kernels import _blas

    A = rng.standard_normal((k, m))
    G = np.empty((m, m))
    t_plain, _ = median_time(lambda: np.matmul(A.T, A, out=G), repeat=repeats, warmup=1)
    ref = np.tril(G)
    t_block, _ = median_time(lambda: _blas.gram_tn(A, G), repeat=repeats, warmup=1)
    err = float(np.max(np.abs(np.tril(G) - ref)) / np.max(np.abs(ref)))
    flops = k * m * m  # SYRK: half of 2 k m^2
    return [f"A^T A, A {k} x {m}, float64", f"{t_plain:.2f}", f"{t_block:.2f}",
            f"{t_block / t_plain:.2f}", f"{flops / t_block / 1e9:.0f}", f"{err:.1e}"]


GUARD_CASES = (("potrf", "float32", 16384), ("potrf", "float64", 12288), ("lauum", "float32", 16384),
               ("lauum", "float64", 12288))


def _guard_factor(routine, dtype, n, repeats, rng):
    """One row: the plain LAPACK call against the blocked one, forced (whatever the routing), on a
    copy of the same matrix; the copy's time is subtracted from both."""
    import scipy.linalg.lapack as lapack

    from fastrep._kernels import _blas

    X = rng.standard_normal((n, 64)).astype(dtype)
    S = X @ X.T / 64
    del X
    S.flat[:: n + 1] += 1.0
    S = np.asfortranarray(np.triu(S) if routine == "lauum" else S)
    W = np.empty_like(S)
    f = lapack.get_lapack_funcs((routine,), (S,))[0]
    tri = np.triu if routine == "lauum" else np.tril

    def plain():
        np.copyto(W, S)
        if routine == "potrf":
            f(W, lower=1, clean=0, overwrite_a=1)
        else:
            f(W, lower=0, overwrite_c=1)

    def blocked():
        np.copyto(W, S)
        B = _blas._Blocks(W)
        if routine == "potrf":
            _blas._potrf_blocked(B, True)
        else:
            _blas._lauum_blocked(B, True)

    # no warm-up run (each is a minute at these orders): the copy has touched W's pages
    t_copy, _ = median_time(lambda: np.copyto(W, S), repeat=repeats, warmup=1)
    t_plain, _ = median_time(plain, repeat=repeats, warmup=0)
    ref = tri(W)
    t_block, _ = median_time(blocked, repeat=repeats, warmup=0)
    err = float(np.max(np.abs(tri(W) - ref)) / np.max(np.abs(ref)))
    t_plain, t_block = t_plain - t_copy, t_block - t_copy
    return [f"{routine}, order {n}, {dtype}", f"{t_plain:.2f}", f"{t_block:.2f}", f"{t_block / t_plain:.2f}",
            f"{n**3 / 3 / t_block / 1e9:.0f}", f"{err:.1e}"]


def part_guard(quick, repeats, cases=GUARD_CASES, gram=True):
    from fastrep._kernels import _blas

    if quick:  # exercise the blocked paths at small orders
        _blas.GUARD_ORDER, _blas.TILE = 256, 128
        cases = [(r, dt, 1024) for r, dt, _ in cases]
    rows = []
    rng = np.random.default_rng(0)
    if gram:
        rows.append(_guard_gram(rng, 512 if quick else 2048, 1024 if quick else 12288, repeats))
    for routine, dtype, n in cases:
        rows.append(_guard_factor(routine, dtype, n, repeats, rng))
    out = [f"### The guarded BLAS layer against the plain call (median of {repeats}; tiles of {_blas.TILE}, "
           f"no BLAS call above order {_blas.GUARD_ORDER})", "",
           md_table(["call", "plain s", "blocked s", "blocked / plain", "blocked GFLOP/s",
                     "max rel. difference"], rows)]
    return "\n".join(out)


# --- part crash --------------------------------------------------------------------------------

CRASH_CASES = {
    "A^T A (NumPy, SYRK), A 2048 x n": "A = rng.standard_normal((2048, N)).astype(DT); "
                                       "t = time.perf_counter(); G = A.T @ A",
    "potrf (SciPy), lower": "S = spd(); t = time.perf_counter(); "
                            "c, info = lapack.get_lapack_funcs(('potrf',), (S,))[0]"
                            "(S, lower=1, overwrite_a=1, clean=0); assert info == 0, info",
    "lauum (SciPy), upper": "S = np.asfortranarray(np.triu(rng.standard_normal((N, N)).astype(DT))); "
                            "t = time.perf_counter(); c, info = lapack.get_lapack_funcs(('lauum',), (S,))[0]"
                            "(S, lower=0, overwrite_c=1); assert info == 0, info",
    "eigh (SciPy, evr), lower": "S = spd(); t = time.perf_counter(); "
                                "w, V = scipy.linalg.eigh(S, lower=True, check_finite=False, driver='evr', "
                                "overwrite_a=True)",
}
_CRASH_PRE = """
import time, numpy as np, scipy.linalg, scipy.linalg.lapack as lapack
N, DT = {n}, np.{dtype}
rng = np.random.default_rng(0)
def spd():
    X = rng.standard_normal((N, 256)).astype(DT)
    S = np.asfortranarray(X @ X.T / 256); S.flat[::N + 1] += 1.0
    return S
"""


def part_crash(n, dtypes, cases, timeout=1800):
    """Each plain call in a child process with the BLAS's default threads: its exit status (-11 is
    SIGSEGV) and time. Nothing here changes a thread count or an OPENBLAS_* variable."""
    rows = []
    for case in cases:
        for dtype in dtypes:
            code = _CRASH_PRE.format(n=n, dtype=dtype) + CRASH_CASES[case] + \
                "\nprint('seconds', time.perf_counter() - t, flush=True)\n"
            t0 = time.perf_counter()
            try:
                r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                   timeout=timeout)
                rc, m = r.returncode, re.search(r"seconds ([0-9.]+)", r.stdout)
                sec = f"{float(m.group(1)):.1f}" if m else ""
            except subprocess.TimeoutExpired:
                rc, sec = "timeout", ""
            rows.append([case, dtype, str(n), str(rc), "crashed (SIGSEGV)" if rc == -11 else
                         ("runs" if rc == 0 else "failed"), sec, f"{time.perf_counter() - t0:.0f}"])
            print("  " + " | ".join(rows[-1]), file=sys.stderr, flush=True)
    return "\n".join([f"### Which plain threaded calls crash at order {n} (one child each)", "",
                      md_table(["call", "dtype", "order", "exit status", "verdict", "call s", "child s"],
                               rows)])


# --- part scale --------------------------------------------------------------------------------

STAGE = re.compile(r"NTKRegressor: (.*?) ([0-9.]+(?:e[-+]?[0-9]+)?) s$")


def _scale_child(n, d, M, max_memory, ridge, tol, seed):
    import contextlib
    import io

    import fastrep
    from fastrep._kernels import _blas

    rates = {"float32": gemm_rate(np.float32), "float64": gemm_rate(np.float64)}
    target = fastrep.MultiIndexTarget.separation(d, seed=seed)
    X, y = fastrep.GaussianStream(target, seed, dtype=np.float32).take(n)
    model = fastrep.NTKRegressor(ridge=ridge, solver="nystrom", n_centers=M, dtype=np.float32, tol=tol,
                                 max_iter=200, seed=seed, max_memory=max_memory, verbose=True)
    buf = io.StringIO()

    class Tee(io.TextIOBase):  # the stages are parsed from buf and shown live on stderr
        def write(self, text):
            buf.write(text)
            return sys.__stderr__.write(text)

        def flush(self):
            sys.__stderr__.flush()

    t0 = time.perf_counter()
    with contextlib.redirect_stderr(Tee()):
        model.fit(X, y)
    t_fit = time.perf_counter() - t0
    stages = {}
    for line in buf.getvalue().splitlines():
        m = STAGE.search(line.strip().split("\r")[-1])
        if m:
            stages[m.group(1)] = float(m.group(2))
    err = fastrep.metrics.excess_error(model, target, n_test=10_000, seed=seed)
    peak = peak_rss_mb() * 2**20
    pc = np.dtype(model.preconditioner_dtype_).name
    passes = model.n_iter_ + 1  # every CG iteration and the right-hand side
    floor_fact = (3 * M**3 / 3 + M * M * d) / (rates[pc] * 1e9)
    floor_cg = passes * (2.0 * n * M * d + 4.0 * n * M) / (rates["float32"] * 1e9)
    print(json.dumps({"n": n, "d": d, "M": M, "fit_s": t_fit, "stages": stages, "iters": model.n_iter_,
                      "residual": model.residual_, "excess": err, "peak_bytes": peak, "pc": pc,
                      "rates": rates, "floor_fact_s": floor_fact, "floor_cg_s": floor_cg,
                      "guard": [_blas.GUARD_ORDER, _blas.TILE]}))


def _run_child(args, env=None, live=False):
    """Run a child; ``live``: its stderr (the fit's progress) goes straight to this stderr."""
    cmd = [sys.executable, __file__, "--child", json.dumps(args)]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=None if live else subprocess.PIPE, text=True,
                          check=False, env={**os.environ, **(env or {})})
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        return None, wall, proc.returncode, (proc.stderr or "(its stderr is above)")[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1]), wall, 0, ""


def part_scale(n, d, M, max_memory, ridge, tol):
    res, wall, rc, err = _run_child(["scale", n, d, M, max_memory, ridge, tol, 0], live=True)
    if res is None:
        return f"### Nystrom at scale: n = {n}, M = {M}: the child failed (rc {rc})\n\n```\n{err}\n```"
    floor = res["floor_fact_s"] + res["floor_cg_s"]
    rows = [[k, f"{v:.1f}"] for k, v in res["stages"].items()]
    staged = sum(res["stages"].values())
    rows.append(["conjugate gradient and the rest (fit - stages)", f"{res['fit_s'] - staged:.1f}"])
    rows.append(["**whole fit**", f"**{res['fit_s']:.1f}**"])
    out = [f"### Nystrom at scale: d = {d}, n = {n:,}, M = {M:,}, float32 data, "
           f"{res['pc']} preconditioner, ridge = {ridge}, CG tol = {tol}, "
           f"max_memory = {max_memory / GB:.0f} GB",
           "", md_table(["stage", "seconds"], rows), "",
           f"CG iterations {res['iters']}, final residual {res['residual']:.1e}, excess error "
           f"{res['excess']:.3f}, peak RSS {res['peak_bytes'] / GB:.2f} GB, child process {wall:.0f} s.",
           f"GEMM rates measured in the same child: float32 {res['rates']['float32']:.0f} GFLOP/s, "
           f"float64 {res['rates']['float64']:.0f} GFLOP/s.",
           f"FLOPs floor: factorizations and K_MM {res['floor_fact_s']:.1f} s + kernel passes "
           f"{res['floor_cg_s']:.1f} s = {floor:.1f} s; "
           f"**fit / floor = {res['fit_s'] / floor:.2f}** (goal <= 2)."]
    return "\n".join(out)


# --- part eigenpro -----------------------------------------------------------------------------

POWER = 20


def part_eigenpro(n, d, M, ridge, q=160):
    import warnings

    import scipy.linalg

    import fastrep
    from fastrep.metrics import excess_error

    target = fastrep.MultiIndexTarget.separation(d, seed=0)
    X, y = fastrep.GaussianStream(target, 0, dtype=np.float64).take(n)
    falkon = {}
    for k in (1, 2, 4, 8, 16, 32):
        m = fastrep.NTKRegressor(ridge=ridge, solver="nystrom", n_centers=M, tol=1e-14, max_iter=k, seed=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            m.fit(X, y)
        falkon[k] = excess_error(m, target, n_test=5000, seed=0)
    C = m.X_fit_
    K, KMM = fastrep.ntk_kernel(X, C), fastrep.ntk_kernel(C)
    s = min(n, 4 * M)
    idx = np.random.default_rng(1).choice(n, s, replace=False)
    q = min(q, M // 10)
    w, V = scipy.linalg.eigh(K[idx].T @ K[idx] / s + ridge * KMM)
    w, V = w[::-1], V[:, ::-1]
    Vq, wq, tail = V[:, :q], w[:q], w[q]

    def hess(v):
        return K.T @ (K @ v) / n + ridge * (KMM @ v)

    def pre(g):
        return g - Vq @ ((1 - tail / wq) * (Vq.T @ g))

    # the step: 1 / the top eigenvalue of the preconditioned full Hessian, by POWER passes of
    # power iteration (the subsample's lambda_{q+1} alone overshoots and diverges)
    v = np.random.default_rng(2).standard_normal(M)
    for _ in range(POWER):
        v = pre(hess(v))
        top = float(np.linalg.norm(v))
        v /= top
    step = 0.95 / top
    a = np.zeros(M)

    class Fitted:
        dtype_ = np.float64

        def predict(self, Xt):
            return fastrep.ntk_kernel(Xt, C) @ a

    eig = {}
    for it in range(1, 1025):
        a -= step * pre(hess(a) - K.T @ y / n)
        if it in (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024):
            eig[it] = excess_error(Fitted(), target, n_test=5000, seed=0)
    best = falkon[32]

    def passes(errs, rel):
        ok = [k for k, e in sorted(errs.items()) if e <= best * (1 + rel)]
        return str(ok[0]) if ok else f"> {max(errs)}"

    ks = sorted(set(falkon) | set(eig))
    rows = [[k, f"{falkon[k]:.4f}" if k in falkon else "", f"{eig[k]:.4f}" if k in eig else ""] for k in ks]
    return "\n".join([
        f"### Falkon CG against EigenPro-style iterations: n = {n}, d = {d}, M = {M}, ridge = {ridge}, "
        f"q = {q}", "",
        md_table(["passes over K_nM", "Falkon CG excess error", "EigenPro-style excess error"], rows), "",
        f"Passes to come within 2% of Falkon's converged error {best:.4f}: Falkon {passes(falkon, 0.02)}, "
        f"EigenPro-style {passes(eig, 0.02)}; within 0.1%: Falkon {passes(falkon, 0.001)}, "
        f"EigenPro-style {passes(eig, 0.001)} (plus its {POWER} passes of power iteration for the step). "
        "Falkon's setup is its three order-M factorizations, EigenPro's one eigendecomposition "
        "of order M here."])


# --- part precision ----------------------------------------------------------------------------

#: part precision's settings: (label, data dtype, preconditioner dtype, jitter rule, CG tol)
PRECISION_CASES = [
    ("float64 data, float64 preconditioner, machine-eps jitter", "float64", "float64", "machine", 1e-10),
    ("float32 data, float64 preconditioner, machine-eps jitter", "float32", "float64", "machine", 1e-6),
    ("float32 data, float32 preconditioner, machine-eps jitter", "float32", "float32", "machine", 1e-6),
    ("float32 data, float32 preconditioner, Falkon's jitter", "float32", "float32", "falkon", 1e-6),
]


def _fit_staged(model, X, y, *val):
    """Fit with verbose=True; (seconds, {stage: seconds}) parsed from the progress lines."""
    import contextlib
    import io

    buf = io.StringIO()
    t0 = time.perf_counter()
    with contextlib.redirect_stderr(buf):
        model.fit(X, y, *val)
    t_fit = time.perf_counter() - t0
    stages = {}
    for line in buf.getvalue().splitlines():
        m = STAGE.search(line.strip().split("\r")[-1])
        if m:
            stages[m.group(1)] = stages.get(m.group(1), 0.0) + float(m.group(2))
    return t_fit, stages


def _precision_child(n, d, M, ridge, dtype, pc_dtype, jitter, tol, store, seed):
    import fastrep
    from fastrep import kernel_ridge, nystrom

    target = fastrep.MultiIndexTarget.separation(d, seed=seed)
    X, y = fastrep.GaussianStream(target, seed, dtype=np.dtype(dtype)).take(n)
    plan = kernel_ridge._KernelRidgeBase._plan_centers

    def forced(self, ctx, n_, d_, needed):
        M_, _ = plan(self, ctx, n_, d_, needed)
        return M_, np.dtype(pc_dtype)

    kernel_ridge._KernelRidgeBase._plan_centers = forced
    kernel_ridge.NYSTROM_PC_EPSILON.clear()
    if jitter == "falkon":
        kernel_ridge.NYSTROM_PC_EPSILON.update(nystrom.PC_EPSILON)
    model = fastrep.NTKRegressor(ridge=ridge, solver="nystrom", n_centers=M, dtype=np.dtype(dtype), tol=tol,
                                 max_iter=300, seed=seed, store_kernel=store, verbose=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        t_fit, stages = _fit_staged(model, X, y)
    err = fastrep.metrics.excess_error(model, target, n_test=10_000, seed=seed)
    print(json.dumps({"fit_s": t_fit, "stages": stages, "iters": model.n_iter_, "residual": model.residual_,
                      "excess": err, "jitter": model.jitter_, "stored": model.kernel_stored_,
                      "pc": np.dtype(model.preconditioner_dtype_).name, "peak_bytes": peak_rss_mb() * 2**20,
                      "warnings": sorted({type(w.message).__name__ for w in caught})}))


def part_precision(n, d, M, ridge, cases=None):
    rows, base = [], None
    for label, dtype, pc, jitter, tol in cases or PRECISION_CASES:
        res, wall, rc, err = _run_child(["precision", n, d, M, ridge, dtype, pc, jitter, tol, True, 0])
        if res is None:
            rows.append([label, str(tol), "failed", f"rc {rc}", "", "", "", ""])
            print(err, file=sys.stderr)
            continue
        base = res["excess"] if base is None else base
        factor = sum(v for k, v in res["stages"].items() if "Cholesky" in k)
        rows.append([label, f"{tol:g}", f"{res['fit_s']:.1f}", f"{factor:.1f}", str(res["iters"]),
                     f"{res['residual']:.1e}", f"{res['excess']:.5f}",
                     f"{100 * (res['excess'] / base - 1):+.3f}%", ", ".join(res["warnings"]) or "-"])
        print("  " + " | ".join(rows[-1]) + f" (load {os.getloadavg()[0]:.1f})", file=sys.stderr, flush=True)
    lines = [f"### Preconditioner precision: d = {d}, n = {n:,}, M = {M:,}, ridge = {ridge}, K_nM stored "
             "(one child each)", "",
             md_table(["setting", "CG tol", "fit s", "factorizations s", "CG iterations", "residual",
                       "excess error", "vs first row", "warnings"], rows)]
    return "\n".join(lines)


# --- part product ------------------------------------------------------------------------------

def part_product(n, d, M, dtypes=("float32", "float64"), repeats=5):
    """One conjugate-gradient iteration's kernel product K^T (K v), K = K(X, C) (n x M): K_nM
    stored (fastrep.nystrom.KernelRows, store=True) against recomputed block by block
    (store=False), the two interleaved, median of ``repeats``; and the one-off cost of storing."""
    import fastrep
    from fastrep.backend import FAMILIES, context
    from fastrep.kernel_ridge import DEFAULT_BLOCK_BYTES
    from fastrep.nystrom import KernelRows

    rows = []
    for dt in dtypes:
        dtype = np.dtype(dt)
        target = fastrep.MultiIndexTarget.separation(d, seed=0)
        X, _ = fastrep.GaussianStream(target, 0, dtype=dtype).take(n)
        ctx = context("auto", FAMILIES["NTKRegressor"], X, dtype=dtype)
        C = X[:M].copy()
        block = max(1, DEFAULT_BLOCK_BYTES // (M * dtype.itemsize))
        kw = dict(beta=1.0, kind="ntk", block_rows=block)
        t0 = time.perf_counter()
        kept = KernelRows(ctx, X, C, store=True, **kw)
        t_store = time.perf_counter() - t0
        fly = KernelRows(ctx, X, C, store=False, **kw)
        v = np.random.default_rng(0).standard_normal(M)
        times = {"stored": [], "fly": []}
        for _ in range(repeats):
            for name, k in (("stored", kept), ("fly", fly)):
                t0 = time.perf_counter()
                k.normal(v)
                times[name].append(time.perf_counter() - t0)
        same = bool(np.array_equal(kept.normal(v), fly.normal(v)))
        t_k, t_f = (float(np.median(times[k])) for k in ("stored", "fly"))
        rows.append([dt, f"{t_store:.2f}", f"{kept.K.nbytes / GB:.2f}", f"{t_k:.3f}", f"{t_f:.3f}",
                     f"{t_f / t_k:.1f}", "yes" if same else "no"])
        del kept, fly
    return "\n".join([f"### One CG iteration's kernel product: d = {d}, n = {n:,}, M = {M:,} "
                      f"(median of {repeats}, interleaved)", "",
                      md_table(["dtype", "storing K_nM s (once)", "K_nM GB", "product, stored s",
                                "product, recomputed s", "recomputed / stored", "same bits"], rows)])


# --- part centres ------------------------------------------------------------------------------

def _centres_child(n, d, M, ridge, seed, dtype, tol, exact_grid=None):
    """One fit at n: Nystrom with M centres (M = 0: the exact solve) at a fixed ridge or, with
    ridge 'validate', on VAL_ROWS validation rows (the exact solve: one Cholesky fit per lambda
    of the Nystrom grid, the best on the same rows); its excess error."""
    import fastrep
    from fastrep import kernel_ridge

    if exact_grid:  # the Nystrom fit validates over the same lambdas
        kernel_ridge.NYSTROM_GRID = np.asarray(exact_grid, dtype=np.float64)
    target = fastrep.MultiIndexTarget.separation(d, seed=seed)
    X, y = fastrep.GaussianStream(target, seed, dtype=np.dtype(dtype)).take(n)
    Xv, yv = fastrep.GaussianStream(target, seed + 1, dtype=np.dtype(dtype)).take(VAL_ROWS)
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if M:
            model = fastrep.NTKRegressor(ridge=ridge, solver="nystrom", n_centers=M, dtype=np.dtype(dtype),
                                         tol=tol, max_iter=500, seed=seed)
            model.fit(X, y, *((Xv, yv) if ridge == "validate" else ()))
            extra = {"iters": model.n_iter_, "residual": model.residual_,
                     "pc": np.dtype(model.preconditioner_dtype_).name}
        else:
            lams = (exact_grid or _nystrom_grid()) if ridge == "validate" else [ridge]
            best = None
            for lam in lams:
                m = fastrep.NTKRegressor(ridge=float(lam), solver="cholesky", dtype=np.float64, seed=seed,
                                         max_memory=15e9).fit(X.astype(np.float64), y)
                score = float(np.mean((m.predict(Xv.astype(np.float64)) - yv) ** 2))
                if best is None or score < best[0]:
                    best = (score, m)
            model, extra = best[1], {}
    t_fit = time.perf_counter() - t0
    err = fastrep.metrics.excess_error(model, target, n_test=10_000, seed=seed)
    print(json.dumps({"fit_s": t_fit, "excess": err, "ridge": float(model.ridge_),
                      "peak_bytes": peak_rss_mb() * 2**20, **extra}))


def part_centres(n, d, ms, ridges, dtype="float32", tol=1e-6, exact_grid=None):
    """Excess error against M (M = 0: the exact solve) at each ridge setting."""
    out = []
    for ridge in ridges:
        rows, exact = [], None
        for M in ms:
            res, wall, rc, err = _run_child(["centres", n, d, M, ridge, 0, dtype, tol, exact_grid])
            label = "exact (Cholesky, float64)" if M == 0 else f"Nystrom M = {M:,} ({dtype}, CG tol {tol:g})"
            if res is None:
                rows.append([label, "failed", f"rc {rc}", "", "", "", ""])
                print(err, file=sys.stderr)
                continue
            exact = res["excess"] if M == 0 else exact
            rel = "" if exact is None else f"{100 * (res['excess'] / exact - 1):+.2f}%"
            rows.append([label, f"{res['ridge']:.3g}", f"{res['fit_s']:.1f}", f"{res['peak_bytes'] / GB:.2f}",
                         str(res.get("iters", "")), f"{res['excess']:.4f}", rel])
            print("  " + " | ".join(rows[-1]) + f" (load {os.getloadavg()[0]:.1f})", file=sys.stderr,
                  flush=True)
        what = ("lambda validated on 2,000 rows of a second draw (each solver its own; the exact "
                "solve over the Nystrom grid)") if ridge == "validate" else f"ridge = {ridge}"
        out += [f"### Excess error against M: d = {d}, n = {n:,}, {what} (one child each)", "",
                md_table(["solver", "lambda", "fit s", "peak RSS GB", "CG iterations", "excess error",
                          "vs exact"], rows), ""]
    return "\n".join(out)


# --- part side ---------------------------------------------------------------------------------

class _Precomputed:
    """scikit-learn's KernelRidge on a precomputed Gram matrix, predicting through fastrep's NTK."""

    def __init__(self, model, X):
        self.model, self.X, self.dtype_ = model, X, X.dtype

    def predict(self, Xt):
        import fastrep

        out = np.empty(Xt.shape[0])
        for s in range(0, Xt.shape[0], 2048):
            Kt = fastrep.ntk_kernel(Xt[s:s + 2048].astype(self.X.dtype), self.X)
            out[s:s + 2048] = self.model.predict(Kt)
        return out


#: validation rows of part side's ridge='validate' (a second draw of the stream)
VAL_ROWS = 2000


def _side_child(method, n, d, M, ridge, seed, one_thread, nys_dtype="float64", tol=1e-10):
    import fastrep

    target = fastrep.MultiIndexTarget.separation(d, seed=seed)
    dtype = np.float32 if method == "sklearn" else np.float64
    if method == "nystrom":
        dtype = np.dtype(nys_dtype).type
    X, y = fastrep.GaussianStream(target, seed, dtype=dtype).take(n)
    t_gram = 0.0
    t0 = time.perf_counter()
    if method == "sklearn":
        from sklearn.kernel_ridge import KernelRidge

        K = fastrep.ntk_kernel(X)
        t_gram = time.perf_counter() - t0
        t0 = time.perf_counter()
        if one_thread:
            from threadpoolctl import threadpool_limits

            with threadpool_limits(1, user_api="blas"):
                kr = KernelRidge(alpha=n * ridge, kernel="precomputed").fit(K, y)
        else:
            kr = KernelRidge(alpha=n * ridge, kernel="precomputed").fit(K, y)
        del K
        model = _Precomputed(kr, X)
    else:
        kw = dict(solver="nystrom", n_centers=M, tol=tol, max_iter=300) if method == "nystrom" else \
            dict(solver="cholesky", max_memory=15e9)  # in place: n^2 8 bytes
        val = ()
        if ridge == "validate":  # the study's setting: lambda chosen on a validation draw
            val = fastrep.GaussianStream(target, seed + 1, dtype=dtype).take(VAL_ROWS)
            t0 = time.perf_counter()
        model = fastrep.NTKRegressor(ridge=ridge, dtype=dtype, seed=seed, **kw).fit(X, y, *val)
    t_fit = time.perf_counter() - t0
    err = fastrep.metrics.excess_error(model, target, n_test=10_000, seed=seed)
    extra = {}
    if method == "nystrom":
        extra = {"pc": np.dtype(model.preconditioner_dtype_).name, "stored": model.kernel_stored_,
                 "residual": model.residual_}
    print(json.dumps({"fit_s": t_fit, "gram_s": t_gram, "excess": err, "peak_bytes": peak_rss_mb() * 2**20,
                      "iters": getattr(model, "n_iter_", None), "ridge": getattr(model, "ridge_", ridge),
                      **extra}))


def _nystrom_grid():
    from fastrep.kernel_ridge import NYSTROM_GRID

    return NYSTROM_GRID


def part_side(ns, d, M, ridge, nys_dtype="float32", tol=1e-6):
    rows, notes, acc = [], [], {}
    validated = ridge == "validate"
    for n in ns:
        lam = ridge
        for method in ("nystrom", "exact", "sklearn"):
            res, wall, rc, err = _run_child(["side", method, n, d, M, lam, 0, False, nys_dtype, tol])
            label = {"nystrom": f"fastrep Nystrom, M = {M:,} ({nys_dtype} data, CG tol {tol:g})",
                     "exact": "fastrep exact Cholesky (float64)",
                     "sklearn": "scikit-learn KernelRidge, precomputed NTK Gram (float32)"}[method]
            if res is None and method == "sklearn":
                notes.append(f"n = {n:,}: scikit-learn's fit died with rc {rc} "
                             f"({'SIGSEGV' if rc == -11 else 'error'}) on the BLAS's threads; "
                             "rerun on one BLAS thread.")
                res, wall, rc, err = _run_child(["side", method, n, d, M, ridge, 0, True])
                label += ", one BLAS thread"
            if res is None:
                rows.append([f"{n:,}", label, "failed", f"rc {rc}", "", ""])
                notes.append(f"n = {n:,}, {method}: {err[-500:]}")
                continue
            acc[(n, method)] = res["excess"]
            if validated and method == "nystrom":
                # the exact solve's own validation (eigh of the n x n Gram, a float64 copy and the
                # eigenvectors: 24 n^2 bytes) does not fit; the others take the lambda it chose
                lam = float(res["ridge"])
                notes.append(f"n = {n:,}: the Nystrom fit's validation ({VAL_ROWS} rows, grid of "
                             f"{len(_nystrom_grid())} lambdas) chose lambda = {lam:.3g}; the exact solve "
                             "and scikit-learn ran at that lambda.")
            if method == "nystrom":
                label += (f", {res['pc']} preconditioner, K_nM {'stored' if res['stored'] else 'recomputed'}"
                          f", residual {res['residual']:.1e}")
            if validated:
                label += f", lambda = {res['ridge']:.3g}"
            fit = res["fit_s"] + res["gram_s"]
            gram = f" (Gram {res['gram_s']:.1f})" if res["gram_s"] else ""
            rows.append([f"{n:,}", label, f"{fit:.1f}" + gram,
                         f"{res['peak_bytes'] / GB:.2f}", f"{res['excess']:.4f}",
                         "" if res["iters"] is None else str(res["iters"])])
            print("  " + " | ".join(rows[-1]) + f" (load {os.getloadavg()[0]:.1f})", file=sys.stderr,
                  flush=True)
    lines = [f"### Side by side: d = {d}, M = {M:,}, ridge = {ridge}, separation target (one child each)", "",
             md_table(["n", "method", "fit s", "peak RSS GB", "excess error", "iterations"], rows)]
    for n in ns:
        if (n, "nystrom") in acc and (n, "exact") in acc:
            e_n, e_x = acc[(n, "nystrom")], acc[(n, "exact")]
            lines.append(f"\nn = {n:,}: Nystrom excess / exact excess = {e_n / e_x:.4f} "
                         f"({100 * (e_n / e_x - 1):+.2f}%; goal within 2%).")
    if notes:
        lines += [""] + notes
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parts = ["guard", "scale", "eigenpro", "side"]
    ap.add_argument("--parts", nargs="+", default=parts,
                    choices=parts + ["crash", "precision", "centres", "product"])
    ap.add_argument("--quick", action="store_true", help="small sizes, to check the script")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--scale-n", type=int, help="n of part scale (default 100000; 4096 with --quick)")
    ap.add_argument("--scale-m", type=int, help="M of part scale (default 48000; 512 with --quick)")
    ap.add_argument("--max-memory", type=float, default=16e9, help="max_memory of part scale (bytes)")
    ap.add_argument("--side-n", type=int, nargs="+", help="n of part side (default 20000 30000)")
    ap.add_argument("--side-m", type=int, help="M of part side (default 12000; 400 with --quick)")
    ap.add_argument("--side-dtype", default="float32", choices=["float32", "float64"],
                    help="the data's dtype of part side's Nystrom fit (default float32)")
    ap.add_argument("--side-tol", type=float, default=1e-6, help="CG tol of part side's Nystrom fit")
    ap.add_argument("--centres-m", type=int, nargs="+",
                    help="M of part centres, 0 for the exact solve (default 0 4000 ... 20000)")
    ap.add_argument("--centres-exact-grid", type=float, nargs="+",
                    help="the lambdas both solvers validate over (default the Nystrom grid)")
    ap.add_argument("--centres-ridge", nargs="+", type=lambda v: v if v == "validate" else float(v),
                    help="ridges of part centres (default 1e-6 validate)")
    ap.add_argument("--ridge", type=lambda v: v if v == "validate" else float(v), default=1e-6,
                    help="a fixed ridge, or 'validate' (part side: the Nystrom fit validates, the others "
                         "take its lambda)")
    ap.add_argument("--tile", type=int, help="the blocked routines' tile (fastrep._kernels._blas.TILE)")
    ap.add_argument("--guard-cases", nargs="+", metavar="ROUTINE:DTYPE:ORDER",
                    help="part guard's factorizations (default: " +
                         " ".join(f"{r}:{d}:{n}" for r, d, n in GUARD_CASES) + ")")
    ap.add_argument("--no-gram", action="store_true", help="part guard without its A^T A row")
    ap.add_argument("--crash-n", type=int, default=16384,
                    help="order of part crash (not in the default parts)")
    ap.add_argument("--crash-cases", nargs="+", type=int,
                    help="indices into part crash's calls (default all)")
    ap.add_argument("--crash-dtypes", nargs="+", default=["float32", "float64"])
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        spec = json.loads(args.child)
        if spec[0] == "scale":
            _scale_child(*spec[1:])
        elif spec[0] == "precision":
            _precision_child(*spec[1:])
        elif spec[0] == "centres":
            _centres_child(*spec[1:])
        else:
            _side_child(*spec[1:])
        return
    q = args.quick
    print(f"command: python {sys.argv[0]} {' '.join(argv if argv is not None else sys.argv[1:])}")
    print(f"machine: {machine()}")
    print(isa())
    print(blas_setting())
    try:
        print(f"load average at start: {os.getloadavg()}")
    except OSError:
        pass
    print()
    if args.tile:
        from fastrep._kernels import _blas

        _blas.TILE = args.tile
    if "crash" in args.parts:
        names = list(CRASH_CASES)
        print(part_crash(args.crash_n, args.crash_dtypes,
                         [names[i] for i in args.crash_cases] if args.crash_cases else names), flush=True)
        print()
    if "guard" in args.parts:
        cases = GUARD_CASES
        if args.guard_cases:
            cases = [(r, d, int(n)) for r, d, n in (c.split(":") for c in args.guard_cases)]
        print(part_guard(q, 1 if q else args.repeats, cases, gram=not args.no_gram), flush=True)
        print()
    if "scale" in args.parts:
        print(part_scale(args.scale_n or (4096 if q else 100_000), 64, args.scale_m or (512 if q else 48_000),
                         args.max_memory, args.ridge, 1e-3), flush=True)
        print()
    if "eigenpro" in args.parts:
        print(part_eigenpro(1500 if q else 6000, 16, 300 if q else 1500, args.ridge), flush=True)
        print()
    if "precision" in args.parts:
        print(part_precision(args.side_n[0] if args.side_n else (1500 if q else 20_000), 32,
                             args.side_m or (400 if q else 12_000), args.ridge), flush=True)
        print()
    if "product" in args.parts:
        print(part_product(args.side_n[0] if args.side_n else (1500 if q else 20_000), 32,
                           args.side_m or (400 if q else 12_000), repeats=1 if q else args.repeats),
              flush=True)
        print()
    if "centres" in args.parts:
        ridges = args.centres_ridge or [1e-6, "validate"]
        print(part_centres(args.side_n[0] if args.side_n else (1500 if q else 20_000), 32,
                           args.centres_m or ([0, 200, 400, 1500] if q else
                                              [0, 4000, 8000, 12_000, 16_000, 20_000]),
                           ridges, args.side_dtype, args.side_tol, args.centres_exact_grid), flush=True)
    if "side" in args.parts:
        print(part_side(args.side_n or ([1500] if q else [20_000, 30_000]), 32,
                        args.side_m or (400 if q else 12_000), args.ridge, args.side_dtype, args.side_tol),
              flush=True)
    try:
        print(f"\nload average at end: {os.getloadavg()}")
    except OSError:
        pass


if __name__ == "__main__":
    main()
