"""asv benchmarks for Hermite features: scaling in n, r, p and the backends side by side.

One class, ``HermiteFeatures``, is parametrized over n (rows), r (columns of Z), p (all
multi-indices with |alpha| <= p, K = C(r + p, p) features) and backend; float32 throughout
(``benchmarks/compare_hermite.py`` covers float64). Cases whose output would exceed
``MAX_OUT_ELEMENTS`` and the reference beyond ``MAX_REFERENCE_ELEMENTS`` are skipped
(``NotImplementedError`` in setup is asv's skip), as is any backend not available here.
``ASV_SKIP_SLOW=1`` trims the grid to a quick run.

``HermiteNumbaCompile`` tracks the Numba kernel's first-call cost in a fresh interpreter,
once with an empty cache (compilation) and once with the cache just written (loading).
It is a class of its own because that cost does not depend on n, r or p.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
import tempfile
import textwrap

import numpy as np

import fastrep

from ._common import SKIP_SLOW
from ._common import require_backend as _require_backend

MAX_OUT_ELEMENTS = 100_000_000  # 400 MB of float32 output
MAX_REFERENCE_ELEMENTS = 10_000_000  # the reference is the specification, not a contender


class HermiteFeatures:
    """``fastrep.hermite_features(Z, multi_indices(r, p), backend=...)`` on standard normal Z, float32."""

    if SKIP_SLOW:
        params = ([10_000, 100_000], [4], [2, 4], ["cpp", "numba", "reference", "cupy"])
    else:
        params = ([10_000, 100_000, 1_000_000], [2, 4, 8], [2, 4, 6], ["cpp", "numba", "reference", "cupy"])
    param_names = ["n", "r", "p", "backend"]
    timeout = 300

    def setup(self, n, r, p, backend):
        _require_backend(backend)
        K = math.comb(r + p, p)
        if n * K > MAX_OUT_ELEMENTS:
            raise NotImplementedError(f"output {n} x {K} is larger than {MAX_OUT_ELEMENTS} elements")
        if backend == "reference" and n * K > MAX_REFERENCE_ELEMENTS:
            raise NotImplementedError("reference skipped at this size")
        self.alphas = fastrep.multi_indices(r, p)
        Z = np.random.default_rng(0).standard_normal((n, r)).astype(np.float32)
        if backend == "cupy":
            import cupy

            self.Z = cupy.asarray(Z)
            self.out = cupy.empty((n, K), dtype=cupy.float32)
            self.sync = cupy.cuda.Device().synchronize
        else:
            self.Z = Z
            self.out = np.empty((n, K), dtype=np.float32)
            self.sync = lambda: None
        self.backend = backend
        # warm-up: Numba compiles (or loads its cache) here, and out's pages are touched
        fastrep.hermite_features(self.Z, self.alphas, backend=backend, out=self.out)
        self.sync()

    def time_hermite_features(self, n, r, p, backend):
        """Into a preallocated, touched ``out``: the kernel's own speed."""
        fastrep.hermite_features(self.Z, self.alphas, backend=backend, out=self.out)
        self.sync()

    def time_hermite_features_alloc(self, n, r, p, backend):
        """Allocating the result, as a plain call does: adds the page faults of a fresh array."""
        fastrep.hermite_features(self.Z, self.alphas, backend=backend)
        self.sync()

    def peakmem_hermite_features(self, n, r, p, backend):
        """Peak memory of an allocating call; subtract ``peakmem_reference`` (setup alone)."""
        fastrep.hermite_features(self.Z, self.alphas, backend=backend)

    def peakmem_reference(self, n, r, p, backend):
        """Nothing: the peak memory of setup, the baseline for ``peakmem_hermite_features``."""


_FIRST_CALL = textwrap.dedent(
    """
    import time
    import numpy as np
    from fastrep._kernels import numba as kernels
    Z = np.zeros((8, 2), dtype=np.{dtype})
    alphas = np.array([[1, 1], [2, 0]], dtype=np.int32)
    t0 = time.perf_counter()
    kernels.hermite_features(Z, alphas)
    t1 = time.perf_counter()
    kernels.hermite_features(Z, alphas)
    t2 = time.perf_counter()
    print((t1 - t0) - (t2 - t1))
    """
)


class HermiteNumbaCompile:
    """Seconds the first Numba call costs beyond a warm call, in a fresh interpreter."""

    params = (["float32", "float64"],)
    param_names = ["dtype"]
    unit = "s"
    timeout = 300

    def setup(self, dtype):
        _require_backend("numba")

    def _first_call(self, dtype, cache_dir):
        # NUMBA_CACHE_DIR points Numba's cache=True files at cache_dir instead of __pycache__
        env = {**os.environ, "NUMBA_CACHE_DIR": cache_dir}
        res = subprocess.run([sys.executable, "-c", _FIRST_CALL.format(dtype=dtype)], env=env,
                             capture_output=True, text=True, check=True)
        return float(res.stdout.strip().splitlines()[-1])

    def track_numba_compile_s(self, dtype):
        """An empty cache: what a user pays on the very first call after installing."""
        with tempfile.TemporaryDirectory() as cache:
            return self._first_call(dtype, cache)

    track_numba_compile_s.unit = "s"

    def track_numba_cached_first_call_s(self, dtype):
        """The cache written by an earlier process: what every later process pays."""
        with tempfile.TemporaryDirectory() as cache:
            self._first_call(dtype, cache)
            return self._first_call(dtype, cache)

    track_numba_cached_first_call_s.unit = "s"
