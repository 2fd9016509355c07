"""The ``fastrep`` command: ``demo``, ``sweep``, ``report``, ``examples``, ``backends``.

User mistakes (a bad spec, a foreign store file, a missing file, an unreachable
scheduler) print one line ``fastrep: error: ...`` on stderr and exit with status 2.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import os
import re
import shutil
import sys
import textwrap
import time
from pathlib import Path

__all__ = ["main"]

_RESULTS = Path("fastrep-results")


class _Formatter(argparse.HelpFormatter):
    """Help wrapped to the terminal (at most 100 columns), paragraph by paragraph; a paragraph
    whose lines are indented or that opens with ``examples:`` (the command lines) stays as written."""

    def __init__(self, prog, **kwargs):
        kwargs.setdefault("width", max(40, min(100, shutil.get_terminal_size().columns - 2)))
        super().__init__(prog, **kwargs)

    def _fill_text(self, text, width, indent):
        text = _estimates(text)
        paragraphs = []
        for para in text.strip("\n").split("\n\n"):
            lines = para.splitlines()
            if lines[0].rstrip().endswith(":") or any(line.startswith("  ") for line in lines):
                paragraphs.append("\n".join(indent + line for line in lines))
            else:
                flat = " ".join(line.strip() for line in lines)
                paragraphs.append(textwrap.fill(flat, width, initial_indent=indent, subsequent_indent=indent))
        return "\n\n".join(paragraphs)

    def _get_help_string(self, action):
        return _estimates(super()._get_help_string(action))


_ESTIMATE = re.compile(r"\{estimate:(\w+)\}")

#: The wall time of one run of `fastrep demo --beyond` on the development machine (the report in
#: fastrep/experiments/examples/demo-beyond/ states its load).
_BEYOND_MEASURED = "8.2 min on 2 cores busy with other jobs (load 9-12)"

#: What has been measured of `fastrep demo --large-kernels` (benchmarks/RESULTS_KERNELS.md,
#: "kernel study")
_KERNELS_MEASURED = ("Not yet run end to end on 2 cores; what ran (d = 32 with 3 seeds, d = 48 with one): "
                     "benchmarks/RESULTS_KERNELS.md, \"Kernel study\"")


@functools.lru_cache(maxsize=None)
def _demo_estimate(grid: str) -> str:
    """The plan's estimate of a demo grid on this machine's default lanes: the number that
    `fastrep demo --dry-run` prints, computed only when a help text shows it."""
    from .experiments import demo_spec
    from .experiments.plan import format_seconds, plan
    from .experiments.runner import lanes

    workers, threads = lanes("processes", None, None)
    return format_seconds(plan(demo_spec(grid), workers=workers, threads=threads).time_s)


def _estimates(text: str) -> str:
    """``{estimate:GRID}`` in a help text -> the plan's estimate of that demo grid here."""
    return _ESTIMATE.sub(lambda m: _demo_estimate(m.group(1)), text)


