"""What a sweep will cost before it runs: cells per method and d, estimated time and peak memory.

The model counts the floating-point work of each cell from its setting (the dense products,
factorizations and evaluations its method does), turns it into seconds with this machine's
rate (a float64 matrix product timed once, on one thread) times a per-method efficiency, adds
a per-cell overhead, and divides by the workers that run in parallel. The efficiencies and
overheads were calibrated on the demo sweeps (``fastrep demo`` and ``--quick``); the estimate
is meant to be right within a factor of about 3, enough to refuse a sweep of days before it
starts, never to schedule.

Each worker's start and each method's first cell in it (kernels loaded and compiled) add a
fixed time. The estimate assumes the machine to itself; ``lines()`` says so when the load
average shows it busy.

Peak memory is the per-cell resident set: the Python process with fastrep loaded, plus the
arrays the cell holds at its largest (training data, the m x m moments or the n x n kernel,
one evaluation chunk).
"""

from __future__ import annotations

import functools
import math
import os
import time
from dataclasses import dataclass

import numpy as np

from ._resources import cores
from .methods import METHODS

__all__ = ["Plan", "cell_estimate", "charged_params", "format_seconds", "machine_rate", "plan"]

#: Resident memory of a worker with numpy, numba, scipy and fastrep loaded (bytes).
BASE_RSS = 290 * 2**20

#: kind -> (fraction of the timed matrix-product rate the method reaches, seconds per cell).
EFFICIENCY = {
    "network": (0.35, 0.05),
    "multistep": (0.30, 0.05),
    "cubic": (0.30, 0.03),
    "oracle": (0.10, 0.02),
    "linear": (0.05, 0.01),
}

#: Startup of one worker process (imports of numpy, numba, scipy, fastrep), seconds.
WORKER_START_S = 3.0
#: The first cell of each method in a process also loads and compiles its kernels, seconds.
WARMUP_S = 2.0


@functools.lru_cache(maxsize=1)
def machine_rate() -> float:
    """Float64 flop/s of one thread on a 384 x 384 matrix product (best of 5, about 50 ms).

    Returns
    -------
    float
        The rate the cost models divide by (measured once per process).

    Examples
    --------
    >>> from fastrep.experiments.plan import machine_rate
    >>> machine_rate() > 1e6  # a core does more than a million flop/s
    True
    """
    from threadpoolctl import threadpool_limits

    rng = np.random.default_rng(0)
    a = rng.standard_normal((384, 384))
    b = rng.standard_normal((384, 384))
    best = math.inf
    with threadpool_limits(limits=1):
        a @ b
        for _ in range(5):
            t0 = time.perf_counter()
            a @ b
            best = min(best, time.perf_counter() - t0)
    return 2 * 384**3 / max(best, 1e-9)


def _itemsize(options: dict, default: str) -> int:
    try:
        return np.dtype(options.get("dtype", default)).itemsize
    except TypeError:
        return 8


def _network(params: dict) -> tuple[float, float]:
    o, d, n = params["options"], params["d"], params["n"]
    m = int(o.get("width", 1000))
    nv, nt = params["evaluation"]["n_val"], params["evaluation"]["n_test"]
    isz = _itemsize(o, "float32")
    steps = int(o.get("steps", 1)) if params["method"] != "random_features" else 0
    data = 40.0 * (n + nv) * d
    ridge = 9.0 * m**3 + 2.0 * nv * d * m + 200.0 * nv * m
    # the dense products run at the dtype's rate (float32 about twice float64's, the rate timed);
    # the ridge's eigendecomposition is float64 whatever the dtype
    products = (4.0 * steps) * n * d * m + 2.0 * n * d * m + n * m * m
    n_s = params.get("n_source", 0)
    if n_s:  # the source fit: step 1, features and moments on n_s streamed samples, its own ridge
        data += 40.0 * n_s * d
        products += 6.0 * n_s * d * m + n_s * m * m
        ridge *= 2
    fit = products * isz / 8 + ridge
    test = nt * (2.0 * d * m + 40.0 * d)
    flops = data + fit + test
    chunk = min(max(n, n_s, nv), 16384)
    mem = (n + nv) * d * isz + 6 * m * m * 8 + chunk * (d + 3 * m) * isz + min(nt, 65536) * (d + 2 * m) * 8
    return flops, mem


