"""Helpers shared by the compare_*.py scripts: timing, machine description, BLAS setting."""

from __future__ import annotations

import os
import platform
import statistics
import time


def median_time(fn, repeat=5, warmup=1):
    """Median wall time of ``fn()`` over ``repeat`` runs after ``warmup`` runs, and all runs."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), times


def blas_setting() -> str:
    """Which OpenBLAS kernels run, and whether OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE are set."""
    env = {k: os.environ[k] for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE") if k in os.environ}
    try:
        from threadpoolctl import threadpool_info

        libs = ", ".join(
            f"{i.get('internal_api')} {i.get('version')} {i.get('architecture', '?')} x{i.get('num_threads')}"
            for i in threadpool_info()
            if i.get("user_api") == "blas"
        )
    except ImportError:
        libs = "threadpoolctl not installed"
    return f"BLAS: {libs}; env: {env or 'OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset'}"


def machine() -> str:
    cpu = platform.processor() or "?"
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, {platform.system()}"


def cpu_name() -> str:
    """The CPU's model name from /proc/cpuinfo (or what platform knows)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_lines(blas_timed: bool = False) -> list[str]:
    """The machine, the thread counts of fastrep's backends, library versions and OpenMP/BLAS variables."""
    import numpy as np

    lines = [f"machine: {cpu_name()}, {os.cpu_count()} logical CPUs, "
             f"{platform.system()} {platform.release()}"]
    try:
        from fastrep import _ext

        lines.append(f"cpp: OpenMP {'on' if _ext.openmp else 'off'}, {_ext.num_threads()} threads")
    except ImportError as exc:
        lines.append(f"cpp: not built ({exc})")
    try:
        import numba

        lines.append(f"numba {numba.__version__}: {numba.get_num_threads()} threads")
    except ImportError:
        pass
    import scipy

    lines.append(f"numpy {np.__version__}, scipy {scipy.__version__}, python {platform.python_version()}")
    core = os.environ.get("OPENBLAS_CORETYPE")
    lines.append(f"OPENBLAS_CORETYPE: {'set to ' + repr(core) if core is not None else 'not set'}"
                 + ("" if blas_timed else " (no BLAS call is timed here)"))
    omp = os.environ.get("OMP_NUM_THREADS")
    lines.append(f"OMP_NUM_THREADS: {omp if omp is not None else 'not set'}")
    return lines


def md_table(headers, rows) -> str:
    out = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(out)


# --- shared by the asv suites (bench_*.py) -----------------------------------------------------

#: ``ASV_SKIP_SLOW=1`` trims every asv parameter grid so that ``asv run --quick`` stays short.
SKIP_SLOW = os.environ.get("ASV_SKIP_SLOW", "0") == "1"

#: The backends an asv class is parametrized over; unavailable ones are skipped in setup.
BENCH_BACKENDS = ["cpp", "numba", "reference", "cupy"]


def require_backend(name):
    """The backend module, or asv's skip (``NotImplementedError`` in setup) when it cannot run here."""
    from fastrep.backend import BackendUnavailableError, get_backend

    try:
        return get_backend(name)
    except BackendUnavailableError as exc:
        raise NotImplementedError(str(exc)) from None


def device_arrays(backend, *arrays):
    """``arrays`` on the device for backend 'cupy' (and its synchronize), else unchanged (and a no-op)."""
    if backend == "cupy":
        import cupy

        return [None if a is None else cupy.asarray(a) for a in arrays], cupy.cuda.Device().synchronize
    return list(arrays), lambda: None


def fresh_python(code: str, env=None) -> str:
    """Run ``code`` in a fresh interpreter (this one's executable) and return its last stdout line."""
    import subprocess
    import sys

    res = subprocess.run([sys.executable, "-c", code], env={**os.environ, **(env or {})},
                         capture_output=True, text=True, check=False)
    if res.returncode != 0:
        raise RuntimeError(f"child python failed (rc {res.returncode}):\n{res.stderr[-3000:]}")
    return res.stdout.strip().splitlines()[-1]


def peak_rss_mb() -> float:
    """This process's peak resident memory in MiB, from VmHWM in /proc/self/status.

    ``resource.getrusage(RUSAGE_SELF).ru_maxrss`` is not used on Linux: it survives ``execve``,
    so a child started by a large parent reports at least the parent's size at fork time.
    VmHWM belongs to the address space, which ``execve`` replaces.
    """
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
