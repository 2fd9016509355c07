"""One performance report: every measurement of fastrep, in one process, into benchmarks/RESULTS.md.

    python benchmarks/report.py            # the full report (~20 minutes on 2 cores)
    python benchmarks/report.py --quick    # small sizes (~3 minutes): checks the script, rough numbers
    python benchmarks/report.py --quick --out /tmp/RESULTS.md --no-compare

Sections of the written file:

1. the machine, the BLAS setting (OPENBLAS_CORETYPE set or not; which kernels, via
   threadpoolctl), the load average, and two ceilings measured in this run: a large SGEMM
   (GFLOP/s) and ``np.copyto`` of a large array (GB/s, read + write);
2. **Backend choice for auto**: one table per operation of the kernel contract at a
   representative size, each available CPU backend (cpp, numba, reference) side by side with
   the plain NumPy/SciPy way (and PyTorch where installed), as time, ratio to the NumPy way,
   achieved GFLOP/s or GB/s, and the fraction of the floor of that operation measured in the
   same run (the BLAS products it needs at the same shapes, plus one copy of its output, or a
   copy alone for memory-bound operations). Then which backend ``auto`` picks and whether it
   is within 10% of the fastest available one: this is the measurement behind
   ``fastrep.backend.AUTO_PREFERENCE``. Backends are timed round-robin (one call of each per
   round, the median over rounds), so a burst of load from elsewhere hits them all alike;
3. **Scaling**: the empirical exponent k of time ~ c n^k (and ~ c d^k) fitted by least
   squares on log-log for ``OneStepNetwork.fit_stream`` and for the NTK Gram block;
4. **Peak memory** of a streamed fit against n, each in a fresh process (VmHWM), with the
   stream's in-memory cache off (``cache='regenerate'``: every pass regenerated, memory independent of n)
   and on (``fit_stream(cache='auto')`` under a 512 MiB budget: streams up to that size are kept);
5. the output of every ``compare_*.py`` script, run in this process through its ``main``;
6. the hand-written GPU section, copied verbatim from ``benchmarks/RESULTS_GPU.md`` if present,
   then every other hand-written ``benchmarks/RESULTS_*.md`` (e.g. full-size kernel runs), verbatim.

The report never changes OPENBLAS_* variables; it prints them. Float64 factorizations stay at
n <= 8192 (see compare_kernels.py).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

import numpy as np  # noqa: E402
import scipy.linalg.blas as blas  # noqa: E402

import fastrep  # noqa: E402
from benchmarks._common import blas_setting, machine, md_table  # noqa: E402
from fastrep.backend import AUTO_PREFERENCE, BackendUnavailableError, get_backend, resolve  # noqa: E402

CPU_BACKENDS = ("cpp", "numba", "reference")
WITHIN = 0.10  # auto may be at most 10% slower than the fastest available backend
EXPONENT_BAND = (0.85, 1.15)  # the streamed fit must be linear in n


# --- timing ---------------------------------------------------------------------------------------

def race(fns: dict, repeats: int, warmup: int = 1, budget_s: float | None = None) -> dict:
    """Median seconds of each callable, timed round-robin (one call of each per round).

    ``budget_s`` caps the rounds of a slow callable: once one call of it exceeds the budget
    it is not run again (its median is over the calls made).
    """
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    times = {k: [] for k in fns}
    for _ in range(repeats):
        for k, fn in fns.items():
            if budget_s is not None and times[k] and sum(times[k]) > budget_s:
                continue
            t0 = time.perf_counter()
            fn()
            times[k].append(time.perf_counter() - t0)
    return {k: float(np.median(v)) for k, v in times.items()}


def ceilings(quick: bool, repeats: int) -> dict:
    """A large SGEMM's GFLOP/s and a large copy's GB/s (read + write), measured now."""
    n = 2048 if quick else 4096
    rng = np.random.default_rng(0)
    A = rng.standard_normal((n, n), dtype=np.float32)
    C = np.empty_like(A)
    src = np.ones(2**25 if quick else 2**26, dtype=np.float32)  # 128 / 256 MB
    dst = np.zeros_like(src)
    t = race({"gemm": lambda: np.matmul(A, A, out=C), "copy": lambda: np.copyto(dst, src)}, repeats)
    return {"gemm_gflops": 2 * n**3 / t["gemm"] / 1e9, "gemm_n": n,
            "copy_gbs": 2 * src.nbytes / t["copy"] / 1e9, "copy_mb": src.nbytes / 1e6}


# --- the operations of the kernel contract ----------------------------------------------------------

def numpy_ntk_cross(X1, X2, beta=1.0):
    """K_ntk(X1, X2) in plain NumPy ufuncs in X1's dtype: compare_kernels.numpy_ntk for two inputs."""
    dt = X1.dtype.type
    d = X1.shape[1]
    b2 = dt(beta * beta)
    c = X1 @ X2.T
    c /= dt(d)
    c += b2
    q1 = np.einsum("ij,ij->i", X1, X1) / dt(d) + b2
    q2 = np.einsum("ij,ij->i", X2, X2) / dt(d) + b2
    s = np.sqrt(np.multiply.outer(q1, q2))
    u = np.clip(c / s, -1, 1)
    t = np.sqrt(1 - u * u) * s
    t += dt(2) * (dt(np.pi) - np.arccos(u)) * c
    t *= dt(0.5 / np.pi)
    return t


