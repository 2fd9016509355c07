"""Run a sweep: expand it into cells, skip those already in the store, run the rest.

Executors:

``"processes"`` (default)
    a local pool (loky) of ``workers`` processes (default: one per core), each cell
    limited to ``threads`` BLAS/OpenMP/Numba threads (default: cores // workers), so the
    machine is never oversubscribed. The workers exit when the driving process dies (a
    watch on their parent), and the pool does not re-run the calling script, so
    :func:`run` works from a plain script without ``if __name__ == "__main__":``.
``"dask"``
    the cells go to a ``dask.distributed`` cluster: ``scheduler`` is its address
    (``"tcp://host:8786"``) or a ``distributed.Client``. Each cell runs with ``threads``
    threads (default 1: Dask workers already run one task per core).
``"serial"``
    in this process, one cell after the other (debugging, tiny sweeps).

Only this process writes to the store, one transaction per finished cell, as results
arrive; a worker never touches the file. It holds the store's lease while it runs (see
:mod:`.store`), so a second sweep on the same store is refused instead of computing the
same cells twice. Every random draw of a cell derives from its
seed and the thread count of a cell is fixed by ``threads``, so the stored results are the
same, seed for seed, whichever executor ran them.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import os
import platform
import sys
import threading
import time
import traceback
import uuid
from concurrent.futures import as_completed
from dataclasses import dataclass
from pathlib import Path

from .._validation import Interval, ParameterValueError, validate_params
from . import _resources
from .methods import METHODS
from .plan import cell_estimate, plan
from .spec import LIMITS, Cell, SpecError, load_spec, setting_differences
from .store import ResultStore

__all__ = ["DEFAULT_STORE", "RunSummary", "execute_cell", "machine_info", "run"]

DEFAULT_STORE = Path("fastrep-results") / "results.sqlite"
EXECUTORS = ("processes", "dask", "serial")


class ExecutorError(RuntimeError):
    """The executor could not run the sweep (no scheduler, a worker died, ...)."""


@dataclass
class RunSummary:
    """What one :func:`run` call did."""

    sweep: str
    store: Path
    executor: str
    cells_total: int
    cells_skipped: int
    cells_run: int
    cells_failed: int
    wall_s: float

    def __str__(self) -> str:
        s = (
            f"sweep {self.sweep!r}: {self.cells_total} cells, {self.cells_skipped} already in the store, "
            f"{self.cells_run} run, {self.cells_failed} failed, {self.wall_s:.1f} s ({self.executor}); "
            f"results in {self.store}"
        )
        return s


# --------------------------------------------------------------------------- the worker side


def _reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS counter of this process (Linux >= 4.0); False if impossible."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _peak_rss_bytes() -> int | None:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return int(peak) * (1 if sys.platform == "darwin" else 1024)
    except (ImportError, OSError):
        return None


@contextlib.contextmanager
def _thread_limits(threads: int):
    """Limit BLAS, OpenMP (incl. the C++ core) and Numba to ``threads`` in *this* thread.

    The limits are per calling thread for OpenMP and Numba, so they are set around each
    cell, in the thread that runs it (a Dask worker runs tasks in its own threads).
    """
    from threadpoolctl import threadpool_limits

    with contextlib.suppress(Exception):  # load the C++ core first so its OpenMP runtime is limited too
        from ..backend import get_backend

        get_backend("cpp")
    prev_numba = None
    try:
        import numba

        prev_numba = numba.get_num_threads()
        numba.set_num_threads(max(1, min(threads, numba.config.NUMBA_NUM_THREADS)))
    except ImportError:
        numba = None
    try:
        with threadpool_limits(limits=threads):
            yield
    finally:
        if numba is not None and prev_numba is not None:
            numba.set_num_threads(prev_numba)


def execute_cell(task: dict) -> dict:
    """Run one cell; return its result row (never raises for an error inside the method).

    ``task``: ``{"cell_id", "params", "func" ("module:function"), "threads"}``. The
    returned dict has the store's row keys, or ``{"cell_id", "error"}`` on failure.
    """
    from .._version import __version__
    from .methods import resolve_function

    params, threads = task["params"], int(task["threads"])
    have_peak = _reset_peak_rss()
    t0 = time.perf_counter()
    try:
        with _thread_limits(threads):
            func = resolve_function(task["func"])
            out = func(params)
    except Exception:
        return {"cell_id": task["cell_id"], "error": traceback.format_exc(limit=20)}
    wall = time.perf_counter() - t0
    peak = _peak_rss_bytes() if have_peak else None
    align = out.get("alignment")
    backend = out.get("backend")
    if isinstance(backend, dict):
        backend = json.dumps(backend, sort_keys=True)
    return {
        "cell_id": task["cell_id"],
        "label": params["label"],
        "method": params["method"],
        "d": params["d"],
        "n": params["n"],
        "seed": params["seed"],
        "params": params,
        "excess_error": float(out["excess_error"]),
        "alignment": None if align is None else float(align),
        "timings": {k: float(v) for k, v in (out.get("timings") or {}).items()},
        "wall_s": wall,
        "peak_rss_bytes": peak,
        "backend": backend,
        "threads": threads,
        "fastrep_version": __version__,
        "host": platform.node(),
        "finished_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "extra": out.get("extra") or {},
    }


def _watch_parent(ppid: int, interval: float = 0.25) -> None:
    """Exit this process as soon as its parent ``ppid`` is gone (it was reparented)."""
    while True:
        if os.getppid() != ppid:
            os._exit(1)
        time.sleep(interval)


def _worker_init(ppid: int) -> None:
    # Ctrl-C goes to the driver, which shuts the pool down; a worker never outlives its driver
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threading.Thread(target=_watch_parent, args=(ppid,), name="fastrep-parent-watch", daemon=True).start()


# --------------------------------------------------------------------------- the driver side


def machine_info() -> dict:
    """The machine this process runs on: host, OS, CPU model, cores, memory, versions, backends."""
    import numpy as np

    from .._version import __version__
    from ..backend import backends

    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    mem = None
    with contextlib.suppress(Exception):
        import psutil

        mem = int(psutil.virtual_memory().total)
    return {
        "host": platform.node(),
        "os": platform.platform(),
        "cpu": cpu,
        "cores": _resources.cores(),
        "memory_bytes": mem,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "fastrep": __version__,
        "backends": backends(),
        "FASTREP_BACKEND": os.environ.get("FASTREP_BACKEND"),
        "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE"),
    }


def _task(cell: Cell, threads: int) -> dict:
    return {
        "cell_id": cell.cell_id,
        "params": cell.params,
        "func": METHODS[cell.params["method"]].func,
        "threads": threads,
    }


def _iter_serial(tasks):
    for task in tasks:
        yield task, execute_cell(task)


def _iter_processes(tasks, workers):
    # loky starts fresh interpreters (fork after OpenMP/Numba threads exist can deadlock) that
    # do not re-import the caller's __main__, so scripts need no __main__ guard
    from loky import ProcessPoolExecutor
    from loky.process_executor import BrokenProcessPool

    pool = ProcessPoolExecutor(max_workers=workers, initializer=_worker_init, initargs=(os.getpid(),))
    clean, futures = False, {}
    try:
        futures = {pool.submit(execute_cell, t): t for t in tasks}
        for fut in as_completed(futures):
            try:
                res = fut.result()
            except BrokenProcessPool as exc:
                why = str(exc).splitlines()[0] if str(exc) else "killed, or out of memory?"
                raise ExecutorError(
                    f"a worker process died ({why}); "
                    "the cells finished so far are saved, re-run the same command to resume"
                ) from None
            yield futures[fut], res
        clean = True
    finally:
        for fut in futures:
            fut.cancel()
        pool.shutdown(wait=True, kill_workers=not clean)


def _dask_client(scheduler):
    try:
        from distributed import Client
    except ImportError:
        raise ExecutorError("executor='dask' needs dask.distributed: pip install 'fastrep[dask]'") from None
    if isinstance(scheduler, Client):
        return scheduler, False
    if not scheduler:
        raise ExecutorError("executor='dask' needs scheduler='tcp://host:port' (or a distributed.Client)")
    try:
        return Client(scheduler, timeout="20s", set_as_default=False), True
    except (OSError, TimeoutError) as exc:
        raise ExecutorError(f"cannot reach the Dask scheduler at {scheduler}: {exc}") from None


def _iter_dask(tasks, client):
    from distributed import as_completed as dask_completed

    if not tasks:  # as_completed([]) looks for a global default client
        return

    futures = {
        client.submit(execute_cell, t, key=f"fastrep-cell-{t['cell_id']}", pure=False): t for t in tasks
    }
    try:
        for fut in dask_completed(list(futures), loop=client.loop):
            try:
                res = fut.result()
            except Exception as exc:  # the worker itself died or the task was lost
                res = {"cell_id": futures[fut]["cell_id"], "error": f"dask: {type(exc).__name__}: {exc}"}
            yield futures[fut], res
    finally:
        client.cancel([f for f in futures if not f.done()])


class LaneError(ExecutorError, ValueError):
    """``workers`` or ``threads`` outside their bounds (``parameter`` names which)."""

    def __init__(self, parameter, message):
        self.parameter = parameter
        super().__init__(message)


#: threads per cell on a Dask worker (whose cores this machine cannot see): more is a typo
MAX_DASK_THREADS = 1024


def _lane_rules(executor: str) -> dict:
    """The rules of ``workers`` and ``threads``: local processes at most 4 per core, local
    threads at most the CPUs this machine reports (a BLAS asked for a million threads crashes)."""
    cpus = os.cpu_count() or 1
    max_threads = MAX_DASK_THREADS if executor == "dask" else max(cpus, _resources.cores())
    where = "the threads a Dask worker may run" if executor == "dask" else "the CPUs here"
    return {
        "workers": [Interval("integer", 1, 4 * cpus, desc=f"a positive integer <= {4 * cpus} (4 per CPU)"),
                    None],
        "threads": [Interval("integer", 1, max_threads,
                             desc=f"a positive integer <= {max_threads} ({where})"),
                    None],
    }


def lanes(executor: str, workers: int | None, threads: int | None) -> tuple[int | None, int]:
    """(workers, threads per cell) that ``executor`` uses by default on this machine; ``workers``
    and ``threads`` checked against their bounds first (:class:`LaneError`, or TypeError)."""
    try:
        validate_params({"workers": workers, "threads": threads}, _lane_rules(executor))
    except ParameterValueError as exc:
        raise LaneError(exc.parameter, str(exc)) from None
    cores = _resources.cores()
    if executor == "processes":
        workers = workers or cores
        return workers, threads or max(1, cores // workers)
    if executor == "serial":
        return 1, threads or cores
    return workers, threads or 1


def _check_size(spec, cells, workers, threads, yes: bool):
    """Refuse a sweep beyond LIMITS (cells, estimated time) unless ``yes``; return its plan."""
    count = spec.count()
    if count > LIMITS["cells_hard"]:
        raise SpecError("", f"the sweep has {count:,} cells; fastrep runs at most {LIMITS['cells_hard']:,}")
    if count > LIMITS["cells"] and not yes:
        raise SpecError(
            "",
            f"the sweep has {count:,} cells, more than {LIMITS['cells']:,}; check it with --dry-run, "
            "then pass --yes (yes=True) to run it",
        )
    estimate = plan(
        spec, spec.cells() if cells is None else cells, workers=workers or 1, threads=threads or 1
    )
    if estimate.time_s > LIMITS["cost_s"] and not yes:
        raise SpecError(
            "",
            f"the sweep is estimated at {estimate.time_s / 3600:,.1f} h of {estimate.workers} workers, "
            "more than "
            f"{LIMITS['cost_s'] / 3600:.0f} h; check it with --dry-run, then pass --yes (yes=True) to run it",
        )
    return estimate


def run(
    spec,
    store=DEFAULT_STORE,
    executor: str = "processes",
    *,
    scheduler=None,
    workers: int | None = None,
    threads: int | None = None,
    progress: bool = True,
    yes: bool = False,
) -> RunSummary:
    """Run every cell of ``spec`` that ``store`` does not already hold.

    Parameters
    ----------
    spec : SweepSpec, dict, or path to a TOML file (see :mod:`fastrep.experiments.spec`).
        Validated completely before anything runs.
    store : path of the SQLite results store (created if missing; a foreign file is refused).
    executor : ``"processes"`` (default), ``"dask"`` or ``"serial"``.
    scheduler : Dask scheduler address or ``distributed.Client`` (``executor="dask"``).
    workers : local processes (default: the number of cores).
    threads : BLAS/OpenMP/Numba threads per cell (default: cores // workers locally, 1 on Dask).
    progress : show a tqdm bar (cells done and ETA) on stderr.
    yes : run a sweep beyond ``spec.LIMITS`` (more than 10^5 cells, or estimated at more
        than a day); without it such a sweep raises :class:`~.spec.SpecError` before anything runs.

    Returns a :class:`RunSummary`. Cells that raise are recorded in the store's
    ``failures`` table, reported in the summary and retried by the next run.

    Raises :class:`~.spec.SpecError` when ``store`` already holds a sweep of this name with
    another setting (run it under another name: ``spec.renamed(NAME)``), and
    :class:`~.store.StoreBusyError` when another live process is writing ``store``.
    """
    from tqdm.auto import tqdm

    spec = load_spec(spec)
    if isinstance(executor, str) and executor not in EXECUTORS:
        raise ValueError(f"executor must be one of {', '.join(map(repr, EXECUTORS))}; got {executor!r}")
    if not isinstance(executor, str):
        raise TypeError(
            f"executor must be a string; got {type(executor).__name__} (pass a Client as scheduler=)"
        )
    workers, threads = lanes(executor, workers, threads)

    _check_size(spec, None, workers, threads, yes)
    client, own_client = (None, False)
    if executor == "dask":
        client, own_client = _dask_client(scheduler)
        workers = len(client.scheduler_info().get("workers", {})) or None

    t_start = time.perf_counter()
    try:
        cells = spec.cells()
        with ResultStore(store, for_run=True) as st:
            run_id = uuid.uuid4().hex
            st.acquire(spec.name, run_id)
            old = st.sweeps().get(spec.name)
            if old is not None:
                diff = setting_differences(old, spec.to_dict())
                if diff:
                    raise SpecError(
                        "name",
                        f"sweep {spec.name!r} already exists in {st.path} with another setting "
                        f"({'; '.join(diff)}); "
                        "its cells are never merged with these: run this spec under a new name "
                        "(--as NEW_NAME, or spec.renamed(NEW_NAME)) or into another store",
                    )
            done = st.finished_ids()
            todo = [c for c in cells if c.cell_id not in done]
            # expensive cells first: the pool's last minutes are then spent on short cells
            todo.sort(key=lambda c: -cell_estimate(c.params)[0])
            st.write_sweep(spec.name, spec.to_dict())
            st.begin_run(spec.name, executor, workers, threads, len(cells), machine_info(), run_id=run_id)
            tasks = [_task(c, threads) for c in todo]
            n_ok = n_fail = 0
            if executor == "serial":
                it = _iter_serial(tasks)
            elif executor == "processes":
                it = _iter_processes(tasks, workers) if tasks else iter(())
            else:
                it = _iter_dask(tasks, client)
            bar = tqdm(
                total=len(cells),
                initial=len(cells) - len(todo),
                unit="cell",
                desc=spec.name,
                disable=not progress,
                smoothing=0.0,
                dynamic_ncols=True,
            )
            try:
                for task, res in it:
                    st.check_lease()
                    if "error" in res:
                        n_fail += 1
                        st.write_failure(task["cell_id"], spec.name, task["params"], res["error"])
                        bar.write(
                            f"fastrep: cell {task['params']['label']} d={task['params']['d']} "
                            f"n={task['params']['n']} seed={task['params']['seed']} failed:\n"
                            f"{res['error'].rstrip()}",
                            file=sys.stderr,
                        )
                    else:
                        res["sweep"] = spec.name
                        st.write_cell(res)
                        n_ok += 1
                    bar.update(1)
            finally:
                bar.close()
            st.end_run(run_id, n_ok, n_fail)
    finally:
        if own_client:
            client.close()
    return RunSummary(
        spec.name,
        Path(store),
        executor,
        len(cells),
        len(cells) - len(todo),
        n_ok,
        n_fail,
        time.perf_counter() - t_start,
    )
