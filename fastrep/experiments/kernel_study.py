"""The kernel study's plan (``fastrep demo --large-kernels --dry-run``): each NTK cell's centres,
memory and estimated time from a cost model of the Falkon-style Nystrom fit.

The study (``[large_kernels]`` in ``defaults.toml``) fits ``NTKRegressor(solver='nystrom')``
with the centre rule under an explicit ``max_memory``. Its cells are far from the general
planner's model (:mod:`.plan` costs an NTK cell as an exact n x n solve), so this module costs
them the way the solver works (:mod:`fastrep.nystrom`):

* M and the preconditioner's dtype as the estimator chooses them: the centre rule
  (:func:`fastrep.nystrom.centers_needed`) in the data's dtype (Falkon's), M lowered until the
  preconditioner fits 80% of ``max_memory`` where it does not;
* whether K_nM is kept (``store_kernel='auto'``: when its n x M entries fit the budget beside
  the preconditioner): kept, the conjugate gradient computes it once and reads it twice per
  iteration; not kept, every iteration recomputes it;
* the factorizations: K_MM (one kernel pass of M x M entries), the Cholesky of K_MM, the LAUUM
  and the Cholesky of the ridge's factor: M^3/3 flops each, M^3 in all;
* the conjugate gradient: per iteration one pass over the n x M kernel (once when K_nM is kept;
  its entries at
  :data:`KERNEL_PASS_GEMMS` times the flops of the GEMM of its size, measured for the NTK block)
  and two products with it, plus four triangular solves with the M x M factors (memory-bound:
  their bytes at a matrix-vector rate); :data:`CG_ITERATIONS` iterations and the right-hand side;
* the evaluation: two passes of ``n_test`` x M kernel entries (the excess error and the
  per-degree diagnostic).

Flops are turned into seconds at a GEMM rate and bytes at a matrix-vector rate, both measured
on the spot with the cell's threads (about a second, :func:`machine_rates`), times the
overheads measured for this solver (:data:`FACTORIZATION_OVERHEAD`, :data:`CG_OVERHEAD`). The
estimate assumes the machine to itself.
"""

from __future__ import annotations

import functools
import math
import time
from dataclasses import dataclass

import numpy as np

__all__ = ["CG_ITERATIONS", "KernelCell", "KernelStudyPlan", "kernel_study_plan", "machine_rates"]

#: conjugate-gradient iterations a cell is planned with (measured: 6 at d = 64, n = 5e4,
#: M = 24,000, tol 1e-3; 15-19 at d = 32, n = 2e4-3e4, M = 12,000, tol 1e-10;
#: benchmarks/RESULTS_KERNELS.md); the estimator stops at ``max_iter`` (100) at most
CG_ITERATIONS = 20
#: the symmetric NTK Gram block costs this many GEMMs of its size (1.78x at d = 128, 2.10x at
#: d = 64, float32, n = 16384; benchmarks/RESULTS_KERNELS.md)
KERNEL_PASS_GEMMS = 2.1
#: the blocked factorizations' time over their flops at the GEMM rate (1.43 measured at
#: M = 24,000, float64, d = 64; benchmarks/RESULTS_KERNELS.md)
FACTORIZATION_OVERHEAD = 1.43
#: the conjugate gradient's time over its kernel passes' flops at the GEMM rate, once the
#: triangular solves are counted apart: an assumption, not measured apart (the whole CG took 5x
#: its GEMM floor at d = 64, n = 5e4, M = 24,000 with the solves and the NTK's elementwise pass
#: inside); the study's cells record their CG iterations (``extra.cg_iterations``) to check it
CG_OVERHEAD = 2.0
#: resident memory of a worker with fastrep loaded (as the general planner counts it)
BASE_RSS = 290 * 2**20
#: bytes of one kernel block (the estimator's default block size)
BLOCK_BYTES = 16 * 2**20


