"""Results you can trust: sweeps never pool different settings, a kill-and-resume ends in a
report, concurrent sweeps and orphaned workers cannot happen, reports never touch the store,
and every bad value is refused before a cell runs."""

import hashlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil
import pytest

from fastrep.cli import main
from fastrep.experiments import load, median_curves, n_star, run

from .experiments_toy import register, toy_spec

register()
ROOT = Path(__file__).resolve().parents[1]

TOY_TOML = """
name = "trust"
epsilon = 0.5
seeds = 3
[target]
terms = [{alpha = [2, 0], coef = 1.0}, {alpha = [1, 1], coef = 0.5}]
[grid]
d = [4, 8]
n = {start = 8, stop = 256}
[methods.toy]
power = 2.0
"""


def _write(tmp_path, text, name="spec.toml"):
    p = tmp_path / name
    p.write_text(text)
    return p


def _one_line_error(capsys, argv, *words):
    code = main(argv)
    out, err = capsys.readouterr()
    assert code == 2, (out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("fastrep: error: "), err
    assert "Traceback" not in err
    for w in words:
        assert w in lines[0], (w, lines[0])
    return lines[0]


def _fingerprint(folder: Path):
    """The sorted listing of ``folder`` and the sha256 of every file in it."""
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
        for p in sorted(folder.iterdir())
    }


def _script(tmp_path, body: str, name="drive.py") -> Path:
    """A driver script that can use the toy methods (registered before the CLI runs)."""
    p = tmp_path / name
    p.write_text(
        textwrap.dedent(
            f"""
            import sys
            sys.path.insert(0, {str(ROOT)!r})
            from tests.experiments_toy import register
            register()
            """
        )
        + textwrap.dedent(body)
    )
    return p


def _count(path: Path) -> int:
    if not path.exists():
        return 0
    try:
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
        try:
            return con.execute("SELECT COUNT(*) FROM cells").fetchone()[0]
        finally:
            con.close()
    except sqlite3.DatabaseError:
        return 0


def _wait_cells(path, proc, k, errfile, timeout=90):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done = _count(path)
        if done >= k:
            return done
        assert proc.poll() is None, errfile.read_text()
        time.sleep(0.05)
    raise AssertionError(f"the sweep did not reach {k} cells in {timeout} s: {errfile.read_text()}")


def _gated(text: str, tmp_path, k: int) -> str:
    """The toy sweep ``text`` whose cells after the first ``k`` wait for ``tmp_path/gate/release``
    (tests/experiments_toy.py): the sweep stays mid-way, by state, until the test kills it."""
    gate = tmp_path / "gate"
    gate.mkdir(exist_ok=True)
    return text.replace("power = 2.0", f"power = 2.0\ngate = {str(gate)!r}\ngate_after = {k}")


def _release(tmp_path) -> None:
    (tmp_path / "gate" / "release").touch()


def _kill_tree(proc):
    """SIGKILL what is left of ``proc``'s session (workers included), whatever the test found."""
    for _ in range(50):
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            return
        time.sleep(0.1)


# --------------------------------------------------------------------------- pooled settings


def test_same_name_with_a_different_spec_is_refused(tmp_path, capsys):
    store = tmp_path / "s.sqlite"
    a = _write(tmp_path, TOY_TOML, "a.toml")
    assert main(["sweep", str(a), "--store", str(store), "--serial", "--no-progress"]) == 0
    capsys.readouterr()
    before = len(load(store))
    b = _write(tmp_path, TOY_TOML.replace("power = 2.0", "power = 3.0"), "b.toml")
    line = _one_line_error(
        capsys,
        ["sweep", str(b), "--store", str(store), "--serial", "--no-progress"],
        "trust",
        "power",
        "--as",
    )
    assert "2.0" in line and "3.0" in line
    assert len(load(store)) == before
    # under a new name the two settings live side by side, never merged
    assert (
        main(["sweep", str(b), "--store", str(store), "--serial", "--no-progress", "--as", "trust-p3"]) == 0
    )
    capsys.readouterr()
    df = load(store)
    assert set(df["sweep"]) == {"trust", "trust-p3"} and len(df) == 2 * before


