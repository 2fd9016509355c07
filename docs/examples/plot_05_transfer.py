"""
Transfer: a learned representation, a new head
==============================================

:func:`fastrep.fit_transfer` learns W on a source task that shares U with the target
(16 d² source samples), freezes it and refits the second layer on n_t target samples. Its
error depends on n_t and not on d; NTK ridge on the same n_t samples learns little.

Here d = 16, n_t = 25..400 (a few seconds). The demo's transfer n*_t is flat from d = 12 to
24 (slope 0.03), and ``fastrep demo --large`` keeps it flat to d = 256.
"""

import warnings

import matplotlib.pyplot as plt

import fastrep
from fastrep.metrics import excess_error

# The target is noiseless, so validation picks the smallest ridge of its grid and says so.
warnings.simplefilter("ignore", fastrep.RidgeGridEdgeWarning)

d = 16
target = fastrep.MultiIndexTarget.separation(d=d, seed=0)
source = fastrep.shared_source(target, fastrep.MultiIndexTarget.random(d, 2, 2, seed=1))
stream = fastrep.GaussianStream(target, seed=2)
n_t = [25, 50, 100, 200, 400]
transfer, kernel = [], []
for n in n_t:
    X, y = stream.take(n)
    net = fastrep.fit_transfer(source, X, y, n_source=16 * d**2, width=300)
    transfer.append(excess_error(net, target))
    kernel.append(excess_error(fastrep.NTKRegressor(ridge=1e-8).fit(X, y), target))

fig, ax = plt.subplots(figsize=(5.5, 3.5))
ax.loglog(n_t, transfer, "o-", label="transfer (W from 16 d² source samples)")
ax.loglog(n_t, kernel, "s-", label="NTK ridge on the target samples")
ax.set_xlabel("target samples n_t")
ax.set_ylabel("excess error")
ax.legend(fontsize=8)
fig.tight_layout()
