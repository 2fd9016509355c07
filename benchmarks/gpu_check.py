"""One short GPU session: build every CUDA kernel, check each against the CPU reference (and bit for
bit against the C++ core where they share the arithmetic), run the GPU tests, check CPU/GPU
agreement of a fit, and time the GPU goals. Prints a table with the card's name and writes it to
benchmarks/RESULTS_GPU.md.

    pip install -e ".[dev,gpu]" && python benchmarks/gpu_check.py   # all, < 5 min on an H100/H200
    python benchmarks/gpu_check.py --quick                          # small sizes, < 2 min
    python benchmarks/gpu_check.py --only build,kernels --out x.md  # some sections

Each section runs on its own and reports FAIL (with the error) instead of stopping the script,
so one broken piece cannot waste the session's device time. Without a usable CuPy device the
script says why and exits with status 2, writing nothing.
"""

from __future__ import annotations

import argparse
import datetime
import subprocess
import sys
import time
import traceback
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _common import md_table  # noqa: E402

import fastrep  # noqa: E402

DEFAULT_OUT = HERE / "RESULTS_GPU.md"
HEADERS = ["section", "what", "value", "goal", "status"]
#: wall-clock budget of the whole script (seconds), build included
BUDGET = {False: 300.0, True: 120.0}


class Report:
    """The rows of the result table; each section appends to it."""

    def __init__(self):
        self.rows: list[list[str]] = []

    def record(self, section, what, value, goal="", status=""):
        cells = [section, what, str(value), goal, status]
        self.rows.append([c.replace("|", "/").replace("\n", " ") for c in cells])  # one table row each
        print(f"[{section}] {what}: {value} {goal} {status}", flush=True)

    def check(self, section, what, err, tol):
        """Record a relative error against its tolerance."""
        self.record(section, what, f"{err:.1e}", f"<= {tol:.0e}", "ok" if err <= tol else "FAIL")

    def same(self, section, what, a, b):
        """Record whether two arrays are bit-identical."""
        a, b = _host(a), _host(b)
        equal = a.shape == b.shape and a.dtype == b.dtype and np.array_equal(a, b)
        if equal:
            detail = "identical"
        elif a.shape == b.shape:
            detail = f"{np.count_nonzero(a != b)} of {a.size} differ"
        else:
            detail = f"shapes {a.shape}, {b.shape}"
        self.record(section, what, detail, "bit for bit", "ok" if equal else "FAIL")

    def failed(self) -> bool:
        return any(r[4] not in ("", "ok") for r in self.rows)


def run_sections(sections, args, report: Report) -> None:
    """Run each (name, fn) as fn(args, report); an exception becomes a FAIL row and the next runs."""
    for name, fn in sections:
        t0 = time.perf_counter()
        try:
            fn(args, report)
        except Exception as exc:  # report and go on: device time is scarce
            report.record(name, "ERROR", f"{type(exc).__name__}: {exc}", "", "FAIL")
            traceback.print_exc()
        print(f"[{name}] done in {time.perf_counter() - t0:.1f} s", flush=True)


def report_text(header_lines, report: Report) -> str:
    table = md_table(HEADERS, report.rows)
    return "# fastrep GPU check\n\n" + "\n".join(header_lines) + "\n\n" + table + "\n"


# --- helpers that need CuPy (imported inside, so this file imports without it) -----------------


def _host(a):
    if type(a).__module__.split(".")[0] == "cupy":
        import cupy as cp

        return cp.asnumpy(a)
    return np.asarray(a)


def _rel(a, b):
    a = _host(a).astype(np.float64)
    b = _host(b).astype(np.float64)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300))


def _sync():
    import cupy as cp

    cp.cuda.Device().synchronize()


def gpu_time(fn, repeat=3):
    fn()
    _sync()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        _sync()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


TOL = {np.dtype(np.float32): 2e-5, np.dtype(np.float64): 1e-11}


# --- sections ------------------------------------------------------------------------------------


