"""The beyond-one-step study (``fastrep demo --beyond``): the quantities the generic report lacks.

The study is four sweeps in one store (``defaults.toml``'s ``[beyond_*]`` tables, run by the
usual runner); this module reads their cells and trajectories and writes the report's
"Beyond one step" section (:func:`beyond_section`), with a judged line per claim:

* :func:`separation_agreement`: n*(d) of T = 1 and T = 2 fresh-batch steps on the separation
  target, with a bootstrap interval per d; they agree when every d's intervals overlap.
* :func:`scaled_alignment`: d x alignment of Algorithm 1 on He3 at n = 4 d^2 per d; bounded when
  the slope of log(d x alignment) against log d stays below 1/2.
* :func:`overlap_table` / :func:`overlap_slopes`: the final overlap of W with U after two steps
  on one reused batch and on fresh batches, per d; the ICML 2024 claim (it does not shrink as d
  grows) holds when the slope of log overlap against log d stays above -1/2 (chance, r/d, has
  slope -1).
* :func:`online_n_star` / :func:`online_slopes`: online SGD's n*(d), the samples seen when the
  trajectory's alignment first reaches :data:`ALIGNMENT_THRESHOLD`, and each protocol's slope
  beside the exponent the papers predict (:data:`PREDICTED`).
* :func:`staircase_steps`: on the staircase, the first step at which each direction's overlap
  reaches :data:`LEARNED_FACTOR` x chance; "one direction per step" when direction k is first
  reached at step k. :func:`staircase_slopes`: the slope of log(overlap of u_k at t = k) against
  log d; GiantStep's claim (n = O(d) per step learns u_k at step k) is an overlap of order one,
  slope 0, where chance (1/d) has slope -1. Arms in :data:`STAIRCASE_CONTRASTS` (bias-free
  neurons) are shown, and judged only on u_r staying at chance.

Every interval is a 95% percentile bootstrap over seeds (resampled at each d). Each function
takes the frames of :func:`fastrep.experiments.load` and :func:`fastrep.experiments.load_trajectories`
(or the report's own, whose ``label`` is the arm).
"""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd

from .analysis import _boot_n_stars, _seed_matrix, _slope, add_arms, n_star_from_curve
from .plots.style import _colors, _legend, _new_or_given, _save

__all__ = [
    "ALIGNMENT_THRESHOLD",
    "LEARNED_FACTOR",
    "PREDICTED",
    "STAIRCASE_CONTRASTS",
    "SWEEPS",
    "beyond_section",
    "online_n_star",
    "online_slopes",
    "overlap_slopes",
    "overlap_table",
    "protocol_of",
    "scaled_alignment",
    "separation_agreement",
    "staircase_slopes",
    "staircase_steps",
]

#: The study's sweeps, by part.
SWEEPS = {
    "separation": "beyond-separation",
    "he3": "beyond-he3",
    "online": "beyond-online",
    "staircase": "beyond-staircase",
}

#: n* of online SGD: the samples seen when the alignment of W_t with U first reaches this.
ALIGNMENT_THRESHOLD = 0.2

#: A staircase direction counts as learned once its mean overlap reaches this many times chance (1/d).
LEARNED_FACTOR = 5.0

#: Staircase arms shown beside the judged ones as contrasts: bias-free neurons, whose sigma' has
#: no second Hermite coefficient, so the last direction u_r cannot enter any step.
STAIRCASE_CONTRASTS = ("fresh-T4-nobias",)

#: The exponent of n*(d) each online protocol's paper predicts for information exponent k = 3.
PREDICTED = {
    "online-plain": (2.0, "d^(k-1) = d^2 (Ben Arous, Gheissari, Jagannath 2021)"),
    "online-smoothed": (1.5, "d^(k/2) = d^1.5 (Damian, Nichani, Ge, Lee 2023)"),
}

#: The arms of the reuse comparison, in the order shown; the claim is judged on ``reuse``.
REUSE_ARMS = ("reuse", "fresh", "reuse-bias", "fresh-bias")

_LEVEL = 0.95


def protocol_of(label: str) -> str:
    """The protocol an arm belongs to: its label without a ``-d<number>`` suffix (online SGD has
    one table per d, ``online-plain-d64``)."""
    return re.sub(r"-d\d+$", "", str(label))


def _quantiles(values) -> tuple[float, float]:
    v = np.asarray([x for x in values if np.isfinite(x)], dtype=float)
    if v.size == 0:
        return math.nan, math.nan
    a = (1 - _LEVEL) / 2
    lo, hi = np.quantile(v, [a, 1 - a])
    return float(lo), float(hi)


def _quantiles_inf(values) -> tuple[float, float]:
    """The interval's ends of bootstrap values that may be +inf (never reached): order
    statistics, no interpolation (inf - inf would be NaN)."""
    a = (1 - _LEVEL) / 2
    v = np.asarray(values, dtype=float)
    lo, hi = np.quantile(v, [a, 1 - a], method="inverted_cdf")
    return float(lo), float(hi)


def _mark(passed) -> str:
    if isinstance(passed, str):
        return passed.upper()
    return "PASS" if passed else ("not judged" if passed is None else "FAIL")


def _fmt_interval(v, lo, hi, fmt="{:.2f}") -> str:
    if not np.isfinite(v):
        return "n/a"
    if not np.isfinite(lo):
        return fmt.format(v) + " (no interval)"
    return f"{fmt.format(v)} [{fmt.format(lo)}, {fmt.format(hi)}]"


