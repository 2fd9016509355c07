"""Which implementation of an operation runs, and the execution context of a fit.

Every name of the Ops contract (see ``fastrep/_kernels/__init__.py``) exists in four modules
with the same signatures:

``reference``
    float64 on any array-API library (NumPy, CuPy, array_api_strict). The specification every
    other backend is tested against.
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
Arrays of another array-API library (array_api_strict, ...) run on the reference.

A learner resolves once per fit into a frozen :class:`Context` (:func:`context`): the module
of each operation family, the array namespace, the dtype, the chunk size and the data source.
Its stages receive the context; ``Context.backend_`` is what the learner records as
``backend_``. This module and ``fastrep/_kernels/`` are the only places that name an array
library (with the array leaf ``fastrep._arrays``, whose :func:`namespace`, :func:`on_host` and
:func:`to_host` are re-exported here); the science layer asks a fit's :class:`Context`
(``ctx.xp``, ``ctx.on_host``, ``ctx.host(a)``, ``ctx.asarray(a)``), and a function without a fit
``fastrep._arrays.place(*arrays)`` (the same ``xp``, ``on_host`` and ``host``).
"""

from __future__ import annotations

import importlib
import os
import threading
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType, ModuleType

import array_api_compat
import numpy as np

from ._arrays import array_args, array_module, is_cupy_array, namespace, on_host, to_host
from ._memory import workspace
from ._warnings import user_stacklevel

__all__ = [
    "BACKENDS",
    "AUTO_PREFERENCE",
    "BackendUnavailableError",
    "Context",
    "FAMILIES",
    "Portable",
    "array_module",
    "backends",
    "check_backend",
    "context",
    "fit_plan",
    "get_backend",
    "is_cupy_array",
    "namespace",
    "on_host",
    "resolve",
    "stream_context",
    "to_host",
]

BACKENDS = ("reference", "cpp", "numba", "cupy")

#: Fastest available CPU backend per operation, in order, as measured on the
#: development machine by ``python benchmarks/report.py`` (see benchmarks/RESULTS.md).
#: Operations not listed use ``DEFAULT_CPU_ORDER``. Each entry cites the table of
#: benchmarks/RESULTS.md ("Backend choice for auto") that measured it; tests/test_benchmarks.py
#: checks that every hot operation is listed. A learner resolves each of its operation families
#: (:data:`FAMILIES`) by the order of one operation: OneStepNetwork's 'onestep' family by
#: "onestep_gradient", its 'features' family (Phi^T Phi and the validation features) by
#: "feature_moments"; predictions resolve "relu_features" alone. cpp and numba run the same BLAS
#: products around fused passes there; numba's relu pass into a fresh (n, m) array wins end to end.
DEFAULT_CPU_ORDER = ("cpp", "numba", "reference")
AUTO_PREFERENCE: dict[str, tuple[str, ...]] = {
    "hermite_features": ("cpp", "numba", "reference"),  # RESULTS.md, Backend choice: hermite_features
    "gaussian_block": ("cpp", "numba", "reference"),  # RESULTS.md, Backend choice: gaussian_block
    "onestep_gradient": ("cpp", "numba", "reference"),  # RESULTS.md, Backend choice: onestep_gradient
    "relu_features": ("numba", "cpp", "reference"),  # RESULTS.md, Backend choice: relu_features
    "feature_moments": ("numba", "cpp", "reference"),  # RESULTS.md, Backend choice: feature_moments
    "kernel_gram": ("cpp", "numba", "reference"),  # RESULTS.md, Backend choice: kernel_gram
    "kernel_matvec": ("cpp", "numba", "reference"),  # RESULTS.md, Backend choice: kernel_matvec
    "kernel_normal_matvec": ("cpp", "numba", "reference"),  # RESULTS.md, Backend choice: kernel_normal_matvec
}


#: Contract names that need no measured order: array handling, and LAPACK calls that are the
#: same SciPy code in cpp and numba. They follow ``DEFAULT_CPU_ORDER``.
DEFAULT_ORDER_OPS = ("namespace", "asarray", "to_host", "precision", "cholesky", "solve_triangular",
                     "cho_solve", "eigh")


