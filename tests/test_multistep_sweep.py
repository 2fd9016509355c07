"""Sweeps of the multistep method: trajectories stored per cell, read back, plotted, and identity."""

import shutil
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from fastrep.experiments import (
    METHODS,
    ResultStore,
    load,
    load_spec,
    load_trajectories,
    plan,
    read_store,
    run,
    write_report,
)

ROOT = Path(__file__).resolve().parents[1]
T = 2
D_VALUES = [8, 12]


def _spec(**options):
    opts = {"method": "multistep", "width": 16, "steps": T, "ridge": 1e-3, **options}
    return load_spec({
        "name": "steps", "epsilon": 0.25, "seeds": [0],
        "target": {"preset": "separation"}, "grid": {"d": D_VALUES, "n": [256]},
        "methods": {"two steps": opts},
        "evaluation": {"n_test": 2000, "n_val": 256},
    })


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    path = tmp_path_factory.mktemp("ms") / "steps.sqlite"
    spec = _spec()
    summary = run(spec, path, executor="serial", progress=False)
    assert summary.cells_failed == 0
    return spec, path


def test_store_holds_a_trajectory_row_per_recorded_step(swept):
    spec, path = swept
    cells = load(path)
    assert len(cells) == len(D_VALUES)
    con = sqlite3.connect(path)
    try:
        rows = con.execute(
            "SELECT cell_id, t, alignment, loss, lr FROM trajectories ORDER BY cell_id, t"
        ).fetchall()
    finally:
        con.close()
    by_cell = {}
    for cell_id, t, align, loss, lr in rows:
        by_cell.setdefault(cell_id, []).append((t, align, loss, lr))
    assert set(by_cell) == set(cells["cell_id"])
    for steps in by_cell.values():
        assert [s[0] for s in steps] == list(range(T + 1))  # W_0 .. W_T, every step for T <= 20
        assert all(0.0 <= s[1] <= 1.0 for s in steps)
        assert all(s[2] is not None and s[2] > 0 for s in steps[:-1]) and steps[-1][2] is None
        assert all(s[3] is not None and s[3] > 0 for s in steps[:-1]) and steps[-1][3] is None


def test_load_trajectories_matches_a_refit_of_the_cell(swept):
    """The stored rows are the cell's own trajectory: refit the cell and compare."""
    import fastrep
    from fastrep.experiments.methods import derive_seed
    from fastrep.experiments.presets import build_target

    spec, path = swept
    traj = load_trajectories(path)
    assert list(traj.columns[:8]) == ["cell_id", "sweep", "label", "method", "d", "n", "seed", "t"]
    assert sorted(traj["d"].unique().tolist()) == D_VALUES
    assert set(traj["method"]) == {"multistep"} and set(traj["label"]) == {"two steps"}
    cell = next(c for c in spec.cells() if c.d == D_VALUES[0])
    p = cell.params
    target = build_target(p["target"], p["d"], p["seed"])
    stream = fastrep.GaussianStream(target, seed=derive_seed(p["seed"], "data"))
    X, y = stream.take(p["n"])
    Xv, yv = stream.val().take(p["evaluation"]["n_val"])
    net = fastrep.MultiStepNetwork(**p["options"], target=target, seed=derive_seed(p["seed"], "model"))
    net.fit(X, y, Xv, yv)
    mine = traj[traj["cell_id"] == cell.cell_id]
    tr = net.trajectory_
    np.testing.assert_allclose(mine["alignment"], tr.alignment, rtol=1e-12)
    np.testing.assert_allclose(mine["loss"].iloc[:-1], tr.loss, rtol=1e-12)
    np.testing.assert_allclose(mine["spike_1"], tr.spike_values[:, 0], rtol=1e-12)
    np.testing.assert_allclose(mine["row_norm_mean"], tr.row_norms.mean(axis=1), rtol=1e-12)
    r = target.U.shape[0]
    assert all(len(v) == r for v in mine["direction_overlap"])


def test_report_draws_the_trajectory(swept, tmp_path):
    _, path = swept
    report = write_report(path, tmp_path / "out", n_boot=10)
    fig = tmp_path / "out" / "steps-trajectory.png"
    assert fig.exists() and fig.stat().st_size > 1000
    assert "(steps-trajectory.png)" in report.read_text()


def test_store_before_trajectories_still_reads(swept, tmp_path):
    """A store of schema 2 (no trajectories table) reads with an empty frame, reports without
    the figure, and gains the table when a sweep writes into it."""
    _, src = swept
    old = tmp_path / "old.sqlite"
    shutil.copyfile(src, old)
    con = sqlite3.connect(old)
    con.execute("DROP TABLE trajectories")
    con.execute("UPDATE meta SET value = '2' WHERE key = 'schema_version'")
    con.commit()
    con.close()
    assert len(load(old)) == len(D_VALUES)
    empty = load_trajectories(old)
    assert empty.empty and "alignment" in empty.columns and "label" in empty.columns
    assert read_store(old).trajectories.empty
    report = write_report(old, tmp_path / "out", n_boot=10)
    assert "trajectory" not in report.read_text()
    assert not (tmp_path / "out" / "steps-trajectory.png").exists()
    # a sweep into the old store: the table is added, the new cells' trajectories written
    summary = run(_spec(steps=1).renamed("one-step"), old, executor="serial", progress=False)
    assert summary.cells_run == len(D_VALUES)
    traj = load_trajectories(old)
    assert len(traj) == len(D_VALUES) * 2 and set(traj["t"]) == {0, 1}