def test_changed_learner_option_is_refused(tmp_path, capsys):
    text = """
name = "net"
seeds = 1
[target]
preset = "separation"
[grid]
d = [4]
n = [32]
[evaluation]
n_val = 50
n_test = 50
[methods.onestep]
width = 20
"""
    store = tmp_path / "s.sqlite"
    assert (
        main(["sweep", str(_write(tmp_path, text)), "--store", str(store), "--serial", "--no-progress"]) == 0
    )
    capsys.readouterr()
    changed = _write(tmp_path, text.replace("width = 20", "width = 10"), "b.toml")
    _one_line_error(capsys, ["sweep", str(changed), "--store", str(store), "--serial"], "width", "20", "10")
    target = _write(tmp_path, text.replace('"separation"', '"single_index"'), "c.toml")
    _one_line_error(capsys, ["sweep", str(target), "--store", str(store), "--serial"], "target")
    assert len(load(store)) == 1


def test_two_settings_under_one_label_are_two_arms(tmp_path):
    store = tmp_path / "s.sqlite"
    grid = {"d": [4, 8], "n": {"start": 8, "stop": 1024}}
    run(
        toy_spec(name="a", grid=grid, methods={"toy": {"power": 2.0}}),
        store=store,
        executor="serial",
        progress=False,
    )
    run(
        toy_spec(name="b", grid=grid, methods={"toy": {"power": 3.0}}),
        store=store,
        executor="serial",
        progress=False,
    )
    df = load(store)
    curves = median_curves(df)
    assert curves["seeds"].max() == 3  # not 6: two settings are never pooled
    assert set(curves["label"]) == {"toy (power=2.0)", "toy (power=3.0)"}
    stars = n_star(df, 0.5)
    assert len(stars) == 4 and set(stars["label"]) == set(curves["label"])
    assert set(df["arm"]) == set(curves["label"])


# --------------------------------------------------------------------------- kill, resume, report


_SWEEP = """
from fastrep.cli import main
if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
"""


def _start_sweep(tmp_path, spec, store, *extra):
    """`fastrep sweep SPEC --store STORE --no-progress EXTRA` in its own session, toy methods
    registered; returns (process, its stderr file)."""
    drive = _script(tmp_path, _SWEEP)
    errfile = tmp_path / "err.txt"
    argv = [sys.executable, str(drive), "sweep", str(spec), "--store", str(store), "--no-progress", *extra]
    with open(errfile, "wb") as err:
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=err, start_new_session=True)
    return proc, errfile


def test_sigkill_then_resume_then_report(tmp_path, capsys):
    spec = _write(tmp_path, _gated(TOY_TOML.replace("seeds = 3", "seeds = 2"), tmp_path, 6))
    store = tmp_path / "runs" / "s.sqlite"
    argv = ["sweep", str(spec), "--store", str(store), "--no-progress"]
    proc, errfile = _start_sweep(tmp_path, spec, store, "--workers", "2")
    try:
        done = _wait_cells(store, proc, 6, errfile)
        assert done == 6 < 2 * 6 * 2  # the gate holds the rest
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        _kill_tree(proc)
    _release(tmp_path)
    assert main(argv + ["--serial"]) == 0  # the resume ends in a report, under this pandas
    out, err = capsys.readouterr()
    assert "report:" in out and (store.parent / "report.md").exists(), err
    assert main(["report", str(store), "--out", str(tmp_path / "r"), "--bootstrap", "50"]) == 0
    text = (tmp_path / "r" / "report.md").read_text()
    assert "total time" in text and "did not finish" in text
    assert len(load(store)) == 2 * 6 * 2


def test_second_sweep_on_a_live_store_exits_2_naming_the_other(tmp_path, capsys):
    spec = _write(tmp_path, _gated(TOY_TOML.replace("seeds = 3", "seeds = 1"), tmp_path, 1))
    store = tmp_path / "s.sqlite"
    proc, errfile = _start_sweep(tmp_path, spec, store, "--serial")
    try:
        _wait_cells(store, proc, 1, errfile)
        t0 = time.monotonic()
        _one_line_error(
            capsys, ["sweep", str(spec), "--store", str(store), "--serial", "--no-progress"], str(proc.pid)
        )
        assert time.monotonic() - t0 < 10  # refused, not computed
        os.kill(proc.pid, signal.SIGKILL)  # its lease is now stale
        proc.wait(timeout=30)
    finally:
        _kill_tree(proc)
    _release(tmp_path)
    assert main(["sweep", str(spec), "--store", str(store), "--serial", "--no-progress"]) == 0
    assert len(load(store)) == 2 * 6


