"""Which implementation of a hot operation runs.

Every hot operation of the kernel contract (see ``fastrep/_kernels/__init__.py``) exists
in four modules with the same function names and signatures:

``reference``
    Plain NumPy in float64. The specification every other backend is tested against.
``cpp``
    The compiled C++17/OpenMP core ``fastrep._ext`` (built from ``csrc/``).
``numba``
    ``@njit(parallel=True, cache=True)`` kernels; needs only numba at run time.
``cupy``
    CUDA kernels through CuPy; used for CuPy arrays. Needs CuPy and a working device.

``backend='auto'`` picks CuPy when the inputs are CuPy arrays, otherwise the CPU backend
listed in :data:`AUTO_PREFERENCE` for the operation (measured by ``benchmarks/report.py``),
then Numba, then the reference. The environment variable ``FASTREP_BACKEND`` replaces
``'auto'`` (an explicit ``backend=`` argument still wins). Asking for a backend that is
not available raises :class:`BackendUnavailableError`; there is never a silent fallback.
"""

from __future__ import annotations

import importlib
import os
import threading
import warnings
from types import ModuleType

import numpy as np

__all__ = [
    "BACKENDS",
    "AUTO_PREFERENCE",
    "BackendUnavailableError",
    "array_module",
    "backends",
    "get_backend",
    "is_cupy_array",
    "resolve",
]

BACKENDS = ("reference", "cpp", "numba", "cupy")

#: Fastest available CPU backend per operation, in order, as measured on the
#: development machine by ``python benchmarks/report.py`` (see benchmarks/RESULTS.md).
#: Operations not listed use ``DEFAULT_CPU_ORDER``. Each entry cites the table of
#: benchmarks/RESULTS.md ("Backend choice for auto") that measured it; tests/test_benchmarks.py
#: checks that every kernel-contract operation is listed. The learners resolve one op for a
#: whole family: OneStepNetwork resolves "feature_moments" and then also calls that module's
#: onestep_gradient and relu_features in the fit; predictions resolve "relu_features" alone.
#: For that family cpp and numba run the same BLAS products around fused passes; the passes
#: alone measure equal, but numba's relu pass into a fresh (n, m) array wins end to end.
DEFAULT_CPU_ORDER = ("cpp", "numba", "reference")
AUTO_PREFERENCE: dict[str, tuple[str, ...]] = {
    "hermite_features": ("cpp", "numba", "reference"),  # RESULTS.md, Backend choice: hermite_features
    "gaussian_block": ("cpp", "numba", "reference"),  # RESULTS.md, Backend choice: gaussian_block
    "onestep_gradient": ("cpp", "numba", "reference"),  # RESULTS.md, Backend choice: onestep_gradient
    # numba 1.08-1.32x faster than cpp in 4 runs on 2 cores (its pass into a fresh (n, m) array)
    "relu_features": ("numba", "cpp", "reference"),  # RESULTS.md, Backend choice: relu_features
    # numba 1.00-1.11x faster than cpp on a quiet machine (its relu pass), cpp ahead under load
    "feature_moments": ("numba", "cpp", "reference"),  # RESULTS.md, Backend choice: feature_moments
    "kernel_gram": ("cpp", "numba", "reference"),  # RESULTS.md, Backend choice: kernel_gram
    "kernel_matvec": ("cpp", "numba", "reference"),  # RESULTS.md, Backend choice: kernel_matvec
    "kernel_normal_matvec": ("cpp", "numba", "reference"),  # RESULTS.md, Backend choice: kernel_normal_matvec
}


class BackendUnavailableError(RuntimeError):
    """A backend was asked for by name but cannot run on this machine."""


_lock = threading.Lock()
_modules: dict[str, ModuleType] = {}
_reasons: dict[str, str] = {}


def _probe_cupy() -> ModuleType:
    try:
        import cupy
    except ImportError as exc:
        raise BackendUnavailableError(f"cupy: not installed ({exc})") from None
    try:
        # import can succeed on a machine where allocation then fails: run one real kernel
        n = cupy.cuda.runtime.getDeviceCount()
        if n < 1:
            raise BackendUnavailableError("cupy: no CUDA device")
        x = cupy.arange(4, dtype=cupy.float32)
        if float((x * 2).sum()) != 12.0:
            raise BackendUnavailableError("cupy: a test kernel gave a wrong result")
    except BackendUnavailableError:
        raise
    except Exception as exc:  # CUDA driver/runtime errors come in many types
        raise BackendUnavailableError(f"cupy: no CUDA device ({type(exc).__name__}: {exc})") from None
    return importlib.import_module("fastrep._kernels.cupy")


