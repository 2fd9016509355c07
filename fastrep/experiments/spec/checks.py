"""The limits and value checks every part of a sweep spec is held to.

:data:`LIMITS` (the ranges a spec must stay within), :class:`SpecError` (the one error a
bad spec raises, its message starting with the offending key), and the small checks the
other modules of :mod:`fastrep.experiments.spec` build on: integers and seeds (by
:mod:`fastrep._validation`), sweep names, the allowed keys of a table, JSON-safe option
values and the canonical JSON that cell identities hash.
"""

from __future__ import annotations

import json
import math
import numbers
import re

from ..._validation import MAX_SEED, check_int, check_seed

#: Ranges a spec is held to before anything runs (beyond them a sweep hangs, overflows or
#: cannot be stored). ``cells`` and ``cost_s`` bound what :func:`~.runner.run` starts without
#: ``yes=True`` (``--yes``); ``cells_hard`` is never exceeded.
LIMITS = {
    "grid_values": 10_000,  # values in one d or n grid, and seeds in one list or count
    "samples": 10**9,  # n, n_s: training samples of one cell
    "evaluation": 10**8,  # n_val, n_test
    "d": 10**6,
    "power": 10.0,  # the exponent k of an n law ceil(c d^k)
    "degree": 50,  # a target's degree (Hermite features lose precision far below this)
    "cells": 10**5,
    "cost_s": 86_400.0,  # estimated time of a sweep, seconds
    "cells_hard": 10**7,
}
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")


class SpecError(ValueError):
    """An invalid sweep specification; the message starts with the offending key.

    A ``ValueError`` raised by :func:`fastrep.experiments.load_spec` (and by the CLI's
    ``fastrep sweep``) before anything runs.

    Parameters
    ----------
    key : str
        The offending key as a dotted path (``"methods.ntk.ridge"``); ``""`` for the
        spec as a whole. Kept as the exception's ``key`` attribute.
    message : str
        What is wrong, after the key.

    Examples
    --------
    >>> from fastrep.experiments import SpecError, load_spec
    >>> spec = {"name": "x", "epsilon": 0.25, "seeds": [0], "target": {"preset": "separation"},
    ...         "grid": {"d": [8], "n": [64]}, "methods": {"rf": {"method": "random_features", "width": -3}}}
    >>> try:
    ...     load_spec(spec)
    ... except SpecError as exc:
    ...     print(exc.key)
    methods.rf.width
    """

    def __init__(self, key: str, message: str):
        self.key = key
        super().__init__(f"{key}: {message}" if key else message)


def _is_int(x) -> bool:
    return isinstance(x, numbers.Integral) and not isinstance(x, bool)


def _is_real(x) -> bool:
    return isinstance(x, numbers.Real) and not isinstance(x, bool)


def _int(x, key: str, *, low: int = 1, high: int | None = None) -> int:
    """An integer in [low, high] by :func:`fastrep._validation.check_int` (TOML's 1e6 is a float,
    so integral floats count), or a :class:`SpecError` naming ``key``."""
    if isinstance(x, float) and x.is_integer():
        x = int(x)
    try:
        return check_int(x, key, low=low, high=high)
    except (TypeError, ValueError):
        what = "a positive integer" if low == 1 else f"an integer >= {low}"
        if high is not None:
            what += f" and <= {high:,}"
        raise SpecError(key, f"must be {what}; got {x!r}") from None


def _seed(x, key: str) -> int:
    if isinstance(x, float) and x.is_integer():
        x = int(x)
    try:
        return check_seed(x, key)
    except (TypeError, ValueError):
        raise SpecError(key, f"must be an integer seed in [0, 2**63 - 1 = {MAX_SEED}]; got {x!r}") from None


def check_name(name, key: str = "name") -> str:
    """A sweep name: 1-100 of ``A-Z a-z 0-9 _ . -``, starting with a letter or digit.

    Names become folder and file names under the results folder, so they can hold no
    path separator and no ``..``.
    """
    if not isinstance(name, str) or not _NAME.fullmatch(name) or ".." in name:
        raise SpecError(
            key,
            "must be 1-100 letters, digits, '_', '.' or '-', starting with a letter or digit "
            f"(it names folders under the results folder); got {name!r}",
        )
    return name


def _check_keys(table: dict, allowed: set[str], prefix: str) -> None:
    for k in table:
        if k not in allowed:
            raise SpecError(f"{prefix}{k}", f"unknown key; expected one of {', '.join(sorted(allowed))}")


def _jsonable(value, key: str):
    """Options must survive a JSON round trip unchanged (they are hashed and stored)."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if _is_int(value):
        return int(value)
    if _is_real(value):
        v = float(value)
        if not math.isfinite(v):
            raise SpecError(key, f"must be finite; got {value!r}")
        return v
    if isinstance(value, (list, tuple)):
        return [_jsonable(v, f"{key}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise SpecError(key, f"table keys must be strings; got {k!r}")
            out[k] = _jsonable(v, f"{key}.{k}")
        return out
    raise SpecError(key, f"must be a number, string, boolean, list or table; got {type(value).__name__}")


def _canonical_json(obj) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), allow_nan=False)
