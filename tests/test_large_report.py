"""The large study's report with both sides of the separation predicted (issue 25 item 4, and
item 3's predicted-against-measured network table): the option mapping, the local slopes, the
measured n*'s intervals, and the report section on a small store of the study's name."""

from __future__ import annotations

import hashlib
import re

import numpy as np
import pandas as pd
import pytest

from fastrep import theory as T
from fastrep.cli import main
from fastrep.experiments import fit_slopes, load, n_star, run, write_report
from fastrep.experiments import large as L
from fastrep.experiments.methods import build_target
from fastrep.experiments.report import GOALS_STUDY, KERNEL_STUDY, merge_kernel_study

SPEC = {"preset": "separation", "noise": 0.0}
WIDTH = 60
#: a onestep arm's options as a store records them (the learner's defaults filled in)
OPTIONS = {"backend": "auto", "center": True, "chunk_size": None, "dtype": "float32", "eta1": "normalized",
           "max_memory": None, "precision": "highest", "rebias": False, "ridge": "validate", "split": False,
           "steps": 1, "width": WIDTH}
#: the separation grid of the small store's report (the study's own, 16 .. 4096, takes minutes at width 60)
GRID = (8, 12, 16)


def test_the_onestep_options_map_onto_the_theory_and_the_rest_is_refused():
    kwargs, refused = L.network_theory_options(OPTIONS)
    assert refused == []
    assert kwargs == {"center": True, "eta1": "normalized", "rebias": False, "ridge": "validate",
                      "split": False, "width": WIDTH}
    kwargs, refused = L.network_theory_options({**OPTIONS, "split": True, "ridge": 1e-3, "eta1": 2.0})
    assert (kwargs["split"], kwargs["ridge"], kwargs["eta1"]) == (True, 1e-3, 2.0) and refused == []
    _, refused = L.network_theory_options({**OPTIONS, "steps": 2, "momentum": 0.9})
    assert len(refused) == 2
    assert any("`momentum=0.9`" in r for r in refused) and any("`steps=2`" in r for r in refused)
    _, refused = L.network_theory_options({**OPTIONS, "width": 61})
    assert len(refused) == 1 and "`width=61`" in refused[0]
    with pytest.raises(ValueError, match=r"options must be .*`steps=3`"):
        L.predicted_network_n_star(SPEC, [16], 0.25, label="onestep", options={**OPTIONS, "steps": 3})
    with pytest.raises(TypeError, match="options must be a dict"):
        L.network_theory_options([("width", 60)])


def test_predicted_network_n_star_is_the_theorys():
    p = L.predicted_network_n_star(SPEC, [8, 12], 0.25, label="net", options={**OPTIONS, "split": True})
    t = build_target(SPEC, 8, 0)
    want = T.network_n_star(t, [8, 12], 0.25, width=WIDTH, split=True)
    assert list(p.columns) == ["label", "d", "n_star"] and list(p["d"]) == [8, 12]
    np.testing.assert_array_equal(p["n_star"].to_numpy(), want)


def test_local_slopes_of_power_laws():
    ds = np.array(L.SEPARATION_GRID, float)
    frame = pd.concat([pd.DataFrame({"label": "a", "d": ds, "n_star": 3 * ds**2}),
                       pd.DataFrame({"label": "b", "d": ds, "n_star": 0.4 * ds**3})])
    s = L.local_slopes(frame)
    assert sorted(set(s["d"])) == [2**k for k in range(4, 13)]  # the powers of two, 16 .. 4096
    np.testing.assert_allclose(s.loc[s["label"] == "a", "slope"], 2.0, atol=1e-9)
    np.testing.assert_allclose(s.loc[s["label"] == "b", "slope"], 3.0, atol=1e-9)
    edge = s[(s["label"] == "a") & (s["d"] == 16)].iloc[0]
    assert (edge["d_low"], edge["d_high"]) == (16, 32)  # one-sided at the grid's end
    mid = s[(s["label"] == "a") & (s["d"] == 256)].iloc[0]
    assert (mid["d_low"], mid["d_high"]) == (128, 512)
    # a kink: the window straddles it, so the slope at the kink lies between the two sides'
    kink = frame[frame["label"] == "a"].assign(n_star=lambda f: np.where(f["d"] <= 256, f["d"] ** 2,
                                                                            256.0**-1 * f["d"] ** 3))
    k = L.local_slopes(kink).set_index("d")["slope"]
    assert k[64] == pytest.approx(2.0) and k[2048] == pytest.approx(3.0) and 2.0 < k[256] < 3.0
    with pytest.raises(ValueError, match="window must be > 1"):
        L.local_slopes(frame, window=1.0)


