"""The look every figure shares, and the elements several of them draw.

Display names of the methods (:func:`display_name`), the error axis label, colours per d,
log-axis ticks a reader parses at a glance, the panel layout (a new Figure or the caller's
axes), one legend outside the data, PNG output, and the pieces drawn on more than one
figure: the log-axis floor, the oracle's error, the target error ε and the quartile band.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

ERROR_LABEL = "excess test error\n(MSE against noiseless f*, / E[f*²])"
_DPI = 120
#: What a reader sees for each registered method (tables and figures).
DISPLAY_NAMES = {
    "onestep": "one-step network",
    "multistep": "multi-step network",
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


def _colors(ds):
    from matplotlib import colormaps

    cmap = colormaps["viridis"]
    ds = sorted(ds)
    return {d: cmap(0.1 + 0.75 * i / max(1, len(ds) - 1)) for i, d in enumerate(ds)}


def _decade(v: float) -> int:
    """k with 10^k <= v < 10^(k+1), for v > 0 (a hair of slack so 1000 is 10³, not 10²)."""
    return math.floor(math.log10(v) + 1e-9)


def _scientific(v: float) -> str:
    """``v`` as m×10ᵏ, or 10ᵏ when m = 1 (v > 0)."""
    k = _decade(v)
    m = v / 10**k
    sup = str(k).translate(str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹"))
    return f"10{sup}" if abs(m - 1) < 1e-6 else f"{m:g}×10{sup}"


def _number(v: float, _pos=None) -> str:
    """A tick label a reader parses at a glance: 0.05, 0.2, 1, 20, 500, 2,000, 10⁵."""
    if v <= 0 or not np.isfinite(v):
        return ""
    if v >= 1e5 or v < 1e-3:
        return _scientific(v)
    return f"{v:,.0f}" if v >= 1 else f"{v:g}"


def _power(v: float, _pos=None) -> str:
    """A tick label in powers of ten throughout (1, 10, 10², 3×10⁴): for axes over many decades,
    where "10,000" beside "10⁵" reads as two notations."""
    if v <= 0 or not np.isfinite(v):
        return ""
    if _decade(v) <= 1:
        return f"{v:g}"
    return _scientific(v)


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


def _slope_text(slopes: pd.DataFrame, label: str) -> str | None:
    """``"slope 2.03 [1.91, 2.12]"``: the fitted n*(d) slope of ``label`` with its interval
    (``slopes``: ``label, slope, low, high``), or None when there is no finite slope."""
    s = slopes[slopes["label"] == label]
    if not (len(s) and np.isfinite(s["slope"].iloc[0])):
        return None
    r = s.iloc[0]
    interval = f" [{r['low']:.2f}, {r['high']:.2f}]" if np.isfinite(r["low"]) else ""
    return f"slope {r['slope']:.2f}{interval}"


def _is_kernel(method: str) -> bool:
    from ..methods import METHODS

    m = METHODS.get(method)
    return bool(m and m.kernel)
