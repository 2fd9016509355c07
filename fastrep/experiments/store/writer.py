"""Writing a store: creation, the one writer's lease, and one transaction per finished cell.

A new store is built under a temporary name and linked into place (``_create``).
:class:`ResultStore` checks an existing file read-only before opening it, holds the lease
that makes its process the store's only writer (renewed by a heartbeat thread; a dead or
silent holder's lease is taken over), and writes each cell, failure, sweep and run in a
transaction of its own, in WAL mode with ``synchronous=FULL``.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import sqlite3
import threading
import time
import uuid
from pathlib import Path

from ..presets import RESULTS_VERSION
from .frame import tidy
from .read import _json_column, _reading
from .schema import (
    _ROW_COLUMNS,
    _SCHEMA,
    _TRAJECTORY_COLUMNS,
    _TRAJECTORY_TABLE,
    APPLICATION,
    SCHEMA_VERSION,
    StoreBusyError,
    StoreError,
    _check_file,
    _check_meta,
    _check_tables,
    _now,
    _read_meta,
)

#: Seconds between a writer's heartbeats, and the age after which its lease is stale.
LEASE_HEARTBEAT_S = 5.0
LEASE_STALE_S = 60.0


def _check_existing(path: Path) -> dict:
    """Refuse anything that is not a complete fastrep store of a schema we understand, reading
    only. Returns the store's meta table."""
    _check_file(path)
    with _reading(path) as con:
        meta = _check_meta(path, con)
        _check_tables(path, con)
    return meta


