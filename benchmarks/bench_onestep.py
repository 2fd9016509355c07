"""asv benchmarks for Algorithm 1: the one-step gradient, the feature moments and the whole fit.

``OnestepKernels`` times the two dense kernels of the contract on one chunk of rows, over
n (rows of the chunk), d, width m and backend, float32 (the learner's default):

* ``onestep_gradient(X, W[:m/2], b[:m/2], r)``: the first step at the symmetric init, where
  only half of the neurons are computed (2 products of n x d x m/2);
* ``feature_moments(X, W[:m/2], b, y, paired=True)``: Phi^T Phi (SYRK) and Phi^T y for the
  paired ReLU features Phi (n, m) (one product n x d x m/2, one SYRK n x m x m).

``FitStream`` times ``OneStepNetwork(width=m, ridge=1e-3).fit_stream(stream, n)`` end to end
over n and d (fixed ridge: the validation path's lambda grid is timed by ``compare_onestep``),
with its peak memory and achieved GFLOP/s. ``ASV_SKIP_SLOW=1`` trims the grids.
"""

from __future__ import annotations

import numpy as np

from ._common import BENCH_BACKENDS, SKIP_SLOW, device_arrays, median_time, require_backend

MAX_REFERENCE_FLOPS = 2e10  # the float64 reference is the specification, not a contender


def onestep_flops(kind, n, d, m):
    """Floating-point operations of one call (multiply-add = 2)."""
    h = m // 2
    if kind == "onestep_gradient":
        return 2 * 2 * n * d * h  # P = X W^T, then P^T X
    return 2 * n * d * h + n * m * m + 2 * n * m  # X W^T, SYRK (half of 2 n m^2), Phi^T y


class OnestepKernels:
    """The backend modules' ``onestep_gradient`` and ``feature_moments`` on one chunk, float32."""

    if SKIP_SLOW:
        params = ([4096], [100, 400], [512], BENCH_BACKENDS)
    else:
        params = ([4096, 16384], [100, 400, 1600], [512, 2048], BENCH_BACKENDS)
    param_names = ["n", "d", "width", "backend"]
    timeout = 300

    def setup(self, n, d, width, backend):
        self.mod = require_backend(backend)
        if backend == "reference" and onestep_flops("feature_moments", n, d, width) > MAX_REFERENCE_FLOPS:
            raise NotImplementedError("reference skipped at this size")
        rng = np.random.default_rng(0)
        h = width // 2
        X = rng.standard_normal((n, d)).astype(np.float32)
        W = (rng.standard_normal((h, d)) / np.sqrt(d)).astype(np.float32)
        b = rng.standard_normal(width).astype(np.float32)
        y = rng.standard_normal(n).astype(np.float32)
        (self.X, self.W, self.b, self.bh, self.y), self.sync = device_arrays(backend, X, W, b, b[:h], y)
        # warm-up: Numba compiles (or loads its cache), BLAS spins up its threads
        self.mod.onestep_gradient(self.X, self.W, self.bh, self.y)
        self.mod.feature_moments(self.X, self.W, self.b, self.y, True)
        self.sync()

    def time_onestep_gradient(self, n, d, width, backend):
        self.mod.onestep_gradient(self.X, self.W, self.bh, self.y)
        self.sync()

    def time_feature_moments(self, n, d, width, backend):
        self.mod.feature_moments(self.X, self.W, self.b, self.y, True)
        self.sync()

    def _gflops(self, kind, fn, n, d, width):
        t, _ = median_time(lambda: (fn(), self.sync()), repeat=3, warmup=0)
        return onestep_flops(kind, n, d, width) / t / 1e9

    def track_onestep_gradient_gflops(self, n, d, width, backend):
        """Achieved GFLOP/s of ``onestep_gradient`` (median of 3 calls)."""
        return self._gflops("onestep_gradient",
                            lambda: self.mod.onestep_gradient(self.X, self.W, self.bh, self.y), n, d, width)

    track_onestep_gradient_gflops.unit = "GFLOP/s"

    def track_feature_moments_gflops(self, n, d, width, backend):
        """Achieved GFLOP/s of ``feature_moments`` (median of 3 calls)."""
        def call():
            return self.mod.feature_moments(self.X, self.W, self.b, self.y, True)

        return self._gflops("feature_moments", call, n, d, width)

    track_feature_moments_gflops.unit = "GFLOP/s"

    def peakmem_feature_moments(self, n, d, width, backend):
        """Peak memory of one call: Phi (n, m) and G (m, m) on top of ``peakmem_reference``."""
        self.mod.feature_moments(self.X, self.W, self.b, self.y, True)

    def peakmem_reference(self, n, d, width, backend):
        """Nothing: the peak memory of setup, the baseline for the other ``peakmem_``."""


def fit_flops(n, d, m):
    """FLOPs of a fit on n samples, both stages on the same samples: 3 products n x d x m/2, one SYRK."""
    return n * (3 * 2 * d * (m // 2) + m * m)


class FitStream:
    """``OneStepNetwork(width, ridge=1e-3).fit_stream(GaussianStream(he2 target), n)``, float32."""

    if SKIP_SLOW:
        params = ([10_000, 40_000], [100], [500], ["auto"])
    else:
        params = ([10_000, 40_000, 160_000], [100, 400], [500, 2000], ["auto", "cpp", "numba", "cupy"])
    param_names = ["n", "d", "width", "backend"]
    timeout = 600

    def setup(self, n, d, width, backend):
        import fastrep

        if backend != "auto":
            require_backend(backend)
        self.target = fastrep.MultiIndexTarget.single_index(d, "he2", noise=1.0, seed=0)
        self.make = lambda: (fastrep.GaussianStream(self.target, 1, backend=backend),
                             fastrep.OneStepNetwork(width=width, ridge=1e-3, seed=0, backend=backend))
        stream, net = self.make()
        net.fit_stream(stream, 2_000)  # warm-up: compiles, BLAS threads, lazy imports

    def time_fit_stream(self, n, d, width, backend):
        stream, net = self.make()
        net.fit_stream(stream, n)

    def track_fit_gflops(self, n, d, width, backend):
        """The fit's dense-product FLOPs (``fit_flops``) over its wall time, one fit."""
        import time

        stream, net = self.make()
        t0 = time.perf_counter()
        net.fit_stream(stream, n)
        return fit_flops(n, d, width) / (time.perf_counter() - t0) / 1e9

    track_fit_gflops.unit = "GFLOP/s"

    def peakmem_fit_stream(self, n, d, width, backend):
        """Peak memory of a regenerating fit; flat in n (streamed), compare with ``peakmem_reference``."""
        stream, net = self.make()
        net.fit_stream(stream, n, cache="regenerate")

    def peakmem_reference(self, n, d, width, backend):
        """Nothing: the peak memory of setup, the baseline for ``peakmem_fit_stream``."""