class _Parser(argparse.ArgumentParser):
    """argparse with whole option names only (``--stor`` is not ``--store``), wrapped help, and a
    usage error in one line (with a pointer to --help), exit status 2."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("allow_abbrev", False)
        kwargs.setdefault("formatter_class", _Formatter)
        super().__init__(*args, **kwargs)

    def error(self, message):
        self.exit(2, f"fastrep: error: {message} (see `{self.prog} --help`)\n")


class UserError(Exception):
    """A mistake the user can fix; printed as one line, exit status 2."""


def _print_summary(summary) -> None:
    print(summary, file=sys.stderr)


def _executor(args) -> str:
    return "dask" if args.scheduler else ("serial" if args.serial else "processes")


def _dry_run(spec, store: Path, args) -> int:
    from .experiments.plan import count_only, plan
    from .experiments.runner import lanes
    from .experiments.spec import LIMITS

    executor = _executor(args)
    workers, threads = lanes(executor, args.workers, args.threads)
    total = spec.count()
    if total > LIMITS["cells_hard"]:
        counts = count_only(spec)
        print(f"sweep {spec.name!r}: {total:,} cells, more than fastrep runs ({LIMITS['cells_hard']:,})")
        for (label, d), c in sorted(counts.items()):
            print(f"  {label} d={d}: {c:,} cells")
        return 0
    already = None
    if store.exists():  # the run's own checks, read-only (nothing is created beside the store)
        from .experiments.runner import check_same_setting
        from .experiments.store import check_results_version, read_store

        snap = read_store(store)
        check_results_version(store, snap.meta)
        check_same_setting(store, snap.sweeps, spec)
        stored = snap.cells["cell_id"][snap.cells["sweep"] == spec.name]
        if total <= LIMITS["cells"]:
            done = set(stored)
            already = sum(c.cell_id in done for c in spec.cells())
        else:  # not built cell by cell: the same setting, so the sweep's stored cells are its own
            already = len(stored)
    p = plan(spec, workers=workers or 1, threads=threads)
    for line in p.lines():
        print(line)
    if already is not None:
        print(f"store {store}: {already:,} of these cells are already there; {total - already:,} would run")
    limits = []
    if total > LIMITS["cells"]:
        limits.append(f"more than {LIMITS['cells']:,} cells")
    if p.time_s > LIMITS["cost_s"]:
        limits.append(f"estimated over {LIMITS['cost_s'] / 3600:.0f} h")
    if limits:
        print(f"this sweep is beyond the limits ({'; '.join(limits)}): running it needs --yes")
    return 0


@contextlib.contextmanager
def _store_errors(store: Path):
    """SQLite's own errors ("unable to open database file") name the store they are about."""
    import sqlite3

    try:
        yield
    except sqlite3.Error as exc:
        raise UserError(f"results store {store}: {_first_line(exc)}") from None


def _run_and_report(spec, store: Path, out_dir: Path, args, *, title: str) -> int:
    with _store_errors(store):
        return _run_and_report_(spec, store, out_dir, args, title=title)


def _run_and_report_(spec, store: Path, out_dir: Path, args, *, title: str) -> int:
    from .experiments import run, write_report

    if getattr(args, "dry_run", False):
        return _dry_run(spec, store, args)
    t0 = time.perf_counter()
    summary = run(
        spec,
        store=store,
        executor=_executor(args),
        scheduler=args.scheduler,
        workers=args.workers,
        threads=args.threads,
        progress=not args.no_progress,
        yes=getattr(args, "yes", False),
    )
    _print_summary(summary)
    report = write_report(store, out_dir, title=title)
    print(f"report: {report}  ({time.perf_counter() - t0:.1f} s in all){_other_report(report)}")
    if summary.cells_failed:
        print(
            f"fastrep: {summary.cells_failed} cells failed (errors are in the store's failures table and in "
            f"the report); re-run the same command to retry them",
            file=sys.stderr,
        )
        return 1
    return 0


def _add_exec_options(p) -> None:
    g = p.add_argument_group("execution")
    g.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="run the cells on this dask.distributed scheduler (e.g. tcp://10.0.0.5:8786) "
        "instead of local processes",
    )
    g.add_argument("--workers", type=int, metavar="N", help="local worker processes (default: one per core)")
    g.add_argument(
        "--threads",
        type=int,
        metavar="N",
        help="BLAS/OpenMP/Numba threads per cell (default 1 on every executor, so that serial, "
        "processes and Dask store the same bits; another count can change the last bits)",
    )
    g.add_argument("--serial", action="store_true", help="run the cells one by one in this process")
    g.add_argument("--no-progress", action="store_true", help="no progress bar")