def _cells(scales):
    """err = min(1, c_s * d^2 / n) per seed s: n* of seed s at d is 4 c_s d^2 (epsilon 0.25)."""
    return pd.DataFrame([{"label": "net", "method": "onestep", "d": d, "n": n, "seed": s,
                          "excess_error": min(1.0, c * d**2 / n)}
                         for d in (10, 20) for s, c in enumerate(scales) for n in 2.0 ** np.arange(6, 15)])


def test_n_star_intervals_cover_the_measured_n_star():
    same = L.n_star_intervals(_cells([1.0, 1.0, 1.0]), 0.25, n_boot=50)
    stars = n_star(_cells([1.0, 1.0, 1.0]), 0.25)
    np.testing.assert_allclose(same["low"], stars["n_star"])
    np.testing.assert_allclose(same["high"], stars["n_star"])
    spread = _cells([0.5, 1.0, 2.0, 4.0])
    iv = L.n_star_intervals(spread, 0.25, n_boot=400).set_index("d")
    for _, s in n_star(spread, 0.25).iterrows():
        lo, hi = iv.loc[s["d"], "low"], iv.loc[s["d"], "high"]
        assert lo < s["n_star"] < hi
        assert lo >= 4 * 0.5 * s["d"] ** 2 * 0.99 and hi <= 4 * 4.0 * s["d"] ** 2 * 1.01  # within the seeds'
    # a seed that never reaches epsilon inside the grid: the interval's top is infinite
    top = L.n_star_intervals(_cells([1.0, 1.0, 1e4]), 0.25, n_boot=400)
    assert np.isinf(top["high"]).all() and (top["boot_ok"] < 1).all()


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """A small store of the large study's name: network (width 60) and NTK at d = 8, 12."""
    path = tmp_path_factory.mktemp("large") / "results.sqlite"
    spec = {"name": GOALS_STUDY, "epsilon": 0.25, "seeds": 2, "target": SPEC,
            "grid": {"d": [8, 12], "n": {"start": 64, "stop": 2048, "factor": 2}},
            "evaluation": {"n_val": 400, "n_test": 800},
            "methods": {"onestep": {"width": WIDTH}, "ntk": {"ridge": 1e-8}}}
    run(spec, path, executor="serial", progress=False)
    return path


@pytest.fixture(scope="module")
def kernel_store(tmp_path_factory):
    """A small kernel study (issue 26 item 4's sweep name): NTK cells at d = 12 (the large study's
    store has them already: not added) and d = 16 (added)."""
    path = tmp_path_factory.mktemp("kernels") / "results.sqlite"
    spec = {"name": KERNEL_STUDY, "epsilon": 0.25, "seeds": 2, "target": SPEC,
            "grid": {"d": [12, 16], "n": {"start": 256, "stop": 4096, "factor": 2}},
            "evaluation": {"n_val": 400, "n_test": 800},
            "methods": {"ntk": {"ridge": 1e-8}}}
    run(spec, path, executor="serial", progress=False)
    return path


#: a tiny kernel study as `fastrep demo --large-kernels` runs it: the Nystrom solver (float32, the
#: centre rule, an explicit max_memory) at d = 12 (beside the large store's exact solves) and 16
NYSTROM = {"ridge": 1e-8, "solver": "nystrom", "dtype": "float32", "max_memory": 2**30,
           "n_min": {"factor": 0.25, "power": 3}, "n_max": {"factor": 2, "power": 3}}


def _nystrom_spec():
    return {"name": KERNEL_STUDY, "epsilon": 0.25, "seeds": 2, "target": SPEC,
            "grid": {"d": [12, 16], "n": {"start": 256, "stop": 8192, "factor": 2}},
            "evaluation": {"n_val": 400, "n_test": 800}, "methods": {"ntk": dict(NYSTROM)}}


