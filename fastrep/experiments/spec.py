"""Sweep specifications: what to run, checked completely before anything runs.

A sweep is written as TOML (or the same structure as a Python dict)::

    name = "separation"
    epsilon = 0.25            # error threshold for n*(d)
    seeds = 3                 # or an explicit list, e.g. [0, 1, 2]

    [target]                  # a preset, or explicit Hermite terms
    preset = "separation"     # separation | single_index | random | giant_step | staircase | ...
    noise = 0.0               # label-noise variance sigma^2
    # terms = [{alpha = [2, 0], coef = 1.0}, {alpha = [1, 1], coef = 0.5}]

    [grid]
    d = [8, 12, 16]
    n = {start = 250, stop = 16000, factor = 2}   # geometric; or a list of integers

    [evaluation]
    n_val = 2000              # validation samples (ridge selection)
    n_test = 5000             # test samples for the excess error

    [methods.onestep]         # the table name is the label; `method` defaults to it
    width = 1000              # every other key is an option of the learner, except
    seeds = 16                # per-method seeds (count or list), overriding the sweep's

    [methods.ntk]
    n = {start = 250, stop = 8000}   # per-method grid override (also `d`)
    n_max = {factor = 1, power = 3}  # and per-d limits: only n <= d^3 (also n_min)

    [methods.transfer]
    n = [50, 100, 200, 400]          # the n_t grid
    [methods.transfer.source]
    target = {preset = "random", p = 2}   # the source head; U is shared with the target
    n = {factor = 8, power = 2}           # n_s = ceil(8 d^2), or an integer

Everything is checked before anything runs, and every error raises :class:`SpecError` (a
``ValueError``) whose message starts with the offending key, e.g. ``grid.n[2]: must be a
positive integer; got -5``:

* ``name``: 1-100 of ``A-Z a-z 0-9 _ . -`` (it names folders under the results folder);
* every option by the learner itself: the estimator is built with the options and its own
  parameter validation runs (``width = 51`` fails as ``OneStepNetwork(width=51)`` would),
  ``backend`` must be one that runs here; the learner's defaults are filled in, so
  ``{}`` and ``{width = 1000}`` are one setting;
* the target by building it at every d (r <= d, preset arguments), degree <= 50;
* seeds by :func:`fastrep._validation.check_seed` (0 <= seed <= 2**63 - 1);
* sizes by :data:`LIMITS` (grids of at most 10^4 values, n <= 10^9, n_val/n_test <= 10^8,
  laws ``ceil(c d^k)`` with k <= 10). The cell count and the estimated time (see
  :mod:`.plan`) are checked by :func:`~.runner.run`, which refuses more than 10^5 cells or
  a day unless ``yes=True`` (``fastrep sweep --yes``).

A *cell* is one (target, d, n, method, seed, options) combination; see :class:`Cell`.
Its identity is the SHA-256 of its canonical JSON, the primary key of the results store:
the whole setting (resolved target, every option, evaluation sizes, the
:data:`RESULTS_VERSION`). A store refuses a sweep name it already holds with another
setting (``fastrep sweep --as NEW_NAME`` runs it under a new name); a grown grid or more
seeds under the same setting extend the sweep.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import numbers
import os
import re
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from .._validation import MAX_SEED, check_int, check_seed
from .methods import METHODS, OptionError, check_options
from .presets import RESULTS_VERSION, TARGET_PRESETS, build_target, resolve_target

__all__ = [
    "LIMITS",
    "RESULTS_VERSION",
    "Cell",
    "MethodSpec",
    "SpecError",
    "SweepSpec",
    "check_name",
    "flat_keys",
    "geometric_grid",
    "load_spec",
    "setting_differences",
]

_TOP_KEYS = {"name", "epsilon", "seeds", "target", "grid", "evaluation", "methods", "description"}
_TARGET_KEYS_TERMS = {"terms", "noise", "normalize", "r"}
_EVAL_DEFAULTS = {"n_val": 2000, "n_test": 5000}

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
    """An invalid sweep specification; the message starts with the offending key."""

    def __init__(self, key: str, message: str):
        self.key = key
        super().__init__(f"{key}: {message}" if key else message)


# --------------------------------------------------------------------------- helpers


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


def _canonical_json(obj) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), allow_nan=False)


# --------------------------------------------------------------------------- target


def _normalize_target(t, key: str = "target") -> dict:
    """Canonical target table: ``{"preset": name, ...preset args, "noise": s2}`` or
    ``{"terms": [[alpha, coef], ...], "noise": s2, "normalize": bool}`` (terms sorted)."""
    if not isinstance(t, dict):
        raise SpecError(key, f"must be a table with `preset` or `terms`; got {t!r}")
    if "preset" in t and "terms" in t:
        raise SpecError(key, "give either `preset` or `terms`, not both")
    out: dict[str, Any] = {}
    noise = t.get("noise", 0.0)
    if not _is_real(noise) or not math.isfinite(noise) or noise < 0:
        raise SpecError(
            f"{key}.noise", f"must be a non-negative number (the label-noise variance); got {noise!r}"
        )
    out["noise"] = float(noise)
    if "preset" in t:
        from .presets import preset_parameters

        preset = t["preset"]
        if preset not in TARGET_PRESETS:
            raise SpecError(
                f"{key}.preset", f"unknown preset {preset!r}; known: {', '.join(sorted(TARGET_PRESETS))}"
            )
        out["preset"] = preset
        names, any_kw = preset_parameters(preset)
        takes = (names | ({"normalize"} if any_kw else set())) - {"seed", "U", "noise"}
        for k, v in t.items():
            if k in ("preset", "noise"):
                continue
            if k in ("d", "seed", "U"):
                raise SpecError(
                    f"{key}.{k}", "is set per cell by the sweep (d from the grid, seed from `seeds`)"
                )
            if k not in takes:
                raise SpecError(
                    f"{key}.{k}",
                    f"unknown argument of preset {preset!r}; it takes {', '.join(sorted(takes)) or 'none'}",
                )
            out[k] = _jsonable(v, f"{key}.{k}")
        return out
    if "terms" not in t:
        raise SpecError(key, "missing `preset` or `terms`")
    _check_keys(t, _TARGET_KEYS_TERMS, f"{key}.")
    terms = t["terms"]
    if isinstance(terms, dict):  # {"2,0" = 1.0} style
        items = []
        for k, v in terms.items():
            try:
                alpha = [int(s) for s in str(k).replace("(", "").replace(")", "").split(",") if s.strip()]
            except ValueError:
                raise SpecError(
                    f"{key}.terms.{k}", 'keys must be comma-separated integers like "2,0"'
                ) from None
            items.append({"alpha": alpha, "coef": v})
        terms = items
    if not isinstance(terms, list) or not terms:
        raise SpecError(f"{key}.terms", "must be a non-empty list of {alpha = [...], coef = ...}")
    rows, r = [], None
    for i, term in enumerate(terms):
        k = f"{key}.terms[{i}]"
        if isinstance(term, (list, tuple)) and len(term) == 2:
            term = {"alpha": term[0], "coef": term[1]}
        if not isinstance(term, dict) or set(term) != {"alpha", "coef"}:
            raise SpecError(k, "must be a table {alpha = [...], coef = ...}")
        alpha = term["alpha"]
        if not isinstance(alpha, (list, tuple)) or not alpha:
            raise SpecError(f"{k}.alpha", f"must be a non-empty list of non-negative integers; got {alpha!r}")
        alpha = [_int(a, f"{k}.alpha", low=0, high=LIMITS["degree"]) for a in alpha]
        if sum(alpha) > LIMITS["degree"]:
            raise SpecError(f"{k}.alpha", f"has degree {sum(alpha)}; at most {LIMITS['degree']}")
        if r is None:
            r = len(alpha)
        elif len(alpha) != r:
            raise SpecError(f"{k}.alpha", f"has length {len(alpha)} but earlier terms have length {r}")
        coef = term["coef"]
        if not _is_real(coef) or not math.isfinite(coef):
            raise SpecError(f"{k}.coef", f"must be a finite number; got {coef!r}")
        rows.append([alpha, float(coef)])
    if "r" in t and t["r"] != r:
        raise SpecError(f"{key}.r", f"is {t['r']!r} but the multi-indices have length {r}")
    if all(c == 0 for _, c in rows):
        raise SpecError(f"{key}.terms", "all coefficients are zero")
    seen = set()
    for alpha, _ in rows:
        if tuple(alpha) in seen:
            raise SpecError(f"{key}.terms", f"multi-index {alpha} appears twice")
        seen.add(tuple(alpha))
    out["terms"] = sorted(rows)
    out["normalize"] = bool(t.get("normalize", True))
    return out


# --------------------------------------------------------------------------- spec


@dataclass(frozen=True)
class MethodSpec:
    """One method entry of a sweep.

    ``label`` is the table name (used in tables and plots), ``method`` the registry name
    (:data:`fastrep.experiments.methods.METHODS`), ``options`` the learner's keyword
    arguments with its defaults filled in (see :func:`~.methods.check_options`), ``d`` and
    ``n`` its grids (the sweep's unless overridden). ``source``
    (transfer only) is ``{"target": {...}, "n": int | {"factor", "power"}}``; the
    transfer network's options are the method's options.
    """

    label: str
    method: str
    options: dict
    d: tuple[int, ...]
    n: tuple[int, ...]
    source: dict | None = None
    n_min: int | dict | None = None
    n_max: int | dict | None = None
    seeds: tuple[int, ...] | None = None  # overrides the sweep's seeds (cheap methods can afford more)

    def n_at(self, d: int) -> tuple[int, ...]:
        """The n grid at dimension ``d``: ``n`` clipped to [n_min(d), n_max(d)]."""
        lo = d_law(self.n_min, d) if self.n_min is not None else 0
        hi = d_law(self.n_max, d) if self.n_max is not None else math.inf
        return tuple(n for n in self.n if lo <= n <= hi)


@dataclass(frozen=True)
class Cell:
    """One unit of work: ``params`` is its canonical, JSON-ready description.

    ``params`` keys: ``results_version`` (:data:`RESULTS_VERSION`), ``target`` (canonical
    target table), ``target_resolved`` (its terms, noise and U seed at this (d, seed)),
    ``d``, ``n``, ``method`` (registry name), ``label``, ``seed``, ``options`` (every
    option, the learner's defaults filled in), ``evaluation`` and, for transfer,
    ``source``, ``source_resolved`` and ``n_source``. ``cell_id`` is the SHA-256 hex digest
    (first 32 characters) of the canonical JSON of ``params``: the whole setting, so two
    cells share an id only when they compute the same thing. Every random draw of the cell
    derives from ``seed``.
    """

    params: dict
    cell_id: str = field(init=False)

    def __post_init__(self):
        object.__setattr__(self, "cell_id", cell_id(self.params))

    def __getattr__(self, name):  # cell.d, cell.n, cell.method ...
        try:
            return self.params[name]
        except KeyError:
            raise AttributeError(name) from None


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


def cell_id(params: dict) -> str:
    return hashlib.sha256(_canonical_json(params).encode()).hexdigest()[:32]


@dataclass(frozen=True)
class SweepSpec:
    """A validated sweep. Build with :func:`load_spec` (from TOML, a dict or a path)."""

    name: str
    epsilon: float
    seeds: tuple[int, ...]
    target: dict
    d: tuple[int, ...]
    n: tuple[int, ...]
    methods: tuple[MethodSpec, ...]
    evaluation: dict
    raw: dict = field(repr=False, compare=False, default_factory=dict)

    def count(self) -> int:
        """The number of cells, computed without building them."""
        return sum(
            len(m.n_at(d)) * len(m.seeds or self.seeds) for m in self.methods for d in m.d
        )

    def cells(self) -> list[Cell]:
        """Every cell, in a fixed order (method, d, n, seed)."""
        if self.count() > LIMITS["cells_hard"]:
            raise SpecError("", f"the sweep has {self.count():,} cells; at most {LIMITS['cells_hard']:,}")
        return list(self._cells)

    @functools.cached_property
    def _cells(self) -> tuple[Cell, ...]:
        resolved: dict = {}

        def target_at(tspec, d, seed):
            key = (_canonical_json(tspec), d, seed)
            if key not in resolved:
                resolved[key] = resolve_target(tspec, d, seed)
            return resolved[key]

        out = []
        for m in self.methods:
            for d in m.d:
                for n in m.n_at(d):
                    for seed in (m.seeds or self.seeds):
                        params = {
                            "results_version": RESULTS_VERSION,
                            "target": self.target,
                            "target_resolved": target_at(self.target, d, seed),
                            "d": d,
                            "n": n,
                            "method": m.method,
                            "label": m.label,
                            "seed": seed,
                            "options": m.options,
                            "evaluation": self.evaluation,
                        }
                        if m.source is not None:
                            src = target_at(m.source["target"], d, seed)
                            params["source"] = m.source
                            params["source_resolved"] = {"terms": src["terms"], "noise": src["noise"]}
                            params["n_source"] = d_law(m.source["n"], d)
                        out.append(Cell(params))
        return tuple(out)

    def renamed(self, name: str) -> SweepSpec:
        """The same sweep under another (checked) name: ``fastrep sweep --as NAME``."""
        spec = replace(self, name=check_name(name, "--as"))
        spec.__dict__.pop("_cells", None)
        return spec

    def to_dict(self) -> dict:
        """The canonical spec as plain JSON-ready data (stored next to the results)."""
        return {
            "name": self.name,
            "results_version": RESULTS_VERSION,
            "epsilon": self.epsilon,
            "seeds": list(self.seeds),
            "target": self.target,
            "grid": {"d": list(self.d), "n": list(self.n)},
            "evaluation": self.evaluation,
            "methods": {
                m.label: {
                    "method": m.method,
                    "options": m.options,
                    "d": list(m.d),
                    "n": list(m.n),
                    **({"source": m.source} if m.source is not None else {}),
                    **({"seeds": list(m.seeds)} if m.seeds is not None else {}),
                    **({"n_min": m.n_min} if m.n_min is not None else {}),
                    **({"n_max": m.n_max} if m.n_max is not None else {}),
                }
                for m in self.methods
            },
        }


def flat_keys(obj, prefix: str = "") -> dict:
    """``{"a.b": leaf}`` for nested dicts (lists stay leaves)."""
    if isinstance(obj, dict):
        out = {}
        for k, v in obj.items():
            out.update(flat_keys(v, f"{prefix}{k}."))
        return out
    return {prefix[:-1]: obj}


def setting_differences(old: dict, new: dict) -> list[str]:
    """What changes the meaning of a stored sweep's cells, as ``key: old -> new`` lines.

    ``old`` and ``new`` are :meth:`SweepSpec.to_dict` outputs. The results version, the
    target, the evaluation sizes and each label's method, options and source are the
    setting; the grids, seeds and epsilon only choose which cells exist (a grown grid
    extends a sweep: its new cells share the old ones' settings) and are not compared.
    """

    def setting(spec: dict) -> dict:
        methods = {
            label: {k: m.get(k) for k in ("method", "options", "source")}
            for label, m in (spec.get("methods") or {}).items()
        }
        return {
            "results_version": spec.get("results_version"),
            "target": spec.get("target"),
            "evaluation": spec.get("evaluation"),
            "methods": methods,
        }

    a, b = flat_keys(setting(old)), flat_keys(setting(new))
    out = []
    for key in sorted(set(a) | set(b)):
        label = key.split(".")[1] if key.startswith("methods.") else None
        both = label in (old.get("methods") or {}) and label in (new.get("methods") or {})
        if label is not None and not both:
            continue  # an added or dropped label is a new arm, not a changed one
        va, vb = a.get(key, "(unset)"), b.get(key, "(unset)")
        if va != vb:
            out.append(f"{key}: {json.dumps(va)} -> {json.dumps(vb)}")
    return out


def _parse_source(src, key: str) -> dict:
    if not isinstance(src, dict):
        raise SpecError(key, "must be a table with `target` and `n`")
    _check_keys(src, {"target", "n"}, f"{key}.")
    if "target" not in src:
        raise SpecError(f"{key}.target", "missing (the source head; it shares U with the sweep's target)")
    st = _normalize_target(src["target"], f"{key}.target")
    if "n" not in src:
        raise SpecError(f"{key}.n", "missing (an integer, or {factor = c, power = k} for n_s = ceil(c d^k))")
    return {"target": st, "n": _parse_d_law(src["n"], f"{key}.n", default_power=2, high=LIMITS["samples"])}


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


def _check_target(tspec: dict, key: str, ds, seed: int, *, U_of: dict | None = None):
    """Build the target at every d (the target's own checks: r <= d, preset arguments ...);
    returns the target at the smallest d."""
    first = None
    for d in sorted(ds):
        try:
            U = build_target(U_of, d, seed).U if U_of is not None else None
            t = build_target(tspec, d, seed, U=U)
        except (TypeError, ValueError) as exc:
            raise SpecError(key, f"cannot be built at d = {d}: {exc}") from None
        first = t if first is None else first
    return first


def _parse(raw: dict) -> SweepSpec:
    if not isinstance(raw, dict):
        raise SpecError("", f"a sweep spec must be a table; got {type(raw).__name__}")
    _check_keys(raw, _TOP_KEYS, "")

    name = check_name(raw.get("name", "sweep"))
    if "target" not in raw:
        raise SpecError(
            "target", 'missing; name a preset (target.preset = "separation") or give target.terms'
        )
    target = _normalize_target(raw["target"])

    eps = raw.get("epsilon", 0.25)
    if not _is_real(eps) or not (0 < eps < math.inf):
        raise SpecError("epsilon", f"must be a positive number; got {eps!r}")

    seeds = _parse_seeds(raw.get("seeds", 3), "seeds")

    grid = raw.get("grid", {})
    if not isinstance(grid, dict):
        raise SpecError("grid", "must be a table with `d` and `n`")
    _check_keys(grid, {"d", "n"}, "grid.")
    for k in ("d", "n"):
        if k not in grid:
            raise SpecError(f"grid.{k}", "missing")
    d_grid = geometric_grid(grid["d"], "grid.d", high=LIMITS["d"])
    n_grid = geometric_grid(grid["n"], "grid.n")

    ev = raw.get("evaluation", {})
    if not isinstance(ev, dict):
        raise SpecError("evaluation", "must be a table")
    _check_keys(ev, set(_EVAL_DEFAULTS), "evaluation.")
    evaluation = {
        k: _int(ev.get(k, v), f"evaluation.{k}", high=LIMITS["evaluation"]) for k, v in _EVAL_DEFAULTS.items()
    }

    methods_raw = raw.get("methods")
    if not isinstance(methods_raw, dict) or not methods_raw:
        raise SpecError("methods", f"missing or empty; give at least one of {', '.join(sorted(METHODS))}")
    methods = []
    for label, table in methods_raw.items():
        key = f"methods.{label}"
        if table is None:
            table = {}
        if not isinstance(table, dict):
            raise SpecError(key, "must be a table of options")
        table = dict(table)
        method = table.pop("method", label)
        if method not in METHODS:
            raise SpecError(
                key if "method" not in methods_raw[label] else f"{key}.method",
                f"unknown method {method!r}; known: {', '.join(sorted(METHODS))}",
            )
        d_m = geometric_grid(table.pop("d"), f"{key}.d", high=LIMITS["d"]) if "d" in table else d_grid
        n_m = geometric_grid(table.pop("n"), f"{key}.n") if "n" in table else n_grid
        limits = {
            k: _parse_d_law(table.pop(k), f"{key}.{k}", default_power=1) if k in table else None
            for k in ("n_min", "n_max")
        }
        m_seeds = _parse_seeds(table.pop("seeds"), f"{key}.seeds") if "seeds" in table else None
        source = None
        if "source" in table:
            if method != "transfer":
                raise SpecError(f"{key}.source", "only the transfer method takes a source")
            source = _parse_source(table.pop("source"), f"{key}.source")
        elif method == "transfer":
            raise SpecError(f"{key}.source", "missing (transfer needs a source head and n_s)")
        first_seed = (m_seeds or seeds)[0]
        t_small = _check_target(target, "target", d_m, first_seed)
        if source is not None:
            _check_target(source["target"], f"{key}.source.target", d_m, first_seed, U_of=target)
            for d in d_m:
                if d_law(source["n"], d) > LIMITS["samples"]:
                    raise SpecError(f"{key}.source.n", f"gives n_s > {LIMITS['samples']:,} at d = {d}")
        options = _jsonable(table, key)
        try:
            options = check_options(method, options, target=t_small, n=max(n_m))
        except OptionError as exc:
            raise SpecError(f"{key}.{exc.option}" if exc.option else key, str(exc)) from None
        m = MethodSpec(
            label=label, method=method, options=options, d=d_m, n=n_m, source=source, seeds=m_seeds, **limits
        )
        for d in m.d:
            if not m.n_at(d):
                raise SpecError(
                    f"{key}.n_max" if m.n_max is not None else f"{key}.n_min",
                    f"leaves no n of the grid at d = {d}",
                )
        methods.append(m)

    return SweepSpec(
        name=name,
        epsilon=float(eps),
        seeds=seeds,
        target=target,
        d=d_grid,
        n=n_grid,
        methods=tuple(methods),
        evaluation=evaluation,
        raw=raw,
    )


def load_spec(spec) -> SweepSpec:
    """A validated :class:`SweepSpec` from a ``SweepSpec``, a dict, a TOML path, TOML text or the
    name of a packaged example (``"separation"``: see ``fastrep examples``).

    Raises :class:`SpecError` naming the offending key, ``FileNotFoundError`` for a missing
    file. Nothing is run or written.
    """
    if isinstance(spec, SweepSpec):
        return spec
    if isinstance(spec, dict):
        return _parse(spec)
    if isinstance(spec, (str, os.PathLike)):
        from .examples import names, resolve  # a packaged example's name -> its file

        spec = resolve(spec)
        text = str(spec)
        if isinstance(spec, os.PathLike) or (
            not text.lstrip().startswith(("[", "#")) and "\n" not in text and "=" not in text
        ):
            path = Path(spec)
            if path.is_dir():
                raise IsADirectoryError(f"spec must be a TOML file; {path} is a folder")
            if not path.is_file():
                known = ", ".join(names())
                raise FileNotFoundError(f"spec file not found: {path} (packaged examples: {known})")
            text = path.read_text()
            where = str(path)
        else:
            where = "spec"
        try:
            raw = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise SpecError("", f"{where} is not valid TOML: {exc}") from None
        return _parse(raw)
    raise TypeError(f"spec must be a SweepSpec, a dict, or a TOML path/text; got {type(spec).__name__}")