def _cmd_demo(args) -> int:
    from .experiments import demo_spec

    chosen = [f"--{g.replace('_', '-')}" for g in ("quick", "large", "large_kernels", "beyond")
              if getattr(args, g, False)]
    if len(chosen) > 1:
        raise UserError(f"{chosen[0]} and {chosen[1]} are different grids; give one of them")
    if args.beyond:
        return _cmd_demo_beyond(args)
    if args.large_kernels:
        return _cmd_demo_large_kernels(args)
    spec = demo_spec("quick" if args.quick else "large" if args.large else "full")
    out = Path(args.out) / spec.name
    store = out / "results.sqlite"
    print(f"fastrep demo: sweep {spec.name!r}, {len(spec.cells())} cells; store {store}", file=sys.stderr)
    return _run_and_report(spec, store, out, args, title=f"fastrep demo: {spec.name}")


def _cmd_demo_beyond(args) -> int:
    """``fastrep demo --beyond``: the study's sweeps into one store, then one report."""
    from .experiments import run, write_report
    from .experiments.demo import beyond_specs
    from .experiments.plan import format_seconds, plan
    from .experiments.runner import lanes

    specs = beyond_specs()
    out = Path(args.out) / "beyond"
    store = out / "results.sqlite"
    cells = sum(len(s.cells()) for s in specs)
    print(f"fastrep demo --beyond: {len(specs)} sweeps ({', '.join(s.name for s in specs)}), {cells} cells; "
          f"store {store}", file=sys.stderr)
    with _store_errors(store):
        if args.dry_run:
            workers, threads = lanes(_executor(args), args.workers, args.threads)
            for spec in specs:
                _dry_run(spec, store, args)
                print()
            total = sum(plan(s, workers=workers or 1, threads=threads).time_s for s in specs)
            print(f"the study: {cells:,} cells in {len(specs)} sweeps, estimated {format_seconds(total)} in "
                  f"all (measured: {_BEYOND_MEASURED}); report in {out}")
            return 0
        t0 = time.perf_counter()
        failed = 0
        for spec in specs:
            summary = run(spec, store=store, executor=_executor(args), scheduler=args.scheduler,
                          workers=args.workers, threads=args.threads, progress=not args.no_progress)
            _print_summary(summary)
            failed += summary.cells_failed
        report = write_report(store, out, title="fastrep demo --beyond: beyond one step")
        print(f"report: {report}  ({time.perf_counter() - t0:.1f} s in all){_other_report(report)}")
    if failed:
        print(f"fastrep: {failed} cells failed (errors are in the store's failures table and in the report); "
              "re-run the same command to retry them", file=sys.stderr)
        return 1
    return 0


def _cmd_demo_large_kernels(args) -> int:
    """``fastrep demo --large-kernels``: the kernel study (NTK ridge by the Nystrom solver at
    d = 32, 48, 64) into its own store; its cells extend the large study's report
    (``fastrep report LARGE_STORE --with THIS_STORE``)."""
    from .experiments import demo_spec, run, write_report
    from .experiments.kernel_study import kernel_study_plan
    from .experiments.plan import format_seconds

    spec = demo_spec("large_kernels")
    out = Path(args.out) / spec.name
    store = out / "results.sqlite"
    large = Path(args.out) / demo_spec("large").name / "results.sqlite"
    # one worker holding the whole machine's BLAS threads by default: each d = 64 cell holds a
    # 9 GB preconditioner, and its factorizations are what the threads speed up
    workers = 1 if args.workers is None else args.workers
    threads = args.threads or _cores()
    if args.scheduler:
        workers = args.workers or 1
    print(f"fastrep demo --large-kernels: sweep {spec.name!r}, {spec.count()} cells; store {store}",
          file=sys.stderr)
    p = kernel_study_plan(spec, workers=workers, threads=threads)
    with _store_errors(store):
        if args.dry_run:
            for line in p.lines():
                print(line)
            print(_KERNELS_MEASURED)
            if store.exists():
                from .experiments.runner import check_same_setting
                from .experiments.store import read_store

                snap = read_store(store)
                check_same_setting(store, snap.sweeps, spec)
                done = set(snap.cells["cell_id"][snap.cells["sweep"] == spec.name])
                have = sum(c.cell_id in done for c in spec.cells())
                print(f"store {store}: {have} of these cells are already there; "
                      f"{spec.count() - have} would run")
            print(f"then: fastrep report {large} --with {store}   "
                  "(the large study's report with these cells)")
            return 0
        _check_machine_memory(p, workers, args.scheduler)
        t0 = time.perf_counter()
        summary = run(spec, store=store, executor=_executor(args), scheduler=args.scheduler, workers=workers,
                      threads=threads, progress=not args.no_progress, yes=True)
        _print_summary(summary)
        report = write_report(store, out, title=f"fastrep demo --large-kernels: {spec.name}")
        print(f"report: {report}  ({time.perf_counter() - t0:.1f} s in all; estimated "
              f"{format_seconds(p.time_s)}){_other_report(report)}")
    if large.is_file():
        print(f"the large study's report with these cells: fastrep report {large} --with {store}")
    if summary.cells_failed:
        print(f"fastrep: {summary.cells_failed} cells failed (errors are in the store's failures table and "
              "in the report); re-run the same command to retry them", file=sys.stderr)
        return 1
    return 0