@pytest.fixture(scope="module")
def nystrom_store(tmp_path_factory):
    """The tiny Nystrom kernel study in a store of its own: d = 12 (n 512 .. 2048, the large
    store's exact NTK ran these too) and d = 16 (n 1024 .. 8192; M jumps from 1024 to 4692 by the
    centre rule at n = 8192, where the error crosses epsilon)."""
    path = tmp_path_factory.mktemp("nystrom") / "results.sqlite"
    run(_nystrom_spec(), path, executor="serial", progress=False)
    return path


def _digest(folder):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def _table_rows(text: str, heading: str) -> list[list[str]]:
    block = text.split(heading, 1)[1].split("\n\n#", 1)[0]
    rows = [ln for ln in block.splitlines() if re.match(r"\| \d+ \|", ln)]
    return [[c.strip() for c in ln.strip("|").split("|")] for ln in rows]


def test_the_report_predicts_both_sides_and_leaves_the_stores_alone(store, kernel_store, tmp_path,
                                                                    monkeypatch):
    monkeypatch.setattr(L, "SEPARATION_GRID", GRID)
    before = _digest(store.parent), _digest(kernel_store.parent)
    text = write_report(store, tmp_path / "rep", n_boot=50, with_stores=[kernel_store]).read_text()
    assert (_digest(store.parent), _digest(kernel_store.parent)) == before  # bytes, and no file beside them
    # the kernel study's NTK cells at the new d = 16 join the NTK arm (d = 12 is the large study's own)
    added = [ln for ln in text.splitlines() if ln.startswith("- NTK cells at d = ")]
    assert len(added) == 1 and added[0].startswith("- NTK cells at d = 16 (") and KERNEL_STUDY in added[0]
    k = n_star(load(kernel_store), 0.25).set_index("d").loc[16]
    row = next(ln for ln in text.split("### n*(d)")[1].splitlines() if ln.startswith("| NTK ridge | "))
    assert f"| {k['n_star']:,.0f} |" in row  # the n* table's NTK row has the kernel study's d = 16
    assert f"| ntk | 16 | {k['n_star']:,.0f} |" in text  # and so has the kernel theory's table
    assert "### Both sides predicted: the one-step network and the kernel to d = 16" in text
    figs = sorted(p.name for p in (tmp_path / "rep").glob("*.png"))
    assert f"{GOALS_STUDY}-separation_theory.png" in figs and f"({GOALS_STUDY}-separation_theory.png)" in text
    assert f"{GOALS_STUDY}-n_star_theory.png" not in figs  # the both-sides figure replaces it
    # both sides' predicted columns are the theory's
    t = build_target(SPEC, 8, 0)
    net = T.network_n_star(t, list(GRID), 0.25, width=WIDTH)
    ker = T.kernel_n_star(t, np.array(GRID), 0.25, kernel="ntk", ridge=0.0, measure="gaussian")
    rows = _table_rows(text, "### Both sides predicted")
    assert [int(r[0]) for r in rows] == list(GRID)
    assert [r[1] for r in rows] == [f"{v:,.0f}" for v in net]
    assert [r[3] for r in rows] == [f"{v:,.0f}" for v in ker]
    assert rows[0][2] and rows[2][2] and not rows[1][2]  # local slopes at the powers of two only
    # the network's predicted against measured, one row per measured d
    comp = _table_rows(text, "#### The one-step network: predicted against measured")
    stars = n_star(load(store), 0.25).query("label == 'onestep'")
    assert [int(r[0]) for r in comp] == stars["d"].tolist()
    predicted = dict(zip(GRID, net, strict=True))
    for r, (_, s) in zip(comp, stars.iterrows(), strict=True):
        p = predicted[int(s["d"])]
        assert r[2] == f"{p:,.0f}"
        if s["status"] == "ok":
            ratio = p / s["n_star"]
            assert r[1].startswith(f"{s['n_star']:,.0f} [")
            assert r[3].strip("*") == f"{ratio:.2f}"
            outside = not 1 / 1.25 <= ratio <= 1.25
            assert r[3].startswith("**") == outside
            assert (f"- d = {s['d']}: the predicted n* " in text) == outside


