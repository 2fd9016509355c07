"""
Choosing a backend, and reading ``backend_``
============================================

Every learner takes ``backend=``: ``"auto"`` (the default, or ``FASTREP_BACKEND``) picks per
operation family the fastest backend measured on this kind of machine (CuPy for CuPy
arrays); a name forces one, and one that cannot run is an error, never a silent fallback.
:func:`fastrep.backends` says what runs here; a fitted learner's ``backend_`` records what
ran, per family. The table shows one fit per backend: the same numbers, different code (the
first fit that runs a Numba family includes Numba's one-time compilation).

Here d = 16, n = 4,000 (seconds). The speed of each backend per operation is in
``benchmarks/RESULTS.md`` (``python benchmarks/report.py``).
"""

import time

import pandas as pd

import fastrep
from fastrep.metrics import excess_error

print(fastrep.backends())

target = fastrep.MultiIndexTarget.separation(d=16, seed=0)
X, y = fastrep.GaussianStream(target, seed=1).take(4_000)
rows = []
for backend in ["auto", "cpp", "reference"]:
    start = time.perf_counter()
    net = fastrep.OneStepNetwork(width=300, seed=0, ridge=1e-6, backend=backend).fit(X, y)
    rows.append({"backend=": backend, "seconds": round(time.perf_counter() - start, 2),
                 "excess error": round(excess_error(net, target), 5), **net.backend_})
pd.DataFrame(rows)
