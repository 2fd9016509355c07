"""Sweeps behind the paper's separation: spec -> cells -> SQLite store -> n*(d), slopes, plots.

>>> from fastrep import experiments
>>> spec = experiments.load_spec("separation")   # a packaged example (fastrep examples)  # doctest: +SKIP
>>> experiments.run(spec, store="runs/sep.sqlite")                  # local processes  # doctest: +SKIP
>>> experiments.run(spec, store="runs/sep.sqlite", executor="dask",
...                 scheduler="tcp://10.0.0.5:8786")                # a Dask cluster    # doctest: +SKIP
>>> experiments.plan.plan(spec).lines()                            # cost first  # doctest: +SKIP
>>> df = experiments.load("runs/sep.sqlite")                        # tidy, read-only  # doctest: +SKIP
>>> experiments.fit_slopes(df, epsilon=0.25)                        # doctest: +SKIP
>>> experiments.write_report("runs/sep.sqlite", "runs/")            # report.md + PNGs  # doctest: +SKIP

Modules: :mod:`.spec` (the sweep format and its checks: parse, checks, grids, targets, model,
diff), :mod:`.presets` (targets and seeds), :mod:`.methods` (the method registry), :mod:`.plan`
(cost before running), :mod:`.runner` (executors), :mod:`.store` (the SQLite store: schema,
writer, read, frame), :mod:`.analysis`, :mod:`.plots` (curves, nstar, overlays, style),
:mod:`.report`, :mod:`.demo` (the embedded demo grids in ``defaults.toml``).
"""

from . import plan
from .analysis import add_arms, fit_slopes, median_curves, n_star, staircase_prediction
from .demo import demo_spec
from .methods import METHODS, register_method
from .report import write_report
from .runner import RunSummary, run
from .spec import RESULTS_VERSION, Cell, SpecError, SweepSpec, load_spec
from .store import ResultStore, StoreBusyError, StoreError, load, load_trajectories, read_store

__all__ = [
    "METHODS",
    "RESULTS_VERSION",
    "Cell",
    "ResultStore",
    "RunSummary",
    "SpecError",
    "StoreBusyError",
    "StoreError",
    "SweepSpec",
    "add_arms",
    "demo_spec",
    "fit_slopes",
    "load",
    "load_spec",
    "load_trajectories",
    "median_curves",
    "n_star",
    "plan",
    "read_store",
    "register_method",
    "run",
    "staircase_prediction",
    "write_report",
]
