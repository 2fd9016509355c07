"""Canonical CPU fit of Algorithm 1 against JAX and PyTorch peers and its two floors, in one process.

Configuration: target h_2, d = 200, n = 4e5, width 1000, sigma^2 = 1, streamed in 16384-row
chunks (fastrep) or ghost batches of 20000 (the peers), samples reused for both stages, 1e4
validation samples, the 100-point lambda grid in [1e-10, 1e15], float32.

    python benchmarks/compare_onestep.py                 # the canonical configuration
    python benchmarks/compare_onestep.py --quick         # n = 1e5, 2 rounds, no memory runs
    python benchmarks/compare_onestep.py --repeats 7 --no-memory

What runs, alternately (fastrep, JAX, PyTorch, fastrep, ...; medians over ``--repeats`` rounds
after one warm-up round, so load from elsewhere slows every contender alike):

- **fastrep**: ``OneStepNetwork(width=1000).fit_stream(stream, n, n_val=10_000)`` (default
  ``cache='auto'``; the table says which cache mode ran);
- **JAX** (when ``jax`` is installed, ``pip install fastrep[bench]``): the first author's demo
  step by step, written here and jitted as one function: ghost batches regenerated from a
  PRNG key by ``lax.scan`` on every pass (label moments; ``jax.grad`` of the loss at the
  symmetric initialization; Phi^T Phi and Phi^T y_hat), the step normalized to mean squared
  row norm 1, *one* SVD of Phi^T Phi / n for the whole lambda path, lambda chosen on 1e4
  validation samples. Compile time (``jit(...).lower(...).compile()``) is reported apart;
- **PyTorch** (when ``torch`` is installed): the same algorithm written plainly (a Python loop
  over ghost batches regenerated from a seeded ``torch.Generator``, autograd for the step,
  ``torch.linalg.eigh`` for the lambda path).

and the two floors, measured in every round right after the contenders:

- **products alone**: the dense products fastrep's fit performs, at the fit's own shapes, on
  random data (per chunk: X W_h^T and P^T X for the step, X W_h^T for the features, with W_h
  the m/2 independent neurons, and Phi^T Phi (m = 1000) by the same route as the fit);
- **same FLOPs at the SGEMM rate**: those FLOPs divided by the rate of a 4096^3 SGEMM.

It prints the machine's ISA, the BLAS and its kernel (threadpoolctl), the load average, the
medians, the ratios and the excess test error of every contender (so the times are of right
answers), then (unless ``--no-memory``) the peak memory of one regenerating fit in a fresh
process at n and 10 n, and the first fit of a fresh process (whose work-array pool,
``fastrep.release_memory``, is still empty) beside the rate at which fresh memory fills there.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import blas_setting, machine, md_table  # noqa: E402

import fastrep  # noqa: E402
from fastrep.metrics import excess_error  # noqa: E402
from fastrep.ridge import lambda_grid  # noqa: E402

D, M, NOISE, N_VAL, PEER_BATCH = 200, 1000, 1.0, 10_000, 20_000


def isa() -> str:
    try:
        flags = next(line for line in open("/proc/cpuinfo") if line.startswith("flags")).split()
    except (OSError, StopIteration):
        return "unknown ISA"
    have = [f for f in ("avx512f", "avx2", "fma") if f in flags]
    return "+".join(have) if have else "no AVX2"


# --- fastrep ---------------------------------------------------------------------------------------

def target_for(d, seed=0):
    return fastrep.MultiIndexTarget.single_index(d, "he2", noise=NOISE, seed=seed)


def one_fit(n, d, m, seed=0, chunk=None, cache="auto"):
    target = target_for(d, seed)
    stream = fastrep.GaussianStream(target, 100 + seed, dtype=np.float32)
    net = fastrep.OneStepNetwork(width=m, seed=seed, chunk_size=chunk)
    t0 = time.perf_counter()
    net.fit_stream(stream, n, n_val=N_VAL, cache=cache)
    return net, target, time.perf_counter() - t0


class _Peer:
    """predict() of a peer's fitted network, for fastrep.metrics.excess_error."""

    dtype = np.float32

    def __init__(self, W, b, a, alpha, beta):
        self.W, self.b, self.a = (np.asarray(v, dtype=np.float32) for v in (W, b, a))
        self.alpha, self.beta = float(alpha), np.asarray(beta, dtype=np.float32)

    def predict(self, X):
        return np.maximum(X @ self.W.T + self.b, 0) @ self.a + X @ self.beta + np.float32(self.alpha)


