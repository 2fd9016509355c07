"""The n*(d) figure: samples to reach ε against d, with fitted slopes and the paper's rates.

:func:`plot_n_star` draws n* per method on log-log axes (censored n* as hollow markers),
the fitted power law dashed, the slopes with their intervals in the legend, and d², d³
reference lines through the measurements.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import LogLocator, NullFormatter

from .style import _finish_log_axes, _legend, _new_or_given, _save, _slope_text, display_name


def _reference_slopes(ax, stars: pd.DataFrame, powers=(2, 3)) -> None:
    """Grey lines n ∝ d^p through the geometric mean of the fitted n* at the smallest d, each
    labelled at its right end: what the paper's d² and d³ look like over this range of d."""
    ok = stars[stars["status"] == "ok"]
    if ok.empty:
        return
    ds = np.sort(stars["d"].unique()).astype(float)
    if len(ds) < 2:
        return
    d0 = ok["d"].min()
    n0 = float(np.exp(np.log(ok.loc[ok["d"] == d0, "n_star"].to_numpy(float)).mean()))
    xs = np.geomspace(ds.min(), ds.max(), 20)
    for p in powers:
        ys = n0 * (xs / d0) ** p
        ax.plot(xs, ys, color="0.55", lw=0.9, ls=(0, (6, 3)), zorder=0)
        sup = {2: "²", 3: "³"}.get(p, f"^{p}")
        ax.annotate(f"∝ d{sup}", xy=(xs[-1], ys[-1]), xytext=(3, 0), textcoords="offset points",
                    fontsize=8, color="0.4", va="center")
    ax.plot([], [], color="0.55", lw=0.9, ls=(0, (6, 3)),
            label="d², d³: the paper's rates\n(network, kernel on degree 3)")


def _tick_labels(ds) -> list[str]:
    """Labels for ticks at every d: all of them when they fit, else the powers of two (and the
    ends) and whichever others keep a tenth of the axis' decades from every labelled one, so
    that 192 and 256 never run together."""
    logs = np.log10(np.asarray(ds, float))
    gap = (logs[-1] - logs[0]) / 10 if len(ds) > 1 else 1.0
    if len(ds) < 2 or np.all(np.diff(logs) >= gap):
        return [str(d) for d in ds]
    keep = [i for i, d in enumerate(ds) if int(d) & (int(d) - 1) == 0]
    for i in [0, len(ds) - 1, *range(len(ds))]:
        if i not in keep and all(abs(logs[i] - logs[j]) >= gap for j in keep):
            keep.append(i)
    return [str(d) if i in keep else "" for i, d in enumerate(ds)]


def plot_n_star(
    stars: pd.DataFrame,
    slopes: pd.DataFrame,
    path=None,
    *,
    ax=None,
    epsilon: float,
    n_max: dict | None = None,
    title: str | None = None,
) -> Figure:
    """n*(d) against d on log-log axes, one line per method; slopes with intervals in the legend.

    Filled markers: n* interpolated inside the n grid (these enter the slope fit); the
    fitted line is dashed. Hollow markers: censored n*, pointing down at the smallest n
    (n* is at most that) or up at the largest n (``n_max``: label -> largest n; n* is more).
    Grey lines: d² and d³ reference slopes.
    """
    from matplotlib import colormaps

    fig, (a,), owned = _new_or_given(ax, 1, figsize=(6.0, 4.8), what="plot_n_star")
    any_below = any_above = False
    cmap = colormaps["tab10"]
    methods = dict(zip(stars["label"], stars["method"], strict=True)) if len(stars) else {}
    for i, (label, g) in enumerate(stars.groupby("label", sort=True)):
        c = cmap(i % 10)
        name = display_name(label, methods.get(label))
        fit = _slope_text(slopes, label)
        text = f"{name}: {fit}" if fit else f"{name}: no slope (n* outside the n grid)"
        ok = g[g["status"] == "ok"]
        below = g[g["status"] == "below_grid"]
        above = g[g["status"] == "above_grid"]
        a.plot(ok["d"], ok["n_star"], "o-", color=c, label=None if ok.empty else text)
        if len(below):
            any_below = True
            a.plot(below["d"], below["n_star"], "v", color=c, mfc="none", ms=8,
                   label=text if ok.empty else None)
        # the marker at each d's own largest n (stars' n_max column), else at the label's
        tops = above["n_max"] if "n_max" in above else (
            [n_max[label]] * len(above) if n_max is not None and label in n_max else None)
        if len(above) and tops is not None:
            any_above = True
            a.plot(above["d"], tops, "^", color=c, mfc="none", ms=8,
                   label=text if ok.empty and below.empty else None)
        if len(ok) >= 2:
            x = np.log(ok["d"].to_numpy(float))
            coef = np.polyfit(x, np.log(ok["n_star"].to_numpy(float)), 1)
            xs = np.linspace(x.min(), x.max(), 20)
            a.plot(np.exp(xs), np.exp(np.polyval(coef, xs)), "--", color=c, lw=0.8, alpha=0.7)
    _reference_slopes(a, stars)
    if any_below:
        a.plot([], [], "v", color="0.4", mfc="none", label="n* ≤ smallest n of the grid (not fitted)")
    if any_above:
        a.plot([], [], "^", color="0.4", mfc="none", label="n* > largest n of the grid (not fitted)")
    a.set_xscale("log")
    a.set_yscale("log")
    ds = np.sort(stars["d"].unique())
    if len(ds):
        lo, hi = float(ds.min()), float(ds.max())
        a.set_xlim(lo / 1.08, hi * 1.18)  # room for the d² / d³ labels
        a.set_xticks(ds, _tick_labels(ds))
        a.xaxis.set_minor_formatter(NullFormatter())
        a.xaxis.set_minor_locator(LogLocator(base=10, subs=(), numticks=1))
    _finish_log_axes(a, x=False)
    a.set_xlabel("input dimension d")
    a.set_ylabel(f"n*: samples to reach excess error ≤ {epsilon:g}")
    a.grid(True, which="major", alpha=0.3)
    _legend(fig, [a], owned, title="log n* = slope · log d + c\n(95% bootstrap interval over seeds)")
    a.set_title(title or "Sample complexity n*(d)")
    _save(fig, path)
    return fig
