"""Reading a store without writing anything: the read-only connection and the snapshot.

A rollback-mode file is opened with ``mode=ro``; a WAL-mode file is copied with its -wal
into a private temporary folder and read there (``_readonly``), since even a read-only
connection creates -wal/-shm files beside a WAL database. :func:`read_store` reads the whole
store at once into a :class:`StoreSnapshot`; :func:`load` gives its tidy cells.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import sqlite3
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from .frame import tidy
from .schema import _ROW_COLUMNS, _TRAJECTORY_COLUMNS, StoreError, _check_file, _check_meta, _check_tables


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


@dataclass
class StoreSnapshot:
    """Everything a report needs, read at once from a store that was not modified."""

    path: Path
    meta: dict
    cells: object  # pandas DataFrame, one row per finished cell (raw: no option columns)
    sweeps: dict
    runs: object
    failures: object
    #: pandas DataFrame, one row per recorded step of a cell's first layer (the ``trajectories``
    #: table; empty, with its columns, for a store written before schema 3)
    trajectories: object = None


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

    Parameters
    ----------
    path : str or os.PathLike
        The results store.

    Returns
    -------
    StoreSnapshot
        ``path``, ``meta`` (dict), ``cells`` (a raw DataFrame, one row per finished cell),
        ``sweeps`` (name -> canonical spec), ``runs`` and ``failures`` (DataFrames), read
        at one moment.

    Raises
    ------
    StoreError
        For a file that is not a fastrep store, or is corrupt, truncated or unreadable (a
        one-line message; the file is left untouched).
    FileNotFoundError
        When there is no file at ``path``.

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
    >>> from fastrep.experiments import read_store
    >>> snap = read_store(store)
    >>> len(snap.cells), list(snap.sweeps), snap.meta["application"]
    (4, ['tiny'], 'fastrep')
    >>> tmp.cleanup()
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
                trajectories = _read_trajectories(con)
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
    for col in _TRAJECTORY_COLUMNS[1:-1]:
        _number_column(trajectories, col, path)
    _json_column(trajectories, "direction_overlap", path)
    return StoreSnapshot(path, meta, cells, sweeps, runs, failures, trajectories)


def _read_trajectories(con):
    """The trajectories table, or an empty frame with its columns (a store before schema 3)."""
    import pandas as pd

    has = con.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'trajectories'").fetchone()
    if has is None:
        return pd.DataFrame({c: pd.Series(dtype=object if c in ("cell_id", "direction_overlap") else float)
                             for c in _TRAJECTORY_COLUMNS})
    return pd.read_sql_query(
        f"SELECT {', '.join(_TRAJECTORY_COLUMNS)} FROM trajectories ORDER BY cell_id, t", con
    )


def trajectories_frame(snap: StoreSnapshot):
    """The snapshot's trajectory rows joined with their cells' sweep, label, method, d, n, seed."""
    keys = ["cell_id", "sweep", "label", "method", "d", "n", "seed"]
    traj = snap.trajectories
    cells = snap.cells[keys]
    out = traj.merge(cells, on="cell_id", how="inner")
    cols = keys + [c for c in _TRAJECTORY_COLUMNS if c != "cell_id"]
    out = out[cols].sort_values(["sweep", "label", "d", "n", "seed", "t"], kind="stable")
    out = out.reset_index(drop=True)
    if not out.empty:
        out["t"] = out["t"].astype("int64")
    return out


def load_trajectories(path):
    """The first-layer trajectories of a store's cells as a pandas DataFrame, read-only.

    One row per recorded step t of each cell that records one (the ``multistep`` method,
    :class:`fastrep.MultiStepNetwork`'s ``trajectory_``): the cell's ``cell_id, sweep, label,
    method, d, n, seed``, then ``t`` (W_t after t steps), ``loss`` (the training loss of step
    t's batch at W_t; NaN at the last record t = T), ``lr`` (eta_t; NaN at t = T),
    ``alignment`` (``fastrep.metrics.subspace_alignment(W_t, U)``), ``row_norm_mean``,
    ``row_norm_min``, ``row_norm_max`` (of ``|w_j|``), ``spike_1..3`` (the top singular values
    of W_t - W_0; NaN beyond min(m, d)), ``spike_1..3_alignment`` (``|U v_i|^2`` of their right
    singular vectors) and ``direction_overlap`` (list: per direction u_k of U, the mean over
    neurons of ``(w_j . u_k)^2 / |w_j|^2``; 1/d for random neurons).

    Parameters
    ----------
    path : str or os.PathLike
        The results store (never written).

    Returns
    -------
    pandas.DataFrame
        The rows described above, ordered by sweep, label, d, n, seed and t; empty (with
        these columns) when no cell recorded a trajectory, or for a store written before
        trajectories were stored.

    Raises
    ------
    StoreError
        For a file that is not a readable fastrep store (left untouched).
    FileNotFoundError
        When there is no file at ``path``.

    Examples
    --------
    >>> import os, tempfile
    >>> from fastrep.experiments import load_spec, load_trajectories, run
    >>> spec = load_spec({"name": "steps", "epsilon": 0.25, "seeds": [0],
    ...                   "target": {"preset": "separation"}, "grid": {"d": [8], "n": [256]},
    ...                   "methods": {"two steps": {"method": "multistep", "width": 16,
    ...                                             "steps": 2, "ridge": 0.001}}})
    >>> tmp = tempfile.TemporaryDirectory()
    >>> store = os.path.join(tmp.name, "steps.sqlite")
    >>> summary = run(spec, store, executor="serial", progress=False)
    >>> traj = load_trajectories(store)
    >>> traj[["label", "d", "t"]].values.tolist()
    [['two steps', 8, 0], ['two steps', 8, 1], ['two steps', 8, 2]]
    >>> bool(traj["alignment"].between(0, 1).all())
    True
    >>> tmp.cleanup()
    """
    return trajectories_frame(read_store(path))


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

    Parameters
    ----------
    path : str or os.PathLike
        The results store (never written: a store in WAL mode is read from a private copy).

    Returns
    -------
    pandas.DataFrame
        The tidy frame described above, the input of :func:`~fastrep.experiments.n_star`,
        :func:`~fastrep.experiments.fit_slopes` and :func:`~fastrep.experiments.median_curves`.

    Raises
    ------
    StoreError
        For a file that is not a readable fastrep store (left untouched).
    FileNotFoundError
        When there is no file at ``path``.

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
    >>> from fastrep.experiments import load
    >>> df = load(store)
    >>> df[["arm", "d", "n", "seed"]].values.tolist()
    [['oracle', 6, 64, 0], ['oracle', 6, 64, 1], ['oracle', 6, 128, 0], ['oracle', 6, 128, 1]]
    >>> tmp.cleanup()
    """
    snap = read_store(path)
    return tidy(snap.cells, snap.path)