def test_the_comparison_is_the_theorys(store):
    df = load(store)
    df["label"] = df["arm"]
    comp = L.network_comparison(df, SPEC, 0.25, label="onestep", options=OPTIONS)
    assert list(comp["d"]) == [8, 12]
    for _, r in comp.iterrows():
        t = build_target(SPEC, int(r["d"]), 0)
        assert r["predicted"] == T.network_n_star(t, [int(r["d"])], 0.25, width=WIDTH)[0]
        assert r["alignment_predicted"] == pytest.approx(T.network_alignment(t, [r["n"]], width=WIDTH)[0])
        cells = df[(df["label"] == "onestep") & (df["d"] == r["d"]) & (df["n"] == r["n"])]
        assert r["alignment"] == pytest.approx(cells["alignment"].mean()) and r["seeds"] == len(cells)
        err = (r["alignment_predicted"] - r["alignment"]) / r["alignment"]
        assert r["alignment_error"] == pytest.approx(err)
        gap = abs(r["alignment_predicted"] - r["alignment"])
        assert r["alignment_ok"] == (abs(err) <= 0.1 or gap <= 0.01)
        if r["status"] == "ok":  # n is the grid's n nearest the measured n*
            ns = np.sort(df.loc[(df["label"] == "onestep") & (df["d"] == r["d"]), "n"].unique())
            assert r["n"] == ns[np.argmin(np.abs(np.log(ns / r["measured"])))]

def test_unmodelled_options_give_a_note_not_a_crash(store, tmp_path):
    df = load(store)
    df["label"] = df["arm"]
    df["params"] = [{**p, "options": {**p["options"], "steps": 2}} if p["method"] == "onestep" else p
                    for p in df["params"]]
    text = "\n".join(L.theory_section(df, SPEC, 0.25, tmp_path, "s", n_boot=20, network=True))
    assert "The network side is not predicted" in text and "`steps=2` is not modelled" in text
    assert not (tmp_path / "s-separation_theory.png").exists()
    assert (tmp_path / "s-n_star_theory.png").exists()  # the kernel side is still drawn


def test_the_kernel_study_merge_keeps_the_large_studys_own_cells(store, kernel_store):
    large, kernels = load(store), load(kernel_store)
    large["label"], kernels["label"] = large["arm"], kernels["arm"]
    merged, lines = merge_kernel_study(large, [(kernel_store, kernels)])
    ntk = merged[(merged["sweep"] == GOALS_STUDY) & (merged["label"] == "ntk")]
    assert sorted(set(ntk["d"])) == [8, 12, 16]
    own = large[large["label"] == "ntk"]
    pd.testing.assert_frame_equal(ntk[ntk["d"] <= 12][own.columns].reset_index(drop=True),
                                  own.reset_index(drop=True))  # d = 12 stays the large study's own
    assert len(ntk[ntk["d"] == 16]) == len(kernels[kernels["d"] == 16])
    assert lines[0].startswith("- NTK cells at d = 16 (") and not any("not added" in ln for ln in lines)
    assert any(ln.startswith("| 12 | ") for ln in lines)  # d = 12: compared, not added
    # only the shared d: nothing added, the comparison alone, opening with its sentence
    out, lines = merge_kernel_study(large, [(kernel_store, kernels[kernels["d"] == 12])])
    assert out is large and lines[0].startswith("Where both ran")
    assert any(ln.startswith("| 12 | ") for ln in lines)
    # another target, or the kernel study in the same store under its own sweep name
    other = kernels.assign(params=[{**p, "target": {"preset": "giant_step"}} for p in kernels["params"]])
    out, lines = merge_kernel_study(large, [(kernel_store, other)])
    assert out is large and lines == []
    same, lines = merge_kernel_study(pd.concat([large, kernels], ignore_index=True))
    ntk = same[(same["sweep"] == GOALS_STUDY) & (same["label"] == "ntk")]
    assert sorted(set(ntk["d"])) == [8, 12, 16]
    assert "of this store" in lines[0]


def test_report_with_a_missing_store_is_refused(store, capsys):
    assert main(["report", str(store), "--with", str(store.parent / "nope.sqlite")]) == 2
    assert "--with: no results store at" in capsys.readouterr().err


