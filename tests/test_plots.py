"""Figures a reader understands without the code: display names, enough labelled log ticks,
legends outside the data, labelled reference lines; every plot takes ``ax=`` and returns a Figure."""

import re

import numpy as np
import pandas as pd
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.text import Text

from fastrep.experiments import fit_slopes, n_star
from fastrep.experiments.plots import (
    DISPLAY_NAMES,
    display_name,
    plot_alignment,
    plot_error_curves,
    plot_n_star,
    plot_transfer,
)

EPS = 0.25
RAW = re.compile(r"\b(onestep|ntk|nngp|random_features)\b")  # registry names a reader should not see


def _cells():
    """A small synthetic store: error ~ d^p / n per method, 3 seeds, alignment for onestep."""
    rng = np.random.default_rng(0)
    rows = []
    power = {"onestep": 2, "ntk": 3, "oracle": 0.5, "transfer": 0.2, "random_features": 3}
    for method, p in power.items():
        for d in (8, 12, 16):
            for n in (16, 32, 64, 128, 256, 512, 1024, 2048, 4096):
                for seed in range(3):
                    err = min(1.0, 0.3 * d**p / n / 8) * float(np.exp(rng.normal(0, 0.1)))
                    align = min(1.0, n / d**2 / 4) if method in ("onestep", "random_features") else np.nan
                    label = "rf" if method == "random_features" else method
                    rows.append({"label": label, "method": method, "d": d, "n": n, "seed": seed,
                                 "excess_error": err, "alignment": align})
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def df():
    return _cells()


def _texts(fig: Figure) -> list[str]:
    FigureCanvasAgg(fig).draw()
    return [t.get_text() for t in fig.findobj(Text) if t.get_visible() and t.get_text()]


def _legend_boxes(fig):
    r = fig.canvas.get_renderer()
    legends = list(fig.legends) + [a.get_legend() for a in fig.axes if a.get_legend() is not None]
    return [lg.get_window_extent(r) for lg in legends]


@pytest.fixture(scope="module")
def figs(df):
    """The four figures, drawn once: (figure, its visible texts)."""
    stars = n_star(df, EPS)
    slopes = fit_slopes(df, EPS, n_boot=50)
    out = [
        plot_error_curves(df, epsilon=EPS),
        plot_n_star(stars, slopes, epsilon=EPS, n_max=df.groupby("label")["n"].max().to_dict()),
        plot_alignment(df, target_spec={"preset": "separation"}),
        plot_transfer(df, epsilon=EPS),
    ]
    return [(f, _texts(f)) for f in out]


def test_display_names():
    assert display_name("onestep") == DISPLAY_NAMES["onestep"] == "one-step network"
    assert display_name("rf", "random_features") == "random features (W at init) [rf]"
    assert display_name("mine", "unregistered") == "unregistered [mine]"


def test_every_figure_uses_display_names(figs):
    for fig, texts in figs:
        assert isinstance(fig, Figure)
        assert texts
        for text in texts:
            assert not RAW.search(text), text
    titles = [a.get_title() for a in figs[0][0].axes if a.get_visible()]
    assert titles == ["NTK ridge", "one-step network", "random features (W at init) [rf]"]


def test_legends_sit_outside_the_data(figs):
    for fig, _ in figs:
        r = fig.canvas.get_renderer()
        boxes = _legend_boxes(fig)
        assert boxes, "every figure has a legend"
        for a in fig.axes:
            if not a.get_visible():
                continue
            ab = a.get_window_extent(r)
            for lb in boxes:
                assert not ab.overlaps(lb), (a.get_title(), ab, lb)


def _labelled(axis, lo, hi, which="major"):
    ticks = axis.get_majorticklabels() if which == "major" else axis.get_minorticklabels()
    pos = 0 if axis.axis_name == "x" else 1
    return [t.get_text() for t in ticks if t.get_text() and lo <= t.get_position()[pos] <= hi]


