"""A report says what its sweep shows and nothing else: goals only for the study that defines
them, a degenerate target said once, and never another store's report replaced."""

import pytest

from fastrep.cli import main
from fastrep.experiments import load, run, write_report
from fastrep.experiments.report import GOALS_STUDY

from .experiments_toy import register, toy_spec

register()


def _tiny(name, target=None):
    return {
        "name": name, "epsilon": 0.25, "seeds": 1,
        "target": target or {"preset": "separation"},
        "grid": {"d": [6, 8], "n": [64, 128]}, "evaluation": {"n_val": 200, "n_test": 300},
        "methods": {"ntk": {"ridge": 1e-8}, "onestep": {"width": 40}},
    }


@pytest.mark.parametrize("name", ["tiny", GOALS_STUDY])
def test_goal_lines_belong_to_their_study(tmp_path, name):
    path = tmp_path / "s.sqlite"
    run(_tiny(name), store=path, executor="serial", progress=False)
    text = write_report(path, tmp_path, n_boot=20).read_text()
    assert "The kernels against fastrep.theory" in text  # the theory section is there either way
    assert ("Goals of the large-d study" in text) == (name == GOALS_STUDY)


def test_a_degenerate_target_is_recorded_per_cell_and_said_once(tmp_path):
    path = tmp_path / "s.sqlite"
    spec = _tiny("he3", {"preset": "single_index", "kind": "he3"})
    run(spec, store=path, executor="serial", progress=False)
    df = load(path)
    flagged = df["extra"].map(lambda e: bool(e.get("degenerate_target")))
    assert flagged.tolist() == (df["method"] == "onestep").tolist()  # the network's cells, each
    text = write_report(path, tmp_path, n_boot=20).read_text()
    lines = [line for line in text.splitlines() if "expected Hessian has rank < r" in line]
    assert len(lines) == 1 and f"in {flagged.sum()} of {len(df)} cells" in lines[0]
    assert "DegenerateTargetWarning" in lines[0]
    run(_tiny("sep"), store=tmp_path / "t.sqlite", executor="serial", progress=False)
    assert not any(load(tmp_path / "t.sqlite")["extra"].map(lambda e: "degenerate_target" in e))


def test_a_second_store_never_replaces_the_first_report(tmp_path, capsys):
    a, b = tmp_path / "a.sqlite", tmp_path / "b.sqlite"
    for path, name in ((a, "first"), (b, "second")):
        run(toy_spec(name=name, seeds=2, grid={"d": [4, 8], "n": [8, 64]}), store=path, executor="serial",
            progress=False)
    assert main(["report", str(a), "--bootstrap", "20"]) == 0
    assert capsys.readouterr().out.strip() == f"report: {tmp_path / 'report.md'}"
    first = (tmp_path / "report.md").read_text()
    assert main(["report", str(b), "--bootstrap", "20"]) == 0
    out = capsys.readouterr().out
    assert f"report: {tmp_path / 'b-report.md'}" in out and "report of another store" in out
    assert (tmp_path / "report.md").read_text() == first and "Sweep `second`" in (
        tmp_path / "b-report.md").read_text()
    # each store's own report is rewritten in place
    assert write_report(a, n_boot=20) == tmp_path / "report.md"
    assert write_report(b, n_boot=20) == tmp_path / "b-report.md"
    # a third store in the same folder, whose own name is taken too: refused, in one line
    c = tmp_path / "c.sqlite"
    spec = toy_spec(name="third", seeds=1, grid={"d": [4], "n": [8]})
    run(spec, store=c, executor="serial", progress=False)
    (tmp_path / "c-report.md").write_text("my notes\n")
    assert main(["report", str(c)]) == 2
    assert "report.md and c-report.md of other stores" in capsys.readouterr().err
    assert (tmp_path / "c-report.md").read_text() == "my notes\n"