def section_build(args, report):
    """Compile every CUDA kernel (NVRTC on the device) for float and double: the build's time."""
    from fastrep._kernels import _cuda
    from fastrep._kernels import cupy as gk

    t0 = time.perf_counter()
    for fn in _cuda.KERNELS:
        for ct in ("float", "double"):
            k = gk._raw(fn, ct)
            if hasattr(k, "compile"):
                k.compile()
            else:  # older CuPy: reading the attributes loads the module, which builds it
                _ = k.attributes
    t = time.perf_counter() - t0
    report.record("build", f"{len(_cuda.KERNELS)} kernels x float/double", f"{t:.1f} s")


def section_kernels(args, report):
    """Every CUDA kernel against the float64 reference, float32 and float64; bit-identity with the
    C++ core where the arithmetic is the same scalar code (scalar_*.hpp, no FMA on either side)."""
    import cupy as cp

    from fastrep import _ext
    from fastrep._kernels import cupy as gk
    from fastrep._kernels import reference as ref

    S = "kernels"
    rng = np.random.default_rng(0)
    for dt in (np.dtype(np.float32), np.dtype(np.float64)):
        tol, nm = TOL[dt], dt.name
        Z = rng.standard_normal((5000, 4)).astype(dt)
        al = fastrep.multi_indices(4, 4)
        got = gk.hermite_features(cp.asarray(Z), al)
        want = ref.hermite_features(Z.astype(np.float64), al)
        report.check(S, f"hermite_features {nm}", _rel(got, want), tol)
        cpu = np.empty(got.shape, dt)
        _ext.hermite_features(Z, np.ascontiguousarray(al, dtype=np.int32), cpu)
        report.same(S, f"hermite_features {nm} vs cpp", got, cpu)

        for seed, stream, start, n, d in ((12345, 0, 7, 3000, 33), (2**63 - 1, 2**32 - 1, 2**32 - 5, 64, 6)):
            got = gk.gaussian_block(seed, stream, start, n, d, dt)
            want = ref.gaussian_block(seed, stream, start, n, d, dt)
            report.check(S, f"gaussian_block {nm} seed={seed}", _rel(got, want), tol)
            cpu = np.empty((n, d), dt)
            _ext.gaussian_block(seed, stream, start, cpu)
            report.same(S, f"gaussian_block {nm} seed={seed} vs cpp", got, cpu)

        n, d, k = 4000, 40, 64
        X = rng.standard_normal((n, d)).astype(dt)
        W = (rng.standard_normal((k, d)) / np.sqrt(d)).astype(dt)
        b = rng.standard_normal(2 * k).astype(dt)
        y = rng.standard_normal(n).astype(dt)
        P = X.astype(np.float64) @ W.astype(np.float64).T
        keep = np.minimum(np.abs(P + b[:k]).min(1), np.abs(-P + b[k:]).min(1)) > 1e-3
        X, y = np.ascontiguousarray(X[keep]), np.ascontiguousarray(y[keep])
        X64 = X.astype(np.float64)
        dX, dW, db, dy = (cp.asarray(a) for a in (X, W, b, y))
        report.check(S, f"onestep_gradient {nm}", _rel(gk.onestep_gradient(dX, dW, db[:k], dy),
                                                       ref.onestep_gradient(X64, W, b[:k], y)), tol)
        for paired in (True, False):
            bb = db if paired else db[:k]
            hb = b if paired else b[:k]
            got, want = gk.relu_features(dX, dW, bb, paired), ref.relu_features(X64, W, hb, paired)
            report.check(S, f"relu_features paired={paired} {nm}", _rel(got, want), tol)
            G, h = gk.feature_moments(dX, dW, bb, dy, paired)
            G0, h0 = ref.feature_moments(X64, W, hb, y, paired)
            report.check(S, f"feature_moments paired={paired} {nm}",
                         max(_rel(cp.tril(G), np.tril(G0)), _rel(h, h0)), tol)
        Pm = rng.standard_normal((300, 70)).astype(dt)
        bm = rng.standard_normal(140).astype(dt)
        rm = rng.standard_normal(300).astype(dt)
        g, c = cp.asarray(Pm), Pm.copy()
        gk._kernels.mask_scale(g, cp.asarray(bm[:70]), cp.asarray(rm))
        _ext.mask_scale(c, np.ascontiguousarray(bm[:70]), rm)
        report.same(S, f"mask_scale {nm} vs cpp", g, c)
        g, c = cp.empty((300, 140), dt), np.empty((300, 140), dt)
        gk._kernels.relu_bias(cp.asarray(Pm), cp.asarray(bm), True, g)
        _ext.relu_bias(Pm, bm, True, c)
        report.same(S, f"relu_bias paired {nm} vs cpp", g, c)

        X1 = rng.standard_normal((700, 30)).astype(dt)
        X2 = rng.standard_normal((500, 30)).astype(dt)
        A, B = X1.astype(np.float64), X2.astype(np.float64)
        V = rng.standard_normal(500).astype(dt)
        Wn = rng.standard_normal(700).astype(dt)
        for kind in ("ntk", "nngp"):
            g1, g2, gV, gW = cp.asarray(X1), cp.asarray(X2), cp.asarray(V), cp.asarray(Wn)
            V64, W64 = V.astype(np.float64), Wn.astype(np.float64)
            got, want = gk.kernel_gram(g1, g2, 1.0, kind), ref.kernel_gram(A, B, 1.0, kind)
            report.check(S, f"kernel_gram {kind} {nm}", _rel(got, want), tol)
            got, want = gk.kernel_gram(g1, None, 1.0, kind), ref.kernel_gram(A, None, 1.0, kind)
            report.check(S, f"kernel_gram symmetric {kind} {nm}", _rel(got, want), tol)
            got = gk.kernel_matvec(g1, g2, gV, 1.0, kind, 128)
            want = ref.kernel_matvec(A, B, V64, 1.0, kind, 128)
            report.check(S, f"kernel_matvec {kind} {nm}", _rel(got, want), tol)
            got = gk.kernel_normal_matvec(g1, g2, gV, 1.0, kind, 128, gW)
            want = ref.kernel_normal_matvec(A, B, V64, 1.0, kind, 128, W64)
            report.check(S, f"kernel_normal_matvec {kind} {nm}", _rel(got, want), tol)
            inv_d, beta2 = dt.type(1 / 30), dt.type(1.0)
            q1 = (np.einsum("ij,ij->i", X1, X1) * inv_d + beta2).astype(dt)
            q2 = (np.einsum("ij,ij->i", X2, X2) * inv_d + beta2).astype(dt)
            G0 = np.ascontiguousarray(X1 @ X2.T)
            g, c = cp.asarray(G0), G0.copy()
            gk._kernels.kernel_from_inner(g, cp.asarray(q1), cp.asarray(q2), inv_d, beta2, kind == "ntk")
            _ext.kernel_from_inner(c, q1, q2, inv_d, beta2, kind == "ntk")
            report.same(S, f"kernel_from_inner {kind} {nm} vs cpp (same inner products)", g, c)