def test_n_star_figure_labels_crowded_d_without_overlap():
    from fastrep.experiments.plots import plot_n_star

    ds = [12, 16, 20, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512]
    stars = pd.DataFrame({"label": "onestep", "method": "onestep", "d": ds, "n_star": [d**2.0 for d in ds],
                          "status": "ok", "seeds": 2, "n_max": [4 * d**2 for d in ds]})
    slopes = pd.DataFrame([{"label": "onestep", "method": "onestep", "slope": 2.0, "low": 1.9, "high": 2.1}])
    a = plot_n_star(stars, slopes, epsilon=0.25).axes[0]
    shown = [t.get_text() for t in a.get_xticklabels() if t.get_text()]
    assert shown == ["16", "32", "64", "128", "256", "512"]  # the powers of two; 192 and 256 no longer touch
    assert list(a.get_xticks()) == ds  # every measured d keeps its tick
    few = plot_n_star(stars[stars["d"] <= 32], slopes, epsilon=0.25).axes[0]
    assert [t.get_text() for t in few.get_xticklabels()] == ["12", "16", "20", "24", "32"]


def _ntk_star_row(text: str) -> str:
    return next(ln for ln in text.split("### n*(d)")[1].splitlines() if ln.startswith("| NTK ridge"))


def _check_nystrom_join(text: str, large: pd.DataFrame, kernels: pd.DataFrame, where: str):
    """The report of the large store extended by the Nystrom kernel study (``where``: how the
    added line names the source)."""
    kernels = kernels[kernels["sweep"] == KERNEL_STUDY]
    # d = 16 is added, from the Nystrom solver, with the centres it used
    added = [ln for ln in text.splitlines() if ln.startswith("- NTK cells at d = ")]
    assert len(added) == 1 and added[0].startswith("- NTK cells at d = 16 (") and where in added[0]
    assert "solver nystrom; M = " in added[0]
    rec = [e for e in kernels["extra"] if e["solver"] == "nystrom"]  # what each Nystrom cell recorded
    assert rec and all(e["n_centers"] <= e["n_centers_needed"] and e["cg_iterations"] >= 1 for e in rec)
    assert any(ln.startswith("- the NTK arm is then: d = 8, 12 solved by cholesky")
               and "d = 16 by nystrom" in ln for ln in text.splitlines())
    # the n* table's NTK row: d = 8, 12 the exact solver's own n*, d = 16 the kernel study's
    own = n_star(large[large["method"] == "ntk"].assign(arm="ntk"), 0.25).set_index("d")
    ks = n_star(kernels.assign(arm="ntk"), 0.25).set_index("d")
    assert ks.loc[16, "status"] == "ok"
    row = _ntk_star_row(text)
    cells = [c.strip() for c in row.strip("|").split("|")]
    for d in (8, 12):
        if own.loc[d, "status"] == "ok":
            assert f"{own.loc[d, 'n_star']:,.0f}" in cells
    assert f"{ks.loc[16, 'n_star']:,.0f}" in cells
    assert f"{ks.loc[12, 'n_star']:,.0f}" not in cells or ks.loc[12, "n_star"] == own.loc[12, "n_star"]
    # the slope table's NTK row is fitted over the three d, and the theory's table gains d = 16
    slope_row = next(ln for ln in text.split("### Fitted slopes")[1].splitlines()
                     if ln.startswith("| NTK ridge"))
    ntk = pd.concat([large[large["method"] == "ntk"], kernels[kernels["d"] == 16]], ignore_index=True)
    want = fit_slopes(ntk.assign(label="ntk", arm="ntk"), 0.25, n_boot=10).iloc[0]
    assert f" | {want['slope']:.2f} [" in slope_row and slope_row.endswith("| 3 / 3 |")
    assert re.search(rf"\| ntk[^|]* \| 16 \| {ks.loc[16, 'n_star']:,.0f} \|", text)
    # at d = 12 the two solvers are compared side by side on the same (n, seed), never pooled
    block = text.split("the two solvers side by side, never pooled", 1)[1].split("\n\n")[1]
    comp = [ln for ln in block.splitlines() if ln.startswith("| 12 | ")]
    assert len(comp) == len(block.splitlines()) - 2  # header and rule, then d = 12 only
    assert [int(ln.split("|")[2].replace(",", "")) for ln in comp] == [512, 1024, 2048]
    for ln in comp:
        c = [x.strip() for x in ln.strip("|").split("|")]
        n = int(c[1].replace(",", ""))
        a = large[(large["method"] == "ntk") & (large["d"] == 12) & (large["n"] == n)]["excess_error"]
        b = kernels[(kernels["d"] == 12) & (kernels["n"] == n)]["excess_error"]
        assert c[2] == "2" and c[3] == f"{np.median(a):.4f}" and c[4] == f"{np.median(b):.4f}"
        assert c[5] == f"{np.median(b) / np.median(a):.3f}"