def _cores() -> int:
    from .experiments._resources import cores

    return cores()


def _check_machine_memory(p, workers: int, scheduler) -> None:
    """Refuse, before any cell, a kernel study whose workers need more memory than this machine
    has: the estimator trusts ``max_memory`` (it refuses only an M that cannot fit it), so a
    budget above the machine's memory would be found out by the system, mid-factorization."""
    if scheduler:  # the cells run elsewhere
        return
    from .experiments.plan import _machine_memory

    total = _machine_memory()
    need = p.peak_cell_bytes * max(1, workers)
    if total and need > total:
        raise UserError(
            f"the kernel study's largest cell needs about {p.peak_cell_bytes / 2**30:.1f} GiB per worker "
            f"(its NTK cells run under max_memory = {p.max_memory / 1e9:g} GB), {need / 2**30:.1f} GiB for "
            f"{workers} workers, and this machine has {total / 2**30:.1f} GiB; use fewer --workers or a "
            "larger machine (a smaller max_memory changes the study's setting: copy its [large_kernels] "
            "table and run it with `fastrep sweep --as NAME`)"
        )


def _cmd_sweep(args) -> int:
    from .experiments import load_spec

    try:
        spec = load_spec(Path(args.spec))
    except UnicodeDecodeError as exc:
        raise UserError(f"{args.spec}: {_first_line(exc)}") from None
    except RecursionError:
        raise UserError(
            f"{args.spec}: nested too deeply to read (arrays or tables inside each other)"
        ) from None
    if args.as_name:
        spec = spec.renamed(args.as_name)
    store = Path(args.store) if args.store else _RESULTS / spec.name / "results.sqlite"
    out = Path(args.report) if args.report else store.parent
    return _run_and_report(spec, store, out, args, title=f"fastrep sweep: {spec.name}")


def _cmd_report(args) -> int:
    from .experiments import write_report
    from .experiments.report import ReportOutputError

    store = Path(args.store)
    if not store.is_file():
        raise UserError(f"no results store at {store}")
    for other in args.with_stores:
        if not Path(other).is_file():
            raise UserError(f"--with: no results store at {other}")
    try:
        with _store_errors(store):
            path = write_report(store, Path(args.out) if args.out else None, n_boot=args.bootstrap,
                                with_stores=[Path(w) for w in args.with_stores])
    except ReportOutputError as exc:
        raise UserError(f"--out: {exc}") from None
    print(f"report: {path}{_other_report(path)}")
    return 0


def _other_report(path: Path) -> str:
    """A note when the report went under another name because report.md is another store's."""
    if path.name == "report.md":
        return ""
    return f"  (not report.md: {path.parent / 'report.md'} is the report of another store, left as it is)"


def _cmd_examples(args) -> int:
    from .experiments import examples

    if args.name is None:
        names = examples.names()
        width = max(map(len, names))
        for name in names:
            print(f"{name:<{width}}  {examples.describe(name)}")
        print("print one: fastrep examples NAME; run one: fastrep sweep NAME; a C++ program that embeds "
              f"the core: {examples.embed_source()}", file=sys.stderr)
        return 0
    try:
        text = examples.text(args.name)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    sys.stdout.write(text)
    return 0


