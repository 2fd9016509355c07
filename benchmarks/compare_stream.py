"""Gaussian stream throughput: fastrep's Philox4x32-10 + Box-Muller against NumPy's ziggurat.

    python benchmarks/compare_stream.py            # blocks of 8192 x 1000, stream of 2e5 rows at d = 1000
    python benchmarks/compare_stream.py --quick    # blocks of 1024 x 1000, stream of 2e4 rows

Part 1, normals per second. For each dtype, one (n, d) block of standard normals per call,
a fresh array each time (as the stream allocates its chunks), median of ``--repeats`` (>= 5)
runs after a warm-up (compilation, first page faults):

``numpy``
    ``numpy.random.default_rng(0).standard_normal((n, d), dtype)``: NumPy's ziggurat,
    single-threaded, not reproducible on a GPU; ``numpy out=`` writes into a preallocated,
    touched array instead.
``cpp`` / ``numba`` / ``reference`` / ``cupy``
    the backend module's ``gaussian_block(seed, stream, start, n, d, dtype)``; ``1 thread``
    rows limit OpenMP (threadpoolctl) or Numba to one thread, for a per-core comparison
    with NumPy. The reference runs on a block 8x smaller (it is the specification).
``x numpy``
    NumPy's time divided by the row's time, per normal.
``max err``
    largest |backend - reference| over the block, float64 (timings are of right answers).

Part 2, the whole stream: ``GaussianStream(MultiIndexTarget.separation(d, noise=0.5), seed)``
streamed with ``.chunks(0, N, chunk)``: inputs, labels f*(X) and label noise. Reported in
rows/s and normals/s, with the peak memory traced by tracemalloc (set by the chunk size).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import tracemalloc

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import machine_lines  # noqa: E402
from _common import median_time as _common_median_time  # noqa: E402

import fastrep  # noqa: E402
from fastrep.backend import BackendUnavailableError, get_backend


def median_time(fn, repeats: int, sync=lambda: None) -> float:
    """Median wall time of ``repeats`` calls of ``fn`` (then ``sync``) after one warm-up call."""
    return _common_median_time(lambda: (fn(), sync()), repeat=repeats, warmup=1)[0]

def available() -> dict[str, object]:
    mods = {}
    for name in ("cpp", "numba", "reference", "cupy"):
        try:
            mods[name] = get_backend(name)
        except BackendUnavailableError as exc:
            print(f"skipping {name}: {exc}")
    return mods


class one_thread:
    """Limit the backend to one thread inside the block (OpenMP for cpp, Numba's pool for numba)."""

    def __init__(self, backend):
        self.backend = backend

    def __enter__(self):
        if self.backend == "cpp":
            from threadpoolctl import threadpool_limits

            self._ctx = threadpool_limits(limits=1, user_api="openmp")
            self._ctx.__enter__()
        elif self.backend == "numba":
            import numba

            self._old = numba.get_num_threads()
            numba.set_num_threads(1)
        return self

    def __exit__(self, *exc):
        if self.backend == "cpp":
            self._ctx.__exit__(*exc)
        elif self.backend == "numba":
            import numba

            numba.set_num_threads(self._old)


def forced_path_rows(mod, n: int, d: int, dtype, repeats: int, err: float) -> list[dict]:
    """One thread, each generator path this CPU has forced in turn (the portable one, which GCC
    clones per instruction set, AVX2, AVX-512): which path the dispatcher should choose here."""
    from fastrep import _ext

    rows = []
    try:
        for path in (0, 1, 2):
            try:
                label = _ext._set_gaussian_block_path(path)
            except ValueError:
                continue
            with one_thread("cpp"):
                t = median_time(lambda: mod.gaussian_block(7, 0, 0, n, d, dtype), repeats)
            rows.append({"name": f"cpp, 1 thread, {label} path forced", "t": t, "count": n * d, "err": err})
    finally:
        _ext._set_gaussian_block_path(-1)
    return rows


def normals_table(n: int, d: int, dtype, repeats: int, mods: dict) -> list[dict]:
    dtype = np.dtype(dtype)
    rng = np.random.default_rng(0)
    out = np.empty((n, d), dtype=dtype)
    out.fill(0)
    rows = []
    t_np = median_time(lambda: rng.standard_normal((n, d), dtype=dtype), repeats)
    rows.append({"name": "numpy default_rng().standard_normal", "t": t_np, "count": n * d, "err": None})
    t = median_time(lambda: rng.standard_normal((n, d), dtype=dtype, out=out), repeats)
    rows.append({"name": "numpy, out= (preallocated)", "t": t, "count": n * d, "err": None})
    ref = mods["reference"]
    n_ref = max(1, n // 8)
    want = ref.gaussian_block(7, 0, 0, n, d, np.float64)
    for name, mod in mods.items():
        if name == "reference":
            t = median_time(lambda: ref.gaussian_block(7, 0, 0, n_ref, d, dtype), repeats)
            rows.append({"name": "reference (NumPy uint64)", "t": t, "count": n_ref * d, "err": 0.0})
            continue
        sync = lambda: None  # noqa: E731
        if name == "cupy":
            import cupy

            sync = cupy.cuda.Device().synchronize
        got = mod.gaussian_block(7, 0, 0, n, d, np.float64)
        err = float(np.max(np.abs((got.get() if hasattr(got, "get") else got) - want)))
        t = median_time(lambda mod=mod: mod.gaussian_block(7, 0, 0, n, d, dtype), repeats, sync)
        threads = ""
        if name == "cpp":
            from fastrep import _ext

            threads = f" ({_ext.gaussian_block_path()} path), {_ext.num_threads()} threads"
        elif name == "numba":
            import numba

            threads = f", {numba.get_num_threads()} threads"
        rows.append({"name": f"{name}{threads}", "t": t, "count": n * d, "err": err})
        if name in ("cpp", "numba"):
            with one_thread(name):
                t1 = median_time(lambda mod=mod: mod.gaussian_block(7, 0, 0, n, d, dtype), repeats)
            rows.append({"name": f"{name}, 1 thread", "t": t1, "count": n * d, "err": err})
        if name == "cpp":
            rows += forced_path_rows(mod, n, d, dtype, repeats, err)
    per_np = t_np / (n * d)
    for row in rows:
        row["rate"] = row["count"] / row["t"]
        row["x_numpy"] = per_np / (row["t"] / row["count"])
    return rows


def print_normals(rows, n, d, dtype):
    print(f"\n### normals, {np.dtype(dtype).name}, blocks of {n:,} x {d:,}\n")
    print("| generator | ms per block | M normals/s | x numpy | max err vs reference |")
    print("|---|---:|---:|---:|---:|")
    for row in rows:
        err = "—" if row["err"] is None else f"{row['err']:.1e}"
        ms = row["t"] * 1e3 * (n * d / row["count"])  # per full block, also for the smaller reference
        print(f"| {row['name']} | {ms:.1f} | {row['rate'] / 1e6:.0f} | {row['x_numpy']:.2f} | {err} |")


def stream_table(N: int, d: int, chunk: int, dtype, repeats: int, backend: str) -> dict:
    t = fastrep.MultiIndexTarget.separation(d, seed=0, noise=0.5)
    s = fastrep.GaussianStream(t, 1, dtype=dtype, backend=backend)

    def run():
        rows = 0
        for _, y in s.chunks(0, N, chunk):
            rows += len(y)
        assert rows == N

    secs = median_time(run, max(1, repeats // 2))
    tracemalloc.start()
    run()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    # NumPy's way, for scale: ziggurat X, the same labels
    rng = np.random.default_rng(1)

    def run_numpy():
        for a in range(0, N, chunk):
            m = min(chunk, N - a)
            X = rng.standard_normal((m, d), dtype=dtype)
            y = t.f(X) + np.sqrt(0.5) * rng.standard_normal(m, dtype=dtype)
            assert y.shape == (m,)

    secs_np = median_time(run_numpy, max(1, repeats // 2))
    return {"N": N, "d": d, "chunk": chunk, "dtype": np.dtype(dtype).name, "backend": backend, "secs": secs,
            "secs_np": secs_np, "peak": peak, "chunk_mb": chunk * d * np.dtype(dtype).itemsize / 2**20}


def print_stream(res):
    print(f"\n### GaussianStream, separation target, d = {res['d']:,}, {res['N']:,} rows in chunks of "
          f"{res['chunk']:,} ({res['dtype']}, backend={res['backend']!r})\n")
    print("| generator | seconds | k rows/s | M normals/s | peak traced MiB (one X chunk: "
          f"{res['chunk_mb']:.0f} MiB) |")
    print("|---|---:|---:|---:|---:|")
    N, d = res["N"], res["d"]
    print(f"| GaussianStream.chunks (X, f*(X), noise) | {res['secs']:.2f} | {N / res['secs'] / 1e3:.0f} | "
          f"{N * d / res['secs'] / 1e6:.0f} | {res['peak'] / 2**20:.0f} |")
    print(f"| NumPy ziggurat X + the same f*(X) | {res['secs_np']:.2f} | {N / res['secs_np'] / 1e3:.0f} | "
          f"{N * d / res['secs_np'] / 1e6:.0f} | — |")


def alternated_ratio(n: int, d: int, rounds: int) -> str:
    """fastrep's cpp generator on one thread against NumPy's float32 ziggurat, alternated.

    Both write into a preallocated array; the ratio is of medians over ``rounds`` alternations
    (cpp, numpy, cpp, ...), so load from elsewhere slows both alike.
    """
    from threadpoolctl import threadpool_limits

    from fastrep import _ext

    out = np.empty((n, d), np.float32)
    rng = np.random.default_rng(0)
    tc, tn = [], []
    with threadpool_limits(limits=1, user_api="openmp"):
        _ext.gaussian_block(1, 0, 0, out)
        for r in range(rounds):
            t0 = time.perf_counter()
            _ext.gaussian_block(1, 0, r * n, out)
            tc.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            rng.standard_normal((n, d), dtype=np.float32, out=out)
            tn.append(time.perf_counter() - t0)
    c, m = float(np.median(tc)), float(np.median(tn))
    return (f"per core, float32, ({n}, {d}) into a preallocated array, {rounds} alternations: cpp "
            f"{n * d / c / 1e6:.0f} M normals/s, numpy {n * d / m / 1e6:.0f} M/s: cpp = {m / c:.2f}x numpy "
            f"(goal >= 2x on AVX2, >= 3x on AVX-512); load average {os.getloadavg()[0]:.2f}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="smaller blocks and stream")
    ap.add_argument("--n", type=int, help="rows per block (default 8192; 1024 with --quick)")
    ap.add_argument("--d", type=int, default=1000)
    ap.add_argument("--rows", type=int, help="rows streamed in part 2 (default 2e5; 2e4 with --quick)")
    ap.add_argument("--chunk", type=int, default=8192, help="chunk size of part 2")
    ap.add_argument("--dtype", nargs="+", default=["float32", "float64"], choices=["float32", "float64"])
    ap.add_argument("--backend", default="auto", help="backend of part 2")
    ap.add_argument("--repeats", type=int, default=5, help="timed runs per measurement (>= 5)")
    args = ap.parse_args(argv)
    if args.repeats < 5:
        ap.error("--repeats must be at least 5")
    n = args.n or (1024 if args.quick else 8192)
    N = args.rows or (20_000 if args.quick else 200_000)

    print("# Gaussian stream: Philox4x32-10 + Box-Muller against "
          "numpy.random.default_rng().standard_normal\n")
    shown = argv if argv is not None else sys.argv[1:]
    print("command: python " + " ".join([os.path.relpath(sys.argv[0]), *shown]))
    for line in machine_lines():
        print(line)
    print(f"median of {args.repeats} runs after a warm-up; every call allocates its output")
    mods = available()
    if "cpp" in mods:
        print(alternated_ratio(n, args.d, 5 * args.repeats))
    for dt in args.dtype:
        print_normals(normals_table(n, args.d, dt, args.repeats, mods), n, args.d, dt)
    print_stream(stream_table(N, args.d, args.chunk, np.float32, args.repeats, args.backend))
    return 0


if __name__ == "__main__":
    sys.exit(main())
