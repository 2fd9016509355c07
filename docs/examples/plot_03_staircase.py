"""
The staircase, degree by degree
===============================

A rotation-invariant kernel method with n ≈ d^k samples learns the degrees ≤ k of the
target and none above. :func:`fastrep.diagnostics.degree_learning` measures the fraction of
each degree of f* a fitted model has learned; here for NTK ridge at d = 12 over n, on a
target with energy in degrees 2 and 3.

At d = 12 the steps overlap (d² = 144, d³ = 1,728); the staircase's plateau shows at larger d
(e.g. d = 32: n from 1,000 to 30,000, exact NTK ridge in float32, minutes per point).
"""

import matplotlib.pyplot as plt
import numpy as np

import fastrep
from fastrep.diagnostics import degree_learning

d = 12
target = fastrep.MultiIndexTarget.separation(d=d, seed=0)
stream = fastrep.GaussianStream(target, seed=1)
ns = [100, 200, 400, 800, 1600, 3200]
learned = {2: [], 3: []}
for n in ns:
    X, y = stream.take(n)
    model = fastrep.NTKRegressor(ridge=1e-8).fit(X, y)
    result = degree_learning(model, target, n=20_000)
    for degree in learned:
        learned[degree].append(result[degree].fraction)

fig, ax = plt.subplots(figsize=(5.5, 3.5))
for degree, fractions in learned.items():
    ax.semilogx(ns, fractions, "o-", label=f"degree {degree}")
ax.axvline(d ** 2, color="k", ls=":", label="d²")
ax.axvline(d ** 3, color="k", ls="--", label="d³")
ax.set_xlabel("n")
ax.set_ylabel("fraction of the degree learned")
ax.set_ylim(-0.05, 1.05)
ax.legend()
fig.tight_layout()
print(np.round(np.array([learned[2], learned[3]]), 2))