@functools.lru_cache(maxsize=None)
def machine_rates(threads: int = 1, seconds: float = 1.0) -> dict:
    """GEMM flop/s (float32 and float64) and matrix-vector bytes/s on ``threads`` threads.

    Each rate is the best of repeated calls for about ``seconds / 3``: a 1536 x 1536 product
    per dtype, a float32 2048 x 8192 matrix times a vector (64 MiB, beyond the caches).

    Parameters
    ----------
    threads : int, default 1
        BLAS threads (a cell's ``--threads``).
    seconds : float, default 1.0
        The time spent measuring, about.

    Returns
    -------
    dict
        ``{'float32': flop/s, 'float64': flop/s, 'bytes': bytes/s}``.
    """
    from threadpoolctl import threadpool_limits

    rng = np.random.default_rng(0)
    out = {}
    budget = seconds / 3.0
    with threadpool_limits(limits=int(threads)):
        for dt in ("float32", "float64"):
            a = rng.standard_normal((1536, 1536)).astype(dt)
            b = rng.standard_normal((1536, 1536)).astype(dt)
            out[dt] = _best(lambda a=a, b=b: a @ b, budget, 2.0 * 1536**3)
        A = rng.standard_normal((2048, 8192)).astype(np.float32)
        v = rng.standard_normal(8192).astype(np.float32)
        out["bytes"] = _best(lambda: A @ v, budget, float(A.nbytes))
    return out


def _best(fn, budget: float, work: float) -> float:
    fn()
    best, t_end = math.inf, time.perf_counter() + budget
    while True:
        t0 = time.perf_counter()
        fn()
        t1 = time.perf_counter()
        best = min(best, t1 - t0)
        if t1 >= t_end:
            return work / max(best, 1e-9)


def _preconditioner_matrices(backend: str) -> int:
    """M x M arrays the preconditioner of ``backend`` holds (1 in the CPU backends' packed
    layout, 2 elsewhere), as the estimator counts them; 2 where the backend cannot be loaded."""
    from ..backend import BackendUnavailableError, resolve

    try:
        la = resolve(backend, "cholesky", np.empty((1, 1), dtype=np.float32))
    except (BackendUnavailableError, TypeError, ValueError, ImportError):
        return 2
    from ..nystrom import preconditioner_matrices

    return preconditioner_matrices({"ridge": la})


@dataclass(frozen=True)
class KernelCell:
    """One (d, n) of the kernel study as planned (every seed of it costs the same).

    Parameters
    ----------
    d, n : int
        The cell's dimension and samples.
    seeds : int
        The seeds run at this (d, n).
    M : int
        The centres the estimator will use.
    degree : int or None
        The highest harmonic degree the centre rule covers.
    limited : bool
        True when ``max_memory`` holds fewer centres than the rule asks for.
    pc_dtype : str
        The preconditioner's dtype.
    preconditioner_bytes : float
        Its M x M buffers.
    stored : bool
        Whether K_nM fits the budget beside it and is kept (``store_kernel='auto'``).
    peak_bytes : float
        The worker's estimated peak resident memory.
    factor_s, cg_s, eval_s : float
        Estimated seconds of the factorizations, the conjugate gradient, the evaluation.
    """

    d: int
    n: int
    seeds: int
    M: int
    degree: int | None
    limited: bool
    pc_dtype: str
    preconditioner_bytes: float
    stored: bool
    peak_bytes: float
    factor_s: float
    cg_s: float
    eval_s: float

    @property
    def seconds(self) -> float:
        """The estimated time of one cell."""
        return self.factor_s + self.cg_s + self.eval_s


