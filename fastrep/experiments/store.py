"""The results store: one SQLite file, one row per finished cell, crash-proof.

Layout (``schema_version`` 2):

``meta(key, value)``
    ``application = 'fastrep'``, ``schema_version``, ``created``, ``fastrep_version``,
    ``results_version`` (:data:`~.presets.RESULTS_VERSION` of the cells it holds: a store
    of another results version is refused for writing, never pooled).
``cells``
    one row per finished cell, primary key ``cell_id`` (see :class:`~.spec.Cell`):
    ``sweep, label, method, d, n, seed`` (for queries), ``params`` (the full cell as
    canonical JSON), ``excess_error``, ``alignment`` (NULL where it does not apply),
    ``timings`` (JSON: stage -> seconds), ``wall_s``, ``peak_rss_bytes`` (the worker
    process's peak resident memory during the cell), ``backend``, ``threads``,
    ``fastrep_version``, ``host``, ``finished_at`` (UTC ISO 8601), ``extra`` (JSON).
``failures``
    the last error of cells that raised (retried by the next run; removed on success).
``sweeps``
    each spec ever run into this store (canonical JSON), so reports need only the file.
``runs``
    one row per :func:`~.runner.run` call: executor, workers, threads, start, end (NULL
    when the run was killed), machine.
``lease``
    at most one row: the process writing the store (pid, host, sweep, heartbeat). A second
    writer is refused while the holder is alive; a lease whose process is gone, or whose
    heartbeat is older than :data:`LEASE_STALE_S`, is taken over.

Every finished cell is written in one transaction, in WAL mode, by the one process that
drives the sweep, so a SIGKILL at any moment leaves either the whole row or nothing.
A new store is built under a temporary name and renamed into place, so a half-created
file never exists under the real name.

Opening a file checks it *read-only* first: a file that is not SQLite, a SQLite file
without fastrep's ``meta``, or one written by a newer schema is refused with
:class:`StoreError` and never modified.

Readers (:func:`load`, :func:`read_store`, the report) never write: a store in rollback
mode is opened with ``mode=ro``; a store in WAL mode (or with -wal/-shm files beside it)
is copied, with its -wal, into a private temporary folder and read there, because even a
read-only SQLite connection creates -wal/-shm files next to a WAL database.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import os
import platform
import shutil
import sqlite3
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from .presets import RESULTS_VERSION

__all__ = [
    "SCHEMA_VERSION",
    "ResultStore",
    "StoreBusyError",
    "StoreError",
    "StoreSnapshot",
    "load",
    "read_store",
]

SCHEMA_VERSION = 2
_TABLES = {"meta", "cells", "failures", "sweeps", "runs"}  # what every schema has
#: Seconds between a writer's heartbeats, and the age after which its lease is stale.
LEASE_HEARTBEAT_S = 5.0
LEASE_STALE_S = 60.0
APPLICATION = "fastrep"
_SQLITE_MAGIC = b"SQLite format 3\x00"

_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE cells (
    cell_id TEXT PRIMARY KEY,
    sweep TEXT NOT NULL,
    label TEXT NOT NULL,
    method TEXT NOT NULL,
    d INTEGER NOT NULL,
    n INTEGER NOT NULL,
    seed INTEGER NOT NULL,
    params TEXT NOT NULL,
    excess_error REAL,
    alignment REAL,
    timings TEXT NOT NULL,
    wall_s REAL NOT NULL,
    peak_rss_bytes INTEGER,
    backend TEXT,
    threads INTEGER,
    fastrep_version TEXT NOT NULL,
    host TEXT,
    finished_at TEXT NOT NULL,
    extra TEXT NOT NULL
);
CREATE INDEX cells_by_label ON cells (sweep, label, d, n);
CREATE TABLE failures (
    cell_id TEXT PRIMARY KEY,
    sweep TEXT NOT NULL,
    params TEXT NOT NULL,
    error TEXT NOT NULL,
    failed_at TEXT NOT NULL
);
CREATE TABLE sweeps (name TEXT PRIMARY KEY, spec TEXT NOT NULL, updated TEXT NOT NULL);
CREATE TABLE runs (
    run_id TEXT PRIMARY KEY,
    sweep TEXT NOT NULL,
    executor TEXT NOT NULL,
    workers INTEGER,
    threads INTEGER,
    started TEXT NOT NULL,
    finished TEXT,
    cells_total INTEGER,
    cells_run INTEGER,
    cells_failed INTEGER,
    machine TEXT NOT NULL
);
CREATE TABLE lease (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    run_id TEXT NOT NULL,
    sweep TEXT NOT NULL,
    pid INTEGER NOT NULL,
    host TEXT NOT NULL,
    started TEXT NOT NULL,
    heartbeat REAL NOT NULL
);
"""

