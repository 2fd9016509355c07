"""Targets in a sweep spec: the canonical target table, and the check that it builds.

``_normalize_target`` turns a target table (a preset with its arguments, or explicit Hermite
terms) into the one canonical form that is hashed into cell identities; ``_check_target``
builds it at every d of the grid so that a target that cannot exist (r > d, a bad preset
argument) fails before anything runs.
"""

from __future__ import annotations

import math
from typing import Any

from ..presets import TARGET_PRESETS, build_target, preset_parameters
from .checks import LIMITS, SpecError, _check_keys, _int, _is_real, _jsonable

_TARGET_KEYS_TERMS = {"terms", "noise", "normalize", "r"}


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
        preset = t["preset"]
        if not isinstance(preset, str) or preset not in TARGET_PRESETS:
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