#: The operation families each learner resolves once per fit: {learner: {family: the contract
#: operation whose order picks the family's backend}}. A fitted learner's ``backend_`` has these
#: keys (a fit on in-memory arrays has no 'stream'; a cholesky NTK fit no 'nystrom').
FAMILIES: dict[str, dict[str, str]] = {
    "OneStepNetwork": {"stream": "gaussian_block", "onestep": "onestep_gradient",
                       "features": "feature_moments", "ridge": "eigh"},
    "RandomFeaturesRegressor": {"stream": "gaussian_block", "features": "feature_moments", "ridge": "eigh"},
    "NTKRegressor": {"gram": "kernel_gram", "ridge": "cholesky", "nystrom": "kernel_normal_matvec",
                     "predict": "kernel_matvec"},
    "OracleRegressor": {"stream": "gaussian_block", "hermite": "hermite_features", "ridge": "eigh"},
}


def fit_plan(backend="auto") -> dict[str, dict[str, str]]:
    """{learner: {family: backend name}}: what a fit on NumPy data would run, resolved as the
    learners resolve it (``fastrep backends`` prints it)."""
    return {learner: {family: _resolve(backend, op, "numpy").name for family, op in fams.items()}
            for learner, fams in FAMILIES.items()}


class BackendUnavailableError(RuntimeError):
    """A backend was asked for by name but cannot run on this machine.

    A ``RuntimeError``, raised by a learner's fit (or ``fastrep.GaussianStream``) given
    ``backend=<name>`` when that backend is not installed or finds no device; its message
    says why and how to install it. ``backend='auto'`` never raises it: it picks among the
    available backends. :func:`fastrep.backends` reports the reason for each backend without
    raising.

    Its message starts with the backend's name, then the reason it cannot run.

    See Also
    --------
    backends : every backend's status.

    Examples
    --------
    >>> import fastrep
    >>> missing = [name for name, why in fastrep.backends().items() if why != "available"]
    >>> raised = []
    >>> for name in missing:  # e.g. cupy on a machine without a GPU
    ...     try:
    ...         fastrep.GaussianStream(fastrep.MultiIndexTarget.separation(d=4), seed=0, backend=name)
    ...     except fastrep.BackendUnavailableError as exc:
    ...         raised.append(str(exc).startswith(name))
    >>> raised == [True] * len(missing)
    True
    >>> issubclass(fastrep.BackendUnavailableError, RuntimeError)
    True
    """


_lock = threading.Lock()
_modules: dict[str, ModuleType] = {}
_reasons: dict[str, str] = {}


def _probe_cupy() -> ModuleType:
    try:
        import cupy
    except ImportError as exc:
        raise BackendUnavailableError(f'cupy: not installed ({exc}); pip install "fastrep[gpu]"') from None
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
        # and the BLAS calls (the Nystrom CG ran slower, benchmarks/RESULTS_KERNELS.md); libgomp reads
        # this once, when it loads.
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
                      RuntimeWarning, stacklevel=user_stacklevel())


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

    Each backend is probed once (imported, and for cupy one kernel run on the device); a
    backend that cannot run is reported, never raised.

    Returns
    -------
    dict of str to str
        ``{name: 'available' or the reason}`` for each name of ``BACKENDS``, e.g.
        ``{'reference': 'available', 'cpp': 'available', 'numba': 'available',
        'cupy': 'cupy: not installed (...)'}``.

    Raises
    ------
    None
        A backend that cannot run is a value of the result, not an exception.

    See Also
    --------
    BackendUnavailableError : what a learner raises when it is given such a backend by name.

    Examples
    --------
    >>> import fastrep
    >>> status = fastrep.backends()
    >>> sorted(status)
    ['cpp', 'cupy', 'numba', 'reference']
    >>> status["reference"]
    'available'
    """
    out = {}
    for name in BACKENDS:
        try:
            get_backend(name)
            out[name] = "available"
        except BackendUnavailableError as exc:
            out[name] = str(exc)
    return out


def check_backend(backend, name: str = "backend") -> str:
    """A user's ``backend`` argument: 'auto' (also for None) or a name in :data:`BACKENDS`."""
    if backend is None:
        return "auto"
    if not isinstance(backend, str) or (backend != "auto" and backend not in BACKENDS):
        raise ValueError(f"{name} must be one of 'auto', {', '.join(map(repr, BACKENDS))}; got {backend!r}")
    return backend


def _kind(xp) -> str:
    """'numpy', 'cupy' or 'other' (an array-API library only the reference runs on)."""
    if array_api_compat.is_numpy_namespace(xp):
        return "numpy"
    if array_api_compat.is_cupy_namespace(xp):
        return "cupy"
    return "other"


