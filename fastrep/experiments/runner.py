"""Run a sweep: expand it into cells, skip those already in the store, run the rest.

Executors:

``"processes"`` (default)
    a local pool (loky) of ``workers`` processes (default: one per core), each cell
    limited to ``threads`` BLAS/OpenMP/Numba threads (default 1, on every executor: a
    threaded factorization rounds differently with another thread count, so one default
    is what gives the same bits everywhere), set once in each worker as it starts.
    The workers exit when the driving process dies (a
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
from .plan import (
    WARMUP_S,
    WORKER_START_S,
    cell_estimate,
    charged_params,
    format_seconds,
    machine_rate,
    plan,
)
from .spec import LIMITS, Cell, SpecError, load_spec, setting_differences
from .store import ResultStore

__all__ = ["DEFAULT_STORE", "RunSummary", "execute_cell", "machine_info", "run"]

DEFAULT_STORE = Path("fastrep-results") / "results.sqlite"
EXECUTORS = ("processes", "dask", "serial")


class ExecutorError(RuntimeError):
    """The executor could not run the sweep (no scheduler, a worker died, ...)."""


@dataclass
class RunSummary:
    """What one :func:`run` call did (its ``str`` is the one-line summary the CLI prints).

    Parameters
    ----------
    sweep : str
        The sweep's name.
    store : pathlib.Path
        The results store.
    executor : {'processes', 'dask', 'serial'}
        The executor that ran the cells.
    cells_total : int
        The sweep's cells.
    cells_skipped : int
        Those the store already held (not run again).
    cells_run : int
        Those run and stored by this call.
    cells_failed : int
        Those that raised (recorded in the store's ``failures`` table, retried next time).
    wall_s : float
        The call's wall-clock seconds.

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
    >>> summary.cells_total, summary.cells_run, summary.cells_failed
    (4, 4, 0)
    >>> run(spec, store, executor="serial", progress=False).cells_skipped  # resumed: nothing to do
    4
    >>> tmp.cleanup()
    """

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


_PIN_LOCK = threading.Lock()


def _pin_threads(threads: int) -> None:
    """Run this process's BLAS and this thread's OpenMP and Numba with ``threads`` threads.

    Set and kept, never restored after a cell: the BLAS count is process-wide, and a Dask worker
    runs several cells at once in threads of one process, so a cell that restored the count on
    its way out changed it under the others (and their last bits: a threaded Cholesky rounds
    differently). Every cell of a sweep asks for the same count, so setting it again is a no-op.
    Call it after the cell's modules are imported: a BLAS loaded later would start unlimited.
    """
    from threadpoolctl import threadpool_limits

    with contextlib.suppress(Exception):  # load the C++ core first so its OpenMP runtime is limited too
        from ..backend import get_backend

        get_backend("cpp")
    with _PIN_LOCK:
        threadpool_limits(limits=threads)
    try:
        import numba

        numba.set_num_threads(max(1, min(threads, numba.config.NUMBA_NUM_THREADS)))
    except ImportError:
        pass


@contextlib.contextmanager
def _restored_threads():
    """Put this process's thread counts back as they were (a serial sweep runs in the caller's
    process: its cells pin the counts, the caller gets its own back at the end)."""
    from threadpoolctl import threadpool_limits

    prev_numba = None
    with contextlib.suppress(ImportError):
        import numba

        prev_numba = numba.get_num_threads()
    with threadpool_limits(limits=None):  # a context that restores the counts found on entry
        try:
            yield
        finally:
            if prev_numba is not None:
                import numba

                numba.set_num_threads(prev_numba)


def execute_cell(task: dict) -> dict:
    """Run one cell; return its result row (never raises for an error inside the method).

    ``task``: ``{"cell_id", "params", "func" ("module:function"), "threads"}``. The
    returned dict has the store's row keys, or ``{"cell_id", "error"}`` on failure.
    The process's BLAS and the calling thread's OpenMP/Numba thread counts are set to
    ``threads`` and left so (see :func:`_pin_threads`; a serial sweep restores them at its end).
    """
    from .._version import __version__
    from .methods import resolve_function

    params, threads = task["params"], int(task["threads"])
    have_peak = _reset_peak_rss()
    t0 = time.perf_counter()
    try:
        func = resolve_function(task["func"])
        _pin_threads(threads)
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
        # the first layer's recorded steps (multistep cells), written in the cell's transaction
        "trajectory": out.get("trajectory"),
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
    with _restored_threads():
        for task in tasks:
            yield task, execute_cell(task)


def _iter_processes(tasks, workers, threads):
    # loky starts fresh interpreters (fork after OpenMP/Numba threads exist can deadlock) that
    # do not re-import the caller's __main__, so scripts need no __main__ guard
    from loky import ProcessPoolExecutor
    from loky.process_executor import BrokenProcessPool

    # the thread counts are set in each worker as it starts (a BLAS loaded later reads them) and
    # again by every cell (_pin_threads)
    env = {v: str(threads) for v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}
    pool = ProcessPoolExecutor(
        max_workers=workers, initializer=_worker_init, initargs=(os.getpid(),), env=env
    )
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
        # no fut.cancel() here: with kill_workers the pool fails its pending futures itself, and a
        # future cancelled beside it made loky's manager thread print an InvalidStateError
        # traceback on Ctrl-C
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


def check_env_backend(*, here: bool) -> None:
    """Refuse, before the first cell, a ``FASTREP_BACKEND`` that names no backend, or (``here``:
    the cells run on this machine) one that cannot run here: otherwise every cell fails the
    same way. A Dask cluster's workers may have what this machine lacks: not judged here."""
    from ..backend import BACKENDS, backends

    env = os.environ.get("FASTREP_BACKEND", "").strip().lower()
    if not env or env == "auto":
        return
    if env not in BACKENDS:
        names = ", ".join(map(repr, BACKENDS))
        raise ExecutorError(f"FASTREP_BACKEND must be one of 'auto', {names}; got {env!r}")
    if not here:
        return
    state = backends()[env]
    if state != "available":
        raise ExecutorError(f"FASTREP_BACKEND={env} cannot run here: {state}")


