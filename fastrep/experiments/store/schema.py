"""The store's file format, and the checks that a file is a store of it.

The SQL schema and its version, the columns of a finished cell, the errors a store raises
(:class:`StoreError`, :class:`StoreBusyError`), and the read-only checks that refuse a file
that is not SQLite, not fastrep's, incomplete or of a newer schema before anything touches it.
"""

from __future__ import annotations

import datetime as _dt
import sqlite3
from pathlib import Path

SCHEMA_VERSION = 3  # 3: the trajectories table (older stores read with an empty one)
_TABLES = {"meta", "cells", "failures", "sweeps", "runs"}  # what every schema has
APPLICATION = "fastrep"
_SQLITE_MAGIC = b"SQLite format 3\x00"
#: one row per recorded step of a multi-step network's first layer (schema 3): the cell's
#: ``Trajectory`` as numbers SQL can query; ``direction_overlap`` is JSON (one value per direction)
_TRAJECTORY_TABLE = """
CREATE TABLE IF NOT EXISTS trajectories (
    cell_id TEXT NOT NULL,
    t INTEGER NOT NULL,
    loss REAL,
    lr REAL,
    alignment REAL,
    row_norm_mean REAL,
    row_norm_min REAL,
    row_norm_max REAL,
    spike_1 REAL,
    spike_2 REAL,
    spike_3 REAL,
    spike_1_alignment REAL,
    spike_2_alignment REAL,
    spike_3_alignment REAL,
    direction_overlap TEXT,
    PRIMARY KEY (cell_id, t)
);
"""
_TRAJECTORY_COLUMNS = (
    "cell_id",
    "t",
    "loss",
    "lr",
    "alignment",
    "row_norm_mean",
    "row_norm_min",
    "row_norm_max",
    "spike_1",
    "spike_2",
    "spike_3",
    "spike_1_alignment",
    "spike_2_alignment",
    "spike_3_alignment",
    "direction_overlap",
)
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
""" + _TRAJECTORY_TABLE
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
    """The file cannot be used as a fastrep results store (it is left untouched).

    A ``ValueError`` with a one-line message: a file that is not SQLite, a SQLite file
    without fastrep's tables, a newer schema, another results version (for writing),
    corrupt rows, or a file that cannot be written.

    Examples
    --------
    >>> import os, tempfile
    >>> from fastrep.experiments import StoreError, load
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     path = os.path.join(tmp, "notes.sqlite")
    ...     with open(path, "w") as f:
    ...         _ = f.write("not a database")
    ...     try:
    ...         load(path)
    ...     except StoreError:
    ...         print("refused; the file is left as it was:", open(path).read())
    refused; the file is left as it was: not a database
    """


class StoreBusyError(StoreError):
    """Another live process holds the store's lease (it is writing a sweep into it).

    A :class:`StoreError` raised by :func:`~fastrep.experiments.run` (and
    :meth:`ResultStore.acquire`) before anything is written; its message names the sweep,
    the process and its host. Wait for that run to finish, or stop it and run again (its
    finished cells are kept).

    Examples
    --------
    >>> from fastrep.experiments import StoreBusyError, StoreError
    >>> issubclass(StoreBusyError, StoreError)
    True
    """


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="milliseconds")


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


def _read_meta(con) -> dict:
    return dict(con.execute("SELECT key, value FROM meta").fetchall())
