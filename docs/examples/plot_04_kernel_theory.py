"""
The kernel's predicted learning curve
=====================================

:func:`fastrep.theory.kernel_learning_curve` predicts NTK ridge's excess error at any d from
the kernel's eigenvalues (the omniscient-risk equation), in milliseconds. Here it is drawn
against measured NTK ridge at d = 12 (a few seconds), and to d = 1024, where no exact
kernel fit runs.

Validated at d = 16, 24, 32 on every preset target (``benchmarks/validate_theory.py``):
the noiseless n* is predicted within 1.25x.
"""

import matplotlib.pyplot as plt
import numpy as np

import fastrep
from fastrep import theory
from fastrep.metrics import excess_error

d = 12
target = fastrep.MultiIndexTarget.separation(d=d, seed=0)
stream = fastrep.GaussianStream(target, seed=1)
ns = np.array([200, 400, 800, 1600, 3200])
measured = []
for n in ns:
    X, y = stream.take(int(n))
    measured.append(excess_error(fastrep.NTKRegressor(ridge=1e-8).fit(X, y), target))

grid = np.geomspace(100, 1e7, 60)
fig, ax = plt.subplots(figsize=(5.5, 3.5))
ax.loglog(ns, measured, "o", label=f"NTK ridge, measured (d = {d})")
for dd in (12, 64, 1024):
    t = fastrep.MultiIndexTarget.separation(d=dd, seed=0)
    ax.loglog(grid, theory.kernel_learning_curve(t, grid, kernel="ntk", ridge=1e-8),
              label=f"predicted, d = {dd}")
ax.set_xlabel("n")
ax.set_ylabel("excess error")
ax.set_ylim(1e-3, 2)
ax.legend(fontsize=8)
fig.tight_layout()