def check_same_setting(path, sweeps: dict, spec) -> None:
    """Refuse ``spec`` if the store at ``path`` (its ``sweeps``: name -> stored spec) holds its
    name with another setting (``run`` and ``fastrep sweep --dry-run`` alike)."""
    old = sweeps.get(spec.name)
    diff = setting_differences(old, spec.to_dict()) if old is not None else None
    if diff:
        raise SpecError(
            "name",
            f"sweep {spec.name!r} already exists in {path} with another setting "
            f"({'; '.join(diff)}); "
            "its cells are never merged with these: run this spec under a new name "
            "(--as NEW_NAME, or spec.renamed(NEW_NAME)) or into another store",
        )


def lanes(executor: str, workers: int | None, threads: int | None) -> tuple[int | None, int]:
    """(workers, threads per cell) that ``executor`` uses by default on this machine.

    One thread per cell by default on every executor: a threaded BLAS rounds a factorization
    differently with another thread count, so the same default everywhere is what makes serial,
    local processes and Dask store the same bits. Local processes default to one per core.
    """
    try:
        validate_params({"workers": workers, "threads": threads}, _lane_rules(executor))
    except ParameterValueError as exc:
        raise LaneError(exc.parameter, str(exc)) from None
    cores = _resources.cores()
    if executor == "processes":
        return workers or cores, threads or 1
    if executor == "serial":
        return 1, threads or 1
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
    estimate = plan(spec, cells, workers=workers or 1, threads=threads or 1)
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

    Cells that raise are recorded in the store's ``failures`` table, reported in the
    summary and retried by the next run; a run that is killed loses at most the cells in
    flight (every finished cell is committed at once).

    Parameters
    ----------
    spec : SweepSpec, dict, str or os.PathLike
        The sweep, as :func:`~fastrep.experiments.load_spec` takes it (a SweepSpec, a dict,
        TOML text, a TOML path or a packaged example's name); validated completely before
        anything runs.
    store : str or os.PathLike, default 'fastrep-results/results.sqlite'
        The SQLite results store (created if missing; a foreign file is refused).
    executor : {'processes', 'dask', 'serial'}, default 'processes'
        Local worker processes, a Dask cluster, or this process.
    scheduler : str, distributed.Client or None, default None
        With ``executor='dask'``: the scheduler's address or a client; None starts a local
        cluster.
    workers : int or None, default None
        Local processes; None is the number of cores.
    threads : int or None, default None
        BLAS/OpenMP/Numba threads per cell; None is 1 on every executor, so that they all
        store the same bits (a cell's results can change in the last bits with it).
    progress : bool, default True
        Show a tqdm bar (cells done and ETA) on stderr.
    yes : bool, default False
        Run a sweep beyond ``spec.LIMITS`` (more than 10^5 cells, or estimated at more than
        a day); without it such a sweep raises :class:`~fastrep.experiments.SpecError`
        before anything runs.

    Returns
    -------
    RunSummary
        What ran, what was skipped and what failed.

    Raises
    ------
    SpecError
        For an invalid spec, a sweep beyond the limits without ``yes``, or a ``store`` that
        already holds a sweep of this name with another setting (run it under another
        name: ``spec.renamed(NAME)``).
    StoreBusyError
        When another live process is writing ``store``.
    StoreError
        When ``store`` is not a fastrep store, is of another results version, or cannot be
        written.
    ValueError
        For an unknown ``executor``, or invalid ``workers`` or ``threads`` (named in the
        message).
    TypeError
        For an ``executor`` that is not a string.

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
    >>> print(summary)  # doctest: +ELLIPSIS
    sweep 'tiny': 4 cells, 0 already in the store, 4 run, 0 failed, ... s (serial); results in ...
    >>> tmp.cleanup()
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
    check_env_backend(here=executor != "dask")

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
            check_same_setting(st.path, st.sweeps(), spec)
            done = st.finished_ids()
            todo = [c for c in cells if c.cell_id not in done]
            # each cell's estimated seconds, as the plan charges them (a transfer source once)
            lanes_ = min(max(1, workers or 1), max(1, len(todo)))
            rate = machine_rate()
            cost = {
                c.cell_id: cell_estimate(p, threads=threads, rate=rate)[0]
                for c, (p, _) in zip(todo, charged_params(todo, lanes_), strict=True)
            }
            # expensive cells first: the pool's last minutes are then spent on short cells
            todo.sort(key=lambda c: -cost[c.cell_id])
            # the start-up the plan adds (a worker's start; each method's first cells load and
            # compile their kernels) is charged to the cells that pay it: the bar's total is then
            # lanes x the printed estimate
            firsts: dict = {}
            for i, c in enumerate(todo):
                m = c.params["method"]
                firsts[m] = firsts.get(m, 0) + 1
                cost[c.cell_id] += (WARMUP_S if firsts[m] <= lanes_ else 0.0) + (
                    WORKER_START_S if i < lanes_ and (workers or 1) > 1 else 0.0
                )
            if progress and todo:
                estimate = plan(spec, todo, workers=workers or 1, threads=threads)
                print(
                    f"fastrep: {spec.name}: {len(todo):,} cells to run, "
                    f"estimated {format_seconds(estimate.time_s)} "
                    f"({estimate.workers} workers x {threads} threads)",
                    file=sys.stderr,
                )
            st.write_sweep(spec.name, spec.to_dict())
            st.begin_run(spec.name, executor, workers, threads, len(cells), machine_info(), run_id=run_id)
            tasks = [_task(c, threads) for c in todo]
            n_ok = n_fail = 0
            if executor == "serial":
                it = _iter_serial(tasks)
            elif executor == "processes":
                it = _iter_processes(tasks, workers, threads) if tasks else iter(())
            else:
                it = _iter_dask(tasks, client)
            # the bar counts estimated seconds of work, not cells: the costly cells run first, and
            # a bar of cells extrapolated their pace to the cheap rest (17 h predicted for 6.5 min)
            bar = tqdm(
                total=sum(cost.values()),
                desc=spec.name,
                disable=not progress,
                smoothing=0.0,
                dynamic_ncols=True,
                bar_format="{desc}: {percentage:3.0f}%|{bar}| [{elapsed}<{remaining}{postfix}]",
                postfix=f"{len(cells) - len(todo):,}/{len(cells):,} cells",
            )
            finished = len(cells) - len(todo)
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
                    finished += 1
                    bar.set_postfix_str(f"{finished:,}/{len(cells):,} cells", refresh=False)
                    bar.update(cost[task["cell_id"]])
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
