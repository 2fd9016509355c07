"""The results store: one SQLite file, one row per finished cell, crash-proof.

Layout (``schema_version`` 1):

``meta(key, value)``
    ``application = 'fastrep'``, ``schema_version``, ``created``, ``fastrep_version``.
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
    one row per :func:`~.runner.run` call: executor, workers, threads, start, end, machine.

Every finished cell is written in one transaction, in WAL mode, by the one process that
drives the sweep, so a SIGKILL at any moment leaves either the whole row or nothing.
A new store is built under a temporary name and renamed into place, so a half-created
file never exists under the real name.

Opening a file checks it *read-only* first: a file that is not SQLite, a SQLite file
without fastrep's ``meta``, or one written by a newer schema is refused with
:class:`StoreError` and never modified.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import sqlite3
import uuid
from pathlib import Path

__all__ = ["SCHEMA_VERSION", "ResultStore", "StoreError", "load"]

SCHEMA_VERSION = 1
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


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="milliseconds")


def _check_existing(path: Path) -> None:
    """Refuse anything that is not a fastrep store of a schema we understand, reading only."""
    if path.is_dir():
        raise StoreError(f"{path} is a directory, not a fastrep results store")
    with open(path, "rb") as f:
        head = f.read(len(_SQLITE_MAGIC))
    if head != _SQLITE_MAGIC:
        raise StoreError(f"{path} is not a fastrep results store (not an SQLite file); refusing to touch it")
    try:
        rows = _read_meta_readonly(path)
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


def _read_meta(con) -> dict:
    return dict(con.execute("SELECT key, value FROM meta").fetchall())


def _read_meta_readonly(path: Path) -> dict:
    """The meta table, read without writing or creating anything next to ``path``.

    ``mode=ro`` never writes a rollback-journal file; a WAL file may need its -shm file,
    which ``mode=ro`` cannot create, so fall back to ``immutable=1`` (reads the main file
    only; our meta rows are checkpointed into it when the store is created).
    """
    uri = path.resolve().as_uri()
    error = None
    for flags in ("?mode=ro", "?immutable=1"):
        con = None
        try:
            con = sqlite3.connect(uri + flags, uri=True)
            return _read_meta(con)
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):
                raise
            error = exc
        finally:
            if con is not None:
                con.close()
    raise error


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


class ResultStore:
    """A fastrep results store at ``path`` (created if missing; refused if foreign).

    Use as a context manager or call :meth:`close`. Only one process should write
    (the process driving :func:`~.runner.run`); any number may read.
    """

    def __init__(self, path, *, create: bool = True):
        self.path = Path(path)
        if self.path.exists():
            _check_existing(self.path)
        elif create:
            _create(self.path)
            _check_existing(self.path)
        else:
            raise FileNotFoundError(f"no results store at {self.path}")
        self._con = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
        self._con.execute("PRAGMA journal_mode=WAL")
        # FULL: a committed cell survives power loss too, not only a killed process
        self._con.execute("PRAGMA synchronous=FULL")

    # ------------------------------------------------------------------ lifecycle
    def close(self) -> None:
        if self._con is not None:
            self._con.close()
            self._con = None

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
    ) -> str:
        run_id = uuid.uuid4().hex
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
            df[col] = df[col].map(json.loads)
        return df


def load(path):
    """The finished cells of the store at ``path`` as a pandas DataFrame.

    One row per cell; columns ``cell_id, sweep, label, method, d, n, seed, params`` (dict:
    the full cell), ``excess_error``, ``alignment`` (NaN where it does not apply),
    ``timings`` (dict: stage -> seconds), ``wall_s``, ``peak_rss_bytes``, ``backend``,
    ``threads``, ``fastrep_version``, ``host``, ``finished_at``, ``extra`` (dict).
    Raises :class:`StoreError` for a file that is not a fastrep store (left untouched) and
    ``FileNotFoundError`` when there is no file.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no results store at {path}")
    with ResultStore(path, create=False) as store:
        return store.dataframe()
