"""The figures of a sweep and of the large-d study, drawn with matplotlib and returned as Figures.

Every function takes the stored cells (or the tables derived from them), draws on ``ax=``
when given (an Axes, or a sequence of them for the per-method panels) or on a new Figure
otherwise, writes a PNG when ``path`` is given, and returns the Figure (None when the store
holds nothing to draw). New figures are built with ``matplotlib.figure.Figure`` and the Agg
canvas directly, so plotting never touches pyplot's global state (or a user's interactive
backend); in a notebook, pass ``ax=`` from ``plt.subplots()`` or display the returned Figure.

* :func:`plot_error_curves`: excess error against n, one panel per method, one line per d;
  the kernel staircase prediction dashed on kernel panels, the oracle as a grey floor.
* :func:`plot_n_star`: n*(d) on log-log axes, one line per method, slopes in the legend,
  d² and d³ reference slopes.
* :func:`plot_alignment`: subspace alignment of W with U against n/d², with the alignment
  of a random W (r/d) marked per d.
* :func:`plot_transfer`: target error against n_t, transfer and NTK-on-the-target-only.
* :func:`plot_kernel_prediction`, :func:`plot_n_star_prediction`, :func:`plot_degree_learning`:
  the large-d study's overlays of :mod:`fastrep.theory` on the measurements.

Methods appear under their display names (:func:`display_name`): "one-step network", not
``onestep``.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

from .analysis import median_curves, staircase_curves

__all__ = [
    "DISPLAY_NAMES",
    "display_name",
    "plot_alignment",
    "plot_degree_learning",
    "plot_error_curves",
    "plot_kernel_prediction",
    "plot_n_star",
    "plot_n_star_prediction",
    "plot_transfer",
]

ERROR_LABEL = "excess test error\n(MSE against noiseless f*, / E[f*²])"
_DPI = 120

#: What a reader sees for each registered method (tables and figures).
DISPLAY_NAMES = {
    "onestep": "one-step network",
    "random_features": "random features (W at init)",
    "ntk": "NTK ridge",
    "nngp": "NNGP ridge",
    "oracle": "oracle (U known)",
    "transfer": "transfer (W learned on a source task)",
}


def display_name(label: str, method: str | None = None) -> str:
    """The reader's name of a sweep arm: the method's display name, with the spec's label in
    parentheses when it is not just the method's name (``"random features (W at init) [rf]"``)."""
    method = label if method is None else method
    name = DISPLAY_NAMES.get(method, method)
    return name if label == method else f"{name} [{label}]"


# --------------------------------------------------------------------------- helpers


def _colors(ds):
    from matplotlib import colormaps

    cmap = colormaps["viridis"]
    ds = sorted(ds)
    return {d: cmap(0.1 + 0.75 * i / max(1, len(ds) - 1)) for i, d in enumerate(ds)}