def _cmd_backends(args) -> int:
    from . import __version__, backends
    from .backend import AUTO_PREFERENCE, DEFAULT_CPU_ORDER, fit_plan

    print(f"fastrep {__version__}")
    status = backends()
    width = max(map(len, status))
    for name, state in status.items():
        print(f"  {name:<{width}}  {state.removeprefix(f'{name}: ')}")
    avail = [b for b in DEFAULT_CPU_ORDER if status.get(b) == "available"]
    print(f"'auto' on CPU arrays: {avail[0] if avail else 'reference'} by default", end="")
    if AUTO_PREFERENCE:
        print(
            "; per operation: "
            + ", ".join(
                f"{op} -> {next((b for b in order if status.get(b) == 'available'), 'reference')}"
                for op, order in sorted(AUTO_PREFERENCE.items())
            )
        )
    else:
        print()
    print("a fit with backend='auto' on NumPy data runs (family -> backend, as recorded in backend_):")
    for learner, plan in fit_plan("auto").items():
        print(f"  {learner}: " + ", ".join(f"{family} -> {name}" for family, name in plan.items()))
    return 0


def _parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="fastrep",
        description="Feature learning against kernels at large d: run the paper's separation and plot it.",
        epilog="examples:\n  fastrep demo            # the separation study, about {estimate:full} here\n"
        "  fastrep demo --quick    # a small version, about {estimate:quick} here\n"
        "  fastrep examples        # the example sweeps that ship with fastrep\n"
        "  fastrep sweep separation --store runs/sep.sqlite\n"
        "  fastrep report runs/sep.sqlite\n  fastrep backends",
    )
    from . import __version__

    p.add_argument("--version", action="version", version=f"fastrep {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", required=True)

    d = sub.add_parser(
        "demo",
        help="run the default separation study and write its report",
        description="Run the embedded separation study (degree-3 target, r = 2: one-step network, "
        "NTK ridge, oracle, transfer) on local processes, store the results in SQLite "
        "and write report.md with the figures, about {estimate:full} here. Re-running resumes: "
        "finished cells are skipped.",
        epilog="examples:\n  fastrep demo\n  fastrep demo --quick --out /tmp/fr\n"
        "  fastrep demo --beyond --dry-run\n"
        "  fastrep demo --large-kernels --dry-run\n"
        "  fastrep demo --scheduler tcp://10.0.0.5:8786",
    )
    d.add_argument(
        "--quick", action="store_true", help="a much smaller grid (estimated at {estimate:quick} here)"
    )
    d.add_argument(
        "--dry-run",
        action="store_true",
        help="print the cells per method and d, the estimated time and peak memory, and exit",
    )
    d.add_argument(
        "--large",
        action="store_true",
        help="the large-d study: network to d = 512, NTK ridge to d = 32, both sides predicted to "
        "d = 4096 in the report (estimated at {estimate:large} here; --dry-run prints the whole plan)",
    )
    d.add_argument(
        "--large-kernels",
        action="store_true",
        help="the large study's kernel study: NTK ridge by the Nystrom solver (float32, the centre rule, "
        "max_memory = 16 GB: M up to 47,840) at d = 48 and 64 around the predicted n* and at d = 32 beside "
        "the large study's exact solves; one worker with every core's threads by default. "
        + _KERNELS_MEASURED + ". `--dry-run` prints each cell's M, memory and estimated time (2-2.5 h on the "
        "development machine's 2 cores, idle; one d = 64 fit at n = 1e5 took 7.1 min). At d = 32 the "
        "centre rule's M = 6,512 left the error 1.1-1.4x the exact solve's: the study's n* are upper "
        "bounds where the centres, not n, limit the error. Its cells extend the large study's report: "
        "fastrep report LARGE_STORE --with KERNEL_STORE. A GPU would take minutes (estimated, not "
        "measured): the estimator runs on the device with backend = 'cupy' in the study's ntk options "
        "(a new setting: run that table with `fastrep sweep --as NAME`)",
    )
    d.add_argument(
        "--beyond",
        action="store_true",
        help="the beyond-one-step study: T = 1 against T = 2 on the separation target; on He3, "
        "Algorithm 1 at n = 4d^2, two steps on a reused batch against fresh batches, online SGD plain "
        "and smoothed; the staircase's steps (measured: " + _BEYOND_MEASURED + "; --dry-run prints the plan)",
    )
    d.add_argument(
        "--out",
        default=str(_RESULTS),
        metavar="DIR",
        help="results folder (default: ./fastrep-results); the store and report go in DIR/<sweep name>/ "
        "(DIR/beyond/ for --beyond)",
    )
    _add_exec_options(d)
    d.set_defaults(func=_cmd_demo)

    s = sub.add_parser(
        "sweep",
        help="run a sweep from a TOML spec",
        description="Run every cell of a sweep spec that the store does not hold yet, then write "
        "the report. SPEC is a TOML file or the name of an example that ships with fastrep "
        "(`fastrep examples` lists them; `fastrep examples NAME > my.toml` copies one to edit). "
        "Every value is checked first; a sweep name the store holds with another setting is "
        "refused (--as NAME); more than 10^5 cells or an estimate over a day needs --yes. "
        "The format is documented in fastrep/experiments/spec/__init__.py.",
        epilog="examples:\n  fastrep sweep separation\n  fastrep sweep my.toml\n"
        "  fastrep sweep my.toml --dry-run    # cells, time, memory; runs nothing\n"
        "  fastrep sweep spec.toml --store runs/sep.sqlite --workers 4\n"
        "  fastrep sweep w50.toml --as sep-w50    # a changed setting, new name\n"
        "  fastrep sweep spec.toml --scheduler tcp://10.0.0.5:8786",
    )
    s.add_argument("spec", metavar="SPEC", help="a sweep spec (TOML file) or a packaged example's name")
    s.add_argument(
        "--store",
        metavar="PATH",
        help="SQLite results store (default: ./fastrep-results/<sweep name>/results.sqlite)",
    )
    s.add_argument(
        "--report", metavar="DIR", help="where report.md and the figures go (default: the store's folder)"
    )
    s.add_argument(
        "--as",
        dest="as_name",
        metavar="NAME",
        help="run the spec under this sweep name (a store refuses a known name with another setting)",
    )
    s.add_argument(
        "--dry-run",
        action="store_true",
        help="print the cells per method and d, the estimated time and peak memory, and exit",
    )
    s.add_argument(
        "--yes",
        action="store_true",
        help="run a sweep beyond the limits (10^5 cells, or estimated over a day)",
    )
    _add_exec_options(s)
    s.set_defaults(func=_cmd_sweep)

    r = sub.add_parser(
        "report",
        help="figures and report.md from a store (nothing is rerun)",
        description="Read a results store and write the figures (PNG) and report.md: fitted slopes "
        "with bootstrap intervals, the n* table, machine and timings.",
        epilog="examples:\n  fastrep report fastrep-results/separation/results.sqlite\n"
        "  fastrep report runs/sep.sqlite --out figures/",
    )
    r.add_argument("store", metavar="STORE", help="a fastrep results store (SQLite)")
    r.add_argument("--out", metavar="DIR", help="output folder (default: the store's folder)")
    r.add_argument(
        "--bootstrap",
        type=int,
        default=1000,
        metavar="B",
        help="bootstrap replicates of the slope intervals (default 1000, at most 100000)",
    )
    r.add_argument(
        "--with",
        dest="with_stores",
        action="append",
        default=[],
        metavar="STORE2",
        help="another store whose NTK cells extend the large study's NTK arm (the kernel study's); "
        "repeatable, only read",
    )
    r.set_defaults(func=_cmd_report)

    e = sub.add_parser(
        "examples",
        help="list the example sweeps that ship with fastrep, or print one",
        description="Without NAME: one line per example sweep spec that ships with fastrep. With "
        "NAME: print that spec (TOML, with its comments) to copy and edit. `fastrep sweep NAME` "
        "runs one as it is.",
        epilog="examples:\n  fastrep examples\n  fastrep examples separation > my.toml\n"
        "  fastrep sweep my.toml",
    )
    e.add_argument("name", nargs="?", metavar="NAME", help="an example's name (default: list them)")
    e.set_defaults(func=_cmd_examples)

    b = sub.add_parser(
        "backends",
        help="which compute backends run here",
        description="List every backend (reference, cpp, numba, cupy): available, or why not.",
        epilog="example:\n  fastrep backends\n  FASTREP_BACKEND=numba fastrep backends",
    )
    b.set_defaults(func=_cmd_backends)
    return p


