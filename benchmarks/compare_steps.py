"""MultiStepNetwork's costs against their floors, and online SGD with B = 1 against PyTorch.

    python benchmarks/compare_steps.py            # the issue's sizes
    python benchmarks/compare_steps.py --quick    # smaller, 1 round

Three measurements, in one process (medians over ``--repeats`` rounds after a warm-up):

1. **T steps vs T one-step stage-1 times + the head.** ``MultiStepNetwork(steps=T,
   protocol='reuse')`` on n in-memory samples (every step sees all n) against
   ``MultiStepNetwork(steps=1)`` with the same options: the goal is
   t(T steps) <= 1.1 (T t_steps(1 step) + t_head(1 step)), the head being the label statistics,
   the feature moments and the ridge path (``timings_``). Run with the Gaussian readout (every
   step is a full-width step) and with Algorithm 1's symmetric one (its first step computes
   half of the neurons, the later ones all: the ratio there is printed for information).
2. **Online SGD, B >= 256, vs its products alone.** The 'steps' stage of
   ``protocol='online'`` (trajectory recorded at 0 and T only) against the two dense products
   of each step timed alone at the same shapes, T times: relu(X_b W^T + b) (B, d, m) and
   (mask * r)^T X_b (m, B, d). Goal: <= 1.3x.
3. **B = 1, d = 256, width 64, 1e5 steps**: the compiled loop (``fastrep._kernels.sgd``, the
   'steps' stage of the fit) against a straightforward PyTorch loop of the same steps (float64,
   autograd, one sample per step; and the same loop with the gradient written by hand), with
   the largest difference of the final W. Goal: >= 10x.
4. **Memory** (not with ``--quick``): the peak RSS of one regenerating ``fit_stream`` in a fresh
   process at n and 4 n, fresh batches and online SGD: flat in n.

Prints the CPU, its ISA, the BLAS and its threads (threadpoolctl) and the load average.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import blas_setting, machine, md_table  # noqa: E402

import fastrep  # noqa: E402
from fastrep import MultiIndexTarget, MultiStepNetwork  # noqa: E402


def isa() -> str:
    try:
        flags = next(line for line in open("/proc/cpuinfo") if line.startswith("flags")).split()
    except (OSError, StopIteration):
        return "unknown ISA"
    have = [f for f in ("avx512f", "avx2", "fma") if f in flags]
    return "+".join(have) if have else "no AVX2"


def _median(xs):
    return float(np.median(xs))


def steps_vs_one_step(d, n, m, T, repeats):
    """Section 1: rows of (readout, t_T, T * t_step1 + t_head, ratio)."""
    target = MultiIndexTarget.single_index(d, "he2")
    X, y = target.sample(n, 0)
    rows = []
    for readout, lr in (("gaussian", 20.0), ("symmetric", 0.5)):
        kw = dict(width=m, protocol="reuse", lr=lr, weight_decay=0.0, readout=readout, ridge=1e-3,
                  record_every=T)
        one, multi = MultiStepNetwork(steps=1, **kw), MultiStepNetwork(steps=T, **kw)
        one.fit(X, y)
        multi.fit(X, y)  # warm-up: Numba, BLAS threads, the work-array pool
        t_one, t_multi, parts, mparts = [], [], [], []
        for _ in range(repeats):
            t0 = time.perf_counter()
            one.fit(X, y)
            t_one.append(time.perf_counter() - t0)
            tm = one.timings_
            parts.append((tm["steps"], tm["labels"] + tm["features"] + tm["ridge"]))
            t0 = time.perf_counter()
            multi.fit(X, y)
            t_multi.append(time.perf_counter() - t0)
            tm = multi.timings_
            mparts.append((tm["steps"], tm["labels"] + tm["features"] + tm["ridge"]))
        step1, head = _median([p[0] for p in parts]), _median([p[1] for p in parts])
        msteps, mhead = _median([p[0] for p in mparts]), _median([p[1] for p in mparts])
        floor = T * step1 + head
        # FLOPs: Algorithm 1's first step computes half of the neurons (f = 0 at the symmetric
        # initialisation: residual = labels, and the second half's gradient is the first's
        # negated), 2 products of (n, d, m/2); every later step all m neurons, 2 products of
        # (n, d, m): a later step is 2 first steps, so T steps are 1 + 2 (T - 1) first steps
        flop_steps = 1 + 2 * (T - 1) if readout == "symmetric" else T
        flop_floor = flop_steps * step1 + head
        rows.append((readout, f"{_median(t_one):.3f}", f"{step1:.3f}", f"{head:.3f}",
                     f"{_median(t_multi):.3f}", f"{msteps / T:.3f}", f"{mhead:.3f}", f"{floor:.3f}",
                     f"{_median(t_multi) / floor:.2f}", f"{flop_steps} x steps + head = {flop_floor:.3f}",
                     f"{_median(t_multi) / flop_floor:.2f}"))
    return rows


def online_vs_products(d, n, m, B, repeats):
    """Section 2: the 'steps' stage of online SGD with batch B against its products alone."""
    target = MultiIndexTarget.single_index(d, "he2")
    X, y = target.sample(n, 0)
    T = n // B
    # record_every=T: the trajectory only at 0 and T (a record's eigendecomposition is not a step)
    net = MultiStepNetwork(width=m, steps=T, protocol="online", batch_size=B, lr=5.0, weight_decay=0.0,
                           readout="gaussian", bias=False, ridge=1e-3, record_every=T)
    net.fit(X, y)
    rng = np.random.default_rng(1)
    Xb = rng.standard_normal((B, d)).astype(np.float32)
    W = (rng.standard_normal((m, d)) / np.sqrt(d)).astype(np.float32)
    r = rng.standard_normal(B).astype(np.float32)

    def products():
        for _ in range(T):
            P = Xb @ W.T
            P = (P > 0).astype(np.float32) * r[:, None]
            _ = P.T @ Xb

    products()
    t_steps, t_prod = [], []
    for _ in range(repeats):
        net.fit(X, y)
        t_steps.append(net.timings_["steps"])
        t0 = time.perf_counter()
        products()
        t_prod.append(time.perf_counter() - t0)
    a, b = _median(t_steps), _median(t_prod)
    flops = T * 2 * 2 * B * d * m
    return (B, T, f"{a:.3f}", f"{b:.3f}", f"{a / b:.2f}", f"{flops / b / 1e9:.0f}")


def sgd_b1(d, m, T, repeats, torch_steps):
    """Section 3: B = 1 in the compiled loop against PyTorch loops, float64."""
    import torch

    target = MultiIndexTarget.single_index(d, "he3")
    X, y = target.sample(T, 0, dtype=np.float64)
    eta, lam = 0.05, 1e-3
    kw = dict(width=m, steps=T, protocol="online", batch_size=1, lr=eta, weight_decay=lam, readout="gaussian",
              bias=False, center=False, ridge=1e-3, dtype=np.float64, record_every=T)
    net = MultiStepNetwork(**kw)
    net.fit(X, y)  # warm-up (Numba's cache)
    t_fast = []
    for _ in range(repeats):
        net.fit(X, y)
        t_fast.append(net.timings_["steps"])
    init = net.initialization(d)
    Xt, yt = torch.from_numpy(X[:torch_steps]), torch.from_numpy(y[:torch_steps])
    c = torch.from_numpy(init["a"])
    b = torch.from_numpy(init["b"])

    def autograd_loop():
        W = torch.from_numpy(init["W"].copy()).requires_grad_(True)
        for t in range(torch_steps):
            x = Xt[t:t + 1]
            f = torch.relu(x @ W.T + b) @ c
            loss = ((f - yt[t:t + 1]) ** 2).mean()
            loss.backward()
            with torch.no_grad():
                W -= eta * (W.grad + lam * W)
                W.grad.zero_()
        return W.detach().numpy()

    def manual_loop():
        W = torch.from_numpy(init["W"].copy())
        for t in range(torch_steps):
            x = Xt[t]
            pre = W @ x + b
            r = yt[t] - torch.relu(pre) @ c
            g = (-2.0 * r) * (c * (pre > 0)).unsqueeze(1) * x.unsqueeze(0)
            W -= eta * (g + lam * W)
        return W.numpy()

    t_auto, t_man = [], []
    for _ in range(max(1, repeats // 2)):
        t0 = time.perf_counter()
        W_auto = autograd_loop()
        t_auto.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        W_man = manual_loop()
        t_man.append(time.perf_counter() - t0)
    scale = T / torch_steps  # the PyTorch loops ran torch_steps of the T steps
    # the same T steps: compare W after torch_steps steps with a fastrep fit of that many
    short = MultiStepNetwork(**{**kw, "steps": torch_steps, "record_every": torch_steps}).fit(
        X[:torch_steps], y[:torch_steps])
    diff = max(float(np.max(np.abs(short.W_ - W_auto))), float(np.max(np.abs(short.W_ - W_man))))
    fast = _median(t_fast)
    rows = [("fastrep compiled loop (steps stage)", f"{fast:.3f}", "1.0"),
            (f"PyTorch {torch.__version__}, autograd", f"{_median(t_auto) * scale:.3f}",
             f"{_median(t_auto) * scale / fast:.1f}"),
            ("PyTorch, gradient by hand", f"{_median(t_man) * scale:.3f}",
             f"{_median(t_man) * scale / fast:.1f}")]
    return rows, diff, torch.get_num_threads()


def child_peak(n, d, m, protocol, batch_size=None, steps=4):
    """(seconds, peak RSS MiB) of one regenerating fit_stream in a fresh process (VmHWM)."""
    code = (
        "import json, sys, time; sys.path.insert(0, %r); import fastrep; "
        "t = fastrep.MultiIndexTarget.single_index(%d, 'he2'); "
        "net = fastrep.MultiStepNetwork(width=%d, steps=%d, protocol=%r, batch_size=%r, lr=5.0, "
        "weight_decay=0.0, "
        "readout='gaussian', ridge=1e-3, record_every=%d); t0 = time.perf_counter(); "
        "net.fit_stream(fastrep.GaussianStream(t, 1), %d, cache='regenerate'); s = time.perf_counter() - t0; "
        "mb = [int(l.split()[1]) / 1024 for l in open('/proc/self/status') if l.startswith('VmHWM')][0]; "
        "print(json.dumps({'s': s, 'mb': mb}))"
    ) % (str(Path(__file__).resolve().parents[1]), d, m, steps, protocol, batch_size, steps, n)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    res = json.loads(out.stdout.strip().splitlines()[-1])
    return res["s"], res["mb"]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="small sizes, 1 round")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--sections", default="1234", help="which sections to run, e.g. 13")
    args = ap.parse_args(argv)
    q = args.quick
    repeats = 1 if q else args.repeats
    print(f"# MultiStepNetwork: steps, online SGD and B = 1 against PyTorch{' (--quick)' if q else ''}")
    print(f"machine: {machine()}; ISA {isa()}\n{blas_setting()}")
    print(f"load average: {' '.join(f'{v:.2f}' for v in os.getloadavg())}; fastrep {fastrep.__version__}\n")

    d, n, m, T = (64, 8192, 128, 3) if q else (256, 131072, 512, 4)
    if "1" in args.sections:
        section1(d, n, m, T, repeats)
    if "2" in args.sections:
        section2(q, repeats)
    if "3" in args.sections:
        section3(q, repeats)
    if "4" in args.sections and not q:
        section4()


def section1(d, n, m, T, repeats):
    print(f"## 1. T = {T} steps on one reused batch vs T x one step's stage 1 + its head "
          f"(d = {d}, n = {n}, width {m}, float32)\n")
    print(md_table(["readout", "1-step fit (s)", "its steps stage", "its head", f"{T}-step fit (s)",
                    "its steps stage / T", "its head", f"{T} x steps + head (1-step fit)",
                    "ratio (goal <= 1.1)", "FLOP-scaled floor (s)", "ratio to it"],
                   steps_vs_one_step(d, n, m, T, repeats)))


def section2(q, repeats):
    d, n, m = (64, 8192, 128) if q else (512, 65536, 1024)
    rows = [online_vs_products(d, n, m, B, repeats) for B in ((256,) if q else (256, 1024))]
    print(f"\n## 2. Online SGD, batch B, vs its products alone (d = {d}, n = {n}, width {m}, float32)\n")
    print(md_table(["B", "steps", "steps stage (s)", "products alone (s)", "ratio (goal <= 1.3)",
                    "products GFLOP/s"], rows))


def section3(q, repeats):
    d, m, T = (256, 64, 10_000) if q else (256, 64, 100_000)
    torch_steps = min(T, 2_000 if q else 20_000)
    rows, diff, threads = sgd_b1(d, m, T, repeats, torch_steps)
    print(f"\n## 3. Online SGD, B = 1, d = {d}, width {m}, {T} steps, float64 "
          f"(PyTorch: {torch_steps} steps timed, scaled to {T}; {threads} threads)\n")
    print(md_table(["what", f"seconds for {T} steps", "x fastrep"], rows))
    print(f"\nmax |W_fastrep - W_torch| after {torch_steps} steps: {diff:.2e}")


def section4():
    d, m = 256, 512
    print(f"\n## 4. Peak memory of a regenerating fit_stream in a fresh process (d = {d}, width {m}, "
          "float32; VmHWM, MiB)\n")
    rows = []
    for protocol, B in (("fresh", None), ("online", 1024)):
        for n in (131_072, 524_288):
            steps = 4 if protocol == "fresh" else n // B
            sec, mb = child_peak(n, d, m, protocol, B, steps)
            rows.append((protocol, B or "-", steps, f"{n:,}", f"{sec:.1f}", f"{mb:.0f}"))
    print(md_table(["protocol", "B", "steps", "n", "fit seconds", "peak RSS (MiB)"], rows))


if __name__ == "__main__":
    main()