def _env_backend():
    env = os.environ.get("FASTREP_BACKEND", "").strip().lower()
    if env and env != "auto":
        if env not in BACKENDS:
            raise ValueError(
                f"FASTREP_BACKEND must be one of 'auto', {', '.join(map(repr, BACKENDS))}; got {env!r}"
            )
        return env
    return None


def _resolve(backend, op, kind) -> ModuleType:
    """The module for ``op`` given the kind of the data's library (None: no data to go by)."""
    if backend is None or backend == "auto":
        backend = _env_backend()
        if backend is None:
            if kind == "cupy":
                return get_backend("cupy")
            if kind == "other":
                return get_backend("reference")
            for name in AUTO_PREFERENCE.get(op, DEFAULT_CPU_ORDER):
                try:
                    return get_backend(name)
                except BackendUnavailableError as exc:
                    _warn_skipped_once(name, str(exc))
            return get_backend("reference")
    mod = get_backend(backend)
    if kind == "cupy" and backend not in ("cupy", "reference"):
        raise TypeError(
            f"backend={backend!r} runs on the CPU but the inputs are CuPy arrays; use backend='cupy'"
        )
    if kind == "other" and backend != "reference":
        raise TypeError(
            f"backend={backend!r} cannot take these arrays (not NumPy or CuPy); use backend='reference'"
        )
    if backend == "cupy" and kind not in ("cupy", None):
        raise TypeError("backend='cupy' needs CuPy arrays; pass cupy.asarray(x) (data stays on the device)")
    return mod


def resolve(backend: str | None, op: str, *arrays) -> ModuleType:
    """The kernel module that runs operation ``op`` on ``arrays`` for ``backend``.

    ``backend`` is ``'auto'`` (or ``None``), or a name in :data:`BACKENDS`.
    """
    arrays = array_args(arrays)
    return _resolve(backend, op, _kind(namespace(*arrays)) if arrays else None)


@dataclass(frozen=True)
class Context:
    """Where and how one fit runs, resolved once (by :func:`context`) and passed to its stages.

    ops : {family: kernel module}, e.g. {'onestep': cpp, 'features': numba, 'ridge': cpp}.
    xp : the array namespace of the data (array-api-compat's, for NumPy and CuPy).
    dtype : numpy.dtype of the arithmetic (float32 or float64).
    chunk : rows per chunk, or None where the learner does not chunk.
    source : 'arrays' (in-memory data) or 'stream'.

    The context owns every move between host and device; a learner never calls the array
    leaf (``fastrep._arrays``) itself. Its names, for every learner and trainer:

    ``ctx.xp``
        the data's namespace: the arithmetic of the fit is written ``ctx.xp.<op>``.
    ``ctx.on_host``
        True when ``xp`` is NumPy's (the data lives in host memory); the one test a learner
        makes where host and device differ (e.g. whether to keep device copies for predictions).
    ``ctx.host(a)``
        a NumPy copy (or view) of ``a``: fitted attributes, scores and small sums come to the
        host through it.
    ``ctx.asarray(a, dtype=None)``
        ``a`` in the fit's namespace (host data is copied to the device).
    ``ctx[family]``, ``ctx.backend_``, ``ctx.xdtype``, ``ctx.workspace()``, ``ctx.precision()``,
    ``ctx.stream_backend()``
        the kernel module of an operation family, what ran, the dtype as ``xp``'s object, the
        fit's memory pool, the precision of the dense products, the generator of the fit's data.

    Functions without a fit (metrics, kernels, validation) use the same ``xp``, ``on_host`` and
    ``host`` of ``fastrep._arrays.place(*arrays)``.
    """

    ops: Mapping[str, ModuleType]
    xp: ModuleType
    dtype: np.dtype
    chunk: int | None = None
    source: str = "arrays"

    def __getitem__(self, family: str) -> ModuleType:
        return self.ops[family]

    @property
    def on_host(self) -> bool:
        """True when the data's namespace is NumPy's."""
        return array_api_compat.is_numpy_namespace(self.xp)

    @staticmethod
    def host(a) -> np.ndarray:
        """A NumPy copy (or view) of ``a``, whatever its library."""
        return to_host(a)

    @property
    def backend_(self) -> dict[str, str]:
        """{family: backend name}: what the learner records as ``backend_``."""
        return {family: mod.name for family, mod in self.ops.items()}

    @property
    def xdtype(self):
        """``dtype`` as the namespace's dtype object."""
        return getattr(self.xp, self.dtype.name)

    def asarray(self, a, dtype=None):
        """``a`` (host values, or an array of this namespace) as an array of the namespace.

        ``dtype``: a NumPy dtype (default: the context's). Host data is copied to the device.
        """
        dt = self.xdtype if dtype is None else getattr(self.xp, np.dtype(dtype).name)
        if array_api_compat.is_array_api_obj(a) and not isinstance(a, np.ndarray) \
                and array_api_compat.array_namespace(a) is not self.xp:
            a = to_host(a)
        return self.xp.asarray(a, dtype=dt)

    def stream_backend(self) -> str:
        """The backend that generates data where this context runs: the fit's own generator, the
        device for CuPy, else 'auto' (rows on the host, moved into ``xp`` by :meth:`asarray`)."""
        if "stream" in self.ops:
            return self.ops["stream"].name
        return "cupy" if _kind(self.xp) == "cupy" else "auto"

    def workspace(self, max_memory=None):
        """The context manager a fit runs in: the dense drivers' per-chunk work arrays (products,
        features) and a kept stream's rows come from this thread's pool, reused from one chunk
        to the next and kept for the next fit within the memory budget
        (:func:`fastrep._memory.workspace`; ``fastrep.release_memory()`` empties it)."""
        return workspace(max_memory)

    def precision(self, mode: str):
        """The context manager the dense products run in ('highest', or 'tf32' on CuPy float32)."""
        if mode == "tf32" and self.dtype != np.float32:
            raise ValueError(
                f"precision='tf32' needs backend='cupy' and dtype=float32; got dtype {self.dtype}"
            )
        return next(iter(self.ops.values())).precision(mode)


