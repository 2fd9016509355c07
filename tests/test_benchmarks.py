"""The asv suite runs, and every operation of the kernel contract has a measured ``auto`` order.

A broken benchmark would otherwise only show up when someone runs ``asv``: here every
``benchmarks/bench_*.py`` module is imported and, for each class, ``setup`` plus one call of
every ``time_``/``peakmem_``/``track_`` method runs at the smallest parameters that are not
skipped on this machine (asv's skip is ``NotImplementedError`` in setup).
"""

from __future__ import annotations

import importlib
import inspect
import itertools
import math
import re
import warnings
from pathlib import Path

import numpy as np
import pytest

from fastrep import backend as backend_mod
from fastrep._kernels import ARRAY_OPS, HOT_OPS, LINALG_OPS, reference

ROOT = Path(__file__).resolve().parent.parent
BENCH_MODULES = sorted(p.stem for p in (ROOT / "benchmarks").glob("bench_*.py"))
PREFIXES = ("time_", "peakmem_", "track_", "mem_", "timeraw_")


def _classes():
    out = []
    for name in BENCH_MODULES:
        mod = importlib.import_module(f"benchmarks.{name}")
        for cname, cls in inspect.getmembers(mod, inspect.isclass):
            if cls.__module__ == mod.__name__ and any(m.startswith(PREFIXES) for m in dir(cls)):
                out.append(pytest.param(cls, id=f"{name}.{cname}"))
    return out


def _smallest_first(params):
    """Parameter combinations, the cheapest first: numeric lists ascending, others as listed."""
    if not params:
        return [()]
    if not isinstance(params[0], (list, tuple)):  # asv allows a single flat list
        params = [params]
    ordered = [sorted(p) if all(isinstance(v, (int, float)) for v in p) else list(p) for p in params]
    combos = list(itertools.product(*ordered))
    # cheapest: the product of the numeric parameters (stable, so the listed order breaks ties)
    return sorted(combos, key=lambda c: math.prod(v for v in c if isinstance(v, (int, float))))


def test_bench_modules_found():
    want = {"bench_hermite", "bench_onestep", "bench_kernels", "bench_stream", "bench_startup"}
    assert want <= set(BENCH_MODULES)


@pytest.mark.parametrize("cls", _classes())
def test_benchmark_runs_once(cls):
    methods = sorted(m for m in dir(cls) if m.startswith(PREFIXES))
    assert methods
    for combo in _smallest_first(getattr(cls, "params", [])):
        bench = cls()
        try:
            if hasattr(bench, "setup"):
                bench.setup(*combo)
        except NotImplementedError:
            continue  # asv's skip: try the next cheapest combination
        try:
            for m in methods:
                value = getattr(bench, m)(*combo)
                if m.startswith("track_"):
                    assert isinstance(value, (int, float)) and math.isfinite(value) and value >= 0, (m, value)
                    assert getattr(getattr(cls, m), "unit", None), f"{cls.__name__}.{m} has no unit"
                elif m.startswith(("time_", "peakmem_")):
                    assert value is None, f"{cls.__name__}.{m} returns a value asv would ignore"
        finally:
            if hasattr(bench, "teardown"):
                bench.teardown(*combo)
        names = getattr(cls, "param_names", [])
        if getattr(cls, "params", None):
            assert len(names) == len(combo), f"{cls.__name__}: param_names do not match params"
        if any(m.startswith("peakmem_") and m != "peakmem_reference" for m in methods):
            assert "peakmem_reference" in methods, f"{cls.__name__} has peakmem_ without a peakmem_reference"
        return
    pytest.fail(f"every parameter combination of {cls.__name__} was skipped on this machine")


def _kernel_ops():
    """The contract's hot operations, plus every public function that all CPU backend modules share
    (array handling and LAPACK calls excepted: they follow DEFAULT_CPU_ORDER, see DEFAULT_ORDER_OPS)."""
    ops = {n for n, f in vars(reference).items() if inspect.isfunction(f) and not n.startswith("_")}
    for name in ("cpp", "numba"):
        try:
            mod = backend_mod.get_backend(name)
        except backend_mod.BackendUnavailableError:
            continue
        ops &= {n for n in ops if callable(getattr(mod, n, None))}  # drops reference-only helpers
    return sorted((set(HOT_OPS) | ops) - set(ARRAY_OPS) - set(LINALG_OPS))