def test_workers_exit_when_the_driver_is_killed(tmp_path):
    spec = _write(tmp_path, _gated(TOY_TOML, tmp_path, 2))
    store = tmp_path / "s.sqlite"
    proc, errfile = _start_sweep(tmp_path, spec, store, "--workers", "2")
    try:
        _wait_cells(store, proc, 2, errfile)
        children = psutil.Process(proc.pid).children(recursive=True)
        assert len(children) >= 2
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        _, alive = psutil.wait_procs(children, timeout=20)
        assert not alive, [(p.pid, p.cmdline()) for p in alive]
    finally:
        _kill_tree(proc)


def test_run_from_a_script_without_main_guard(tmp_path):
    store = tmp_path / "s.sqlite"
    script = _script(
        tmp_path,
        f"""
        from fastrep.experiments import run
        from tests.experiments_toy import toy_spec
        spec = toy_spec(seeds=2, grid={{"d": [4], "n": [8, 16]}}, methods={{"toy": {{"power": 2.0}}}})
        print(run(spec, store={str(store)!r}, executor="processes", workers=2, progress=False))
        """,
    )
    t0 = time.monotonic()
    res = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=120, start_new_session=True
    )
    if res.returncode == 0:
        assert "4 run, 0 failed" in res.stdout
        assert len(load(store)) == 4
    else:  # refused at once, with an error that names the guard (not a "worker died" diagnosis)
        last = res.stderr.strip().splitlines()[-1]
        assert "__main__" in last and "worker" not in last, res.stderr
        assert time.monotonic() - t0 < 30


# --------------------------------------------------------------------------- read-only reports


def _toy_store(tmp_path) -> Path:
    store = tmp_path / "store" / "s.sqlite"
    run(
        toy_spec(seeds=2, grid={"d": [4, 8], "n": [8, 64, 512]}),
        store=store,
        executor="serial",
        progress=False,
    )
    return store


def test_report_on_a_store_with_a_leftover_wal_changes_nothing(tmp_path, capsys):
    store = _toy_store(tmp_path)
    # a writer that died with its WAL unfolded: the last committed rows live only in -wal
    subprocess.run(
        [
            sys.executable,
            "-c",
            textwrap.dedent(f"""
            import os, sqlite3
            con = sqlite3.connect({str(store)!r})
            con.execute("PRAGMA wal_autocheckpoint=0")
            con.execute("UPDATE cells SET host = 'wal-only' WHERE rowid = 1")
            con.commit()
            os._exit(0)
        """),
        ],
        check=True,
    )
    assert (store.parent / "s.sqlite-wal").stat().st_size > 0
    before = _fingerprint(store.parent)
    assert main(["report", str(store), "--out", str(tmp_path / "out"), "--bootstrap", "20"]) == 0
    df = load(store)
    assert "wal-only" in set(df["host"])  # the WAL's rows were read
    assert _fingerprint(store.parent) == before


def _meta_only(path: Path) -> Path:
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    con.execute("INSERT INTO meta VALUES ('application', 'fastrep'), ('schema_version', '1')")
    con.commit()
    con.close()
    return path


def _foreign_wal(path: Path) -> Path:
    con = sqlite3.connect(path)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("CREATE TABLE users (name TEXT)")
    con.commit()
    con.close()
    return path