_ROW_COLUMNS = (
    "cell_id",
    "sweep",
    "label",
    "method",
    "d",
    "n",
    "seed",
    "params",
    "excess_error",
    "alignment",
    "timings",
    "wall_s",
    "peak_rss_bytes",
    "backend",
    "threads",
    "fastrep_version",
    "host",
    "finished_at",
    "extra",
)


class StoreError(ValueError):
    """The file cannot be used as a fastrep results store (it is left untouched)."""


class StoreBusyError(StoreError):
    """Another live process holds the store's lease (it is writing a sweep into it)."""


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="milliseconds")


def _is_wal(path: Path) -> bool:
    """Whether ``path`` is in WAL mode (header bytes 18-19 = 2) or has -wal/-shm files beside it."""
    with open(path, "rb") as f:
        head = f.read(20)
    wal_files = any(Path(f"{path}{suffix}").exists() for suffix in ("-wal", "-shm"))
    return wal_files or (len(head) == 20 and head[18] == 2 and head[19] == 2)


@contextlib.contextmanager
def _readonly(path: Path):
    """A read-only connection to ``path`` that creates and changes nothing beside it.

    Rollback-mode files open with ``mode=ro``. WAL-mode files are copied (with their -wal,
    so its committed rows are read too) into a private temporary folder, read there and
    the copy removed.
    """
    tmp = None
    try:
        if _is_wal(path):
            tmp = tempfile.mkdtemp(prefix="fastrep-read-")
            copy = Path(tmp) / "store.sqlite"
            shutil.copyfile(path, copy)
            wal = Path(f"{path}-wal")
            if wal.exists():
                shutil.copyfile(wal, Path(f"{copy}-wal"))
            target = copy
        else:
            target = path.resolve()
        con = sqlite3.connect(target.as_uri() + "?mode=ro", uri=True)
        try:
            yield con
        finally:
            con.close()
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)


def _check_file(path: Path) -> None:
    if path.is_dir():
        raise StoreError(f"{path} is a directory, not a fastrep results store")
    try:
        with open(path, "rb") as f:
            head = f.read(len(_SQLITE_MAGIC))
    except OSError as exc:
        raise StoreError(f"{path} cannot be read: {exc.strerror or exc}") from None
    if head != _SQLITE_MAGIC:
        raise StoreError(f"{path} is not a fastrep results store (not an SQLite file); refusing to touch it")


def _check_meta(path: Path, con) -> dict:
    """The meta table of an open (read-only) store, refusing foreign or newer files."""
    try:
        rows = _read_meta(con)
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc):
            raise StoreError(
                f"{path} is an SQLite file but not a fastrep results store (no meta table); "
                "refusing to touch it"
            ) from None
        raise StoreError(f"{path} cannot be read as a fastrep results store: {exc}") from None
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"{path} is not a fastrep results store ({exc}); refusing to touch it") from None
    if rows.get("application") != APPLICATION:
        raise StoreError(
            f"{path} is an SQLite file of another application "
            f"(application={rows.get('application')!r}); refusing to touch it"
        )
    try:
        version = int(rows.get("schema_version", ""))
    except ValueError:
        raise StoreError(f"{path} has an unreadable schema_version {rows.get('schema_version')!r}") from None
    if version > SCHEMA_VERSION:
        raise StoreError(
            f"{path} was written by a newer fastrep (store schema {version}; this fastrep reads "
            f"up to {SCHEMA_VERSION}); upgrade fastrep to use it"
        )
    if version < 1:
        raise StoreError(f"{path} has an invalid schema_version {version}")
    return rows


