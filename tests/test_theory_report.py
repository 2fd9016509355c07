"""The large-d study's predictions (experiments.large) and their figures (plots.plot_*_prediction)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fastrep import theory as T
from fastrep.experiments.analysis import n_star
from fastrep.experiments.large import (
    plateau_levels,
    predicted_curves,
    predicted_learnability,
    predicted_n_star,
)
from fastrep.experiments.methods import build_target
from fastrep.experiments.plots import plot_degree_learning, plot_kernel_prediction, plot_n_star_prediction

SPEC = {"preset": "separation", "noise": 0.0}


def _cells():
    rows = []
    for label, method in (("ntk", "ntk"), ("onestep", "onestep")):
        for d in (8, 12):
            for n in (100, 200, 400, 800, 1600):
                for seed in (0, 1):
                    err = float(np.exp(-n / (40.0 * d)) + 0.01 * seed) if method == "ntk" else 100.0 / n
                    rows.append({"label": label, "method": method, "d": d, "n": n, "seed": seed,
                                 "excess_error": err})
    return pd.DataFrame(rows)


def test_predicted_curves_are_the_theory_at_each_stored_d():
    df = _cells()
    pred = predicted_curves(df, SPEC, {"ntk": 1e-8, "onestep": None}, points=20)
    assert set(pred["label"]) == {"ntk"} and set(pred["d"]) == {8, 12}  # the network is not a kernel
    g = pred[pred["d"] == 12]
    t = build_target(SPEC, 12, 0)
    np.testing.assert_allclose(g["prediction"], T.kernel_learning_curve(t, g["n"].to_numpy(), ridge=1e-8,
                                                                        measure="gaussian"))
    assert g["n"].min() < 100 and g["n"].max() > 1600


def test_predicted_n_star_and_learnability():
    p = predicted_n_star(SPEC, [16, 32, 64], 0.25, label="ntk", ridge=0.0)
    assert list(p.columns) == ["label", "d", "n_star"] and np.all(np.diff(p["n_star"]) > 0)
    L = predicted_learnability(_cells(), SPEC, {"ntk": 1e-8}, points=10)
    assert set(L["degree"]) == {2, 3} and L["learnability"].between(0, 1).all()


def test_plateaus_of_the_separation_target():
    assert plateau_levels(SPEC, 16) == pytest.approx([1.0, 0.5])


def test_figures_are_written(tmp_path):
    df = _cells()
    pred = predicted_curves(df, SPEC, {"ntk": 1e-8}, points=20)
    fig = plot_kernel_prediction(df, pred, tmp_path / "k.png", epsilon=0.25, plateaus=[1.0, 0.5])
    assert fig is not None and (tmp_path / "k.png").stat().st_size > 0
    assert plot_kernel_prediction(df, pred.iloc[:0], tmp_path / "none.png") is None
    stars = n_star(df, 0.25)
    pn = predicted_n_star(SPEC, [8, 12, 64, 256], 0.25, label="ntk", ridge=0.0)
    assert plot_n_star_prediction(stars, pn, tmp_path / "s.png", epsilon=0.25) is not None
    assert (tmp_path / "s.png").stat().st_size
    deg = pd.DataFrame([{"label": "ntk", "d": 8, "n": n, "seed": s, "degree": ell, "fraction": f}
                        for n in (100, 400) for s in (0, 1) for ell, f in ((2, 0.9), (3, 0.2))])
    L = predicted_learnability(df, SPEC, {"ntk": 1e-8}, points=10)
    assert plot_degree_learning(deg, tmp_path / "g.png", predicted=L) is not None
    assert (tmp_path / "g.png").stat().st_size
    assert plot_degree_learning(deg.iloc[:0], tmp_path / "g0.png") is None


def test_theory_figures_draw_on_given_axes(tmp_path):
    from matplotlib.figure import Figure

    df = _cells()
    pred = predicted_curves(df, SPEC, {"ntk": 1e-8}, points=20)
    fig = Figure()
    ax = fig.subplots()
    assert plot_kernel_prediction(df, pred, ax=ax, epsilon=0.25) is fig
    assert ax.get_title() == "NTK ridge"  # the display name, not the registry's 'ntk'
    with pytest.raises(ValueError, match="ax: plot_kernel_prediction draws 1 panel"):
        plot_kernel_prediction(df, pred, ax=Figure().subplots(1, 2))
    fig2 = Figure()
    ax2 = fig2.subplots()
    pn = predicted_n_star(SPEC, [8, 12, 64], 0.25, label="ntk", ridge=0.0)
    assert plot_n_star_prediction(n_star(df, 0.25), pn, tmp_path / "s.png", ax=ax2, epsilon=0.25) is fig2
    assert (tmp_path / "s.png").stat().st_size > 0
    deg = pd.DataFrame([{"label": lb, "method": lb, "d": 8, "n": n, "seed": 0, "degree": ell, "fraction": 0.5}
                        for lb in ("ntk", "onestep") for n in (100, 400) for ell in (2, 3)])
    fig3 = Figure()
    grid = fig3.subplots(2, 2)  # rows: degrees 2, 3; columns: ntk, onestep
    assert plot_degree_learning(deg, ax=grid) is fig3
    assert [a.get_title() for a in grid[0]] == ["NTK ridge", "one-step network"]
    assert grid[1, 0].get_ylabel() == "degree 3: fraction learned"
    with pytest.raises(ValueError, match="ax: plot_degree_learning draws 4 panel"):
        plot_degree_learning(deg, ax=grid[0])


def _tiny_spec():
    from fastrep.experiments.spec import load_spec

    return load_spec({
        "name": "tiny", "epsilon": 0.25, "seeds": 1,
        "target": {"preset": "separation", "noise": 0.0},
        "grid": {"d": [6], "n": [64, 128]},
        "evaluation": {"n_val": 200, "n_test": 500},
        "methods": {"ntk": {"ridge": 1e-8},
                    "transfer": {"width": 40, "source": {"target": {"preset": "random", "r": 2, "p": 2},
                                                         "n": 300}}},
    })


def test_transfer_cells_reuse_the_source_fit_and_match_fit_transfer():
    from fastrep.experiments import methods as M
    from fastrep.transfer import fit_transfer

    M._SOURCE_CACHE.clear()
    cells = sorted((c for c in _tiny_spec().cells() if c.method == "transfer"), key=lambda c: c.n)
    first, second = (M.run_transfer(c.params) for c in cells)
    assert "source.total" in first["timings"] and "source.total" not in second["timings"]
    p = cells[1].params
    target = M.build_target(p["target"], p["d"], p["seed"])
    source = M.build_target(p["source"]["target"], p["d"], p["seed"], U=target.U)
    X, y, Xv, yv = M._data(target, p)
    ref = fit_transfer(source, X, y, n_source=300, X_val=Xv, y_val=yv, seed=M.derive_seed(p["seed"], "model"),
                       source_seed=M.derive_seed(p["seed"], "source_data"), n_val=200, width=40)
    from fastrep.metrics import excess_error

    want = excess_error(ref, target, n_test=500, seed=M.derive_seed(p["seed"], "test"))
    assert second["excess_error"] == pytest.approx(want, rel=1e-12)


def test_cells_record_the_per_degree_learning():
    from fastrep.experiments import methods as M

    cell = next(c for c in _tiny_spec().cells() if c.method == "ntk" and c.n == 128)
    out = M.run_ntk(cell.params)
    rec = out["extra"]["degree_learning"]
    assert set(rec) == {"2", "3"}
    for frac, se in rec.values():
        assert -0.2 < frac < 1.2 and 0 <= se < 0.5
    assert "degree_learning" in out["timings"]


def test_report_has_the_theory_section(tmp_path):
    from fastrep.experiments import run, write_report

    spec = _tiny_spec()
    store = tmp_path / "r.sqlite"
    run(spec, store, executor="serial", progress=False)
    text = write_report(store, tmp_path / "rep", n_boot=20).read_text()
    assert "### The kernels against fastrep.theory" in text
    assert "Predicted n* (ridgeless) to d = 1024" in text
    for fig in ("kernel_theory", "n_star_theory", "degree_learning"):
        assert f"-{fig}.png" in text
        assert list((tmp_path / "rep").glob(f"*-{fig}.png"))


def _large_spec_shrunk():
    """`fastrep demo --large`'s own spec with every method cut to its smallest d and a few n, so
    the study's method options (dtype='auto' NTK, streamed network, transfer source reuse) run
    in seconds."""
    import copy

    from fastrep.experiments import load_spec
    from fastrep.experiments.demo import _defaults

    raw = copy.deepcopy(_defaults()["large"])
    # the study's own name: its report carries the study's goals (report.GOALS_STUDY)
    raw["seeds"] = 1
    raw["evaluation"] = {"n_val": 300, "n_test": 600}
    raw["grid"] = {"d": [12, 16], "n": {"start": 64, "stop": 512, "factor": 2}}
    for name, m in raw["methods"].items():
        m["seeds"] = 1
        for key in ("n_min", "n_max"):
            m.pop(key, None)
        m["n"] = {"start": 64, "stop": 512, "factor": 2}
        m["d"] = [12] if name == "ntk" else [16]
        if "width" in m:
            m["width"] = 40
        if name == "transfer":
            m["source"]["n"] = 400
    return load_spec(raw)


def test_large_study_runs_on_dask_and_reports_the_same(tmp_path):
    """`demo --large --scheduler`: the large study's cells run on a Dask cluster, agree with a
    serial run exactly, record what ran, and report the same way."""
    distributed = pytest.importorskip("distributed")
    from fastrep.experiments import load, run, write_report

    spec = _large_spec_shrunk()
    serial = tmp_path / "serial.sqlite"
    assert run(spec, serial, executor="serial", threads=1, progress=False).cells_failed == 0
    dask = tmp_path / "dask.sqlite"
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=None) as cluster:
        s = run(spec, dask, executor="dask", scheduler=cluster.scheduler_address, progress=False)
    assert s.cells_failed == 0 and s.cells_run == s.cells_total == len(spec.cells())
    a, b = (load(p).sort_values(["label", "d", "n", "seed"]).reset_index(drop=True) for p in (serial, dask))
    assert a["excess_error"].tolist() == b["excess_error"].tolist()
    ntk = b[b["label"] == "ntk"]
    assert set(ntk["extra"].map(lambda e: (e["dtype"], e["solver"]))) == {("float64", "cholesky")}
    texts = [write_report(p, tmp_path / p.stem, n_boot=20).read_text() for p in (serial, dask)]
    goals = [[ln for ln in t.splitlines() if ln.startswith("- **")] for t in texts]
    assert "Goals of the large-d study:" in texts[1] and goals[1]
    assert goals[0] == goals[1]


def test_plan_charges_a_transfer_source_once_per_worker_and_seed():
    """--dry-run: transfer cells of one (d, seed) share their worker's source fit, so the estimate
    charges the source to one cell per worker, not to each of them."""
    from fastrep.experiments.plan import cell_estimate, plan

    spec = _large_spec_shrunk()
    cells = [c for c in spec.cells() if c.method == "transfer"]
    groups = {(c.params["d"], c.params["seed"]) for c in cells}
    assert len(cells) > 2 * len(groups)
    each = sum(cell_estimate(c.params)[0] for c in cells)
    heads = sum(cell_estimate({**c.params, "n_source": 0})[0] for c in cells)
    source = (each - heads) / len(cells)  # the source fit's share of one cell
    for workers in (1, 2):
        got = plan(spec, cells, workers=workers).cell_seconds
        assert got == pytest.approx(heads + source * workers * len(groups), rel=1e-9)
