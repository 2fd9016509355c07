"""From stored cells to the paper's numbers: n*(d), slopes with bootstrap intervals, staircase.

* :func:`median_curves`: the median excess error over seeds at each (label, d, n).
* :func:`n_star`: n*(d), the smallest n at which the median excess error reaches
  epsilon or below, interpolated linearly in (log n, log error) between the last grid
  point above epsilon and the first one at or below it.
* :func:`fit_slopes`: the least-squares slope of log n* against log d per method, with a
  percentile bootstrap interval obtained by resampling seeds (independently at each d,
  since each (d, seed) is an independent experiment).
* :func:`staircase_prediction`: the kernel staircase: when d^l <= n < d^(l+1), a
  rotation-invariant kernel learns the degree <= l part of f* and nothing above, so its
  excess error is about the target's energy above degree l (over E[f*^2]).

All functions take the DataFrame of :func:`fastrep.experiments.load` and group by its
``arm`` column (one arm per full setting; see :func:`add_arms`), falling back to ``label``
for a hand-made frame without one; the ``label`` column of their results holds the arm.
"""

from __future__ import annotations

import json
import math
import numbers
from collections.abc import Mapping

import numpy as np
import pandas as pd

from .._validation import check_positive
from .spec import flat_keys

__all__ = [
    "add_arms",
    "fit_slopes",
    "median_curves",
    "n_star",
    "n_star_from_curve",
    "staircase_prediction",
    "staircase_curves",
]


#: Most bootstrap replicates :func:`fit_slopes` draws (they are drawn in blocks, so memory stays small).
MAX_BOOT = 100_000
_BOOT_BLOCK = 1000

#: Keys of a cell's params that vary inside one arm (its grid point and its seed's draws).
_PER_CELL = {"d", "n", "seed", "label", "target_resolved", "source_resolved", "n_source"}


def _setting(params: dict) -> dict:
    return {k: v for k, v in params.items() if k not in _PER_CELL}


def _short(key: str) -> str:
    return key[len("options.") :] if key.startswith("options.") else key