def _torch():
    try:
        import torch
    except ImportError:
        return None
    return torch


class Op:
    """One operation at a representative size: backend calls, baselines, its floor and its work."""

    def __init__(self, name, note, backend_call, baselines, floor, work, unit):
        self.name, self.note = name, note
        self.backend_call = backend_call  # mod -> callable
        self.baselines = baselines  # label -> callable
        self.floor = floor  # label, callable: the ceiling's time for this op's work
        self.work = work  # FLOPs (unit GFLOP/s) or bytes (unit GB/s)
        self.unit = unit


def make_ops(quick: bool) -> list[Op]:
    rng = np.random.default_rng(0)
    f32 = np.float32
    torch = _torch()
    ops = []

    # Hermite features: memory-bound, floor = a copy of out's size (read Z + write out ~ out)
    from compare_hermite import scipy_loop

    n, r, p = (50_000 if quick else 400_000), 4, 4
    Z = rng.standard_normal((n, r)).astype(f32)
    alphas = fastrep.multi_indices(r, p)
    out = np.zeros((n, alphas.shape[0]), f32)
    out2, src = np.zeros_like(out), np.ones_like(out)
    ops.append(Op("hermite_features", f"Z ({n:,}, {r}) float32, |alpha| <= {p} ({alphas.shape[0]} features), "
                  "into a preallocated out",
                  lambda mod: (lambda: mod.hermite_features(Z, alphas, out)),
                  {"SciPy eval_hermitenorm loop": lambda: scipy_loop(Z, alphas, out2)},
                  ("np.copyto of out's size", lambda: np.copyto(out2, src)),
                  Z.nbytes + out.nbytes, "GB/s"))

    # Gaussian block: write-bound, floor = writing the block (a copy of its size)
    n, d = (2048 if quick else 8192), 1000
    gen = np.random.default_rng(1)
    blk, blk_src = np.zeros((n, d), f32), np.ones((n, d), f32)
    base = {"NumPy default_rng().standard_normal (1 thread)": lambda: gen.standard_normal((n, d), dtype=f32)}
    if torch is not None:
        base["PyTorch torch.randn"] = lambda: torch.randn(n, d, dtype=torch.float32)
    ops.append(Op("gaussian_block", f"({n:,}, {d}) float32 per call, a fresh array each call",
                  lambda mod: (lambda: mod.gaussian_block(7, 0, 0, n, d, f32)), base,
                  ("np.copyto of the block's size", lambda: np.copyto(blk, blk_src)),
                  2 * blk.nbytes, "GB/s"))  # counted as a copy (read + write) to compare with the ceiling

    # Algorithm 1: BLAS-bound, floor = the same products on random data
    n, d, m = (8192 if quick else 32768), 200, 1000
    h = m // 2
    X = rng.standard_normal((n, d)).astype(f32)
    W = (rng.standard_normal((h, d)) / np.sqrt(d)).astype(f32)
    b = rng.standard_normal(m).astype(f32)
    bh = np.ascontiguousarray(b[:h])
    y = rng.standard_normal(n).astype(f32)
    P = np.empty((n, h), f32)
    G = np.zeros((m, m), f32)
    Phi = np.maximum(rng.standard_normal((n, m)).astype(f32), 0)
    Phi2 = np.empty_like(Phi)
    shape = f"X ({n:,}, {d}), width m = {m} (W half ({h}, {d}), paired), float32"

    def np_grad():
        return ((X @ W.T + bh > 0) * y[:, None]).T @ X

    def np_relu():
        Q = X @ W.T
        return np.concatenate([np.maximum(Q + b[:h], 0), np.maximum(-Q + b[h:], 0)], axis=1)

    def np_moments():
        F = np_relu()
        return F.T @ F, F.T @ y

    def scipy_moments():
        F = np_relu()
        return blas.ssyrk(1.0, F.T, trans=0, lower=0), F.T @ y

    def floor_grad():
        np.matmul(X, W.T, out=P)
        return P.T @ X

    def floor_relu():
        np.matmul(X, W.T, out=P)
        np.copyto(Phi2, Phi)

    def floor_moments():
        np.matmul(X, W.T, out=P)
        blas.ssyrk(1.0, Phi.T, beta=1.0, c=G.T, trans=0, lower=0, overwrite_c=1)

    tb = {}
    if torch is not None:
        tX, tW, tb_, tbh, ty = (torch.from_numpy(a) for a in (X, W, b, bh, y))

        def torch_relu():
            Q = tX @ tW.T
            return torch.cat([torch.relu(Q + tb_[:h]), torch.relu(-Q + tb_[h:])], dim=1)

        tb = {"onestep_gradient": lambda: ((tX @ tW.T + tbh > 0) * ty[:, None]).T @ tX,
              "relu_features": torch_relu,
              "feature_moments": lambda: (lambda F: (F.T @ F, F.T @ ty))(torch_relu())}
    flops_grad = 2 * 2 * n * d * h
    flops_relu = 2 * n * d * h
    flops_mom = 2 * n * d * h + n * m * m + 2 * n * m
    for name, call, base, floor, flops in (
        ("onestep_gradient", lambda mod: (lambda: mod.onestep_gradient(X, W, bh, y)),
         {"NumPy ((X W^T + b > 0) * r)^T X": np_grad}, ("SGEMMs X W^T and P^T X", floor_grad), flops_grad),
        ("relu_features", lambda mod: (lambda: mod.relu_features(X, W, b, True)),
         {"NumPy concatenate(maximum(+-X W^T + b, 0))": np_relu},
         ("SGEMM X W^T + copy of Phi", floor_relu), flops_relu),
        ("feature_moments", lambda mod: (lambda: mod.feature_moments(X, W, b, y, True)),
         {"NumPy Phi^T Phi, Phi^T y": np_moments, "SciPy ssyrk(Phi), Phi^T y": scipy_moments},
         ("SGEMM X W^T + SSYRK of Phi", floor_moments), flops_mom),
    ):
        if name in tb:
            base = {**base, f"PyTorch ({torch.get_num_threads()} threads)": tb[name]}
        ops.append(Op(name, shape, call, base, floor, flops, "GFLOP/s"))

    # NTK Gram block: a product plus a fused elementwise pass; floor = the product + one copy of out
    from compare_kernels import numpy_ntk

    n, d = (2048 if quick else 8192), 128
    Xg = rng.standard_normal((n, d)).astype(f32)
    out_g = np.zeros((n, n), f32)
    src_g = np.ones_like(out_g)

    def floor_gram():
        np.matmul(Xg, Xg.T, out=out_g)
        np.copyto(out_g, src_g)

    ops.append(Op("kernel_gram", f"X ({n:,}, {d}) float32, symmetric NTK block into a preallocated out",
                  lambda mod: (lambda: mod.kernel_gram(Xg, None, 1.0, "ntk", out_g)),
                  {"NumPy composition (compare_kernels.numpy_ntk)": lambda: numpy_ntk(Xg)},
                  ("SGEMM X X^T + copy of the block", floor_gram), 2 * n * n * d, "GFLOP/s"))

    # Blocked matvecs of the Nystrom solver: floor = the product K-shaped and one copy of it
    n, d, M, rows = (16384 if quick else 65536), 64, 1024, 4096
    Xm = rng.standard_normal((n, d)).astype(f32)
    Cm = rng.standard_normal((M, d)).astype(f32)
    V = rng.standard_normal(M)
    Wv = rng.standard_normal(n)
    K = np.zeros((n, M), f32)
    K2 = np.ones_like(K)

    def floor_mv():
        np.matmul(Xm, Cm.T, out=K)
        np.copyto(K, K2)

    def np_normal():
        Kx = numpy_ntk_cross(Xm, Cm)
        return Kx.T @ (Kx @ V.astype(f32) + Wv.astype(f32))

    shape_mv = f"X ({n:,}, {d}), centers C ({M}, {d}), float32, {rows} rows a block"
    ops.append(Op("kernel_matvec", shape_mv + ": K(X, C) V",
                  lambda mod: (lambda: mod.kernel_matvec(Xm, Cm, V, 1.0, "ntk", rows)),
                  {"NumPy: whole K(X, C) then K V": lambda: numpy_ntk_cross(Xm, Cm) @ V.astype(f32)},
                  ("SGEMM X C^T + copy of K", floor_mv), 2 * n * M * d + 2 * n * M, "GFLOP/s"))
    ops.append(Op("kernel_normal_matvec", shape_mv + ": K^T (K V + W)",
                  lambda mod: (lambda: mod.kernel_normal_matvec(Xm, Cm, V, 1.0, "ntk", rows, W=Wv)),
                  {"NumPy: whole K(X, C) then K^T (K V + W)": np_normal},
                  ("SGEMM X C^T + copy of K", floor_mv), 2 * n * M * d + 4 * n * M, "GFLOP/s"))
    return ops