@dataclass
class KernelStudyPlan:
    """What :func:`kernel_study_plan` found: the cells, the rates used and the total.

    Parameters
    ----------
    name : str
        The sweep's name.
    cells : list of KernelCell
        One per (d, n).
    workers, threads : int
        The lanes the estimate is for.
    rates : dict
        The measured rates (:func:`machine_rates`).
    max_memory : int
        The study's ``max_memory`` (bytes).
    """

    name: str
    cells: list
    workers: int
    threads: int
    rates: dict
    max_memory: int

    @property
    def cell_seconds(self) -> float:
        """The cells' estimated time, summed over every seed."""
        return sum(c.seconds * c.seeds for c in self.cells)

    @property
    def time_s(self) -> float:
        """The estimated wall time on ``workers`` lanes."""
        lanes = max(1, min(self.workers, sum(c.seeds for c in self.cells)))
        return self.cell_seconds / lanes

    @property
    def peak_cell_bytes(self) -> float:
        """The largest cell's estimated peak memory."""
        return max((c.peak_bytes for c in self.cells), default=0.0)

    def lines(self) -> list[str]:
        """The dry run's lines: one per (d, n), then the total.

        Returns
        -------
        list of str
            Human-readable lines.
        """
        from .plan import format_seconds

        r = self.rates
        out = [f"sweep {self.name!r}: {sum(c.seeds for c in self.cells)} NTK cells, Nystrom with the centre "
               f"rule under max_memory = {self.max_memory / 1e9:g} GB ({self.workers} workers x "
               f"{self.threads} threads)",
               f"rates measured here: GEMM {r['float32'] / 1e9:.0f} GFLOP/s float32, "
               f"{r['float64'] / 1e9:.0f} GFLOP/s float64; matrix-vector {r['bytes'] / 1e9:.1f} GB/s",
               "     d        n  seeds        M  (degree)  preconditioner    peak mem   factorize  CG "
               f"({CG_ITERATIONS} it.)   per cell"]
        for c in self.cells:
            deg = "" if c.degree is None else f"(<= {c.degree})"
            lim = ("" if c.stored else " K_nM recomputed") + (" limited by max_memory" if c.limited else "")
            out.append(f"  {c.d:4d} {c.n:8,d} {c.seeds:6d} {c.M:8,d} {deg:>9}  "
                       f"{c.preconditioner_bytes / 2**30:6.2f} GiB {c.pc_dtype:7s} "
                       f"{c.peak_bytes / 2**30:6.2f} GiB  {format_seconds(c.factor_s):>9}  "
                       f"{format_seconds(c.cg_s):>9}  {format_seconds(c.seconds):>9}{lim}")
        out.append(f"estimated time: {format_seconds(self.time_s)} ({format_seconds(self.cell_seconds)} of "
                   f"cell time); peak memory {self.peak_cell_bytes / 2**30:.1f} GiB per worker")
        load = _load()
        if load is not None and load > 1.2:
            out.append(f"note: the rates were measured on a busy machine (load {load:.1f} per core): the "
                       "estimate is what this load allows, an idle machine runs faster")
        return out


def _load() -> float | None:
    from .plan import _load as load

    return load()


