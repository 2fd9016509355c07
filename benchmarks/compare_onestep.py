"""Canonical CPU fit of Algorithm 1 against its own dense-product floor, in one process.

Configuration (issue: Algorithm 1, "Performance"): target h_2, d = 200, n = 4e5, width 1000,
sigma^2 = 1, streamed in chunks, samples reused for both stages, 1e4 validation and 1e4 test
samples, the 100-point lambda grid, float32.

Prints: the median of 5 fits (and the per-stage split), the time of just the dense products the
algorithm needs on random data of the same shapes (X W^T, C^T X, Phi^T Phi as a SYRK), the
ratio, achieved GFLOP/s, and the peak memory of a whole fit in a fresh process at n = 4e5 and
n = 4e6 (VmHWM).

    python benchmarks/compare_onestep.py            # the canonical configuration
    python benchmarks/compare_onestep.py --quick    # n = 1e5, 3 fits

Run as shipped, it uses whatever OPENBLAS_CORETYPE the environment has; the header says which.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import scipy.linalg.blas as blas

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import blas_setting, machine, md_table, median_time  # noqa: E402

import fastrep  # noqa: E402
from fastrep.metrics import excess_error  # noqa: E402


def dense_floor(n, d, m, chunk, dtype=np.float32, repeat=3):
    """Seconds for the products of one fit, chunk by chunk, on random data (no generation).

    'paper' shapes: X W^T (m columns) twice, C^T X (m rows), Phi^T Phi (SYRK, m) — what a direct
    implementation needs. 'fastrep' shapes: the same with m/2 where the symmetric pairing lets one
    product of half the width serve both halves.
    """
    rng = np.random.default_rng(0)
    X = rng.standard_normal((chunk, d)).astype(dtype)
    W = rng.standard_normal((m, d)).astype(dtype)
    Phi = np.maximum(rng.standard_normal((chunk, m)).astype(dtype), 0)
    G = np.zeros((m, m), dtype=dtype, order="F")
    syrk = blas.ssyrk if dtype == np.float32 else blas.dsyrk
    chunks = n // chunk

    def run(width):
        Wk = W[:width]
        for _ in range(chunks):
            P = X @ Wk.T  # step 1
            _ = P.T @ X  # C^T X
            _ = X @ Wk.T  # step 2
            syrk(1.0, Phi.T, beta=1.0, c=G, trans=0, lower=0, overwrite_c=1)

    t_paper, _ = median_time(lambda: run(m), repeat=repeat)
    t_half, _ = median_time(lambda: run(m // 2), repeat=repeat)
    flops_paper = chunks * chunk * (3 * 2 * d * m + m * m)
    flops_half = chunks * chunk * (3 * 2 * d * (m // 2) + m * m)
    return {"paper": (t_paper, flops_paper), "fastrep": (t_half, flops_half)}


def one_fit(n, d, m, seed=0, chunk=None):
    target = fastrep.MultiIndexTarget.single_index(d, "he2", noise=1.0, seed=seed)
    stream = fastrep.GaussianStream(target, 100 + seed, dtype=np.float32)
    net = fastrep.OneStepNetwork(width=m, seed=seed, chunk_size=chunk)
    t0 = time.perf_counter()
    net.fit_stream(stream, n, n_val=10_000)
    total = time.perf_counter() - t0
    return net, target, total


def child_peak(n, d, m):
    """Run one fit in a fresh process and return (seconds, peak RSS in MB)."""
    code = (
        "import json, sys; sys.path.insert(0, %r); "
        "from compare_onestep import one_fit; from _common import peak_rss_mb; "
        "net, t, s = one_fit(%d, %d, %d); "
        "print(json.dumps({'s': s, 'mb': peak_rss_mb()}))"
    ) % (str(Path(__file__).resolve().parent), n, d, m)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    res = json.loads(out.stdout.strip().splitlines()[-1])
    return res["s"], res["mb"]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="n = 1e5 and 3 fits")
    ap.add_argument("--no-memory", action="store_true", help="skip the fresh-process peak-memory runs")
    args = ap.parse_args(argv)
    d, m = 200, 1000
    n = 100_000 if args.quick else 400_000
    reps = 3 if args.quick else 5
    print(f"# Algorithm 1, canonical CPU fit: d={d}, n={n}, width={m}, float32, h_2, sigma^2=1")
    print(f"machine: {machine()}\n{blas_setting()}\nbackends: {fastrep.backends()}\n")

    fits, stages = [], []
    for rep in range(reps + 1):  # the first fit warms up numba/BLAS and is not counted
        net, target, total = one_fit(n, d, m, seed=0)
        if rep:
            fits.append(total)
            stages.append(net.timings_)
    err = excess_error(net, target, 10_000, seed=0)
    chunk = net.chunk_size or fastrep.network._default_chunk(d, m, 4)
    med = float(np.median(fits))
    stage_med = {k: float(np.median([s[k] for s in stages])) for k in stages[0]}
    floor = dense_floor(n, d, m, chunk)

    rows = [["fastrep fit_stream (median of %d)" % reps, f"{med:.3f}", "", f"{med / floor['paper'][0]:.2f}"]]
    for k, v in stage_med.items():
        rows.append([f"  stage: {k}", f"{v:.3f}", "", ""])
    for name, (t, fl) in floor.items():
        rows.append([f"dense-product floor ({name} shapes)", f"{t:.3f}", f"{fl / t / 1e9:.0f}",
                     f"{t / floor['paper'][0]:.2f}"])
    rows.append(["fit at the paper-shape floor's FLOP count", "", f"{floor['paper'][1] / med / 1e9:.0f}", ""])
    print(md_table(["what", "seconds", "GFLOP/s", "ratio to paper-shape floor"], rows))
    print(f"\nexcess test error of the last fit: {err:.4f}; chunk = {chunk} rows; ridge = {net.ridge_:.3g}")
    print("fits (s):", ", ".join(f"{t:.3f}" for t in fits))

    if not args.no_memory:
        print("\npeak memory of one fit in a fresh process (VmHWM, MiB):")
        mem_rows = []
        for nn in ([n, 10 * n]):
            s, mb = child_peak(nn, d, m)
            mem_rows.append([f"{nn:.0e}".replace("+0", ""), f"{s:.2f}", f"{mb:.0f}"])
        print(md_table(["n", "fit seconds", "peak RSS (MiB)"], mem_rows))


if __name__ == "__main__":
    main()