def _check_tables(path: Path, con) -> None:
    try:
        names = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"{path} is corrupt or truncated ({exc}); refusing to touch it") from None
    missing = _TABLES - names
    if missing:
        raise StoreError(
            f"{path} is not a complete fastrep results store (no {', '.join(sorted(missing))} table); "
            "refusing to touch it"
        )


@contextlib.contextmanager
def _reading(path: Path):
    """:func:`_readonly`, with open/copy failures as one-line :class:`StoreError`."""
    try:
        with _readonly(path) as con:
            yield con
    except OSError as exc:
        raise StoreError(f"{path} cannot be read: {exc.strerror or exc}") from None
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"{path} is corrupt or truncated ({exc}); refusing to touch it") from None


def _check_existing(path: Path) -> dict:
    """Refuse anything that is not a complete fastrep store of a schema we understand, reading
    only. Returns the store's meta table."""
    _check_file(path)
    with _reading(path) as con:
        meta = _check_meta(path, con)
        _check_tables(path, con)
    return meta


def _read_meta(con) -> dict:
    return dict(con.execute("SELECT key, value FROM meta").fetchall())


def _create(path: Path) -> None:
    """Build an empty store under a temporary name, then move it into place atomically."""
    from .. import __version__

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    con = sqlite3.connect(tmp)
    try:
        con.executescript(_SCHEMA)
        with con:
            con.executemany(
                "INSERT INTO meta VALUES (?, ?)",
                [
                    ("application", APPLICATION),
                    ("schema_version", str(SCHEMA_VERSION)),
                    ("created", _now()),
                    ("fastrep_version", __version__),
                    ("results_version", str(RESULTS_VERSION)),
                ],
            )
        con.execute("PRAGMA journal_mode=WAL")  # persistent in the file header
    finally:
        con.close()  # the last close checkpoints and removes the -wal file
    try:
        os.link(tmp, path)  # fails if someone created `path` meanwhile: never overwrite
    except FileExistsError:
        pass
    except OSError:  # file systems without hard links
        if not path.exists():
            os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def check_results_version(path: Path, meta: dict) -> None:
    """Refuse to add cells to a store of another results version (``fastrep sweep --dry-run``
    asks too, so that it never lists cells the run then refuses)."""
    if meta.get("results_version") != str(RESULTS_VERSION):
        raise StoreError(
            f"{path} holds results of results version {meta.get('results_version', '1 or older')} "
            f"(fastrep {meta.get('fastrep_version', '?')}); this fastrep computes version "
            f"{RESULTS_VERSION}, whose cells must not be pooled with them: use a new store "
            "(the old one stays readable by `fastrep report`)"
        )


