"""asv benchmarks for the Gaussian stream: the contract's ``gaussian_block`` and ``GaussianStream``.

``GaussianBlock``: the backend module's ``gaussian_block(seed, stream, start, n, d, dtype)``
(Philox4x32-10 + Box-Muller, a fresh array per call as the stream allocates its chunks) over
n, d, dtype and backend; ``track_normals_per_s`` is the achieved rate in millions/s.

``StreamChunks``: ``GaussianStream(separation target, seed).chunks(0, n, 8192)`` consumed
whole (inputs, labels f*(X), label noise) over n and d, with its peak memory (flat in n).
"""

from __future__ import annotations

import numpy as np

from ._common import BENCH_BACKENDS, SKIP_SLOW, median_time, require_backend


class GaussianBlock:
    """One (n, d) block of the normal stream per call, allocating its output."""

    if SKIP_SLOW:
        params = ([1024], [1000], ["float32"], BENCH_BACKENDS)
    else:
        params = ([1024, 8192], [100, 1000], ["float32", "float64"], BENCH_BACKENDS)
    param_names = ["n", "d", "dtype", "backend"]
    timeout = 300

    def setup(self, n, d, dtype, backend):
        self.mod = require_backend(backend)
        if backend == "reference" and n * d > 2_000_000:
            raise NotImplementedError("reference skipped at this size")
        self.dtype = np.dtype(dtype)
        self.sync = lambda: None
        if backend == "cupy":
            import cupy

            self.sync = cupy.cuda.Device().synchronize
        self.mod.gaussian_block(7, 0, 0, n, d, self.dtype)  # warm-up: Numba compiles or loads its cache
        self.sync()

    def time_gaussian_block(self, n, d, dtype, backend):
        self.mod.gaussian_block(7, 0, 0, n, d, self.dtype)
        self.sync()

    def track_normals_per_s(self, n, d, dtype, backend):
        """Millions of normals per second, median of 3 calls."""
        t, _ = median_time(lambda: (self.mod.gaussian_block(7, 0, 0, n, d, self.dtype), self.sync()),
                           repeat=3, warmup=0)
        return n * d / t / 1e6

    track_normals_per_s.unit = "M normals/s"

    def peakmem_gaussian_block(self, n, d, dtype, backend):
        self.mod.gaussian_block(7, 0, 0, n, d, self.dtype)

    def peakmem_reference(self, n, d, dtype, backend):
        """Nothing: the peak memory of setup, the baseline for ``peakmem_gaussian_block``."""


class StreamChunks:
    """The whole stream of (X, y) chunks of 8192 rows, float32, backend='auto'."""

    if SKIP_SLOW:
        params = ([20_000], [200])
    else:
        params = ([20_000, 100_000, 500_000], [200, 1000])
    param_names = ["n", "d"]
    timeout = 300
    chunk = 8192

    def setup(self, n, d):
        import fastrep

        self.stream = fastrep.GaussianStream(fastrep.MultiIndexTarget.separation(d, seed=0, noise=0.5), 1)
        self.consume(2 * self.chunk)  # warm-up

    def consume(self, n):
        rows = 0
        for _, y in self.stream.chunks(0, n, self.chunk):
            rows += len(y)
        assert rows == n

    def time_stream_chunks(self, n, d):
        self.consume(n)

    def peakmem_stream_chunks(self, n, d):
        """About two chunks whatever n is: the loop holds the previous chunk while making the next."""
        self.consume(n)

    def peakmem_reference(self, n, d):
        """Nothing: the peak memory of setup, the baseline for ``peakmem_stream_chunks``."""
