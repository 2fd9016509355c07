"""Plots and report.md from a store alone: files exist, are real PNGs, and the numbers match the analysis."""

import re

import matplotlib.image
import numpy as np
import pandas as pd
import pytest

from fastrep.experiments import fit_slopes, load, n_star, run, write_report
from fastrep.experiments.plots import display_name
from fastrep.experiments.report import separation_checks

from .experiments_toy import register, toy_spec

register()


@pytest.fixture(scope="module")
def toy_store(tmp_path_factory):
    path = tmp_path_factory.mktemp("rep") / "s.sqlite"
    spec = toy_spec(seeds=3, grid={"d": [4, 8, 16], "n": {"start": 8, "stop": 2048}})
    spec["methods"]["toy_rf"] = {"method": "toy_kernel", "power": 2.5}
    run(spec, store=path, executor="serial", progress=False)
    return path


def test_report_and_figures(toy_store, tmp_path):
    report = write_report(toy_store, tmp_path, n_boot=200)
    text = report.read_text()
    names = sorted(p.name for p in tmp_path.glob("*.png"))
    assert names == ["toy-alignment.png", "toy-error_vs_n.png", "toy-n_star.png"]  # no transfer cells here
    for name in names:
        img = matplotlib.image.imread(tmp_path / name)
        assert img.ndim == 3 and img.shape[0] > 300 and img.shape[1] > 400
        assert img[..., :3].std() > 0.05  # not blank
        assert f"]({name})" in text
    df = load(toy_store)
    slopes = fit_slopes(df, 0.5, n_boot=200).set_index("label")
    for label in ("toy", "toy_rf"):
        r = slopes.loc[label]
        name = display_name(label, r["method"])  # "toy_kernel [toy_rf]": the reader's name
        assert f"| {name} | {r['slope']:.2f} [{r['low']:.2f}, {r['high']:.2f}] |" in text
    stars = n_star(df, 0.5)
    toy16 = stars[(stars["label"] == "toy") & (stars["d"] == 16)]["n_star"].iloc[0]
    assert f"{toy16:,.0f}" in text
    toy3_16 = stars[(stars["label"] == "toy3") & (stars["d"] == 16)]
    assert toy3_16["status"].iloc[0] == "above_grid" and "> 2048" in text
    assert re.search(r"machine: .*cores", text) and "total time" in text and "backend used per method" in text


def test_report_reads_only_the_store(toy_store, tmp_path, monkeypatch):
    import fastrep.experiments.runner as runner

    monkeypatch.setattr(runner, "execute_cell", lambda task: pytest.fail("the report reran a cell"))
    assert write_report(toy_store, tmp_path, n_boot=20).exists()


def test_empty_store_report(tmp_path):
    from fastrep.experiments import ResultStore

    with ResultStore(tmp_path / "e.sqlite"):
        pass
    text = write_report(tmp_path / "e.sqlite", tmp_path).read_text()
    assert "no finished cells" in text


def _slopes(rows):
    return pd.DataFrame(
        [
            {
                "label": m,
                "method": m,
                "slope": s,
                "low": lo,
                "high": hi,
                "d_used": 3,
                "d_total": 3,
                "boot_used": 100,
            }
            for m, s, lo, hi in rows
        ]
    )


def test_separation_checks():
    good = separation_checks(
        _slopes([("onestep", 2.0, 1.8, 2.2), ("ntk", 3.0, 2.7, 3.3), ("transfer", 0.1, -0.2, 0.4)])
    )
    assert [ok for _, ok, _ in good] == [True, True, True]
    overlap = separation_checks(_slopes([("onestep", 2.0, 1.5, 2.6), ("ntk", 2.8, 2.4, 3.3)]))
    assert [ok for _, ok, _ in overlap] == [True, False]
    steep = separation_checks(_slopes([("onestep", 2.9, 2.8, 3.0), ("transfer", 0.9, 0.6, 1.2)]))
    assert [ok for _, ok, _ in steep] == [False, False]
    missing = separation_checks(_slopes([("onestep", np.nan, np.nan, np.nan), ("ntk", 3.0, 2.7, 3.3)]))
    assert [ok for _, ok, _ in missing] == [None, None]


def test_separation_checks_never_pick_one_of_two_arms_silently():
    two = _slopes([("onestep", 2.0, 1.8, 2.2), ("onestep", 2.9, 2.8, 3.0)])
    two["label"] = ["onestep (width=50)", "onestep (width=100)"]
    assert separation_checks(two) == []  # which arm the check is about would be a guess
    named = _slopes([("onestep", 2.0, 1.8, 2.2), ("onestep", 2.9, 2.8, 3.0)])
    named.loc[1, "label"] = "onestep_wide"
    (text, passed, detail), *_ = separation_checks(named)
    assert passed and detail.startswith("2.00")


def test_an_n_star_above_the_grid_is_bounded_by_that_d_s_grid(tmp_path):
    """n* above the grid: '> the largest n at that d' (grids clipped by n_max differ per d), the
    plot's marker drawn there, and the method in the legend even with no n* inside the grid."""
    import matplotlib

    matplotlib.use("Agg")
    from fastrep.experiments.plots import plot_n_star

    path = tmp_path / "s.sqlite"
    spec = toy_spec(seeds=2, grid={"d": [4, 8], "n": {"start": 8, "stop": 2048}})
    # power 5: n* = d^5 / 0.5 lies above every grid; n <= 4 d^2 clips d = 4 at 64, d = 8 at 256
    spec["methods"] = {"toy": {"power": 2.0}, "steep": {"method": "toy", "power": 5.0,
                                                        "n_max": {"factor": 4, "power": 2}}}
    run(spec, store=path, executor="serial", progress=False)
    text = write_report(path, tmp_path, n_boot=20).read_text()
    table = text.split("### n*(d)")[1]
    row = next(line for line in table.splitlines() if line.startswith("| toy [steep]"))
    assert row.split("|")[2:4] == [" > 64 ", " > 256 "], row
    df = load(path)
    stars = n_star(df, 0.5)
    fig = plot_n_star(stars, fit_slopes(df, 0.5, n_boot=20), epsilon=0.5)
    ax = fig.axes[0]
    ups = [ln for ln in ax.get_lines() if ln.get_marker() == "^" and len(ln.get_xdata())]
    assert len(ups) == 1 and list(ups[0].get_ydata()) == [64, 256]
    legend = [t.get_text() for t in fig.legends[0].get_texts()] if fig.legends else [
        t.get_text() for t in ax.get_legend().get_texts()]
    assert any(t.startswith("toy [steep]") for t in legend), legend