class ResultStore:
    """A fastrep results store at ``path`` (created if missing; refused if foreign).

    Use as a context manager or call :meth:`close`. Only one process should write
    (the process driving :func:`~.runner.run`); any number may read.
    """

    def __init__(self, path, *, create: bool = True, for_run: bool = False):
        self.path = Path(path)
        if self.path.exists():
            meta = _check_existing(self.path)
        elif create:
            _create(self.path)
            meta = _check_existing(self.path)
        else:
            raise FileNotFoundError(f"no results store at {self.path}")
        if for_run:
            check_results_version(self.path, meta)
        self._con = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
        self._lease = None
        self._con.execute("PRAGMA journal_mode=WAL")
        # FULL: a committed cell survives power loss too, not only a killed process
        self._con.execute("PRAGMA synchronous=FULL")

    # ------------------------------------------------------------------ lifecycle
    def close(self) -> None:
        if self._lease is not None:
            self.release()
        if self._con is not None:
            self._con.close()
            self._con = None

    # ------------------------------------------------------------------ the lease
    def acquire(self, sweep: str, run_id: str) -> None:
        """Become the store's one writer, or raise :class:`StoreBusyError` naming the live one.

        A lease whose process is gone (same host) or whose heartbeat is older than
        :data:`LEASE_STALE_S` is taken over. A thread renews the heartbeat until
        :meth:`release`.
        """
        host, pid = platform.node(), os.getpid()
        con = self._con
        try:
            con.execute("BEGIN IMMEDIATE")
            try:
                row = con.execute(
                    "SELECT run_id, sweep, pid, host, heartbeat FROM lease WHERE id = 1"
                ).fetchone()
                if row is not None and _lease_alive(row[2], row[3], row[4]):
                    raise StoreBusyError(
                        f"{self.path} is being written by another sweep ({row[1]!r}, pid {row[2]} on host "
                        f"{row[3]}, last heartbeat {max(0.0, time.time() - row[4]):.0f} s ago); wait for it "
                        "to finish, or stop that process and re-run (its finished cells are kept)"
                    )
                con.execute(
                    "INSERT OR REPLACE INTO lease VALUES (1, ?, ?, ?, ?, ?, ?)",
                    (run_id, sweep, pid, host, _now(), time.time()),
                )
            except BaseException:
                with contextlib.suppress(sqlite3.DatabaseError):
                    con.execute("ROLLBACK")
                raise
            con.execute("COMMIT")
        except sqlite3.DatabaseError as exc:  # a read-only file or folder, a locked or broken file
            raise StoreError(
                f"{self.path} cannot be written ({exc}); run the sweep into another store"
            ) from None
        self._lease = _Heartbeat(self.path, run_id)
        self._lease.start()

    def release(self) -> None:
        """Stop the heartbeat and drop the lease (if this store still holds it)."""
        hb, self._lease = self._lease, None
        if hb is None:
            return
        hb.stop()
        if self._con is not None:
            self._tx([("DELETE FROM lease WHERE run_id = ?", (hb.run_id,))])

    def check_lease(self) -> None:
        """Raise :class:`StoreBusyError` if another process took the lease over meanwhile."""
        if self._lease is not None and self._lease.lost:
            raise StoreBusyError(
                f"{self.path}: another process took over this sweep's lease (this one looked dead for "
                f"{LEASE_STALE_S:.0f} s); stopping without writing more"
            )

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _tx(self, statements):
        """Run ``[(sql, args), ...]`` in one transaction."""
        con = self._con
        con.execute("BEGIN IMMEDIATE")
        try:
            for sql, args in statements:
                con.execute(sql, args)
        except BaseException:
            con.execute("ROLLBACK")
            raise
        con.execute("COMMIT")

    # ------------------------------------------------------------------ writing
    def write_cell(self, row: dict) -> None:
        """Insert one finished cell (and clear its failure record) in one transaction.

        ``row`` holds the keys of the ``cells`` table; ``params``, ``timings`` and
        ``extra`` may be dicts (stored as canonical JSON). A cell already present is
        left as it is (first result wins).
        """
        vals = []
        for col in _ROW_COLUMNS:
            v = row.get(col)
            if col in ("params", "timings", "extra"):
                v = json.dumps(v if v is not None else {}, sort_keys=True, separators=(",", ":"))
            vals.append(v)
        self._tx(
            [
                (
                    f"INSERT OR IGNORE INTO cells ({', '.join(_ROW_COLUMNS)}) "
                    f"VALUES ({', '.join('?' * len(vals))})",
                    vals,
                ),
                ("DELETE FROM failures WHERE cell_id = ?", (row["cell_id"],)),
            ]
        )

    def write_failure(self, cell_id: str, sweep: str, params: dict, error: str) -> None:
        self._tx(
            [
                (
                    "INSERT OR REPLACE INTO failures VALUES (?, ?, ?, ?, ?)",
                    (cell_id, sweep, json.dumps(params, sort_keys=True), error, _now()),
                )
            ]
        )

    def write_sweep(self, name: str, spec: dict) -> None:
        self._tx(
            [
                (
                    "INSERT OR REPLACE INTO sweeps VALUES (?, ?, ?)",
                    (name, json.dumps(spec, sort_keys=True), _now()),
                )
            ]
        )

    def begin_run(
        self,
        sweep: str,
        executor: str,
        workers: int | None,
        threads: int | None,
        cells_total: int,
        machine: dict,
        *,
        run_id: str | None = None,
    ) -> str:
        run_id = run_id or uuid.uuid4().hex
        self._tx(
            [
                (
                    "INSERT INTO runs (run_id, sweep, executor, workers, threads, started, cells_total, "
                    "machine) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (run_id, sweep, executor, workers, threads, _now(), cells_total, json.dumps(machine)),
                )
            ]
        )
        return run_id

    def end_run(self, run_id: str, cells_run: int, cells_failed: int) -> None:
        self._tx(
            [
                (
                    "UPDATE runs SET finished = ?, cells_run = ?, cells_failed = ? WHERE run_id = ?",
                    (_now(), cells_run, cells_failed, run_id),
                )
            ]
        )

    # ------------------------------------------------------------------ reading
    def finished_ids(self) -> set[str]:
        return {r[0] for r in self._con.execute("SELECT cell_id FROM cells")}

    def count(self) -> int:
        return self._con.execute("SELECT COUNT(*) FROM cells").fetchone()[0]

    def sweeps(self) -> dict[str, dict]:
        return {name: json.loads(spec) for name, spec in self._con.execute("SELECT name, spec FROM sweeps")}

    def failures(self):
        import pandas as pd

        return pd.read_sql_query("SELECT * FROM failures ORDER BY failed_at", self._con)

    def runs(self):
        import pandas as pd

        df = pd.read_sql_query("SELECT * FROM runs ORDER BY started", self._con)
        df["machine"] = df["machine"].map(json.loads)
        return df

    def meta(self) -> dict:
        return _read_meta(self._con)

    def dataframe(self):
        """All finished cells as a pandas DataFrame (see :func:`load`)."""
        import pandas as pd

        df = pd.read_sql_query(
            f"SELECT {', '.join(_ROW_COLUMNS)} FROM cells ORDER BY sweep, label, d, n, seed", self._con
        )
        for col in ("params", "timings", "extra"):
            _json_column(df, col, self.path)
        return tidy(df, self.path)