def _create(path: Path) -> None:
    """Build an empty store under a temporary name, then move it into place atomically."""
    from ..._version import __version__

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
    (the process driving :func:`~fastrep.experiments.run`); any number may read. Readers
    that must not write anything (reports) use :func:`~fastrep.experiments.load` or
    :func:`~fastrep.experiments.read_store` instead.

    Parameters
    ----------
    path : str or os.PathLike
        The SQLite file.
    create : bool, default True
        Create a new store when ``path`` does not exist (built under a temporary name and
        renamed into place).
    for_run : bool, default False
        Refuse a store whose cells are of another results version (as :func:`run` does).

    Raises
    ------
    StoreError
        For a file that is not a fastrep store, of a newer schema, or (``for_run``) of
        another results version; the file is left untouched.
    FileNotFoundError
        When ``path`` does not exist and ``create`` is False.

    Examples
    --------
    >>> import os, tempfile
    >>> from fastrep.experiments import load_spec, run
    >>> spec = load_spec({"name": "tiny", "epsilon": 0.25, "seeds": [0, 1],
    ...                   "target": {"preset": "separation"}, "grid": {"d": [6], "n": [64, 128]},
    ...                   "methods": {"oracle": {"method": "oracle"}}})
    >>> tmp = tempfile.TemporaryDirectory()
    >>> store = os.path.join(tmp.name, "tiny.sqlite")
    >>> summary = run(spec, store, executor="serial", progress=False)
    >>> from fastrep.experiments import ResultStore
    >>> with ResultStore(store, create=False) as st:
    ...     st.count(), list(st.sweeps()), len(st.runs()), len(st.failures())
    (4, ['tiny'], 1, 0)
    >>> tmp.cleanup()
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
        self._add_trajectory_table()

    def _add_trajectory_table(self) -> None:
        """Give a store of schema 1 or 2 the trajectories table (its meta's version is kept, so
        the fastrep that wrote it still reads it; readers look for the table, not the version)."""
        con = self._con
        has = con.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'trajectories'"
        ).fetchone()
        if has is None:
            try:
                self._tx([(_TRAJECTORY_TABLE, ())])
            except sqlite3.DatabaseError as exc:  # read-only: readers see an empty table
                if "readonly" not in str(exc).replace(" ", "").lower():
                    raise
    # ------------------------------------------------------------------ lifecycle
    def close(self) -> None:
        """Release the lease if this store holds it, and close the connection (idempotent)."""
        if self._lease is not None:
            self.release()
        if self._con is not None:
            self._con.close()
            self._con = None

    # ------------------------------------------------------------------ the lease
    def acquire(self, sweep: str, run_id: str) -> None:
        """Become the store's one writer, or raise :class:`StoreBusyError` naming the live one.

        A lease whose process is gone (same host) or whose heartbeat is older than
        ``LEASE_STALE_S`` is taken over. A thread renews the heartbeat until
        :meth:`release`.

        Parameters
        ----------
        sweep : str
            The sweep being written (shown to a refused writer).
        run_id : str
            This run's id (the lease's key).

        Raises
        ------
        StoreBusyError
            When another live process holds the lease.
        StoreError
            When the file cannot be written (read-only, locked or broken).
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
        """Raise :class:`StoreBusyError` if another process took the lease over meanwhile.

        The runner calls it before writing each cell, so a run whose lease was taken over
        (it looked dead for ``LEASE_STALE_S``) stops without writing more.

        Raises
        ------
        StoreBusyError
            When this store held the lease and another process has taken it over.
        """
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

        A cell already present is left as it is (first result wins). Its trajectory (the row's
        ``trajectory``: a list of dicts keyed by the ``trajectories`` table's columns but
        ``cell_id``, one per recorded step) is written in the same transaction, so a killed
        process leaves the cell with its whole trajectory or neither.

        Parameters
        ----------
        row : dict
            The keys of the ``cells`` table (``cell_id`` at least); ``params``, ``timings``
            and ``extra`` may be dicts (stored as canonical JSON); optionally ``trajectory``.

        Raises
        ------
        KeyError
            For a row without ``cell_id``.
        """
        vals = []
        for col in _ROW_COLUMNS:
            v = row.get(col)
            if col in ("params", "timings", "extra"):
                v = json.dumps(v if v is not None else {}, sort_keys=True, separators=(",", ":"))
            vals.append(v)
        con = self._con
        con.execute("BEGIN IMMEDIATE")
        try:
            cur = con.execute(
                f"INSERT OR IGNORE INTO cells ({', '.join(_ROW_COLUMNS)}) "
                f"VALUES ({', '.join('?' * len(vals))})",
                vals,
            )
            con.execute("DELETE FROM failures WHERE cell_id = ?", (row["cell_id"],))
            if cur.rowcount == 1:  # a cell already stored keeps its first trajectory too
                for sql, args in _trajectory_statements(row["cell_id"], row.get("trajectory")):
                    con.execute(sql, args)
        except BaseException:
            con.execute("ROLLBACK")
            raise
        con.execute("COMMIT")

    def write_failure(self, cell_id: str, sweep: str, params: dict, error: str) -> None:
        """Record a cell's last error (replacing an earlier one), in one transaction.

        Parameters
        ----------
        cell_id : str
            The cell's id.
        sweep : str
            Its sweep's name.
        params : dict
            The cell's params (stored as JSON).
        error : str
            The error, as the report shows it.
        """
        self._tx(
            [
                (
                    "INSERT OR REPLACE INTO failures VALUES (?, ?, ?, ?, ?)",
                    (cell_id, sweep, json.dumps(params, sort_keys=True), error, _now()),
                )
            ]
        )

    def write_sweep(self, name: str, spec: dict) -> None:
        """Store a sweep's canonical spec under its name (replacing an earlier one).

        Parameters
        ----------
        name : str
            The sweep's name.
        spec : dict
            Its canonical spec (:meth:`SweepSpec.to_dict`).
        """
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
        """Record the start of a run in the ``runs`` table.

        Parameters
        ----------
        sweep : str
            The sweep's name.
        executor : str
            The executor ('processes', 'dask' or 'serial').
        workers : int or None
            Its worker processes.
        threads : int or None
            Threads per cell.
        cells_total : int
            The sweep's cells.
        machine : dict
            The machine's description (stored as JSON).
        run_id : str or None, default None
            The run's id; None draws a new one.

        Returns
        -------
        str
            The run's id, for :meth:`end_run`.
        """
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
        """Record the end of a run (a run that is killed keeps no end time).

        Parameters
        ----------
        run_id : str
            The id :meth:`begin_run` returned.
        cells_run : int
            Cells run and stored.
        cells_failed : int
            Cells that raised.
        """
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
        """The ids of the finished cells.

        Returns
        -------
        set of str
            One ``cell_id`` per row of the ``cells`` table.
        """
        return {r[0] for r in self._con.execute("SELECT cell_id FROM cells")}

    def count(self) -> int:
        """The number of finished cells.

        Returns
        -------
        int
            The rows of the ``cells`` table.
        """
        return self._con.execute("SELECT COUNT(*) FROM cells").fetchone()[0]

    def sweeps(self) -> dict[str, dict]:
        """Every sweep ever run into this store.

        Returns
        -------
        dict of str to dict
            Name -> canonical spec.
        """
        return {name: json.loads(spec) for name, spec in self._con.execute("SELECT name, spec FROM sweeps")}

    def failures(self):
        """The last error of each cell that raised and has not succeeded since.

        Returns
        -------
        pandas.DataFrame
            The ``failures`` table, oldest first.
        """
        import pandas as pd

        return pd.read_sql_query("SELECT * FROM failures ORDER BY failed_at", self._con)

    def runs(self):
        """One row per :func:`~fastrep.experiments.run` call.

        Returns
        -------
        pandas.DataFrame
            The ``runs`` table, oldest first, its ``machine`` column as dicts.
        """
        import pandas as pd

        df = pd.read_sql_query("SELECT * FROM runs ORDER BY started", self._con)
        df["machine"] = df["machine"].map(json.loads)
        return df

    def meta(self) -> dict:
        """The store's ``meta`` table.

        Returns
        -------
        dict of str to str
            ``application``, ``schema_version``, ``created``, ``fastrep_version`` and
            ``results_version``.
        """
        return _read_meta(self._con)

    def dataframe(self):
        """All finished cells as a pandas DataFrame.

        Returns
        -------
        pandas.DataFrame
            The tidy frame of :func:`~fastrep.experiments.load`.

        Raises
        ------
        StoreError
            For a cell with unreadable JSON.
        """
        import pandas as pd

        df = pd.read_sql_query(
            f"SELECT {', '.join(_ROW_COLUMNS)} FROM cells ORDER BY sweep, label, d, n, seed", self._con
        )
        for col in ("params", "timings", "extra"):
            _json_column(df, col, self.path)
        return tidy(df, self.path)


def _trajectory_statements(cell_id: str, steps) -> list:
    """INSERT OR IGNORE statements of a cell's trajectory rows (the cell's own ``INSERT OR IGNORE``
    keeps the first result; the key (cell_id, t) keeps its first trajectory likewise)."""
    out = []
    cols = _TRAJECTORY_COLUMNS
    sql = f"INSERT OR IGNORE INTO trajectories ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})"
    for step in steps or ():
        vals = [cell_id]
        for col in cols[1:]:
            v = step.get(col)
            if col == "direction_overlap" and v is not None:
                v = json.dumps(v, separators=(",", ":"))
            vals.append(v)
        out.append((sql, vals))
    return out


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