def test_every_op_has_an_auto_order():
    """Each op is in AUTO_PREFERENCE (a measured order) or named in DEFAULT_ORDER_OPS (documented)."""
    ops = _kernel_ops()
    assert set(HOT_OPS) <= set(ops)
    documented = set(getattr(backend_mod, "DEFAULT_ORDER_OPS", ()))
    missing = [op for op in ops if op not in backend_mod.AUTO_PREFERENCE and op not in documented]
    assert not missing, f"operations without an AUTO_PREFERENCE entry: {missing}"
    for op, order in backend_mod.AUTO_PREFERENCE.items():
        assert order and set(order) <= {"cpp", "numba", "reference"}, (op, order)
        assert order[-1] == "reference", f"{op}: the reference must stay the last resort"
        assert len(set(order)) == len(order), (op, order)


def test_auto_preference_entries_cite_the_measurement():
    """Each AUTO_PREFERENCE line carries a comment that points at the RESULTS.md table behind it."""
    src = Path(backend_mod.__file__).read_text()
    block = src[src.index("AUTO_PREFERENCE: dict"):]
    block = block[:block.index("\n}\n")]
    for op in backend_mod.AUTO_PREFERENCE:
        line = next(ln for ln in block.splitlines() if re.search(rf'"{op}"\s*:', ln))
        assert "RESULTS.md" in line, f"AUTO_PREFERENCE[{op!r}] has no comment citing benchmarks/RESULTS.md"


def test_auto_resolves_to_the_first_available_preference(monkeypatch):
    monkeypatch.delenv("FASTREP_BACKEND", raising=False)
    for op, order in backend_mod.AUTO_PREFERENCE.items():
        want = None
        for name in order:
            try:
                want = backend_mod.get_backend(name)
                break
            except backend_mod.BackendUnavailableError:
                continue
        with warnings.catch_warnings():  # "running without its compiled core" where cpp is not built
            warnings.simplefilter("ignore", RuntimeWarning)
            got = backend_mod.resolve("auto", op)
        assert got is want, op


def _report():
    import sys

    sys.path.insert(0, str(ROOT / "benchmarks"))  # report.py imports the compare scripts by name
    return importlib.import_module("benchmarks.report")


def test_report_exponent_and_race():
    report = _report()
    rng = np.random.default_rng(0)
    k = rng.uniform(0.5, 3.0)
    xs = np.array([1e3, 2e3, 4e3, 8e3])
    assert report.exponent(xs, 0.1 * xs**k) == pytest.approx(k, rel=1e-9)
    calls = {"a": 0, "b": 0}

    def bump(key):
        calls[key] += 1

    t = report.race({"a": lambda: bump("a"), "b": lambda: bump("b")}, repeats=3, warmup=1)
    assert set(t) == {"a", "b"} and all(v >= 0 for v in t.values())
    assert calls == {"a": 4, "b": 4}


def test_report_runs_every_compare_script_without_big_float64_factorizations():
    report = _report()
    scripts = {p.stem for p in (ROOT / "benchmarks").glob("compare_*.py")}
    for quick in (True, False):
        runs = report.compare_runs(quick)
        assert {module for _, module, _ in runs} == scripts
        for _, module, argv in runs:
            mod = importlib.import_module(module)
            assert "argv" in inspect.signature(mod.main).parameters, module
            if module == "compare_kernels" and not quick:
                assert int(argv[argv.index("--exact-n") + 1]) <= 8192


def test_report_measures_every_op_with_an_auto_choice():
    """The report's backend-choice tables cover every op that ``auto`` resolves."""
    report = _report()
    ops = {op.name for op in report.make_ops(quick=True)}
    assert set(_kernel_ops()) <= ops