def _lease_alive(pid: int, host: str, heartbeat: float) -> bool:
    if time.time() - float(heartbeat) > LEASE_STALE_S:
        return False
    if host != platform.node():
        return True  # another machine: only its heartbeat tells
    if int(pid) == os.getpid():
        return True  # this process already writes here (a nested run)
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class _Heartbeat(threading.Thread):
    """Renews the lease every :data:`LEASE_HEARTBEAT_S` on its own connection."""

    def __init__(self, path: Path, run_id: str):
        super().__init__(name="fastrep-lease", daemon=True)
        self.path, self.run_id, self.lost = path, run_id, False
        self._stop_event = threading.Event()

    def run(self):
        con = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
        try:
            while not self._stop_event.wait(LEASE_HEARTBEAT_S):
                with contextlib.suppress(sqlite3.OperationalError):  # busy: the next beat retries
                    cur = con.execute(
                        "UPDATE lease SET heartbeat = ? WHERE run_id = ?", (time.time(), self.run_id)
                    )
                    if cur.rowcount == 0:
                        self.lost = True
                        return
        finally:
            con.close()

    def stop(self):
        self._stop_event.set()
        if self.is_alive():
            self.join(timeout=10)


@dataclass
class StoreSnapshot:
    """Everything a report needs, read at once from a store that was not modified."""

    path: Path
    meta: dict
    cells: object  # pandas DataFrame, one row per finished cell (raw: no option columns)
    sweeps: dict
    runs: object
    failures: object


def _json_column(df, col: str, path: Path):
    def parse(v, cell):
        try:
            return json.loads(v) if v is not None else None
        except (TypeError, ValueError):
            raise StoreError(f"{path} is corrupt: cell {cell} has unreadable JSON in `{col}`") from None

    ids = df["cell_id"] if "cell_id" in df else df.index
    df[col] = [parse(v, c) for v, c in zip(df[col], ids, strict=True)]


def _number_column(df, col: str, path: Path):
    """A numeric column whose every value is a number (or NULL): SQLite stores any type anywhere."""
    import pandas as pd

    vals = pd.to_numeric(df[col], errors="coerce")
    bad = vals.isna() & df[col].notna()
    if bad.any():
        cell = df["cell_id"][bad].iloc[0]
        value = df[col][bad].iloc[0]
        raise StoreError(f"{path} is corrupt: cell {cell} has {value!r} in `{col}`, not a number")
    df[col] = vals


