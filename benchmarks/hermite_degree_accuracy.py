#!/usr/bin/env python
"""Measures the float64 normalized Hermite recurrence against 80-digit Decimal arithmetic.

The basis of fastrep._validation.MAX_DEGREE: python benchmarks/hermite_degree_accuracy.py
"""

import numpy as np
from decimal import Decimal, getcontext
getcontext().prec = 80
from fastrep._kernels.reference import hermite_table
P = 1000
zs = np.concatenate([np.linspace(-40, 40, 161), [1e-3, 0.37, 2.5, 7.1]])
tab = hermite_table(zs, P)  # (P+1, nz)
worst = {}
for iz, z in enumerate(zs):
    zd = Decimal(float(z))
    h0, h1 = Decimal(1), zd
    ex = [h0, h1]
    for k in range(1, P):
        h2 = (zd * h1 - Decimal(k).sqrt() * h0) / Decimal(k + 1).sqrt()
        ex.append(h2); h0, h1 = h1, h2
    for k in range(P + 1):
        e = float(ex[k]); f = tab[k, iz]
        # error relative to the envelope: the largest |h_j(z)| for j <= k (zeros of h_k make a pure relative error meaningless)
        worst.setdefault(k, []).append((abs(f - e), max(abs(float(x)) for x in ex[max(0,k-2):k+1]), abs(z)))
for R in (6, 10, 20, 40):
    row = []
    for k in (10, 30, 100, 200, 300, 500, 700, 1000):
        errs = [err / env for err, env, az in worst[k] if az <= R and env > 0]
        row.append(f"k={k}:{max(errs):.1e}")
    print(f"|z|<={R}: " + " ".join(row))
# largest magnitude: log10 max |h_k(z)| for |z| <= R
for R in (6, 10, 20, 40):
    m = [max(abs(float(np.log10(abs(tab[k, i]) + 1e-300))) for i in range(len(zs)) if abs(zs[i]) <= R) for k in (100, 300, 1000)]
    print(R, "log10 max|h_k|, k=100,300,1000:", [f"{v:.0f}" for v in m])