def test_log_axes_have_enough_labelled_ticks_and_no_minor_labels(figs):
    ax = figs[1][0].axes[0]  # n*(d): one tick label on its y axis was the complaint
    assert len(_labelled(ax.yaxis, *ax.get_ylim())) >= 3
    for fig, _ in figs:
        for a in fig.axes:
            if not a.get_visible():
                continue
            for axis, lim in ((a.xaxis, a.get_xlim()), (a.yaxis, a.get_ylim())):
                assert not _labelled(axis, *lim, which="minor")
                shared_inner = axis.axis_name == "y" and not a.get_subplotspec().is_first_col()
                if axis.get_scale() == "log" and not shared_inner:
                    assert len(_labelled(axis, *lim)) >= 2, (a.get_title(), axis.axis_name)


def test_reference_lines_are_labelled(figs):
    (_, err), (_, stars), (_, align), (_, transfer) = figs
    assert "ε = 0.25" in err and "ε = 0.25" in transfer
    assert "∝ d²" in stars and "∝ d³" in stars
    assert any("d², d³" in t for t in stars)
    assert any(t.startswith("dotted, in each d's colour: chance r/d") for t in align)
    assert {"d = 8 (chance r/d = 2/8 = 0.25)", "d = 12 (chance r/d = 2/12 = 0.17)",
            "d = 16 (chance r/d = 2/16 = 0.12)"} <= set(align)


def _overlapping_texts(fig):
    """Pairs of visible texts, tick labels aside (matplotlib lays those out), whose drawn boxes
    intersect: a label written over another."""
    FigureCanvasAgg(fig).draw()
    r = fig.canvas.get_renderer()
    ticks = {id(t) for a in fig.axes for axis in (a.xaxis, a.yaxis)
             for t in axis.get_majorticklabels() + axis.get_minorticklabels()}
    texts = [t for t in fig.findobj(Text) if t.get_visible() and t.get_text().strip() and id(t) not in ticks]
    boxes = [(t.get_text(), t.get_window_extent(r)) for t in texts]
    return [(a, b) for i, (a, ba) in enumerate(boxes) for b, bb in boxes[i + 1:]
            if ba.width and bb.width and ba.overlaps(bb)]


def test_chance_levels_of_close_d_do_not_collide():
    # d = 16, 20, 24: r/d = 0.125, 0.1, 0.083, whose labels were written over each other
    rows = [{"label": "onestep", "method": "onestep", "d": d, "n": n, "seed": s, "excess_error": 0.5,
             "alignment": min(1.0, n / d**2 / 4)}
            for d in (16, 20, 24) for n in (256, 1024, 4096) for s in range(2)]
    fig = plot_alignment(pd.DataFrame(rows), target_spec={"preset": "separation"})
    assert _overlapping_texts(fig) == []


def test_plots_draw_on_given_axes_and_write_png(df, tmp_path):
    fig = Figure(figsize=(12, 4))
    axes = fig.subplots(1, 3)
    out = plot_error_curves(df, tmp_path / "e.png", ax=axes, epsilon=EPS)
    assert out is fig
    titles = [a.get_title() for a in axes]
    assert titles == ["NTK ridge", "one-step network", "random features (W at init) [rf]"]
    assert (tmp_path / "e.png").stat().st_size > 0
    fig1 = Figure()
    ax = fig1.subplots()
    assert plot_transfer(df, ax=ax, epsilon=EPS) is fig1
    assert plot_n_star(n_star(df, EPS), fit_slopes(df, EPS, n_boot=20), ax=ax, epsilon=EPS) is fig1
    with pytest.raises(ValueError, match="ax: plot_error_curves draws 3 panel"):
        plot_error_curves(df, ax=ax)
    with pytest.raises(ValueError, match="ax: plot_alignment draws 2 panel"):
        plot_alignment(df, ax=ax)


def test_nothing_to_draw_returns_none(df):
    only = df[df["method"] == "ntk"]
    assert plot_alignment(only) is None
    assert plot_transfer(only) is None