def section_pytest(args, report):
    timeout = 60 if args.quick else 150
    cmd = [sys.executable, "-m", "pytest", "-q", "-m", "gpu", "-p", "no:cacheprovider"]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=HERE.parent)
    except subprocess.TimeoutExpired:
        report.record("pytest -m gpu", "summary", f"timed out after {timeout} s", "all pass", "FAIL")
        return
    lines = [ln for ln in proc.stdout.strip().splitlines() if ln.strip()]
    print("\n".join(lines[-40:]), proc.stderr[-2000:])
    report.record("pytest -m gpu", "summary", (lines[-1:] or ["(no output)"])[0], "all pass",
                  "ok" if proc.returncode == 0 else "FAIL")


def section_agreement(args, report):
    target = fastrep.MultiIndexTarget.separation(16, seed=0)
    errs = {}
    for backend in ("cpp", "cupy"):
        stream = fastrep.GaussianStream(target, 4, dtype=np.float32, backend=backend)
        net = fastrep.OneStepNetwork(width=256, backend=backend, seed=0).fit_stream(stream, 4000, n_val=2000)
        errs[backend] = fastrep.metrics.excess_error(net, target, 5000, seed=1)
    diff = abs(errs["cpp"] - errs["cupy"])
    report.record("CPU/GPU agreement", "OneStepNetwork excess error cpp vs cupy",
                  f"{errs['cpp']:.5f} vs {errs['cupy']:.5f} (diff {diff:.1e})", "<= 1e-3",
                  "ok" if diff <= 1e-3 else "FAIL")


