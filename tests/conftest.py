"""Shared fixtures: the backends that actually run here, dtypes with their tolerances, hypothesis profiles."""

from __future__ import annotations

import os
import zlib

import numpy as np
import pytest
from hypothesis import settings

import fastrep
from fastrep.backend import BACKENDS

settings.register_profile("fastrep", derandomize=True, deadline=None, max_examples=40, print_blob=True)
settings.register_profile("thorough", deadline=None, max_examples=400)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "fastrep"))

_STATUS = fastrep.backends()
AVAILABLE = [b for b in BACKENDS if _STATUS[b] == "available"]
CPU_FAST = [b for b in ("cpp", "numba") if b in AVAILABLE]

#: Relative tolerances against the float64 reference, per dtype. float32 carries ~6e-8
#: unit roundoff; the kernels accumulate O(10-100) operations per output, so 1e-5 relative
#: (scaled by the output's magnitude) leaves an honest margin; float64 is held to 1e-12.
RTOL = {np.dtype(np.float32): 1e-5, np.dtype(np.float64): 1e-12}


def _backend_param(name):
    marks = [pytest.mark.gpu] if name == "cupy" else []
    if _STATUS[name] != "available":
        marks.append(pytest.mark.skip(reason=_STATUS[name]))
    return pytest.param(name, marks=marks, id=name)


@pytest.fixture(params=[_backend_param(b) for b in BACKENDS if b != "reference"])
def backend(request):
    """Every non-reference backend; those not available here skip with the reason."""
    return request.param


@pytest.fixture(params=[np.float32, np.float64], ids=["f32", "f64"])
def dtype(request):
    return np.dtype(request.param)


@pytest.fixture
def rng(request):
    """A fresh generator per test, seeded from the test's name so failures reproduce."""
    seed = zlib.crc32(request.node.nodeid.encode())  # not hash(): that is salted per process
    return np.random.default_rng(seed)


def to_backend(x, backend):
    """Move a NumPy array to the array library the backend expects."""
    if backend == "cupy":
        import cupy

        return cupy.asarray(x)
    return x


def to_numpy(x):
    return x.get() if hasattr(x, "get") else np.asarray(x)


def simde_include_flags() -> list[str]:
    """Compiler flags that put SIMDe's headers (simde/x86/avx512.h; Debian: libsimde-dev) on the
    include path: [] where the compiler finds them already. Skips the calling test when they are
    missing, or fails it when FASTREP_REQUIRE_SIMDE=1 (set by .ci/run)."""
    from pathlib import Path

    for folder in (os.environ.get("SIMDE_INCLUDE"), "/usr/include", "/usr/local/include"):
        if folder and (Path(folder) / "simde" / "x86" / "avx512.h").is_file():
            # the default folders are searched already (naming one again breaks libstdc++'s
            # #include_next)
            return [] if folder in ("/usr/include", "/usr/local/include") else [f"-isystem{folder}"]
    msg = "SIMDe's headers (simde/x86/avx512.h; Debian: libsimde-dev) are not installed"
    if os.environ.get("FASTREP_REQUIRE_SIMDE") == "1":
        pytest.fail(msg + " and FASTREP_REQUIRE_SIMDE=1")
    pytest.skip(msg)