def _cell(d: int, n: int, seeds: int, options: dict, evaluation: dict, rates: dict, matrices: int,
          budget: float) -> KernelCell:
    from ..nystrom import centers_needed, centers_within, packed_bytes

    x_dt = np.dtype(options.get("dtype") or "float64")
    n_centers = options.get("n_centers")
    needed, degree = centers_needed(n, d, "ntk", float(options.get("beta", 1.0)))
    pc = x_dt  # the estimator's rule: the preconditioner in the data's dtype

    def pc_bytes(M, dt):
        return packed_bytes(matrices, M, d, dt.itemsize)

    # as the estimator: the rule's M lowered until it fits (an explicit n_centers that does not
    # fit is refused by the estimator; the plan shows the M that would fit, marked limited)
    M = int(n_centers) if n_centers is not None else needed
    fitted = centers_within(M, d, pc.itemsize, budget, matrices)
    limited, M = fitted < M, fitted
    n_test = int(evaluation.get("n_test", 0))
    gemm_pc, gemm_x = rates[pc.name], rates[x_dt.name]
    kmm = KERNEL_PASS_GEMMS * 2.0 * M * M * d / gemm_pc
    factor = kmm + FACTORIZATION_OVERHEAD * float(M) ** 3 / gemm_pc
    kernel_pass = KERNEL_PASS_GEMMS * 2.0 * n * M * d + 4.0 * n * M
    solves = 4.0 * (M * M / 2.0) * pc.itemsize / rates["bytes"]  # each reads one triangle
    knm = float(n) * M * x_dt.itemsize  # fastrep.nystrom.kernel_rows_bytes
    stored = pc_bytes(M, pc) + knm + 2 * M * x_dt.itemsize <= budget  # KernelRegressor._plan_storage
    if stored:  # computed once, then two matrix-vector products per iteration
        cg = (CG_OVERHEAD * kernel_pass / gemm_x
              + (CG_ITERATIONS + 1) * (2.0 * knm / rates["bytes"] + solves))
    else:
        cg = (CG_ITERATIONS + 1) * (CG_OVERHEAD * kernel_pass / gemm_x + solves)
    evaluate = 2.0 * n_test * M * (KERNEL_PASS_GEMMS * 2.0 * d + 2.0) / gemm_x
    # the preconditioner, two kernel blocks (the fit's and BLAS's room), the rows in float64 and
    # in the fit's dtype (training and validation draws; the test rows come in blocks)
    data = (n + int(evaluation.get("n_val", 0))) * d * (x_dt.itemsize + 8)
    peak = BASE_RSS + pc_bytes(M, pc) + 2 * BLOCK_BYTES + data + (knm if stored else 0.0)
    return KernelCell(d, n, seeds, M, degree, limited, pc.name, float(pc_bytes(M, pc)), stored, float(peak),
                      factor, cg, evaluate)


def kernel_study_plan(spec, *, workers: int = 1, threads: int = 1, rates: dict | None = None,
                      backend: str | None = None) -> KernelStudyPlan:
    """Each NTK cell of ``spec`` (the kernel study, or any sweep of Nystrom NTK cells): its M,
    memory and estimated time, and the total.

    Parameters
    ----------
    spec : SweepSpec
        The sweep (``demo_spec('large_kernels')``).
    workers, threads : int, default 1
        The lanes the cells run on.
    rates : dict or None, default None
        ``{'float32', 'float64', 'bytes'}`` rates; None measures them here (:func:`machine_rates`).
    backend : str or None, default None
        The backend whose preconditioner layout is counted; None: each method's ``backend``
        option (``'auto'``: ``FASTREP_BACKEND``, else this machine's choice).

    Returns
    -------
    KernelStudyPlan
        One :class:`KernelCell` per (d, n) of every ``ntk`` method with ``solver='nystrom'``.

    Raises
    ------
    ValueError
        For a ``spec`` with no such method.

    Examples
    --------
    >>> from fastrep.experiments.demo import demo_spec
    >>> from fastrep.experiments.kernel_study import kernel_study_plan
    >>> rates = {"float32": 1e11, "float64": 5e10, "bytes": 1e10}
    >>> p = kernel_study_plan(demo_spec("large_kernels"), rates=rates)
    >>> [(c.d, c.n, c.M) for c in p.cells if c.d == 64][-1]
    (64, 185364, 47840)
    """
    from .._memory import resolve_max_memory

    rates = machine_rates(threads) if rates is None else rates
    cells, budgets = [], set()
    for m in spec.methods:
        if m.method != "ntk" or m.options.get("solver") != "nystrom":
            continue
        budget = resolve_max_memory(m.options.get("max_memory"))
        budgets.add(budget)
        matrices = _preconditioner_matrices(backend or m.options.get("backend", "auto"))
        seeds = len(m.seeds or spec.seeds)
        for d in m.d:
            for n in m.n_at(d):
                cells.append(_cell(int(d), int(n), seeds, m.options, spec.evaluation, rates, matrices,
                                   budget))
    if not cells:
        raise ValueError(f"spec must have an 'ntk' method with solver='nystrom'; got {spec.name!r}")
    return KernelStudyPlan(spec.name, cells, int(workers), int(threads), dict(rates), max(budgets))
