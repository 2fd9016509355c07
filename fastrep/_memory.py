"""One memory budget for every guard and cache in fastrep.

Every allocation whose size a user controls (a network's width, a Gram matrix, a number of
multi-indices, a kept stream) is estimated first and checked against one budget,
``max_memory``: the argument of that name where a function or estimator has one, else the
environment variable ``FASTREP_MAX_MEMORY`` (bytes), else :data:`DEFAULT_FRACTION` of the
memory available when the check runs.
"""

from __future__ import annotations

import math
import numbers
import os

__all__ = ["DEFAULT_FRACTION", "available_memory", "check_allocation", "resolve_max_memory"]

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