# --- JAX: the first author's demo, step by step ---------------------------------------------------

def make_jax(n, d, m, batch, n_val):
    """(compile seconds, run(seed) -> (_Peer, seconds)) or None when JAX is missing."""
    try:
        import jax
        import jax.numpy as jnp
    except ImportError:
        return None
    if n % batch:
        raise ValueError(f"n = {n} must be a multiple of the ghost batch {batch}")
    nb = n // batch
    f32 = jnp.float32
    lams = jnp.asarray(lambda_grid(), dtype=f32)

    def h2(z):
        return (z * z - 1) / jnp.sqrt(f32(2))

    def ghost(key, u, k, rows):
        kx, ke = jax.random.split(jax.random.fold_in(key, k))
        X = jax.random.normal(kx, (rows, d), f32)
        y = h2(X @ u) + jnp.sqrt(f32(NOISE)) * jax.random.normal(ke, (rows,), f32)
        return X, y

    def init(key):
        kw, kb, ka = jax.random.split(key, 3)
        h = m // 2
        W = jax.random.normal(kw, (h, d), f32) / jnp.sqrt(f32(d))
        b = jax.random.normal(kb, (h,), f32)
        a = jnp.where(jax.random.bernoulli(ka, 0.5, (h,)), f32(1), f32(-1))
        return jnp.concatenate([W, W]), jnp.concatenate([b, b]), jnp.concatenate([a, -a])

    def net(W, b, a, X):
        return jax.nn.relu(X @ W.T + b) @ a

    def fit(key, u):
        kdata, kinit, kval = jax.random.split(key, 3)
        W0, b, a = init(kinit)

        def moments(carry, k):  # pass 1: alpha_hat = mean y, beta_hat = mean y x
            X, y = ghost(kdata, u, k, batch)
            return (carry[0] + y.sum(), carry[1] + y @ X), None

        (sy, syx), _ = jax.lax.scan(moments, (f32(0), jnp.zeros(d, f32)), jnp.arange(nb))
        alpha, beta = sy / n, syx / n

        def loss(W, X, yh):
            return jnp.sum((net(W, b, a, X) - yh) ** 2) / n

        def grad_pass(G, k):  # pass 2: the full-batch gradient at the initialization
            X, y = ghost(kdata, u, k, batch)
            return G + jax.grad(loss)(W0, X, y - alpha - X @ beta), None

        G, _ = jax.lax.scan(grad_pass, jnp.zeros_like(W0), jnp.arange(nb))
        # weight decay 1/eta cancels W0: W = -eta G, eta so that mean_j |w_j|^2 = 1
        W = -G / jnp.sqrt(jnp.mean(jnp.sum(G * G, axis=1)))

        def feat_pass(carry, k):  # pass 3: Phi^T Phi and Phi^T y_hat
            X, y = ghost(kdata, u, k, batch)
            Phi = jax.nn.relu(X @ W.T + b)
            return (carry[0] + Phi.T @ Phi, carry[1] + Phi.T @ (y - alpha - X @ beta)), None

        (A, r), _ = jax.lax.scan(feat_pass, (jnp.zeros((m, m), f32), jnp.zeros(m, f32)), jnp.arange(nb))
        U, s, _ = jnp.linalg.svd(A / n)  # one SVD serves the whole lambda path
        Ur = U.T @ (r / n)
        Xv, yv = ghost(kval, u, 0, n_val)
        Phi_v = jax.nn.relu(Xv @ W.T + b)
        yv_hat = yv - alpha - Xv @ beta
        PU = Phi_v @ U

        def val_loss(lam):
            return jnp.mean((PU @ (Ur / (s + lam)) - yv_hat) ** 2)

        scores = jax.lax.map(val_loss, lams)
        lam = lams[jnp.argmin(scores)]
        return W, b, U @ (Ur / (s + lam)), alpha, beta

    u0 = jnp.zeros(d, f32)
    t0 = time.perf_counter()
    compiled = jax.jit(fit).lower(jax.random.PRNGKey(0), u0).compile()
    t_compile = time.perf_counter() - t0

    def run(seed, u):
        t0 = time.perf_counter()
        out = jax.block_until_ready(compiled(jax.random.PRNGKey(seed), jnp.asarray(u, f32)))
        return _Peer(*(np.asarray(v) for v in out)), time.perf_counter() - t0

    return t_compile, run


