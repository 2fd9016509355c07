"""One memory budget for every guard and cache in fastrep.

Every allocation whose size a user controls (a network's width, a Gram matrix, a number of
multi-indices, a kept stream) is estimated first and checked against one budget,
``max_memory``: the argument of that name where a function or estimator has one, else the
environment variable ``FASTREP_MAX_MEMORY`` (bytes), else :data:`DEFAULT_FRACTION` of the
memory available when the check runs.
"""

from __future__ import annotations

import contextlib
import math
import numbers
import os
import threading

__all__ = [
    "DEFAULT_FRACTION", "KEEP_FRACTION", "available_memory", "check_allocation", "kept_bytes",
    "release_memory", "resolve_max_memory", "scratch", "workspace",
]

#: Share of the currently available RAM that fastrep may commit when no budget is given.
DEFAULT_FRACTION = 0.5


def available_memory() -> int:
    """Bytes of RAM available now (psutil's ``available``: free plus reclaimable)."""
    import psutil

    return int(psutil.virtual_memory().available)


def _check_budget(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a positive number of bytes or None; got {value!r}")
    value = float(value)
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a positive finite number of bytes or None; got {value!r}")
    return int(value)


def resolve_max_memory(max_memory=None, name: str = "max_memory") -> int:
    """The budget in bytes: ``max_memory`` if given, else ``FASTREP_MAX_MEMORY``, else the default share."""
    if max_memory is not None:
        return _check_budget(max_memory, name)
    env = os.environ.get("FASTREP_MAX_MEMORY", "").strip()
    if env:
        try:
            value = float(env)
        except ValueError:
            raise ValueError(f"FASTREP_MAX_MEMORY must be a number of bytes; got {env!r}") from None
        return _check_budget(value, "FASTREP_MAX_MEMORY")
    return int(DEFAULT_FRACTION * available_memory())


def _fmt(nbytes: float) -> str:
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if nbytes >= scale:
            return f"{nbytes / scale:.3g} {unit}"
    return f"{int(nbytes)} bytes"


def check_allocation(nbytes, *, what: str, argument: str, max_memory=None) -> int:
    """Refuse, before allocating, a user-sized allocation that does not fit the budget.

    ``nbytes`` may be a float (it is an estimate, and may overflow int64 for absurd inputs);
    ``what`` says what would be allocated, ``argument`` which argument sizes it. Raises
    ``MemoryError`` naming both, the bytes needed and the budget; returns the budget.
    """
    budget = resolve_max_memory(max_memory)
    need = float(nbytes)
    if not math.isfinite(need) or need > budget:
        raise MemoryError(
            f"{argument}: {what} would need {_fmt(need) if math.isfinite(need) else 'unbounded memory'}, "
            f"more than the memory budget of {_fmt(budget)} (max_memory, or FASTREP_MAX_MEMORY); "
            f"lower {argument} or raise the budget"
        )
    return budget


# --- the work arrays a fit reuses: one pool per thread ----------------------------------------
#
# A fresh array is fresh pages, and the first touch of a page is paid in page faults, which in
# virtual machines whose freed memory goes back to the host cost far more than touching it again
# (benchmarks/RESULTS_ONESTEP.md, "First touch of fresh pages"). A fit's large temporaries (the
# per-chunk products and features, the kept stream rows) are therefore taken from a per-thread
# pool that outlives the fit, as CuPy's and PyTorch's memory pools do; NumPy has no such pool
# for large arrays and glibc returns anything above 32 MiB to the kernel at once, so it is
# written here.

#: Share of the memory budget (:func:`resolve_max_memory`) that a thread's pool may keep between
#: fits; above it the pool is emptied when the fit ends.
KEEP_FRACTION = 0.25

_POOL = threading.local()


def _arrays() -> dict:
    arrays = getattr(_POOL, "arrays", None)
    if arrays is None:
        arrays = _POOL.arrays = {}
    return arrays


@contextlib.contextmanager
def workspace(max_memory=None):
    """The scope of one fit's work arrays (:func:`scratch`).

    Within it, :func:`scratch` hands out arrays kept in this thread's pool; when the outermost
    scope ends, the pool is kept for the next fit if it holds at most :data:`KEEP_FRACTION` of
    the budget (``max_memory``, else ``FASTREP_MAX_MEMORY``, else half the available RAM) and
    ``FASTREP_KEEP_WORKSPACE`` is not ``0``; otherwise it is emptied. Only NumPy arrays outlive
    the fit (other libraries' arrays are dropped with it: CuPy pools device memory itself).
    Nested scopes share the outer one. :func:`release_memory` empties the pool at any time.
    """
    depth = getattr(_POOL, "depth", 0)
    if depth == 0:
        _POOL.lent = set()  # the exclusive names lent in this fit
    _POOL.depth = depth + 1
    try:
        yield
    finally:
        _POOL.depth = depth
        if depth == 0:
            arrays = _arrays()
            for key in [k for k in arrays if k[1] != "numpy"]:  # CuPy has its own pool
                del arrays[key]
            keep = os.environ.get("FASTREP_KEEP_WORKSPACE", "1").strip() != "0"
            if not keep or kept_bytes() > KEEP_FRACTION * resolve_max_memory(max_memory):
                release_memory()


def scratch(xp, name: str, shape: tuple, dtype, *, exclusive: bool = False):
    """An uninitialised C-contiguous ``shape`` array of ``dtype`` in namespace ``xp``.

    Inside a :func:`workspace`: the leading rows of the array this thread's pool keeps under
    ``name`` (replaced by a larger one when too small), so its pages are already touched; its
    contents are whatever the last user left. ``exclusive=True`` lends the name once per
    workspace (a second request in the same scope gets a fresh array): for an array that must
    stay intact while others with the same name are used. Outside any workspace: a fresh array.
    Never hand a pooled array to a caller who keeps it: the next fit overwrites it.
    """
    shape = tuple(int(s) for s in shape)
    if not getattr(_POOL, "depth", 0):
        return xp.empty(shape, dtype=dtype)
    key = (name, xp.__name__.removeprefix("array_api_compat."))  # NumPy by either name is one pool
    if exclusive:
        if key in _POOL.lent:
            return xp.empty(shape, dtype=dtype)
        _POOL.lent.add(key)
    arrays = _arrays()
    a = arrays.get(key)
    if a is None or a.shape[0] < shape[0] or tuple(a.shape[1:]) != shape[1:] or a.dtype != dtype:
        arrays.pop(key, None)  # the old one goes first, so the two never coexist
        a = arrays[key] = xp.empty(shape, dtype=dtype)
    return a[: shape[0], ...]


def kept_bytes() -> int:
    """The bytes this thread's pool of work arrays keeps between fits.

    A fit's large work arrays (kept stream rows, per-chunk products and features) stay in a
    per-thread pool for the next fit, within a quarter of the memory budget
    (``FASTREP_KEEP_WORKSPACE=0`` turns the pool off). Only NumPy arrays are counted.

    Returns
    -------
    int
        Bytes held by this thread's pool.

    See Also
    --------
    release_memory : empty the pool.

    Examples
    --------
    >>> import fastrep
    >>> fastrep.release_memory() >= 0 and fastrep.kept_bytes() == 0
    True
    """
    return sum(int(a.nbytes) for k, a in _arrays().items() if k[1] == "numpy")


def release_memory() -> int:
    """Empty this thread's pool of work arrays (kept between fits) and return the bytes released.

    Other threads' pools are theirs to release. Results never depend on the pool.

    Returns
    -------
    int
        The bytes released.

    See Also
    --------
    kept_bytes : what the pool holds.

    Examples
    --------
    >>> import fastrep
    >>> freed = fastrep.release_memory()
    >>> fastrep.kept_bytes()
    0
    """
    n = kept_bytes()
    _POOL.arrays = {}
    return n
