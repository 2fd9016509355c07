"""`fastrep demo --beyond`: its specs, a tiny version of every analysis, planted stores, the CLI."""

from __future__ import annotations

import copy
import math
import re

import numpy as np
import pandas as pd
import pytest

from fastrep.experiments import beyond as B
from fastrep.experiments import load, load_spec, run, write_report
from fastrep.experiments.demo import BEYOND_GRIDS, _defaults, beyond_specs
from fastrep.experiments.plan import plan


# --------------------------------------------------------------------------- the specs
def test_the_beyond_specs_load_and_plan():
    specs = beyond_specs()
    assert [s.name for s in specs] == list(B.SWEEPS.values())
    for spec in specs:
        p = plan(spec, workers=2, threads=1)
        assert p.time_s > 0 and spec.count() > 0
    he3 = specs[1]
    opts = {m.label: m.options for m in he3.methods}
    # two steps on one reused batch of 4d against two fresh batches of 4d, the paper's scaling
    assert opts["reuse"]["protocol"] == "reuse" and opts["fresh"]["protocol"] == "fresh"
    assert opts["reuse"]["steps"] == opts["fresh"]["steps"] == 2
    assert opts["reuse"]["lr"] == 1.0 * 4 * opts["reuse"]["width"] / 2
    cells = {(c.label, c.params["d"]): c.params["n"] for c in he3.cells()}
    assert cells[("reuse", 64)] == 4 * 64 and cells[("fresh", 64)] == 8 * 64
    assert cells[("alg1", 64)] == 4 * 64**2
    online = {m.label: m for m in specs[2].methods}
    for d in (32, 128):  # online SGD: one table per d, lr = d^-1.5, every sample used once
        m = online[f"online-plain-d{d}"]
        assert m.d == (d,) and m.n == (24 * d * d,) and m.options["steps"] == 24 * d * d
        assert m.options["lr"] == pytest.approx(d**-1.5, rel=1e-5)
        s = online[f"online-smoothed-d{d}"]
        assert s.options["steps"] * s.options["batch_size"] == s.n[0]
        assert s.options["smoothing"] == pytest.approx(d**0.25, rel=1e-5)


def test_protocol_of_strips_the_d_suffix():
    assert B.protocol_of("online-plain-d64") == "online-plain"
    assert B.protocol_of("reuse-bias") == "reuse-bias"


# --------------------------------------------------------------------------- a tiny study, end to end
def _tiny_raw() -> list[dict]:
    raw = _defaults()
    sep, he3, online, stair = (copy.deepcopy(raw[g]) for g in BEYOND_GRIDS)
    small_eval = {"n_val": 300, "n_test": 500}
    sep.update(seeds=2, evaluation=small_eval,
               grid={"d": [6, 8], "n": {"start": 32, "stop": 512, "factor": 2}})
    for m in sep["methods"].values():
        m["width"] = 40
    he3.update(seeds=3, evaluation=small_eval,
               grid={"d": [8, 16], "n": {"start": 32, "stop": 1024, "factor": 2}})
    he3["methods"]["alg1"].update(width=40, seeds=2)
    for label in ("reuse", "fresh", "reuse-bias", "fresh-bias"):
        he3["methods"][label].update(width=16, lr=1.0 * 4 * 16 / 2)
    online.update(seeds=2, evaluation=small_eval, grid={"d": [32], "n": [1024]})
    online["methods"] = {k: v for k, v in online["methods"].items() if k.endswith(("-d32", "-d48"))}
    for v in online["methods"].values():
        v.pop("seeds", None)
    stair.update(seeds=2, evaluation=small_eval, grid={"d": [16], "n": [4096]})
    for m in stair["methods"].values():
        m.update(width=32, lr=[2048.0, 128.0, 8192.0, 8192.0])
    return [sep, he3, online, stair]


@pytest.fixture(scope="module")
def tiny_store(tmp_path_factory):
    folder = tmp_path_factory.mktemp("beyond")
    store = folder / "results.sqlite"
    for raw in _tiny_raw():
        summary = run(load_spec(raw), store=store, executor="serial", progress=False)
        assert summary.cells_failed == 0
    report = write_report(store, folder / "report", n_boot=50)
    return store, report