def test_trajectory_is_written_with_its_cell_or_not_at_all(tmp_path):
    """One transaction: a trajectory row SQLite refuses rolls the cell back too; a cell written
    twice keeps its first trajectory, without duplicates."""
    path = tmp_path / "s.sqlite"
    row = {"cell_id": "c1", "sweep": "s", "label": "a", "method": "multistep", "d": 4, "n": 8, "seed": 0,
           "params": {}, "excess_error": 0.5, "timings": {}, "wall_s": 0.1, "fastrep_version": "x",
           "finished_at": "2026-01-01T00:00:00", "extra": {},
           "trajectory": [{"t": 0, "alignment": 0.1}, {"t": 1, "alignment": object()}]}
    with ResultStore(path) as st:
        with pytest.raises(sqlite3.Error):
            st.write_cell(row)
        assert st.count() == 0
        row["trajectory"] = [{"t": 0, "alignment": 0.1}, {"t": 1, "alignment": 0.2}]
        st.write_cell(row)
        row["trajectory"] = [{"t": t, "alignment": 0.9} for t in range(3)]
        st.write_cell(row)
        assert st.count() == 1
    traj = load_trajectories(path)
    assert traj["t"].tolist() == [0, 1] and traj["alignment"].tolist() == [0.1, 0.2]


def test_every_multistep_option_is_in_the_cell_identity():
    base = _spec()
    ids = {c.cell_id for c in base.cells()}
    opts = next(iter(base.cells())).params["options"]
    assert opts["protocol"] == "fresh" and opts["weight_decay"] == "auto"  # defaults filled in
    assert "target" not in opts and "seed" not in opts
    # spelling a default out keeps the cells; changing any option makes new ones
    assert {c.cell_id for c in _spec(protocol="fresh").cells()} == ids
    for change in ({"protocol": "reuse"}, {"weight_decay": 0.0}, {"readout": "gaussian"}, {"bias": False},
                   {"lr": [0.5, 0.25]}, {"record_every": 2}):
        other = {c.cell_id for c in _spec(**change).cells()}
        assert other.isdisjoint(ids), change


def test_target_is_not_an_option_and_the_plan_costs_the_steps():
    from fastrep.experiments import SpecError

    with pytest.raises(SpecError, match="target"):
        _spec(target=None)
    assert METHODS["multistep"].cost == "multistep"
    cell = next(iter(_spec().cells()))
    fresh = plan.cell_estimate(cell.params, rate=1e9)[0]
    reuse = plan.cell_estimate(next(iter(_spec(protocol="reuse").cells())).params, rate=1e9)[0]
    more = plan.cell_estimate(next(iter(_spec(protocol="reuse", steps=8).cells())).params, rate=1e9)[0]
    assert fresh < reuse < more  # a reused batch is seen T times; more steps cost more


def test_a_degenerate_target_is_recorded_per_cell(swept, tmp_path):
    _, path = swept
    assert not any(load(path)["extra"].map(lambda e: "degenerate_target" in e))  # separation: nondegenerate
    spec = load_spec({
        "name": "he3", "epsilon": 0.25, "seeds": [0],
        "target": {"preset": "single_index", "kind": "he3"}, "grid": {"d": [8], "n": [256]},
        "methods": {"two steps": {"method": "multistep", "width": 16, "steps": T, "ridge": 1e-3}},
        "evaluation": {"n_test": 500, "n_val": 128},
    })
    run(spec, tmp_path / "he3.sqlite", executor="serial", progress=False)
    df = load(tmp_path / "he3.sqlite")
    assert df["extra"].map(lambda e: e.get("degenerate_target") is True).tolist() == [True]
    assert len(load_trajectories(tmp_path / "he3.sqlite")) == T + 1


_KILL_MID_WRITE = textwrap.dedent("""
    import os, signal, sys
    sys.path.insert(0, {root!r})
    from fastrep.experiments import ResultStore

    class Killer(dict):  # a trajectory row that kills the writer as it is read: mid-transaction
        def get(self, key, default=None):
            os.kill(os.getpid(), signal.SIGKILL)

    row = {row!r}
    row["trajectory"] = [{{"t": 0, "alignment": 0.1}}, Killer(t=1)]
    with ResultStore(sys.argv[1]) as st:
        st.write_cell(row)
""")


def test_sigkill_inside_the_cell_transaction_loses_and_duplicates_nothing(tmp_path):
    """The writer killed after the cell's row and a first trajectory row were executed, before
    the commit: the store holds neither; the rerun's write holds each once."""
    path = tmp_path / "s.sqlite"
    row = {"cell_id": "c1", "sweep": "s", "label": "a", "method": "multistep", "d": 4, "n": 8, "seed": 0,
           "params": {}, "excess_error": 0.5, "timings": {}, "wall_s": 0.1, "fastrep_version": "x",
           "finished_at": "2026-01-01T00:00:00", "extra": {}}
    script = tmp_path / "w.py"
    script.write_text(_KILL_MID_WRITE.format(root=str(ROOT), row=row))
    proc = subprocess.run([sys.executable, str(script), str(path)], capture_output=True, timeout=120)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()
    con = sqlite3.connect(path)
    try:
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert con.execute("SELECT COUNT(*) FROM cells").fetchone()[0] == 0
        assert con.execute("SELECT COUNT(*) FROM trajectories").fetchone()[0] == 0
    finally:
        con.close()
    with ResultStore(path) as st:
        st.write_cell({**row, "trajectory": [{"t": 0, "alignment": 0.1}, {"t": 1, "alignment": 0.2}]})
        st.write_cell({**row, "trajectory": [{"t": 0, "alignment": 0.1}, {"t": 1, "alignment": 0.2}]})
    traj = load_trajectories(path)
    assert traj["t"].tolist() == [0, 1] and len(load(path)) == 1
