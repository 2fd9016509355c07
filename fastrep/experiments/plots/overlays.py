"""Theory overlays: the large-d study's measurements against :mod:`fastrep.theory`'s predictions.

:func:`plot_kernel_prediction` (measured kernel curves with the predicted ones),
:func:`plot_n_star_prediction` (n*(d) with the predicted kernel line to large d) and
:func:`plot_degree_learning` (the fraction of each degree of f* learned, with the theory's
per-degree learnability for kernels) and :func:`plot_separation_prediction` (both sides'
predicted n*(d) to large d with the measured points, and their local slopes).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from ..analysis import median_curves
from .style import (
    ERROR_LABEL,
    _band,
    _colors,
    _draw_epsilon,
    _finish_log_axes,
    _floor,
    _legend,
    _new_or_given,
    _save,
    _slope_text,
    display_name,
)


def plot_kernel_prediction(
    df: pd.DataFrame,
    predicted: pd.DataFrame,
    path=None,
    *,
    ax=None,
    epsilon: float | None = None,
    plateaus: list[float] | None = None,
    title: str | None = None,
) -> Figure | None:
    """Kernel excess error against n with the predicted curve overlaid, one panel per kernel label.

    ``df``: the stored cells (``label, method, d, n, seed, excess_error``); only labels present
    in ``predicted`` are drawn. ``predicted``: columns ``label, d, n, prediction`` (e.g. from
    :func:`fastrep.experiments.large.predicted_curves`), drawn as a solid thin line per d over
    the measured medians (markers) and quartile bands. ``plateaus``: the staircase's levels
    (share of E[f*^2] above each degree), drawn as thin grey guides. ``ax``: one Axes per panel
    (the sorted labels). Returns the Figure, or None if there is nothing to draw.
    """
    labels = [lb for lb in sorted(predicted["label"].unique()) if lb in set(df["label"])]
    if not labels:
        return None
    curves = median_curves(df[df["label"].isin(labels)])
    methods = dict(zip(df["label"], df["method"], strict=True))
    colors = _colors(df.loc[df["label"].isin(labels), "d"].unique())
    fig, axes, owned = _new_or_given(ax, len(labels), figsize=(5.0, 4.4), sharey=True,
                                     what="plot_kernel_prediction")
    bottom = _floor(curves)
    pred_vals = predicted["prediction"].to_numpy(float)
    pred_vals = pred_vals[np.isfinite(pred_vals) & (pred_vals > 0)]
    if pred_vals.size:
        bottom = min(bottom, float(pred_vals.min()) / 1.5)
    if epsilon is not None:
        bottom = min(bottom, epsilon / 3)
    for a, label in zip(axes, labels, strict=True):
        for level in plateaus or []:
            a.axhline(level, color="0.6", lw=0.6, ls="-", alpha=0.6, zorder=0)
        if plateaus:
            a.plot([], [], "-", color="0.6", lw=0.6, label="staircase plateaus (energy above degree l)")
        for d, g in curves[curves["label"] == label].groupby("d"):
            a.plot(g["n"], g["median"], "o", color=colors[d], ms=4, label=f"d = {d} measured")
            _band(a, g["n"], g, color=colors[d])
        for d, g in predicted[predicted["label"] == label].groupby("d"):
            pred = g["prediction"].to_numpy(float)
            a.plot(g["n"].to_numpy(float), np.where(pred > 0, pred, np.nan), "-", color=colors.get(d, "0.3"),
                   lw=1.3)
        a.plot([], [], "-", color="0.3", lw=1.3, label="predicted (fastrep.theory), per d")
        _draw_epsilon(a, epsilon)
        a.set_xscale("log")
        a.set_yscale("log")
        a.set_ylim(bottom=bottom, top=1.6)
        a.set_xlabel("training samples n")
        a.set_title(display_name(label, methods.get(label)))
        a.grid(True, which="major", alpha=0.3)
        _finish_log_axes(a)
    axes[0].set_ylabel(ERROR_LABEL)
    _legend(fig, axes, owned)
    if owned:
        fig.suptitle(title or "Kernel ridge: measured (median, quartiles) and predicted error")
    _save(fig, path)
    return fig


def _power_guide(a, xs, d0, n0, power: int, style: str) -> None:
    """The guide n ∝ d^power (2: the paper's network rate, 3: the kernel's) through (d0, n0)."""
    c = float(n0 / d0**power)
    sup = "²" if power == 2 else "³"
    a.plot(xs, c * xs**power, style, color="0.35", lw=1,
           label=f"∝ d{sup} (the paper's {'network' if power == 2 else 'kernel'} rate)")


def plot_n_star_prediction(
    stars: pd.DataFrame,
    predicted: pd.DataFrame,
    path=None,
    *,
    ax=None,
    epsilon: float,
    slopes: pd.DataFrame | None = None,
    d2_anchor: str = "onestep",
    d3_anchor: str = "ntk",
    title: str | None = None,
) -> Figure:
    """n*(d) on log-log axes: measured points per method, the predicted kernel n*(d) as lines,
    and d^2, d^3 reference lines.

    ``stars``: ``label, method, d, n_star, status`` (:func:`fastrep.experiments.analysis.n_star`);
    only n* inside the grid (status ``ok``) are drawn as measured points. ``predicted``: ``label,
    d, n_star`` (e.g. :func:`fastrep.experiments.large.predicted_n_star`), a line per label, with
    the measured points of the same label in the same colour. ``slopes`` (``label, slope, low,
    high``) adds the measured slopes to the legend. The d^2 and d^3 guides pass through the
    smallest-d measured point of ``d2_anchor`` and ``d3_anchor``. ``ax``: one Axes.
    """
    from matplotlib import colormaps

    cmap = colormaps["tab10"]
    fig, (a,), owned = _new_or_given(ax, 1, figsize=(7.0, 5.2), what="plot_n_star_prediction")
    labels = sorted(set(stars["label"]) | set(predicted["label"]))
    methods = dict(zip(stars["label"], stars["method"], strict=True)) if len(stars) else {}
    colors = {lb: cmap(i % 10) for i, lb in enumerate(labels)}
    for label in labels:
        name = display_name(label, methods.get(label))
        g = stars[(stars["label"] == label) & (stars["status"] == "ok")]
        text = f"{name} measured"
        fit = _slope_text(slopes, label) if slopes is not None else None
        if fit:
            text += f" ({fit})"
        if len(g):
            a.plot(g["d"], g["n_star"], "o", color=colors[label], ms=6, label=text)
        p = predicted[predicted["label"] == label].sort_values("d")
        p = p[np.isfinite(p["n_star"])]
        if len(p):
            a.plot(p["d"], p["n_star"], "-", color=colors[label], lw=1.4, label=f"{name} predicted")
    ds = np.concatenate([stars["d"].to_numpy(float), predicted["d"].to_numpy(float)])
    ok = stars[stars["status"] == "ok"]
    if ds.size:
        xs = np.geomspace(ds.min(), ds.max(), 50)
        # d^2 through the network's (else the lowest) smallest-d point, d^3 through the kernel's
        for power, anchor, style in ((2, d2_anchor, ":"), (3, d3_anchor, "--")):
            pts = ok[ok["label"] == anchor] if anchor in set(ok["label"]) else ok
            if not len(pts):
                continue
            pts = pts.sort_values("d")
            if anchor not in set(ok["label"]):  # fall back: the lowest (d^2) or highest (d^3) point
                pts = ok.loc[[ok["n_star"].idxmin() if power == 2 else ok["n_star"].idxmax()]]
            _power_guide(a, xs, pts["d"].iloc[0], pts["n_star"].iloc[0], power, style)
    a.set_xscale("log")
    a.set_yscale("log")
    _finish_log_axes(a)
    a.set_xlabel("input dimension d")
    a.set_ylabel(f"n*: samples to reach excess error ≤ {epsilon:g}")
    a.grid(True, which="major", alpha=0.3)
    _legend(fig, [a], owned)
    a.set_title(title or "n*(d): measured, and the kernel's prediction to large d")
    _save(fig, path)
    return fig


def plot_degree_learning(
    deg: pd.DataFrame, path=None, *, ax=None, predicted: pd.DataFrame | None = None, title: str | None = None
) -> Figure | None:
    """The fraction of each degree of f* learned, against n: rows = degrees, columns = methods.

    ``deg``: ``label, d, n, seed, degree, fraction`` (one row per cell and degree; the medians
    over seeds are drawn, with quartile bands); a ``method`` column, when present, gives the
    panels' display names. ``predicted``: ``label, d, n, degree, learnability`` (the theory's
    L_l, dashed, for kernels). ``ax``: a (degrees, labels) grid of Axes, or a flat sequence of
    that many in row order. None if ``deg`` is empty.
    """
    if deg.empty:
        return None
    labels = sorted(deg["label"].unique())
    degrees = sorted(int(x) for x in deg["degree"].unique())
    methods = dict(zip(deg["label"], deg["method"], strict=True)) if "method" in deg else {}
    colors = _colors(deg["d"].unique())
    nrow, ncol = len(degrees), len(labels)
    if ax is None:
        fig = Figure(figsize=(4.2 * ncol + 2.6, 2.9 * nrow), layout="constrained")
        axes = fig.subplots(nrow, ncol, squeeze=False, sharex="col", sharey=True)
        owned = True
    else:
        fig, flat, owned = _new_or_given(ax, nrow * ncol, figsize=(4.2, 2.9), what="plot_degree_learning")
        axes = np.asarray(flat, dtype=object).reshape(nrow, ncol)
    # fractions can overshoot 1 or dip below 0 (Monte Carlo error, an overfitted part): show them
    lo = min(-0.1, float(deg["fraction"].min()) - 0.05)
    hi = max(1.15, float(deg["fraction"].max()) + 0.05)
    for j, label in enumerate(labels):
        for i, ell in enumerate(degrees):
            a = axes[i, j]
            sub = deg[(deg["label"] == label) & (deg["degree"] == ell)]
            for d, g in sub.groupby("d"):
                q = g.groupby("n")["fraction"].quantile([0.25, 0.5, 0.75]).unstack()
                a.plot(q.index, q[0.5], "o-", color=colors[d], ms=3, lw=1.2, label=f"d = {d}")
                a.fill_between(q.index.to_numpy(float), q[0.25].to_numpy(float), q[0.75].to_numpy(float),
                               color=colors[d], alpha=0.15, lw=0)
            if predicted is not None:
                p = predicted[(predicted["label"] == label) & (predicted["degree"] == ell)]
                for d, g in p.groupby("d"):
                    a.plot(g["n"], g["learnability"], "--", color=colors.get(d, "0.3"), lw=1.0)
                if len(p):
                    a.plot([], [], "--", color="0.3", lw=1.0, label="theory L_l (kernels), per d")
            a.axhline(1.0, color="0.6", lw=0.6)
            a.axhline(0.0, color="0.6", lw=0.6)
            a.set_xscale("log")
            a.set_ylim(lo, hi)
            a.grid(True, alpha=0.3)
            if i == 0:
                a.set_title(display_name(label, methods.get(label)))
            if j == 0:
                a.set_ylabel(f"degree {ell}: fraction learned")
            if i == nrow - 1:
                a.set_xlabel("training samples n")
            _finish_log_axes(a, y=False)
    _legend(fig, list(axes.ravel()), owned)
    if owned:
        fig.suptitle(title or "Per-degree learning: sum ĉ_α c_α / sum c_α² over |α| = l (median over seeds)")
    _save(fig, path)
    return fig


def plot_separation_prediction(
    stars: pd.DataFrame,
    predicted: pd.DataFrame,
    path=None,
    *,
    ax=None,
    epsilon: float,
    intervals: pd.DataFrame | None = None,
    local: pd.DataFrame | None = None,
    slopes: pd.DataFrame | None = None,
    d2_anchor: str | None = None,
    d3_anchor: str | None = None,
    title: str | None = None,
) -> Figure | None:
    """Both sides of the separation: measured and predicted n*(d), and the predicted local slopes.

    Left panel, log-log: the predicted n*(d) of each label of ``predicted`` (``label, d, n_star``)
    as a line, the measured n* of the same labels (``stars``: ``label, method, d, n_star,
    status``; only n* inside the grid) as points with their bootstrap intervals (``intervals``:
    ``label, d, low, high``; an infinite end is drawn to the panel's edge), and d² and d³ guides
    through the predicted lines of ``d2_anchor`` and ``d3_anchor`` at their smallest d (by
    default the labels with the smallest and the largest predicted n* at the largest d).
    Right panel (when ``local``, ``label, d, slope``, is
    given): the predicted local slopes d log n* / d log d against d, with the measured fitted
    slopes (``slopes``: ``label, slope, low, high``, optionally ``d_low, d_high``, one row per
    fit) as bands over the d they were fitted on (default: the label's measured d), and 2 and
    3 marked. ``ax``: one Axes, or two with ``local``. None if ``predicted`` is empty.
    """
    from matplotlib import colormaps

    if predicted.empty:
        return None
    cmap = colormaps["tab10"]
    panels = 2 if local is not None and not local.empty else 1
    fig, axes, owned = _new_or_given(ax, panels, figsize=(5.6, 4.8), what="plot_separation_prediction")
    a = axes[0]
    last = predicted.sort_values("d").groupby("label")["n_star"].last().sort_values()
    labels = list(last.index)  # by n* at the largest d: the network's first
    methods = dict(zip(stars["label"], stars["method"], strict=True)) if len(stars) else {}
    # the colours of plot_n_star: tab10 over the labels in sorted order
    colors = {lb: cmap(i % 10) for i, lb in enumerate(sorted(set(labels) | set(stars["label"])))}
    ok = stars[(stars["status"] == "ok") & stars["label"].isin(labels)]
    for label in labels:
        name = display_name(label, methods.get(label))
        p = predicted[(predicted["label"] == label) & np.isfinite(predicted["n_star"])].sort_values("d")
        a.plot(p["d"], p["n_star"], "-", color=colors[label], lw=1.6,
               label=f"{name}: predicted (fastrep.theory)")
        g = ok[ok["label"] == label].sort_values("d")
        if not len(g):
            continue
        y = g["n_star"].to_numpy(float)
        yerr = None
        if intervals is not None:
            iv = intervals[intervals["label"] == label].set_index("d")
            lo = np.array([iv["low"].get(d, np.nan) for d in g["d"]], float)
            hi = np.array([iv["high"].get(d, np.nan) for d in g["d"]], float)
            top = float(np.nanmax(predicted["n_star"].replace(np.inf, np.nan))) * 10
            lo = np.where(np.isfinite(lo), lo, y)
            hi = np.where(np.isfinite(hi), hi, np.where(np.isnan(hi), y, top))
            yerr = np.vstack([np.clip(y - lo, 0, None), np.clip(hi - y, 0, None)])
        a.errorbar(g["d"], y, yerr=yerr, fmt="o", color=colors[label], ms=5, capsize=2.5, lw=1,
                   label=f"{name}: measured n* (95% bootstrap interval)")
    ds = predicted["d"].to_numpy(float)
    xs = np.geomspace(ds.min(), ds.max(), 60)
    anchors = (d2_anchor if d2_anchor in labels else labels[0],
               d3_anchor if d3_anchor in labels else labels[-1])
    for power, label, style in ((2, anchors[0], ":"), (3, anchors[1], "--")):
        p = predicted[(predicted["label"] == label) & np.isfinite(predicted["n_star"])].sort_values("d")
        if not len(p):
            continue
        _power_guide(a, xs, p["d"].iloc[0], p["n_star"].iloc[0], power, style)
    a.set_xscale("log")
    a.set_yscale("log")
    a.set_xlim(ds.min() / 1.15, ds.max() * 1.15)
    finite = predicted["n_star"].replace(np.inf, np.nan).dropna()
    if len(finite):
        a.set_ylim(float(finite.min()) / 3, float(finite.max()) * 3)
    _finish_log_axes(a)
    a.set_xlabel("input dimension d")
    a.set_ylabel(f"n*: samples to reach excess error ≤ {epsilon:g}")
    a.grid(True, which="major", alpha=0.3)
    a.set_title("n*(d), measured and predicted")
    if panels == 2:
        b = axes[1]
        for label in labels:
            g = local[local["label"] == label].sort_values("d")
            if len(g):
                b.plot(g["d"], g["slope"], "o-", color=colors[label], ms=4, lw=1.3)
            m = ok[ok["label"] == label]
            rows = slopes[slopes["label"] == label] if slopes is not None else pd.DataFrame()
            for _, r in rows.iterrows():
                if not np.isfinite(r["slope"]) or len(m) < 2:
                    continue
                span = ((float(r["d_low"]), float(r["d_high"])) if "d_low" in r and np.isfinite(r["d_low"])
                        else (float(m["d"].min()), float(m["d"].max())))
                b.plot(span, [r["slope"]] * 2, "-", color=colors[label], lw=3, alpha=0.6,
                       solid_capstyle="butt")
                if np.isfinite(r["low"]):
                    b.fill_between(span, [r["low"]] * 2, [r["high"]] * 2, color=colors[label], alpha=0.15,
                                   lw=0)
        b.plot([], [], "o-", color="0.3", ms=4, lw=1.3, label="predicted local slope d log n*/d log d")
        if slopes is not None:
            b.plot([], [], "-", color="0.3", lw=3, alpha=0.6,
                   label="measured slope over the d it spans\n(band: 95% bootstrap interval)")
        for level in (2, 3):
            b.axhline(level, color="0.45", lw=0.9, ls=":" if level == 2 else "--")
        b.set_xscale("log")
        b.set_xlim(ds.min() / 1.15, ds.max() * 1.15)
        lo = min(1.5, float(local["slope"].min()) - 0.2)
        hi = max(3.5, float(local["slope"].max()) + 0.2)
        b.set_ylim(lo, hi)
        _finish_log_axes(b, y=False)
        b.set_xlabel("input dimension d")
        b.set_ylabel("local slope of log n* against log d")
        b.grid(True, which="major", alpha=0.3)
        b.set_title("local slopes")
    _legend(fig, axes, owned)
    if owned:
        fig.suptitle(title or "The separation predicted on both sides: one-step network against NTK ridge")
    _save(fig, path)
    return fig
