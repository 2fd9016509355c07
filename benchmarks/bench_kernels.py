"""asv benchmarks for the NTK: the Gram block and the two kernel-ridge solvers.

``KernelGram``: the backend module's ``kernel_gram(X, None, 1.0, 'ntk', out)`` (one SYRK-like
product X X^T plus the fused arccos pass) over n, d and backend, float32, into a
preallocated ``out``; ``track_gram_gflops`` counts the product's 2 n^2 d FLOPs only, so it
falls with d as the elementwise pass takes over.

``CholeskyFit``: ``NTKRegressor(solver='cholesky', ridge=1e-3).fit(X, y)`` in float64 with
n <= 8192 (a float64 LAPACK potrf above n = 8192 has crashed OpenBLAS's SkylakeX kernels with
2 threads on the development machine when OPENBLAS_CORETYPE is not set).

``NystromFit``: ``NTKRegressor(solver='nystrom', n_centers=M)`` in float32 over n and M.
"""

from __future__ import annotations

import numpy as np

from ._common import BENCH_BACKENDS, SKIP_SLOW, device_arrays, median_time, require_backend

MAX_CHOLESKY_N = 8192


class KernelGram:
    """``kernel_gram`` of the contract on standard normal X (n, d), float32, symmetric (X2 = None)."""

    if SKIP_SLOW:
        params = ([1024, 4096], [128], BENCH_BACKENDS)
    else:
        params = ([1024, 4096, 8192], [32, 128, 512], BENCH_BACKENDS)
    param_names = ["n", "d", "backend"]
    timeout = 300

    def setup(self, n, d, backend):
        self.mod = require_backend(backend)
        if backend == "reference" and n > 4096:
            raise NotImplementedError("reference skipped at this size")
        X = np.random.default_rng(0).standard_normal((n, d)).astype(np.float32)
        (self.X,), self.sync = device_arrays(backend, X)
        self.out = self.mod.kernel_gram(self.X, None, 1.0, "ntk")  # warm-up; touches out's pages
        self.sync()

    def time_kernel_gram(self, n, d, backend):
        self.mod.kernel_gram(self.X, None, 1.0, "ntk", out=self.out)
        self.sync()

    def track_gram_gflops(self, n, d, backend):
        """2 n^2 d (the product's FLOPs) over the whole block's time, median of 3."""
        def call():
            self.mod.kernel_gram(self.X, None, 1.0, "ntk", out=self.out)
            self.sync()

        t, _ = median_time(call, repeat=3, warmup=0)
        return 2.0 * n * n * d / t / 1e9

    track_gram_gflops.unit = "GFLOP/s"

    def peakmem_kernel_gram(self, n, d, backend):
        """An allocating call: the (n, n) block plus temporaries, over ``peakmem_reference``."""
        self.mod.kernel_gram(self.X, None, 1.0, "ntk")

    def peakmem_reference(self, n, d, backend):
        """Nothing: the peak memory of setup, the baseline for ``peakmem_kernel_gram``."""


def _regression_data(n, d, dtype, seed=1):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d)).astype(dtype)
    y = np.sin(X[:, 0]) + X[:, 1] * X[:, 2] + 0.1 * rng.standard_normal(n)
    return X, y


class CholeskyFit:
    """``NTKRegressor(solver='cholesky', ridge=1e-3).fit(X, y)``, float64 (Gram, potrf, solve)."""

    if SKIP_SLOW:
        params = ([1024, 2048], [64], ["auto"])
    else:
        params = ([1024, 2048, 4096, MAX_CHOLESKY_N], [64, 256], ["auto", "cpp", "numba"])
    param_names = ["n", "d", "backend"]
    timeout = 600

    def setup(self, n, d, backend):
        import fastrep

        if backend != "auto":
            require_backend(backend)
        if n > MAX_CHOLESKY_N:
            raise NotImplementedError(f"float64 Cholesky above n = {MAX_CHOLESKY_N} is not benchmarked")
        self.X, self.y = _regression_data(n, d, np.float64)
        self.model = lambda: fastrep.NTKRegressor(solver="cholesky", ridge=1e-3, backend=backend)
        self.model().fit(self.X[:256], self.y[:256])  # warm-up: imports, compilation

    def time_cholesky_fit(self, n, d, backend):
        self.model().fit(self.X, self.y)

    def peakmem_cholesky_fit(self, n, d, backend):
        """The (n, n) float64 Gram matrix factorized in place: ~8 n^2 bytes over the baseline."""
        self.model().fit(self.X, self.y)

    def peakmem_reference(self, n, d, backend):
        """Nothing: the peak memory of setup, the baseline for ``peakmem_cholesky_fit``."""


class NystromFit:
    """``NTKRegressor(solver='nystrom', n_centers=M, ridge=1e-3, tol=1e-3).fit(X, y)``, float32, d = 64."""

    if SKIP_SLOW:
        params = ([8192], [512], ["auto"])
    else:
        params = ([8192, 32768, 131072], [512, 2048], ["auto", "cpp", "numba"])
    param_names = ["n", "M", "backend"]
    timeout = 600

    def setup(self, n, M, backend):
        import fastrep

        if backend != "auto":
            require_backend(backend)
        self.X, self.y = _regression_data(n, 64, np.float32)
        self.model = lambda: fastrep.NTKRegressor(solver="nystrom", n_centers=M, ridge=1e-3, dtype=np.float32,
                                                  tol=1e-3, max_iter=100, seed=0, backend=backend)
        fastrep.NTKRegressor(solver="nystrom", n_centers=256, ridge=1e-3, dtype=np.float32, tol=1e-3,
                             backend=backend).fit(self.X[:1024], self.y[:1024])  # warm-up

    def time_nystrom_fit(self, n, M, backend):
        self.model().fit(self.X, self.y)

    def track_nystrom_cg_iterations(self, n, M, backend):
        """CG iterations to tol = 1e-3: a change here changes the time for a reason other than speed."""
        return self.model().fit(self.X, self.y).n_iter_

    track_nystrom_cg_iterations.unit = "iterations"

    def peakmem_nystrom_fit(self, n, M, backend):
        """Blocked: the M x M matrices and a block of K(X, C), never an (n, M) matrix."""
        self.model().fit(self.X, self.y)

    def peakmem_reference(self, n, M, backend):
        """Nothing: the peak memory of setup, the baseline for ``peakmem_nystrom_fit``."""