def measure_op(op: Op, repeats: int) -> dict:
    mods = {}
    for name in CPU_BACKENDS:
        try:
            mods[name] = get_backend(name)
        except BackendUnavailableError:
            pass
    fns = {f"backend {k}": op.backend_call(m) for k, m in mods.items()}
    fns.update(op.baselines)
    fns[op.floor[0]] = op.floor[1]
    # the reference (float64 NumPy) and the NumPy compositions get a time budget per entry
    t = race(fns, repeats, budget_s=20.0)
    env_backend = os.environ.get("FASTREP_BACKEND")
    auto = resolve("auto", op.name).name
    backend_t = {k.split()[1]: v for k, v in t.items() if k.startswith("backend ")}
    fastest = min(backend_t, key=backend_t.get)
    return {"op": op, "t": t, "backend_t": backend_t, "auto": auto, "fastest": fastest,
            "auto_ratio": backend_t[auto] / backend_t[fastest], "env_backend": env_backend}


def op_table(res: dict) -> str:
    op, t = res["op"], res["t"]
    base_label = next(iter(op.baselines))
    t_base = t[base_label]
    t_floor = t[op.floor[0]]
    rows = []
    for label, secs in t.items():
        name = label
        if label.startswith("backend "):
            be = label.split()[1]
            name = f"fastrep `{be}`" + (" **(auto)**" if be == res["auto"] else "")
        elif label == op.floor[0]:
            name = f"floor: {label}"
        rows.append([name, f"{secs * 1e3:.2f}", f"{t_base / secs:.2f}", f"{op.work / secs / 1e9:.1f}",
                     f"{100 * t_floor / secs:.0f}%"])
    head = [f"#### {op.name}", "", op.note + ".", "",
            md_table(["implementation", "ms", f"x {base_label}", op.unit, "% of floor"], rows)]
    return "\n".join(head)