def add_arms(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` with an ``arm`` column: the label, made unique per full setting.

    A label whose cells share one setting (target, method, every option, evaluation sizes,
    results version) keeps its name; a label under which two settings were stored becomes
    one arm per setting, named by what differs: ``onestep (width=50)``, ``onestep
    (width=100)``. Settings are never pooled.

    Parameters
    ----------
    df : pandas.DataFrame
        A frame of :func:`fastrep.experiments.load` (columns ``label`` and ``params``); a
        frame that has an ``arm`` column already is returned as it is.

    Returns
    -------
    pandas.DataFrame
        A copy of ``df`` with the ``arm`` column (the label, for a frame without
        ``params``).

    Raises
    ------
    KeyError
        For a frame with ``params`` but no ``label`` column.

    Examples
    --------
    >>> import pandas as pd
    >>> from fastrep.experiments import add_arms
    >>> df = pd.DataFrame({"label": ["onestep", "onestep"],
    ...                    "params": [{"width": 50}, {"width": 100}]})
    >>> list(add_arms(df)["arm"])
    ['onestep (width=50)', 'onestep (width=100)']
    """
    if "arm" in df.columns:
        return df
    df = df.copy()
    if "params" not in df.columns or df.empty:
        df["arm"] = df["label"] if "label" in df.columns else pd.Series(dtype=str)
        return df
    keys = [json.dumps(_setting(p), sort_keys=True) for p in df["params"]]
    arms = list(df["label"])
    by_label: dict = {}
    for i, (label, key) in enumerate(zip(df["label"], keys, strict=True)):
        by_label.setdefault(label, {}).setdefault(key, []).append(i)
    for label, settings in by_label.items():
        if len(settings) < 2:
            continue
        flats = {key: flat_keys(json.loads(key)) for key in settings}
        every = sorted(set().union(*flats.values()))
        varying = [
            k for k in every if len({json.dumps(f.get(k), sort_keys=True) for f in flats.values()}) > 1
        ]
        for key, rows in settings.items():
            what = ", ".join(f"{_short(k)}={_fmt(flats[key].get(k))}" for k in varying)
            for i in rows:
                arms[i] = f"{label} ({what})"
    df["arm"] = arms
    return df


def _fmt(v) -> str:
    if isinstance(v, str):
        return v
    return json.dumps(v, sort_keys=True)


def _group(df: pd.DataFrame) -> str:
    return "arm" if "arm" in df.columns else "label"


def _check_frame(df, needed, what: str) -> None:
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"{what} needs a pandas DataFrame (experiments.load()); got {type(df).__name__}")
    missing = [c for c in needed if c not in df.columns]
    if missing:
        raise ValueError(
            f"{what}: the frame lacks the column(s) {', '.join(missing)} (it needs {', '.join(needed)}; "
            "use experiments.load())"
        )


def _check_epsilon(epsilon) -> float:
    return check_positive(epsilon, "epsilon")


def median_curves(df: pd.DataFrame, value: str = "excess_error") -> pd.DataFrame:
    """The median curves over seeds, one per arm, with their quartiles.

    Parameters
    ----------
    df : pandas.DataFrame
        A frame of :func:`fastrep.experiments.load` (or one with columns ``label``, ``d``,
        ``n`` and ``value``); grouped by its ``arm`` column when it has one.
    value : str, default 'excess_error'
        The column summarized.

    Returns
    -------
    pandas.DataFrame
        Columns ``label, d, n, median, q25, q75, seeds``, sorted by label, d and n; the label
        column holds the arm.

    Raises
    ------
    TypeError
        For a ``df`` that is not a pandas DataFrame.
    ValueError
        For a frame that lacks one of the columns (named in the message).

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame([{"label": "rf", "method": "rf", "d": d, "seed": s, "n": n,
    ...                     "excess_error": min(1.0, d**2 / n)}  # n* grows like d**2
    ...                    for d in (10, 20) for s in (0, 1) for n in (100, 1000, 10_000)])
    >>> from fastrep.experiments import median_curves
    >>> median_curves(df).head(2)
      label   d     n  median  q25  q75  seeds
    0    rf  10   100     1.0  1.0  1.0      2
    1    rf  10  1000     0.1  0.1  0.1      2
    """
    _check_frame(df, ["label", "d", "n", value], "median_curves")
    if df.empty:
        return pd.DataFrame(columns=["label", "d", "n", "median", "q25", "q75", "seeds"])
    key = _group(df)
    g = df.dropna(subset=[value]).groupby([key, "d", "n"])[value]
    out = pd.DataFrame(
        {"median": g.median(), "q25": g.quantile(0.25), "q75": g.quantile(0.75), "seeds": g.count()}
    ).reset_index()
    out = out.rename(columns={key: "label"})
    return out.sort_values(["label", "d", "n"], ignore_index=True)


def n_star_from_curve(ns, errors, epsilon: float) -> tuple[float, str]:
    """n* from one curve; returns ``(n_star, status)``.

    ``ns``: increasing sample sizes; ``errors``: the (median) excess error at each.
    status ``"ok"`` (interpolated between grid points), ``"below_grid"`` (already at or
    below epsilon at the smallest n: n* <= ns[0], returned as ns[0]) or ``"above_grid"``
    (never reached: n* > ns[-1], returned as NaN).
    """
    ns = np.asarray(ns, dtype=float)
    errors = np.asarray(errors, dtype=float)
    hit = np.flatnonzero(errors <= epsilon)
    if hit.size == 0:
        return math.nan, "above_grid"
    k = int(hit[0])
    if k == 0:
        return float(ns[0]), "below_grid"
    # errors are positive in practice; guard the logarithm against an exact 0
    e0, e1 = max(errors[k - 1], 1e-300), max(errors[k], 1e-300)
    l0, l1 = math.log(ns[k - 1]), math.log(ns[k])
    if e0 == e1 or errors[k] == epsilon:
        return float(ns[k]), "ok"
    t = (math.log(epsilon) - math.log(e0)) / (math.log(e1) - math.log(e0))
    return float(math.exp(l0 + t * (l1 - l0))), "ok"


def _seed_matrix(g: pd.DataFrame, label) -> tuple[np.ndarray, np.ndarray] | None:
    """(ns, errors (len(ns), seeds)) of one (arm, d)'s cells ``g`` over the seeds present at every
    n; None when no seed is. Two cells for one (n, seed) mean two settings under one arm: refused."""
    if g.duplicated(["n", "seed"]).any():
        raise ValueError(
            f"arm {label!r} has two cells at d = {g['d'].iloc[0]} for one (n, seed): two settings share "
            "the arm; use experiments.load(), whose `arm` column separates them"
        )
    piv = g.pivot_table(index="n", columns="seed", values="excess_error", aggfunc="first").sort_index()
    piv = piv.dropna(axis=1, how="any")
    if piv.shape[1] == 0:
        return None
    return piv.index.to_numpy(dtype=float), piv.to_numpy(dtype=float)


def _error_matrices(df: pd.DataFrame, label: str) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """d -> (ns, errors (len(ns), seeds)) over the seeds present at every n of that d (one arm)."""
    out = {}
    sub = df[df[_group(df)] == label]
    for d, g in sub.groupby("d"):
        mat = _seed_matrix(g, label)
        if mat is not None:
            out[int(d)] = mat
    return out


def _boot_n_stars(ns, errs, epsilon, idx) -> tuple[np.ndarray, np.ndarray]:
    """(n*, status) of the median curve of each bootstrap replicate of the seeds.

    ``ns`` (k,), ``errs`` (k, seeds), ``idx`` (n_boot, seeds) int: replicate b's columns. The
    statuses are :func:`n_star_from_curve`'s; an ``above_grid`` replicate's n* is +inf. The
    medians are taken in blocks of replicates, so memory stays O(k * seeds * block)."""
    n_boot = idx.shape[0]
    vals, status = np.empty(n_boot), np.empty(n_boot, dtype=object)
    for lo in range(0, n_boot, _BOOT_BLOCK):
        meds = np.median(errs[:, idx[lo : lo + _BOOT_BLOCK]], axis=2)  # (k, block)
        for b in range(meds.shape[1]):
            v, st = n_star_from_curve(ns, meds[:, b], epsilon)
            vals[lo + b], status[lo + b] = (math.inf if st == "above_grid" else v), st
    return vals, status


def n_star(df: pd.DataFrame, epsilon: float) -> pd.DataFrame:
    """n*(d) per arm: the smallest n at which the median excess error reaches ``epsilon``.

    Interpolated linearly in (log n, log error) between the last grid point above epsilon
    and the first one at or below it.

    Parameters
    ----------
    df : pandas.DataFrame
        A frame of :func:`fastrep.experiments.load` (columns ``label, method, d, n, seed,
        excess_error``); grouped by its ``arm`` column when it has one.
    epsilon : float
        The error threshold, a positive finite number.

    Returns
    -------
    pandas.DataFrame
        Columns ``label, method, d, n_star, status, seeds, n_max``: ``status`` is 'ok'
        (interpolated), 'below_grid' (n* <= the smallest n, which is returned) or
        'above_grid' (never reached: NaN); ``n_max`` is the largest n of that arm's grid at
        that d (the bound of an 'above_grid' n*).

    Raises
    ------
    ValueError
        For an ``epsilon`` that is not a positive finite number, a frame that lacks a column,
        or an arm with two cells at one (d, n, seed).
    TypeError
        For a ``df`` that is not a pandas DataFrame.

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame([{"label": "rf", "method": "rf", "d": d, "seed": s, "n": n,
    ...                     "excess_error": min(1.0, d**2 / n)}  # n* grows like d**2
    ...                    for d in (10, 20) for s in (0, 1) for n in (100, 1000, 10_000)])
    >>> from fastrep.experiments import n_star
    >>> n_star(df, epsilon=0.25)[["d", "n_star", "status"]].round(1)
        d  n_star status
    0  10   400.0     ok
    1  20  1600.0     ok
    """
    epsilon = _check_epsilon(epsilon)
    _check_frame(df, ["label", "method", "d", "n", "seed", "excess_error"], "n_star")
    key = _group(df)
    rows = []
    for label in sorted(df[key].unique()) if not df.empty else []:
        method = df.loc[df[key] == label, "method"].iloc[0]
        for d, (ns, errs) in sorted(_error_matrices(df, label).items()):
            value, status = n_star_from_curve(ns, np.median(errs, axis=1), epsilon)
            rows.append(
                {
                    "label": label,
                    "method": method,
                    "d": d,
                    "n_star": value,
                    "status": status,
                    "seeds": errs.shape[1],
                    "n_max": int(max(ns)),
                }
            )
    return pd.DataFrame(rows, columns=["label", "method", "d", "n_star", "status", "seeds", "n_max"])


def _slope(ds, nstars) -> float:
    x, y = np.log(np.asarray(ds, float)), np.log(np.asarray(nstars, float))
    return float(np.polyfit(x, y, 1)[0])


def fit_slopes(
    df: pd.DataFrame, epsilon: float, *, n_boot: int = 1000, level: float = 0.95, seed: int = 0
) -> pd.DataFrame:
    """Slope of log n* against log d per method, with a bootstrap interval over seeds.

    Only the d whose n* was interpolated inside the n grid (status ``"ok"``) enter the
    fit: a censored n* is a bound, not a value. Each bootstrap replicate resamples the
    seeds with replacement at every d, recomputes the median curves, n*(d) and the slope;
    replicates with fewer than two usable d are dropped (``boot_used`` counts the rest).

    Parameters
    ----------
    df : pandas.DataFrame
        A frame of :func:`fastrep.experiments.load`, as :func:`n_star` takes it.
    epsilon : float
        The error threshold of n*, a positive finite number.
    n_boot : int, default 1000
        Bootstrap replicates, 1 to 100000.
    level : float, default 0.95
        The interval's coverage, in (0, 1).
    seed : int, default 0
        Seed of the bootstrap's resampling.

    Returns
    -------
    pandas.DataFrame
        Columns ``label, method, slope, low, high, d_used, d_total, boot_used``, one row per
        arm; slope, low and high are NaN when fewer than two d have an n*.

    Raises
    ------
    ValueError
        For an invalid ``epsilon``, ``n_boot`` or ``level`` (named in the message), or a
        frame :func:`n_star` refuses.
    TypeError
        For a ``df`` that is not a pandas DataFrame.

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame([{"label": "rf", "method": "rf", "d": d, "seed": s, "n": n,
    ...                     "excess_error": min(1.0, d**2 / n)}  # n* grows like d**2
    ...                    for d in (10, 20) for s in (0, 1) for n in (100, 1000, 10_000)])
    >>> from fastrep.experiments import fit_slopes
    >>> fit_slopes(df, epsilon=0.25, n_boot=20)[["slope", "low", "high", "d_used"]].round(3)
       slope  low  high  d_used
    0    2.0  2.0   2.0       2
    """
    epsilon = _check_epsilon(epsilon)
    if isinstance(n_boot, bool) or not isinstance(n_boot, numbers.Integral) or not 1 <= n_boot <= MAX_BOOT:
        raise ValueError(f"n_boot must be an integer in [1, {MAX_BOOT:,}]; got {n_boot!r}")
    if not isinstance(level, numbers.Real) or not 0 < level < 1:
        raise ValueError(f"level must be a number in (0, 1); got {level!r}")
    rng = np.random.default_rng(seed)
    alpha = (1 - level) / 2
    stars = n_star(df, epsilon)
    rows = []
    for label, g in stars.groupby("label", sort=True):
        ok = g[g["status"] == "ok"]
        row = {
            "label": label,
            "method": g["method"].iloc[0],
            "slope": math.nan,
            "low": math.nan,
            "high": math.nan,
            "d_used": len(ok),
            "d_total": len(g),
            "boot_used": 0,
        }
        if len(ok) >= 2:
            row["slope"] = _slope(ok["d"], ok["n_star"])
            mats = _error_matrices(df, label)
            ds = sorted(int(d) for d in ok["d"])
            boot = np.full((n_boot, len(ds)), np.nan)
            for j, d in enumerate(ds):
                ns, errs = mats[d]
                idx = rng.integers(0, errs.shape[1], size=(n_boot, errs.shape[1]))
                vals, status = _boot_n_stars(ns, errs, epsilon, idx)
                boot[:, j] = np.where(status == "ok", vals, np.nan)
            slopes = []
            for b in range(n_boot):
                keep = np.isfinite(boot[b])
                if keep.sum() >= 2:
                    slopes.append(_slope(np.asarray(ds)[keep], boot[b][keep]))
            if slopes:
                row["low"], row["high"] = (float(v) for v in np.quantile(slopes, [alpha, 1 - alpha]))
                row["boot_used"] = len(slopes)
        rows.append(row)
    return pd.DataFrame(
        rows, columns=["label", "method", "slope", "low", "high", "d_used", "d_total", "boot_used"]
    )


def staircase_prediction(energy_by_degree: dict, d: int, n) -> np.ndarray:
    """Predicted kernel excess error at sample sizes ``n`` and dimension ``d``: the staircase.

    With l = floor(log n / log d) (so d^l <= n < d^(l+1)), the prediction is
    sum_{k > l} energy_k / sum_k energy_k: the share of E[f*^2] above degree l.

    Parameters
    ----------
    energy_by_degree : dict of int to float
        The target's energy per Hermite degree
        (:meth:`fastrep.MultiIndexTarget.energy_by_degree`), with a positive total.
    d : int
        The input dimension, >= 2.
    n : float or array of float
        Sample sizes, > 0.

    Returns
    -------
    ndarray of shape (len(n),), float64
        The predicted excess error at each n (a scalar n gives one entry).

    Raises
    ------
    TypeError
        For ``energy_by_degree`` that is not a mapping, or ``n`` that is not numeric.
    ValueError
        For ``d`` not an integer >= 2, degrees or energies that are not non-negative integers
        and finite numbers >= 0, a total that is not positive, or ``n`` not finite and > 0
        (each named in the message).

    Examples
    --------
    >>> from fastrep.experiments import staircase_prediction
    >>> staircase_prediction({0: 0.0, 2: 0.5, 3: 0.5}, d=10, n=[50, 500, 5000])
    array([1. , 0.5, 0. ])
    """
    if not isinstance(energy_by_degree, Mapping):
        raise TypeError(f"energy_by_degree must be a dict of degree -> energy; got "
                        f"{type(energy_by_degree).__name__}")
    for k, v in energy_by_degree.items():
        if isinstance(k, bool) or not isinstance(k, numbers.Integral) or k < 0:
            raise ValueError(f"energy_by_degree must have non-negative integer degrees; got {k!r}")
        if isinstance(v, bool) or not isinstance(v, numbers.Real) or not (math.isfinite(v) and v >= 0):
            raise ValueError(f"energy_by_degree must have finite energies >= 0; got {v!r} at degree {k}")
    if isinstance(d, bool) or not isinstance(d, numbers.Integral) or d < 2:
        raise ValueError(f"d must be an integer >= 2 for the staircase; got {d!r}")
    try:
        n = np.atleast_1d(np.asarray(n, dtype=float))
    except (TypeError, ValueError):
        raise TypeError(f"n must be a number or an array of numbers; got {type(n).__name__}") from None
    if n.ndim != 1 or not np.all(np.isfinite(n) & (n > 0)):
        raise ValueError(f"n must be finite sample sizes > 0 (a number or a 1-D array); got {n!r}")
    total = float(sum(energy_by_degree.values()))
    if not total > 0:
        raise ValueError("energy_by_degree must have a positive total")
    level = np.floor(np.log(n) / math.log(d) + 1e-9)
    degs = np.array(sorted(energy_by_degree), dtype=float)
    energies = np.array([energy_by_degree[k] for k in sorted(energy_by_degree)], dtype=float)
    return np.array([energies[degs > lv].sum() / total for lv in level])


def staircase_curves(df: pd.DataFrame, target_spec: dict, ns) -> pd.DataFrame:
    """The staircase prediction at each d of ``df`` over ``ns``, averaged over the stored seeds
    (a preset with random coefficients has a different energy profile per seed).

    Columns ``d, n, prediction``.
    """
    from .presets import build_target

    rows = []
    ns = np.asarray(sorted(ns), dtype=float)
    for d, g in df.groupby("d"):
        seeds = sorted(g["seed"].unique())[:8]
        preds = []
        for s in seeds:
            e = build_target(target_spec, int(d), int(s)).energy_by_degree()
            preds.append(staircase_prediction(e, int(d), ns))
        mean = np.mean(preds, axis=0)
        rows.extend(
            {"d": int(d), "n": float(n), "prediction": float(p)} for n, p in zip(ns, mean, strict=True)
        )
    return pd.DataFrame(rows, columns=["d", "n", "prediction"])
