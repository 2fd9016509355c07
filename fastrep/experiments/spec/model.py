"""The data model of a validated sweep: :class:`SweepSpec`, :class:`MethodSpec`, :class:`Cell`.

These frozen dataclasses hold a spec after every check has passed. :class:`SweepSpec` expands
into its cells (method, d, n, seed) and into the canonical dict stored beside the results;
a :class:`Cell`'s identity (:func:`cell_id`) is the hash of its canonical JSON.
"""

from __future__ import annotations

import functools
import hashlib
import math
from dataclasses import dataclass, field, replace

from ..presets import RESULTS_VERSION, resolve_target
from .checks import LIMITS, SpecError, _canonical_json, check_name
from .grids import d_law


@dataclass(frozen=True)
class MethodSpec:
    """One method entry of a sweep.

    ``label`` is the table name (used in tables and plots), ``method`` the registry name
    (:data:`fastrep.experiments.methods.METHODS`), ``options`` the learner's keyword
    arguments with its defaults filled in (see :func:`~.methods.check_options`), ``d`` and
    ``n`` its grids (the sweep's unless overridden). ``source``
    (transfer only) is ``{"target": {...}, "n": int | {"factor", "power"}}``; the
    transfer network's options are the method's options.
    """

    label: str
    method: str
    options: dict
    d: tuple[int, ...]
    n: tuple[int, ...]
    source: dict | None = None
    n_min: int | dict | None = None
    n_max: int | dict | None = None
    seeds: tuple[int, ...] | None = None  # overrides the sweep's seeds (cheap methods can afford more)

    def n_at(self, d: int) -> tuple[int, ...]:
        """The n grid at dimension ``d``: ``n`` clipped to [n_min(d), n_max(d)]."""
        lo = d_law(self.n_min, d) if self.n_min is not None else 0
        hi = d_law(self.n_max, d) if self.n_max is not None else math.inf
        return tuple(n for n in self.n if lo <= n <= hi)


@dataclass(frozen=True)
class Cell:
    """One unit of work: ``params`` is its canonical, JSON-ready description.

    ``params`` keys: ``results_version`` (:data:`RESULTS_VERSION`), ``target`` (canonical
    target table), ``target_resolved`` (its terms, noise and U seed at this (d, seed)),
    ``d``, ``n``, ``method`` (registry name), ``label``, ``seed``, ``options`` (every
    option, the learner's defaults filled in), ``evaluation`` and, for transfer,
    ``source``, ``source_resolved`` and ``n_source``. ``cell_id`` is the SHA-256 hex digest
    (first 32 characters) of the canonical JSON of ``params``: the whole setting, so two
    cells share an id only when they compute the same thing. Every random draw of the cell
    derives from ``seed``.

    Parameters
    ----------
    params : dict
        The cell's canonical description; its keys are also the cell's attributes
        (``cell.d``, ``cell.n``, ``cell.method``, ...).

    Attributes
    ----------
    cell_id : str
        The first 32 hex characters of the SHA-256 of ``params``' canonical JSON.

    Examples
    --------
    >>> from fastrep.experiments import demo_spec
    >>> cell = demo_spec("quick").cells()[0]
    >>> cell.method, cell.d, cell.n, cell.seed, len(cell.cell_id)
    ('onestep', 6, 32, 0, 32)
    """

    params: dict
    cell_id: str = field(init=False)

    def __post_init__(self):
        object.__setattr__(self, "cell_id", cell_id(self.params))

    def __getattr__(self, name):  # cell.d, cell.n, cell.method ...
        try:
            return self.params[name]
        except KeyError:
            raise AttributeError(name) from None


def cell_id(params: dict) -> str:
    return hashlib.sha256(_canonical_json(params).encode()).hexdigest()[:32]