def choice_table(results: list[dict]) -> str:
    rows = []
    for res in results:
        ok = res["auto_ratio"] <= 1 + WITHIN
        times = ", ".join(f"{k} {v * 1e3:.2f}" for k, v in res["backend_t"].items())
        order = " > ".join(AUTO_PREFERENCE.get(res["op"].name, ("(default order)",)))
        rows.append([res["op"].name, order, res["auto"], res["fastest"], f"{res['auto_ratio']:.2f}",
                     "yes" if ok else "**NO**", times])
    return md_table(["operation", "AUTO_PREFERENCE", "auto picks", "fastest here", "auto / fastest",
                     "within 10%", "ms per backend"], rows)


# --- scaling -------------------------------------------------------------------------------------------

def exponent(xs, ts) -> float:
    """Least-squares slope of log t against log x."""
    return float(np.polyfit(np.log(xs), np.log(ts), 1)[0])


def fit_time(n, d, m, reps):
    """Median wall time of OneStepNetwork(width=m, ridge=1e-3).fit_stream over ``reps`` fits, and
    the median of its streamed stages (every stage but the n-independent ridge solve)."""
    target = fastrep.MultiIndexTarget.single_index(d, "he2", noise=1.0, seed=0)
    totals, streamed = [], []
    for _ in range(reps):
        net = fastrep.OneStepNetwork(width=m, ridge=1e-3, seed=0)
        stream = fastrep.GaussianStream(target, 1)
        t0 = time.perf_counter()
        net.fit_stream(stream, n)
        totals.append(time.perf_counter() - t0)
        streamed.append(sum(v for k, v in net.timings_.items() if k != "ridge"))
    return float(np.median(totals)), float(np.median(streamed))