def context(backend, families: Mapping[str, str], *arrays, dtype, xp=None, chunk=None, source="arrays",
            ops: Mapping[str, ModuleType] | None = None, move_host_data: bool = False) -> Context:
    """Resolve ``backend`` once for every operation family of a fit.

    families : {family: the contract operation whose AUTO_PREFERENCE order picks its backend}.
    arrays : the data (their library decides, as for :func:`resolve`); or ``xp``, its namespace.
    ops : families already resolved elsewhere (a stream's generator), kept as they are.
    move_host_data : when ``backend`` names a backend that cannot take these NumPy arrays (cupy),
        run in that backend's own namespace instead: the caller moves the data with
        ``Context.asarray`` (the user asked for that backend by name). Otherwise a TypeError.
    """
    arrays = array_args(arrays)
    if move_host_data and xp is None and backend not in (None, "auto") and on_host(*arrays):
        mod = get_backend(check_backend(backend))
        try:
            mod.namespace(*arrays)
        except TypeError:
            xp = mod.namespace()
    kind = None if (xp is None and not arrays) else _kind(xp if xp is not None else namespace(*arrays))
    if xp is None:
        xp = namespace(*arrays)
    resolved = {family: _resolve(backend, op, kind) for family, op in families.items()}
    resolved.update(ops or {})
    return Context(MappingProxyType(resolved), xp, np.dtype(dtype), chunk, source)


def stream_context(backend, families: Mapping[str, str], stream, *, dtype, chunk=None) -> Context:
    """:func:`context` for a fit on a stream: the namespace is that of the stream's chunks.

    A :class:`fastrep.GaussianStream` brings its generator, recorded as the 'stream' family; any
    other stream (anything with ``d``, ``dtype`` and ``chunks``) is asked for its first row.
    """
    X0, _ = next(iter(stream.chunks(0, 1, 1)))
    gen = getattr(stream, "ops", None)
    return context(backend, families, X0, dtype=dtype, chunk=chunk, source="stream",
                   ops={"stream": gen} if gen is not None else None)


class Portable:
    """Mixin of the learners: a fitted model pickles without its Context (modules, device state).

    Fitted arrays are kept on the host, so the unpickled model predicts anywhere (a model fitted
    on a GPU predicts on a machine without one, and the reverse).
    """

    #: private attributes that hold modules or device arrays: not pickled
    _UNPICKLED = ("_ctx", "_device")

    def __getstate__(self):
        state = dict(super().__getstate__())
        for key in self._UNPICKLED:
            state.pop(key, None)
        return state