def _corrupt(path: Path) -> Path:
    data = bytearray(path.read_bytes())  # the header and meta pages stay readable
    for i in range(len(data) // 2, len(data), 7):
        data[i] = (data[i] * 31 + 17) % 256
    path.write_bytes(bytes(data))
    return path


def _truncated(path: Path) -> Path:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 2 // 3])
    return path


def _bad_json(path: Path) -> Path:
    con = sqlite3.connect(path)
    con.execute("UPDATE cells SET params = '{not json' WHERE rowid = 1")
    con.commit()
    con.execute("PRAGMA journal_mode=DELETE")
    con.close()
    return path


@pytest.mark.parametrize("kind", ["meta_only", "foreign_wal", "corrupt", "truncated", "bad_json"])
def test_broken_stores_are_one_line_and_untouched(tmp_path, capsys, kind):
    folder = tmp_path / "f"
    folder.mkdir()
    if kind in ("corrupt", "truncated", "bad_json"):
        src = _toy_store(tmp_path)
        con = sqlite3.connect(src)
        con.execute("PRAGMA journal_mode=DELETE")
        con.close()
        path = folder / "s.sqlite"
        path.write_bytes(src.read_bytes())
        {"corrupt": _corrupt, "truncated": _truncated, "bad_json": _bad_json}[kind](path)
    else:
        path = {"meta_only": _meta_only, "foreign_wal": _foreign_wal}[kind](folder / "s.sqlite")
    before = _fingerprint(folder)
    _one_line_error(capsys, ["report", str(path), "--out", str(tmp_path / "out")], str(path))
    assert _fingerprint(folder) == before
    with pytest.raises(Exception) as exc:  # the library refuses the same files, without touching them
        load(path)
    assert str(path) in str(exc.value)
    assert _fingerprint(folder) == before


def test_unwritable_or_wrong_outputs_are_one_line(tmp_path, capsys):
    store = _toy_store(tmp_path)
    taken = tmp_path / "a-file"
    taken.write_text("mine")
    _one_line_error(capsys, ["report", str(store), "--out", str(taken)], "--out")
    assert taken.read_text() == "mine"
    if sys.platform.startswith("linux"):
        _one_line_error(capsys, ["report", str(store), "--out", "/proc/fastrep-cannot-write-here"], "--out")


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root ignores file permissions")
def test_report_on_a_read_only_folder(tmp_path, capsys):
    store = _toy_store(tmp_path)
    before = _fingerprint(store.parent)
    os.chmod(store.parent, 0o555)
    try:
        assert main(["report", str(store), "--out", str(tmp_path / "out"), "--bootstrap", "20"]) == 0
        _one_line_error(capsys, ["report", str(store)], "--out")
    finally:
        os.chmod(store.parent, 0o755)
    assert _fingerprint(store.parent) == before


def test_huge_bootstrap_is_refused(tmp_path):
    store = _toy_store(tmp_path)
    # under a 4 GiB address-space limit, so an unbounded bootstrap fails fast instead of swapping
    code = textwrap.dedent(f"""
        import resource, sys
        resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))
        sys.path.insert(0, {str(ROOT)!r})
        from fastrep.cli import main
        out = {str(tmp_path / "o")!r}
        sys.exit(main(["report", {str(store)!r}, "--out", out, "--bootstrap", "1000000000"]))
    """)
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 2, res.stderr
    assert res.stderr.startswith("fastrep: error: ") and "--bootstrap" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1


# --------------------------------------------------------------------------- values checked first

_NET = """
name = "values"
seeds = 1
[target]
preset = "separation"
[grid]
d = [4]
n = [32]
[evaluation]
n_val = 50
n_test = 50
"""

BAD_VALUES = [
    ("[methods.onestep]\nwidth = -20\n", "width"),
    ("[methods.onestep]\nwidth = 51\n", "width"),
    ('[methods.onestep]\nwidth = "20"\n', "width"),
    ("[methods.onestep]\nridge = -1\n", "ridge"),
    ('[methods.onestep]\nridge = "auto"\n', "ridge"),
    ('[methods.onestep]\nbackend = "gpu"\n', "backend"),
    ('[methods.onestep]\ndtype = "float16"\n', "dtype"),
    ("[methods.onestep]\neta1 = -1\n", "eta1"),
    ("[methods.ntk]\nridge = -1\n", "ridge"),
    ('[methods.ntk]\nsolver = "magic"\n', "solver"),
    ("[methods.oracle]\ndegree = -1\n", "degree"),
]


@pytest.mark.parametrize("table, key", BAD_VALUES, ids=[f"{k}-{i}" for i, (_, k) in enumerate(BAD_VALUES)])
def test_bad_option_values_exit_2_before_a_cell_runs(tmp_path, capsys, table, key):
    store = tmp_path / "s.sqlite"
    spec = _write(tmp_path, _NET + table)
    _one_line_error(capsys, ["sweep", str(spec), "--store", str(store), "--serial", "--no-progress"], key)
    assert not store.exists()


BAD_SPECS = [
    (
        _NET.replace('preset = "separation"', 'preset = "separation"\nwobble = 3') + "[methods.oracle]\n",
        "target.wobble",
    ),
    (
        _NET.replace('preset = "separation"', "terms = [{alpha = [1, 1, 1, 1, 1, 1], coef = 1.0}]")
        + "[methods.oracle]\n",
        "target",
    ),
    (
        _NET.replace('preset = "separation"', "terms = [{alpha = [4000], coef = 1.0}]")
        + "[methods.oracle]\n",
        "target",
    ),
    (_NET.replace("seeds = 1", "seeds = [9223372036854775808]") + "[methods.oracle]\n", "seeds[0]"),
    (_NET + "[methods.onestep]\nseeds = [-1]\n", "methods.onestep.seeds[0]"),
]


@pytest.mark.parametrize("text, key", BAD_SPECS, ids=[k for _, k in BAD_SPECS])
def test_bad_spec_values_exit_2_before_a_cell_runs(tmp_path, capsys, text, key):
    store = tmp_path / "s.sqlite"
    _one_line_error(capsys, ["sweep", str(_write(tmp_path, text)), "--store", str(store), "--serial"], key)
    assert not store.exists()


HUGE = [
    (
        _NET.replace("d = [4]", "d = {start = 2, stop = 1000, factor = 1.0000001}") + "[methods.oracle]\n",
        "grid.d",
    ),
    (_NET.replace("n_test = 50", "n_test = 1e12") + "[methods.oracle]\n", "evaluation.n_test"),
    (_NET + "[methods.oracle]\nn_max = {power = 1e6}\n", "n_max"),
    (
        _NET.replace("seeds = 1", "seeds = 1000")
        .replace("n = [32]", "n = {start = 2, stop = 1000000, num = 1000}")
        .replace("d = [4]", "d = {start = 2, stop = 2000, num = 1000}")
        + "[methods.oracle]\n",
        "cells",
    ),
]


def test_huge_or_hanging_sweeps_are_refused_at_once(tmp_path):
    """In a child process with a watchdog, so a spec that hangs fails the test instead of the run."""
    cases = []
    for i, (text, key) in enumerate(HUGE):
        cases.append((str(_write(tmp_path, text, f"huge{i}.toml")), str(tmp_path / f"s{i}.sqlite"), key))
    code = textwrap.dedent(f"""
        import contextlib, faulthandler, io, json, sys
        sys.path.insert(0, {str(ROOT)!r})
        from fastrep.cli import main
        faulthandler.dump_traceback_later(60, exit=True)
        out = []
        for spec, store, key in {cases!r}:
            err = io.StringIO()
            with contextlib.redirect_stderr(err):
                code = main(["sweep", spec, "--store", store, "--serial"])
            out.append((code, err.getvalue(), key))
        print(json.dumps(out))
    """)
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, f"a spec hung or crashed instead of being refused: {res.stderr[-3000:]}"
    for code, err, key in json.loads(res.stdout):
        lines = err.strip().splitlines()
        assert (
            code == 2 and len(lines) == 1 and lines[0].startswith("fastrep: error: ") and key in lines[0]
        ), err
    for _, store, _ in cases:
        assert not Path(store).exists()


# --------------------------------------------------------------------------- paths


@pytest.mark.parametrize("name", ["../escaped", "ABS"])
def test_spec_name_cannot_leave_the_results_folder(tmp_path, capsys, monkeypatch, name):
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    if name == "ABS":
        name = str(tmp_path / "abs")
    spec = _write(tmp_path, TOY_TOML.replace('name = "trust"', f'name = "{name}"'))
    _one_line_error(capsys, ["sweep", str(spec), "--serial", "--no-progress"], "name")
    assert sorted(os.listdir(tmp_path)) == ["spec.toml", "work"]
    assert os.listdir(work) == []
