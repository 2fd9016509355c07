"""The SQLite results store: round trip, skip finished cells, survive SIGKILL, refuse foreign files."""

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

import pytest

from fastrep.experiments import ResultStore, StoreError, load, load_spec, run
from fastrep.experiments.store import SCHEMA_VERSION

from .experiments_toy import register, toy_method, toy_spec

register()
ROOT = Path(__file__).resolve().parents[1]


def _fingerprint(path: Path):
    """Bytes and mtime of the file, plus the names in its folder (no -wal/-shm may appear)."""
    return (
        hashlib.sha256(path.read_bytes()).hexdigest(),
        path.stat().st_mtime_ns,
        sorted(os.listdir(path.parent)),
    )


def test_new_store_has_meta_and_is_wal(tmp_path):
    path = tmp_path / "sub" / "s.sqlite"
    with ResultStore(path) as st:
        meta = st.meta()
        assert meta["application"] == "fastrep"
        assert int(meta["schema_version"]) == SCHEMA_VERSION
        assert st.count() == 0
    con = sqlite3.connect(path)
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    con.close()
    assert [p.name for p in path.parent.iterdir() if p.name.endswith(".tmp")] == []


def test_run_then_load_round_trip_and_skip(tmp_path):
    spec = load_spec(toy_spec(seeds=2, grid={"d": [4, 8], "n": [16, 64, 256]}))
    path = tmp_path / "s.sqlite"
    s1 = run(spec, store=path, executor="serial", progress=False)
    assert (s1.cells_total, s1.cells_run, s1.cells_skipped, s1.cells_failed) == (24, 24, 0, 0)
    df = load(path)
    assert len(df) == 24 and df["cell_id"].is_unique
    by_id = {c.cell_id: c for c in spec.cells()}
    assert set(df["cell_id"]) == set(by_id)
    for _, row in df.iterrows():
        cell = by_id[row["cell_id"]]
        assert row["params"] == json.loads(json.dumps(cell.params))
        assert row["excess_error"] == toy_method(cell.params)["excess_error"]
        assert (row["d"], row["n"], row["seed"], row["label"]) == (cell.d, cell.n, cell.seed, cell.label)
        assert row["wall_s"] > 0 and row["threads"] >= 1 and row["backend"] == "toy"
        assert row["fastrep_version"] and row["finished_at"]
        if sys.platform.startswith("linux"):
            assert row["peak_rss_bytes"] > 1_000_000
    s2 = run(spec, store=path, executor="serial", progress=False)
    assert (s2.cells_run, s2.cells_skipped) == (0, 24)
    assert len(load(path)) == 24
    # a larger spec runs only the new cells
    bigger = load_spec(toy_spec(seeds=3, grid={"d": [4, 8], "n": [16, 64, 256]}))
    s3 = run(bigger, store=path, executor="serial", progress=False)
    assert (s3.cells_run, s3.cells_skipped) == (12, 24)


def test_failures_are_recorded_and_retried(tmp_path):
    path = tmp_path / "s.sqlite"
    spec = load_spec(
        toy_spec(seeds=1, grid={"d": [4, 8], "n": [16, 64]}, methods={"toy": {"power": 2.0, "fail_d": 8}})
    )
    s = run(spec, store=path, executor="serial", progress=False)
    assert (s.cells_run, s.cells_failed) == (2, 2)
    with ResultStore(path) as st:
        fails = st.failures()
        assert len(fails) == 2 and all("toy failure at d=8" in e for e in fails["error"])
        assert st.count() == 2
    s = run(spec, store=path, executor="serial", progress=False)  # retried, still failing
    assert (s.cells_run, s.cells_failed, s.cells_skipped) == (0, 2, 2)