def _number(v: float, _pos=None) -> str:
    """A tick label a reader parses at a glance: 0.05, 0.2, 1, 20, 500, 2,000, 10⁵."""
    if v <= 0 or not np.isfinite(v):
        return ""
    if v >= 1e5 or v < 1e-3:
        k = math.floor(math.log10(v) + 1e-9)
        m = v / 10**k
        sup = str(k).translate(str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹"))
        return f"10{sup}" if abs(m - 1) < 1e-6 else f"{m:g}×10{sup}"
    return f"{v:,.0f}" if v >= 1 else f"{v:g}"


def _power(v: float, _pos=None) -> str:
    """A tick label in powers of ten throughout (1, 10, 10², 3×10⁴): for axes over many decades,
    where "10,000" beside "10⁵" reads as two notations."""
    if v <= 0 or not np.isfinite(v):
        return ""
    k = math.floor(math.log10(v) + 1e-9)
    m = v / 10**k
    if k <= 1:
        return f"{v:g}"
    sup = str(k).translate(str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹"))
    return f"10{sup}" if abs(m - 1) < 1e-6 else f"{m:g}×10{sup}"


def _log_axis(axis, lo: float | None = None, hi: float | None = None) -> None:
    """Log ticks with as many labels as the panel has room for: 1-2-5 per decade, else 1-3,
    else 1 (every decade, or every few decades on a long axis in a narrow panel; a 3-inch
    panel over 4 decades had "10,00030,000" run together); plain numbers, or powers of ten
    throughout when the axis passes 10⁵ over more than 4 decades; unlabelled minor ticks."""
    if lo is None or hi is None:
        lo, hi = axis.get_view_interval()
    decades = math.log10(hi / lo) if lo > 0 and hi > lo else 1.0
    ax = axis.axes
    fig = ax.figure
    is_x = axis is ax.xaxis
    pos = ax.get_position()
    inches = pos.width * fig.get_figwidth() if is_x else pos.height * fig.get_figheight()
    room = max(3, int(inches * (1.4 if is_x else 2.5)))  # labels per inch: x labels are wide
    subs = next((c for c in ((1.0, 2.0, 5.0), (1.0, 3.0)) if decades * len(c) <= room), (1.0,))
    if decades < 0.8:  # less than a decade: label every integer multiple
        subs = tuple(float(s) for s in range(1, 10))
    axis.set_major_locator(LogLocator(base=10, subs=subs, numticks=room + 1 if subs == (1.0,) else 40))
    powers = hi >= 1e5 and decades > 4
    axis.set_major_formatter(FuncFormatter(_power if powers else _number))
    axis.set_minor_locator(LogLocator(base=10, subs=tuple(float(s) for s in range(1, 10)), numticks=40))
    axis.set_minor_formatter(NullFormatter())


def _finish_log_axes(ax, x=True, y=True) -> None:
    """Apply :func:`_log_axis` to the final view limits of ``ax``."""
    if x:
        _log_axis(ax.xaxis, *ax.get_xlim())
    if y:
        _log_axis(ax.yaxis, *ax.get_ylim())


def _new_or_given(ax, n_panels: int, *, figsize, sharey=False, what: str):
    """(figure, list of axes, owned): a new constrained-layout Figure with ``n_panels`` axes in
    rows of at most 3, or the caller's axes (one Axes or a sequence of exactly ``n_panels``)."""
    if ax is None:
        ncol = min(3, max(1, n_panels))
        nrow = math.ceil(n_panels / ncol) if n_panels else 1
        fig = Figure(figsize=(figsize[0] * ncol + 2.6, figsize[1] * nrow), layout="constrained")
        axes = fig.subplots(nrow, ncol, squeeze=False, sharey=sharey).ravel().tolist()
        for a in axes[n_panels:]:
            a.set_visible(False)
        return fig, axes[:n_panels], True
    axes = [ax] if hasattr(ax, "plot") else list(np.ravel(np.asarray(ax, dtype=object)))
    if len(axes) != n_panels:
        raise ValueError(f"ax: {what} draws {n_panels} panel(s); pass that many axes (got {len(axes)})")
    return axes[0].figure, axes, False


def _legend(fig, axes, owned: bool, *, title: str | None = None) -> None:
    """One legend for the figure, outside the data: right of the panels (deduplicated by label)."""
    handles, labels = [], []
    for a in axes:
        for h, lb in zip(*a.get_legend_handles_labels(), strict=True):
            if lb not in labels:
                handles.append(h)
                labels.append(lb)
    if not handles:
        return
    # the d = ... entries first, in order of d, then the guides (panels add their d in turn)
    d_of = {lb: int(lb.split("=")[1].split()[0]) for lb in labels
            if lb.startswith("d = ") and lb.split("=")[1].split()[0].isdigit()}
    order = sorted(range(len(labels)), key=lambda i: (labels[i] not in d_of, d_of.get(labels[i], 0), i))
    handles, labels = [handles[i] for i in order], [labels[i] for i in order]
    kw = {"fontsize": 8, "title": title, "title_fontsize": 8, "frameon": False}
    if owned:
        fig.legend(handles, labels, loc="outside center right", **kw)
    else:
        axes[-1].legend(handles, labels, loc="center left", bbox_to_anchor=(1.02, 0.5), borderaxespad=0, **kw)


def _save(fig: Figure, path) -> None:
    if path is None:
        return
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if fig.canvas is None or type(fig.canvas).__name__ == "FigureCanvasBase":
        FigureCanvasAgg(fig)
    fig.savefig(path, dpi=_DPI)


def _floor(curves: pd.DataFrame) -> float:
    """A bottom for log error axes: below every learner's quartile band, but not at the
    round-off level a noiseless oracle reaches (1e-14 would flatten every other curve)."""
    vals = curves["q25"].to_numpy(float)
    vals = vals[np.isfinite(vals) & (vals > 0)]
    return float(vals.min() / 3) if vals.size else 1e-3


def _draw_floor(ax, oracle: pd.DataFrame, bottom: float, ds=None) -> None:
    """The oracle's median error per d, grey dotted, clipped to the axis bottom."""
    if oracle.empty:
        return
    for d, g in oracle.groupby("d"):
        if ds is not None and d not in ds:
            continue
        ax.plot(g["n"], np.maximum(g["median"], bottom * 1.08), ":", color="0.45", lw=1.4)
    clipped = bool((oracle["median"] < bottom).any())
    ax.plot(
        [], [], ":", color="0.45", label="oracle (U known)" + (", clipped at the axis" if clipped else "")
    )


def _draw_epsilon(ax, epsilon: float | None) -> None:
    """The target error ε: a red line labelled on the plot itself and in the legend."""
    if epsilon is None:
        return
    ax.axhline(epsilon, color="crimson", lw=0.8, alpha=0.7)
    ax.plot([], [], color="crimson", lw=0.8, label=f"ε = {epsilon:g} (target error for n*)")
    ax.annotate(f"ε = {epsilon:g}", xy=(1.0, epsilon), xycoords=("axes fraction", "data"), xytext=(-3, 2),
                textcoords="offset points", ha="right", va="bottom", fontsize=7, color="crimson")


def _band(ax, x, g: pd.DataFrame, *, color) -> None:
    """The interquartile band over seeds. Plain arrays: matplotlib < 3.8 reads a Series through
    ``Series._data``, which pandas >= 2.1 deprecates."""
    ax.fill_between(np.asarray(x, float), g["q25"].to_numpy(float), g["q75"].to_numpy(float), color=color,
                    alpha=0.15, lw=0)


def _is_kernel(method: str) -> bool:
    from .methods import METHODS

    m = METHODS.get(method)
    return bool(m and m.kernel)


# --------------------------------------------------------------------------- figures


def plot_error_curves(
    df: pd.DataFrame,
    path=None,
    *,
    ax=None,
    epsilon: float | None = None,
    target_spec: dict | None = None,
    title: str | None = None,
    predicted: pd.DataFrame | None = None,
    plateaus: list[float] | None = None,
) -> Figure:
    """Excess error against n (log-log): one panel per method (transfer excluded), one line per d.

    The band is the interquartile range over seeds. Kernel panels carry the staircase
    prediction (dashed, needs ``target_spec``) unless ``predicted`` (``label, d, n, prediction``,
    :func:`fastrep.experiments.large.predicted_curves`) gives their predicted learning curves,
    drawn dashed instead, with the staircase's ``plateaus`` as thin grey guides (a kernel panel
    the prediction does not cover then gets the guides only, no step function). Every panel
    carries the oracle's median error per d as a grey dotted floor when the store has oracle
    cells, and ε as a red line. ``ax``: one Axes per panel (panels in the order of the sorted labels).
    """
    curves = median_curves(df)
    methods = dict(zip(df["label"], df["method"], strict=True))
    labels = [lb for lb in sorted(curves["label"].unique()) if methods[lb] not in ("transfer", "oracle")]
    if not labels:
        labels = [lb for lb in sorted(curves["label"].unique()) if methods[lb] != "transfer"]
    oracle = curves[curves["label"].map(methods) == "oracle"]
    colors = _colors(df["d"].unique())
    fig, axes, owned = _new_or_given(ax, len(labels), figsize=(4.2, 3.8), sharey=True,
                                     what="plot_error_curves")
    all_n = np.sort(df["n"].unique())
    learners = curves[curves["label"].isin(labels)]
    bottom = _floor(learners)
    if epsilon is not None:
        bottom = min(bottom, epsilon / 3)
    for a, label in zip(axes, labels, strict=True):
        sub = curves[curves["label"] == label]
        for d, g in sub.groupby("d"):
            c = colors[d]
            a.plot(g["n"], g["median"], "o-", color=c, ms=3.5, lw=1.5, label=f"d = {d}")
            _band(a, g["n"], g, color=c)
        predicts = predicted is not None and label in set(predicted["label"])
        if predicted is not None and (predicts or _is_kernel(methods[label])):
            # the theory's curves replace the step-function staircase; a kernel it cannot predict
            # (random features at finite width) keeps only the plateau guides
            for level in plateaus or []:
                a.axhline(level, color="0.6", lw=0.6, alpha=0.6, zorder=0)
            if predicts:
                for d, g in predicted[predicted["label"] == label].groupby("d"):
                    a.plot(g["n"], g["prediction"].where(g["prediction"] > 0), "--",
                           color=colors.get(d, "0.3"), lw=1.2)
                a.plot([], [], "--", color="0.3", label="predicted (fastrep.theory)")
            if plateaus:
                a.plot([], [], "-", color="0.6", lw=0.6, label="staircase plateaus")
        elif _is_kernel(methods[label]) and target_spec is not None:
            ns = np.geomspace(all_n.min(), all_n.max(), 200)
            stair = staircase_curves(df[df["label"] == label], target_spec, ns)
            for d, g in stair.groupby("d"):
                # a zero prediction (all energy learnable) has no place on a log axis
                pred = g["prediction"].where(g["prediction"] > 1e-12)
                a.plot(g["n"], pred, "--", color=colors[d], lw=1.2)
            a.plot([], [], "--", color="0.3", label="kernel staircase prediction (dashed, per d)")
        _draw_floor(a, oracle, bottom)
        _draw_epsilon(a, epsilon)
        a.set_xscale("log")
        a.set_yscale("log")
        a.set_ylim(bottom=bottom)
        a.set_title(display_name(label, methods[label]))
        a.set_xlabel("training samples n")
        a.grid(True, which="major", alpha=0.3)
    for a in axes:
        _finish_log_axes(a)
        if owned and a.get_subplotspec().is_first_col():
            a.set_ylabel(ERROR_LABEL)
    if not owned:
        axes[0].set_ylabel(ERROR_LABEL)
    _legend(fig, axes, owned)
    if owned:
        fig.suptitle(title or "Excess test error against n (median over seeds, band: quartiles)")
    _save(fig, path)
    return fig


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
        s = slopes[slopes["label"] == label]
        if len(s) and np.isfinite(s["slope"].iloc[0]):
            r = s.iloc[0]
            interval = f" [{r['low']:.2f}, {r['high']:.2f}]" if np.isfinite(r["low"]) else ""
            text = f"{name}: slope {r['slope']:.2f}{interval}"
        else:
            text = f"{name}: no slope (n* outside the n grid)"
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
        a.set_xticks(ds, [str(d) for d in ds])
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


def plot_alignment(
    df: pd.DataFrame, path=None, *, ax=None, target_spec: dict | None = None, title: str | None = None
) -> Figure | None:
    """Median subspace alignment of W with U against n/d², per method with a W (None if none has).

    Dotted lines: r/d, the alignment of random directions (needs ``target_spec`` for r), in
    each d's colour, with their values in the legend (labels on the lines collide for close d).
    ``ax``: one Axes per method with an alignment.
    """
    sub = df[df["alignment"].notna() & (df["method"] != "transfer")]
    if sub.empty:
        return None
    r = 0
    if target_spec is not None:
        from .methods import build_target

        r = build_target(target_spec, int(sub["d"].max()), int(sub["seed"].min())).r
    curves = median_curves(sub, value="alignment")
    labels = sorted(curves["label"].unique())
    methods = dict(zip(sub["label"], sub["method"], strict=True))
    colors = _colors(sub["d"].unique())
    fig, axes, owned = _new_or_given(ax, len(labels), figsize=(4.4, 4.0), sharey=True,
                                     what="plot_alignment")
    for a, label in zip(axes, labels, strict=True):
        for d, g in curves[curves["label"] == label].groupby("d"):
            x = g["n"] / d**2
            text = f"d = {d}" + (f" (chance r/d = {r}/{d} = {r / d:.2g})" if r else "")
            a.plot(x, g["median"], "o-", color=colors[d], ms=3.5, label=text)
            _band(a, x, g, color=colors[d])
            if r:  # a random W has alignment about r/d
                a.axhline(r / d, color=colors[d], lw=0.8, ls=":")
        if r:
            a.plot([], [], ":", color="0.35", lw=0.8, label="dotted, in each d's colour: chance r/d\n"
                                                             "(the alignment of a random W)")
        a.set_xscale("log")
        a.set_ylim(0, 1.02)
        a.set_xlabel("n / d²")
        a.set_title(display_name(label, methods[label]))
        a.grid(True, alpha=0.3)
        _finish_log_axes(a, y=False)
    axes[0].set_ylabel("alignment: mean over neurons of ‖U w‖² / ‖w‖²\n(1 = W inside span U)")
    _legend(fig, axes, owned)
    if owned:
        fig.suptitle(title or "Learned representation: alignment of W with span(U)")
    _save(fig, path)
    return fig


def plot_transfer(
    df: pd.DataFrame, path=None, *, ax=None, epsilon: float | None = None, title: str | None = None
) -> Figure | None:
    """Target error against n_t, one colour per d: transfer (solid) and NTK on the target only
    (dashed); the oracle's error as a grey dotted floor. None when the store has no transfer cells."""
    methods = dict(zip(df["label"], df["method"], strict=True))
    tr = [lb for lb, m in methods.items() if m == "transfer"]
    if not tr:
        return None
    curves = median_curves(df)
    colors = _colors(df.loc[df["method"] == "transfer", "d"].unique())
    fig, (a,), owned = _new_or_given(ax, 1, figsize=(5.6, 4.6), what="plot_transfer")
    styles = [(lb, "o-", f"{display_name(lb, 'transfer')}, solid") for lb in sorted(tr)]
    styles += [(lb, "s--", f"{display_name(lb, m)} on the target samples only, dashed")
               for lb, m in sorted(methods.items()) if m == "ntk"]
    n_t = curves[curves["label"].isin(tr)]["n"]
    for label, fmt, _ in styles:
        for d, g in curves[curves["label"] == label].groupby("d"):
            if d not in colors:
                continue
            a.plot(g["n"], g["median"], fmt, color=colors[d], ms=3.5, lw=1.4)
    for _, fmt, text in styles:
        a.plot([], [], fmt, color="0.3", label=text)
    for d, c in colors.items():
        a.plot([], [], "-", color=c, lw=4, label=f"d = {d}")
    oracle = curves[curves["label"].map(methods) == "oracle"]
    shown = curves[curves["label"].isin([lb for lb, _, _ in styles])]
    bottom = _floor(shown)
    if epsilon is not None:
        bottom = min(bottom, epsilon / 3)
    _draw_floor(a, oracle, bottom, ds=set(colors))
    _draw_epsilon(a, epsilon)
    a.set_xscale("log")
    a.set_yscale("log")
    a.set_ylim(bottom=bottom)
    if len(n_t):
        lo = min(n_t.min(), curves["n"].min())
        a.set_xlim(lo * 0.8, curves["n"].max() * 1.25)
    _finish_log_axes(a)
    a.set_xlabel("target samples n_t")
    a.set_ylabel(ERROR_LABEL)
    a.grid(True, which="major", alpha=0.3)
    _legend(fig, [a], owned)
    a.set_title(title or "Transfer: target error against n_t (median over seeds)")
    _save(fig, path)
    return fig


# --------------------------------------------------------------------------- theory overlays
# (the large-d study's figures: measured kernel curves against fastrep.theory's prediction,
# n*(d) with the predicted kernel line to large d, per-degree learning)


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
        if slopes is not None:
            s = slopes[slopes["label"] == label]
            if len(s) and np.isfinite(s["slope"].iloc[0]):
                r = s.iloc[0]
                interval = f" [{r['low']:.2f}, {r['high']:.2f}]" if np.isfinite(r["low"]) else ""
                text += f" (slope {r['slope']:.2f}{interval})"
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
            c = float(pts["n_star"].iloc[0] / pts["d"].iloc[0] ** power)
            sup = "²" if power == 2 else "³"
            a.plot(xs, c * xs**power, style, color="0.35", lw=1,
                   label=f"∝ d{sup} (the paper's {'network' if power == 2 else 'kernel'} rate)")
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
