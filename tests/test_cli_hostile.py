"""The `fastrep` command under hostile input, in child processes as a user runs it: every user
error is one line and exit status 2, Ctrl-C is one line and 130, a reader that leaves early is
not an error."""

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from .experiments_toy import register

register()
ROOT = Path(__file__).resolve().parents[1]

# a sweep of the toy method (tests/experiments_toy.py) whose cells after the first `gate_after`
# block until released: the sweep is caught mid-way by state, never by timing
GATED_TOML = """
name = "gated"
epsilon = 0.5
seeds = 2
[target]
terms = [{{alpha = [2, 0], coef = 1.0}}]
[grid]
d = [4, 8]
n = {{start = 8, stop = 64}}
[methods.toy]
power = 2.0
gate = {gate!r}
gate_after = {k}
"""

# the console script, with the toy method registered (the workers import it by name)
_CLI = textwrap.dedent("""
    import signal
    import sys
    # a terminal's process: Ctrl-C raises KeyboardInterrupt. A job started in the background by
    # a non-interactive shell (`cmd &`, how CI may run) inherits SIGINT ignored, and Python then
    # leaves it ignored, so the Ctrl-C test would test the shell, not fastrep.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    from tests.experiments_toy import register
    from fastrep.cli import main
    register()
    sys.exit(main(sys.argv[1:]))
""")


def _env(**extra):
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    env.update(extra)
    return env


