"""asv tracks of start-up costs, each measured in a fresh interpreter.

``ImportTime.track_import_fastrep_s``: seconds of ``import fastrep`` (the public API is lazy,
so this is what ``fastrep backends`` and every script pay first); ``track_import_learners_s``
adds the first touch of ``fastrep.OneStepNetwork`` and ``fastrep.NTKRegressor``
(scikit-learn's import).

``NumbaCompile``: the first call of a Numba kernel beyond a warm call, with an empty cache
(``NUMBA_CACHE_DIR`` set to a temporary folder: what a user pays once after installing) and
with the cache just written (what every later process pays). Hermite features have their own
class in ``bench_hermite.py``.
"""

from __future__ import annotations

import tempfile
import textwrap

from ._common import fresh_python, require_backend


class ImportTime:
    """Fresh-process import times, median of 3 processes."""

    timeout = 120

    def _median(self, code):
        import statistics

        return statistics.median(float(fresh_python(code)) for _ in range(3))

    def track_import_fastrep_s(self):
        return self._median("import time; t0 = time.perf_counter(); import fastrep; "
                            "print(time.perf_counter() - t0)")

    track_import_fastrep_s.unit = "s"

    def track_import_learners_s(self):
        return self._median("import time; t0 = time.perf_counter(); import fastrep; "
                            "fastrep.OneStepNetwork; fastrep.NTKRegressor; print(time.perf_counter() - t0)")

    track_import_learners_s.unit = "s"


# Each snippet defines ``call()``, one small call of the operation on the numba backend.
_SETUP = {
    "gaussian_block": "call = lambda: k.gaussian_block(7, 0, 0, 8, 4, np.{dtype})",
    "onestep_gradient": ("X = np.ones((8, 3), np.{dtype}); W = np.ones((2, 3), np.{dtype}); "
                         "b = np.zeros(2, np.{dtype}); r = np.ones(8, np.{dtype}); "
                         "call = lambda: k.onestep_gradient(X, W, b, r)"),
    "feature_moments": ("X = np.ones((8, 3), np.{dtype}); W = np.ones((2, 3), np.{dtype}); "
                        "b = np.zeros(4, np.{dtype}); y = np.ones(8, np.{dtype}); "
                        "call = lambda: k.feature_moments(X, W, b, y, True)"),
    "kernel_gram": ("X = np.ones((8, 3), np.{dtype}); "
                    "call = lambda: (k.kernel_gram(X, None, 1.0, 'ntk'), "
                    "k.kernel_gram(X, X[:4], 1.0, 'ntk'))"),
}

_FIRST_CALL = textwrap.dedent(
    """
    import time
    import numba
    import numpy as np
    t0 = time.perf_counter()  # fastrep's kernel module, its first call (compile or cache load)
    from fastrep._kernels import numba as k
    {setup}
    call()
    t1 = time.perf_counter()
    call()
    t2 = time.perf_counter()
    print((t1 - t0) - (t2 - t1))
    """
)


class NumbaCompile:
    """Seconds the first Numba call of an operation costs beyond a warm call, in a fresh interpreter."""

    params = (sorted(_SETUP), ["float32", "float64"])
    param_names = ["op", "dtype"]
    timeout = 300

    def setup(self, op, dtype):
        require_backend("numba")

    def _first_call(self, op, dtype, cache_dir):
        code = _FIRST_CALL.format(setup=_SETUP[op].format(dtype=dtype))
        return float(fresh_python(code, env={"NUMBA_CACHE_DIR": cache_dir}))

    def track_numba_compile_s(self, op, dtype):
        """An empty cache: compilation."""
        with tempfile.TemporaryDirectory() as cache:
            return self._first_call(op, dtype, cache)

    track_numba_compile_s.unit = "s"

    def track_numba_cached_first_call_s(self, op, dtype):
        """The cache written by an earlier process: loading."""
        with tempfile.TemporaryDirectory() as cache:
            self._first_call(op, dtype, cache)
            return self._first_call(op, dtype, cache)

    track_numba_cached_first_call_s.unit = "s"