def _foreign_files(tmp_path):
    text = tmp_path / "notes.sqlite"
    text.write_text("these are my notes, not a database\n")
    binary = tmp_path / "random.db"
    binary.write_bytes(os.urandom(4096))
    empty = tmp_path / "empty.sqlite"
    empty.write_bytes(b"")
    other = tmp_path / "other_app.sqlite"
    con = sqlite3.connect(other)
    con.execute("CREATE TABLE users (name TEXT)")
    con.execute("INSERT INTO users VALUES ('ada')")
    con.commit()
    con.close()
    other_meta = tmp_path / "other_meta.sqlite"
    con = sqlite3.connect(other_meta)
    con.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT)")
    con.execute("INSERT INTO meta VALUES ('application', 'someone-else'), ('schema_version', '1')")
    con.commit()
    con.close()
    newer = tmp_path / "newer.sqlite"
    with ResultStore(newer):
        pass
    con = sqlite3.connect(newer)
    con.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION + 1),))
    con.commit()
    con.execute("PRAGMA journal_mode=DELETE")  # fold the WAL into the file: a plain, closed file
    con.close()
    return {
        "text": (text, "not an SQLite file"),
        "binary": (binary, "not an SQLite file"),
        "empty": (empty, "not an SQLite file"),
        "other": (other, "no meta table"),
        "other_meta": (other_meta, "another application"),
        "newer": (newer, "newer fastrep"),
    }


def test_foreign_files_are_refused_and_untouched(tmp_path):
    spec = load_spec(toy_spec(seeds=1, grid={"d": [4], "n": [16]}))
    for kind, (path, words) in _foreign_files(tmp_path).items():
        before = _fingerprint(path)
        for attempt in (
            lambda p=path: ResultStore(p),
            lambda p=path: load(p),
            lambda p=path: run(spec, store=p, executor="serial", progress=False),
        ):
            with pytest.raises(StoreError) as exc:
                attempt()
            assert words in str(exc.value), (kind, str(exc.value))
            assert str(path) in str(exc.value)
        assert _fingerprint(path) == before, kind


def test_load_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        load(tmp_path / "nope.sqlite")
    assert not (tmp_path / "nope.sqlite").exists()


_KILL_SCRIPT = textwrap.dedent("""
    import sys
    sys.path.insert(0, {root!r})
    from tests.experiments_toy import register, toy_spec
    from fastrep.experiments import run
    register()
    if __name__ == "__main__":  # spawned workers re-import this file
        # ten cells pass the gate, every later one waits: the kill finds the sweep mid-way
        # whatever the machine's speed
        spec = toy_spec(seeds=3, grid={{"d": [4, 8], "n": {{"start": 8, "stop": 512}}}},
                        methods={{"toy": {{"power": 2.0, "gate": sys.argv[3], "gate_after": 10}}}})
        run(spec, store=sys.argv[1], executor=sys.argv[2], workers=2, progress=False)
""")


