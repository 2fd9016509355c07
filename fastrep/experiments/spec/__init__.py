"""Sweep specifications: what to run, checked completely before anything runs.

A sweep is written as TOML (or the same structure as a Python dict)::

    name = "separation"
    epsilon = 0.25            # error threshold for n*(d)
    seeds = 3                 # or an explicit list, e.g. [0, 1, 2]

    [target]                  # a preset, or explicit Hermite terms
    preset = "separation"     # separation | single_index | random | giant_step | staircase | ...
    noise = 0.0               # label-noise variance sigma^2
    # terms = [{alpha = [2, 0], coef = 1.0}, {alpha = [1, 1], coef = 0.5}]

    [grid]
    d = [8, 12, 16]
    n = {start = 250, stop = 16000, factor = 2}   # geometric; or a list of integers

    [evaluation]
    n_val = 2000              # validation samples (ridge selection)
    n_test = 5000             # test samples for the excess error

    [methods.onestep]         # the table name is the label; `method` defaults to it
    width = 1000              # every other key is an option of the learner, except
    seeds = 16                # per-method seeds (count or list), overriding the sweep's

    [methods.ntk]
    n = {start = 250, stop = 8000}   # per-method grid override (also `d`)
    n_max = {factor = 1, power = 3}  # and per-d limits: only n <= d^3 (also n_min)

    [methods.transfer]
    n = [50, 100, 200, 400]          # the n_t grid
    [methods.transfer.source]
    target = {preset = "random", p = 2}   # the source head; U is shared with the target
    n = {factor = 8, power = 2}           # n_s = ceil(8 d^2), or an integer

Everything is checked before anything runs, and every error raises :class:`SpecError` (a
``ValueError``) whose message starts with the offending key, e.g. ``grid.n[2]: must be a
positive integer; got -5``:

* ``name``: 1-100 of ``A-Z a-z 0-9 _ . -`` (it names folders under the results folder);
* every option by the learner itself: the estimator is built with the options and its own
  parameter validation runs (``width = 51`` fails as ``OneStepNetwork(width=51)`` would),
  ``backend`` must be one that runs here; the learner's defaults are filled in, so
  ``{}`` and ``{width = 1000}`` are one setting;
* the target by building it at every d (r <= d, preset arguments), degree <= 50;
* seeds by :func:`fastrep._validation.check_seed` (0 <= seed <= 2**63 - 1);
* sizes by :data:`LIMITS` (grids of at most 10^4 values, n <= 10^9, n_val/n_test <= 10^8,
  laws ``ceil(c d^k)`` with k <= 10). The cell count and the estimated time (see
  :mod:`.plan`) are checked by :func:`~.runner.run`, which refuses more than 10^5 cells or
  a day unless ``yes=True`` (``fastrep sweep --yes``).

A *cell* is one (target, d, n, method, seed, options) combination; see :class:`Cell`.
Its identity is the SHA-256 of its canonical JSON, the primary key of the results store:
the whole setting (resolved target, every option, evaluation sizes, the
:data:`RESULTS_VERSION`). A store refuses a sweep name it already holds with another
setting (``fastrep sweep --as NEW_NAME`` runs it under a new name); a grown grid or more
seeds under the same setting extend the sweep.

Modules: :mod:`.parse` (:func:`load_spec`: reading and checking a spec), :mod:`.checks`
(:data:`LIMITS`, :class:`SpecError`, value checks), :mod:`.grids` (grids, seeds, laws in d),
:mod:`.targets` (the canonical target table), :mod:`.model` (:class:`SweepSpec`,
:class:`MethodSpec`, :class:`Cell`), :mod:`.diff` (:func:`setting_differences`).
"""

from ..presets import RESULTS_VERSION
from .checks import LIMITS, SpecError, check_name
from .diff import flat_keys, setting_differences
from .grids import d_law, geometric_grid, source_n  # noqa: F401  (d_law, source_n: public helpers)
from .model import Cell, MethodSpec, SweepSpec, cell_id  # noqa: F401  (cell_id: a public helper)
from .parse import load_spec

__all__ = [
    "LIMITS",
    "RESULTS_VERSION",
    "Cell",
    "MethodSpec",
    "SpecError",
    "SweepSpec",
    "check_name",
    "flat_keys",
    "geometric_grid",
    "load_spec",
    "setting_differences",
]