def gram_time(n, d, reps, mod):
    X = np.random.default_rng(0).standard_normal((n, d)).astype(np.float32)
    out = mod.kernel_gram(X, None, 1.0, "ntk")
    return race({"g": lambda: mod.kernel_gram(X, None, 1.0, "ntk", out)}, reps, warmup=0)["g"]


def scaling(quick: bool) -> tuple[str, dict]:
    lines, facts = [], {}
    reps = 2 if quick else 3
    d0, m0 = 100, 500
    ns = [40_000, 80_000, 160_000, 320_000] if quick else [100_000, 200_000, 400_000, 800_000, 1_200_000]
    # warm-up at the smallest size of the grid (a 5,000-row warm-up left the first size's fits
    # slow: 12.3 us per sample against 5-6.5 for the rest, an exponent of 0.73), then the sizes
    # in rounds (each round visits every n), so a slow spell of the machine hits all sizes alike
    fit_time(ns[0], d0, m0, 1)
    runs = {n: ([], []) for n in ns}
    for _ in range(reps):
        for n in ns:
            a, s = fit_time(n, d0, m0, 1)
            runs[n][0].append(a)
            runs[n][1].append(s)
    rows, tot, st = [], [], []
    for n in ns:
        a, s = float(np.median(runs[n][0])), float(np.median(runs[n][1]))
        tot.append(a)
        st.append(s)
        rows.append([f"{n:,}", f"{a:.3f}", f"{s:.3f}", f"{a / n * 1e6:.2f}"])
    k_tot, k_st = exponent(ns, tot), exponent(ns, st)
    facts["fit_n"] = (k_tot, k_st)
    lines += [f"#### OneStepNetwork.fit_stream against n (d = {d0}, width = {m0}, float32, ridge fixed, "
              f"median of {reps})", "",
              md_table(["n", "fit s", "streamed stages s", "us per sample"], rows), "",
              f"exponent of the whole fit: **{k_tot:.3f}**; of the streamed stages (all but the "
              f"n-independent ridge solve): **{k_st:.3f}**; linear means "
              f"{EXPONENT_BAND[0]}-{EXPONENT_BAND[1]}: "
              f"{'met' if EXPONENT_BAND[0] <= k_tot <= EXPONENT_BAND[1] else 'MISSED'} "
              "for the whole fit.", ""]

    n0 = 40_000 if quick else 100_000
    ds = [50, 100, 200, 400] if quick else [50, 100, 200, 400, 800]  # n * d * 4 B < the stream cache
    rows, tot = [], []
    for d in ds:
        a, s = fit_time(n0, d, m0, reps)
        tot.append(a)
        rows.append([d, f"{a:.3f}", f"{s:.3f}"])
    k_d = exponent(ds, tot)
    facts["fit_d"] = k_d
    lines += [f"#### OneStepNetwork.fit_stream against d (n = {n0:,}, width = {m0})", "",
              md_table(["d", "fit s", "streamed stages s"], rows), "",
              f"exponent in d: **{k_d:.2f}** (below 1: the SYRK of the features costs n m^2 whatever d "
              "is).", ""]

    mod = resolve("auto", "kernel_gram")
    gn = [1024, 2048, 4096] if quick else [1024, 2048, 4096, 8192]
    g_t = [gram_time(n, 128, 5, mod) for n in gn]
    k_gn = exponent(gn, g_t)
    gd = [32, 64, 128, 256, 512]
    n_d = 2048 if quick else 4096
    gd_t = [gram_time(n_d, d, 5, mod) for d in gd]
    k_gd = exponent(gd, gd_t)
    facts["gram"] = (k_gn, k_gd)
    rows_n = [[f"{n:,}", f"{t * 1e3:.1f}"] for n, t in zip(gn, g_t, strict=True)]
    rows_d = [[d, f"{t * 1e3:.1f}"] for d, t in zip(gd, gd_t, strict=True)]
    lines += [f"#### NTK Gram block (backend `{mod.name}`, float32, symmetric, preallocated out)", "",
              md_table(["n (d = 128)", "ms"], rows_n), "",
              md_table([f"d (n = {n_d:,})", "ms"], rows_d), "",
              f"exponent in n: **{k_gn:.2f}** (n^2 entries); in d: **{k_gd:.2f}** (the product is "
              "2 n^2 d FLOPs, the fused arccos pass n^2 whatever d is, so the exponent is below 1 until "
              "the product dominates).", ""]
    return "\n".join(lines), facts