@pytest.mark.parametrize("executor", ["processes", "serial"])
def test_sigkill_mid_sweep_then_resume(tmp_path, executor):
    path = tmp_path / "s.sqlite"
    script = tmp_path / "sweep.py"
    script.write_text(_KILL_SCRIPT.format(root=str(ROOT)))
    errfile = tmp_path / "stderr.txt"
    gate = tmp_path / "gate"
    gate.mkdir()
    with open(errfile, "wb") as err:
        proc = subprocess.Popen(
            [sys.executable, str(script), str(path), executor, str(gate)],
            start_new_session=True,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
    total = 2 * 7 * 3
    deadline = time.monotonic() + 300  # a bound on a hang, not a timing: the gate stops the sweep
    done = 0
    try:
        while time.monotonic() < deadline:
            if path.exists():
                try:
                    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
                    done = con.execute("SELECT COUNT(*) FROM cells").fetchone()[0]
                    con.close()
                except sqlite3.OperationalError:
                    done = 0
            if done >= 10:
                break
            assert proc.poll() is None, errfile.read_text()
            time.sleep(0.02)
        assert done == 10, f"the gate let {done} cells through, not 10"
        os.kill(proc.pid, signal.SIGKILL)  # the driver, mid-sweep, with writes in flight
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
        with pytest.raises(ProcessLookupError):  # and the workers it had started, if any remain
            for _ in range(50):
                os.killpg(proc.pid, signal.SIGKILL)
                time.sleep(0.1)
    assert proc.returncode == -signal.SIGKILL
    con = sqlite3.connect(path)
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    partial = con.execute("SELECT COUNT(*) FROM cells").fetchone()[0]
    con.close()
    assert done <= partial < total

    spec = load_spec(
        toy_spec(
            seeds=3,
            grid={"d": [4, 8], "n": {"start": 8, "stop": 512}},
            methods={"toy": {"power": 2.0, "gate": str(gate), "gate_after": 10}},
        )
    )
    (gate / "release").touch()  # the same setting, every cell let through
    s = run(spec, store=path, executor="serial", progress=False)
    assert s.cells_skipped == partial and s.cells_run == total - partial and s.cells_failed == 0
    df = load(path)
    assert len(df) == total and df["cell_id"].is_unique
    assert set(df["cell_id"]) == {c.cell_id for c in spec.cells()}
    by_id = {c.cell_id: c for c in spec.cells()}
    for _, row in df.iterrows():
        assert row["excess_error"] == toy_method(by_id[row["cell_id"]].params)["excess_error"]


def test_an_older_results_version_is_refused_for_running(tmp_path):
    path = tmp_path / "old.sqlite"
    spec = load_spec(toy_spec(seeds=1, grid={"d": [4], "n": [16]}))
    run(spec, store=path, executor="serial", progress=False)
    con = sqlite3.connect(path)
    con.execute("UPDATE meta SET value = '1' WHERE key = 'results_version'")
    con.commit()
    con.close()
    with pytest.raises(StoreError, match="results version 1"):
        run(spec, store=path, executor="serial", progress=False)
    assert len(load(path)) == 2  # still readable


def test_stale_lease_is_taken_over_and_live_one_refused(tmp_path):
    from fastrep.experiments.store import LEASE_STALE_S, StoreBusyError

    path = tmp_path / "s.sqlite"
    spec = load_spec(toy_spec(seeds=1, grid={"d": [4], "n": [16]}))
    with ResultStore(path) as st:
        st.acquire("other", "r1")
        st._lease.stop()  # no heartbeats from here on: a hung writer
        st._lease = None
    con = sqlite3.connect(path)
    con.execute("UPDATE lease SET host = 'elsewhere'")
    con.commit()
    with pytest.raises(StoreBusyError, match="pid .* on host elsewhere"):
        run(spec, store=path, executor="serial", progress=False)
    con.execute("UPDATE lease SET heartbeat = heartbeat - ?", (LEASE_STALE_S + 1,))
    con.commit()
    con.close()
    s = run(spec, store=path, executor="serial", progress=False)
    assert s.cells_run == 2
    con = sqlite3.connect(path)
    assert con.execute("SELECT COUNT(*) FROM lease").fetchone()[0] == 0  # released at the end
    con.close()


def test_load_is_tidy(tmp_path):
    import pandas as pd

    path = tmp_path / "s.sqlite"
    raw = toy_spec(seeds=2, grid={"d": [4], "n": [16, 32]})
    run(raw, store=path, executor="serial", progress=False)
    df = load(path)
    assert {"power", "time_fit", "arm", "results_version"} <= set(df.columns)
    assert (df["power"].dropna() == 2.0).any() and isinstance(df["finished_at"].dtype, pd.DatetimeTZDtype)
    assert set(df["arm"]) == {"toy", "toy3"}


def test_a_store_that_cannot_be_written_is_one_error(tmp_path, monkeypatch):
    path = tmp_path / "s.sqlite"
    spec = load_spec(toy_spec(seeds=1, grid={"d": [4], "n": [16]}))
    run(spec, store=path, executor="serial", progress=False)
    real_connect = sqlite3.connect

    def read_only(database, *args, **kwargs):  # what a read-only file gives, even to root
        if str(database) == str(path):
            return real_connect(f"file:{path}?mode=ro", *args, uri=True, **kwargs)
        return real_connect(database, *args, **kwargs)

    import fastrep.experiments.store.writer as store_module

    monkeypatch.setattr(store_module.sqlite3, "connect", read_only)
    with pytest.raises(StoreError, match="cannot be written"):
        run(
            load_spec(toy_spec(seeds=2, grid={"d": [4], "n": [16]})),
            store=path,
            executor="serial",
            progress=False,
        )
