"""The first layer's path: alignment and training loss against the step t.

:func:`plot_trajectory` draws the rows of :func:`fastrep.experiments.load_trajectories`
(multi-step cells): the subspace alignment of W_t with span U, and the training loss of
step t's batch, against t, one line per (label, d).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from .style import _colors, _legend, _new_or_given, _save, display_name

_STYLES = ("-", "--", ":", "-.")
_MARKERS = ("o", "s", "^", "D", "v")


def trajectory_curves(traj: pd.DataFrame) -> pd.DataFrame:
    """Median over seeds of alignment and loss per (label, method, d, t), at each (label, d)'s
    largest n (the cells whose steps saw the most samples)."""
    if traj.empty:
        return pd.DataFrame(columns=["label", "method", "d", "n", "t", "alignment", "loss", "r"])
    n_max = traj.groupby(["label", "d"])["n"].transform("max")
    sub = traj[traj["n"] == n_max].copy()
    sub["r"] = [len(v) if isinstance(v, list) else np.nan for v in sub["direction_overlap"]]
    out = (sub.groupby(["label", "method", "d", "n", "t"], as_index=False)
           .agg(alignment=("alignment", "median"), loss=("loss", "median"), r=("r", "max")))
    return out.sort_values(["label", "d", "t"], kind="stable").reset_index(drop=True)


def plot_trajectory(
    traj: pd.DataFrame,
    path=None,
    *,
    ax=None,
    title: str | None = None,
) -> Figure | None:
    """Alignment of W_t with span U (left) and training loss (right) against the step t.

    One line per (label, d): colour by d, line style by label; the median over seeds at each
    (label, d)'s largest n. The alignment of a random W (r/d) is dotted per d. The loss is
    that of step t's batch at W_t (none at the last record, t = T), on a log axis.

    Parameters
    ----------
    traj : pandas.DataFrame
        The rows of :func:`fastrep.experiments.load_trajectories`.
    path : str or os.PathLike or None, default None
        Write a PNG there.
    ax : sequence of two matplotlib Axes or None, default None
        Draw on these (alignment, loss) instead of a new Figure.
    title : str or None, default None
        The figure's title.

    Returns
    -------
    matplotlib.figure.Figure or None
        The figure, or None when ``traj`` has no rows.
    """
    curves = trajectory_curves(traj)
    if curves.empty:
        return None
    fig, axes, owned = _new_or_given(ax, 2, figsize=(4.2, 3.6), what="plot_trajectory")
    colors = _colors(curves["d"].unique())
    labels = sorted(curves["label"].unique())
    for i, label in enumerate(labels):
        for d, g in curves[curves["label"] == label].groupby("d"):
            name = f"{display_name(label, g['method'].iloc[0])}, d = {d} (n = {int(g['n'].iloc[0]):,})"
            kw = {"color": colors[d], "ls": _STYLES[i % len(_STYLES)], "marker": _MARKERS[i % len(_MARKERS)],
                  "ms": 3.5, "lw": 1.5}
            axes[0].plot(g["t"], g["alignment"], label=name, **kw)
            loss = g["loss"].where(g["loss"] > 0)
            axes[1].plot(g["t"], loss, **kw)
    for d, g in curves.groupby("d"):
        r = g["r"].max()
        if np.isfinite(r):
            axes[0].axhline(r / d, color=colors[d], lw=0.8, ls=(0, (1, 2)), alpha=0.8, zorder=0)
    axes[0].plot([], [], color="0.5", lw=0.8, ls=(0, (1, 2)), label="r/d: a random W")
    axes[0].set_xlabel("step t")
    axes[0].set_ylabel("subspace alignment of W_t with span U")
    axes[0].set_ylim(0, 1.02)
    axes[1].set_xlabel("step t")
    axes[1].set_ylabel("training loss of step t's batch")
    if curves["loss"].gt(0).any():
        axes[1].set_yscale("log")
    for a in axes:
        a.grid(alpha=0.3)
        if np.issubdtype(curves["t"].dtype, np.integer) and curves["t"].max() <= 20:
            a.set_xticks(np.arange(curves["t"].min(), curves["t"].max() + 1))
    if title is not None:
        fig.suptitle(title)
    _legend(fig, axes, owned)
    _save(fig, path)
    return fig
