"""Grids and laws in d: the values a sweep runs at.

Geometric or listed n and d grids (:func:`geometric_grid`), seed lists (a count or explicit
seeds), and the laws ``ceil(c d^k)`` that give per-d limits and source sizes (parsed by
``_parse_d_law``, evaluated by :func:`d_law`).
"""

from __future__ import annotations

import math

from .checks import LIMITS, SpecError, _check_keys, _int, _is_int, _is_real, _seed


def geometric_grid(value, key: str = "n", *, high: int | None = None) -> tuple[int, ...]:
    """A sorted tuple of distinct positive integers from a list or a geometric table.

    ``[250, 500, 1000]`` is taken as is (sorted); ``{start, stop, num}`` is
    ``numpy.geomspace(start, stop, num)`` rounded; ``{start, stop, factor}`` (factor
    defaults to 2) is start, start*factor, ... up to and including stop (with 1e-9 slack).
    Every value lies in [1, high]; at most ``LIMITS["grid_values"]`` values.
    """
    if high is None:
        high = LIMITS["samples"]
    if isinstance(value, (list, tuple)):
        if not value:
            raise SpecError(key, "must not be empty")
        if len(value) > LIMITS["grid_values"]:
            raise SpecError(key, f"has {len(value):,} values; at most {LIMITS['grid_values']:,}")
        vals = [_int(v, f"{key}[{i}]", high=high) for i, v in enumerate(value)]
        return tuple(sorted(set(vals)))
    if _is_int(value):
        return (_int(value, key, high=high),)
    if not isinstance(value, dict):
        raise SpecError(
            key, f"must be a list of integers or a table {{start, stop, num|factor}}; got {value!r}"
        )
    _check_keys(value, {"start", "stop", "num", "factor"}, f"{key}.")
    for k in ("start", "stop"):
        if k not in value:
            raise SpecError(f"{key}.{k}", "missing")
    start = _int(value["start"], f"{key}.start", high=high)
    stop = _int(value["stop"], f"{key}.stop", high=high)
    if stop < start:
        raise SpecError(f"{key}.stop", f"must be >= start ({start}); got {stop}")
    if "num" in value and "factor" in value:
        raise SpecError(f"{key}.num", "give either num or factor, not both")
    if "num" in value:
        num = _int(value["num"], f"{key}.num", high=LIMITS["grid_values"])
        if num == 1:
            return (start,)
        ratio = (stop / start) ** (1.0 / (num - 1))
        vals = [round(start * ratio**k) for k in range(num)]
    else:
        factor = value.get("factor", 2)
        if not _is_real(factor) or not math.isfinite(factor) or not factor > 1:
            raise SpecError(f"{key}.factor", f"must be a number > 1; got {factor!r}")
        count = math.floor(math.log(stop * (1 + 1e-9) / start) / math.log(factor)) + 1
        if count > LIMITS["grid_values"]:
            raise SpecError(
                f"{key}.factor",
                f"{factor!r} gives {count:,} values from {start} to {stop}; "
                f"at most {LIMITS['grid_values']:,}",
            )
        vals, k = [], 0
        while start * factor**k <= stop * (1 + 1e-9):
            vals.append(round(start * factor**k))
            k += 1
    return tuple(sorted(set(vals)))


def _parse_seeds(seeds, key: str) -> tuple[int, ...]:
    """A count (0..k-1) or an explicit list of distinct seeds (0 <= seed <= 2**63 - 1)."""
    if _is_int(seeds):
        return tuple(range(_int(seeds, key, high=LIMITS["grid_values"])))
    if isinstance(seeds, (list, tuple)) and seeds:
        if len(seeds) > LIMITS["grid_values"]:
            raise SpecError(key, f"has {len(seeds):,} seeds; at most {LIMITS['grid_values']:,}")
        out = tuple(_seed(s, f"{key}[{i}]") for i, s in enumerate(seeds))
        if len(set(out)) != len(out):
            raise SpecError(key, "has duplicates")
        return out
    raise SpecError(key, f"must be a count or a non-empty list of non-negative integers; got {seeds!r}")


def _parse_d_law(n, key: str, *, default_power: float, high: int | None = None):
    """An integer, or ``{factor = c, power = k}`` meaning ceil(c d^k), 0 <= k <= LIMITS["power"]."""
    if isinstance(n, dict):
        _check_keys(n, {"factor", "power"}, f"{key}.")
        factor, power = n.get("factor", 1.0), n.get("power", default_power)
        if not _is_real(factor) or not math.isfinite(factor) or not factor > 0:
            raise SpecError(f"{key}.factor", f"must be a positive number; got {factor!r}")
        if not _is_real(power) or not 0 <= power <= LIMITS["power"]:
            raise SpecError(f"{key}.power", f"must be a number in [0, {LIMITS['power']:g}]; got {power!r}")
        return {"factor": float(factor), "power": float(power)}
    return _int(n, key, high=high or LIMITS["samples"])


def d_law(n, d: int) -> int | float:
    """Evaluate an integer or ``{factor, power}`` (see :func:`_parse_d_law`) at dimension ``d``
    (``math.inf`` beyond 2**62, computed in logarithms so it never overflows)."""
    if isinstance(n, dict):
        log = math.log(n["factor"]) + n["power"] * math.log(d)
        if log > 62 * math.log(2):
            return math.inf
        return max(1, math.ceil(n["factor"] * d ** n["power"] - 1e-9))
    return int(n)


def source_n(source: dict, d: int) -> int:
    """n_s for dimension ``d`` from a parsed source table."""
    return d_law(source["n"], d)