# --- PyTorch: the same algorithm, written plainly -------------------------------------------------

def make_torch(n, d, m, batch, n_val):
    """run(seed, u) -> (_Peer, seconds), or None when PyTorch is missing."""
    try:
        import torch
    except ImportError:
        return None
    if n % batch:
        raise ValueError(f"n = {n} must be a multiple of the ghost batch {batch}")
    lams = torch.tensor(lambda_grid(), dtype=torch.float32)

    def ghost(seed, k, rows, u):
        g = torch.Generator().manual_seed(seed * 1_000_003 + k)
        X = torch.randn(rows, d, generator=g)
        y = ((X @ u) ** 2 - 1) / math.sqrt(2) + math.sqrt(NOISE) * torch.randn(rows, generator=g)
        return X, y

    @torch.no_grad()
    def run(seed, u):
        t0 = time.perf_counter()
        u = torch.as_tensor(np.asarray(u, dtype=np.float32))
        g = torch.Generator().manual_seed(seed)
        h = m // 2
        Wh = torch.randn(h, d, generator=g) / math.sqrt(d)
        bh = torch.randn(h, generator=g)
        ah = torch.where(torch.rand(h, generator=g) < 0.5, 1.0, -1.0)
        W0, b, a = torch.cat([Wh, Wh]), torch.cat([bh, bh]), torch.cat([ah, -ah])
        nb = n // batch
        sy, syx = torch.zeros(()), torch.zeros(d)
        for k in range(nb):
            X, y = ghost(seed, k, batch, u)
            sy += y.sum()
            syx += y @ X
        alpha, beta = sy / n, syx / n
        G = torch.zeros_like(W0)
        for k in range(nb):
            X, y = ghost(seed, k, batch, u)
            with torch.enable_grad():
                W = W0.clone().requires_grad_(True)
                loss = ((torch.relu(X @ W.T + b) @ a - (y - alpha - X @ beta)) ** 2).sum() / n
                (gk,) = torch.autograd.grad(loss, W)
            G += gk
        W = -G / torch.sqrt(torch.mean(torch.sum(G * G, dim=1)))
        A, r = torch.zeros(m, m), torch.zeros(m)
        for k in range(nb):
            X, y = ghost(seed, k, batch, u)
            Phi = torch.relu(X @ W.T + b)
            A += Phi.T @ Phi
            r += Phi.T @ (y - alpha - X @ beta)
        s, V = torch.linalg.eigh(A / n)
        Vr = V.T @ (r / n)
        Xv, yv = ghost(seed + 1, 0, n_val, u)
        PV = torch.relu(Xv @ W.T + b) @ V
        yv_hat = yv - alpha - Xv @ beta
        scores = torch.stack([torch.mean((PV @ (Vr / (s + lam)) - yv_hat) ** 2) for lam in lams])
        lam = lams[torch.argmin(scores)]
        coef = V @ (Vr / (s + lam))
        peer = _Peer(W.numpy(), b.numpy(), coef.numpy(), float(alpha), beta.numpy())
        return peer, time.perf_counter() - t0

    return run


# --- the two floors --------------------------------------------------------------------------------