# --- peak memory -------------------------------------------------------------------------------------

_MEM_CHILD = """
import json, sys, time
sys.path.insert(0, %r)
from _common import peak_rss_mb
import os
n, d, m, cache = json.loads(sys.argv[1])
if cache:  # keep the generated stream for the later passes when it fits a 512 MiB budget
    os.environ["FASTREP_MAX_MEMORY"] = str(512 * 2**20)
import fastrep
target = fastrep.MultiIndexTarget.single_index(d, "he2", noise=1.0, seed=0)
t0 = time.perf_counter()
fastrep.OneStepNetwork(width=m, ridge=1e-3, seed=0).fit_stream(fastrep.GaussianStream(target, 1), n,
                                                               cache="auto" if cache else "regenerate")
print(json.dumps({"s": time.perf_counter() - t0,
                  "mb": peak_rss_mb()}))
""" % str(HERE)


def peak_memory(quick: bool) -> tuple[str, dict]:
    d, m = 100, 500
    # from one chunk up (a fit of n < chunk rows allocates n-row blocks, so memory grows until n = chunk)
    ns = [40_000, 160_000, 640_000] if quick else [100_000, 400_000, 1_600_000, 3_200_000]
    rows, flat = [], {True: [], False: []}
    for n in ns:
        row = [f"{n:,}", f"{n * d * 4 / 2**20:.0f}"]
        for cache in (True, False):
            out = subprocess.run([sys.executable, "-c", _MEM_CHILD, json.dumps([n, d, m, cache])],
                                 capture_output=True, text=True, check=False)
            if out.returncode != 0:
                raise RuntimeError(f"the memory child failed:\n{out.stderr[-3000:]}")
            res = json.loads(out.stdout.strip().splitlines()[-1])
            flat[cache].append(res["mb"])
            row += [f"{res['s']:.2f}", f"{res['mb']:.0f}"]
        rows.append(row)
    growth = {k: max(v) / min(v) for k, v in flat.items()}
    text = "\n".join([
        f"One fit per fresh process (d = {d}, width = {m}, float32): peak RSS (VmHWM of the child, MiB; "
        "not ru_maxrss, which a child inherits from its parent across exec). "
        "'cache off' is fit_stream(cache='regenerate'): every pass regenerates its chunks from the "
        "seed; 'cache on' is cache='auto' under a 512 MiB budget (FASTREP_MAX_MEMORY), so streams up "
        "to that size are generated once and kept.", "",
        md_table(["n", "stream MiB", "s (cache on)", "peak MiB (cache on)", "s (cache off)",
                  "peak MiB (cache off)"], rows), "",
        f"largest / smallest peak: {growth[False]:.2f} with the cache off (flat in n: memory is "
        f"O(m^2 + chunk (d + m))), {growth[True]:.2f} with it on (grows with n up to the cache limit, "
        "flat beyond).",
    ])
    return text, growth


# --- the compare scripts ---------------------------------------------------------------------------

