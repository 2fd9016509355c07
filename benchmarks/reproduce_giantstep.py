"""GiantStep's ``single_step.ipynb`` (Dandi, Krzakala, Loureiro, Pesce, Stephan 2023) with fastrep.

    python benchmarks/reproduce_giantstep.py              # the notebook's size: d = 512, n = d^2
    python benchmarks/reproduce_giantstep.py --quick      # d = 128, 3 draws (a smoke run)

The notebook's protocol at its largest n, written in fastrep's terms (public repository
lucpoisson/GiantStep; nothing of its code is copied here):

- teacher (f(theta_1 . x) + f(theta_2 . x)) / 2 with f = He_1 + He_2/2 + He_4/24, unnormalised
  (``MultiIndexTarget.giant_step(d, normalize=False)``, E[f*^2] = 37/48), noiseless;
- student: width p = 1024 bias-free ReLU neurons, W_0 ~ N(0, I/d), a_0 ~ N(0, 1/p) and readout
  1/sqrt(p) (``readout='gaussian', bias=False``), one W_0 for every draw (``seed`` fixed);
- labels with their degree-0/1 parts removed (``center=True``: mean(y) and mean(y x));
- one step on all n = d^2 samples, no decay: W_1 = W_0 + eta G, with the notebook's gradient
  G of the loss (1/2n) sum r^2 and eta = 10 sqrt(n p). fastrep's loss is (1/n) sum r^2 (twice
  the notebook's), so ``lr`` = eta / 2 and ``weight_decay=0``;
- the same samples for the ridge head, ridge lambda = 1 on the features / sqrt(p), which is
  fastrep's (1/n) |y - Phi a|^2 + lambda' |a|^2 with lambda' = p / n (3.9e-3 at d = 512);
- 10 data draws; the notebook reports the mean and standard deviation of the test MSE over them
  (0.0774 +- 0.0021 at n = 262144), i.e. an excess error of 0.0774 / (37/48) = 0.100 +- 0.003
  in fastrep's units (``fastrep.metrics.excess_error``: MSE / E[f*^2], fresh test inputs; the
  notebook adds back the degree-0/1 estimates of its *test* labels, fastrep those of the
  training labels; the script prints both: the test labels' estimate from 1e5 samples in
  d = 512 costs about d / n_test = 0.005 of MSE).

Prints each draw's excess error, their mean and standard deviation, and the verdict against
0.100 +- 2 x 0.003 (the notebook's standard deviation, scaled to fastrep's units).
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine  # noqa: E402

from fastrep import GaussianStream, MultiIndexTarget, MultiStepNetwork  # noqa: E402
from fastrep.metrics import excess_error  # noqa: E402

PUBLISHED_MSE, PUBLISHED_STD = 0.07741778601141551, 0.002084362460098963
TEACHER_ENERGY = 37.0 / 48.0


def notebook_mse(net, target, n_test, seed, dtype):
    """The notebook's test MSE: the network's part of the prediction plus the degree-0/1 estimates
    of the *test* labels themselves (mean(y), mean(y x) over the test set)."""
    X, y = GaussianStream(target, seed, split="test", dtype=dtype).take(n_test)
    X64, y64 = X.astype(np.float64), y.astype(np.float64)
    network_part = net.predict(X).astype(np.float64) - (X64 @ net.label_linear_ + net.label_mean_)
    pred = network_part + y64.mean() + X64 @ (X64.T @ y64 / n_test)
    return float(np.mean((pred - y64) ** 2))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="d = 128, 3 draws")
    ap.add_argument("--draws", type=int, default=None)
    ap.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    ap.add_argument("--n-test", type=int, default=100_000)
    args = ap.parse_args(argv)
    d = 128 if args.quick else 512
    draws = args.draws or (3 if args.quick else 10)
    p, n = 1024, d * d
    eta = 10.0 * math.sqrt(n * p)
    target = MultiIndexTarget.giant_step(d, normalize=False, seed=0)
    net = MultiStepNetwork(width=p, steps=1, protocol="fresh", lr=eta / 2.0, weight_decay=0.0,
                           readout="gaussian",
                           bias=False, ridge=p / n, center=True, dtype=np.dtype(args.dtype), seed=0,
                           record_every=1)
    print(f"# GiantStep single_step.ipynb with fastrep: d = {d}, p = {p}, n = {n}, eta = {eta:.4g} "
          f"(lr = {eta / 2:.4g}), ridge = {p / n:.4g}, {draws} draws, {args.dtype}")
    print(f"machine: {machine()}")
    errs, nb_errs = [], []
    for k in range(draws):
        t0 = time.perf_counter()
        net.fit_stream(GaussianStream(target, 1000 + k, dtype=np.dtype(args.dtype)), n)
        err = excess_error(net, target, n_test=args.n_test, seed=2000 + k)
        errs.append(err)
        nb = notebook_mse(net, target, args.n_test, 3000 + k, np.dtype(args.dtype))
        nb_errs.append(nb)
        tr = net.trajectory_
        print(f"draw {k}: excess error {err:.4f} (test MSE {err * TEACHER_ENERGY:.4f}; the notebook's "
              f"evaluation {nb:.4f}); alignment "
              f"{tr.alignment[0]:.3f} -> {tr.alignment[-1]:.3f}; "
              f"spikes {np.round(tr.spike_values[-1, :3], 2)} "
              f"in span(U): {np.round(tr.spike_alignment[-1, :3], 3)}; {time.perf_counter() - t0:.0f} s",
              flush=True)
    mean, std = float(np.mean(errs)), float(np.std(errs))
    want, want_std = PUBLISHED_MSE / TEACHER_ENERGY, PUBLISHED_STD / TEACHER_ENERGY
    print(f"\nfastrep: excess error {mean:.4f} +- {std:.4f} (test MSE {mean * TEACHER_ENERGY:.4f} +- "
          f"{std * TEACHER_ENERGY:.4f}) over {draws} draws")
    print(f"the notebook's evaluation (degree-0/1 parts of the test labels added back): test MSE "
          f"{np.mean(nb_errs):.4f} +- {np.std(nb_errs):.4f}, excess {np.mean(nb_errs) / TEACHER_ENERGY:.4f}")
    print(f"GiantStep (published, n = 262144): excess error {want:.4f} +- {want_std:.4f} "
          f"(test MSE {PUBLISHED_MSE:.4f} +- {PUBLISHED_STD:.4f})")
    if not args.quick:
        nb_mean = float(np.mean(nb_errs)) / TEACHER_ENERGY
        for what, value in (("the notebook's evaluation", nb_mean), ("fastrep's excess_error", mean)):
            ok = abs(value - want) <= 2 * want_std
            print(f"{what}: {value:.4f}, within two published standard deviations of {want:.4f}: "
                  f"{'yes' if ok else 'no'} (|difference| = {abs(value - want):.4f}, "
                  f"2 sd = {2 * want_std:.4f})")
    return mean, std


if __name__ == "__main__":
    main()
