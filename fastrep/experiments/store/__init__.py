"""The results store: one SQLite file, one row per finished cell, crash-proof.

Layout (``schema_version`` 3):

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
``trajectories`` (schema 3)
    one row per recorded step of a cell's first layer (primary key ``cell_id, t``): loss,
    lr, alignment, row norms, the top three spikes of W_t - W_0 and their alignment, the
    per-direction overlaps (JSON); written in the cell's own transaction. A store of an
    older schema reads with none, and gains the table when a sweep writes into it.
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

Modules: :mod:`.schema` (the format, the errors, the checks that a file is a store),
:mod:`.writer` (:class:`ResultStore`: creation, the lease, writes), :mod:`.read`
(:func:`read_store`, :func:`load`: read-only access), :mod:`.frame` (:func:`tidy`: the tidy
cells frame; not named ``tidy`` so that the function does not hide its module).
"""

from .frame import tidy  # noqa: F401  (tidy: used by the report)
from .read import StoreSnapshot, load, load_trajectories, read_store
from .schema import SCHEMA_VERSION, StoreBusyError, StoreError
from .writer import LEASE_HEARTBEAT_S, LEASE_STALE_S, ResultStore, check_results_version  # noqa: F401

__all__ = [
    "SCHEMA_VERSION",
    "ResultStore",
    "StoreBusyError",
    "StoreError",
    "StoreSnapshot",
    "load",
    "load_trajectories",
    "read_store",
]