def compare_runs(quick: bool) -> list[tuple[str, str, list[str]]]:
    """(title, module, argv) of every compare_*.py run; full sizes stay within ~20 minutes here."""
    if quick:
        return [("Hermite features", "compare_hermite", ["--quick"]),
                ("Gaussian stream", "compare_stream", ["--quick"]),
                # its peak-memory children are the memory section's job in a quick run
                ("Algorithm 1, canonical fit", "compare_onestep", ["--quick", "--no-memory"]),
                ("NTK kernels and kernel ridge", "compare_kernels", ["--quick"]),
                ("Gram and symmetric products", "compare_gram", ["--quick"]),
                ("MultiStepNetwork: steps, online SGD, B = 1", "compare_steps", ["--quick"]),
                ("NTK ridge at scale (Nystrom)", "compare_nystrom", ["--quick"])]
    return [("Hermite features", "compare_hermite", []),
            ("Gaussian stream", "compare_stream", []),
            ("Algorithm 1, canonical fit", "compare_onestep", []),
            # float64 potrf only up to n = 8192 (see the module docstring); Nystrom at M = 4096
            ("NTK kernels and kernel ridge", "compare_kernels",
             ["--exact-n", "8192", "--large-n", "32768", "131072", "--large-m", "4096"]),
            ("Gram and symmetric products", "compare_gram", []),
            ("MultiStepNetwork: steps, online SGD, B = 1", "compare_steps", []),
            # the issue-26 sizes take about an hour on 2 cores: a scaled run here
            ("NTK ridge at scale (Nystrom)", "compare_nystrom",
             ["--scale-n", "50000", "--scale-m", "16384", "--side-n", "20000"])]


def run_compare(module: str, argv: list[str]) -> str:
    import importlib

    mod = importlib.import_module(module)
    buf = io.StringIO()
    argv0 = sys.argv[0]
    sys.argv[0] = mod.__file__  # the scripts print "command: python <argv[0]> <argv>"
    try:
        with contextlib.redirect_stdout(buf):
            mod.main(argv)
    finally:
        sys.argv[0] = argv0
    # three levels down, so the scripts' own headings nest under this report's "### <script>"
    return "\n".join("###" + ln if ln.startswith("#") else ln for ln in buf.getvalue().rstrip().splitlines())


# --- main ---------------------------------------------------------------------------------------------