def read_store(path) -> StoreSnapshot:
    """Read the whole store at ``path`` without writing or creating anything beside it.

    Raises :class:`StoreError` (one line: foreign, corrupt, truncated, unreadable) or
    ``FileNotFoundError``.
    """
    import pandas as pd

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no results store at {path}")
    _check_file(path)
    for attempt in range(3):
        try:
            with _reading(path) as con:
                meta = _check_meta(path, con)
                _check_tables(path, con)
                cells = pd.read_sql_query(
                    f"SELECT {', '.join(_ROW_COLUMNS)} FROM cells ORDER BY sweep, label, d, n, seed", con
                )
                sweeps = con.execute("SELECT name, spec FROM sweeps").fetchall()
                runs = pd.read_sql_query("SELECT * FROM runs ORDER BY started", con)
                failures = pd.read_sql_query("SELECT * FROM failures ORDER BY failed_at", con)
            break
        except (sqlite3.DatabaseError, pd.errors.DatabaseError) as exc:
            # a live writer's checkpoint can race the copy of a WAL store: read it again
            if attempt < 2 and _is_wal(path):
                time.sleep(0.2)
                continue
            why = str(exc).splitlines()[-1]
            raise StoreError(f"{path} is corrupt or truncated ({why}); refusing to touch it") from None
    for col in ("params", "timings", "extra"):
        _json_column(cells, col, path)
    for col in ("d", "n", "seed", "excess_error", "alignment", "wall_s", "peak_rss_bytes", "threads"):
        _number_column(cells, col, path)
    try:
        sweeps = {name: json.loads(spec) for name, spec in sweeps}
        runs["machine"] = [json.loads(m) if m else {} for m in runs["machine"]]
    except (TypeError, ValueError):
        raise StoreError(f"{path} is corrupt: unreadable JSON in its sweeps or runs table") from None
    return StoreSnapshot(path, meta, cells, sweeps, runs, failures)


def tidy(cells, path=None):
    """The tidy form of a raw cells frame (see :func:`load`)."""
    import pandas as pd

    from .analysis import add_arms

    df = cells.copy()
    base = set(df.columns) | {"arm", "results_version", "n_source"}
    options = sorted({k for p in df["params"] for k in (p.get("options") or {})})
    for k in options:
        col = k if k not in base else f"option.{k}"
        df[col] = [_cell_value((p.get("options") or {}).get(k)) for p in df["params"]]
    stages = sorted({k for t in df["timings"] for k in (t or {})})
    for k in stages:
        df[f"time_{k}"] = [float((t or {}).get(k, float("nan"))) for t in df["timings"]]
    df["results_version"] = [p.get("results_version", 1) for p in df["params"]]
    if any("n_source" in p for p in df["params"]):
        df["n_source"] = [p.get("n_source") for p in df["params"]]
    df["finished_at"] = pd.to_datetime(df["finished_at"], utc=True, format="ISO8601")
    return add_arms(df)


def _cell_value(v):
    return json.dumps(v, sort_keys=True) if isinstance(v, (list, dict)) else v


def load(path):
    """The finished cells of the store at ``path`` as a tidy pandas DataFrame, read-only.

    One row per cell; columns ``cell_id, sweep, label, method, d, n, seed`` and
    ``arm`` (the label, made unique per setting: ``onestep (width=50)`` when two settings
    share a label), ``excess_error``, ``alignment`` (NaN where it does not apply),
    ``wall_s``, ``peak_rss_bytes``, ``backend`` (JSON: operation family -> backend that
    ran), ``threads``, ``fastrep_version``, ``host``, ``finished_at`` (UTC datetime),
    ``results_version``, one column per method option (``width``, ``ridge`` ...; an option
    whose name is taken is ``option.NAME``; NaN/None where a method has no such option),
    one ``time_STAGE`` column per timed stage (seconds), and the raw ``params`` (dict: the
    full cell), ``timings`` and ``extra`` (dicts).

    Raises :class:`StoreError` for a file that is not a readable fastrep store (left
    untouched) and ``FileNotFoundError`` when there is no file.
    """
    snap = read_store(path)
    return tidy(snap.cells, snap.path)