@dataclass(frozen=True)
class SweepSpec:
    """A validated sweep. Build with :func:`load_spec` (from TOML, a dict or a path).

    Frozen; its fields are canonical (every option filled in), so two specs that compute
    the same cells compare equal.

    Parameters
    ----------
    name : str
        The sweep's name (a store holds one setting per name).
    epsilon : float
        The excess-error threshold of n*.
    seeds : tuple of int
        The seeds of every cell (a method may override them).
    target : dict
        The canonical target table (a preset and its options).
    d : tuple of int
        The dimensions of the grid.
    n : tuple of int
        The sample sizes of the grid.
    methods : tuple of MethodSpec
        One entry per ``[methods.<label>]`` table: label, method, options, its own d and n.
    evaluation : dict
        ``n_val`` and ``n_test``, the validation and test sizes of every cell.
    raw : dict, default {}
        The spec as given (not compared).

    See Also
    --------
    load_spec : build one.
    run : run its cells into a store.

    Examples
    --------
    >>> from fastrep.experiments import demo_spec
    >>> spec = demo_spec("quick")
    >>> spec.count() == len(spec.cells()), spec.renamed("mine").name
    (True, 'mine')
    """

    name: str
    epsilon: float
    seeds: tuple[int, ...]
    target: dict
    d: tuple[int, ...]
    n: tuple[int, ...]
    methods: tuple[MethodSpec, ...]
    evaluation: dict
    raw: dict = field(repr=False, compare=False, default_factory=dict)

    def count(self) -> int:
        """The number of cells, computed without building them.

        Returns
        -------
        int
            The number of cells :meth:`cells` builds.
        """
        return sum(
            len(m.n_at(d)) * len(m.seeds or self.seeds) for m in self.methods for d in m.d
        )

    def cells(self) -> list[Cell]:
        """Every cell, in a fixed order (method, d, n, seed).

        Returns
        -------
        list of Cell
            The cells (built once, then cached).

        Raises
        ------
        SpecError
            When the sweep has more cells than the hard limit (built nowhere).
        """
        if self.count() > LIMITS["cells_hard"]:
            raise SpecError("", f"the sweep has {self.count():,} cells; at most {LIMITS['cells_hard']:,}")
        return list(self._cells)

    @functools.cached_property
    def _cells(self) -> tuple[Cell, ...]:
        resolved: dict = {}

        def target_at(tspec, d, seed):
            key = (_canonical_json(tspec), d, seed)
            if key not in resolved:
                resolved[key] = resolve_target(tspec, d, seed)
            return resolved[key]

        out = []
        for m in self.methods:
            for d in m.d:
                for n in m.n_at(d):
                    for seed in (m.seeds or self.seeds):
                        params = {
                            "results_version": RESULTS_VERSION,
                            "target": self.target,
                            "target_resolved": target_at(self.target, d, seed),
                            "d": d,
                            "n": n,
                            "method": m.method,
                            "label": m.label,
                            "seed": seed,
                            "options": m.options,
                            "evaluation": self.evaluation,
                        }
                        if m.source is not None:
                            src = target_at(m.source["target"], d, seed)
                            params["source"] = m.source
                            params["source_resolved"] = {"terms": src["terms"], "noise": src["noise"]}
                            params["n_source"] = d_law(m.source["n"], d)
                        out.append(Cell(params))
        return tuple(out)

    def renamed(self, name: str) -> SweepSpec:
        """The same sweep under another (checked) name: ``fastrep sweep --as NAME``.

        Parameters
        ----------
        name : str
            The new name (letters, digits and ``-_.``).

        Returns
        -------
        SweepSpec
            A copy with that name.

        Raises
        ------
        SpecError
            For an invalid name.
        """
        spec = replace(self, name=check_name(name, "--as"))
        spec.__dict__.pop("_cells", None)
        return spec

    def to_dict(self) -> dict:
        """The canonical spec as plain JSON-ready data (stored next to the results).

        Returns
        -------
        dict
            ``name``, ``results_version``, ``epsilon``, ``seeds``, ``target``, ``grid``,
            ``evaluation`` and ``methods``; :func:`load_spec` reads it back.
        """
        return {
            "name": self.name,
            "results_version": RESULTS_VERSION,
            "epsilon": self.epsilon,
            "seeds": list(self.seeds),
            "target": self.target,
            "grid": {"d": list(self.d), "n": list(self.n)},
            "evaluation": self.evaluation,
            "methods": {
                m.label: {
                    "method": m.method,
                    "options": m.options,
                    "d": list(m.d),
                    "n": list(m.n),
                    **({"source": m.source} if m.source is not None else {}),
                    **({"seeds": list(m.seeds)} if m.seeds is not None else {}),
                    **({"n_min": m.n_min} if m.n_min is not None else {}),
                    **({"n_max": m.n_max} if m.n_max is not None else {}),
                }
                for m in self.methods
            },
        }