def fastrep(tmp_path, *argv, env=None, timeout=300):
    script = tmp_path / "cli.py"
    script.write_text(_CLI)
    return subprocess.run(
        [sys.executable, str(script), *map(str, argv)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=_env(**(env or {})),
        timeout=timeout,
    )


def _one_line(proc, *words, code=2):
    assert proc.returncode == code, (proc.returncode, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("fastrep: "), proc.stderr
    for w in words:
        assert w in lines[0], lines[0]
    return lines[0]


ORACLE_TOML = """
name = "o"
epsilon = 0.25
seeds = 1
[target]
preset = "separation"
[grid]
d = [8]
n = [64]
[methods.oracle]
degree = {degree}
"""


def test_unknown_backend_in_the_environment(tmp_path):
    proc = fastrep(tmp_path, "backends", env={"FASTREP_BACKEND": "gpu"})
    _one_line(proc, "FASTREP_BACKEND must be one of", "'gpu'")


def test_unavailable_backend_is_refused_before_the_first_cell(tmp_path):
    from fastrep import backends

    state = backends()["cupy"]
    if state == "available":
        pytest.skip("CuPy runs here")
    proc = fastrep(tmp_path, "demo", "--quick", "--no-progress", "--out", tmp_path / "r",
                   env={"FASTREP_BACKEND": "cupy"})
    line = _one_line(proc, "FASTREP_BACKEND=cupy cannot run here")
    if "not installed" in state:
        assert 'pip install "fastrep[gpu]"' in line
    assert not (tmp_path / "r").exists()


def test_a_store_that_cannot_be_created(tmp_path):
    spec = tmp_path / "o.toml"
    spec.write_text(ORACLE_TOML.format(degree=2))
    # /proc refuses new files even to root; a read-only folder refuses them to everyone else
    _one_line(fastrep(tmp_path, "sweep", spec, "--store", "/proc/fastrep-s.sqlite", "--serial"),
              "/proc/fastrep-s.sqlite")
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        proc = fastrep(tmp_path, "sweep", spec, "--store", ro / "s.sqlite", "--serial", "--no-progress")
        if os.geteuid() != 0:
            _one_line(proc, str(ro))
        else:
            assert proc.returncode == 0, proc.stderr
    finally:
        ro.chmod(0o755)


def test_spec_with_bad_bytes_or_deep_nesting(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_bytes(b'name = "x"\n\xff\xfe = 1\n')
    _one_line(fastrep(tmp_path, "sweep", bad), "bad.toml", "UTF-8")
    deep = tmp_path / "deep.toml"
    deep.write_text("a = " + "[" * 100_000 + "]" * 100_000 + "\n")
    _one_line(fastrep(tmp_path, "sweep", deep), "deep.toml", "nested")


@pytest.mark.parametrize("dry", [True, False])
def test_oracle_degree_beyond_the_memory_budget(tmp_path, dry):
    spec = tmp_path / "o.toml"
    spec.write_text(ORACLE_TOML.format(degree=400))
    argv = ["sweep", spec, "--serial", "--no-progress"] + (["--dry-run"] if dry else [])
    _one_line(fastrep(tmp_path, *argv), "methods.oracle.degree", "memory budget")
    assert not (tmp_path / "fastrep-results").exists()


def test_report_on_corrupt_rows(tmp_path):
    spec = tmp_path / "o.toml"
    spec.write_text(ORACLE_TOML.format(degree=2))
    store = tmp_path / "s.sqlite"
    assert fastrep(tmp_path, "sweep", spec, "--store", store, "--serial", "--no-progress").returncode == 0
    for column, value in (("excess_error", "'abc'"), ("n", "'many'"), ("params", "'{bad'")):
        copy = tmp_path / f"bad-{column}.sqlite"
        copy.write_bytes(store.read_bytes())
        con = sqlite3.connect(copy)
        con.execute(f"UPDATE cells SET {column} = {value}")
        con.commit()
        con.close()
        _one_line(fastrep(tmp_path, "report", copy, "--out", tmp_path / "rep"), "corrupt", column)


def _stored(store) -> int:
    """Finished cells in the store, read-only (0 while it does not exist yet)."""
    if not store.exists():
        return 0
    try:
        con = sqlite3.connect(f"file:{store}?mode=ro", uri=True, timeout=1.0)
        try:
            return con.execute("SELECT COUNT(*) FROM cells").fetchone()[0]
        finally:
            con.close()
    except sqlite3.Error:  # not created or locked yet
        return 0


@pytest.mark.parametrize("executor", ["processes", "serial"])
def test_ctrl_c_mid_sweep_is_one_line_and_130(tmp_path, executor):
    gate = tmp_path / "gate"
    gate.mkdir()
    spec = tmp_path / "gated.toml"
    spec.write_text(GATED_TOML.format(gate=str(gate), k=3))
    script = tmp_path / "cli.py"
    script.write_text(_CLI)
    store = tmp_path / "s.sqlite"
    argv = ["sweep", spec, "--store", store, "--no-progress"] + (["--serial"] if executor == "serial" else
                                                                  ["--workers", "2"])
    proc = subprocess.Popen([sys.executable, str(script), *map(str, argv)], cwd=tmp_path, env=_env(),
                            start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        blocked = 1 if executor == "serial" else 2  # every lane holds a blocked cell
        deadline = time.monotonic() + 240
        while len(list(gate.glob("blocked-*"))) < blocked or _stored(store) < 3:
            # every lane holds a blocked cell and the driver has written the 3 cells the gate let
            # through (a loaded machine can be slower at the second than at the first)
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the gated cells never started"
            time.sleep(0.02)
        os.killpg(proc.pid, signal.SIGINT)  # as a terminal's Ctrl-C: the driver and its workers
        out, err = proc.communicate(timeout=120)
    finally:
        (gate / "release").touch()
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()  # reaps it and closes its pipes (no ResourceWarning in a later test)
    assert proc.returncode == 130, err
    assert err.strip() == "fastrep: interrupted; finished cells are saved, re-run the same command to resume"
    con = sqlite3.connect(store)
    assert con.execute("SELECT COUNT(*) FROM cells").fetchone()[0] == 3
    con.close()


def test_a_reader_that_leaves_early_is_not_an_error(tmp_path):
    r, w = os.pipe()
    os.close(r)  # `fastrep backends | head -0`: nobody reads
    try:
        proc = subprocess.run([sys.executable, "-m", "fastrep.cli", "backends"], stdout=w,
                              stderr=subprocess.PIPE, text=True, cwd=tmp_path, env=_env(), timeout=120)
    finally:
        os.close(w)
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr


TOY_TOML = """
name = "drytoy"
epsilon = 0.5
seeds = 2
[target]
terms = [{alpha = [2, 0], coef = 1.0}]
[grid]
d = [4, 8]
n = {start = 8, stop = 64}
[methods.toy]
power = 2.0
"""


def _fingerprint(path: Path):
    return path.read_bytes(), path.stat().st_mtime_ns, sorted(os.listdir(path.parent))


def test_dry_run_refuses_what_the_run_refuses(tmp_path, capsys):
    from fastrep.cli import main

    spec, store = tmp_path / "toy.toml", tmp_path / "s.sqlite"
    spec.write_text(TOY_TOML)
    assert main(["sweep", str(spec), "--store", str(store), "--serial", "--no-progress"]) == 0
    capsys.readouterr()
    spec.write_text(TOY_TOML.replace("power = 2.0", "power = 3.0"))
    before = _fingerprint(store)
    assert main(["sweep", str(spec), "--store", str(store), "--dry-run"]) == 2
    dry = capsys.readouterr()
    assert dry.out == "" and "already exists" in dry.err and "power: 2.0 -> 3.0" in dry.err
    assert _fingerprint(store) == before  # read-only: no -wal/-shm, not a byte changed
    assert main(["sweep", str(spec), "--store", str(store), "--serial", "--no-progress"]) == 2
    assert capsys.readouterr().err == dry.err
    # a store of another results version: refused by both
    con = sqlite3.connect(store)
    con.execute("UPDATE meta SET value = '1' WHERE key = 'results_version'")
    con.commit()
    con.close()
    spec.write_text(TOY_TOML)
    before = _fingerprint(store)
    assert main(["sweep", str(spec), "--store", str(store), "--dry-run"]) == 2
    dry = capsys.readouterr().err
    assert "results version 1" in dry and _fingerprint(store) == before
    assert main(["sweep", str(spec), "--store", str(store), "--serial", "--no-progress"]) == 2
    assert capsys.readouterr().err == dry


def test_dry_run_of_millions_of_cells_builds_none(tmp_path, capsys, monkeypatch):
    from fastrep.cli import main
    from fastrep.experiments.spec import LIMITS, SweepSpec

    def refuse(self):
        raise AssertionError("the dry run built the sweep's cells")

    spec = tmp_path / "big.toml"
    spec.write_text(TOY_TOML.replace("seeds = 2", "seeds = 30").replace(
        "d = [4, 8]", "d = {start = 4, stop = 400, num = 100}").replace(
        "n = {start = 8, stop = 64}", "n = {start = 8, stop = 100000000, num = 1000}"))
    from fastrep.experiments import load_spec

    count = load_spec(spec).count()  # d and n rounded to integers, repeats dropped
    assert 10**6 < count < LIMITS["cells_hard"]
    monkeypatch.setattr(SweepSpec, "cells", refuse)
    assert main(["sweep", str(spec), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert f"sweep 'drytoy': {count:,} cells" in out and "estimated time" in out
    assert max(map(len, out.splitlines())) < 200, out  # a bounded listing of the 100 values of d


def test_run_refuses_a_backend_that_cannot_run_here(tmp_path, monkeypatch):
    """The library's run() refuses too, before the first cell (the CLI's check is the same one)."""
    from fastrep import backends
    from fastrep.experiments import run
    from fastrep.experiments.runner import ExecutorError

    from .experiments_toy import toy_spec

    state = backends()["cupy"]
    if state == "available":
        pytest.skip("CuPy runs here")
    monkeypatch.setenv("FASTREP_BACKEND", "cupy")
    with pytest.raises(ExecutorError, match="FASTREP_BACKEND=cupy cannot run here"):
        run(toy_spec(seeds=1, grid={"d": [4], "n": [8]}), store=tmp_path / "s.sqlite", executor="serial",
            progress=False)
    assert not (tmp_path / "s.sqlite").exists()
