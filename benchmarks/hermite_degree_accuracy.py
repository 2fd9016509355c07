#!/usr/bin/env python
"""Measures the float64 normalized Hermite recurrence against 80-digit Decimal arithmetic.

The basis of fastrep._validation.MAX_DEGREE: ``python benchmarks/hermite_degree_accuracy.py``
prints, per bound R on |z| and per degree k, the largest error of fastrep's recurrence
relative to the envelope max_{j in k-2..k} |h_j(z)| (zeros of h_k make a plain relative
error meaningless) over a grid of z in [-40, 40].
"""

from decimal import Decimal, getcontext

import numpy as np

from fastrep._kernels.reference import hermite_table

P = 1000
DEGREES = (10, 30, 100, 200, 300, 500, 700, 1000)


def main():
    getcontext().prec = 80
    zs = np.concatenate([np.linspace(-40, 40, 161), [1e-3, 0.37, 2.5, 7.1]])
    tab = hermite_table(zs, P)  # (P + 1, nz)
    errors = {k: [] for k in range(P + 1)}
    for iz, z in enumerate(zs):
        zd = Decimal(float(z))
        exact = [Decimal(1), zd]
        for k in range(1, P):
            exact.append((zd * exact[k] - Decimal(k).sqrt() * exact[k - 1]) / Decimal(k + 1).sqrt())
        for k in range(P + 1):
            env = max(abs(float(x)) for x in exact[max(0, k - 2):k + 1])
            errors[k].append((abs(tab[k, iz] - float(exact[k])), env, abs(z)))
    for R in (6, 10, 20, 40):
        worst = {k: max(e / env for e, env, az in errors[k] if az <= R and env > 0) for k in DEGREES}
        row = [f"k={k}:{w:.1e}" for k, w in worst.items()]
        print(f"|z| <= {R}: " + " ".join(row))


if __name__ == "__main__":
    main()