def test_the_tiny_study_reports_every_part(tiny_store):
    store, report = tiny_store
    text = report.read_text()
    assert "## Beyond one step" in text
    section = text.split("## Beyond one step")[1].split("\n## ")[0]
    judged = re.findall(r"^- \*\*(PASS|FAIL|PARTLY|not judged)\*\* (.+)$", section, flags=re.M)
    topics = " | ".join(t for _, t in judged)
    for what in ("separation target", "d × alignment of Algorithm 1", "two steps on one reused batch",
                 "online-plain", "online-smoothed", "staircase"):
        assert what in topics, topics
    for name in ("beyond-he3-overlap.png", "beyond-online.png", "beyond-staircase.png"):
        assert (report.parent / name).stat().st_size > 0
        assert f"]({name})" in text


def test_the_tables_come_from_the_stored_cells(tiny_store):
    store, report = tiny_store
    df = load(store)
    he3 = df[df["sweep"] == "beyond-he3"]
    mean = he3[(he3["label"] == "reuse") & (he3["d"] == 16)]["alignment"].mean()
    assert f"{mean:.4f} [" in report.read_text()
    table = B.overlap_table(he3, n_boot=20)
    row = table[(table["label"] == "reuse") & (table["d"] == 16)].iloc[0]
    assert row["overlap"] == pytest.approx(mean)
    assert row["low"] <= mean <= row["high"]
    scaled, _ = B.scaled_alignment(he3, n_boot=20)
    a = he3[(he3["label"] == "alg1") & (he3["d"] == 8)]["alignment"].mean()
    assert scaled.set_index("d").loc[8, "d_x_alignment"] == pytest.approx(8 * a)


def _planted_report(tiny_store, tmp_path, *updates):
    """The tiny store copied, changed by SQL ``updates``, and its beyond section (as the report
    writes it) into ``tmp_path``."""
    import shutil
    import sqlite3

    store, _ = tiny_store
    tmp_path.mkdir(parents=True)
    copy_ = tmp_path / "planted.sqlite"
    shutil.copy(store, copy_)
    with sqlite3.connect(copy_) as con:
        for sql in updates:
            con.execute(sql)
    con.close()
    from fastrep.experiments import load_trajectories

    return "\n".join(B.beyond_section(load(copy_), load_trajectories(copy_), tmp_path, n_boot=50))


def test_a_planted_store_is_judged_from_its_data(tiny_store, tmp_path):
    reuse = "UPDATE cells SET alignment = {} WHERE sweep = 'beyond-he3' AND label = 'reuse'"
    flat = _planted_report(tiny_store, tmp_path / "flat", reuse.format("0.3 + 0.01 * seed"))
    assert re.search(r"\*\*PASS\*\* He3: two steps on one reused batch.*: reproduced", flat)
    chance = _planted_report(
        tiny_store, tmp_path / "chance", reuse.format("(1.0 + 0.05 * seed) / d"),
        "UPDATE trajectories SET alignment = 0.01 WHERE cell_id IN "
        "(SELECT cell_id FROM cells WHERE label LIKE 'online-plain-%')")
    assert re.search(r"\*\*FAIL\*\* He3: two steps on one reused batch.*not reproduced", chance)
    assert re.search(r"\*\*FAIL\*\* He3 online SGD, online-plain.*never reached.*not reproduced", chance)



def test_a_label_holding_two_settings_is_split_not_pooled(tiny_store, tmp_path):
    # a spec changed between two runs into one store: the seed-0 'reuse' cells now carry another
    # width; its two settings are two arms, so the claim on 'reuse' is not judged from a pool
    two = _planted_report(
        tiny_store, tmp_path / "two",
        "UPDATE cells SET params = json_set(params, '$.width', 99) "
        "WHERE sweep = 'beyond-he3' AND label = 'reuse' AND seed = 0")
    assert re.search(r"\*\*not judged\*\* He3: two steps on one reused batch.*no 'reuse' arm", two)
    assert "| reuse |" not in two

# --------------------------------------------------------------------------- planted frames
def _cells(rows):
    df = pd.DataFrame(rows)
    df["method"] = df.get("method", "multistep")
    df["params"] = [{"options": {"batch_size": r.get("B", 1)}} for r in rows]
    df["cell_id"] = [f"c{i}" for i in range(len(df))]
    return df


