"""Curves against n: the excess error per method, the alignment of W, and transfer.

:func:`plot_error_curves` (one panel per method, one line per d, with the kernel staircase
or the theory's curves, the oracle's floor and ε), :func:`plot_alignment` (alignment of W
with span U against n/d²) and :func:`plot_transfer` (target error against n_t).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from ..analysis import median_curves, staircase_curves
from .style import (
    ERROR_LABEL,
    _band,
    _colors,
    _draw_epsilon,
    _draw_floor,
    _finish_log_axes,
    _floor,
    _is_kernel,
    _legend,
    _new_or_given,
    _save,
    display_name,
)


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
        from ..methods import build_target

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