def _multistep(params: dict) -> tuple[float, float]:
    """:func:`_network` with stage 1 replaced by T steps and the trajectory's records.

    A step on n_t samples costs a forward and a gradient product, about 4 n_t d m flop:
    n_t = n/T for fresh batches (all T steps together see n), n for a reused batch, B for
    online SGD. Each record is an eigendecomposition of the min(m, d) Gram of W_t - W_0
    (its product 2 m d min(m, d), the solve about 9 min(m, d)^3) and the overlaps 2 m d r.
    """
    o, d, n = params["options"], params["d"], params["n"]
    m = int(o.get("width", 1000))
    T = int(o.get("steps", 1))
    n1 = n // 2 if o.get("split") else n
    protocol = o.get("protocol", "fresh")
    seen = {"fresh": n1, "reuse": T * n1}.get(protocol, T * int(o.get("batch_size") or 1))
    every = o.get("record_every") or (1 if T <= 20 else max(1, T // 20))
    records = T // int(every) + 2
    k = min(m, d)
    base = dict(params, options={**o, "steps": 0})  # the network's data, head and test, no step
    flops, mem = _network(base)
    isz = _itemsize(o, "float32")
    if o.get("loss") == "smoothed":  # each step's products at K smoothed points
        seen *= int(o.get("smoothing_draws", 1))
    flops += 4.0 * seen * d * m * isz / 8 + records * (2.0 * m * d * k + 9.0 * k**3 + 2.0 * m * d * 4)
    if protocol == "online":  # one sample's work is a row of d, so small batches pay per step
        flops += T * 200.0 * m
    mem += 4 * m * d * 8 + records * m * 8 * 8  # W_0, W_t, their difference, the recorded rows
    return flops, mem


def _kernel(params: dict) -> tuple[float, float]:
    o, d, n = params["options"], params["d"], params["n"]
    nv, nt = params["evaluation"]["n_val"], params["evaluation"]["n_test"]
    solve = 9.0 * n**3 if o.get("ridge", "validate") == "validate" else n**3 / 3.0
    flops = 40.0 * (n + nv) * d + n * n * d + 30.0 * n * n + solve + (nv + nt) * n * (2.0 * d + 30.0)
    mem = (n + nv) * d * 8 + n * n * 8 + min(nt, 8192) * n * 8  # the Gram is factored in place
    return flops, mem


def _oracle(params: dict) -> tuple[float, float]:
    d, n = params["d"], params["n"]
    terms = params.get("target_resolved", {}).get("terms") or [[[1], 1.0]]
    r = len(terms[0][0])
    p = params["options"].get("degree") or max(sum(a) for a, _ in terms)
    K = math.comb(r + p, p)
    nv, nt = params["evaluation"]["n_val"], params["evaluation"]["n_test"]
    per_row = 2.0 * r * d + 10.0 * K * p + 40.0 * d
    flops = (n + nv + nt) * per_row + n * K * K + 9.0 * K**3 + 100.0 * nv * K
    mem = (n + nv) * d * 8 + min(max(n, nt), 65536) * (K + d) * 8
    return flops, mem


def _linear(params: dict) -> tuple[float, float]:
    n, d = params["n"], params["d"]
    return 100.0 * n * d, n * d * 8


_MODELS = {
    "network": _network, "multistep": _multistep, "cubic": _kernel, "oracle": _oracle, "linear": _linear,
}


def _kind(method: str) -> str:
    if method == "oracle":
        return "oracle"
    m = METHODS.get(method)
    return m.cost if m is not None else "linear"


def cell_estimate(params: dict, *, threads: int = 1, rate: float | None = None) -> tuple[float, float]:
    """The estimated time and memory of one cell run with ``threads`` threads.

    Parameters
    ----------
    params : dict
        The cell's params (:attr:`Cell.params <fastrep.experiments.Cell>`).
    threads : int, default 1
        Threads per cell.
    rate : float or None, default None
        The machine's float64 flop/s on one thread; None measures it (:func:`machine_rate`).

    Returns
    -------
    seconds : float
        The estimated wall-clock time of the cell.
    peak_bytes : float
        The estimated peak resident memory of its worker.

    Raises
    ------
    KeyError
        For params without a ``method`` (or of an unknown one).

    Examples
    --------
    >>> from fastrep.experiments import demo_spec
    >>> from fastrep.experiments.plan import cell_estimate
    >>> cell = demo_spec("quick").cells()[0]
    >>> seconds, peak = cell_estimate(cell.params, rate=1e9)
    >>> 0 < seconds < 60, peak > 2**20
    (True, True)
    """
    kind = _kind(params["method"])
    flops, mem = _MODELS[kind](params)
    eff, overhead = EFFICIENCY[kind]
    rate = machine_rate() if rate is None else rate
    speedup = 1.0 + 0.8 * (max(1, threads) - 1)  # BLAS and OpenMP scale sublinearly
    return overhead + flops / (rate * eff * speedup), BASE_RSS + mem


@dataclass
class Plan:
    """What :func:`plan` found: the cells to run, their estimated time and memory.

    Parameters
    ----------
    name : str
        The sweep's name.
    cells : dict
        (label, d) -> the number of cells.
    total : int
        The number of cells.
    cell_seconds : float
        The estimated cell time, summed over the cells.
    time_s : float
        The estimated wall-clock time on ``workers`` lanes, start-up included.
    peak_cell_bytes : float
        The estimated peak memory of one worker.
    peak_bytes : float
        The estimated peak memory of all workers together.
    workers : int
        Worker processes.
    threads : int
        Threads per cell.
    load : float or None, default None
        The machine's load per core when planned (None where unknown).

    Examples
    --------
    >>> from fastrep.experiments import demo_spec, plan
    >>> p = plan.plan(demo_spec("quick"), workers=2)
    >>> p.total, p.cells["ntk", 8], p.lines()[0]
    (138, 10, "sweep 'separation-quick': 138 cells (2 workers x 1 threads)")
    """

    name: str
    cells: dict
    total: int
    cell_seconds: float
    time_s: float
    peak_cell_bytes: float
    peak_bytes: float
    workers: int
    threads: int
    load: float | None = None

    def lines(self) -> list[str]:
        """A human-readable summary (``fastrep sweep --dry-run`` prints it).

        Returns
        -------
        list of str
            One line for the sweep, one per label, one for the estimate, and warnings
            (memory beyond the machine's, a busy machine).
        """
        out = [f"sweep {self.name!r}: {self.total:,} cells ({self.workers} workers x {self.threads} threads)"]
        labels = sorted({lab for lab, _ in self.cells})
        for lab in labels:
            items = [f"d={d}: {c:,}" for (lb, d), c in sorted(self.cells.items()) if lb == lab]
            if len(items) > 2 * LISTED_D:  # a bounded line, however long the d grid
                items = [*items[:LISTED_D], f"... {len(items) - 2 * LISTED_D:,} more values of d ...",
                         *items[-LISTED_D:]]
            per_d = ", ".join(items)
            out.append(
                f"  {lab}: {sum(c for (lb, _), c in self.cells.items() if lb == lab):,} cells ({per_d})"
            )
        out.append(
            f"estimated time: {format_seconds(self.time_s)} "
            f"({format_seconds(self.cell_seconds)} of cell time); "
            f"peak memory: {self.peak_cell_bytes / 2**20:,.0f} MiB per worker, "
            f"{self.peak_bytes / 2**20:,.0f} MiB in all"
        )
        total = _machine_memory()
        if total and self.peak_bytes > total:
            out.append(
                "warning: the workers may need more memory than this machine has "
                f"({total / 2**30:,.1f} GiB): fewer --workers, or smaller cells"
            )
        if self.load is not None and self.load > 1.2:
            out.append(
                "note: the estimate is for a machine to itself; this one is busy "
                f"(load {self.load:.1f} per core), so expect it to take longer"
            )
        return out


def format_seconds(s: float) -> str:
    """A duration as the plan prints it, in s, min, h or days.

    Parameters
    ----------
    s : float
        Seconds.

    Returns
    -------
    str
        ``"4.2 s"``, ``"90 s"``, ``"66.7 min"``, ``"3.1 h"`` or ``"2.5 days"``.

    Examples
    --------
    >>> from fastrep.experiments.plan import format_seconds
    >>> format_seconds(4000)
    '66.7 min'
    """
    if s < 10:
        return f"{s:.1f} s"
    if s < 120:
        return f"{s:.0f} s"
    if s < 7200:
        return f"{s / 60:.1f} min"
    if s < 2 * 86400:
        return f"{s / 3600:.1f} h"
    return f"{s / 86400:.1f} days"


#: the first and last values of d listed per method by ``Plan.lines()``
LISTED_D = 4

#: at most this many n values of one (method, d) are costed one by one; a longer n grid is
#: costed at this many evenly spread values, each standing for its neighbours
MAX_COSTED_N = 64


def charged_params(cells, lanes: int):
    """The params to cost for each given cell, the transfer source charged as it runs.

    A transfer cell reuses its worker's source fit (one per label, d and seed): the source
    is charged to the first cell of each group in each of ``lanes`` workers, not to every
    cell.

    Parameters
    ----------
    cells : iterable of Cell
        The cells.
    lanes : int
        The workers that run them.

    Yields
    ------
    params : dict
        The cell's params (``n_source`` set to 0 where the source is not charged).
    weight : int
        1.

    Examples
    --------
    >>> from fastrep.experiments import demo_spec
    >>> from fastrep.experiments.plan import charged_params
    >>> [w for _, w in charged_params(demo_spec("quick").cells()[:3], lanes=1)]
    [1, 1, 1]
    """
    sources: dict = {}
    for c in cells:
        params = c.params
        if params.get("n_source"):
            # a transfer cell reuses its worker's source fit (one per label, d and seed): charge
            # the source to the first cell of each group in each worker, not to every cell
            group = (params["label"], params["d"], params["seed"])
            sources[group] = sources.get(group, 0) + 1
            if sources[group] > lanes:
                params = {**params, "n_source": 0}
        yield params, 1


def _spec_groups(spec, lanes: int):
    """(params, weight) standing for every cell of ``spec``, without building its cells.

    A cell's cost depends on its method, d and n, not on its seed: one representative per
    (method, d, n) weighs as many cells as it has seeds (a sweep of millions of cells is costed
    in milliseconds). The transfer source is charged as :func:`charged_params` does (the first
    ``lanes`` values of n of each (d, seed) pay for it).
    """
    from .presets import RESULTS_VERSION, resolve_target
    from .spec import d_law

    for m in spec.methods:
        seeds = m.seeds or spec.seeds
        resolved = None
        for d in m.d:
            ns = m.n_at(d)
            if not ns:
                continue
            if resolved is None and m.method == "oracle":  # its cost reads the target's terms
                resolved = resolve_target(spec.target, min(m.d), seeds[0])
            if len(ns) <= MAX_COSTED_N:
                picks, weights = list(range(len(ns))), [1] * len(ns)
            else:
                picks = sorted({round(x) for x in np.linspace(0, len(ns) - 1, MAX_COSTED_N)})
                # each index goes to the nearest costed one
                owner = np.searchsorted(np.array(picks[:-1]) + np.diff(picks) / 2, np.arange(len(ns)))
                weights = np.bincount(owner, minlength=len(picks)).tolist()
            for i, w in zip(picks, weights, strict=True):
                params = {
                    "results_version": RESULTS_VERSION,
                    "d": d,
                    "n": ns[i],
                    "method": m.method,
                    "label": m.label,
                    "seed": seeds[0],
                    "options": m.options,
                    "evaluation": spec.evaluation,
                    "target_resolved": resolved or {},
                }
                if m.source is not None:
                    params["n_source"] = d_law(m.source["n"], d) if i < lanes else 0
                yield params, w * len(seeds)


def plan(spec, cells=None, *, workers: int = 1, threads: int = 1) -> Plan:
    """Count and estimate the cells of ``spec`` (all of them, or the given ``cells``).

    Without ``cells`` nothing is built: the count and the estimate come from the grid itself.
    ``fastrep sweep --dry-run`` prints its :meth:`Plan.lines`.

    Parameters
    ----------
    spec : SweepSpec
        The sweep (:func:`~fastrep.experiments.load_spec`).
    cells : list of Cell or None, default None
        The cells to estimate (those a store does not hold yet, say); None is all of them.
    workers : int, default 1
        Worker processes.
    threads : int, default 1
        Threads per cell.

    Returns
    -------
    Plan
        The counts per (label, d), the estimated time and the peak memory.

    Raises
    ------
    AttributeError
        For a ``spec`` that is not a SweepSpec (load it with
        :func:`~fastrep.experiments.load_spec` first).

    Examples
    --------
    >>> from fastrep.experiments import demo_spec, plan
    >>> spec = demo_spec("quick")
    >>> p = plan.plan(spec, workers=2)
    >>> p.total == spec.count(), p.time_s > 0
    (True, True)
    """
    rate = machine_rate()
    counts: dict = {}
    total_s, peak, total = 0.0, 0.0, 0
    ncells = spec.count() if cells is None else len(cells)
    lanes = min(max(1, workers), max(1, ncells))
    groups = _spec_groups(spec, lanes) if cells is None else charged_params(cells, lanes)
    methods = set()
    for params, weight in groups:
        key = (params["label"], params["d"])
        counts[key] = counts.get(key, 0) + weight
        methods.add(params["method"])
        t, mem = cell_estimate(params, threads=threads, rate=rate)
        total_s += t * weight
        total += weight
        peak = max(peak, mem)
    workers = max(1, workers)
    startup = (WORKER_START_S if workers > 1 else 0.0) + WARMUP_S * len(methods) if total else 0.0
    wall = total_s / lanes + startup
    return Plan(spec.name, counts, total, total_s, wall, peak, peak * lanes, workers, threads, _load())


def _machine_memory() -> int | None:
    try:
        import psutil

        return int(psutil.virtual_memory().total)
    except Exception:  # psutil missing or the OS does not tell
        return None


def _load() -> float | None:
    """The 1-minute load average per core (None where the OS does not tell)."""
    try:
        return os.getloadavg()[0] / cores()
    except (AttributeError, OSError):
        return None


def count_only(spec) -> dict:
    """(label, d) -> cells, computed without building any cell (for sweeps too large to build)."""
    out = {}
    for m in spec.methods:
        for d in m.d:
            out[(m.label, d)] = out.get((m.label, d), 0) + len(m.n_at(d)) * len(m.seeds or spec.seeds)
    return out