def _overlap_frame(law):
    rng = np.random.default_rng(0)
    rows = [{"sweep": B.SWEEPS["he3"], "label": label, "d": d, "n": 4 * d, "seed": s,
             "alignment": law(d) * (1 + 0.05 * rng.standard_normal()), "excess_error": 1.0}
            for label in ("reuse", "fresh") for d in (32, 64, 128, 256) for s in range(6)]
    return _cells(rows)


def test_reuse_claim_reproduced_only_when_the_overlap_does_not_shrink(tmp_path):
    flat = B.reuse_verdict(B.overlap_slopes(_overlap_frame(lambda d: 0.3), n_boot=100))
    assert flat[0] is True and "reproduced" in flat[1]
    chance = _overlap_frame(lambda d: 2.0 / d)
    shrink = B.reuse_verdict(B.overlap_slopes(chance, n_boot=100))
    assert shrink[0] is False and "not reproduced" in shrink[1]
    lines = "\n".join(B.beyond_section(chance, pd.DataFrame(), tmp_path, n_boot=50))
    assert re.search(r"\*\*FAIL\*\* He3: two steps on one reused batch.*not reproduced", lines)


def test_bounded_alignment_fails_when_a_direction_is_learned():
    def frame(law):
        return _cells([{"label": "alg1", "d": d, "n": 4 * d * d, "seed": s, "alignment": law(d) + 0.01 * s}
                       for d in (32, 64, 128) for s in range(4)])

    assert B.bounded_verdict(B.scaled_alignment(frame(lambda d: 3.0 / d), n_boot=100)[1])[0] is True
    ok, detail = B.bounded_verdict(B.scaled_alignment(frame(lambda d: 0.5), n_boot=100)[1])
    assert ok is False and "> 0.5" in detail


def _online_traj(exponent, protocol="online-plain", reach=True):
    """Planted trajectories (batch size 2): the alignment crosses 0.2 at n = 6 d^exponent (1 + 0.02 seed)."""
    cells, traj = [], []
    for d in (16, 32, 64):
        for s in range(5):
            cid = f"{protocol}-{d}-{s}"
            cells.append({"cell_id": cid, "params": {"options": {"batch_size": 2}}})
            cross = 6.0 * d**exponent * (1 + 0.02 * s)  # in samples seen
            for k in range(41):
                t = int(round(k * cross / 40))  # steps: n_seen = 2 t, up to twice the crossing
                a = min(1.0, 0.01 + 0.19 * (2 * t / cross) ** 2) if reach else 0.01
                traj.append({"cell_id": cid, "label": f"{protocol}-d{d}", "d": d, "seed": s, "t": t,
                             "alignment": a})
    return pd.DataFrame(cells), pd.DataFrame(traj)


def test_online_slope_is_read_from_the_trajectories():
    cells, traj = _online_traj(2.0)
    stars = B.online_n_star(cells, traj)
    # crossing at n_seen = 2 * cross = 6 d^2 (1 + 0.02 s)
    row = stars[(stars["d"] == 32) & (stars["seed"] == 0)].iloc[0]
    assert row["n_star"] == pytest.approx(6 * 32**2, rel=0.03)
    per_d, slopes = B.online_slopes(stars, n_boot=100)
    s = slopes.iloc[0]
    assert s["slope"] == pytest.approx(2.0, abs=0.05)
    assert B.online_verdict(s)[0] is True
    steep = B.online_slopes(B.online_n_star(*_online_traj(3.0)), n_boot=100)[1].iloc[0]
    ok, detail = B.online_verdict(steep)
    assert ok is False and "not reproduced" in detail
    never = B.online_slopes(B.online_n_star(*_online_traj(1.5, "online-smoothed", reach=False)), n_boot=50)
    assert math.isinf(never[0]["n_star"].iloc[0])
    ok, detail = B.online_verdict(never[1].iloc[0])
    assert ok is False and "never reached" in detail