def test_a_nystrom_kernel_study_extends_the_ntk_arm_one_solver_per_d(store, nystrom_store, tmp_path,
                                                                      monkeypatch, capsys):
    monkeypatch.setattr(L, "SEPARATION_GRID", GRID)
    before = _digest(store.parent), _digest(nystrom_store.parent)
    assert main(["report", str(store), "--out", str(tmp_path / "rep"), "--bootstrap", "50",
                 "--with", str(nystrom_store)]) == 0
    assert (_digest(store.parent), _digest(nystrom_store.parent)) == before
    text = (tmp_path / "rep" / "report.md").read_text()
    _check_nystrom_join(text, load(store), load(nystrom_store), f"`{nystrom_store}`")


def test_the_kernel_study_in_the_large_studys_own_store(store, tmp_path, monkeypatch):
    """Both sweeps in one store: the label 'ntk' then holds two settings (two arms), and the join
    still adds the kernel study's d = 16 alone and compares d = 12."""
    import shutil

    monkeypatch.setattr(L, "SEPARATION_GRID", GRID)
    one = tmp_path / "one" / "results.sqlite"
    one.parent.mkdir()
    shutil.copy(store, one)
    run(_nystrom_spec(), one, executor="serial", progress=False)
    both = load(one)
    text = write_report(one, tmp_path / "rep", n_boot=50).read_text()
    _check_nystrom_join(text, both[both["sweep"] == GOALS_STUDY], both, "of this store")
    # the kernel study's own section is still there, with its own NTK arm
    assert f"## Sweep `{KERNEL_STUDY}`" in text


def test_a_worse_solver_where_both_ran_gets_a_caution(store, nystrom_store):
    large, kernels = load(store), load(nystrom_store)
    large["label"], kernels["label"] = large["arm"], kernels["arm"]
    _, lines = merge_kernel_study(large, [(nystrom_store, kernels)])
    shared = kernels[kernels["d"] == 12].merge(large[(large["method"] == "ntk") & (large["d"] == 12)],
                                                on=["n", "seed"])
    ratio = np.median(shared.groupby("n").apply(lambda g: g["excess_error_x"].median()
                                                / g["excess_error_y"].median(), include_groups=False))
    assert any(ln.startswith("Caution:") for ln in lines) == (ratio > 1.05)
    worse = kernels.assign(excess_error=kernels["excess_error"] * 1.3)
    _, lines = merge_kernel_study(large, [(nystrom_store, worse)])
    caution = [ln for ln in lines if ln.startswith("Caution:")]
    assert len(caution) == 1 and f"{1.3 * ratio:.2f}x the large study's" in caution[0]


def test_the_join_needs_the_same_ridge(store, nystrom_store):
    large, kernels = load(store), load(nystrom_store)
    large["label"], kernels["label"] = large["arm"], kernels["arm"]
    other = kernels.assign(params=[{**p, "options": {**p["options"], "ridge": 1e-6}}
                                   for p in kernels["params"]])
    out, lines = merge_kernel_study(large, [(nystrom_store, other)])
    assert out is large and len(lines) == 1
    assert "not added: ridge = 1e-06" in lines[0] and "ridge = 1e-08" in lines[0]
    # the same cells with the large arm's ridge join it
    out, lines = merge_kernel_study(large, [(nystrom_store, kernels)])
    assert sorted(set(out.loc[(out["sweep"] == GOALS_STUDY) & (out["label"] == "ntk"), "d"])) == [8, 12, 16]