def header(quick: bool, ceil: dict) -> str:
    core = os.environ.get("OPENBLAS_CORETYPE")
    try:
        import torch  # noqa: F401

        torch_line = "PyTorch " + torch.__version__
    except ImportError:
        torch_line = "PyTorch not installed (its rows are left out)"
    import scipy
    import sklearn

    return "\n".join([
        "# fastrep performance report", "",
        "Written by `python benchmarks/report.py" + (" --quick" if quick else "") + "` (do not edit by hand: "
        "rerun it; the GPU section and the other hand-written sections at the end come from "
        "`benchmarks/RESULTS_*.md`).", "",
        f"- date: {time.strftime('%Y-%m-%d %H:%M %Z')}; mode: {'--quick (small sizes)' if quick else 'full'}",
        f"- machine: {machine()}, {platform.platform()}",
        f"- {blas_setting()}",
        f"- OPENBLAS_CORETYPE {'set to ' + repr(core) if core else 'not set'}; "
        f"OMP_NUM_THREADS {os.environ.get('OMP_NUM_THREADS', 'not set')}; "
        f"FASTREP_BACKEND {os.environ.get('FASTREP_BACKEND', 'not set')}",
        f"- fastrep {fastrep.__version__}, backends: {fastrep.backends()}",
        f"- numpy {np.__version__}, scipy {scipy.__version__}, scikit-learn {sklearn.__version__}; "
        f"{torch_line}",
        f"- load average at start: {os.getloadavg()}",
        f"- ceilings measured in this run: SGEMM {ceil['gemm_n']}^3 **{ceil['gemm_gflops']:.0f} GFLOP/s**; "
        f"np.copyto of {ceil['copy_mb']:.0f} MB **{ceil['copy_gbs']:.1f} GB/s** (read + write)",
    ])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="small sizes (~3 minutes)")
    ap.add_argument("--out", default=str(HERE / "RESULTS.md"),
                    help="where to write (default benchmarks/RESULTS.md)")
    ap.add_argument("--repeats", type=int, help="rounds per operation (default 7; 5 with --quick)")
    ap.add_argument("--no-compare", action="store_true", help="skip the compare_*.py scripts")
    ap.add_argument("--sections", nargs="+", default=["ops", "scaling", "memory"],
                    choices=["ops", "scaling", "memory"], help="which of this script's own sections to run")
    args = ap.parse_args(argv)
    quick = args.quick
    repeats = args.repeats or (5 if quick else 7)
    t_start = time.perf_counter()

    def log(msg):
        print(f"[{time.perf_counter() - t_start:6.0f} s] {msg}", file=sys.stderr, flush=True)

    ceil = ceilings(quick, repeats)
    parts = [header(quick, ceil), ""]
    verdicts = []
    if "ops" in args.sections:
        parts += ["## Backend choice for auto", "",
                  "Each operation of the kernel contract at a representative size: every available CPU "
                  "backend's module function, the plain NumPy/SciPy way (and PyTorch where installed) and "
                  f"the operation's floor, timed round-robin in this run (median of {repeats} rounds). The "
                  "`x` column is the speed-up over the first baseline; `% of floor` is the floor's time "
                  "over the row's time (100% = as fast as the BLAS products and memory traffic the "
                  "operation cannot avoid). The reference is float64 NumPy: the specification, not a "
                  "contender.", ""]
        results = []
        for op in make_ops(quick):
            log(f"op {op.name}")
            res = measure_op(op, repeats)
            results.append(res)
            parts += [op_table(res), ""]
        parts += ["#### Summary: what `auto` picks", "",
                  "`auto` follows `fastrep.backend.AUTO_PREFERENCE` (first available backend of the "
                  "list); the fastest is over the available CPU backends in the tables above.", "",
                  choice_table(results), ""]
        bad = [r["op"].name for r in results if r["auto_ratio"] > 1 + WITHIN]
        verdicts.append(f"auto within 10% of the fastest backend on every operation: "
                        f"{'yes' if not bad else 'NO (' + ', '.join(bad) + ')'}")
    if "scaling" in args.sections:
        log("scaling")
        text, facts = scaling(quick)
        parts += ["## Scaling in n and d", "", text]
        k, ks = facts["fit_n"]
        verdicts.append(f"streamed fit linear in n: exponent {k:.3f} for the whole fit "
                        f"({'within' if EXPONENT_BAND[0] <= k <= EXPONENT_BAND[1] else 'OUTSIDE'} "
                        f"{EXPONENT_BAND[0]}-{EXPONENT_BAND[1]}), {ks:.3f} for its streamed stages")
    if "memory" in args.sections:
        log("peak memory")
        text, growth = peak_memory(quick)
        parts += ["## Peak memory of a streamed fit against n", "", text, ""]
        verdicts.append(f"peak memory flat in n (cache off): largest/smallest {growth[False]:.2f}")
    if not args.no_compare:
        parts += ["## The compare scripts", "",
                  "Each `benchmarks/compare_*.py` run through its `main` in this process; their own "
                  "docstrings define the columns.", ""]
        for title, module, cargv in compare_runs(quick):
            log(f"{module} {' '.join(cargv)}")
            parts += [f"### {title}: `python benchmarks/{module}.py {' '.join(cargv)}`".rstrip(), "",
                      run_compare(module, cargv), ""]
    gpu = HERE / "RESULTS_GPU.md"
    if gpu.exists():
        parts += ["## GPU", "", "Copied verbatim from `benchmarks/RESULTS_GPU.md` (written by hand from "
                  "`benchmarks/gpu_check.py` on a GPU machine).", "", gpu.read_text().rstrip(), ""]
    # other hand-written result files (full-size runs too long for this report), verbatim
    for extra in sorted(HERE.glob("RESULTS_*.md")):
        if extra.name != gpu.name:
            parts += [f"<!-- copied verbatim from benchmarks/{extra.name} -->", "",
                      extra.read_text().rstrip(), ""]
    parts[2:2] = ["## Verdicts", ""] + [f"- {v}" for v in verdicts] + [
        f"- whole report: {time.perf_counter() - t_start:.0f} s; load average at end: {os.getloadavg()}", ""]
    Path(args.out).write_text("\n".join(parts).rstrip() + "\n")
    log(f"wrote {args.out}")
    print("\n".join(f"- {v}" for v in verdicts))
    return 0


if __name__ == "__main__":
    sys.exit(main())
