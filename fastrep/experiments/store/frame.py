"""The tidy form of stored cells: one column per option and per timed stage, arms labelled.

:func:`tidy` turns the raw cells (``params``, ``timings`` as parsed JSON) into the frame
that analysis and reports use: each method option and each timing stage as a column, the
results version and the source size lifted out of ``params``, ``finished_at`` as a UTC
datetime, and an ``arm`` per setting (:func:`~fastrep.experiments.analysis.add_arms`).
"""

from __future__ import annotations

import json


def tidy(cells, path=None):
    """The tidy form of a raw cells frame (see :func:`load`)."""
    import pandas as pd

    from ..analysis import add_arms

    df = cells.copy()
    base = set(df.columns) | {"arm", "results_version", "n_source"}
    options = sorted({k for p in df["params"] for k in (p.get("options") or {})})
    for k in options:
        col = k if k not in base else f"option.{k}"
        df[col] = [_cell_value((p.get("options") or {}).get(k)) for p in df["params"]]
    stages = sorted({k for t in df["timings"] for k in (t or {})})
    for k in stages:
        df[f"time_{k}"] = [float((t or {}).get(k, float("nan"))) for t in df["timings"]]
    df["results_version"] = [p.get("results_version", 1) for p in df["params"]]
    if any("n_source" in p for p in df["params"]):
        df["n_source"] = [p.get("n_source") for p in df["params"]]
    df["finished_at"] = pd.to_datetime(df["finished_at"], utc=True, format="ISO8601")
    return add_arms(df)


def _cell_value(v):
    return json.dumps(v, sort_keys=True) if isinstance(v, (list, dict)) else v