def _user_errors() -> tuple:
    """The exception classes whose message is a user's mistake to print in one line."""
    import sqlite3

    from .backend import BackendUnavailableError
    from .experiments.methods import OptionError
    from .experiments.report import ReportOutputError
    from .experiments.runner import ExecutorError
    from .experiments.spec import SpecError
    from .experiments.store import StoreError

    # OSError: a file or folder of the user's (missing, read-only, a folder for a file);
    # sqlite3.Error: a store that cannot be opened or written; MemoryError: a size refused by the
    # memory budget before anything was allocated (its message names the argument)
    return (UserError, SpecError, StoreError, ExecutorError, OptionError, ReportOutputError,
            BackendUnavailableError, UnicodeError, OSError, sqlite3.Error, MemoryError)


def _check_backend_env(args) -> None:
    """FASTREP_BACKEND names a backend that exists, and, for a sweep that runs here, one that runs
    here: refused before the first cell instead of failing every cell."""
    from .experiments.runner import check_env_backend

    check_env_backend(here=args.command in ("demo", "sweep") and not getattr(args, "scheduler", None))


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    if isinstance(exc, UnicodeDecodeError):
        return f"{exc.reason} at byte {exc.start} ({exc.encoding}); the file must be UTF-8 text"
    if isinstance(exc, OSError) and exc.filename is not None and exc.strerror:
        return f"{exc.filename}: {exc.strerror}"
    return text.splitlines()[0] if text else type(exc).__name__


