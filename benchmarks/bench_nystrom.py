"""asv benchmarks of the Nystrom solver: the whole fit over n and M, and its preconditioner.

``NystromScale``: ``NTKRegressor(solver='nystrom', n_centers=M, ridge=1e-4, tol=1e-3)`` on
float32 data, d = 64 (time, peak memory, CG iterations), with K_nM stored (``store_kernel=True``)
and recomputed at every iteration (False). Its memory is one M x M float32 buffer (the
preconditioner, in the data's dtype) and one kernel block, plus 4 n M bytes when stored:
``peakmem_nystrom`` over ``peakmem_reference`` should grow like 4 M^2 (+ 4 n M), nothing else
with n.

``Preconditioner``: the CPU backends' ``nystrom_preconditioner`` (Falkon's packed layout): K_MM's
Cholesky, then LAUUM and the second Cholesky for one ridge, over M and dtype; above order 8192
the factorizations are blocked, in place (fastrep/_kernels/_blas.py; the float32 lower Cholesky
up to 16384 is the plain call).

Small sizes (minutes in all); ``python benchmarks/compare_nystrom.py`` runs the issue's sizes.
"""

from __future__ import annotations

import numpy as np

from ._common import SKIP_SLOW, median_time


def _data(n, d, dtype, seed=1):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d)).astype(dtype)
    y = np.sin(X[:, 0]) + X[:, 1] * X[:, 2] + 0.1 * rng.standard_normal(n)
    return X, y


class NystromScale:
    """The whole Nystrom fit over n and M, float32 data, d = 64."""

    if SKIP_SLOW:
        params = ([4096], [1024], [True, False])
    else:
        params = ([8192, 32768], [1024, 4096, 10240], [True, False])
    param_names = ["n", "M", "store"]
    timeout = 900

    def setup(self, n, M, store):
        import fastrep

        self.X, self.y = _data(n, 64, np.float32)
        self.model = lambda: fastrep.NTKRegressor(solver="nystrom", n_centers=M, ridge=1e-4, dtype=np.float32,
                                                  tol=1e-3, max_iter=100, seed=0, store_kernel=store)
        fastrep.NTKRegressor(solver="nystrom", n_centers=128, ridge=1e-4, dtype=np.float32,
                             tol=1e-3).fit(self.X[:512], self.y[:512])  # warm-up

    def time_nystrom(self, n, M, store):
        self.model().fit(self.X, self.y)

    def peakmem_nystrom(self, n, M, store):
        """One M x M preconditioner buffer and one kernel block (or K_nM) over ``peakmem_reference``."""
        self.model().fit(self.X, self.y)

    def peakmem_reference(self, n, M, store):
        """Nothing: the peak memory of setup, the baseline for ``peakmem_nystrom``."""

    def track_cg_iterations(self, n, M, store):
        """CG iterations to tol = 1e-3: a change here changes the time for a reason other than speed."""
        return self.model().fit(self.X, self.y).n_iter_

    track_cg_iterations.unit = "iterations"


class Preconditioner:
    """Falkon's packed preconditioner: Cholesky of K_MM, then LAUUM and Cholesky for one ridge."""

    if SKIP_SLOW:
        params = ([1024], ["float64"])
    else:
        params = ([2048, 6144, 10240], ["float32", "float64"])
    param_names = ["M", "dtype"]
    timeout = 600

    def setup(self, M, dtype):
        import fastrep

        X = np.random.default_rng(0).standard_normal((M, 64)).astype(dtype)
        self.K = fastrep.ntk_kernel(X)
        self.work = np.empty_like(self.K)
        self.mod = fastrep.backend.get_backend("cpp")

    def _build(self):
        np.copyto(self.work, self.K)
        P = self.mod.nystrom_preconditioner(self.work, jitter=0.0)
        P.set_ridge(1e-4)
        return P

    def time_preconditioner(self, M, dtype):
        self._build()

    def track_preconditioner_gflops(self, M, dtype):
        """M^3 (three order-M factorizations of M^3/3 each) over the time, median of 3."""
        t, _ = median_time(self._build, repeat=3, warmup=0)
        return M**3 / t / 1e9

    track_preconditioner_gflops.unit = "GFLOP/s"

    def peakmem_preconditioner(self, M, dtype):
        """In place in the copy of K_MM: nothing of order M^2 beyond setup's two arrays."""
        self._build()

    def peakmem_reference(self, M, dtype):
        """Nothing: the peak memory of setup, the baseline for ``peakmem_preconditioner``."""