def _table(df: pd.DataFrame) -> str:
    cols = [str(c) for c in df.columns]
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    lines += ["| " + " | ".join(str(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join(lines)


# --------------------------------------------------------------------------- 1. separation
def separation_agreement(df: pd.DataFrame, epsilon: float, *, n_boot: int = 1000,
                         seed: int = 0) -> pd.DataFrame:
    """n*(d) of every arm of ``df`` with a bootstrap interval over seeds, per d.

    Columns ``label, d, n_star, low, high, status, seeds, steps``; n* is that of the median curve (as
    :func:`fastrep.experiments.n_star`), NaN when it is above the grid; a bootstrap replicate
    above the grid counts as +inf (so an interval may be open above).
    """
    rng = np.random.default_rng(seed)
    rows = []
    for (label, d), g in df.groupby(["label", "d"], sort=True):
        mat = _seed_matrix(g, label)
        if mat is None:
            continue
        ns, errs = mat
        value, status = n_star_from_curve(ns, np.median(errs, axis=1), epsilon)
        boot, _ = _boot_n_stars(ns, errs, epsilon, rng.integers(0, errs.shape[1], (n_boot, errs.shape[1])))
        lo, hi = _quantiles_inf(boot)
        rows.append({"label": label, "d": int(d), "n_star": value, "low": lo, "high": hi, "status": status,
                     "seeds": errs.shape[1], "steps": _steps(g)})
    return pd.DataFrame(rows, columns=["label", "d", "n_star", "low", "high", "status", "seeds", "steps"])


def _steps(g: pd.DataFrame) -> int:
    """T of an arm's cells (the multistep option ``steps``; 1 for Algorithm 1 and frames without params)."""
    if "params" not in g or g.empty:
        return 1
    p = g["params"].iloc[0]
    try:
        return int(p["options"].get("steps", 1)) if p["method"] == "multistep" else 1
    except (KeyError, TypeError, AttributeError):
        return 1


def separation_verdict(table: pd.DataFrame, one: str = "T1", many: str = "T2-fresh"):
    """(passed or None, detail): T = 1 and T > 1 agree when at every d both n* are inside the
    grid and the bootstrap intervals of n* per step (n* / T: each fresh-batch step sees n/T
    samples) overlap."""
    a, b = table[table["label"] == one].set_index("d"), table[table["label"] == many].set_index("d")
    b = b.copy()
    if "steps" in b:
        for k in ("n_star", "low", "high"):
            b[k] = b[k] / b["steps"]
    ds = sorted(set(a.index) & set(b.index))
    if not ds:
        return None, f"arms {one!r} and {many!r} are not both in the store"
    apart, missing = [], []
    for d in ds:
        ra, rb = a.loc[d], b.loc[d]
        if ra["status"] != "ok" or rb["status"] != "ok":
            missing.append(d)
        elif ra["high"] < rb["low"] or rb["high"] < ra["low"]:
            apart.append(d)
    ratio = [b.loc[d, "n_star"] / a.loc[d, "n_star"] for d in ds if d not in missing]
    spread = (f"n* per step of {many} / n* of {one} from {min(ratio):.2f} to {max(ratio):.2f}" if ratio
              else "no ratio")
    if apart:
        return False, f"intervals disjoint at d = {', '.join(map(str, apart))}; {spread}"
    if len(missing) == len(ds):
        return None, "no d has both n* inside the grid"
    note = f" (d = {', '.join(map(str, missing))} not judged: an n* outside the grid)" if missing else ""
    return True, f"intervals overlap at every d; {spread}{note}"


# --------------------------------------------------------------------------- 2a. Algorithm 1 on He3
def _boot_mean_slope(groups: dict, n_boot: int, rng, transform=lambda d, v: v):
    """groups: d -> per-seed values. (per-d mean, low, high) and the slope of log(transform(mean))
    against log d with its interval (resampling seeds at each d)."""
    ds = sorted(groups)
    means = {d: float(np.mean(groups[d])) for d in ds}
    per_d = {}
    boot = np.full((n_boot, len(ds)), np.nan)
    for j, d in enumerate(ds):
        v = np.asarray(groups[d], float)
        idx = rng.integers(0, len(v), size=(n_boot, len(v)))
        bm = v[idx].mean(axis=1)
        boot[:, j] = [transform(d, x) for x in bm]
        per_d[d] = (transform(d, means[d]), *_quantiles(boot[:, j]))
    slope = lo = hi = math.nan
    pos = [d for d in ds if transform(d, means[d]) > 0]
    if len(pos) >= 2:
        slope = _slope(pos, [transform(d, means[d]) for d in pos])
        keep = [ds.index(d) for d in pos]
        slopes = [_slope(pos, row[keep]) for row in boot if np.all(row[keep] > 0)]
        lo, hi = _quantiles(slopes)
    return per_d, (slope, lo, hi)


def scaled_alignment(df: pd.DataFrame, label: str = "alg1", *, n_boot: int = 1000, seed: int = 0):
    """d x alignment of ``label``'s cells per d (at each d's largest n), with intervals, and the
    slope of log(d x alignment) against log d: ``(table, (slope, low, high))``.

    ``table``: columns ``d, n, d_x_alignment, low, high, seeds``.
    """
    g = df[df["label"] == label]
    g = g[g["n"] == g.groupby("d")["n"].transform("max")]
    groups = {int(d): h["alignment"].astype(float).to_numpy() for d, h in g.groupby("d")}
    per_d, slope = _boot_mean_slope(groups, n_boot, np.random.default_rng(seed), lambda d, v: d * v)
    ns = g.groupby("d")["n"].max().to_dict()
    rows = [{"d": d, "n": int(ns[d]), "d_x_alignment": v, "low": lo, "high": hi, "seeds": len(groups[d])}
            for d, (v, lo, hi) in per_d.items()]
    return pd.DataFrame(rows, columns=["d", "n", "d_x_alignment", "low", "high", "seeds"]), slope


def bounded_verdict(slope) -> tuple[bool | None, str]:
    """d x alignment stays bounded: the slope of log(d x alignment) against log d is below 1/2
    (a direction learned, alignment of order 1, gives slope 1; chance, r/d, gives 0)."""
    s, lo, hi = slope
    detail = f"slope of log(d × alignment) against log d {_fmt_interval(s, lo, hi)}"
    if not np.isfinite(s) or not np.isfinite(lo):
        return None, detail + " (too few d or seeds for an interval)"
    if hi < 0.5:
        return True, detail + " < 0.5"
    if lo > 0.5:
        return False, detail + " > 0.5: the alignment grows faster than chance"
    return None, detail + ": the interval reaches both sides of 0.5"


# --------------------------------------------------------------------------- 2b. reuse vs fresh
def overlap_table(df: pd.DataFrame, labels=REUSE_ARMS, *, n_boot: int = 1000, seed: int = 0):
    """The final overlap of W with U (the cells' ``alignment``: mean over neurons of
    |U w_j|^2 / |w_j|^2) per arm and d, with intervals; columns ``label, d, n, overlap, low, high,
    x_chance, seeds`` (``x_chance``: overlap x d / r, 1 for a random W)."""
    rng = np.random.default_rng(seed)
    rows = []
    for label in [lb for lb in labels if lb in set(df["label"])]:
        g = df[df["label"] == label]
        groups = {int(d): h["alignment"].astype(float).to_numpy() for d, h in g.groupby("d")}
        per_d, _ = _boot_mean_slope(groups, n_boot, rng)
        r = _rank(g)
        for d, (v, lo, hi) in per_d.items():
            rows.append({"label": label, "d": d, "n": int(g.loc[g["d"] == d, "n"].max()), "overlap": v,
                         "low": lo, "high": hi, "x_chance": v * d / r, "seeds": len(groups[d])})
    return pd.DataFrame(rows, columns=["label", "d", "n", "overlap", "low", "high", "x_chance", "seeds"])


def _rank(g: pd.DataFrame) -> int:
    """r of the cells' target (from the stored resolved target; 1 when unknown)."""
    for p in g["params"] if "params" in g else []:
        try:
            return len(p["target_resolved"]["terms"][0]["alpha"])
        except (KeyError, IndexError, TypeError):
            break
    return 1


def overlap_slopes(df: pd.DataFrame, labels=REUSE_ARMS, *, n_boot: int = 1000, seed: int = 0) -> pd.DataFrame:
    """Per arm, the slope of log(mean overlap) against log d with its interval: columns
    ``label, slope, low, high`` (0: does not shrink; -1: chance level r/d)."""
    rng = np.random.default_rng(seed)
    rows = []
    for label in [lb for lb in labels if lb in set(df["label"])]:
        g = df[df["label"] == label]
        groups = {int(d): h["alignment"].astype(float).to_numpy() for d, h in g.groupby("d")}
        _, (s, lo, hi) = _boot_mean_slope(groups, n_boot, rng)
        rows.append({"label": label, "slope": s, "low": lo, "high": hi})
    return pd.DataFrame(rows, columns=["label", "slope", "low", "high"])


def reuse_verdict(slopes: pd.DataFrame, label: str = "reuse") -> tuple[bool | None, str]:
    """The ICML 2024 claim on ``label``: the overlap does not shrink as d grows, judged as a
    slope of log overlap against log d whose interval lies above -1/2 (reproduced); below -1/2:
    not reproduced (chance, r/d, has slope -1)."""
    row = slopes[slopes["label"] == label]
    if row.empty:
        return None, f"no {label!r} arm in the store"
    s, lo, hi = (float(row.iloc[0][k]) for k in ("slope", "low", "high"))
    detail = f"slope of log overlap against log d {_fmt_interval(s, lo, hi)}"
    if not np.isfinite(lo):
        return None, detail + " (too few d or seeds for an interval)"
    if lo > -0.5:
        return True, detail + " > -0.5: reproduced"
    if hi < -0.5:
        return False, detail + " < -0.5: not reproduced (the overlap shrinks toward chance, slope -1)"
    return None, detail + ": the interval reaches both sides of -0.5"


# --------------------------------------------------------------------------- 2c. online SGD
def _batch_size(params) -> int:
    try:
        return int(params["options"].get("batch_size") or 1)
    except (KeyError, TypeError, AttributeError):
        return 1


def online_n_star(cells: pd.DataFrame, traj: pd.DataFrame,
                  threshold: float = ALIGNMENT_THRESHOLD) -> pd.DataFrame:
    """Per cell, the samples seen (t x batch size) when its trajectory's alignment first reaches
    ``threshold``, interpolated linearly in log n between the record below and the first at or
    above; inf when never reached. Columns ``label, protocol, d, seed, n_star, n_max``."""
    rows = []
    params = dict(zip(cells["cell_id"], cells["params"], strict=True)) if "params" in cells else {}
    for cid, g in traj.groupby("cell_id", sort=False):
        g = g.sort_values("t")
        B = _batch_size(params.get(cid, {}))
        n_seen = g["t"].to_numpy(float) * B
        a = g["alignment"].to_numpy(float)
        hit = np.flatnonzero(a >= threshold)
        if hit.size == 0:
            value = math.inf
        elif hit[0] == 0 or n_seen[hit[0] - 1] <= 0:
            value = max(n_seen[hit[0]], 1.0)
        else:
            i = hit[0]
            x0, x1 = math.log(n_seen[i - 1]), math.log(n_seen[i])
            f = (threshold - a[i - 1]) / (a[i] - a[i - 1])
            value = math.exp(x0 + f * (x1 - x0))
        first = g.iloc[0]
        rows.append({"label": first["label"], "protocol": protocol_of(first["label"]), "d": int(first["d"]),
                     "seed": int(first["seed"]), "n_star": value, "n_max": float(n_seen.max())})
    return pd.DataFrame(rows, columns=["label", "protocol", "d", "seed", "n_star", "n_max"])


def online_slopes(stars: pd.DataFrame, *, n_boot: int = 1000, seed: int = 0):
    """Per protocol: the median n* over seeds at each d (inf when half the seeds or more never
    reached the threshold) and the slope of log median n* against log d over the d where it is
    finite, with its interval. Returns ``(per_d, slopes)``: ``per_d`` columns ``protocol, d,
    n_star, low, high, reached, seeds, n_max``; ``slopes`` columns ``protocol, slope, low, high,
    d_used, d_total, predicted, source``."""
    rng = np.random.default_rng(seed)
    per_rows, slope_rows = [], []
    for proto, g in stars.groupby("protocol", sort=True):
        ds = sorted(int(d) for d in g["d"].unique())
        vals = {d: g.loc[g["d"] == d, "n_star"].to_numpy(float) for d in ds}
        med = {d: float(np.median(vals[d])) for d in ds}
        boot = np.full((n_boot, len(ds)), np.nan)
        for j, d in enumerate(ds):
            v = vals[d]
            idx = rng.integers(0, len(v), size=(n_boot, len(v)))
            boot[:, j] = np.sort(v[idx], axis=1)[:, (len(v) - 1) // 2:len(v) // 2 + 1].mean(axis=1)
            lo, hi = _quantiles_inf(boot[:, j])
            per_rows.append({"protocol": proto, "d": d, "n_star": med[d], "low": lo, "high": hi,
                             "reached": int(np.isfinite(v).sum()), "seeds": len(v),
                             "n_max": float(g.loc[g["d"] == d, "n_max"].max())})
        ok = [d for d in ds if np.isfinite(med[d])]
        s = lo = hi = math.nan
        if len(ok) >= 2:
            s = _slope(ok, [med[d] for d in ok])
            keep = [ds.index(d) for d in ok]
            reps = [_slope(ok, row[keep]) for row in boot if np.all(np.isfinite(row[keep]))]
            lo, hi = _quantiles(reps)
        pred, source = PREDICTED.get(proto, (math.nan, ""))
        slope_rows.append({"protocol": proto, "slope": s, "low": lo, "high": hi, "d_used": len(ok),
                           "d_total": len(ds), "predicted": pred, "source": source})
    per_d = pd.DataFrame(per_rows, columns=["protocol", "d", "n_star", "low", "high", "reached", "seeds",
                                            "n_max"])
    slopes = pd.DataFrame(slope_rows, columns=["protocol", "slope", "low", "high", "d_used", "d_total",
                                               "predicted", "source"])
    return per_d, slopes


def online_verdict(row) -> tuple[bool | None, str]:
    """A protocol's measured slope against its predicted exponent: PASS when the prediction lies
    inside the bootstrap interval, FAIL when outside, not judged without a slope."""
    s, lo, hi, pred = row["slope"], row["low"], row["high"], row["predicted"]
    detail = f"slope {_fmt_interval(s, lo, hi)} against predicted {pred:g}"
    if not np.isfinite(s):
        if row["d_used"] == 0:
            return False, (f"alignment {ALIGNMENT_THRESHOLD:g} never reached (median over seeds) at any of "
                           f"the {row['d_total']} d within the samples run: not reproduced")
        return None, (f"n/a: the median n* is inside the run at {row['d_used']} of {row['d_total']} d only "
                      f"(alignment {ALIGNMENT_THRESHOLD:g} not reached at the others)")
    if not np.isfinite(lo):
        return None, detail + " (no interval)"
    if lo <= pred <= hi:
        return True, detail
    return False, detail + ": not reproduced"


# --------------------------------------------------------------------------- 3. staircase
def staircase_curves(traj: pd.DataFrame) -> pd.DataFrame:
    """Median over seeds of each direction's overlap per (label, d, t): columns ``label, d, t,
    direction, overlap`` (direction k = 1..r)."""
    rows = []
    for _, row in traj.iterrows():
        ov = row["direction_overlap"]
        if not isinstance(ov, (list, tuple)):
            continue
        for k, v in enumerate(ov):
            rows.append({"label": row["label"], "d": int(row["d"]), "seed": int(row["seed"]),
                         "t": int(row["t"]), "direction": k + 1,
                         "overlap": np.nan if v is None else float(v)})
    if not rows:
        return pd.DataFrame(columns=["label", "d", "t", "direction", "overlap"])
    df = pd.DataFrame(rows)
    return (df.groupby(["label", "d", "t", "direction"], as_index=False)["overlap"].median()
            .sort_values(["label", "d", "direction", "t"], kind="stable").reset_index(drop=True))


def staircase_steps(curves: pd.DataFrame) -> pd.DataFrame:
    """The first step t at which each direction's median overlap reaches LEARNED_FACTOR / d
    (NaN: not within the run): columns ``label, d, direction, first_step, final_overlap, T``."""
    rows = []
    for (label, d, k), g in curves.groupby(["label", "d", "direction"], sort=True):
        g = g.sort_values("t")
        hit = g.loc[(g["overlap"] >= LEARNED_FACTOR / d) & (g["t"] > 0), "t"]
        rows.append({"label": label, "d": int(d), "direction": int(k),
                     "first_step": float(hit.iloc[0]) if len(hit) else math.nan,
                     "final_overlap": float(g["overlap"].iloc[-1]), "T": int(g["t"].max())})
    return pd.DataFrame(rows, columns=["label", "d", "direction", "first_step", "final_overlap", "T"])


def staircase_verdict(steps: pd.DataFrame) -> tuple[bool | str | None, str]:
    """One direction per step: PASS when at every d each direction k is first learned at step k;
    FAIL when a direction is learned before its step (before the ones below it), or fewer than
    two are learned at some d; ``"partly"`` when the learned ones come in order but some only
    after their step, or not within the run."""
    if steps.empty:
        return None, "no staircase trajectories in the store"
    bad, partial, parts = [], [], []
    for (_, d), g in steps.groupby(["label", "d"], sort=True):
        learned = g[np.isfinite(g["first_step"])]
        text = ", ".join(f"u{int(r.direction)} at t = {int(r.first_step)}" if np.isfinite(r.first_step)
                         else f"u{int(r.direction)} not within T = {int(r.T)}" for r in g.itertuples())
        parts.append(f"d = {d}: {text}")
        firsts = learned.sort_values("direction")["first_step"].to_numpy()
        early = any(int(r.first_step) < int(r.direction) for r in learned.itertuples())
        if len(learned) < 2 or early or np.any(np.diff(firsts) <= 0):
            bad.append(d)
        elif len(learned) < len(g) or any(int(r.first_step) > int(r.direction) for r in learned.itertuples()):
            partial.append(d)
    detail = "; ".join(parts)
    if bad:
        return False, detail
    return ("partly", detail) if partial else (True, detail)


def staircase_slopes(traj: pd.DataFrame, *, n_boot: int = 1000, seed: int = 0) -> pd.DataFrame:
    """Per arm and direction k, the slope of log(mean over seeds of u_k's overlap at t = k)
    against log d, with its interval (seeds resampled at each d): columns ``label, direction, t,
    slope, low, high``; arms with fewer than two d are left out.

    Order one (GiantStep's "learned", n = O(d) per step): slope 0; chance (1/d): slope -1.
    """
    rng = np.random.default_rng(seed)
    rows = []
    keep = traj[traj["direction_overlap"].map(lambda v: isinstance(v, (list, tuple)))]
    for label, g in keep.groupby("label", sort=True):
        r = max(len(v) for v in g["direction_overlap"])
        for k in range(1, r + 1):
            at = g[g["t"] == k]
            groups = {}
            for d, h in at.groupby("d"):
                v = [float(o[k - 1]) for o in h["direction_overlap"] if len(o) >= k and o[k - 1] is not None]
                if v:
                    groups[int(d)] = np.asarray(v)
            if len(groups) < 2:
                continue
            _, (sl, lo, hi) = _boot_mean_slope(groups, n_boot, rng)
            rows.append({"label": label, "direction": k, "t": k, "slope": sl, "low": lo, "high": hi})
    return pd.DataFrame(rows, columns=["label", "direction", "t", "slope", "low", "high"])


def staircase_slope_verdict(slopes: pd.DataFrame) -> tuple[bool | None, str]:
    """GiantStep's claim at the grid's d: each direction's overlap at its own step does not shrink
    with d (every interval above -1/2: PASS; any below: FAIL; chance has slope -1)."""
    if slopes.empty:
        return None, "fewer than two d"
    parts = [f"u{int(r.direction)} at t = {int(r.t)}: {_fmt_interval(r.slope, r.low, r.high)}"
             for r in slopes.itertuples()]
    detail = "slope of log overlap against log d, " + ", ".join(parts)
    if any(not np.isfinite(v) for v in slopes["low"]):
        return None, detail + " (too few seeds for an interval)"
    if np.all(slopes["low"] > -0.5):
        return True, detail + ": all above -0.5 (order one; chance: -1)"
    if np.any(slopes["high"] < -0.5):
        return False, detail + ": some below -0.5 (shrinking toward chance, slope -1)"
    return None, detail + ": an interval reaches both sides of -0.5"


def staircase_contrast_verdict(steps: pd.DataFrame) -> tuple[bool | None, str]:
    """The bias-free contrast: PASS when its last direction u_r never reaches the learned level."""
    if steps.empty:
        return None, "no contrast arm in the store"
    r = int(steps["direction"].max())
    last = steps[steps["direction"] == r]
    parts = [f"d = {int(row.d)}: final {row.final_overlap * row.d:.2f}× chance" for row in last.itertuples()]
    ok = bool(not np.any(np.isfinite(last["first_step"])))
    verb = "never reaches" if ok else "reaches"
    return ok, f"u{r} {verb} {LEARNED_FACTOR:g}× chance; " + "; ".join(parts)


# --------------------------------------------------------------------------- figures
def plot_overlaps(table: pd.DataFrame, scaled: pd.DataFrame, path=None):
    """Left: final overlap against d per reuse/fresh arm, with intervals and chance (1/d).
    Right: d x alignment of Algorithm 1 at n = 4 d^2. None when there is nothing to draw."""
    if table.empty and scaled.empty:
        return None
    fig, axes, owned = _new_or_given(None, 2, figsize=(4.2, 3.6), what="plot_overlaps")
    for i, (label, g) in enumerate(table.groupby("label", sort=False)):
        g = g.sort_values("d")
        yerr = np.vstack([g["overlap"] - g["low"], g["high"] - g["overlap"]])
        axes[0].errorbar(g["d"], g["overlap"], yerr=np.maximum(yerr, 0), marker="osD^"[i % 4], ms=4,
                         capsize=3, label=f"{label} (n = {int(g['n'].iloc[0] / g['d'].iloc[0])}d)")
    if not table.empty:
        ds = np.array(sorted(table["d"].unique()), float)
        axes[0].plot(ds, 1 / ds, color="0.4", ls=":", label="chance: 1/d")
    axes[0].set_xscale("log", base=2)
    axes[0].set_yscale("log")
    axes[0].set_xlabel("d")
    axes[0].set_ylabel("overlap of W_2 with u (mean over neurons)")
    if not scaled.empty:
        yerr = np.vstack([scaled["d_x_alignment"] - scaled["low"], scaled["high"] - scaled["d_x_alignment"]])
        axes[1].errorbar(scaled["d"], scaled["d_x_alignment"], yerr=np.maximum(yerr, 0), marker="o", ms=4,
                         capsize=3, color="C4", label="Algorithm 1, n = 4d²")
        axes[1].axhline(1.0, color="0.4", ls=":", label="chance (d × 1/d)")
        axes[1].set_xscale("log", base=2)
        axes[1].set_ylim(bottom=0)
    axes[1].set_xlabel("d")
    axes[1].set_ylabel("d × alignment")
    for a in axes:
        a.grid(alpha=0.3)
    _legend(fig, axes, owned)
    _save(fig, path)
    return fig


def plot_online(cells_traj: pd.DataFrame, per_d: pd.DataFrame, slopes: pd.DataFrame, path=None):
    """Left: median alignment against the samples seen / d^2 per (protocol, d). Right: n*(d) per
    protocol with its fitted and predicted slopes. None when there is nothing to draw."""
    if cells_traj.empty:
        return None
    fig, axes, owned = _new_or_given(None, 2, figsize=(4.2, 3.6), what="plot_online")
    colors = _colors(sorted(cells_traj["d"].unique()))
    styles = {p: s for p, s in zip(sorted(set(cells_traj["protocol"])), ("-", "--", ":", "-."), strict=False)}
    cur = (cells_traj.groupby(["protocol", "d", "n_seen"], as_index=False)["alignment"].median())
    for (proto, d), g in cur.groupby(["protocol", "d"], sort=True):
        axes[0].plot(g["n_seen"] / d**2, g["alignment"], color=colors[d], ls=styles[proto], lw=1.4,
                     label=f"{proto}, d = {d}")
    axes[0].axhline(ALIGNMENT_THRESHOLD, color="0.3", lw=0.8, ls=":",
                    label=f"threshold {ALIGNMENT_THRESHOLD:g}")
    axes[0].set_xlabel("samples seen / d²")
    axes[0].set_ylabel("alignment of W_t with u (median over seeds)")
    axes[0].set_ylim(0, 1.02)
    for i, (proto, g) in enumerate(per_d.groupby("protocol", sort=True)):
        ok = g[np.isfinite(g["n_star"])]
        if ok.empty:
            continue
        above = np.where(np.isfinite(ok["high"]), ok["high"] - ok["n_star"], 0)
        yerr = np.vstack([ok["n_star"] - ok["low"], above])
        row = slopes[slopes["protocol"] == proto].iloc[0]
        lab = f"{proto}: slope {row['slope']:.2f}" if np.isfinite(row["slope"]) else proto
        axes[1].errorbar(ok["d"], ok["n_star"], yerr=np.maximum(yerr, 0), marker="os"[i % 2], ms=4, capsize=3,
                         color=f"C{i}", label=lab)
        if np.isfinite(row["predicted"]):
            d0, n0 = float(ok["d"].iloc[0]), float(ok["n_star"].iloc[0])
            ds = np.array(sorted(g["d"]), float)
            axes[1].plot(ds, n0 * (ds / d0) ** row["predicted"], color=f"C{i}", ls=":", lw=1,
                         label=f"predicted d^{row['predicted']:g}")
    axes[1].set_xscale("log", base=2)
    axes[1].set_yscale("log")
    axes[1].set_xlabel("d")
    axes[1].set_ylabel(f"n*: samples to alignment {ALIGNMENT_THRESHOLD:g}")
    for a in axes:
        a.grid(alpha=0.3)
    _legend(fig, axes, owned)
    _save(fig, path)
    return fig


def plot_staircase(curves: pd.DataFrame, path=None):
    """Each direction's overlap (median over seeds) against the step t, one panel per d; arms
    in :data:`STAIRCASE_CONTRASTS` dashed and unfilled."""
    if curves.empty:
        return None
    ds = sorted(curves["d"].unique())
    fig, axes, owned = _new_or_given(None, len(ds), figsize=(3.8, 3.4), sharey=True, what="plot_staircase")
    for ax, d in zip(axes, ds, strict=True):
        for (label, k), g in curves[curves["d"] == d].groupby(["label", "direction"]):
            contrast = label in STAIRCASE_CONTRASTS
            ax.plot(g["t"], g["overlap"], marker="o", ms=4, color=f"C{k - 1}", ls="--" if contrast else "-",
                    mfc="none" if contrast else None,
                    label=f"u{k} ({label})" if curves["label"].nunique() > 1 else f"direction u{k}")
        ax.set_yscale("log")
        ax.axhline(1 / d, color="0.4", ls=":", lw=0.8, label="chance: 1/d")
        ax.axhline(LEARNED_FACTOR / d, color="0.4", ls="--", lw=0.8, label=f"learned: {LEARNED_FACTOR:g}/d")
        ax.set_title(f"d = {d}", fontsize=9)
        ax.set_xlabel("step t")
        ax.set_xticks(sorted(curves["t"].unique()))
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("overlap (w·u_k)²/|w|², mean over neurons")
    _legend(fig, axes, owned)
    _save(fig, path)
    return fig


# --------------------------------------------------------------------------- the report section
def _online_frame(df: pd.DataFrame, traj: pd.DataFrame) -> pd.DataFrame:
    """The online sweep's trajectory rows with ``protocol`` and ``n_seen`` (t x batch size)."""
    if traj.empty:
        return traj.assign(protocol=[], n_seen=[])
    B = {cid: _batch_size(p) for cid, p in zip(df["cell_id"], df["params"], strict=True)}
    out = traj.copy()
    out["protocol"] = out["label"].map(protocol_of)
    out["n_seen"] = out["t"] * out["cell_id"].map(B).fillna(1)
    return out


def beyond_section(df: pd.DataFrame, traj: pd.DataFrame, out_dir, *, n_boot: int = 1000,
                   epsilon: float = 0.25) -> list[str]:
    """The report's "Beyond one step" section (markdown lines) and its figures, written under
    ``out_dir``; [] when the store holds none of :data:`SWEEPS`.

    ``df``: the report's cells (``sweep, label, method, d, n, seed, excess_error, alignment,
    params, cell_id``; ``label`` is the arm); ``traj``: their trajectory rows (``label`` the arm).
    """
    from pathlib import Path

    out_dir = Path(out_dir)
    # one arm per setting: a label under which two settings were stored (a spec changed between
    # runs into one store) is split, never pooled; the trajectories follow their cells' arms
    df = add_arms(df)
    df = df.assign(label=df["arm"])
    if not traj.empty and "cell_id" in traj.columns and "cell_id" in df.columns:
        traj = traj.assign(label=traj["cell_id"].map(dict(zip(df["cell_id"], df["arm"], strict=True))))
    present = set(df["sweep"]) if not df.empty else set()
    if not present & set(SWEEPS.values()):
        return []
    lines = ["## Beyond one step", "",
             "The study of `fastrep demo --beyond` (docs/guide/multistep.md, \"The beyond-one-step study\"): "
             "every interval is a 95% percentile bootstrap over seeds.", ""]
    judged = []

    sep = df[df["sweep"] == SWEEPS["separation"]]
    if not sep.empty:
        tab = separation_agreement(sep, epsilon, n_boot=n_boot)
        ok, detail = separation_verdict(tab)
        judged.append((ok, "separation target: T = 1 and T = 2 fresh-batch steps agree in n* per step "
                           "(one step suffices)", detail))
        show = pd.DataFrame({
            "arm": tab["label"], "d": tab["d"],
            f"n* (median error ≤ {epsilon:g})": [
                _fmt_interval(v, lo, hi, "{:,.0f}").replace("inf", "∞") if s == "ok"
                else ("above the grid" if s == "above_grid" else f"≤ {v:,.0f}")
                for v, lo, hi, s in zip(tab["n_star"], tab["low"], tab["high"], tab["status"], strict=True)],
            "T": tab["steps"],
            "n* per step": [f"{v / t:,.0f}" if s == "ok" else "" for v, t, s in
                            zip(tab["n_star"], tab["steps"], tab["status"], strict=True)],
            "seeds": tab["seeds"]})
        show = show.sort_values(["d", "arm"], kind="stable")
        lines += ["### 1. Separation target: one step against two", "",
                  "n*(d) (total samples) of Algorithm 1 (T = 1) and of T = 2 steps on fresh batches of n/2 "
                  "samples each: `T2-fresh` with the Gaussian readout, `T2-symmetric` with Algorithm 1's ±1 "
                  "readout. The claim is judged on n* per step of `T2-fresh` against `T1`.", "",
                  _table(show), ""]

    he3 = df[df["sweep"] == SWEEPS["he3"]]
    figs = []
    if not he3.empty:
        scaled, sl = scaled_alignment(he3, n_boot=n_boot)
        if not scaled.empty:
            ok, detail = bounded_verdict(sl)
            judged.append((ok, "He3: d × alignment of Algorithm 1 at n = 4d² stays bounded", detail))
            show = pd.DataFrame({"d": scaled["d"], "n": scaled["n"].map("{:,}".format),
                                 "d × alignment": [_fmt_interval(v, lo, hi) for v, lo, hi in
                                                   zip(scaled["d_x_alignment"], scaled["low"], scaled["high"],
                                                       strict=True)],
                                 "seeds": scaled["seeds"]})
            lines += ["### 2a. He3: Algorithm 1 at n = 4d²", "",
                      "d × alignment: about 1 for a random W, growing like d once u is learned (alignment of "
                      "order 1); judged bounded while its slope in d stays below 0.5.", "",
                      _table(show), ""]
        otab = overlap_table(he3, n_boot=n_boot)
        if not otab.empty:
            osl = overlap_slopes(he3, n_boot=n_boot)
            ok, detail = reuse_verdict(osl)
            judged.append((ok, "He3: two steps on one reused batch of n = 4d reach an overlap that does not "
                               "shrink with d (Dandi et al., ICML 2024)", detail))
            piv = otab.assign(text=[
                f"{_fmt_interval(v, lo, hi, '{:.4f}')} ({x:.1f}× chance)" for v, lo, hi, x in
                zip(otab["overlap"], otab["low"], otab["high"], otab["x_chance"], strict=True)])
            piv = piv.pivot(index="label", columns="d", values="text").fillna("not run").reindex(
                [lb for lb in REUSE_ARMS if lb in set(otab["label"])])
            piv.columns = [f"d = {c}" for c in piv.columns]
            slope_col = {r.label: _fmt_interval(r.slope, r.low, r.high) for r in osl.itertuples()}
            piv["slope in d"] = [slope_col[lb] for lb in piv.index]
            lines += ["### 2b. He3: two steps on one reused batch against fresh batches", "",
                      "Overlap of W_2 with u (mean over neurons of (w·u)²/|w|²; chance 1/d) after two steps: "
                      "`reuse` on one batch of 4d samples, `fresh` on two batches of 4d; the `-bias` arms "
                      "keep b ~ N(0, 1). The claim is judged on `reuse` (slope 0: does not shrink; -1: "
                      "chance).", "",
                      _table(piv.reset_index().rename(columns={"label": "arm"})), ""]
        p = out_dir / "beyond-he3-overlap.png"
        if plot_overlaps(otab, scaled, p) is not None:
            figs.append((p, "He3: overlap after two steps (reused against fresh batches) and d × alignment "
                            "of Algorithm 1 at n = 4d², against d"))

    on = df[df["sweep"] == SWEEPS["online"]]
    if not on.empty:
        ot = _online_frame(on, traj[traj["sweep"] == SWEEPS["online"]]) if not traj.empty else traj
        stars = online_n_star(on, ot) if not ot.empty else pd.DataFrame(
            columns=["label", "protocol", "d", "seed", "n_star", "n_max"])
        per_d, slopes = online_slopes(stars, n_boot=n_boot)
        for row in slopes.itertuples():
            ok, detail = online_verdict(slopes.loc[row.Index])
            judged.append((ok, f"He3 online SGD, {row.protocol}: n*(d) slope beside the predicted "
                               f"{row.source or 'exponent'}", detail))
        if not per_d.empty:
            show = per_d.assign(text=[
                (_fmt_interval(v, lo, hi, "{:,.0f}").replace("inf", "∞") if np.isfinite(v)
                 else f"> {nm:,.0f} (not reached)")
                + f" [{r}/{s} seeds]"
                for v, lo, hi, nm, r, s in zip(per_d["n_star"], per_d["low"], per_d["high"], per_d["n_max"],
                                               per_d["reached"], per_d["seeds"], strict=True)])
            piv = show.pivot(index="protocol", columns="d", values="text").fillna("not run")
            piv.columns = [f"d = {c}" for c in piv.columns]
            sl_text = {r.protocol: _fmt_interval(r.slope, r.low, r.high) for r in slopes.itertuples()}
            pred = {r.protocol: r.source for r in slopes.itertuples()}
            piv["slope"] = [sl_text[p] for p in piv.index]
            piv["predicted"] = [pred[p] for p in piv.index]
            lines += ["### 2c. He3: online SGD, plain and smoothed", "",
                      "n* = the samples seen (steps × batch size) when the alignment of W_t with u first "
                      f"reaches {ALIGNMENT_THRESHOLD:g} (interpolated in log n between trajectory records; "
                      "chance is 1/d); median over seeds, with the seeds that reached it.", "",
                      _table(piv.reset_index()), ""]
        p = out_dir / "beyond-online.png"
        if plot_online(ot, per_d, slopes, p) is not None:
            figs.append((p, "He3 online SGD: alignment against samples seen / d², and n*(d) with the "
                            "predicted slopes"))

    st = df[df["sweep"] == SWEEPS["staircase"]]
    if not st.empty and not traj.empty:
        st_traj = traj[traj["sweep"] == SWEEPS["staircase"]]
        curves = staircase_curves(st_traj)
        steps = staircase_steps(curves)
        main = ~steps["label"].isin(STAIRCASE_CONTRASTS)
        ok, detail = staircase_verdict(steps[main])
        judged.append((ok, "staircase: fresh-batch giant steps learn one direction per step", detail))
        slopes = staircase_slopes(st_traj[~st_traj["label"].isin(STAIRCASE_CONTRASTS)], n_boot=n_boot)
        if not slopes.empty:
            ok, detail = staircase_slope_verdict(slopes)
            judged.append((ok, "staircase: each direction's overlap at its own step is of order one "
                               "(does not shrink with d)", detail))
        if (~main).any():
            ok, detail = staircase_contrast_verdict(steps[~main])
            judged.append((ok, "staircase, bias-free neurons (contrast): the last direction stays at chance",
                           detail))
        if not curves.empty:
            piv = curves.assign(col=[f"t = {t}" for t in curves["t"]],
                                overlap=curves["overlap"] * curves["d"])
            piv = piv.pivot_table(index=["label", "d", "direction"], columns="col", values="overlap",
                                  aggfunc="first")
            piv = piv.map(lambda v: f"{v:.2f}")
            shown = [c for c in STAIRCASE_CONTRASTS if c in set(curves["label"])]
            note = (" " + ", ".join(f"`{c}`" for c in shown)
                    + " (bias-free neurons): a contrast, not judged on the order.") if shown else ""
            lines += ["### 3. Staircase: one direction per step", "",
                      f"Per-direction overlap × d (median over seeds) after each step: chance 1, learned at "
                      f"{LEARNED_FACTOR:g}.{note}", "", _table(piv.reset_index()), ""]
        p = out_dir / "beyond-staircase.png"
        if plot_staircase(curves, p) is not None:
            figs.append((p, "Staircase: each direction's overlap against the step t"))

    head = ["### Judged", ""]
    for ok, text, detail in judged:
        head.append(f"- **{_mark(ok)}** {text}: {detail}")
    lines[4:4] = head + [""]
    if figs:
        lines += ["### Figures", ""]
        for p, caption in figs:
            lines += [f"![{caption}]({p.name})", ""]
    return lines
