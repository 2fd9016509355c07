"""A sweep's progress tells the truth: the plan's estimate is printed before the first cell, and
the bar counts each cell's estimated cost (not cells), so the costly cells that run first do not
make the rest look as long."""

import pytest

from fastrep.experiments import load_spec, run
from fastrep.experiments.plan import WARMUP_S, cell_estimate, charged_params, format_seconds, plan

from .experiments_toy import register, toy_spec

register()


class _Bar:
    made = []

    def __init__(self, *args, total=None, initial=0, disable=False, **kwargs):
        self.total, self.n, self.updates, self.disable = total, initial, [], disable
        _Bar.made.append(self)

    def update(self, k=1):
        self.updates.append(k)
        self.n += k

    def set_postfix_str(self, *a, **k):
        pass

    def write(self, *a, **k):
        pass

    def close(self):
        pass


@pytest.fixture
def bars(monkeypatch):
    import tqdm.auto

    _Bar.made = []
    monkeypatch.setattr(tqdm.auto, "tqdm", _Bar)
    return _Bar.made


def test_bar_counts_estimated_cost_and_the_estimate_comes_first(tmp_path, bars, capsys):
    spec = load_spec(toy_spec(seeds=2, grid={"d": [4, 16], "n": [8, 64, 4096]}, methods={"toy": {}}))
    s = run(spec, store=tmp_path / "s.sqlite", executor="serial", progress=True)
    assert s.cells_run == 12
    (bar,) = bars
    cells = spec.cells()
    expect = sorted(cell_estimate(p, threads=1)[0] for p, _ in charged_params(cells, 1))
    expect[-1] += WARMUP_S  # the first (costliest) cell loads the method
    assert sorted(bar.updates) == pytest.approx(expect)
    assert len(set(bar.updates)) > 1  # unequal cells, unequal steps
    assert bar.n == pytest.approx(bar.total)
    # the bar's total is the printed estimate (one lane here)
    est = plan(spec, cells, workers=1, threads=1)
    assert bar.total == pytest.approx(est.time_s)
    err = capsys.readouterr().err
    assert f"fastrep: toy: 12 cells to run, estimated {format_seconds(est.time_s)}" in err


def test_a_resumed_sweep_counts_only_what_is_left(tmp_path, bars):
    spec = load_spec(toy_spec(seeds=2, grid={"d": [4], "n": [8, 64]}, methods={"toy": {}}))
    run(spec, store=tmp_path / "s.sqlite", executor="serial", progress=False)
    # the same setting with one more n: a resume of the two stored ones
    bigger = load_spec(toy_spec(seeds=2, grid={"d": [4], "n": [8, 64, 512]}, methods={"toy": {}}))
    bars.clear()
    run(bigger, store=tmp_path / "s.sqlite", executor="serial", progress=True)
    (bar,) = bars
    left = [c for c in bigger.cells() if c.params["n"] == 512]
    assert bar.total == pytest.approx(plan(bigger, left, workers=1, threads=1).time_s)


@pytest.mark.parametrize("grid, flag", [("quick", ["--quick"]), ("full", []), ("large", ["--large"])])
def test_help_states_the_dry_run_estimate(grid, flag, capsys, tmp_path):
    """One estimate per study: `fastrep demo --help` and `--dry-run` print the same number."""
    import re

    from fastrep.cli import main

    assert main(["demo", *flag, "--dry-run", "--out", str(tmp_path)]) == 0
    dry = re.search(r"estimated time: (\S+ \S+) \(", capsys.readouterr().out).group(1)
    for argv in (["demo", "--help"], ["--help"]):
        with pytest.raises(SystemExit):
            main(argv)
        text = " ".join(capsys.readouterr().out.split())
        stated = {"quick": f"{dry} here", "full": f"about {dry} here", "large": f"estimated at {dry} here"}
        if argv == ["--help"] and grid == "large":
            continue  # the top-level examples name the default and quick demos only
        assert stated[grid] in text, (dry, text)