def test_separation_verdict_fails_when_the_two_disagree():
    def frame(scale):  # error d^2 / n for T = 1, scale times that for T = 2: n* = 4 d^2 and 4 scale d^2
        return pd.DataFrame([{"label": label, "d": d, "n": n, "seed": s,
                              "excess_error": k * d**2 / n * (1 + 0.05 * s)}
                             for label, k in (("T1", 1.0), ("T2-fresh", scale)) for d in (8, 12, 16)
                             for s in range(6) for n in 2 ** np.arange(5, 16)])

    ok, detail = B.separation_verdict(B.separation_agreement(frame(8.0), 0.25, n_boot=100))
    assert ok is False and "disjoint" in detail
    ok, detail = B.separation_verdict(B.separation_agreement(frame(1.05), 0.25, n_boot=100))
    assert ok is True and "overlap at every d" in detail


def test_staircase_verdict_reads_the_order_of_the_steps():
    def steps(first):
        return pd.DataFrame([{"label": "s", "d": 64, "direction": k + 1, "first_step": f,
                              "final_overlap": 0.2, "T": 4} for k, f in enumerate(first)])

    assert B.staircase_verdict(steps([1, 2, 3]))[0] is True
    assert B.staircase_verdict(steps([1, 2, math.nan]))[0] == "partly"
    assert B.staircase_verdict(steps([1, 1, 3]))[0] is False
    curves = pd.DataFrame([{"label": "s", "d": 64, "t": t, "direction": k,
                            "overlap": 0.3 if t >= k else 1 / 64} for k in (1, 2) for t in range(4)])
    got = B.staircase_steps(curves)
    assert got["first_step"].tolist() == [1.0, 2.0]


# --------------------------------------------------------------------------- the command
def test_beyond_is_exclusive_with_the_other_grids(capsys):
    from fastrep.cli import main

    for other in ("--quick", "--large"):
        assert main(["demo", "--beyond", other]) == 2
        err = capsys.readouterr().err
        assert "are different grids; give one of them" in err and "--beyond" in err


def test_beyond_dry_run_prints_the_plan_and_writes_nothing(tmp_path, capsys):
    from fastrep.cli import main

    assert main(["demo", "--beyond", "--dry-run", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    for name in B.SWEEPS.values():
        assert f"sweep {name!r}" in out
    assert re.search(r"the study: [\d,]+ cells in 4 sweeps, estimated .+ \(measured: ", out)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_the_shipped_online_spec_learns_he3_at_its_smallest_d(tmp_path):
    """The study's plain online SGD tables at d = 32 and 48, all seeds: most seeds reach the
    threshold within their n = 24 d^2 samples (the calibration the shipped report rests on)."""
    raw = copy.deepcopy(_defaults()["beyond_online"])
    keep = ("online-plain-d32", "online-plain-d48")
    raw["methods"] = {k: v for k, v in raw["methods"].items() if k in keep}
    raw["grid"]["d"] = [32]
    store = tmp_path / "s.sqlite"
    run(load_spec(raw), store=store, executor="serial", progress=False)
    from fastrep.experiments import load_trajectories

    stars = B.online_n_star(load(store), load_trajectories(store))
    assert len(stars) == 2 * raw["seeds"]
    assert np.isfinite(stars["n_star"]).mean() >= 0.6


@pytest.mark.slow
def test_beyond_runs_into_one_store_and_resumes(tmp_path, capsys, monkeypatch):
    """The command's own path (run every sweep, one report), on two tiny sweeps; a second run
    finds every cell in the store and runs none."""
    from fastrep.cli import main
    from fastrep.experiments import demo

    _, he3, _, stair = _tiny_raw()
    he3["methods"] = {k: v for k, v in he3["methods"].items() if k in ("reuse", "fresh")}
    monkeypatch.setattr(demo, "beyond_specs", lambda: [load_spec(he3), load_spec(stair)])
    argv = ["demo", "--beyond", "--out", str(tmp_path), "--serial", "--no-progress"]
    assert main(argv) == 0
    report = tmp_path / "beyond" / "report.md"
    assert "## Beyond one step" in report.read_text()
    assert (tmp_path / "beyond" / "beyond-staircase.png").is_file()
    capsys.readouterr()
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert re.findall(r"(\d+) cells, (\d+) already in the store, 0 run", err) == [("12", "12"), ("4", "4")]
