"""The `fastrep` command: help with examples, one-line errors with status 2, sweep/report/backends."""

import subprocess
import sys
from pathlib import Path

import pytest

from fastrep.cli import main

from .experiments_toy import register

register()

TOY_TOML = """
name = "clitoy"
epsilon = 0.5
seeds = 2
[target]
terms = [{alpha = [2, 0], coef = 1.0}, {alpha = [1, 1], coef = 0.5}]
[grid]
d = [4, 8]
n = {start = 8, stop = 1024}
[methods.toy]
power = 2.0
"""


@pytest.mark.parametrize("cmd", [[], ["demo"], ["sweep"], ["report"], ["backends"]])
def test_help_has_an_example(cmd, capsys):
    with pytest.raises(SystemExit) as exc:
        main(cmd + ["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "example" in out and "fastrep" in out


def _one_line_error(capsys, argv, words):
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("fastrep: error: "), err
    assert words in lines[0]
    assert "Traceback" not in err


def test_usage_errors_are_one_line(capsys):
    for argv, words in (
        [[], "required"],
        [["sweep"], "required"],
        [["frobnicate"], "invalid choice"],
        [["demo", "--workers", "0"], "--workers must be a positive integer"],
    ):
        with pytest.raises(SystemExit) as exc:
            main(argv)
        assert exc.value.code == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("fastrep: error: ") and words in err[0], err


def test_bad_spec_missing_file_foreign_store(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text(TOY_TOML.replace("[methods.toy]", "[methods.toyy]"))
    _one_line_error(
        capsys, ["sweep", str(bad), "--store", str(tmp_path / "s.sqlite")], "methods.toyy: unknown method"
    )
    assert not (tmp_path / "s.sqlite").exists()
    neg = tmp_path / "neg.toml"
    neg.write_text(TOY_TOML.replace("start = 8", "start = -8"))
    _one_line_error(capsys, ["sweep", str(neg)], "grid.n.start")
    _one_line_error(capsys, ["sweep", str(tmp_path / "nope.toml")], "spec file not found")
    notes = tmp_path / "notes.txt"
    notes.write_text("hello")
    _one_line_error(capsys, ["report", str(notes)], "not a fastrep results store")
    good = tmp_path / "good.toml"
    good.write_text(TOY_TOML)
    _one_line_error(
        capsys, ["sweep", str(good), "--store", str(notes), "--serial"], "not a fastrep results store"
    )
    assert notes.read_text() == "hello"
    _one_line_error(capsys, ["report", str(tmp_path / "nothing.sqlite")], "no results store")


def test_sweep_then_report(tmp_path, capsys):
    spec = tmp_path / "toy.toml"
    spec.write_text(TOY_TOML)
    store = tmp_path / "runs" / "s.sqlite"
    assert main(["sweep", str(spec), "--store", str(store), "--serial", "--no-progress"]) == 0
    out, err = capsys.readouterr()
    assert "report:" in out and "0 failed" in err
    assert (store.parent / "report.md").exists() and (store.parent / "clitoy-n_star.png").exists()
    # resume: nothing left to run
    assert main(["sweep", str(spec), "--store", str(store), "--serial", "--no-progress"]) == 0
    assert "0 run" in capsys.readouterr().err
    figs = tmp_path / "figs"
    assert main(["report", str(store), "--out", str(figs), "--bootstrap", "50"]) == 0
    assert "toy | 2.00" in (figs / "report.md").read_text()


def test_backends(capsys):
    assert main(["backends"]) == 0
    out = capsys.readouterr().out
    assert "reference" in out and "available" in out and "cupy" in out


def test_console_entry_point_error_has_no_traceback(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[grid]\nd = [4]\nn = [8]\n[methods.toy]\n")
    proc = subprocess.run(
        [sys.executable, "-m", "fastrep.cli", "sweep", str(bad)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert proc.returncode == 2
    assert (
        proc.stderr.strip()
        == 'fastrep: error: target: missing; name a preset (target.preset = "separation") '
        "or give target.terms"
    )
    assert not Path(tmp_path / "fastrep-results").exists()


@pytest.mark.slow
def test_demo_quick_end_to_end(tmp_path):
    """The console entry point runs the quick demo on local processes and writes the full report."""
    proc = subprocess.run(
        [sys.executable, "-m", "fastrep.cli", "demo", "--quick", "--no-progress", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stderr
    out = tmp_path / "separation-quick"
    text = (out / "report.md").read_text()
    for words in ("Separation checks", "Fitted slopes", "n*(d)", "machine:", "total time", "backend used"):
        assert words in text
    pngs = sorted(p.name for p in out.glob("*.png"))
    figures = ["alignment", "degree_learning", "error_vs_n", "kernel_theory", "n_star", "n_star_theory", "transfer"]
    assert pngs == [f"separation-quick-{f}.png" for f in figures] and all(f"]({p})" in text for p in pngs)
    # a second run resumes: nothing to do
    proc = subprocess.run(
        [sys.executable, "-m", "fastrep.cli", "demo", "--quick", "--no-progress", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0 and " 0 run" in proc.stderr


def test_dry_run_prints_the_plan_and_runs_nothing(tmp_path, capsys):
    spec = tmp_path / "toy.toml"
    spec.write_text(TOY_TOML)
    store = tmp_path / "s.sqlite"
    assert main(["sweep", str(spec), "--store", str(store), "--dry-run", "--serial"]) == 0
    out = capsys.readouterr().out
    # d = 4 and 8, n = 8..1024 (8 values), 2 seeds
    assert "sweep 'clitoy': 32 cells" in out and "toy: 32 cells (d=4: 16, d=8: 16)" in out
    assert "estimated time" in out and "peak memory" in out and "MiB" in out
    assert not store.exists()


def test_large_sweeps_need_yes(tmp_path, capsys, monkeypatch):
    from fastrep.experiments.spec import LIMITS

    spec = tmp_path / "toy.toml"
    spec.write_text(TOY_TOML)
    store = tmp_path / "s.sqlite"
    monkeypatch.setitem(LIMITS, "cells", 10)
    code = main(["sweep", str(spec), "--store", str(store), "--serial", "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and "32 cells, more than 10" in err and "--yes" in err and not store.exists()
    assert main(["sweep", str(spec), "--store", str(store), "--dry-run"]) == 0
    assert "needs --yes" in capsys.readouterr().out
    assert main(["sweep", str(spec), "--store", str(store), "--serial", "--no-progress", "--yes"]) == 0


def test_huge_dry_run_counts_without_building_cells(tmp_path, capsys):
    text = TOY_TOML.replace("seeds = 2", "seeds = 10000").replace(
        "n = {start = 8, stop = 1024}", "n = {start = 1, stop = 1000000000, num = 10000}"
    )
    spec = tmp_path / "big.toml"
    spec.write_text(text)
    assert main(["sweep", str(spec), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "more than fastrep runs" in out and "toy d=4:" in out


@pytest.mark.slow
def test_dry_run_estimate_is_within_3x_of_the_quick_demo(tmp_path):
    """The --dry-run estimate against the real time of `fastrep demo --quick` (on a quiet machine)."""
    import re

    def run(*extra):
        return subprocess.run(
            [
                sys.executable,
                "-m",
                "fastrep.cli",
                "demo",
                "--quick",
                "--no-progress",
                "--out",
                str(tmp_path),
                *extra,
            ],
            capture_output=True,
            text=True,
            timeout=900,
        )

    dry = run("--dry-run")
    assert dry.returncode == 0, dry.stderr
    m = re.search(r"estimated time: ([\d.]+) (s|min)", dry.stdout)
    est = float(m.group(1)) * (60 if m.group(2) == "min" else 1)
    real = run()
    assert real.returncode == 0, real.stderr
    took = float(re.search(r"failed, ([\d.]+) s \(processes\)", real.stderr).group(1))
    assert est / 3 <= took <= 3 * est, (est, took)
def test_option_abbreviations_are_refused(capsys, tmp_path):
    """`--stor` must not silently mean `--store` (argparse's allow_abbrev)."""
    store = str(tmp_path / "x.sqlite")
    for argv in (["sweep", "separation", "--stor", store], ["report", "no.sqlite", "--boot", "5"]):
        with pytest.raises(SystemExit) as exc:
            main(argv)
        assert exc.value.code == 2
        err = capsys.readouterr().err
        assert "unrecognized arguments" in err and err.startswith("fastrep: error: ")
    assert not (tmp_path / "x.sqlite").exists()


def test_help_is_wrapped(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "72")
    for cmd in ([], ["demo"], ["sweep"], ["report"], ["examples"], ["backends"]):
        with pytest.raises(SystemExit):
            main(cmd + ["--help"])
        out = capsys.readouterr().out
        long = [line for line in out.splitlines() if len(line) > 72]
        assert not long, long


def test_a_folder_as_spec_is_refused_as_such(tmp_path, capsys):
    _one_line_error(capsys, ["sweep", str(tmp_path)], "spec must be a TOML file; ")
    _one_line_error(capsys, ["sweep", str(tmp_path)], "is a folder")


def test_backends_names_each_backend_once(capsys):
    assert main(["backends"]) == 0
    for line in capsys.readouterr().out.splitlines()[1:]:
        name = line.split()[0]
        if name in ("reference", "cpp", "numba", "cupy"):
            assert f"{name}:" not in line, line