def _silence_stdout() -> None:
    """The reader of stdout left (``fastrep backends | head -1``): point stdout at /dev/null so
    the flush at exit does not fail again."""
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())


def main(argv=None) -> int:
    """Entry point of the ``fastrep`` console script; returns the exit status.

    A user's mistake prints one line ``fastrep: error: ...`` and returns 2; Ctrl-C prints one
    line and returns 130; a reader that closes the output early (``| head``) is not an error.
    """
    try:
        code = _main(argv)
        sys.stdout.flush()  # here, not at exit, so that a reader gone early is caught below
        return code
    except BrokenPipeError:  # `fastrep backends | head -1`: the reader left; not an error of ours
        _silence_stdout()
        return 0
    except KeyboardInterrupt:
        with contextlib.suppress(OSError):
            print(
                "fastrep: interrupted; finished cells are saved, re-run the same command to resume",
                file=sys.stderr,
            )
        return 130


def _main(argv) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    from .experiments.analysis import MAX_BOOT

    for name in ("workers", "threads", "bootstrap"):
        v = getattr(args, name, None)
        if v is not None and v < 1:
            parser.error(f"--{name} must be a positive integer; got {v}")
    if getattr(args, "bootstrap", None) is not None and args.bootstrap > MAX_BOOT:
        parser.error(f"--bootstrap must be at most {MAX_BOOT:,}; got {args.bootstrap:,}")
    errors = _user_errors()
    try:
        _check_backend_env(args)
        return args.func(args)
    except BrokenPipeError:
        raise
    except errors as exc:
        print(f"fastrep: error: {_first_line(exc)}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