def _load(name: str) -> ModuleType:
    if name == "reference":
        return importlib.import_module("fastrep._kernels.reference")
    if name == "cpp":
        # OpenMP's spinning threads fight OpenBLAS's for the same cores between the fused passes
        # and the BLAS calls (Nystrom was 1.5x slower); libgomp reads this once, when it loads.
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
        try:
            importlib.import_module("fastrep._ext")
        except ImportError as exc:
            raise BackendUnavailableError(
                f"cpp: the compiled extension fastrep._ext is not built ({exc}); "
                "reinstall with `pip install .` and a C++17 compiler"
            ) from None
        return importlib.import_module("fastrep._kernels.cpp")
    if name == "numba":
        try:
            importlib.import_module("numba")
        except ImportError as exc:
            raise BackendUnavailableError(f"numba: not installed ({exc})") from None
        return importlib.import_module("fastrep._kernels.numba")
    if name == "cupy":
        return _probe_cupy()
    raise ValueError(f"backend must be one of 'auto', {', '.join(map(repr, BACKENDS))}; got {name!r}")


_warned: set[str] = set()


def _warn_skipped_once(name: str, reason: str) -> None:
    if name == "cpp" and name not in _warned:
        _warned.add(name)
        warnings.warn(f"fastrep is running without its compiled core: {reason}. Using Numba.",
                      RuntimeWarning, stacklevel=4)


def get_backend(name: str) -> ModuleType:
    """Return the kernel module for backend ``name``, importing it once.

    Raises ``ValueError`` for an unknown name and :class:`BackendUnavailableError`
    (with the reason) for a known backend that cannot run here.
    """
    if not isinstance(name, str) or name not in BACKENDS:
        raise ValueError(f"backend must be one of 'auto', {', '.join(map(repr, BACKENDS))}; got {name!r}")
    with _lock:
        if name in _modules:
            return _modules[name]
        if name in _reasons:
            raise BackendUnavailableError(_reasons[name])
        try:
            mod = _load(name)
        except BackendUnavailableError as exc:
            _reasons[name] = str(exc)
            raise
        _modules[name] = mod
        return mod


def backends() -> dict[str, str]:
    """Report every backend: ``'available'`` or the reason it is not.

    >>> fastrep.backends()  # doctest: +SKIP
    {'reference': 'available', 'cpp': 'available', 'numba': 'available', 'cupy': 'cupy: not installed'}
    """
    out = {}
    for name in BACKENDS:
        try:
            get_backend(name)
            out[name] = "available"
        except BackendUnavailableError as exc:
            out[name] = str(exc)
    return out


def is_cupy_array(x) -> bool:
    return type(x).__module__.split(".")[0] == "cupy"


def array_module(*arrays):
    """``numpy`` or ``cupy``, from the arguments' types (``None`` arguments are ignored).

    Mixed NumPy and CuPy inputs raise ``TypeError``: fastrep never moves data between
    host and device behind the caller's back.
    """
    kinds = {is_cupy_array(a) for a in arrays if a is not None and not np.isscalar(a)}
    if kinds == {True, False}:
        raise TypeError(
            "inputs mix NumPy and CuPy arrays; move them to one device first "
            "(cupy.asarray(x) or cupy.asnumpy(x))"
        )
    if kinds == {True}:
        import cupy

        return cupy
    return np


def resolve(backend: str | None, op: str, *arrays) -> ModuleType:
    """The kernel module that runs operation ``op`` on ``arrays`` for ``backend``.

    ``backend`` is ``'auto'`` (or ``None``), or a name in :data:`BACKENDS`.
    """
    on_gpu = array_module(*arrays) is not np
    if backend is None or backend == "auto":
        env = os.environ.get("FASTREP_BACKEND", "").strip().lower()
        if env and env != "auto":
            if env not in BACKENDS:
                raise ValueError(
                    f"FASTREP_BACKEND must be one of 'auto', {', '.join(map(repr, BACKENDS))}; got {env!r}"
                )
            backend = env
        elif on_gpu:
            return get_backend("cupy")
        else:
            for name in AUTO_PREFERENCE.get(op, DEFAULT_CPU_ORDER):
                try:
                    return get_backend(name)
                except BackendUnavailableError as exc:
                    _warn_skipped_once(name, str(exc))
            return get_backend("reference")
    mod = get_backend(backend)
    if on_gpu and backend != "cupy":
        raise TypeError(f"backend={backend!r} runs on the CPU but the inputs are CuPy arrays; use backend='cupy'")
    if backend == "cupy" and not on_gpu and arrays:
        raise TypeError("backend='cupy' needs CuPy arrays; pass cupy.asarray(x) (data stays on the device)")
    return mod