def section_canonical(args, report):
    import cupy as cp

    S = "canonical GPU fit"
    d, m = 1000, 4096
    n = 400_000 if args.quick else 4_000_000
    target = fastrep.MultiIndexTarget.single_index(d, "he2", noise=1.0, seed=0)
    stream = fastrep.GaussianStream(target, 1, dtype=np.float32, backend="cupy")
    results = {}
    for precision in ("highest", "tf32"):
        net = fastrep.OneStepNetwork(width=m, backend="cupy", precision=precision, seed=0)
        net.fit_stream(stream, 10_000)  # compile kernels, warm cuBLAS
        _sync()
        t0 = time.perf_counter()
        net.fit_stream(stream, n, n_val=10_000)
        _sync()
        t = time.perf_counter() - t0
        err = fastrep.metrics.excess_error(net, target, 10_000, seed=0)
        results[precision] = (t, err)
        goal = {"highest": 3.5, "tf32": 1.2}[precision]
        label = "float32" if precision == "highest" else "tf32"
        report.record(S, f"fit_stream d={d} n={n:.0e} m={m} {label}",
                      f"{t:.2f} s (err {err:.4f})", "" if args.quick else f"<= {goal} s",
                      "ok" if t <= goal or args.quick else "SLOW")
        timings = getattr(net, "timings_", {}) or {}
        report.record(S, f"  stages {precision}", ", ".join(f"{k} {v:.2f}" for k, v in timings.items()))
    rel = abs(results["tf32"][1] - results["highest"][1]) / results["highest"][1]
    report.record(S, "tf32 excess error vs float32", f"{rel:.1%}", "<= 10%", "ok" if rel <= 0.1 else "FAIL")
    # the dense products of the same shapes, for achieved TFLOP/s
    chunk = 65_536
    X = cp.random.standard_normal((chunk, d), dtype=cp.float32)
    W = cp.random.standard_normal((m // 2, d), dtype=cp.float32)
    Phi = cp.random.standard_normal((chunk, m), dtype=cp.float32)

    def products():
        for _ in range(n // chunk):
            P = X @ W.T
            _ = P.T @ X
            _ = X @ W.T
            _ = Phi.T @ Phi

    t_gemm = gpu_time(products, repeat=1)
    flops = (n // chunk) * chunk * (3 * 2 * d * (m // 2) + 2 * m * m)
    report.record(S, "GEMM floor, same shapes (float32)",
                  f"{t_gemm:.2f} s, {flops / t_gemm / 1e12:.1f} TFLOP/s")
    report.record(S, "fit achieved (float32)", f"{flops / results['highest'][0] / 1e12:.1f} TFLOP/s")


def section_exact_ntk(args, report):
    n, d = (8192, 512) if args.quick else (65_536, 512)
    target = fastrep.MultiIndexTarget.separation(d, seed=0)
    X, y = fastrep.GaussianStream(target, 2, dtype=np.float64, backend="cupy").take(n)
    model = fastrep.NTKRegressor(ridge=1e-3, solver="cholesky", backend="cupy")
    _sync()
    t0 = time.perf_counter()
    model.fit(X, y)
    _sync()
    t = time.perf_counter() - t0
    report.record("exact NTK ridge", f"Gram + float64 Cholesky n={n} d={d}", f"{t:.2f} s",
                  "" if args.quick else "<= 15 s", "ok" if t <= 15 or args.quick else "SLOW")


def section_nystrom(args, report):
    n, d, M = (2**18, 64, 4096) if args.quick else (2**22, 64, 32_768)
    target = fastrep.MultiIndexTarget.separation(d, seed=0)
    X, y = fastrep.GaussianStream(target, 3, dtype=np.float32, backend="cupy").take(n)
    model = fastrep.NTKRegressor(ridge=1e-6, solver="nystrom", n_centers=M, backend="cupy", dtype=np.float32)
    _sync()
    t0 = time.perf_counter()
    model.fit(X, y)
    _sync()
    t = time.perf_counter() - t0
    err = fastrep.metrics.excess_error(model, target, 10_000, seed=0)
    report.record("Nystrom NTK ridge", f"n={n} d={d} M={M}",
                  f"{t:.2f} s (err {err:.3f}, {getattr(model, 'n_iter_', '?')} CG iterations)",
                  "" if args.quick else "<= 60 s", "ok" if t <= 60 or args.quick else "SLOW")


#: name -> section, in the order they run (cheap correctness first, long timings last)
SECTIONS = {
    "build": section_build,
    "kernels": section_kernels,
    "tests": section_pytest,
    "agreement": section_agreement,
    "canonical": section_canonical,
    "ntk": section_exact_ntk,
    "nystrom": section_nystrom,
}


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=" ".join(__doc__.split("\n\n")[0].split()))
    ap.add_argument("--quick", action="store_true", help="small sizes (under 2 minutes)")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT,
                    help="markdown file for the table (default: %(default)s)")
    ap.add_argument("--only", default=",".join(SECTIONS),
                    help="comma-separated sections to run, of: " + ", ".join(SECTIONS) + " (default: all)")
    ap.add_argument("--skip-tests", action="store_true", help="do not run pytest -m gpu")
    args = ap.parse_args(argv)
    names = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = [s for s in names if s not in SECTIONS]
    if unknown or not names:
        ap.error(f"--only takes names from {', '.join(SECTIONS)}; got {args.only!r}")
    if args.skip_tests and "tests" in names:
        names.remove("tests")
    args.sections = names
    return args


def _git_commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                             cwd=HERE, timeout=10)
        return out.stdout.strip() or "?"
    except (OSError, subprocess.SubprocessError):
        return "?"


def main(argv=None) -> int:
    args = parse_args(argv)
    status = fastrep.backends()["cupy"]
    if status != "available":
        print(f"gpu_check: the cupy backend is not available here ({status}); nothing written",
              file=sys.stderr)
        return 2
    import cupy as cp

    t_start = time.perf_counter()
    props = cp.cuda.runtime.getDeviceProperties(0)
    card = props["name"].decode() if isinstance(props["name"], bytes) else str(props["name"])
    header = [f"card: {card}; CuPy {cp.__version__}; CUDA runtime {cp.cuda.runtime.runtimeGetVersion()}, "
              f"driver {cp.cuda.runtime.driverGetVersion()}",
              f"fastrep {fastrep.__version__} at {_git_commit()}; "
              f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC; quick={args.quick}; "
              f"sections: {', '.join(args.sections)}",
              "command: python benchmarks/gpu_check.py " + " ".join(sys.argv[1:] if argv is None else argv),
              "verified without a GPU on every CI run: README, 'The GPU path without a GPU'"]
    print("# fastrep GPU check on " + card, flush=True)
    report = Report()
    run_sections([(name, SECTIONS[name]) for name in args.sections], args, report)
    total = time.perf_counter() - t_start
    budget = BUDGET[args.quick]
    report.record("total", "wall time, build included", f"{total:.0f} s", f"<= {budget:.0f} s",
                  "ok" if total <= budget else "SLOW")
    text = report_text(header, report)
    print("\n" + text)
    args.out.write_text(text)
    return 1 if report.failed() else 0


if __name__ == "__main__":
    sys.exit(main())
