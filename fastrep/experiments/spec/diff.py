"""Setting differences: what makes two specs of one sweep name compute different things.

:func:`setting_differences` compares two :meth:`~.model.SweepSpec.to_dict` outputs on the
setting only (results version, target, evaluation, each label's method, options and source),
so a store can refuse a changed setting under an old name while a grown grid extends it;
:func:`flat_keys` flattens nested tables into dotted keys for that comparison and for the
analysis's arm labels.
"""

from __future__ import annotations

import json


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