def products_floor(n, d, m, chunk, repeat):
    """(seconds, FLOPs) of fastrep's fit's dense products alone, at its shapes, on random data."""
    from fastrep._kernels import _dense

    rng = np.random.default_rng(0)
    X = rng.standard_normal((chunk, d), dtype=np.float32)
    Wh = rng.standard_normal((m // 2, d), dtype=np.float32)
    Phi = np.maximum(rng.standard_normal((chunk, m), dtype=np.float32), 0)
    G = np.zeros((m, m), np.float32)
    sizes = [min(chunk, n - lo) for lo in range(0, n, chunk)]

    def run():
        for rows in sizes:
            Xc = X[:rows]
            P = Xc @ Wh.T  # step 1 (half the neurons: the other half is their negation)
            _ = P.T @ Xc
            _ = Xc @ Wh.T  # step 2 features (paired)
            _dense.accumulate_gram(Phi[:rows], G)

    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        run()
        times.append(time.perf_counter() - t0)
    flops = n * (3 * 2 * d * (m // 2) + m * (m + 1))
    return float(np.median(times)), flops


def sgemm_rate(repeat, size=4096):
    rng = np.random.default_rng(1)
    A = rng.standard_normal((size, size), dtype=np.float32)
    B = rng.standard_normal((size, size), dtype=np.float32)
    C = np.empty_like(A)
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        np.matmul(A, B, out=C)
        times.append(time.perf_counter() - t0)
    return 2 * size**3 / float(np.median(times))


# --- peak memory -----------------------------------------------------------------------------------

def child_peak(n, d, m, cache="regenerate"):
    """Run one fit in a fresh process and return (seconds, peak RSS in MiB)."""
    code = (
        "import json, sys; sys.path.insert(0, %r); "
        "from compare_onestep import one_fit; from _common import peak_rss_mb; "
        "net, t, s = one_fit(%d, %d, %d, cache=%r); "
        "print(json.dumps({'s': s, 'mb': peak_rss_mb(), 'mode': net.stream_cache_}))"
    ) % (str(Path(__file__).resolve().parent), n, d, m, cache)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    res = json.loads(out.stdout.strip().splitlines()[-1])
    return res["s"], res["mb"], res["mode"]


def child_first_touch(mib=256):
    """(first, second) fill rate in MB/s of a fresh ``mib`` MiB array in a fresh process: what a
    fit pays for memory it has not touched before (its pool is empty in a new process)."""
    code = (
        "import json, time, numpy as np; a = np.empty(%d << 18, np.float32); "
        "t0 = time.perf_counter(); a.fill(1); t1 = time.perf_counter(); a.fill(2); "
        "t2 = time.perf_counter(); print(json.dumps([a.nbytes / (t1 - t0) / 1e6, a.nbytes / (t2 - t1) / 1e6]))"
    ) % mib
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="n = 1e5, 2 rounds, no memory runs")
    ap.add_argument("--n", type=int, default=None, help="training samples (default 4e5; 1e5 with --quick)")
    ap.add_argument("--repeats", type=int, default=None, help="timed rounds (default 5; 2 with --quick)")
    ap.add_argument("--no-memory", action="store_true", help="skip the fresh-process peak-memory runs")
    ap.add_argument("--no-peers", action="store_true", help="time fastrep and the floors only")
    args = ap.parse_args(argv)
    d, m = D, M
    n = args.n or (100_000 if args.quick else 400_000)
    reps = args.repeats or (2 if args.quick else 5)
    batch = PEER_BATCH if n % PEER_BATCH == 0 else math.gcd(n, PEER_BATCH)
    from fastrep.network import _default_chunk

    chunk = _default_chunk(d, m, 4)
    print(f"# Algorithm 1, canonical CPU fit: d={d}, n={n:,}, width={m}, float32, h_2, sigma^2={NOISE}, "
          f"{N_VAL} validation samples, 100 lambdas; fastrep chunk {chunk} rows, peer ghost batch {batch}")
    print(f"machine: {machine()}; ISA {isa()}\n{blas_setting()}\nbackends: {fastrep.backends()}")
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}\n")

    target = target_for(d)
    u = np.asarray(target.U[0], dtype=np.float32)
    contenders = {"fastrep": None}
    notes = []
    if not args.no_peers:
        jx = make_jax(n, d, m, batch, N_VAL)
        if jx is None:
            notes.append("JAX: not installed (pip install 'fastrep[bench]')")
        else:
            t_compile, contenders["JAX (jit, author's demo)"] = jx
            import jax

            notes.append(f"JAX {jax.__version__}: compile {t_compile:.2f} s (not in the times below)")
        tr = make_torch(n, d, m, batch, N_VAL)
        if tr is None:
            notes.append("PyTorch: not installed (pip install 'fastrep[bench]')")
        else:
            import torch

            contenders["PyTorch (plain)"] = tr
            notes.append(f"PyTorch {torch.__version__}: {torch.get_num_threads()} threads")

    times = {k: [] for k in contenders}
    floor_ts, rates = [], []
    last, modes = {}, set()
    for rnd in range(reps + 1):  # round 0 warms up (numba, BLAS threads, JAX's first dispatch)
        for name, run in contenders.items():
            if run is None:
                net, _, t = one_fit(n, d, m)
                modes.add(net.stream_cache_)
                last[name] = net
            else:
                last[name], t = run(rnd, u)
            if rnd:
                times[name].append(t)
        # the floors in the same rounds, so they see the same load as the fits
        t, floor_flops = products_floor(n, d, m, chunk, 1)
        rate = sgemm_rate(1)
        if rnd:
            floor_ts.append(t)
            rates.append(rate)
    floor_t, rate = float(np.median(floor_ts)), float(np.median(rates))
    floor_sgemm = floor_flops / rate

    med = {k: float(np.median(v)) for k, v in times.items()}
    t_fr = med["fastrep"]
    rows = []
    for name, t in med.items():
        err = excess_error(last[name], target, 10_000, seed=0)
        rounds = ", ".join(f"{x:.2f}" for x in times[name])
        rows.append([name, f"{t:.2f}", f"{t / t_fr:.2f}", f"{err:.4f}", rounds])
    rows.append(["floor: fastrep's products alone (its shapes)", f"{floor_t:.2f}", f"{floor_t / t_fr:.2f}",
                 "", f"{floor_flops / floor_t / 1e9:.0f} GFLOP/s"])
    rows.append(["floor: same FLOPs at the 4096^3 SGEMM rate", f"{floor_sgemm:.2f}",
                 f"{floor_sgemm / t_fr:.2f}", "", f"{rate / 1e9:.0f} GFLOP/s"])
    print(md_table(["contender", "median s", "x fastrep", "excess test error", "rounds (s) / rate"], rows))
    print()
    for note in notes:
        print(note)
    print(f"fastrep stream cache: {', '.join(sorted(modes))}; fastrep stages (last fit): "
          + ", ".join(f"{k} {v:.2f} s" for k, v in last["fastrep"].timings_.items()))
    for name in med:
        if name != "fastrep":
            print(f"fastrep vs {name}: {med[name] / t_fr:.2f}x faster (goal >= 3x for JAX)")
    print(f"fastrep / products alone: {t_fr / floor_t:.2f} (goal <= 1.2); "
          f"fastrep / SGEMM-rate floor: {t_fr / floor_sgemm:.2f}")
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")

    if not args.no_memory and not args.quick:
        print("\npeak memory of one regenerating fit (cache='regenerate') in a fresh process (VmHWM, MiB):")
        mem_rows = []
        for nn in (n, 10 * n):
            s, mb, mode = child_peak(nn, d, m)
            mem_rows.append([f"{nn:,}", mode, f"{s:.2f}", f"{mb:.0f}"])
        print(md_table(["n", "cache", "fit seconds", "peak RSS (MiB)"], mem_rows))
        # the first fit of a process: its work-array pool is empty, so every array is fresh pages
        s, mb, mode = child_peak(n, d, m, cache="auto")
        first, again = child_first_touch()
        print(f"\nfirst fit of a fresh process (cache='auto' -> {mode}): {s:.2f} s, peak {mb:.0f} MiB "
              f"(the timed rounds above reuse the pool: {t_fr:.2f} s); fresh memory here fills at "
              f"{first:,.0f} MB/s the first time, {again:,.0f} MB/s the second")


if __name__ == "__main__":
    main()
